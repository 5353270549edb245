/**
 * The conversations' bridges: `conversationId → Bridge`, created on demand and dropped from
 * memory when idle. Messages reach a bridge only after the inbox took them (./inbox.ts, through
 * the router's pipeline, ./router.ts) or from start-up recovery. Every finished turn is announced
 * as a `turnEnded` event (metrics, the scheduler's cron runs, tests).
 */
import type { InboundMessage } from '../core/messages.js';
import type { TurnOutcome } from '../core/turn.js';
import { Bridge, type BridgeDeps, type BridgeStatus, type TurnEndInfo } from './bridge.js';

/** Sizes for metrics. */
export interface QueueStats {
  /** Messages queued in bridges (including conversations waiting for a turn slot). */
  queued: number;
  /** Conversations waiting for a global turn slot. */
  waitingForSlot: number;
  /** Turns running. */
  running: number;
}

export interface BridgesOptions {
  /** A bridge idle this long (ms) is dropped from memory by {@link Bridges.sweep}. */
  idleEvictMs: number;
  /**
   * Cluster mode: messages reach the bridges only through wake-up jobs (src/cluster/worker.ts →
   * {@link Bridges.enqueue}); {@link Bridges.admit} does nothing, as the inbox transaction already
   * enqueued the job.
   */
  external?: boolean;
}

/** A finished turn: its conversation, outcome, wall time (ms) and labels. */
export interface TurnEnded {
  conversationId: string;
  outcome: TurnOutcome;
  ms: number;
  info: TurnEndInfo;
}

export type TurnEndedListener = (e: TurnEnded) => void;

export class Bridges {
  private readonly bridges = new Map<string, Bridge>();
  private readonly listeners: TurnEndedListener[] = [];
  private readonly deps: BridgeDeps;
  private sweeper?: NodeJS.Timeout;
  private closed = false;
  /**
   * Until start-up recovery has queued the older unfinished messages, new messages are only
   * written to the inbox (recovery picks them up in order), so a restart never reorders.
   */
  private recovering = true;
  /**
   * Recovery reads the unfinished inbox rows and then ends (`recovered`) with `await`s in
   * between: messages taken meanwhile are held here (in order) and queued by {@link recovered}
   * unless recovery queued them itself (their event keys are in {@link resumed}).
   */
  private held: InboundMessage[] = [];
  private resumed = new Set<string>();
  /** Shutting down: new messages are only written to the inbox (answered after the next start). */
  private draining = false;

  /** `deps.onTurnEnd` is replaced: subscribe with {@link on} instead. */
  constructor(
    deps: Omit<BridgeDeps, 'onTurnEnd'>,
    private readonly opts: BridgesOptions,
  ) {
    this.deps = { ...deps, onTurnEnd: (conversationId, outcome, ms, info) => this.emit({ conversationId, outcome, ms, info }) };
  }

  /** Subscribes to `turnEnded` (called after every turn, in subscription order). Returns the unsubscribe function. */
  on(event: 'turnEnded', listener: TurnEndedListener): () => void {
    this.listeners.push(listener);
    return () => {
      const i = this.listeners.indexOf(listener);
      if (i >= 0) this.listeners.splice(i, 1);
    };
  }

  private emit(e: TurnEnded): void {
    for (const l of [...this.listeners]) l(e);
  }

  /** True after {@link shutdown} finished: nothing more is accepted. */
  get closedForGood(): boolean {
    return this.closed;
  }

  /** True once {@link shutdown} began. */
  get stopping(): boolean {
    return this.draining || this.closed;
  }

  /**
   * Ends the recovery phase: messages taken during it that recovery did not queue (taken after its
   * last read of the inbox) are queued now, in the order they were taken; from now on accepted
   * messages are queued at once.
   */
  recovered(): void {
    if (!this.recovering) return;
    this.recovering = false;
    const held = this.held;
    const resumed = this.resumed;
    this.held = [];
    this.resumed = new Set();
    if (this.draining) return; // in the inbox: answered after the next start
    for (const m of held) if (!resumed.has(m.eventKey)) this.bridge(m.conversationId).enqueue(m);
  }

  /**
   * A message the inbox just took: queued in its bridge unless shutdown will pick it up from the
   * inbox; during recovery held until {@link recovered} (recovery's own read of the inbox may
   * queue it first).
   */
  admit(message: InboundMessage): void {
    if (this.draining || this.opts.external) return;
    if (this.recovering) this.held.push(message);
    else this.bridge(message.conversationId).enqueue(message);
  }

  /** Queues a message that is already in the inbox (recovery after a restart). */
  enqueue(message: InboundMessage): void {
    if (this.recovering) this.resumed.add(message.eventKey);
    this.bridge(message.conversationId).enqueue(message);
  }

  /** The bridge of a conversation, created if missing. */
  bridge(conversationId: string): Bridge {
    let b = this.bridges.get(conversationId);
    if (!b) {
      b = new Bridge(conversationId, this.deps);
      this.bridges.set(conversationId, b);
    }
    return b;
  }

  /** Stops the conversation's running turn; false when none runs. */
  stop(conversationId: string): boolean {
    return this.bridges.get(conversationId)?.stop() ?? false;
  }

  /** Status of a conversation's bridge (idle status when it has none in memory). */
  status(conversationId: string): BridgeStatus {
    return this.bridges.get(conversationId)?.status() ?? { conversationId, running: false, queued: 0 };
  }

  /** Bridges currently in memory that run or queue something. */
  active(): BridgeStatus[] {
    return [...this.bridges.values()].filter((b) => !b.idle).map((b) => b.status());
  }

  /** Number of bridges in memory. */
  get size(): number {
    return this.bridges.size;
  }

  /** Drops bridges idle for longer than `idleEvictMs`. Returns how many were dropped. */
  sweep(now = Date.now()): number {
    let n = 0;
    for (const [id, b] of this.bridges) {
      if (b.idle && now - b.lastActive > this.opts.idleEvictMs) {
        this.bridges.delete(id);
        n++;
      }
    }
    return n;
  }

  /** Sweeps periodically (every min(idleEvictMs, 60 s)). */
  startSweeping(): void {
    const every = Math.min(this.opts.idleEvictMs, 60_000);
    this.sweeper = setInterval(() => this.sweep(), every);
    this.sweeper.unref();
  }

  /** Queue sizes across conversations (for metrics). */
  queueStats(): QueueStats {
    let queued = 0;
    let running = 0;
    for (const b of this.bridges.values()) {
      const s = b.status();
      queued += s.queued;
      if (s.running) running++;
    }
    return { queued, waitingForSlot: this.deps.slots.size, running };
  }

  /**
   * Graceful stop: starts no new turns (messages accepted meanwhile stay in the inbox for the next
   * start), lets running turns finish for up to `graceMs`, then ends the rest with the SHUTDOWN
   * reason (left `running` in the inbox: announced and re-run after the next start). Afterwards
   * nothing more is accepted.
   */
  async shutdown(graceMs = 0): Promise<void> {
    this.draining = true;
    if (this.sweeper) clearInterval(this.sweeper);
    const bridges = [...this.bridges.values()];
    const drained = Promise.all(bridges.map((b) => b.drain()));
    const running = bridges.filter((b) => b.status().running).length;
    if (graceMs > 0 && running > 0) {
      this.deps.logger.info({ running, graceS: Math.round(graceMs / 1000) }, 'waiting for running turns to finish');
      let timer: NodeJS.Timeout | undefined;
      const expired = await Promise.race([drained.then(() => false), new Promise<boolean>((r) => (timer = setTimeout(() => r(true), graceMs)))]);
      clearTimeout(timer);
      if (expired)
        this.deps.logger.info(
          { running: bridges.filter((b) => b.status().running).length },
          'grace period over: stopping the remaining turns for retry after the restart',
        );
    }
    await Promise.all(bridges.map((b) => b.shutdown()));
    this.closed = true;
  }
}
