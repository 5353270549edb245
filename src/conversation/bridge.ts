/**
 * The bridge of one conversation: exactly one agent turn at a time (invariant 3). Messages that
 * arrive while a turn runs, or while the conversation waits for a global turn slot, are queued
 * and combined into the next turn in arrival order. Global concurrency comes from a shared
 * p-queue (FIFO), so conversations waiting for a slot keep their order.
 */
import type PQueue from 'p-queue';
import type { InboundMessage, PlatformName } from '../platforms/types.js';
import { executeTurn, SHUTDOWN, type TurnDeps, type TurnOutcome } from './turn.js';

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
  /** Platform of the turn's last message (`scheduler` for cron runs and scheduled messages). */
  platform: PlatformName;
  /** Agent the turn ran with (as chosen when it started); `none` when no agent is usable. */
  agent: string;
}

export interface BridgeDeps extends TurnDeps {
  /** Shared slot queue bounding concurrent turns (AGENTBRIDGE_MAX_CONCURRENT_TURNS). */
  slots: PQueue;
  /** Called after every turn (metrics, tests). */
  onTurnEnd?: (conversationId: string, outcome: TurnOutcome, ms: number, info: TurnEndInfo) => void;
  /** Runs a turn; defaults to {@link executeTurn} (the benchmark substitutes nothing else). */
  turn?: typeof executeTurn;
}

/** Per-conversation turn queue. Cheap when idle: two small fields and no timers. */
export class Bridge {
  private queue: InboundMessage[] = [];
  private controller?: AbortController;
  private runningSince?: number;
  private waitingForSlot = false;
  private closed = false;
  private current?: Promise<void>;
  /** Last time something happened here, ms since the epoch (for idle eviction). */
  lastActive: number;

  constructor(
    readonly conversationId: string,
    private readonly deps: BridgeDeps,
  ) {
    this.lastActive = Date.now();
  }

  /** Queues a message (already durable in the inbox) and starts a turn when possible. */
  enqueue(message: InboundMessage): void {
    this.queue.push(message);
    this.lastActive = Date.now();
    this.schedule();
  }

  /** True when no turn runs or waits and nothing is queued. */
  get idle(): boolean {
    return !this.controller && !this.waitingForSlot && this.queue.length === 0;
  }

  status(): BridgeStatus {
    return { conversationId: this.conversationId, running: !!this.controller, runningSince: this.runningSince, queued: this.queue.length };
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
    return this.current ?? Promise.resolve();
  }

  /** Ends the running turn for shutdown (left for retry after restart) and takes no new turns. */
  async shutdown(): Promise<void> {
    this.closed = true;
    this.controller?.abort(SHUTDOWN);
    await this.current;
  }

  private schedule(): void {
    if (this.closed || this.controller || this.waitingForSlot || this.queue.length === 0) return;
    this.waitingForSlot = true;
    void this.deps.slots.add(() => this.runTurn());
  }

  private async runTurn(): Promise<void> {
    // p-queue may start the task synchronously inside add(): yield once so messages enqueued
    // in the same tick (a burst, or start-up recovery) go into this turn together.
    await null;
    this.waitingForSlot = false;
    if (this.closed) return;
    const batch = this.queue.splice(0);
    if (batch.length === 0) return;
    const controller = new AbortController();
    this.controller = controller;
    this.runningSince = Date.now();
    const last = batch[batch.length - 1]!;
    const info: TurnEndInfo = { platform: last.platform, agent: this.deps.store.conversations.get(this.conversationId)?.agent ?? this.deps.defaults.agent ?? 'none' };
    const turn = this.deps.turn ?? executeTurn;
    let outcome: TurnOutcome = 'failed';
    this.current = (async () => {
      try {
        outcome = await turn(this.deps, batch, controller.signal);
      } catch (err) {
        // A bug or a database error: the inbox rows stay running and are retried after restart.
        this.deps.logger.error({ err, conversationId: this.conversationId }, 'turn crashed');
      }
    })();
    await this.current;
    this.deps.onTurnEnd?.(this.conversationId, outcome, Date.now() - this.runningSince, info);
    this.controller = undefined;
    this.runningSince = undefined;
    this.lastActive = Date.now();
    this.schedule();
  }
}
