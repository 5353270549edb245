/**
 * Running cron jobs: turns due times into runs submitted to the router, completes runs when
 * their turn ends, retries failures with backoff and pauses a job after too many.
 *
 * Guarantees:
 * - a due time runs at most once: the run row (unique job + due time + attempt) is claimed in
 *   the same transaction that advances the job's `nextRunAt`, and the submitted message's
 *   `eventKey` (`cron:<jobId>:<scheduledFor>:<attempt>`) is deduplicated by the inbox;
 * - no overlap: a due time reached while a run of the job is `running` is recorded `skipped`;
 * - late due times (agentbridge stopped, host asleep): the latest missed one runs if it is at
 *   most `graceMs` late; older ones are recorded as one `skipped` run and logged.
 */
import type { TurnOutcome } from '../core/turn.js';
import type { Logger } from '../logger.js';
import type { InboundMessage, PlatformName, ReplyTarget } from '../core/messages.js';
import type { AcceptResult } from '../platforms/types.js';
import type { Store } from '../store/types.js';
import { missedRuns, nextRun } from './schedule.js';
import { newCronRun, type CronJob, type CronRun } from '../core/schedule.js';

/** Retry delays after the 1st, 2nd, … consecutive failure, ms (the last one repeats). */
export const CRON_RETRY_BACKOFF_MS = [30_000, 60_000, 300_000, 900_000, 3_600_000];
/** Consecutive failed runs after which a job is paused. */
export const CRON_MAX_FAILURES = 5;
/** A queued run (retry/run-now) that finds a run in progress waits this long, ms. */
const OVERLAP_DEFER_MS = 30_000;

/** The store parts the cron runner uses: its jobs and runs; conversations, inbox rows and posted messages are only read. */
export type CronRunnerStore = Pick<Store, 'cronJobs' | 'cronRuns' | 'transaction'> & {
  conversations: Pick<Store['conversations'], 'get' | 'update'>;
  inbox: Pick<Store['inbox'], 'get'>;
  postedMessages: Pick<Store['postedMessages'], 'listForConversation'>;
};

export interface CronRunnerDeps {
  store: CronRunnerStore;
  /** Creates the conversation row of a run that sets its agent or model (the inbox owner's, src/conversation/inbox.ts); awaited. */
  ensureConversation: (init: { id: string; platform: PlatformName; channel: string; thread: null }) => Promise<unknown>;
  submit: (message: InboundMessage) => Promise<AcceptResult>;
  /** Tells people in a channel (the admins, when a job is paused): `text` is Markdown, posted as a notice through the outbound path; `conversationId` is the run's conversation (it exists). */
  notify: (target: ReplyTarget, text: string, conversationId: string) => Promise<void>;
  logger: Logger;
  now: () => number;
  graceMs: number;
  maxFailures: number;
  backoffMs: number[];
  /** Called when a run ends (`ok`, `failed`) or a due time is recorded `skipped` — e.g. for metrics. */
  onRunEnd?: (run: CronRun) => void;
}

/** The store parts used inside the runner's transactions (a transaction's `tx`). */
type RunStore = Pick<Store, 'cronJobs' | 'cronRuns'>;

const iso = (ms: number) => new Date(ms).toISOString().replace('.000Z', 'Z');

export class CronRunner {
  constructor(private readonly d: CronRunnerDeps) {}

  /** Starts what is due at `now`: jobs whose `nextRunAt` passed, then queued runs. Rejects only when the store fails outside a claim. */
  async fireDue(now: number): Promise<void> {
    for (const job of await this.d.store.cronJobs.due(now)) {
      let run: CronRun | undefined;
      try {
        run = await this.claimDue(job, now);
      } catch (err) {
        // Nothing was claimed (the transaction rolled back): try this due time again shortly.
        this.d.logger.error({ err, jobId: job.id }, 'cron: could not claim a due run; trying again in a minute');
        await this.d.store.cronJobs.update(job.id, { nextRunAt: now + 60_000 });
      }
      if (run) await this.submit(job, run);
    }
    for (const queued of await this.d.store.cronRuns.dueQueued(now)) {
      let claimed: { job: CronJob; run: CronRun } | undefined;
      try {
        claimed = await this.claimQueued(queued, now);
      } catch (err) {
        this.d.logger.error({ err, runId: queued.id }, 'cron: could not claim a queued run');
        await this.d.store.cronRuns.transition(queued.id, 'queued', { status: 'failed', endedAt: now, error: `could not start: ${String(err)}` });
      }
      if (claimed) await this.submit(claimed.job, claimed.run);
    }
  }

  /** After a restart: settles runs left `running` (finished meanwhile, or never submitted). */
  async reconcile(): Promise<void> {
    const { store } = this.d;
    for (const run of await store.cronRuns.withStatus('running')) {
      const row = run.eventKey ? await store.inbox.get(run.eventKey) : undefined;
      if (row?.state === 'done') await this.complete(run, 'ok');
      else if (row?.state === 'failed') await this.complete(run, 'failed');
      else if (!row) {
        const job = await store.cronJobs.get(run.jobId);
        if (job)
          await this.submit(job, run); // crashed between claim and submit
        else await store.cronRuns.transition(run.id, 'running', { status: 'failed', endedAt: this.d.now(), error: 'the job was removed' });
      }
      // queued/running in the inbox: start-up recovery runs the turn; onTurnEnd completes it.
    }
  }

  /**
   * A turn of `conversationId` ended: completes the running runs of that conversation whose
   * message that turn handled (its inbox row is finished; without an inbox row the outcome counts).
   * A run is ended once (compare-and-set of its status), however often this is called.
   */
  async onTurnEnd(conversationId: string, outcome: TurnOutcome): Promise<void> {
    const { store } = this.d;
    for (const run of await store.cronRuns.runningIn(conversationId)) {
      const row = run.eventKey ? await store.inbox.get(run.eventKey) : undefined;
      const finished = row
        ? row.state === 'done' || row.state === 'failed' || (outcome === 'undeliverable' && row.state === 'queued')
        : outcome !== 'interrupted';
      if (finished) await this.complete(run, outcome);
    }
  }

  /** Claims the due time of `job` (and records skipped ones); resolves to the run to submit, if any. */
  private async claimDue(job: CronJob, now: number): Promise<CronRun | undefined> {
    const { store, graceMs, logger } = this.d;
    const first = job.nextRunAt!;
    const { count, latest, previous } = missedRuns(job.schedule, first, now);
    const runIt = now - latest <= graceMs;
    const skipped = runIt ? count - 1 : count;
    const ended: Array<CronRun | undefined> = [];
    // One transaction: advancing `nextRunAt` (compared with `first`) and inserting the run (unique
    // job + due time + attempt) claim the due time; a concurrent claim finds it taken.
    const claimed = await store.transaction(async (tx) => {
      const cur = await tx.cronJobs.get(job.id);
      if (!cur?.enabled || cur.nextRunAt !== first) return undefined; // handled meanwhile
      await tx.cronJobs.update(job.id, { nextRunAt: nextRun(job.schedule, latest) });
      if (skipped > 0) {
        const last = runIt ? (previous ?? first) : latest;
        const error = `missed: ${skipped} due time${skipped > 1 ? 's' : ''} from ${iso(first)} to ${iso(last)} passed more than ${Math.round(graceMs / 60_000)} min ago (agentbridge was not running)`;
        ended.push(await this.insertRun(tx, job, first, 1, 'schedule', 'skipped', now, error));
        logger.warn({ jobId: job.id, job: job.name, skipped, from: first, to: last }, 'cron: missed due times beyond the grace window were skipped');
      }
      if (!runIt) return undefined;
      const running = (await tx.cronRuns.withStatus('running', job.id))[0];
      if (running) {
        ended.push(await this.insertRun(tx, job, latest, 1, 'schedule', 'skipped', now, `the previous run (#${running.id}) was still running`));
        logger.info({ jobId: job.id, job: job.name, runningRun: running.id }, 'cron: due time skipped, the previous run is still running');
        return undefined;
      }
      for (const q of await tx.cronRuns.withStatus('queued', job.id)) {
        if (q.kind === 'retry')
          await tx.cronRuns.transition(q.id, 'queued', { status: 'skipped', dueAt: null, error: `superseded by the run due at ${iso(latest)}` });
      }
      const run = await this.insertRun(tx, job, latest, 1, 'schedule', 'running', now, null);
      if (!run) return undefined; // this due time ran already
      await tx.cronJobs.update(job.id, { lastRunAt: now });
      return this.route(tx, job, run);
    });
    for (const r of ended) if (r) this.d.onRunEnd?.(r);
    return claimed;
  }

  /** Claims a queued run (retry or run-now) whose time has come; resolves to it with its job, if it should run now. */
  private async claimQueued(run: CronRun, now: number): Promise<{ job: CronJob; run: CronRun } | undefined> {
    const { store, graceMs } = this.d;
    return store.transaction(async (tx) => {
      const job = await tx.cronJobs.get(run.jobId);
      const drop = async (error: string) => void (await tx.cronRuns.transition(run.id, 'queued', { status: 'skipped', dueAt: null, error }));
      if (!job) return drop('the job was removed');
      if (run.kind === 'retry' && !job.enabled) return drop('the job is paused');
      if (run.kind === 'retry' && now - (run.dueAt ?? now) > graceMs) return drop(`the retry was due at ${iso(run.dueAt!)}, more than the grace window ago`);
      if ((await tx.cronRuns.withStatus('running', job.id)).length > 0) {
        await tx.cronRuns.update(run.id, { dueAt: now + OVERLAP_DEFER_MS });
        return undefined;
      }
      // Compare-and-set: of two schedulers claiming this run, one moves it to running.
      if (!(await tx.cronRuns.transition(run.id, 'queued', { status: 'running', startedAt: now, dueAt: null }))) return undefined;
      await tx.cronJobs.update(job.id, { lastRunAt: now });
      return { job, run: await this.route(tx, job, (await tx.cronRuns.get(run.id))!) };
    });
  }

  private insertRun(
    store: RunStore,
    job: CronJob,
    scheduledFor: number,
    attempt: number,
    kind: CronRun['kind'],
    status: CronRun['status'],
    now: number,
    error: string | null,
  ): Promise<CronRun | undefined> {
    const active = status === 'running';
    return store.cronRuns.insert(
      newCronRun({ jobId: job.id, scheduledFor, attempt, kind, status, startedAt: active ? now : null, endedAt: active ? null : now, error }),
    );
  }

  /** Records where the run goes: its conversation and inbox event key. */
  private async route(store: RunStore, job: CronJob, run: CronRun): Promise<CronRun> {
    const conversationId = job.target.conversationId ?? (job.sessionMode === 'persistent' ? `cron:${job.id}` : `cron:${job.id}:${run.id}`);
    const eventKey = `cron:${job.id}:${run.scheduledFor}:${run.attempt}`;
    return (await store.cronRuns.update(run.id, { conversationId, eventKey }))!;
  }

  /** Hands the run's prompt to the router. A refusal or error fails the run (and so retries it). Never rejects. */
  private async submit(job: CronJob, run: CronRun): Promise<void> {
    try {
      await this.trySubmit(job, run);
    } catch (err) {
      this.d.logger.error({ err, jobId: job.id, runId: run.id }, 'cron: could not submit a run');
      try {
        await this.complete(run, `could not submit: ${err instanceof Error ? err.message : String(err)}`);
      } catch (err2) {
        this.d.logger.error({ err: err2, runId: run.id }, 'cron: could not record a failed run');
      }
    }
  }

  private async trySubmit(job: CronJob, run: CronRun): Promise<void> {
    const { store, logger } = this.d;
    const conversationId = run.conversationId!;
    const now = this.d.now();
    let replyTarget: ReplyTarget = { platform: job.target.platform, channel: job.target.channel };
    if (job.target.conversationId) {
      const conv = await store.conversations.get(job.target.conversationId);
      if (!conv) return this.complete(run, `the target conversation ${job.target.conversationId} no longer exists`);
      replyTarget = { platform: conv.platform, channel: conv.channel, ...(conv.thread ? { thread: conv.thread } : {}) };
    } else if (job.agent || job.model) {
      await this.d.ensureConversation({ id: conversationId, platform: job.target.platform, channel: job.target.channel, thread: null });
      await store.conversations.update(conversationId, { ...(job.agent ? { agent: job.agent } : {}), ...(job.model ? { model: job.model } : {}) });
    }
    const message: InboundMessage = {
      platform: replyTarget.platform,
      origin: 'scheduler',
      conversationId,
      channel: replyTarget.channel,
      ...(replyTarget.thread ? { thread: replyTarget.thread } : {}),
      author: { id: 'scheduler', name: `cron job "${job.name}"` },
      text: job.prompt,
      eventKey: run.eventKey!,
      replyTarget,
      receivedAt: now,
    };
    let result: AcceptResult;
    try {
      result = await this.d.submit(message);
    } catch (err) {
      return this.complete(run, `not accepted: ${err instanceof Error ? err.message : String(err)}`);
    }
    logger.info({ jobId: job.id, job: job.name, runId: run.id, conversationId, eventKey: message.eventKey, result }, 'cron: run submitted');
    if (result === 'duplicate') {
      const row = await store.inbox.get(message.eventKey);
      if (row?.state === 'done') await this.complete(run, 'ok');
      else if (row?.state === 'failed') await this.complete(run, 'failed');
    }
  }

  /**
   * Ends a running run: `ok`, or failed with `outcome` as its error. A success resets the job's
   * failure count; a failure queues a retry after the backoff, or pauses the job and notifies
   * the target channel after `maxFailures` in a row. The run ends once: its status moves from
   * `running` by compare-and-set, in the transaction that records the consequences.
   */
  private async complete(run: CronRun, outcome: TurnOutcome | string): Promise<void> {
    const { store, logger, maxFailures, backoffMs } = this.d;
    const now = this.d.now();
    const ok = outcome === 'ok';
    const postedKey = run.conversationId ? await postedKeyOf(store, run.conversationId, run.startedAt ?? 0) : null;
    let paused: CronJob | undefined;
    let ended = false;
    await store.transaction(async (tx) => {
      if (!(await tx.cronRuns.transition(run.id, 'running', { status: ok ? 'ok' : 'failed', endedAt: now, error: ok ? null : outcome, postedKey }))) return;
      ended = true;
      const job = await tx.cronJobs.get(run.jobId);
      if (!job) return;
      if (ok) return void (await tx.cronJobs.update(job.id, { consecutiveFailures: 0 }));
      const failures = job.consecutiveFailures + 1;
      if (failures >= maxFailures) {
        paused = await tx.cronJobs.update(job.id, { consecutiveFailures: failures, enabled: false, nextRunAt: null });
        for (const q of await tx.cronRuns.withStatus('queued', job.id))
          await tx.cronRuns.transition(q.id, 'queued', { status: 'skipped', dueAt: null, error: 'the job was paused' });
        return;
      }
      await tx.cronJobs.update(job.id, { consecutiveFailures: failures });
      if (!job.enabled) return;
      const delay = backoffMs[Math.min(failures - 1, backoffMs.length - 1)]!;
      await tx.cronRuns.insert(
        newCronRun({ jobId: job.id, scheduledFor: run.scheduledFor, attempt: run.attempt + 1, kind: 'retry', status: 'queued', dueAt: now + delay }),
      );
      logger.warn({ jobId: job.id, job: job.name, runId: run.id, error: outcome, failures, retryInMs: delay }, 'cron: run failed; retrying');
    });
    if (!ended) return;
    if (ok) logger.info({ jobId: run.jobId, runId: run.id, postedKey }, 'cron: run finished');
    const row = await store.cronRuns.get(run.id);
    if (row) this.d.onRunEnd?.(row);
    if (paused) void this.announcePause(paused, run, outcome);
  }

  /** Tells the job's channel that it was paused. Never rejects (failures are logged). */
  private async announcePause(job: CronJob, run: CronRun, error: string): Promise<void> {
    const text =
      `⚠️ Cron job "${job.name}" failed ${job.consecutiveFailures} times in a row and is now paused. Last error: ${error}. ` +
      `Resume it with \`/agent cron resume ${job.name}\` or \`agentbridge cron resume ${job.name}\`; its runs: \`agentbridge cron runs ${job.name}\`.`;
    this.d.logger.error({ jobId: job.id, job: job.name, failures: job.consecutiveFailures, error }, 'cron: job paused after repeated failures');
    try {
      let target: ReplyTarget = { platform: job.target.platform, channel: job.target.channel };
      const conv = job.target.conversationId ? await this.d.store.conversations.get(job.target.conversationId) : undefined;
      if (conv?.thread) target = { ...target, thread: conv.thread };
      await this.d.notify(target, text, run.conversationId ?? `cron:${job.id}`);
    } catch (err) {
      this.d.logger.error({ err, jobId: job.id }, 'cron: could not tell the channel that the job was paused');
    }
  }
}

/**
 * The message a run posted: the first posted message of its conversation created at or
 * after the run started (the start of its thread), else the conversation's latest one.
 */
async function postedKeyOf(store: Pick<CronRunnerStore, 'postedMessages'>, conversationId: string, startedAt: number): Promise<string | null> {
  const posted = await store.postedMessages.listForConversation(conversationId);
  return (posted.find((p) => p.createdAt >= startedAt) ?? posted.at(-1))?.key ?? null;
}
