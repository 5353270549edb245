/**
 * The scheduler: one timer for the earliest due item (cron job, queued cron run, scheduled
 * message), re-armed whenever something changes. When it fires, everything due is submitted
 * to the router as InboundMessages from the `scheduler` platform (see `cron-runner.ts` and
 * `messages.ts`); cron runs are completed from {@link Scheduler.onTurnEnd}.
 *
 * Wiring (src/compose.ts): `submit` = the `accept` of a router pipeline without access and
 * command stages (scheduler messages pass neither); `notify` posts through the outbound path
 * (`conversation/outbound.ts`); the scheduler subscribes to the bridges' `turnEnded` event
 * ({@link SchedulerOptions.turnEnded}); `start()` after inbox recovery; `stop()` before the
 * bridges shut down, and again before the store is closed (it waits for turn ends being
 * recorded). The clock and timers are injectable so tests run on fake time.
 *
 * Cluster mode (docs/ARCHITECTURE.md §10): only the holder of the `scheduler` lease runs
 * `start()`…`stop()` (repeatable: the lease may be lost and taken again); every instance completes
 * the runs of the turns it ran ({@link Scheduler.completeRuns}), without starting; `maxSleepMs`
 * makes the holder notice changes made elsewhere.
 */
import type { TurnOutcome } from '../core/turn.js';
import type { Logger } from '../logger.js';
import type { InboundMessage, PlatformName, ReplyTarget } from '../core/messages.js';
import type { AcceptResult } from '../platforms/types.js';
import type { Store } from '../store/types.js';
import { CronRunner, CRON_MAX_FAILURES, CRON_RETRY_BACKOFF_MS, type CronRunnerDeps, type CronRunnerStore } from './cron-runner.js';
import { CronJobService } from './cron-service.js';
import { ScheduledMessageService } from './messages.js';
import type { CronRun } from '../core/schedule.js';
import type { CronService, ScheduledMessagesService } from './types.js';

/** Default grace window for late due times, ms (AGENTBRIDGE_CRON_GRACE_S). */
export const DEFAULT_GRACE_MS = 10 * 60_000;
/** The timer never sleeps longer than this (ms), so a jump of the wall clock is noticed. */
const MAX_SLEEP_MS = 10 * 60_000;
/** After a tick that threw, the next one waits at least this long (ms). */
const ERROR_BACKOFF_MS = 5_000;

/** A source of `turnEnded` events (the bridges, src/conversation/bridges.ts). */
export interface TurnEndedSource {
  on(event: 'turnEnded', listener: (e: { conversationId: string; outcome: TurnOutcome }) => void): () => void;
}

/** The store parts the scheduler uses (conversations and inbox rows are read only; rows are created through `ensureConversation`). */
export type SchedulerStore = CronRunnerStore & Pick<Store, 'scheduledMessages'>;

export interface SchedulerOptions {
  store: SchedulerStore;
  /** Creates a conversation row (the inbox owner's `ensureConversation`, src/conversation/inbox.ts). */
  ensureConversation: CronRunnerDeps['ensureConversation'];
  /** Turn ends complete the cron runs they handled ({@link Scheduler.onTurnEnd}); absent: call `onTurnEnd` yourself. */
  turnEnded?: TurnEndedSource;
  /** Hands a message to the core (a router pipeline's `accept`). */
  submit: (message: InboundMessage) => Promise<AcceptResult>;
  /**
   * Posts a notice from agentbridge (a job paused after repeated failures) to `target`.
   * `conversationId` names an existing conversation the notice belongs to (the run's).
   */
  notify: (target: ReplyTarget, text: string, conversationId: string) => Promise<void>;
  logger: Logger;
  /** How late a due time may still run, ms (default 10 min). */
  graceMs?: number;
  /** Clock, ms since the epoch (default `Date.now`). */
  now?: () => number;
  /** Timer functions (default setTimeout/clearTimeout, unref'd). */
  setTimer?: (fn: () => void, ms: number) => unknown;
  clearTimer?: (handle: unknown) => void;
  /** Platforms that run here; cron targets on others are refused (default: any). */
  platforms?: readonly PlatformName[];
  /** Shortest interval of cron schedules, ms (default 60 s). */
  minIntervalMs?: number;
  /** Consecutive failures that pause a job (default 5). */
  maxFailures?: number;
  /** Retry delays after the 1st, 2nd, … consecutive failure, ms (default 30 s, 1 m, 5 m, 15 m, 60 m). */
  retryBackoffMs?: number[];
  /** Called when a cron run ends (`ok`/`failed`) or a due time is recorded `skipped` (metrics). */
  onRunEnd?: (run: CronRun) => void;
  /**
   * Longest the timer sleeps before it reads the due times again, ms (default 10 min). Cluster
   * mode sets a few seconds: changes made on other instances (a retry queued when a worker
   * completed a failed run, a job or scheduled message added through a worker) re-arm only that
   * instance's (stopped) scheduler, so the lease holder finds them by reading again.
   */
  maxSleepMs?: number;
}

export class Scheduler {
  readonly cron: CronService;
  readonly messages: ScheduledMessagesService;
  private readonly messageService: ScheduledMessageService;
  private readonly runner: CronRunner;
  private readonly now: () => number;
  private readonly graceMs: number;
  private readonly maxSleepMs: number;
  private timer: unknown;
  /** Between `start()` and `stop()`: the timer may be armed and due items are submitted. */
  private running = false;
  /** Counts `start()` calls: a start superseded by a `stop()` (and maybe a later start) does not tick. */
  private generation = 0;
  /** The latest `stop()`, awaited by a following `start()`. */
  private stopping?: Promise<void>;
  private ticking?: Promise<void>;
  private again = false;
  /** Counts `arm` calls: only the latest one sets the timer (the store reads in between are async). */
  private armed = 0;
  /** Turn ends being recorded ({@link onTurnEnd}); `stop()` waits for them. */
  private readonly turnEnds = new Set<Promise<void>>();

  constructor(private readonly o: SchedulerOptions) {
    this.now = o.now ?? Date.now;
    this.graceMs = o.graceMs ?? DEFAULT_GRACE_MS;
    this.maxSleepMs = o.maxSleepMs ?? MAX_SLEEP_MS;
    const onChange = () => this.arm();
    this.cron = new CronJobService({ store: o.store, now: this.now, onChange, platforms: o.platforms, minIntervalMs: o.minIntervalMs });
    this.messageService = new ScheduledMessageService({ store: o.store, now: this.now, onChange });
    this.messages = this.messageService;
    this.runner = new CronRunner({
      store: o.store,
      ensureConversation: o.ensureConversation,
      submit: o.submit,
      notify: o.notify,
      logger: o.logger.child({ component: 'scheduler' }),
      now: this.now,
      graceMs: this.graceMs,
      maxFailures: o.maxFailures ?? CRON_MAX_FAILURES,
      backoffMs: o.retryBackoffMs ?? CRON_RETRY_BACKOFF_MS,
      onRunEnd: o.onRunEnd,
    });
    if (o.turnEnded) this.completeRuns(o.turnEnded);
  }

  /**
   * Settles runs left running (by the previous process, or by the previous holder of the
   * scheduler lease in cluster mode), runs what is due (late due times within the grace window
   * once, older ones recorded as skipped), then arms the timer. Resolves when the due items have
   * been submitted. Idempotent while running; after {@link stop} it starts again (due times
   * missed while stopped are handled as after a restart). A `stop()` during the start ends it
   * before anything is submitted (a submission already under way completes; its claim is in the
   * store, so no due time runs twice).
   */
  async start(): Promise<void> {
    if (this.running) return;
    this.running = true;
    const gen = ++this.generation;
    await this.stopping;
    if (!this.isCurrent(gen)) return;
    try {
      await this.runner.reconcile();
    } catch (err) {
      this.o.logger.error({ err }, 'scheduler: could not settle the runs of the previous start');
    }
    if (!this.isCurrent(gen)) return;
    await this.tick();
  }

  /**
   * Stops the timer (nothing new is submitted) and waits for a tick in progress and for turn ends
   * being recorded ({@link onTurnEnd} goes on working after it: call `stop()` again after the
   * bridges shut down, before the store is closed, to wait for those too). Idempotent; `start()`
   * may follow (cluster mode: the scheduler lease lost, then taken again).
   */
  stop(): Promise<void> {
    this.running = false;
    this.generation++;
    this.clear();
    const stopping = (async () => {
      await this.ticking;
      await Promise.all(this.turnEnds);
    })();
    this.stopping = stopping;
    return stopping;
  }

  /**
   * Completes the cron runs handled by turns that end here: subscribes {@link onTurnEnd} to
   * `source`'s `turnEnded`. Works without `start()` — cluster mode runs turns on workers, not on
   * the instance holding the scheduler lease; completing a run is a compare-and-set in the store
   * (its retry, failure count and pause are recorded in the same transaction), so any instance
   * may do it. Returns the unsubscribe function. Not needed when `turnEnded` was given to the
   * constructor (that subscribes already).
   */
  completeRuns(source: TurnEndedSource): () => void {
    return source.on('turnEnded', (e) => void this.onTurnEnd(e.conversationId, e.outcome));
  }

  private isCurrent(gen: number): boolean {
    return this.running && gen === this.generation;
  }

  /**
   * A turn of `conversationId` ended (the `turnEnded` event) (completes the cron runs it handled). Works
   * after `stop()` too, so turns finishing during the shutdown grace period are recorded. Resolves
   * when the runs are recorded and the timer re-armed; never rejects (a failure is logged).
   */
  onTurnEnd(conversationId: string, outcome: TurnOutcome): Promise<void> {
    const recording = this.recordTurnEnd(conversationId, outcome);
    this.turnEnds.add(recording);
    void recording.finally(() => this.turnEnds.delete(recording));
    return recording;
  }

  private async recordTurnEnd(conversationId: string, outcome: TurnOutcome): Promise<void> {
    try {
      await this.runner.onTurnEnd(conversationId, outcome);
    } catch (err) {
      this.o.logger.error({ err, conversationId }, 'scheduler: could not record the end of a cron run');
    }
    await this.arm();
  }

  /** Fires everything due; repeats while changes arrived during the tick; then re-arms. */
  private tick(): Promise<void> {
    if (this.ticking) {
      this.again = true;
      return this.ticking;
    }
    let failed = false;
    this.ticking = (async () => {
      try {
        do {
          this.again = false;
          const now = this.now();
          await this.runner.fireDue(now);
          await this.messageService.fireDue(now, { submit: this.o.submit, logger: this.o.logger, graceMs: this.graceMs });
        } while (this.again && this.running);
      } catch (err) {
        failed = true;
        this.o.logger.error({ err }, 'scheduler: tick failed');
      }
    })();
    return this.ticking.finally(() => {
      this.ticking = undefined;
      return this.arm(failed ? ERROR_BACKOFF_MS : 0);
    });
  }

  /**
   * (Re)arms the one timer for the earliest due item, at least `minDelay` ms from now; resolves
   * when it is set. The due times are read asynchronously: a later `arm`, a tick starting
   * meanwhile (it re-arms when it ends) or `stop()` supersedes this one. Never rejects: when the
   * due times cannot be read, the error is logged and a tick is tried after {@link ERROR_BACKOFF_MS}.
   */
  private async arm(minDelay = 0): Promise<void> {
    if (!this.running) return;
    if (this.ticking) {
      this.again = true; // the tick re-arms when it ends
      return;
    }
    const seq = ++this.armed;
    const current = () => seq === this.armed && this.running && !this.ticking;
    const { store } = this.o;
    try {
      let delay: number | undefined;
      try {
        const next = await Promise.all([store.cronJobs.nextDue(), store.cronRuns.nextQueuedDue(), store.scheduledMessages.nextDue()]);
        const times = next.filter((t): t is number => t !== null);
        delay = times.length > 0 ? Math.min(Math.max(minDelay, Math.min(...times) - this.now()), this.maxSleepMs) : undefined;
        if (delay === undefined && this.o.maxSleepMs !== undefined) delay = Math.max(minDelay, this.maxSleepMs); // nothing due: look again later
      } catch (err) {
        this.o.logger.error({ err }, 'scheduler: could not read the next due time; trying again shortly');
        delay = Math.max(minDelay, ERROR_BACKOFF_MS);
      }
      if (!current()) return;
      this.clear();
      if (delay !== undefined) this.setTimer(delay);
    } catch (err) {
      this.o.logger.error({ err }, 'scheduler: could not arm the timer');
    }
  }

  /** Sets the one timer: a tick in `delay` ms. */
  private setTimer(delay: number): void {
    const fire = () => {
      this.timer = undefined;
      void this.tick();
    };
    if (this.o.setTimer) this.timer = this.o.setTimer(fire, delay);
    else {
      const t = setTimeout(fire, delay);
      t.unref();
      this.timer = t;
    }
  }

  private clear(): void {
    if (this.timer === undefined) return;
    if (this.o.clearTimer) this.o.clearTimer(this.timer);
    else clearTimeout(this.timer as NodeJS.Timeout);
    this.timer = undefined;
  }
}
