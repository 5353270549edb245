/**
 * Discord message → {@link InboundMessage}: who takes part where, conversation ids, text
 * clean-up. No I/O of its own: the adapter extracts {@link DiscordMessageFacts} from a
 * discord.js `Message` (live or fetched during catch-up) and passes the policy, whose two lookups
 * (does the bot have this conversation, did it post this message) read the store.
 *
 * Rules:
 * - Only user messages of type 0 (default) and 19 (reply) count; system messages (joins, pins,
 *   thread-starter stubs, …), the bot's own messages, webhook posts and other bots' messages
 *   are skipped (other bots are accepted when `allowBots`).
 * - Where the bot takes part: DMs always; a chat channel (`DISCORD_CHANNELS`) and its threads
 *   every message; elsewhere a message that mentions the bot (`<@bot>` in the text, or a reply
 *   pinging the bot); in other threads also every message once the bot has the thread's
 *   conversation, or when the thread was started on one of the bot's messages.
 * - Conversation ids (`./ids.ts`): a channel is `discord:<guild>:<channel>`, a
 *   thread `discord:<guild>:<parent>:<thread>`, a DM `discord:@me:<dmChannel>`.
 * - Thread seeding: a thread started on a message has the message's id as its own id
 *   (Discord), so a thread whose id is a bot message of the parent channel
 *   (`postedMessageKey('discord', parent, threadId)` is a posted message) gets `seedFrom`
 *   = that key while its conversation does not exist yet.
 * - Text: mentions of the bot (`<@id>`/`<@!id>`) are removed; other user mentions become
 *   `@Display Name`; known channel mentions `<#id>` become `#name`.
 * - Files: attachments become `files` (`InboundFile {id, name, mimeType?, size, url}`, checked
 *   by ./attachments.ts; malformed ones are left out and returned in `malformedFiles` for the
 *   log); the turn fetches them (`PlatformAdapter.fetchFile`). A message with neither text
 *   left nor files is skipped; one with files only is taken with empty text.
 * - Reply target: the channel or thread it was written in, replying to the message itself
 *   (`replyTo` = message id → `message_reference`).
 * - `addressed`: the message mentions the bot or is a DM (the core reads such messages as
 *   commands when they look like one: `@bot stop`).
 */
import { stripControlChars } from '../control-chars.js';
import { postedMessageKey } from '../../core/ids.js';
import { discordConversationId } from './ids.js';
import { inboundFilesOf, type DiscordAttachmentFacts, type MalformedAttachment } from './attachments.js';
import type { InboundMessage } from '../../core/messages.js';

/** The parts of a Discord message normalisation needs (plain data). */
export interface DiscordMessageFacts {
  /** Message snowflake. */
  id: string;
  /** Where it was posted: a text channel, a thread (its own id) or a DM channel. */
  channelId: string;
  /** Guild snowflake; null for a DM. */
  guildId: string | null;
  /** Set when `channelId` is a thread: the thread's parent text channel. */
  threadParentId?: string;
  /** Discord message type (0 default, 19 reply, others are system messages). */
  type: number;
  content: string;
  author: { id: string; displayName: string; bot: boolean };
  /** Set for messages posted by a webhook (incl. interaction responses). */
  webhookId?: string | null;
  /** Ids of the users the message mentions (API `mentions`; includes a pinged replied-to author). */
  mentionedUserIds: string[];
  /** Display names of users (mentioned ones at least), by id. */
  userNames: Record<string, string>;
  /** Channel names by id, for `<#id>` mentions (optional). */
  channelNames?: Record<string, string>;
  /** The message's attachments as read from discord.js, unchecked (./attachments.ts checks them). */
  attachments: readonly DiscordAttachmentFacts[];
  /** Creation time, ms since the epoch. */
  createdTimestamp: number;
}

/** Who the bot is and where it takes part. */
export interface NormalisePolicy {
  botUserId: string;
  /** Chat channels: the bot takes part in every message there and in their threads. */
  chatChannels: ReadonlySet<string>;
  allowBots: boolean;
  /** Resolves true when the core has this conversation; rejects on a store error. */
  hasConversation(conversationId: string): Promise<boolean>;
  /** Resolves true when the bot posted the message with this posted-message key; rejects on a store error. */
  isBotMessage(postedKey: string): Promise<boolean>;
}

export type SkipReason = 'own message' | 'bot author' | 'webhook' | 'system message' | 'not addressed to the bot' | 'no text or files';

/**
 * A message to hand to the core (with the attachments left out as malformed, when any, for the
 * log), or why it is skipped.
 */
export type NormaliseResult = { ok: true; message: InboundMessage; malformedFiles?: MalformedAttachment[] } | { ok: false; reason: SkipReason };

/** Mentions of a user in content: `<@123>` or the legacy nickname form `<@!123>`. */
const USER_MENTION = /<@!?(\d+)>/g;
const CHANNEL_MENTION = /<#(\d+)>/g;

/** The conversation id of a message's place (a thread's id includes its parent). */
export function conversationIdOf(f: Pick<DiscordMessageFacts, 'guildId' | 'channelId' | 'threadParentId'>): string {
  if (f.threadParentId) return discordConversationId(f.guildId, f.threadParentId, f.channelId);
  return discordConversationId(f.guildId, f.channelId);
}

/** posted-message key of the message a thread was started on (thread id = message id). */
export function threadSeedKey(parentId: string, threadId: string): string {
  return postedMessageKey('discord', parentId, threadId);
}

/** True when the message mentions the bot (`<@bot>` in the text, or the bot in `mentions`). */
export function mentionsBot(f: Pick<DiscordMessageFacts, 'content' | 'mentionedUserIds'>, botUserId: string): boolean {
  if (f.mentionedUserIds.includes(botUserId)) return true;
  for (const m of f.content.matchAll(USER_MENTION)) if (m[1] === botUserId) return true;
  return false;
}

/**
 * Whether the bot takes part in a place, before looking at the message itself: `true` for
 * DMs, chat channels, their threads, threads it already has and threads on its own messages.
 * Rejects when a lookup of `policy` does.
 */
export async function takesPartIn(f: Pick<DiscordMessageFacts, 'guildId' | 'channelId' | 'threadParentId'>, policy: NormalisePolicy): Promise<boolean> {
  if (f.guildId === null) return true;
  if (policy.chatChannels.has(f.channelId)) return true;
  if (f.threadParentId === undefined) return false;
  if (policy.chatChannels.has(f.threadParentId)) return true;
  return (await policy.hasConversation(conversationIdOf(f))) || (await policy.isBotMessage(threadSeedKey(f.threadParentId, f.channelId)));
}

/**
 * The text for the agent: bot mention removed, user/channel mentions resolved (attachments are
 * not in it: they become `files`); C0 control characters other than tab, LF and CR stripped (`control-chars.ts`).
 */
export function cleanText(f: DiscordMessageFacts, botUserId: string): string {
  // The bot's mention goes with the blank space before it ("ask <@bot> about x" → "ask about x").
  const bot = botUserId.replace(/\D/g, '');
  const content = stripControlChars(f.content);
  const ledByMention = new RegExp(`^\\s*<@!?${bot}>`).test(content);
  let text = content.replace(new RegExp(`[ \\t]*<@!?${bot}>`, 'g'), '');
  text = text.replace(USER_MENTION, (whole, id: string) => {
    const name = f.userNames[id];
    return name ? `@${name}` : whole;
  });
  text = text.replace(CHANNEL_MENTION, (whole, id: string) => {
    const name = f.channelNames?.[id];
    return name ? `#${name}` : whole;
  });
  // "<@bot>, do x" → "do x"
  if (ledByMention) text = text.replace(/^\s*[,:]/, '');
  return text.trim();
}

/**
 * Normalises one message, or says why it is skipped. Rejects when a lookup of `policy` does.
 * @param receivedAt ms since the epoch (default now)
 */
export async function normaliseMessage(f: DiscordMessageFacts, policy: NormalisePolicy, receivedAt = Date.now()): Promise<NormaliseResult> {
  if (f.author.id === policy.botUserId) return { ok: false, reason: 'own message' };
  if (f.webhookId) return { ok: false, reason: 'webhook' };
  if (f.author.bot && !policy.allowBots) return { ok: false, reason: 'bot author' };
  if (f.type !== 0 && f.type !== 19) return { ok: false, reason: 'system message' };
  const mentioned = mentionsBot(f, policy.botUserId);
  if (!mentioned && !(await takesPartIn(f, policy))) return { ok: false, reason: 'not addressed to the bot' };
  const text = cleanText(f, policy.botUserId);
  const { files, malformed } = inboundFilesOf(f.attachments);
  if (!text && !files.length) return { ok: false, reason: 'no text or files' };

  const conversationId = conversationIdOf(f);
  const thread = f.threadParentId ? f.channelId : undefined;
  const channel = f.threadParentId ?? f.channelId;
  const message: InboundMessage = {
    platform: 'discord',
    conversationId,
    channel,
    ...(thread ? { thread } : {}),
    author: { id: f.author.id, name: f.author.displayName, ...(f.author.bot ? { isBot: true } : {}) },
    text,
    eventKey: `discord:${f.id}`,
    // Output goes to where the message was written: the thread's own id for a thread.
    replyTarget: { platform: 'discord', channel: f.channelId, ...(thread ? { thread } : {}), replyTo: f.id },
    messageRef: f.id,
    // Spoken to directly: a mention or a DM (such a message may be a command, e.g. "@bot stop").
    addressed: mentioned || f.guildId === null,
    receivedAt,
    ...(files.length ? { files } : {}),
  };
  if (f.threadParentId && !(await policy.hasConversation(conversationId))) {
    const key = threadSeedKey(f.threadParentId, f.channelId);
    if (await policy.isBotMessage(key)) message.seedFrom = key;
  }
  return { ok: true, message, ...(malformed.length ? { malformedFiles: malformed } : {}) };
}
