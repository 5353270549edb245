/**
 * The shared Web API budget of one platform adapter: one token bucket per (method, channel), or
 * per method where the limit is workspace-wide (`BucketSpec.scope`) — Slack rate-limits its Web
 * API per method and workspace and (for posting) per channel, Discord per route and channel —
 * shared by every turn, notice and card it covers, so the platform never has to
 * answer 429 (Slack: "Rate limits", https://api.slack.com/apis/rate-limits; Discord: "Rate
 * Limits", https://discord.com/developers/docs/topics/rate-limits). The limits themselves are the
 * adapter's (`slack/limits.ts`, `discord/limits.ts`).
 *
 * Two lanes per bucket:
 * - **urgent** (answers, notices, cards — what a person is waiting for): first in first out, ahead
 *   of every decoration;
 * - **decoration** (reactions, the progress message and its edits, status): served only when no
 *   urgent call waits. A decoration with a `slot` replaces one with the same slot that is still
 *   waiting (latest wins: a progress edit supersedes the older edit of the same message; ✅
 *   supersedes a 👀 never sent), and an aborted `signal` drops it while it waits. So when a channel
 *   is busy, progress edits of all its turns are coalesced to what the budget allows, and answers
 *   are never delayed by decoration.
 *
 * A call that started is never cut: the budget only decides when calls start. Time is injected.
 */

/** A token bucket: `burst` calls at once, refilled at `perMinute` calls per minute. */
export interface BucketSpec {
  /** Calls that may start at once after a quiet period (≥ 1). */
  burst: number;
  /** Sustained rate, calls per minute (> 0). In any 60 s window at most `burst + perMinute` calls start. */
  perMinute: number;
  /**
   * What one bucket covers: `channel` (default) — one bucket per method and channel (Slack's
   * `chat.postMessage`, Discord's routes); `method` — one bucket per method for the whole adapter
   * (Slack's tiers: "per API method per workspace per app").
   */
  scope?: 'channel' | 'method';
  /**
   * Tokens decoration leaves for urgent calls (default 0; below `burst`): after a quiet period an
   * answer or a notice starts at once even when decoration has just come in a burst.
   */
  reserve?: number;
}

/** Thrown (as the rejection) for a decoration that was dropped before it started. */
export class DroppedCall extends Error {
  constructor(readonly why: 'superseded' | 'aborted') {
    super(`call dropped before it started (${why})`);
    this.name = 'DroppedCall';
  }
}

/** True for the rejection of a dropped decoration. */
export function isDroppedCall(err: unknown): err is DroppedCall {
  return err instanceof DroppedCall;
}

export interface DecorationOptions {
  /** A later decoration with the same slot (in the same bucket) replaces this one while it waits. */
  slot?: string;
  /** Aborting drops the call while it waits (no effect once it started). */
  signal?: AbortSignal;
}

export interface WebApiBudgetOptions {
  /** The bucket of a method; undefined = not limited (runs at once). */
  spec: (method: string) => BucketSpec | undefined;
  /** Clock, ms; default `Date.now`. */
  now?: () => number;
  /** Schedules `fn` after `ms`; returns a cancel function. Default: an unref'd setTimeout. */
  setTimer?: (fn: () => void, ms: number) => () => void;
}

interface Waiting {
  start: () => void;
  drop: (why: DroppedCall['why']) => void;
}

interface Bucket {
  spec: BucketSpec;
  tokens: number;
  /** When `tokens` was last brought up to date, ms. */
  at: number;
  urgent: Waiting[];
  /** In arrival order of their slot's first call. */
  decorations: Map<string, Waiting>;
  cancelTimer?: () => void;
}

/** Most idle buckets kept; beyond it full, idle buckets are forgotten (they carry no state). */
const MAX_IDLE_BUCKETS = 1_000;

/** Calls `fn`; a synchronous throw becomes a rejection (the pump may run from a timer). */
function run<T>(fn: () => Promise<T>): Promise<T> {
  try {
    return fn();
  } catch (err) {
    return Promise.reject(err);
  }
}

const defaultSetTimer = (fn: () => void, ms: number) => {
  const t = setTimeout(fn, ms);
  t.unref?.();
  return () => clearTimeout(t);
};

/** Per-(method, channel) token buckets with an urgent and a decoration lane (see the module doc). */
export class WebApiBudget {
  private readonly buckets = new Map<string, Bucket>();
  private readonly now: () => number;
  private readonly setTimer: NonNullable<WebApiBudgetOptions['setTimer']>;
  private anonymous = 0;

  constructor(private readonly opts: WebApiBudgetOptions) {
    this.now = opts.now ?? Date.now;
    this.setTimer = opts.setTimer ?? defaultSetTimer;
  }

  /**
   * Runs `fn` as soon as the bucket of (`method`, `channel`) has a token, ahead of decorations.
   * @returns what `fn` returns; rejects with its error.
   */
  urgent<T>(method: string, channel: string, fn: () => Promise<T>): Promise<T> {
    const bucket = this.bucket(method, channel);
    if (!bucket) return fn();
    return new Promise<T>((resolve, reject) => {
      bucket.urgent.push({ start: () => void run(fn).then(resolve, reject), drop: () => {} });
      this.pump(bucket);
    });
  }

  /**
   * Runs `fn` when the bucket has a token and no urgent call waits.
   * @returns what `fn` returns; rejects with its error, or with {@link DroppedCall} when it was
   *   superseded (same `slot`) or aborted before it started.
   */
  decoration<T>(method: string, channel: string, fn: () => Promise<T>, opts: DecorationOptions = {}): Promise<T> {
    if (opts.signal?.aborted) return Promise.reject(new DroppedCall('aborted'));
    const bucket = this.bucket(method, channel);
    if (!bucket) return fn();
    const slot = opts.slot ?? `#${++this.anonymous}`;
    return new Promise<T>((resolve, reject) => {
      const onAbort = () => {
        if (bucket.decorations.get(slot) !== entry) return;
        bucket.decorations.delete(slot);
        entry.drop('aborted');
      };
      const entry: Waiting = {
        start: () => {
          opts.signal?.removeEventListener('abort', onAbort);
          run(fn).then(resolve, reject);
        },
        drop: (why) => {
          opts.signal?.removeEventListener('abort', onAbort);
          reject(new DroppedCall(why));
        },
      };
      const replaced = bucket.decorations.get(slot);
      // The replacement keeps the waiting one's place in line (it has waited that long).
      bucket.decorations.set(slot, entry);
      replaced?.drop('superseded');
      opts.signal?.addEventListener('abort', onAbort, { once: true });
      this.pump(bucket);
    });
  }

  /** Calls waiting in all buckets (for tests and metrics). */
  get waiting(): number {
    let n = 0;
    for (const b of this.buckets.values()) n += b.urgent.length + b.decorations.size;
    return n;
  }

  private bucket(method: string, channel: string): Bucket | undefined {
    const spec = this.opts.spec(method);
    if (!spec) return undefined;
    const key = spec.scope === 'method' ? method : `${method}\u0000${channel}`;
    let bucket = this.buckets.get(key);
    if (!bucket) {
      if (this.buckets.size >= MAX_IDLE_BUCKETS) this.forgetIdle();
      bucket = { spec, tokens: spec.burst, at: this.now(), urgent: [], decorations: new Map() };
      this.buckets.set(key, bucket);
    }
    return bucket;
  }

  /** Starts waiting calls while tokens last; otherwise sets a timer for the next token. */
  private pump(bucket: Bucket): void {
    this.refill(bucket);
    const reserve = bucket.spec.reserve ?? 0;
    while (bucket.tokens >= 1) {
      const next = bucket.urgent.shift() ?? (bucket.tokens >= 1 + reserve ? this.shiftDecoration(bucket) : undefined);
      if (!next) break;
      bucket.tokens -= 1;
      next.start();
    }
    if (bucket.cancelTimer || (!bucket.urgent.length && !bucket.decorations.size)) return;
    // The next call: an urgent one needs 1 token, a decoration 1 + reserve.
    const needed = bucket.urgent.length ? 1 : 1 + reserve;
    const msPerToken = 60_000 / bucket.spec.perMinute;
    const wait = Math.max(1, Math.ceil((needed - bucket.tokens) * msPerToken));
    bucket.cancelTimer = this.setTimer(() => {
      bucket.cancelTimer = undefined;
      this.pump(bucket);
    }, wait);
  }

  private shiftDecoration(bucket: Bucket): Waiting | undefined {
    const first = bucket.decorations.entries().next();
    if (first.done) return undefined;
    bucket.decorations.delete(first.value[0]);
    return first.value[1];
  }

  private refill(bucket: Bucket): void {
    const now = this.now();
    const elapsed = Math.max(0, now - bucket.at);
    bucket.tokens = Math.min(bucket.spec.burst, bucket.tokens + (elapsed * bucket.spec.perMinute) / 60_000);
    bucket.at = now;
  }

  private forgetIdle(): void {
    for (const [key, b] of this.buckets) {
      this.refill(b);
      if (b.tokens >= b.spec.burst && !b.urgent.length && !b.decorations.size) this.buckets.delete(key);
    }
  }
}
