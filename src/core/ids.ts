/**
 * Stable ids for conversations and posted messages. Pure functions, no I/O.
 *
 * A conversation id names one thread of talk with the agent, and is the key of the
 * `conversations` table, the router and the per-conversation bridge (DESIGN.md):
 *
 * | platform | format                                   | source of each part                                   |
 * |----------|------------------------------------------|-------------------------------------------------------|
 * | Slack    | `slack:<team>:<channel>:<thread_ts>`     | event `team_id`, `channel`, thread parent `ts`        |
 * | Discord  | `discord:<guild>:<channel>[:<thread>]`   | guild id (`@me` for DMs), channel id, thread channel id |
 * | local    | `local:<channel>:<thread>`               | local chat channel name and thread id                 |
 *
 * Every part must be non-empty and contain no `:`, so ids split back unambiguously
 * ({@link parseConversationId} round-trips with the builders). Dots are fine (Slack `ts`
 * values look like `1700000000.000100`).
 */
import type { PlatformName } from './messages.js';

/** Guild part used for Discord direct messages (the same `@me` Discord uses in its URLs). */
export const DISCORD_DM_GUILD = '@me';

/** Thrown by the builders when a part is empty or contains `:`. */
export class InvalidIdComponentError extends Error {
  constructor(
    readonly component: string,
    readonly value: string,
  ) {
    super(
      `invalid ${component} ${JSON.stringify(value)} for an id: ` +
        (value === '' ? 'it is empty' : 'it contains ":"'),
    );
    this.name = 'InvalidIdComponentError';
  }
}

/** Thrown by {@link parseConversationId} for a string that no builder can produce. */
export class InvalidConversationIdError extends Error {
  constructor(
    readonly id: string,
    reason: string,
  ) {
    super(`invalid conversation id ${JSON.stringify(id)}: ${reason}`);
    this.name = 'InvalidConversationIdError';
  }
}

/** The parts of a conversation id, as given to the builder that made it. */
export type ParsedConversationId =
  | { platform: 'slack'; team: string; channel: string; thread: string }
  /** `guild` is null for a DM (encoded `@me`). */
  | { platform: 'discord'; guild: string | null; channel: string; thread?: string }
  | { platform: 'local'; channel: string; thread: string };

/** Throws {@link InvalidIdComponentError} unless `value` is non-empty and has no `:`. */
function part(component: string, value: string): string {
  if (typeof value !== 'string' || value === '' || value.includes(':')) {
    throw new InvalidIdComponentError(component, String(value));
  }
  return value;
}

/**
 * Slack conversation: one thread in a channel of a workspace.
 * Format `slack:<team>:<channel>:<thread_ts>`, e.g. `slack:T01:C02:1700000000.000100`.
 * @param team workspace id (`team_id` of the event envelope, `T…`)
 * @param channel channel id (`C…`, `G…`, `D…` for DMs)
 * @param threadTs `ts` of the thread's parent message (the message's own `ts` when it
 *   starts a thread, else its `thread_ts`; platforms.md "Threads")
 */
export function slackConversationId(team: string, channel: string, threadTs: string): string {
  return `slack:${part('Slack team', team)}:${part('Slack channel', channel)}:${part('Slack thread_ts', threadTs)}`;
}

/**
 * Discord conversation: a channel, or a thread in it.
 * Format `discord:<guild>:<channel>` or `discord:<guild>:<channel>:<thread>`; DMs use
 * `@me` as the guild (`discord:@me:<dmChannel>`).
 * @param guild guild snowflake, or null for a DM
 * @param channel channel snowflake (for a thread: its parent channel)
 * @param thread thread channel snowflake (a thread's messages carry it as `channel_id`)
 */
export function discordConversationId(guild: string | null, channel: string, thread?: string): string {
  const g = guild === null ? DISCORD_DM_GUILD : part('Discord guild', guild);
  const base = `discord:${g}:${part('Discord channel', channel)}`;
  return thread === undefined ? base : `${base}:${part('Discord thread', thread)}`;
}

/**
 * Local web chat conversation. Format `local:<channel>:<thread>`, e.g. `local:general:t1`.
 * @param channel local channel name
 * @param thread local thread id
 */
export function localConversationId(channel: string, thread: string): string {
  return `local:${part('local channel', channel)}:${part('local thread', thread)}`;
}

/**
 * Splits a conversation id made by one of the builders back into its parts.
 * `parse(build(x))` gives back `x`, and `build(parse(id)) === id` for every valid id.
 * @throws InvalidConversationIdError for anything else (unknown platform, wrong number of
 *   parts, empty part)
 */
export function parseConversationId(id: string): ParsedConversationId {
  if (typeof id !== 'string') throw new InvalidConversationIdError(String(id), 'not a string');
  const parts = id.split(':');
  if (parts.some((p) => p === '')) throw new InvalidConversationIdError(id, 'empty part');
  const [platform, a, b, c] = parts as [string, string, string, string | undefined];
  const n = parts.length - 1;
  switch (platform) {
    case 'slack':
      if (n !== 3) throw new InvalidConversationIdError(id, 'expected slack:<team>:<channel>:<thread_ts>');
      return { platform, team: a, channel: b, thread: c as string };
    case 'discord': {
      if (n !== 2 && n !== 3) {
        throw new InvalidConversationIdError(id, 'expected discord:<guild>:<channel>[:<thread>]');
      }
      const guild = a === DISCORD_DM_GUILD ? null : a;
      return c === undefined
        ? { platform, guild, channel: b }
        : { platform, guild, channel: b, thread: c };
    }
    case 'local':
      if (n !== 2) throw new InvalidConversationIdError(id, 'expected local:<channel>:<thread>');
      return { platform, channel: a, thread: b };
    default:
      throw new InvalidConversationIdError(id, `unknown platform ${JSON.stringify(platform)}`);
  }
}

/**
 * A conversation id as built by {@link slackConversationId}, {@link discordConversationId} or
 * {@link localConversationId} (scheduler conversations of cron jobs use `cron:<job>:<run>`).
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
 * Key of a posted message ("platform + channel + message id", DESIGN.md data model):
 * `<platform>:<channel>:<messageRef>`, e.g. `slack:C02:1700000000.000200`.
 * @param platform platform the bot's message was posted on
 * @param channel platform channel id the message is in (Discord: the thread's id for a thread)
 * @param messageRef platform message id (Slack `ts`, Discord message id, local message id)
 */
export function postedMessageKey(platform: PlatformName, channel: string, messageRef: string): PostedMessageKey {
  return `${part('platform', platform)}:${part('channel', channel)}:${part('message ref', messageRef)}`;
}

/** Local chat channel names: lowercase letters, digits, `_` and `-`, 1–80 characters, not starting with `_`/`-`. */
export const LOCAL_CHANNEL_PATTERN = /^[a-z0-9][a-z0-9_-]{0,79}$/;

/**
 * The shape of a channel id on each platform, with how to describe it to a person (cron job
 * targets): Slack channel ids start with `C` (public), `G` (private) or `D` (DM); Discord ids
 * are snowflakes (decimal numbers); local channels are names ({@link LOCAL_CHANNEL_PATTERN}).
 */
export const CHANNEL_ID_SHAPES: Readonly<Record<PlatformName, readonly [RegExp, string]>> = {
  slack: [/^[CGD][A-Z0-9]{2,}$/, 'a Slack channel id such as C0123ABCD'],
  discord: [/^\d{5,25}$/, 'a Discord channel id (a number such as 112233445566778899)'],
  local: [LOCAL_CHANNEL_PATTERN, 'a local chat channel name (lowercase letters, digits, "_" and "-")'],
};
