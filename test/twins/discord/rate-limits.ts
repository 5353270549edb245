/**
 * Discord's REST rate limits for the twin: sliding-window counters per route bucket and channel,
 * plus the global limit, pure (the clock is injected), so the twin can answer a call over its
 * limit with Discord's 429 and tell the client on every answer how much room is left
 * (`X-RateLimit-*`), as Discord does.
 *
 * Limits (Discord docs, "Rate Limits", https://discord.com/developers/docs/topics/rate-limits:
 * per-route buckets keyed by the route's major parameter, here the channel id — a thread is a
 * channel with an id of its own, so it has buckets of its own — and a global limit of 50
 * requests per second; the per-route numbers are not published, these are the observed ones,
 * ../shared/reference/platforms.md "Rate limits"):
 * - `POST /channels/{c}/messages` (create message): ≤ 5 per 5 s per channel (observed);
 * - `PATCH /channels/{c}/messages/{m}` (edit message): ≤ 5 per 5 s per channel (observed,
 *   "about 5 edits per 5 seconds per channel");
 * - `DELETE /channels/{c}/messages/{m}` (delete message): ≤ 5 per 1 s per channel (commonly
 *   observed bucket; Discord documents only that deletes of old messages have a stricter
 *   sublimit, which the twin does not model);
 * - `PUT` and `DELETE /channels/{c}/messages/{m}/reactions/{emoji}/@me` (add or remove the bot's
 *   own reaction): ≤ 1 per 0.25 s per channel (observed), one bucket for both (twin choice);
 * - global: ≤ 50 per 1 s over every route the bot token calls, except interaction callbacks and
 *   interaction webhooks (`/interactions/…`, `/webhooks/…`), which Discord says are not bound
 *   to the global limit.
 * Any other route has no per-route limit (it still counts against the global one).
 *
 * What counts: only calls let through ({@link RateLimits.take} answered `allowed`), whatever
 * their outcome afterwards. A refused call counts against nothing (as in the Slack twin,
 * `../slack/rate-tiers.ts`): `Retry-After` stays truthful, and a client that waits it out is let
 * through.
 *
 * Window: a call at time `t` counts while `now - t < windowMs`. When a window is full, the call
 * is refused with the time until its oldest counted call leaves the window (with both the
 * route's and the global window full: the later of the two; the refusal is `global` only when
 * the route's own window has room).
 *
 * Headers of a call let through ({@link LimitState}): `limit` is the route's `max`,
 * `remaining` the calls that still fit in its window now (after this one), `resetAfterMs` the
 * time until the oldest counted call leaves the window — when `remaining` grows by one. Exact
 * for a sliding window, and what @discordjs/rest needs: it reads `X-RateLimit-Remaining`, and at 0
 * waits `X-RateLimit-Reset-After` before its next call on that bucket, then trusts the next
 * answer's headers again (so a truthful reset never makes it stall or burst).
 */

/** A route's limit: at most `max` calls in any `windowMs` milliseconds per channel, counted under `bucket`. */
export interface RouteLimit {
  max: number;
  windowMs: number;
  /** The bucket's name, sent as `X-RateLimit-Bucket`; routes with the same bucket share its window. */
  bucket: string;
}

const reactions: RouteLimit = { max: 1, windowMs: 250, bucket: 'twin-reactions' };

/**
 * Route (`METHOD /path` with `:c` for the channel, `:m` a message, `:e` an emoji) → its limit.
 * Sources: see the module doc.
 */
export const DISCORD_ROUTE_LIMITS: Readonly<Record<string, RouteLimit>> = {
  'POST /channels/:c/messages': { max: 5, windowMs: 5_000, bucket: 'twin-messages-create' },
  'PATCH /channels/:c/messages/:m': { max: 5, windowMs: 5_000, bucket: 'twin-messages-edit' },
  'DELETE /channels/:c/messages/:m': { max: 5, windowMs: 1_000, bucket: 'twin-messages-delete' },
  'PUT /channels/:c/messages/:m/reactions/:e/@me': reactions,
  'DELETE /channels/:c/messages/:m/reactions/:e/@me': reactions,
};

/** Discord's global limit: 50 requests per second per bot (Discord docs, "Rate Limits", "Global Rate Limit"). */
export const DISCORD_GLOBAL_LIMIT = { max: 50, windowMs: 1_000 } as const;

/** Where a call is counted: its route (a key of the limits, or `METHOD /path` as called) and channel ('' = none). */
export interface RouteOfCall {
  route: string;
  channel: string;
}

/**
 * The route and channel a call is counted under: the first of `routes` whose pattern matches
 * (`:x` matches one segment), else the call itself; the channel is the segment after
 * `/channels/` (Discord's major parameter), '' when there is none.
 * @param path relative to `/api/v10`, URL-decoded, without the query
 */
export function routeOf(method: string, path: string, routes: readonly string[] = Object.keys(DISCORD_ROUTE_LIMITS)): RouteOfCall {
  const segs = path.split('/');
  const channel = segs[1] === 'channels' && segs[2] ? segs[2] : '';
  for (const r of routes) {
    const [m, p] = r.split(' ', 2) as [string, string];
    const rs = p.split('/');
    if (m === method && rs.length === segs.length && rs.every((s, i) => s.startsWith(':') || s === segs[i])) return { route: r, channel };
  }
  return { route: `${method} ${path}`, channel };
}

/** True for the routes Discord does not count against the global limit: interaction callbacks and webhooks. */
export function exemptFromGlobal(route: string): boolean {
  return /^[A-Z]+ \/(interactions|webhooks)\//.test(route);
}

/** What a call let through leaves of its route's bucket on its channel, for the `X-RateLimit-*` headers. */
export interface LimitState {
  bucket: string;
  limit: number;
  remaining: number;
  /** Until the oldest counted call leaves the window (`remaining` grows by one), ms, > 0. */
  resetAfterMs: number;
}

/**
 * The answer of {@link RateLimits.take}: let through and counted (with its route's {@link LimitState}
 * when the route has a limit), or refused for `retryAfterMs` (> 0): by the global limit
 * (`global: true`), or by the route's bucket (`global: false`, its state: `remaining` 0,
 * `resetAfterMs` until its oldest call leaves).
 */
export type LimitDecision =
  | { allowed: true; state?: LimitState }
  | { allowed: false; retryAfterMs: number; global: true }
  | { allowed: false; retryAfterMs: number; global: false; state: LimitState };

export interface RateLimitsOptions {
  /** Route → limit (default {@link DISCORD_ROUTE_LIMITS}). */
  limits?: Readonly<Record<string, RouteLimit>>;
  /** The global limit (default {@link DISCORD_GLOBAL_LIMIT}). */
  global?: { max: number; windowMs: number };
  /** The clock, ms (default `Date.now`). */
  now?: () => number;
}

/** Sliding-window counters for every route bucket and channel seen, and the global window. */
export class RateLimits {
  readonly limits: Readonly<Record<string, RouteLimit>>;
  private readonly global: { max: number; windowMs: number };
  private readonly now: () => number;
  /** `bucket channel` → times (ms) of the calls let through, oldest first. */
  private readonly seen = new Map<string, number[]>();
  /** Times (ms) of every call let through that counts globally, oldest first. */
  private globalSeen: number[] = [];

  constructor(o: RateLimitsOptions = {}) {
    this.limits = o.limits ?? DISCORD_ROUTE_LIMITS;
    this.global = o.global ?? DISCORD_GLOBAL_LIMIT;
    this.now = o.now ?? Date.now;
  }

  /**
   * Decides one call of `route` (see {@link routeOf}) on `channel` now: lets it through and
   * counts it (in its route's bucket and globally), or refuses it (counted nowhere) with the
   * time until every full window has room again.
   */
  take(route: string, channel: string): LimitDecision {
    const now = this.now();
    const limit = this.limits[route];
    const key = limit ? `${limit.bucket} ${channel}` : undefined;
    const times = key ? (this.seen.get(key) ?? []).filter((t) => now - t < limit!.windowMs) : [];
    if (key) this.seen.set(key, times);
    const countsGlobally = !exemptFromGlobal(route);
    if (countsGlobally) this.globalSeen = this.globalSeen.filter((t) => now - t < this.global.windowMs);

    // Room once all but max-1 of them have left: the (n-max+1)-th oldest leaves at t + windowMs.
    const routeWait = limit && times.length >= limit.max ? times[times.length - limit.max]! + limit.windowMs - now : 0;
    const g = this.globalSeen;
    const globalWait = countsGlobally && g.length >= this.global.max ? g[g.length - this.global.max]! + this.global.windowMs - now : 0;
    if (routeWait > 0 || globalWait > 0) {
      const retryAfterMs = Math.max(routeWait, globalWait);
      // A route refusal reports its bucket (empty until its oldest call leaves); a global one none.
      if (routeWait <= 0) return { allowed: false, retryAfterMs, global: true };
      return { allowed: false, retryAfterMs, global: false, state: { bucket: limit!.bucket, limit: limit!.max, remaining: 0, resetAfterMs: routeWait } };
    }
    if (countsGlobally) g.push(now);
    if (!limit) return { allowed: true };
    times.push(now);
    return {
      allowed: true,
      state: { bucket: limit.bucket, limit: limit.max, remaining: Math.max(0, limit.max - times.length), resetAfterMs: times[0]! + limit.windowMs - now },
    };
  }

  /** Forgets every call counted so far. */
  reset(): void {
    this.seen.clear();
    this.globalSeen = [];
  }
}

/**
 * The `X-RateLimit-*` headers Discord sends with an answer on a limited route (Discord docs,
 * "Rate Limits", "Header Format"): `Limit`, `Remaining`, `Reset` (epoch seconds, ms precision),
 * `Reset-After` (seconds, ms precision), `Bucket`.
 */
export function limitHeaders(state: LimitState, nowMs: number): Record<string, string> {
  return {
    'x-ratelimit-limit': String(state.limit),
    'x-ratelimit-remaining': String(state.remaining),
    'x-ratelimit-reset': ((nowMs + state.resetAfterMs) / 1000).toFixed(3),
    'x-ratelimit-reset-after': (state.resetAfterMs / 1000).toFixed(3),
    'x-ratelimit-bucket': state.bucket,
  };
}

/**
 * Discord's 429 for a refused call (Discord docs, "Rate Limits", "Exceeding A Rate Limit"): body
 * `{message, retry_after (s, ms precision), global}`, `Retry-After` in whole seconds (rounded up,
 * as in Discord's example), `X-RateLimit-Scope` (`user` for the bot's own limits, `global` with
 * `X-RateLimit-Global: true`), and for a route refusal its bucket's headers.
 */
export function tooManyRequests(
  d: Extract<LimitDecision, { allowed: false }>,
  nowMs: number,
): { body: { message: string; retry_after: number; global: boolean }; headers: Record<string, string> } {
  const retryAfterS = Math.round(d.retryAfterMs) / 1000;
  return {
    body: { message: 'You are being rate limited.', retry_after: retryAfterS, global: d.global },
    headers: {
      'retry-after': String(Math.ceil(retryAfterS)),
      ...(d.global ? { 'x-ratelimit-global': 'true', 'x-ratelimit-scope': 'global' } : { ...limitHeaders(d.state, nowMs), 'x-ratelimit-scope': 'user' }),
    },
  };
}
