/** What Discord allows, for the renderer (through the adapter) and the platform module. */
import type { BucketSpec } from '../budget.js';
import type { PlatformLimits } from '../types.js';

/**
 * Largest file the bot posts to Discord, bytes: 10 MiB (Discord API docs, "Uploading Files": the
 * default upload limit is 10 MiB per file, more only in servers with boosts — which the bot cannot
 * know in advance, so the default is the limit).
 */
export const DISCORD_MAX_FILE_BYTES = 10 * 1024 * 1024;

/**
 * Discord's limits: 2,000 characters per message (its `content` limit); an edit at most every
 * 1.5 s; 5 conversations of a channel waiting for a slot get the channel a busy notice (messages
 * and reactions are limited per channel); files up to {@link DISCORD_MAX_FILE_BYTES}.
 */
export const DISCORD_LIMITS: PlatformLimits = { maxMessageChars: 2000, minEditIntervalMs: 1500, busyNoticeAt: 5, maxFileBytes: DISCORD_MAX_FILE_BYTES };

/**
 * The REST budget per route and channel (`../budget.ts`), kept within Discord's per-channel
 * buckets so that answers are not queued behind decoration inside discord.js's own rate-limit
 * queue (Discord docs, "Rate Limits": buckets per route and major parameter, read from
 * `X-RateLimit-*`; observed: about 5 messages and 5 edits per 5 s per channel, reactions about
 * 1 per 0.25 s per channel — ../shared/reference/platforms.md). Keys are our names for routes:
 * - `messages.create`, `messages.edit`: 3 at once, 20 per minute (any 5 s window ≤ 4.7, one below
 *   Discord's 5: @discordjs/rest repeats a create that got a 5xx on its own, unseen by this
 *   budget); decoration (progress posts) leaves one create for an answer or notice;
 * - `reactions.add`: 1 at once, 200 per minute.
 * discord.js still waits out a 429 by itself if one comes.
 */
export function discordBucket(route: string): BucketSpec | undefined {
  switch (route) {
    case 'messages.create':
      return { burst: 3, perMinute: 20, reserve: 1 };
    case 'messages.edit':
      return { burst: 3, perMinute: 20 };
    case 'reactions.add':
      return { burst: 1, perMinute: 200 };
    default:
      return undefined;
  }
}
