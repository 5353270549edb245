/**
 * The replay cache of the Events API over HTTP: a signed Slack request (event or slash command)
 * is accepted once. Slack's signature covers the timestamp and the body, and a timestamp more
 * than {@link MAX_SIGNATURE_AGE_S} (5 minutes) from now is refused (`signature.ts`), so a
 * captured request can only be replayed within that window; remembering every accepted
 * signature until its window closes refuses the replay.
 *
 * Slack's own retries of an event are new requests (new `X-Slack-Request-Timestamp`, so a new
 * signature; Slack docs, "Verifying requests from Slack" and "Events API: retries"): they pass,
 * and the inbox drops them as duplicates by event key.
 *
 * In memory only: a restart clears it. Acceptable because a replayed event still does nothing
 * after a restart (the inbox's unique event key is durable), and a slash command could only be
 * replayed by someone who captured a signed request (past TLS) and times it within 5 minutes of
 * an agentbridge restart; the window then closes by itself.
 *
 * Bounded: at most `maxEntries` (default 10,000) signatures; when full, expired entries are
 * dropped first, then the oldest. Only requests with a valid signature are stored, so nobody
 * without the signing secret can fill it.
 */
import { MAX_SIGNATURE_AGE_S } from './signature.js';

export interface ReplayCacheOptions {
  /** Most signatures kept (default 10,000). */
  maxEntries?: number;
  /** Clock, ms since the epoch (tests). */
  now?: () => number;
}

/** Signatures of accepted requests until their 5-minute window closes. */
export class ReplayCache {
  /** Signature → expiry, ms since the epoch; insertion order = oldest first. */
  private readonly seen = new Map<string, number>();
  private readonly maxEntries: number;
  private readonly now: () => number;

  constructor(opts: ReplayCacheOptions = {}) {
    this.maxEntries = opts.maxEntries ?? 10_000;
    this.now = opts.now ?? Date.now;
  }

  /**
   * Records a verified request; returns false when the same signature was accepted before and its
   * window has not closed (a replay). `timestampS` is `X-Slack-Request-Timestamp` (Unix seconds):
   * the request can be replayed until `timestampS + 300 s`, so the entry lives until then (at
   * least until now + 300 s when the sender's clock is behind).
   */
  accept(signature: string, timestampS: number): boolean {
    const now = this.now();
    const key = signature.trim().toLowerCase();
    const expiry = this.seen.get(key);
    if (expiry !== undefined && expiry > now) return false;
    if (expiry !== undefined) this.seen.delete(key);
    if (this.seen.size >= this.maxEntries) this.evict(now);
    this.seen.set(key, Math.max(timestampS * 1000, now) + MAX_SIGNATURE_AGE_S * 1000);
    return true;
  }

  /** Number of signatures kept. */
  get size(): number {
    return this.seen.size;
  }

  private evict(now: number): void {
    for (const [key, expiry] of this.seen) if (expiry <= now) this.seen.delete(key);
    while (this.seen.size >= this.maxEntries) this.seen.delete(this.seen.keys().next().value!);
  }
}
