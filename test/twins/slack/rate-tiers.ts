/**
 * Slack's Web API rate tiers for the twin: sliding-window counters per method (and channel, for posting), pure
 * (the clock is injected), so the twin can answer a call over its limit with Slack's 429.
 *
 * Limits (Slack docs, "Rate limits" and each method's page; ../shared/reference/platforms.md):
 * - Tier 3 ("50+ per minute"), counted as ≤ 50 per 60 s: `chat.update`, `chat.delete`,
 *   `reactions.add`, `reactions.remove`, `assistant.threads.setStatus`,
 *   `conversations.replies`, `conversations.history`;
 * - `chat.postMessage` ("special": about 1 per second per channel, short bursts allowed): ≤ 60
 *   per 60 s AND ≤ 10 per 10 s (with sliding windows the second implies the first — 60 calls
 *   in a minute put 10 in its last 10 s — so the minute limit only restates Slack's rate);
 * - Tier 4 ("100+ per minute"), counted as ≤ 100 per 60 s: `users.info`, `chat.postEphemeral`,
 *   `files.getUploadURLExternal`, `files.completeUploadExternal` (each method's page);
 * - not limited: `auth.test`, `apps.connections.open` and any method not listed.
 *
 * Keys: `chat.postMessage` is counted per channel (its `channel` parameter); every tiered method
 * per method alone — Slack applies the tiers "per API method per workspace per app", and the twin
 * serves one workspace and one app.
 *
 * What counts: only calls let through ({@link RateTiers.take} answered `allowed`), whatever their
 * outcome afterwards (ok, a Slack error code, an injected fault). A call refused with a 429 does
 * NOT count against the window. Slack does not publish this; the choice keeps `Retry-After`
 * truthful (a client that waits it out is let through) and never punishes a client for asking.
 *
 * Window: a call at time `t` counts while `now - t < windowMs`. When a limit is full, the call is
 * refused and `Retry-After` is the seconds until its oldest counted call leaves the window,
 * rounded up, at least 1 (with two limits full: the later of the two).
 */

/** One limit: at most `max` calls in any `windowMs` milliseconds. */
export interface TierLimit {
  max: number;
  windowMs: number;
}

const tier3: TierLimit[] = [{ max: 50, windowMs: 60_000 }];
const tier4: TierLimit[] = [{ max: 100, windowMs: 60_000 }];

/** Web API method → its limits (per channel or per workspace: see the module doc); methods not listed are not limited. */
export const SLACK_TIER_LIMITS: Readonly<Record<string, readonly TierLimit[]>> = {
  'chat.postMessage': [
    { max: 60, windowMs: 60_000 },
    { max: 10, windowMs: 10_000 },
  ],
  'chat.update': tier3,
  'chat.delete': tier3,
  'reactions.add': tier3,
  'reactions.remove': tier3,
  'assistant.threads.setStatus': tier3,
  'conversations.replies': tier3,
  'conversations.history': tier3,
  'users.info': tier4,
  'chat.postEphemeral': tier4,
  'files.getUploadURLExternal': tier4,
  'files.completeUploadExternal': tier4,
};

/** The answer of {@link RateTiers.take}: let through (and counted), or refused for `retryAfterS` seconds (≥ 1). */
export type TierDecision = { allowed: true } | { allowed: false; retryAfterS: number };

export interface RateTiersOptions {
  /** Method → limits (default {@link SLACK_TIER_LIMITS}). */
  limits?: Readonly<Record<string, readonly TierLimit[]>>;
  /** The clock, ms (default `Date.now`). */
  now?: () => number;
}

/** Methods counted per channel (Slack: `chat.postMessage` "1 per second per channel"); every other method is counted per workspace. */
export const PER_CHANNEL_METHODS: ReadonlySet<string> = new Set(['chat.postMessage']);

/**
 * The channel a call of `method` is counted under: for a per-channel method its `channel` or
 * `channel_id` parameter; otherwise '' — the tiers apply "per API method per workspace per app"
 * (Slack docs, "Rate limits"), and the twin serves one workspace and one app.
 */
export function tierChannel(method: string, params: Readonly<Record<string, string | undefined>>): string {
  return PER_CHANNEL_METHODS.has(method) ? params.channel || params.channel_id || '' : '';
}

/** Sliding-window counters for every method and channel seen. */
export class RateTiers {
  private readonly limits: Readonly<Record<string, readonly TierLimit[]>>;
  private readonly now: () => number;
  /** `method channel` → times (ms) of the calls let through, oldest first. */
  private readonly seen = new Map<string, number[]>();

  constructor(o: RateTiersOptions = {}) {
    this.limits = o.limits ?? SLACK_TIER_LIMITS;
    this.now = o.now ?? Date.now;
  }

  /**
   * Decides one call of `method` on `channel` ('' = none) now: lets it through and counts it, or
   * refuses it (not counted) with the seconds until every full window has room again.
   */
  take(method: string, channel: string): TierDecision {
    const limits = this.limits[method];
    if (!limits?.length) return { allowed: true };
    const now = this.now();
    const key = `${method} ${channel}`;
    const longest = Math.max(...limits.map((l) => l.windowMs));
    const times = (this.seen.get(key) ?? []).filter((t) => now - t < longest);
    let waitMs = 0;
    for (const l of limits) {
      const inWindow = times.filter((t) => now - t < l.windowMs);
      // Room once all but max-1 of them have left: the (n-max+1)-th oldest leaves at t + windowMs.
      if (inWindow.length >= l.max) waitMs = Math.max(waitMs, inWindow[inWindow.length - l.max]! + l.windowMs - now);
    }
    if (waitMs > 0) {
      this.seen.set(key, times);
      return { allowed: false, retryAfterS: Math.max(1, Math.ceil(waitMs / 1000)) };
    }
    times.push(now);
    this.seen.set(key, times);
    return { allowed: true };
  }

  /** Forgets every call counted so far. */
  reset(): void {
    this.seen.clear();
  }
}
