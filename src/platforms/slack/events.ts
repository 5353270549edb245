/**
 * Slack events → {@link InboundMessage}s: which events the bot takes part in, the conversation
 * and event key of each, and the text given to the agent. No I/O of its own: whether the bot
 * has a conversation or posted a message comes from the context's lookups (the store), user
 * names come in as a lookup the adapter fills from `users.info`.
 *
 * Input: the Events API envelope, the same over Socket Mode (`payload`) and HTTP (the body):
 * `{ type: "event_callback", team_id, event_id, event: { type, subtype?, channel, channel_type?,
 *   user?, bot_id?, text, ts, thread_ts?, files? } }` (Slack Events API docs, api.slack.com; docs/ARCHITECTURE.md §7; test/unit/slack-events.test.ts).
 *
 * Rules:
 * - `app_mention` (channels, private channels, group DMs) → the thread's conversation
 *   `slack:<team>:<channel>:<thread_ts or ts>`;
 * - `message` in a DM (`channel_type: "im"`): every message is for the bot — a top-level DM
 *   starts a conversation rooted at its own `ts`, a reply continues the thread's;
 * - `message` elsewhere: taken when it mentions the bot (the same message also arrives as
 *   `app_mention`; both give the same event key, so the inbox keeps one), or when it is a
 *   thread reply (`thread_ts` ≠ `ts`) in a thread where the bot has a conversation or whose
 *   parent is a message the bot posted (then `seedFrom` names that message's posted-message key);
 *   everything else is ignored;
 * - ignored always: the bot's own messages, subtypes other than `thread_broadcast`/`file_share`
 *   (edits `message_changed`, deletions `message_deleted`, joins `channel_join`, …), hidden
 *   events; other bots' messages (`bot_id` or subtype `bot_message`) unless `allowBots`.
 * - event key `slack:<team>:<channel>:<ts>`: Slack's retries (same `event_id`), the `message`
 *   twin of an `app_mention`, and redeliveries after a reconnect all map to one key.
 * - files (`files`, on `file_share` messages and their `app_mention`): each valid file object
 *   becomes an `InboundFile` (`files.ts` → `slackFiles`); a malformed entry is left out, listed
 *   in `SlackDraft.skippedFiles` (the adapter logs it) and named in the agent's text. A message
 *   with files and no text is taken like any other (its text is then empty).
 * - `addressed` (the core reads only addressed messages as commands, `@agentbridge stop`): an
 *   `app_mention`, a message that mentions the bot, and every DM. A thread reply without a
 *   mention is a prompt even when it reads "stop".
 */
import { stripControlChars } from '../control-chars.js';
import { postedMessageKey } from '../../core/ids.js';
import { slackConversationId } from './ids.js';
import { slackFiles } from './files.js';
import type { InboundFile, InboundMessage } from '../../core/messages.js';

/** The fields of a Slack `message` / `app_mention` event this module reads. */
export interface SlackMessageEvent {
  type?: string;
  subtype?: string;
  hidden?: boolean;
  channel?: string;
  /** `channel` (public), `group` (private), `im` (DM), `mpim` (group DM); `message` events only. */
  channel_type?: string;
  user?: string;
  bot_id?: string;
  bot_profile?: { name?: string };
  username?: string;
  text?: string;
  ts?: string;
  thread_ts?: string;
  team?: string;
  /** Slack file objects (untrusted; validated by `files.ts` → `slackFiles`). */
  files?: unknown;
}

/** An Events API envelope (`event_callback`). */
export interface SlackEventEnvelope {
  type?: string;
  team_id?: string;
  event_id?: string;
  event?: SlackMessageEvent;
}

/** Who the bot is (from `auth.test`). */
export interface SlackSelf {
  /** The bot's user id (`U…`), the one mentions use. */
  userId: string;
  /** The bot's `bot_id` (`B…`) on messages it posts. */
  botId?: string;
}

export interface NormaliseContext {
  self: SlackSelf;
  allowBots: boolean;
  hasConversation(conversationId: string): Promise<boolean>;
  isBotMessage(postedKey: string): Promise<boolean>;
}

/** A message the bot takes part in, before user names are resolved. */
export interface SlackDraft {
  team: string;
  channel: string;
  /** `ts` of the message. */
  ts: string;
  /** `ts` of the thread's parent (the conversation's root). */
  rootTs: string;
  conversationId: string;
  eventKey: string;
  /** Slack text as received (mentions and entities still encoded). */
  rawText: string;
  authorId: string;
  /** Set for bot authors (allowBots): the bot's display name. */
  botName?: string;
  seedFrom?: string;
  /** The message mentions the bot or is a DM (see the module doc). */
  addressed: boolean;
  /** The message is in a DM with the bot (`channel_type: "im"`). */
  isDm: boolean;
  /** Files attached to the message (valid file objects only), in order. */
  files: InboundFile[];
  /** File entries left out as malformed: what they called themselves and why (for the log). */
  skippedFiles: Array<{ label: string; reason: string }>;
}

export type NormaliseResult = { kind: 'message'; draft: SlackDraft } | { kind: 'ignore'; reason: string };

const KEPT_SUBTYPES = new Set(['thread_broadcast', 'file_share']);

/**
 * Decides whether the bot takes part in an event (see the module doc). Rejects when a lookup of
 * `ctx` does (a store error).
 */
export async function normaliseSlackEvent(body: SlackEventEnvelope, ctx: NormaliseContext): Promise<NormaliseResult> {
  const ignore = (reason: string): NormaliseResult => ({ kind: 'ignore', reason });
  if (body?.type !== 'event_callback') return ignore(`envelope type ${String(body?.type)}`);
  const ev = body.event;
  if (!ev || typeof ev !== 'object') return ignore('no event');
  if (ev.type !== 'app_mention' && ev.type !== 'message') return ignore(`event type ${String(ev.type)}`);
  const team = body.team_id ?? ev.team;
  const { channel, ts } = ev;
  if (!isId(team) || !isId(channel) || !isId(ts)) return ignore('missing team, channel or ts');
  const isBotAuthor = ev.subtype === 'bot_message' || typeof ev.bot_id === 'string';
  if (ev.subtype && !KEPT_SUBTYPES.has(ev.subtype) && ev.subtype !== 'bot_message') return ignore(`subtype ${ev.subtype}`);
  if (ev.hidden) return ignore('hidden');
  if ((ev.user !== undefined && ev.user === ctx.self.userId) || (ev.bot_id !== undefined && ev.bot_id === ctx.self.botId)) {
    return ignore('own message');
  }
  if (isBotAuthor && !ctx.allowBots) return ignore('bot message');
  const authorId = ev.user ?? ev.bot_id;
  if (!isId(authorId)) return ignore('no author');

  const threadTs = isId(ev.thread_ts) && ev.thread_ts !== ts ? ev.thread_ts : undefined;
  const rootTs = threadTs ?? ts;
  const conversationId = slackConversationId(team, channel, rootTs);
  const rawText = typeof ev.text === 'string' ? ev.text : '';
  const isDm = ev.channel_type === 'im' || (ev.type === 'message' && ev.channel_type === undefined && isDmChannel(channel));
  const mentioned = ev.type === 'app_mention' || mentionsUser(rawText, ctx.self.userId);
  const known = await ctx.hasConversation(conversationId);
  const parentKey = threadTs ? postedMessageKey('slack', channel, threadTs) : undefined;
  const parentIsBot = parentKey !== undefined && !known && (await ctx.isBotMessage(parentKey));
  if (!isDm && !mentioned && !known && !parentIsBot) {
    return ignore(threadTs ? 'thread without the bot' : 'channel message without a mention');
  }
  const files = slackFiles(ev.files);
  const draft: SlackDraft = {
    team,
    channel,
    ts,
    rootTs,
    conversationId,
    eventKey: `slack:${team}:${channel}:${ts}`,
    rawText: withSkippedFiles(rawText, files.skipped),
    authorId,
    addressed: mentioned || isDm,
    isDm,
    files: files.files,
    skippedFiles: files.skipped,
  };
  if (isBotAuthor) draft.botName = ev.bot_profile?.name || ev.username || authorId;
  if (parentIsBot) draft.seedFrom = parentKey;
  return { kind: 'message', draft };
}

/** Builds the InboundMessage once the text is rendered and the author's name is known. */
export function toInboundMessage(draft: SlackDraft, text: string, authorName: string, receivedAt: number): InboundMessage {
  const message: InboundMessage = {
    platform: 'slack',
    conversationId: draft.conversationId,
    channel: draft.channel,
    thread: draft.rootTs,
    author: { id: draft.authorId, name: authorName, ...(draft.botName !== undefined ? { isBot: true } : {}) },
    text,
    eventKey: draft.eventKey,
    replyTarget: { platform: 'slack', channel: draft.channel, thread: draft.rootTs },
    messageRef: draft.ts,
    receivedAt,
  };
  if (draft.seedFrom) message.seedFrom = draft.seedFrom;
  if (draft.addressed) message.addressed = true;
  if (draft.files.length) message.files = draft.files;
  return message;
}

/** True for a direct-message channel id (`D…`); Slack's DM ids start with D. */
export function isDmChannel(channel: string): boolean {
  return channel.startsWith('D');
}

/** True when the Slack text mentions `userId` (`<@U123>` or `<@U123|label>`). */
export function mentionsUser(text: string, userId: string): boolean {
  return text.includes(`<@${userId}>`) || text.includes(`<@${userId}|`);
}

/** User ids mentioned in the Slack text (`<@U…>`), in order of first appearance, without duplicates. */
export function mentionedUserIds(text: string): string[] {
  const ids = new Set<string>();
  for (const m of text.matchAll(/<@([UW][A-Za-z0-9]+)(?:\|[^>]*)?>/g)) ids.add(m[1]!);
  return [...ids];
}

/**
 * The text for the agent: the bot's own mention removed (with a `:`/`,` right after it), other
 * user mentions as `@Name` (from `names`, else the label, else the id), channels as `#name`,
 * special mentions as `@here`, links as `label (url)` or `url`, and `&lt; &gt; &amp;` decoded.
 * C0 control characters other than tab, LF and CR are stripped (`control-chars.ts`), so none
 * reaches the agent. Empty text becomes `emptyText` (default `(empty message)`; `''` for a
 * message with files, whose prompt then lists the files alone).
 */
export function renderInboundText(raw: string, botUserId: string, names: ReadonlyMap<string, string>, emptyText = '(empty message)'): string {
  const bot = new RegExp(`[ \\t]*<@${escapeRe(botUserId)}(?:\\|[^>]*)?>[:,]?[ \\t]*`, 'g');
  const text = stripControlChars(raw)
    .replace(bot, ' ')
    .replace(/<@([UW][A-Za-z0-9]+)(?:\|([^>]*))?>/g, (_m, id: string, label?: string) => `@${names.get(id) ?? (label || id)}`)
    .replace(/<#([CGD][A-Za-z0-9]+)(?:\|([^>]*))?>/g, (_m, id: string, label?: string) => `#${label || id}`)
    .replace(/<!subteam\^[A-Za-z0-9]+(?:\|@?([^>]*))?>/g, (_m, label?: string) => `@${label || 'group'}`)
    .replace(/<!(here|channel|everyone)(?:\|[^>]*)?>/g, '@$1')
    .replace(/<!([^>|]*)(?:\|([^>]*))?>/g, (_m, what: string, label?: string) => label ?? what)
    .replace(/<((?:https?|mailto|tel):[^>|]*)(?:\|([^>]*))?>/g, (_m, url: string, label?: string) => linkText(url, label))
    .replace(/&lt;/g, '<')
    .replace(/&gt;/g, '>')
    .replace(/&amp;/g, '&')
    .trim();
  return text || emptyText;
}

function linkText(url: string, label: string | undefined): string {
  if (url.startsWith('mailto:') && (!label || url.slice(7) === label)) return url.slice(7);
  if (!label || label === url || `http://${label}` === url || `https://${label}` === url) return url;
  return `${label} (${url})`;
}

/** The text with one line per file entry that was left out, so the agent knows it was there. */
function withSkippedFiles(text: string, skipped: SlackDraft['skippedFiles']): string {
  if (!skipped.length) return text;
  const lines = skipped.map((f) => `(an attached file could not be read from Slack's event: ${f.label.replace(/[<>&]/g, '_')})`);
  return [text, ...lines].filter(Boolean).join('\n');
}

function isId(v: unknown): v is string {
  return typeof v === 'string' && v !== '' && !v.includes(':');
}

function escapeRe(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}
