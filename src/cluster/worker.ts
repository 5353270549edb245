/**
 * The worker role of cluster mode (docs/ARCHITECTURE.md §10): takes wake-up jobs from the turn
 * queue, at most AGENTBRIDGE_MAX_CONCURRENT_TURNS at once, and runs the conversation's turns
 * through this instance's bridges — the same turn path as one instance.
 *
 * One job, in order:
 * 1. its fencing token, the claim `<job id>:<attempt>`, goes on the conversation's bridge: every
 *    turn attempt starts and commits its inbox rows only under it (`ClaimedInbox`), so a worker
 *    that lost the job (heartbeat lapsed, pg-boss retried it elsewhere) can commit nothing;
 * 2. recovery of the conversation: approvals and questions a cut turn left open are expired
 *    (`Interactions.expireStale`), rows left `running` by an attempt that ended are announced and
 *    queued again, a stale "⏳ Queued" message is retired (`recoverConversation`);
 * 3. the conversation's outbox rows still pending are delivered (under its delivery lease);
 * 4. its queued rows are read in order and handed to the bridge (a command row left by an ingress
 *    that died is closed, never run as a prompt — `Router.resume`), which combines them into one
 *    turn as on one instance; messages accepted meanwhile are left to their own jobs, queued
 *    behind this one, so a busy conversation does not keep a worker from the others (pg-boss takes
 *    jobs oldest first);
 * 5. the job completes. A job that cannot make progress (its rows stay queued: the reply
 *    platform does not run on this worker) fails and is retried, up to its retry limit.
 *
 * Losing the job (pg-boss aborts `job.signal` when its heartbeat finds the claim gone) or the
 * database (`DatabaseLiveness`) abandons the bridge at once: the running agent is stopped, nothing
 * more is posted, and the rows stay `running` for the worker that takes over.
 */
import type { PgBoss, Job } from 'pg-boss';
import type { Logger } from '../logger.js';
import type { Bridges } from '../conversation/bridges.js';
import type { Router } from '../conversation/router.js';
import type { Outbound } from '../conversation/outbound.js';
import type { Interactions } from '../conversation/interactions.js';
import type { LiveSessions } from '../conversation/live-sessions.js';
import { recoverConversation } from '../conversation/recovery.js';
import type { Store } from '../store/types.js';
import { TURN_QUEUE } from './constants.js';
import type { WakeJobData } from './queue.js';
import type { DatabaseLiveness } from './liveness.js';

export interface TurnWorkerOptions {
  boss: PgBoss;
  store: Pick<Store, 'postedMessages' | 'conversations'>;
  router: Router;
  bridges: Bridges;
  outbound: Pick<Outbound, 'say' | 'enqueue' | 'deliver'>;
  /** The live agent sessions: one whose conversation ran a turn on another worker since is closed (its context is stale). */
  sessions: Pick<LiveSessions, 'get' | 'close'>;
  /** Requests a cut turn left open are expired (cards edited) before the conversation runs again. */
  interactions: Pick<Interactions, 'expireStale'>;
  liveness: DatabaseLiveness;
  /** Jobs (conversations) at once: AGENTBRIDGE_MAX_CONCURRENT_TURNS. */
  concurrency: number;
  /** The jobs' heartbeat window, s; pg-boss refreshes a held job's heartbeat every quarter of it. */
  heartbeatS: number;
  logger: Logger;
}

/** Thrown by a job whose conversation made no progress (its rows stayed queued after a turn). */
export class NoProgressError extends Error {
  constructor(conversationId: string, queued: number) {
    super(`conversation ${conversationId}: ${queued} message(s) stayed queued after a turn — is its platform configured on this worker?`);
    this.name = 'NoProgressError';
  }
}

/** Thrown by a job that lost its claim (heartbeat or database contact) while it ran. */
export class ClaimLostError extends Error {
  constructor(conversationId: string) {
    super(`conversation ${conversationId}: this worker lost the job (heartbeat or database contact); another worker takes it over`);
    this.name = 'ClaimLostError';
  }
}

export class TurnWorker {
  private workId?: string;
  /** Conversations this worker holds a job of → the job's abort controller (lost claims). */
  private readonly held = new Map<string, AbortController>();
  /**
   * The agent session point (`<session id>@<committed point>`) each conversation had when this
   * worker last finished a job of it: a live session is reused only while it is still the latest.
   */
  private readonly lastPoint = new Map<string, string>();
  /** Handlers running now (for {@link release}). */
  private readonly handlers = new Set<Promise<void>>();

  constructor(private readonly opts: TurnWorkerOptions) {
    // Database contact lost: every held conversation is abandoned (its agent stopped) at once.
    opts.liveness.onLost(() => {
      for (const c of this.held.values()) c.abort(new Error('database contact lost'));
    });
  }

  /** Turns running on this worker (jobs held). */
  get running(): number {
    return this.held.size;
  }

  /** Starts taking jobs. */
  async start(): Promise<void> {
    this.workId = await this.opts.boss.work<WakeJobData>(
      TURN_QUEUE,
      {
        localConcurrency: this.opts.concurrency,
        batchSize: 1,
        heartbeatRefreshSeconds: Math.max(1, Math.floor(this.opts.heartbeatS / 4)),
        // NOTIFY wakes the workers for new jobs, but not for a retry coming due or for the next job
        // of a conversation whose job just completed: a 1 s poll bounds that wait (pg-boss's
        // backstop default is 30 s).
        pollingIntervalSeconds: 1,
        notifyPollingIntervalSeconds: 1,
      },
      async ([job]) => {
        if (!job) return;
        const running = this.handle(job);
        this.handlers.add(running);
        try {
          await running;
        } finally {
          this.handlers.delete(running);
        }
      },
    );
  }

  /**
   * Stops taking jobs. Running jobs are not waited for here: the bridges' shutdown ends their turns
   * (left `running`), then {@link release} hands the jobs back.
   */
  async stop(): Promise<void> {
    if (this.workId) await this.opts.boss.offWork(TURN_QUEUE, { id: this.workId, wait: false }).catch(() => {});
    this.workId = undefined;
  }

  /**
   * After the bridges' shutdown: every job still held is given up (its handler fails it, so
   * pg-boss hands it to another worker after the retry delay instead of after the heartbeat
   * window). Resolves when their handlers have returned, at most `timeoutMs` (default 5,000).
   */
  async release(timeoutMs = 5_000): Promise<void> {
    const handlers = [...this.handlers];
    for (const c of this.held.values()) c.abort(new Error('this instance is stopping'));
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([Promise.allSettled(handlers), new Promise((r) => (timer = setTimeout(r, timeoutMs)))]);
    clearTimeout(timer);
  }

  /** `<agent session id>@<committed point>` of the conversation as stored. */
  private async pointOf(conversationId: string): Promise<string> {
    const c = await this.opts.store.conversations.get(conversationId);
    return `${c?.agentSessionId ?? ''}@${c?.agentSessionAt ?? ''}`;
  }

  /**
   * A live agent process this worker kept for the conversation holds the context of the turns it
   * ran; when another worker ran a turn since (the stored point moved), it is closed, and the next
   * turn resumes the stored agent session (its files restored) instead.
   */
  private async closeStaleSession(conversationId: string): Promise<void> {
    if (!this.opts.sessions.get(conversationId)) return;
    const point = await this.pointOf(conversationId);
    if (this.lastPoint.get(conversationId) === point) return;
    await this.opts.sessions.close(conversationId, 'a turn ran on another worker since');
  }

  /** Runs one wake-up job (see the file comment). Throws to fail the job (pg-boss retries it). */
  async handle(job: Job<WakeJobData>): Promise<void> {
    const { conversationId } = job.data;
    const { bridges, router, outbound, store, logger } = this.opts;
    const claim = `${job.id}:${job.retryCount}`;
    const log = logger.child({ conversationId, claim });
    const lost = new AbortController();
    this.held.set(conversationId, lost);
    const onJobAbort = () => lost.abort(new Error('job claim gone'));
    job.signal.addEventListener('abort', onJobAbort, { once: true });
    const bridge = bridges.bridge(conversationId);
    const whenLost = new Promise<'lost'>((resolve) => lost.signal.addEventListener('abort', () => resolve('lost'), { once: true }));
    try {
      if (!this.opts.liveness.fresh()) throw new ClaimLostError(conversationId);
      // Left over from a job of this conversation this worker lost: nothing of it may go on.
      if (!bridge.idle) await bridge.abandon();
      bridge.claim = claim;
      await this.closeStaleSession(conversationId);
      await this.opts.interactions.expireStale(conversationId);
      const rows = await recoverConversation(store, router.inbox, outbound, log, conversationId);
      await outbound.deliver(conversationId);
      if (rows.length > 0) {
        if (lost.signal.aborted) throw new ClaimLostError(conversationId);
        log.info({ messages: rows.length }, 'cluster: running the conversation');
        for (const row of rows) await router.resume(row.message);
        if ((await Promise.race([bridge.whenIdle(), whenLost])) === 'lost') throw new ClaimLostError(conversationId);
        // Messages accepted meanwhile have their own jobs, behind this one in the queue (fair to
        // the other conversations waiting for a worker). These rows themselves must have moved on.
        const keys = new Set(rows.map((r) => r.eventKey));
        const stuck = (await router.inbox.unfinishedFor(conversationId)).filter((r) => r.state === 'queued' && keys.has(r.eventKey));
        if (stuck.length > 0) throw new NoProgressError(conversationId, stuck.length);
      }
      // Only a live agent process kept here needs the point to be checked against (closeStaleSession).
      if (this.opts.sessions.get(conversationId)) this.lastPoint.set(conversationId, await this.pointOf(conversationId));
      else this.lastPoint.delete(conversationId);
    } catch (err) {
      if (lost.signal.aborted || err instanceof ClaimLostError) {
        log.warn('cluster: job lost; its turn is abandoned (another worker takes the conversation over)');
        await bridge.abandon();
      } else {
        log.error({ err }, 'cluster: wake-up job failed; pg-boss retries it');
        await bridge.abandon();
      }
      throw err;
    } finally {
      job.signal.removeEventListener('abort', onJobAbort);
      if (this.held.get(conversationId) === lost) this.held.delete(conversationId);
      if (bridge.claim === claim) bridge.claim = undefined;
    }
  }
}
