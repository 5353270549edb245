/**
 * The bridge of one conversation: exactly one agent turn at a time (docs/ARCHITECTURE.md §3, invariant 3). Messages that
 * arrive while a turn runs, or while the conversation waits for a global turn slot, are queued
 * and combined into the next turn in arrival order. Global concurrency comes from a shared
 * p-queue (FIFO), so conversations waiting for a slot keep their order.
 *
 * A turn that fails on a storage fault (the database cannot be written, e.g. a full disk) is
 * retried in the process: its batch is kept at the front (messages that arrive meanwhile wait
 * behind it, in order), the fault is reported to the store health, and the same batch runs again
 * after a backoff (0.5 s doubling to 5 s) once the store is healthy — continuing from where the
 * failed attempt got to ({@link TurnAttempt}: an agent that already answered is not run again).
 */
import type PQueue from 'p-queue';
import { messageSource, type InboundMessage, type PlatformName } from '../core/messages.js';
import { backoffDelay, isStorageFault, type StoreHealth } from '../store/health.js';
import type { TurnOutcome } from '../core/turn.js';
import { executeTurn, SHUTDOWN, type TurnAttempt, type TurnDeps } from './turn.js';
import { SUPERSEDED } from './abort.js';
import type { BusyMode } from '../core/config.js';
import { QueuedNotice } from './queued-notice.js';
import type { WaitLine } from './wait-line.js';
import type { BusyNotices } from './busy-notice.js';
import { PROGRESS_RETIRED_TEXT } from './outbox.js';
import { TurnFencedError } from '../store/types.js';

/** A snapshot of a bridge, for status commands and metrics. */
export interface BridgeStatus {
  conversationId: string;
  running: boolean;
  /** When the running turn started, ms since the epoch. */
  runningSince?: number;
  queued: number;
}

/** What a finished turn was, for metrics. */
export interface TurnEndInfo {
  /** Source of the turn's last message, the metrics label: its platform, or `scheduler` for cron runs and scheduled messages ({@link messageSource}). */
  platform: PlatformName | 'scheduler';
  /** Agent the turn ran with (as chosen when it started); `none` when no agent is usable. */
  agent: string;
}

export interface BridgeDeps extends TurnDeps {
  /** Shared slot queue bounding concurrent turns (AGENTBRIDGE_MAX_CONCURRENT_TURNS). */
  slots: PQueue;
  /** Called after every turn; {@link Bridges} (./bridges.ts) turns it into its `turnEnded` event. */
  onTurnEnd?: (conversationId: string, outcome: TurnOutcome, ms: number, info: TurnEndInfo) => void;
  /** Runs a turn; defaults to {@link executeTurn} (the benchmark wraps it to measure). */
  turn?: typeof executeTurn;
  /** Store health: storage faults of turns are reported here, and a retry waits until it is healthy. */
  health?: StoreHealth;
  /** Backoff of storage-fault retries, ms: first delay, doubling up to `maxMs` (default 500 → 5,000). */
  storageRetry?: { initialMs: number; maxMs: number };
  /**
   * What a message that arrives while a turn runs does (AGENTBRIDGE_BUSY_MODE; default `queue`):
   * `steer` — added to the running turn when its live session can take it, else queued;
   * `queue` — waits for the next turn; `interrupt` — stops the running turn (its answer so far
   * is posted as stopped) and the next turn takes everything queued. Scheduler messages always queue.
   */
  busyMode?: BusyMode;
  /**
   * The line of conversations waiting for a slot (shared by all bridges): a conversation that has
   * to wait shows its place in a queued progress message (`./queued-notice.ts`). Absent: no notice.
   */
  waitLine?: WaitLine;
  /** Channel busy notices (`./busy-notice.ts`), told who waits for a slot. Absent: none. */
  busyNotices?: BusyNotices;
}

/** Per-conversation turn queue. Cheap when idle: two small fields and no timers. */
export class Bridge {
  private queue: InboundMessage[] = [];
  private controller?: AbortController;
  private runningSince?: number;
  private waitingForSlot = false;
  private closed = false;
  private current?: Promise<void>;
  /** A batch whose turn failed on a storage fault: runs again before anything queued after it. */
  private retry?: { batch: InboundMessage[]; attempt: TurnAttempt; failures: number };
  /** Waiting for the backoff and the store's health before the retry is scheduled. */
  private retryWaiting = false;
  private retryTimer?: NodeJS.Timeout;
  /** The running turn's attempt (its `steer` hook while the agent runs in a steerable live session). */
  private attempt?: TurnAttempt;
  /** Messages being offered to the running turn (steer), in arrival order; later messages wait behind them. */
  private steering: Promise<void> = Promise.resolve();
  private steeringCount = 0;
  /** The queued progress message while this conversation waits for a slot with none free. */
  private notice?: QueuedNotice;
  /** Last time something happened here, ms since the epoch (for idle eviction). */
  lastActive: number;
  /**
   * Cluster mode: the fencing token of the wake-up job this conversation runs under
   * (`<job id>:<attempt>`, src/cluster/worker.ts); new turn attempts start and commit their inbox
   * rows only under it. Undefined: one instance, no fence.
   */
  claim?: string;
  /** Resolved when the bridge becomes idle ({@link whenIdle}). */
  private idleWaiters: Array<() => void> = [];

  constructor(
    readonly conversationId: string,
    private readonly deps: BridgeDeps,
  ) {
    this.lastActive = Date.now();
  }

  /**
   * Takes a message (already durable in the inbox): while a turn runs, as AGENTBRIDGE_BUSY_MODE
   * says (see {@link BridgeDeps.busyMode}); otherwise it is queued and a turn starts when possible.
   */
  enqueue(message: InboundMessage): void {
    this.lastActive = Date.now();
    this.acknowledge(message);
    const mode = message.origin === 'scheduler' ? 'queue' : (this.deps.busyMode ?? 'queue');
    if (mode === 'steer' && (this.steeringCount > 0 || (this.controller && this.attempt))) {
      this.steeringCount++;
      this.steering = this.steering.then(() => this.offer(message));
      return;
    }
    this.queue.push(message);
    if (mode === 'interrupt' && this.controller && !this.controller.signal.aborted) {
      this.deps.logger.info({ conversationId: this.conversationId }, 'a new message stops the running turn (busy mode interrupt)');
      this.controller.abort(SUPERSEDED);
    }
    this.schedule();
  }

  /**
   * 👀 on the person's message as soon as it is taken (decoration in the adapter's budget; the turn
   * adds ✅/❌ after its answer). Never throws.
   */
  private acknowledge(message: InboundMessage): void {
    if (!message.messageRef || message.origin === 'scheduler') return;
    const adapter = this.deps.adapters(message.replyTarget.platform);
    void adapter?.react?.(message.replyTarget, message.messageRef, 'working').catch((err: unknown) => {
      this.deps.logger.debug({ err: String(err), conversationId: this.conversationId }, 'could not react to a new message');
    });
  }

  /** Offers `message` to the running turn; queues it when the turn cannot take it. */
  private async offer(message: InboundMessage): Promise<void> {
    // Never past a message already queued (it came first and could not be steered, e.g. while the
    // turn's agent was still starting): then this one queues behind it, keeping the order.
    const steer = this.controller && !this.controller.signal.aborted && this.queue.length === 0 ? this.attempt?.steer : undefined;
    let taken = false;
    if (steer) {
      try {
        taken = await steer(message);
      } catch (err) {
        this.deps.logger.warn({ err, conversationId: this.conversationId }, 'steering failed; the message waits for the next turn');
      }
    }
    // Counted as steering until now; from here it is either part of the turn or queued (same tick).
    this.steeringCount--;
    if (taken) return;
    this.queue.push(message);
    this.schedule();
  }

  /** True when no turn runs or waits and nothing is queued. */
  get idle(): boolean {
    return !this.controller && !this.waitingForSlot && this.queue.length === 0 && !this.retry && this.steeringCount === 0;
  }

  status(): BridgeStatus {
    return {
      conversationId: this.conversationId,
      running: !!this.controller,
      runningSince: this.runningSince,
      // Messages still being offered to the running turn count as queued until the agent took them.
      queued: this.queue.length + (this.retry?.batch.length ?? 0) + this.steeringCount,
    };
  }

  /** Resolves once nothing runs, waits or is queued here (at once when idle). */
  whenIdle(): Promise<void> {
    if (this.idle) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  private notifyIdle(): void {
    if (!this.idle || this.idleWaiters.length === 0) return;
    const waiters = this.idleWaiters.splice(0);
    for (const w of waiters) w();
  }

  /**
   * Cluster mode: this instance lost the conversation (its job's heartbeat lapsed or the database
   * connection is gone). The running turn is ended like a shutdown (nothing more is posted; its
   * inbox rows stay `running` for the worker that takes over), queued messages and a pending
   * storage-fault retry are dropped from memory (they are in the inbox), and the claim is cleared.
   * Resolves when the turn has ended. The bridge takes new work afterwards.
   */
  async abandon(): Promise<void> {
    this.claim = undefined;
    this.queue = [];
    this.retry = undefined;
    this.cancelRetryWait();
    this.controller?.abort(SHUTDOWN);
    await this.current;
    this.notifyIdle();
  }

  /** Stops the running turn (its process group is ended); queued messages stay queued. Returns false if none runs. */
  stop(reason = 'user'): boolean {
    if (!this.controller) return false;
    this.controller.abort(reason);
    return true;
  }

  /** Takes no new turns; resolves when the running turn (if any) has ended. */
  drain(): Promise<void> {
    this.closed = true;
    this.cancelRetryWait();
    return this.current ?? Promise.resolve();
  }

  /** Ends the running turn for shutdown (left for retry after restart) and takes no new turns. */
  async shutdown(): Promise<void> {
    this.closed = true;
    this.cancelRetryWait();
    this.controller?.abort(SHUTDOWN);
    await this.current;
  }

  private schedule(): void {
    if (this.closed || this.controller || this.waitingForSlot || this.retryWaiting) return;
    if (!this.retry && this.queue.length === 0) return this.notifyIdle();
    this.waitingForSlot = true;
    const { slots, waitLine } = this.deps;
    if (waitLine && slots.pending >= slots.concurrency) this.showQueued(waitLine);
    void slots.add(() => this.runTurn());
  }

  /** Every slot is busy: the conversation waits, and its queued progress message says where it is in line. */
  private showQueued(waitLine: WaitLine): void {
    const first = this.retry?.batch[0] ?? this.queue[0];
    const adapter = first && this.deps.adapters(first.replyTarget.platform);
    if (!first || !adapter) return;
    const notice = new QueuedNotice({
      adapter,
      target: first.replyTarget,
      conversationId: this.conversationId,
      store: this.deps.store,
      logger: this.deps.logger,
    });
    this.notice = notice;
    waitLine.join(this.conversationId, (ahead) => notice.show(ahead));
    this.deps.busyNotices?.join(this.conversationId, first.replyTarget);
  }

  /** Leaves the wait line; the queued message's ref (if it was posted) becomes the turn's progress message. */
  private async leaveLine(): Promise<string | undefined> {
    this.deps.waitLine?.leave(this.conversationId);
    this.deps.busyNotices?.leave(this.conversationId);
    const notice = this.notice;
    this.notice = undefined;
    return notice?.settle();
  }

  /**
   * A retried attempt waited in line and got a "⏳ Queued" message: it becomes the attempt's
   * progress message, or — when the attempt already has one — is retired (durably, by the outbox).
   */
  private async adoptQueuedRef(attempt: TurnAttempt, queuedRef: string, first: InboundMessage | undefined): Promise<void> {
    if (!attempt.progressRef) {
      attempt.progressRef = queuedRef;
      return;
    }
    if (!first) return;
    const to = { conversationId: this.conversationId, replyTarget: first.replyTarget };
    try {
      await this.deps.outbound.enqueue(to, PROGRESS_RETIRED_TEXT, { retireRef: queuedRef });
      void this.deps.outbound
        .deliver(this.conversationId)
        .catch((err: unknown) => this.deps.logger.error({ err, conversationId: this.conversationId }, 'delivering the queued message retirement failed'));
    } catch (err) {
      this.deps.logger.warn({ err: String(err), conversationId: this.conversationId }, 'could not retire the queued message');
    }
  }

  private async runTurn(): Promise<void> {
    // p-queue may start the task synchronously inside add(): yield to the event loop so messages
    // enqueued in the same tick (a burst, or start-up recovery) go into this turn together, and so
    // the platform's acknowledgement of the message (sent once the sink resolved) goes out before
    // the agent's spawn blocks the loop for a few ms.
    await new Promise<void>((resolve) => setImmediate(resolve));
    // Messages that arrive while the queued message settles still join this turn.
    const queuedRef = await this.leaveLine();
    if (this.closed) {
      this.waitingForSlot = false;
      return;
    }
    let batch: InboundMessage[];
    let attempt: TurnAttempt;
    let failures = 0;
    if (this.retry) {
      ({ batch, attempt, failures } = this.retry);
      this.retry = undefined;
      // Still waiting for the slot meanwhile (no second turn is scheduled); the retire row is
      // stored before the turn writes anything.
      if (queuedRef) await this.adoptQueuedRef(attempt, queuedRef, batch[0]);
      this.waitingForSlot = false;
      if (this.closed) return; // shut down meanwhile: the batch's inbox rows run after the restart
    } else {
      this.waitingForSlot = false;
      batch = this.queue.splice(0);
      attempt = queuedRef ? { progressRef: queuedRef } : {};
      if (this.claim !== undefined) attempt.claim = this.claim;
    }
    if (batch.length === 0) return this.notifyIdle();
    const controller = new AbortController();
    this.controller = controller;
    this.attempt = attempt;
    this.runningSince = Date.now();
    const last = batch[batch.length - 1]!;
    let info: TurnEndInfo = { platform: messageSource(last), agent: this.deps.defaults.agent ?? 'none' };
    const turn = this.deps.turn ?? executeTurn;
    let outcome: TurnOutcome = 'failed';
    let retrying = false;
    this.current = (async () => {
      try {
        const conv = await this.deps.store.conversations.get(this.conversationId);
        info = { platform: messageSource(last), agent: conv?.agent ?? this.deps.defaults.agent ?? 'none' };
        // Cluster mode: the attempt starts and commits its rows only under its job's claim.
        const deps = attempt.claim !== undefined ? { ...this.deps, inbox: this.deps.inbox.claimed(attempt.claim) } : this.deps;
        outcome = await turn(deps, batch, controller.signal, attempt);
      } catch (err) {
        if (isStorageFault(err) && !(controller.signal.aborted && controller.signal.reason === SHUTDOWN)) {
          this.deps.health?.report(err, 'turn');
          this.retry = { batch, attempt, failures: failures + 1 };
          retrying = true;
          this.deps.logger.warn(
            {
              err: err instanceof Error ? err.message : String(err),
              code: (err as { code?: unknown }).code,
              conversationId: this.conversationId,
              messages: batch.length,
              failures: failures + 1,
            },
            'turn failed on a storage fault; it runs again once the database can be written',
          );
        } else if (err instanceof TurnFencedError) {
          // Another worker took the conversation over: nothing of this attempt is committed.
          this.deps.logger.warn(
            { conversationId: this.conversationId, claim: err.claim, at: err.at },
            'turn fenced off: another worker runs this conversation now',
          );
        } else {
          // A bug, or a storage fault during shutdown: the inbox rows stay running and are retried after restart.
          this.deps.logger.error({ err, conversationId: this.conversationId }, 'turn crashed');
        }
      }
    })();
    await this.current;
    if (!retrying) this.deps.onTurnEnd?.(this.conversationId, outcome, Date.now() - this.runningSince, info);
    this.controller = undefined;
    this.attempt = undefined;
    this.runningSince = undefined;
    this.lastActive = Date.now();
    if (retrying) this.waitToRetry(failures);
    else this.schedule();
  }

  /** After a storage fault: waits the backoff, then for the store to be healthy, then schedules the retry. */
  private waitToRetry(failures: number): void {
    if (this.closed) return;
    this.retryWaiting = true;
    const { initialMs, maxMs } = this.deps.storageRetry ?? { initialMs: 500, maxMs: 5_000 };
    this.retryTimer = setTimeout(
      () => {
        this.retryTimer = undefined;
        void (this.deps.health?.whenHealthy() ?? Promise.resolve()).then(() => {
          if (!this.retryWaiting) return; // cancelled by a shutdown
          this.retryWaiting = false;
          this.lastActive = Date.now();
          this.schedule();
        });
      },
      backoffDelay(failures, initialMs, maxMs),
    );
  }

  private cancelRetryWait(): void {
    if (this.retryTimer) clearTimeout(this.retryTimer);
    this.retryTimer = undefined;
    this.retryWaiting = false;
  }
}
