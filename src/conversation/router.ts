/**
 * The router: the core's entry point for every inbound message. It makes the message durable in
 * the inbox (a known event key is a duplicate and is dropped — invariant 2), then hands it to the
 * conversation's bridge, created on demand and dropped from memory when idle.
 */
import type { InboundMessage } from '../core/messages.js';
import type { AcceptHooks, AcceptResult, InboundSink } from '../platforms/types.js';
import { StoreUnavailableError } from '../store/health.js';
import type { Store } from '../store/types.js';
import { Bridge, type BridgeDeps, type BridgeStatus } from './bridge.js';

/**
 * Writes the message to the inbox and makes sure its conversation exists (recording the thread's
 * seed origin the first time), in one transaction with `hooks.inTransaction`; then runs
 * `hooks.afterCommit`. Returns false for a duplicate event key (no hook runs). Throws the store's
 * error (nothing written) when the transaction fails.
 */
export function acceptIntoStore(store: Store, message: InboundMessage, hooks?: AcceptHooks): boolean {
  const taken = store.transaction(() => {
    if (!store.inbox.accept(message)) return false;
    hooks?.inTransaction?.();
    const target = message.replyTarget;
    const existing = store.conversations.get(message.conversationId);
    const conv =
      existing ??
      store.conversations.ensure({
        id: message.conversationId,
        platform: message.platform,
        channel: target.channel,
        thread: target.thread ?? null,
        workdir: null,
      });
    if (message.seedFrom && !conv.seededFrom && !existing) store.conversations.update(conv.id, { seededFrom: message.seedFrom });
    return true;
  });
  if (taken) hooks?.afterCommit?.();
  return taken;
}

/**
 * Screens new messages before they become turns (access control and chat commands, see
 * `./commands/index.ts`). `screen` returns the accept result when it handled the message itself,
 * undefined for an ordinary prompt.
 */
export interface InboundGate {
  /** `hooks` must run with whatever the gate stores for a message it handles (see {@link AcceptHooks}). */
  screen(message: InboundMessage, hooks?: AcceptHooks): Promise<AcceptResult | undefined>;
  /** Start-up recovery: true for an unfinished inbox row that is a command, not a prompt (closed, not run). */
  isCommand?(message: InboundMessage): boolean;
}

/** Sizes for metrics. */
export interface QueueStats {
  /** Messages queued in bridges (including conversations waiting for a turn slot). */
  queued: number;
  /** Conversations waiting for a global turn slot. */
  waitingForSlot: number;
  /** Turns running. */
  running: number;
}

export interface RouterOptions {
  /** A bridge idle this long (ms) is dropped from memory by {@link Router.sweep}. */
  idleEvictMs: number;
}

export class Router {
  private readonly bridges = new Map<string, Bridge>();
  private sweeper?: NodeJS.Timeout;
  private closed = false;
  /**
   * Until start-up recovery has queued the older unfinished messages, new messages are only
   * written to the inbox (recovery picks them up in order), so a restart never reorders.
   */
  private recovering = true;
  /** Shutting down: new messages are only written to the inbox (answered after the next start). */
  private draining = false;
  private gate?: InboundGate;

  constructor(
    private readonly deps: BridgeDeps,
    private readonly opts: RouterOptions,
  ) {}

  /**
   * The sink adapters call. Resolves once the message is in the inbox (then the adapter may
   * acknowledge the platform). Rejects only when the database write fails, or at once with
   * `StoreUnavailableError` while the store health says the database cannot be written (nothing
   * is stored, not even by the gate) — the adapter must then not acknowledge, so the platform
   * redelivers. A storage fault of the write is reported to the store health.
   */
  readonly accept: InboundSink = async (message: InboundMessage, hooks?: AcceptHooks) => {
    if (this.closed) throw new Error('agentbridge is shutting down; the message was not accepted');
    const health = this.deps.health;
    if (health && !health.healthy) throw new StoreUnavailableError(health.reason ?? 'storage fault');
    try {
      return await this.take(message, hooks);
    } catch (err) {
      if (health?.report(err, 'inbox')) throw new StoreUnavailableError(health.reason ?? 'storage fault');
      throw err;
    }
  };

  private async take(message: InboundMessage, hooks?: AcceptHooks): Promise<AcceptResult> {
    const screened = this.gate ? await this.gate.screen(message, hooks) : undefined;
    if (screened) return screened;
    if (!acceptIntoStore(this.deps.store, message, hooks)) {
      this.deps.logger.info({ eventKey: message.eventKey, conversationId: message.conversationId }, 'duplicate delivery ignored');
      return 'duplicate';
    }
    if (!this.recovering && !this.draining) this.bridge(message.conversationId).enqueue(message);
    return 'accepted';
  }

  /** Installs the gate every new message passes first (access control, commands). */
  setGate(gate: InboundGate): void {
    this.gate = gate;
  }

  /** True once {@link shutdown} began. */
  get stopping(): boolean {
    return this.draining || this.closed;
  }

  /** Ends the recovery phase: from now on accepted messages are queued at once. */
  recovered(): void {
    this.recovering = false;
  }

  /** Queues a message that is already in the inbox (recovery after a restart). */
  resume(message: InboundMessage): void {
    if (this.gate?.isCommand?.(message)) {
      // A command whose reply was never recorded (stopped mid-way): not a prompt, and not re-run.
      this.deps.store.inbox.markFailed([message.eventKey]);
      this.deps.logger.warn({ eventKey: message.eventKey, conversationId: message.conversationId }, 'unfinished command from before the restart dropped');
      return;
    }
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
      if (expired) this.deps.logger.info({ running: bridges.filter((b) => b.status().running).length }, 'grace period over: stopping the remaining turns for retry after the restart');
    }
    await Promise.all(bridges.map((b) => b.shutdown()));
    this.closed = true;
  }
}
