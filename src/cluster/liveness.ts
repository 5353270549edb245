/**
 * Is this instance still connected to the cluster? (docs/ARCHITECTURE.md §10, fencing.) A probe
 * write every `everyMs` (default 2 s); when no probe has succeeded for `windowMs` (the jobs'
 * heartbeat window) the instance has lost its claims — other workers may already run its
 * conversations — and {@link DatabaseLiveness.onLost} listeners run (the worker abandons its
 * turns, stopping their agents). A process paused longer than the window (SIGSTOP, a VM freeze)
 * finds the same on its first tick after waking up, and {@link DatabaseLiveness.fresh} turns false
 * at once, before any probe.
 */
import type { Logger } from '../logger.js';

export interface LivenessOptions {
  /** One probe: resolves when the database took a write (e.g. `store.probeWrite`). */
  probe: () => Promise<void>;
  /** Silence after which claims count as lost, ms. */
  windowMs: number;
  /** Time between probes, ms (default 2,000); a probe running longer than this counts as failed. */
  everyMs?: number;
  logger: Logger;
  now?: () => number;
}

export class DatabaseLiveness {
  private lastOk: number;
  private timer?: NodeJS.Timeout;
  private probing = false;
  private lost = false;
  private readonly listeners: Array<() => void> = [];
  private readonly now: () => number;

  constructor(private readonly opts: LivenessOptions) {
    this.now = opts.now ?? Date.now;
    this.lastOk = this.now();
  }

  /** Starts probing. */
  start(): void {
    const every = this.opts.everyMs ?? 2_000;
    this.timer = setInterval(() => void this.tick(), every);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }

  /** True while the last successful probe is within the window (claims may still be held). */
  fresh(): boolean {
    return this.now() - this.lastOk < this.opts.windowMs;
  }

  /** Runs `listener` every time the claims are lost (after a recovery it can fire again). */
  onLost(listener: () => void): void {
    this.listeners.push(listener);
  }

  private async tick(): Promise<void> {
    this.checkWindow();
    if (this.probing) return;
    this.probing = true;
    const every = this.opts.everyMs ?? 2_000;
    let timer: NodeJS.Timeout | undefined;
    try {
      await Promise.race([this.opts.probe(), new Promise((_, reject) => (timer = setTimeout(() => reject(new Error('probe timed out')), every)))]);
      if (this.lost) this.opts.logger.info('cluster: the database answers again; taking work again');
      this.lost = false;
      this.lastOk = this.now();
    } catch (err) {
      this.opts.logger.warn({ err: err instanceof Error ? err.message : String(err) }, 'cluster: database probe failed');
    } finally {
      clearTimeout(timer);
      this.probing = false;
    }
    this.checkWindow();
  }

  private checkWindow(): void {
    if (this.lost || this.fresh()) return;
    this.lost = true;
    this.opts.logger.error({ silentMs: this.now() - this.lastOk }, 'cluster: no database contact within the heartbeat window; stopping this instance’s turns');
    for (const l of [...this.listeners]) l();
  }
}
