/**
 * The router: the core's entry point for every inbound message. It makes the message durable in
 * the inbox (a known event key is a duplicate and is dropped — invariant 2), then hands it to the
 * conversation's bridge, created on demand and dropped from memory when idle.
 */
import type { InboundMessage, InboundSink } from '../platforms/types.js';
import { conversationPlatform } from './ids.js';
import type { Store } from '../session/types.js';
import { Bridge, type BridgeDeps, type BridgeStatus } from './bridge.js';

/**
 * Writes the message to the inbox and makes sure its conversation exists (recording the thread's
 * seed origin the first time), in one transaction. Returns false for a duplicate event key.
 */
export function acceptIntoStore(store: Store, message: InboundMessage): boolean {
  return store.transaction(() => {
    if (!store.inbox.accept(message)) return false;
    const target = message.replyTarget;
    const existing = store.conversations.get(message.conversationId);
    const conv =
      existing ??
      store.conversations.ensure({
        id: message.conversationId,
        platform: conversationPlatform(message),
        channel: target.channel,
        thread: target.thread ?? null,
        workdir: null,
      });
    if (message.seedFrom && !conv.seededFrom && !existing) store.conversations.update(conv.id, { seededFrom: message.seedFrom });
    return true;
  });
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

  constructor(
    private readonly deps: BridgeDeps,
    private readonly opts: RouterOptions,
  ) {}

  /**
   * The sink adapters call. Resolves once the message is in the inbox (then the adapter may
   * acknowledge the platform). Rejects only when the database write fails — the adapter must
   * then not acknowledge, so the platform redelivers.
   */
  readonly accept: InboundSink = async (message: InboundMessage) => {
    if (this.closed) throw new Error('agentbridge is shutting down; the message was not accepted');
    if (!acceptIntoStore(this.deps.store, message)) {
      this.deps.logger.info({ eventKey: message.eventKey, conversationId: message.conversationId }, 'duplicate delivery ignored');
      return 'duplicate';
    }
    if (!this.recovering) this.bridge(message.conversationId).enqueue(message);
    return 'accepted';
  };

  /** Ends the recovery phase: from now on accepted messages are queued at once. */
  recovered(): void {
    this.recovering = false;
  }

  /** Queues a message that is already in the inbox (recovery after a restart). */
  resume(message: InboundMessage): void {
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

  /** Accepts nothing more, ends running turns (kept for retry after restart), waits for them. */
  async shutdown(): Promise<void> {
    this.closed = true;
    if (this.sweeper) clearInterval(this.sweeper);
    await Promise.all([...this.bridges.values()].map((b) => b.shutdown()));
  }
}
