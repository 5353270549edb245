/**
 * Coalesces edits of one message so the platform's edit rate is respected
 * (Discord: about 5 edits per 5 s per channel; Slack `chat.update`: Tier 3, ~50/min —
 * the vendors' rate-limit docs, docs/ARCHITECTURE.md §7; the interval comes from `PlatformLimits.minEditIntervalMs`; test/unit/throttle.test.ts).
 *
 * - At most one edit starts per `minIntervalMs` (measured between the starts of sends).
 * - The latest text wins: texts given while waiting replace each other; the last one given
 *   is always sent (unless `close()` comes first). A text equal to the last one delivered is
 *   not sent again.
 * - Edits are sent one at a time, never concurrently, in order.
 * - A failing `send` is reported to `onError` and doesn't stop later edits.
 * - After `close()` nothing more is sent.
 *
 * Time is injected (`now`, `setTimer`) so tests are deterministic. No I/O of its own.
 */

/** Schedules `fn` after `ms` milliseconds; returns a function that cancels it. */
export type SetTimer = (fn: () => void, ms: number) => () => void;

export interface EditThrottleOptions {
  /** Minimum time between the starts of two edits, ms (≥ 0). */
  minIntervalMs: number;
  /** Carries out one edit with the full new text. */
  send: (text: string) => Promise<void>;
  /** Told about a failed `send` (a rejection or a throw); default: ignored. Pass a logger. */
  onError?: (err: unknown) => void;
  /** Clock in ms; default `Date.now`. */
  now?: () => number;
  /** Timer; default `setTimeout`/`clearTimeout`. */
  setTimer?: SetTimer;
  /** The text the message shows already (as posted), so an update to the same text is skipped. */
  initialText?: string;
  /**
   * When the message was last written (posted), ms on the `now` clock: the first edit then waits
   * out the interval from there too, so a message is not edited right after it was posted.
   */
  lastSentAt?: number;
}

const defaultSetTimer: SetTimer = (fn, ms) => {
  const t = setTimeout(fn, ms);
  return () => clearTimeout(t);
};

/** Throttled, sequential, latest-wins edits of one message. */
export class EditThrottle {
  private readonly minIntervalMs: number;
  private readonly sendFn: (text: string) => Promise<void>;
  private readonly onError: (err: unknown) => void;
  private readonly now: () => number;
  private readonly setTimer: SetTimer;

  /** Text waiting to be sent and its sequence number. */
  private pending: { text: string; seq: number } | null = null;
  private seq = 0;
  /** Sequence number of the latest text that has been dealt with (sent, failed or skipped). */
  private doneSeq = 0;
  private lastDelivered: string | undefined;
  private lastStart = Number.NEGATIVE_INFINITY;
  private inFlight: Promise<void> | null = null;
  private cancelTimer: (() => void) | null = null;
  private closed = false;
  private waiters: { seq: number; resolve: () => void }[] = [];

  constructor(opts: EditThrottleOptions) {
    if (!(opts.minIntervalMs >= 0)) throw new RangeError(`minIntervalMs must be ≥ 0, got ${opts.minIntervalMs}`);
    this.minIntervalMs = opts.minIntervalMs;
    this.sendFn = opts.send;
    this.onError = opts.onError ?? (() => {});
    this.now = opts.now ?? Date.now;
    this.setTimer = opts.setTimer ?? defaultSetTimer;
    this.lastDelivered = opts.initialText;
    if (opts.lastSentAt !== undefined) this.lastStart = opts.lastSentAt;
  }

  /** Asks for the message to show `text`. Sends now if allowed, else when the interval is over. */
  update(text: string): void {
    if (this.closed) return;
    this.pending = { text, seq: ++this.seq };
    this.pump();
  }

  /**
   * Resolves once every text given so far has been dealt with: sent (or failed, see
   * `onError`), or superseded by a later text that has been. Respects the interval, so it may
   * take up to `minIntervalMs`. Resolves at once when idle or closed.
   */
  flush(): Promise<void> {
    if (this.doneSeq >= this.seq || this.closed) return this.inFlight ?? Promise.resolve();
    const seq = this.seq;
    return new Promise((resolve) => this.waiters.push({ seq, resolve }));
  }

  /**
   * Stops: the pending text (if any) is dropped and later `update`s are ignored. Resolves when
   * an edit already in flight has finished, so the message can then be replaced or deleted.
   */
  async close(): Promise<void> {
    this.closed = true;
    this.pending = null;
    this.cancelTimer?.();
    this.cancelTimer = null;
    this.release(Number.POSITIVE_INFINITY);
    await this.inFlight;
  }

  /** Sends the pending text when nothing is in flight and the interval allows it. */
  private pump(): void {
    if (this.closed || this.inFlight || this.cancelTimer || !this.pending) return;
    const { text, seq } = this.pending;
    if (text === this.lastDelivered) {
      this.pending = null;
      this.release(seq);
      return;
    }
    // Capped at the interval, in case the clock goes backwards.
    const wait = Math.min(this.minIntervalMs, this.lastStart + this.minIntervalMs - this.now());
    if (wait > 0) {
      this.cancelTimer = this.setTimer(() => {
        this.cancelTimer = null;
        this.pump();
      }, wait);
      return;
    }
    this.pending = null;
    this.lastStart = this.now();
    this.inFlight = this.deliver(text).then(() => {
      this.inFlight = null;
      this.release(seq);
      this.pump();
    });
  }

  private async deliver(text: string): Promise<void> {
    try {
      await this.sendFn(text);
      this.lastDelivered = text;
    } catch (err) {
      try {
        this.onError(err);
      } catch {
        // A failing error reporter must not break the throttle.
      }
    }
  }

  /** Marks texts up to `seq` as dealt with and resolves the flushes waiting for them. */
  private release(seq: number): void {
    this.doneSeq = Math.max(this.doneSeq, Math.min(seq, this.seq));
    const ready = this.waiters.filter((w) => w.seq <= seq);
    this.waiters = this.waiters.filter((w) => w.seq > seq);
    for (const w of ready) w.resolve();
  }
}
