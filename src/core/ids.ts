/**
 * Stable ids for conversations and posted messages. Pure functions, no I/O.
 *
 * A conversation id names one thread of talk with the agent, and is the key of the
 * `conversations` table, the router and the per-conversation bridge (docs/ARCHITECTURE.md §1). It is
 * `<platform>:<part>:<part>…`; which parts, and what they mean, is the platform's own rule,
 * kept with the platform (`ids.ts` in `src/platforms/<name>/`, e.g. Slack
 * `slack:<team>:<channel>:<thread_ts>`). This file has what every platform shares: the part
 * rules ({@link idPart}), splitting an id into its platform and parts
 * ({@link splitConversationId}), and posted-message keys.
 *
 * Every part must be non-empty and contain no `:`, so ids split back unambiguously. Dots are
 * fine (Slack `ts` values look like `1700000000.000100`).
 */
import type { PlatformName } from './messages.js';

/** Thrown by the builders when a part is empty or contains `:`. */
export class InvalidIdComponentError extends Error {
  constructor(
    readonly component: string,
    readonly value: string,
  ) {
    super(`invalid ${component} ${JSON.stringify(value)} for an id: ` + (value === '' ? 'it is empty' : 'it contains ":"'));
    this.name = 'InvalidIdComponentError';
  }
}

/** Thrown by a platform's conversation-id parser (`src/platforms/registry.ts` `parseConversationId`) for a string that no builder can produce. */
export class InvalidConversationIdError extends Error {
  constructor(
    readonly id: string,
    reason: string,
  ) {
    super(`invalid conversation id ${JSON.stringify(id)}: ${reason}`);
    this.name = 'InvalidConversationIdError';
  }
}

/**
 * Checks one part of an id: returns `value` when it is non-empty and has no `:`.
 * @param component what the part is, for the error (e.g. `Slack channel`)
 * @throws InvalidIdComponentError otherwise
 */
export function idPart(component: string, value: string): string {
  if (typeof value !== 'string' || value === '' || value.includes(':')) {
    throw new InvalidIdComponentError(component, String(value));
  }
  return value;
}

/**
 * Splits a conversation id into its platform prefix and the parts after it, for the platform's
 * own parser (`src/platforms/registry.ts` `parseConversationId` picks it by the prefix).
 * @throws InvalidConversationIdError for a non-string or an id with an empty part
 */
export function splitConversationId(id: string): { platform: string; parts: string[] } {
  if (typeof id !== 'string') throw new InvalidConversationIdError(String(id), 'not a string');
  const all = id.split(':');
  if (all.some((p) => p === '')) throw new InvalidConversationIdError(id, 'empty part');
  const [platform, ...parts] = all as [string, ...string[]];
  return { platform, parts };
}

/**
 * A conversation id as built by a platform's builder (`src/platforms/<name>/ids.ts`; scheduler
 * conversations of cron jobs use `cron:<job>:<run>`).
 */
export type ConversationId = string;

/** A posted-message key as built by {@link postedMessageKey}: `<platform>:<channel>:<messageRef>`. */
export type PostedMessageKey = string;

/**
 * What a message the bot posted is (the `kind` of a posted-message row):
 * - `progress`: a turn's progress message ("⏳ Working…"), edited in place while the agent works;
 * - `answer`: a chunk of a turn's answer (linked to its transcript entry);
 * - `notice`: anything else — command replies, restart and interruption notices, the agent's
 *   `post_message`.
 * A progress message that is edited into the answer becomes an `answer`.
 */
export type PostedMessageKind = 'progress' | 'answer' | 'notice';

/**
 * Key of a posted message ("platform + channel + message id", docs/ARCHITECTURE.md §4.2 `posted_messages`):
 * `<platform>:<channel>:<messageRef>`, e.g. `slack:C02:1700000000.000200`.
 * @param platform platform the bot's message was posted on
 * @param channel platform channel id the message is in (Discord: the thread's id for a thread)
 * @param messageRef platform message id (Slack `ts`, Discord message id, local message id)
 */
export function postedMessageKey(platform: PlatformName, channel: string, messageRef: string): PostedMessageKey {
  return `${idPart('platform', platform)}:${idPart('channel', channel)}:${idPart('message ref', messageRef)}`;
}
