/** What Slack allows, for the renderer (through the adapter) and the platform module. */
import type { BucketSpec } from '../budget.js';
import type { PlatformLimits } from '../types.js';

/**
 * Largest file the bot uploads to Slack, bytes: 1 GB (Slack Help Center, "Upload files to Slack":
 * "files up to 1 GB"; the external upload flow of `files.getUploadURLExternal` takes the length
 * up front).
 */
export const SLACK_MAX_FILE_BYTES = 1024 * 1024 * 1024;

/**
 * Slack's limits: a posted message is cut at 3,900 characters (Slack accepts up to 40,000 in
 * `text` but shows long messages poorly, so answers are chunked well below it); a message is
 * edited at most once a second; 5 conversations of a channel waiting for a slot get the channel a
 * busy notice (their own 👀 share Tier 3's 50 a minute for the workspace); files up to
 * {@link SLACK_MAX_FILE_BYTES}.
 */
export const SLACK_LIMITS: PlatformLimits = { maxMessageChars: 3900, minEditIntervalMs: 1000, busyNoticeAt: 5, maxFileBytes: SLACK_MAX_FILE_BYTES };

/** Sustained calls per minute of a Tier 3 method, with head room below Slack's "50+ per minute". */
const TIER3: BucketSpec = { burst: 9, perMinute: 40, scope: 'method' };

/**
 * The Web API budget (`../budget.ts`), kept below Slack's documented limits so that Slack never
 * answers 429 (Slack docs, "Rate limits": tiers apply "per API method per workspace per app"; each
 * method's page). One adapter serves one workspace, so a tier bucket covers the whole adapter:
 * - `chat.postMessage`: "1 per second per channel, short bursts allowed" — per channel, at most
 *   3 at once and 42 per minute (any 10 s window ≤ 10 calls, any 60 s window ≤ 45), decoration
 *   (progress posts) leaving one of the 3 for an answer or notice;
 * - `chat.update`, `chat.delete`, `reactions.add`, `assistant.threads.setStatus`: Tier 3, "50+
 *   per minute" — per method for the workspace, 9 at once and 40 per minute (any 60 s window ≤ 49);
 * - `chat.postEphemeral`, `files.getUploadURLExternal`, `files.completeUploadExternal`: Tier 4,
 *   "100+ per minute" (each method's page) — per method, 5 at once and 90 per minute.
 * Start times are budgeted; the margin covers requests that reach Slack in another order.
 */
export function slackBucket(method: string): BucketSpec | undefined {
  switch (method) {
    case 'chat.postMessage':
      return { burst: 3, perMinute: 42, reserve: 1 };
    case 'chat.update':
    case 'chat.delete':
    case 'reactions.add':
    case 'assistant.threads.setStatus':
      return TIER3;
    case 'chat.postEphemeral':
    case 'files.getUploadURLExternal':
    case 'files.completeUploadExternal':
      return { burst: 5, perMinute: 90, scope: 'method' };
    default:
      return undefined;
  }
}
