/**
 * Discord conversation ids: a channel, or a thread in it,
 * `discord:<guild>:<channel>[:<thread>]` (`@me` as the guild for direct messages), and the shape
 * of Discord channel ids. Pure functions.
 */
import { idPart, InvalidConversationIdError } from '../../core/ids.js';

/** Guild part used for Discord direct messages (the same `@me` Discord uses in its URLs). */
export const DISCORD_DM_GUILD = '@me';

/** The parts of a Discord conversation id; `guild` is null for a DM (encoded `@me`). */
export interface DiscordConversationRef {
  platform: 'discord';
  guild: string | null;
  channel: string;
  thread?: string;
}

/** The format of a Discord conversation id. */
export const DISCORD_CONVERSATION_ID_FORMAT = 'discord:<guild>:<channel>[:<thread>]';

/**
 * Discord conversation: a channel, or a thread in it.
 * Format `discord:<guild>:<channel>` or `discord:<guild>:<channel>:<thread>`; DMs use
 * `@me` as the guild (`discord:@me:<dmChannel>`).
 * @param guild guild snowflake, or null for a DM
 * @param channel channel snowflake (for a thread: its parent channel)
 * @param thread thread channel snowflake (a thread's messages carry it as `channel_id`)
 * @throws InvalidIdComponentError for an empty part or one with `:`
 */
export function discordConversationId(guild: string | null, channel: string, thread?: string): string {
  const g = guild === null ? DISCORD_DM_GUILD : idPart('Discord guild', guild);
  const base = `discord:${g}:${idPart('Discord channel', channel)}`;
  return thread === undefined ? base : `${base}:${idPart('Discord thread', thread)}`;
}

/**
 * The parts of a Discord conversation id (`parts`: after `discord:`).
 * @throws InvalidConversationIdError unless there are two or three
 */
export function parseDiscordConversationId(id: string, parts: readonly string[]): DiscordConversationRef {
  const [g, channel, thread] = parts;
  if ((parts.length !== 2 && parts.length !== 3) || !g || !channel) throw new InvalidConversationIdError(id, `expected ${DISCORD_CONVERSATION_ID_FORMAT}`);
  const guild = g === DISCORD_DM_GUILD ? null : g;
  return thread === undefined ? { platform: 'discord', guild, channel } : { platform: 'discord', guild, channel, thread };
}

/** Discord channel ids are snowflakes: decimal numbers (5–25 digits accepted). */
export const DISCORD_CHANNEL_PATTERN = /^\d{5,25}$/;
