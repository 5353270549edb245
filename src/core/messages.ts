/**
 * Core message types shared by every layer: what a platform adapter hands to the core (an
 * {@link InboundMessage}), who wrote it ({@link Author}) and where the answer goes
 * ({@link ReplyTarget}). Plain data only — an inbound message is stored as JSON in the inbox.
 */

import type { PlatformName } from './platforms.js';

/** The chat platforms agentbridge talks on (registered by the platform modules: `./platforms.ts`). */
export type { PlatformName };

/**
 * Who produced an inbound message: a person on a platform (`platform`, the default when absent)
 * or agentbridge's scheduler (`scheduler`: a cron job run or a scheduled message). A scheduler
 * message carries the platform of the conversation it runs in as its `platform`.
 */
export type MessageOrigin = 'platform' | 'scheduler';

/** The person (or bot) who wrote a message. */
export interface Author {
  /** Platform user id, e.g. Slack `U123`, Discord snowflake, local free-form name; `scheduler` for scheduler messages. */
  id: string;
  /** Display name shown to the agent ("who wrote this"). */
  name: string;
  isBot?: boolean;
}

/** Where the bot's answer goes: a channel, optionally a thread in it, optionally replying to a message. */
export interface ReplyTarget {
  platform: PlatformName;
  /** Platform channel id (Slack `C…`, Discord snowflake, local channel name). */
  channel: string;
  /** Thread id: Slack parent `ts`, Discord thread channel id, local thread id. */
  thread?: string;
  /** Platform message id the answer replies to (Discord `message_reference`). */
  replyTo?: string;
}

/**
 * A file attached to an inbound message, as the platform described it. Only this description is
 * stored (in the inbox row, with the message); the bytes are fetched through the platform
 * adapter's `PlatformAdapter.fetchFile` when the message's turn prepares its
 * attachments (`src/conversation/attachments.ts`), into
 * `<workdir>/.agentbridge/files/<message>/<name>` — again after a restart, unless already there.
 */
export interface InboundFile {
  /** The platform's id of the file: Slack file id `F…`, Discord attachment snowflake, local upload id. */
  id: string;
  /** File name as the sender gave it (not yet sanitised; `src/core/attachments.ts` does that when it is stored). */
  name: string;
  /** MIME type as the platform reports it; absent when unknown. */
  mimeType?: string;
  /** Size in bytes as the platform reports it; absent when unknown (the download is still capped). */
  size?: number;
  /**
   * Where the adapter fetches the bytes from: Slack `url_private` (needs the bot token), Discord
   * the attachment's CDN URL, local chat `local-upload:<id>`. Never shown to the agent.
   */
  url: string;
}

/**
 * One normalised inbound message. Serialised as JSON into the inbox, so it must stay plain data.
 */
export interface InboundMessage {
  /** The platform of the message's conversation (for a scheduler message: where it runs). */
  platform: PlatformName;
  /** Who produced it; absent = `platform` (a person on the platform). */
  origin?: MessageOrigin;
  /** Stable conversation id, built by the platform's `src/platforms/<name>/ids.ts` (rules shared in `src/core/ids.ts`). */
  conversationId: string;
  channel: string;
  thread?: string;
  author: Author;
  /** Text for the agent: bot mention removed, user mentions resolved to names. */
  text: string;
  /**
   * Unique key of this delivery's underlying message, used to recognise duplicates
   * (e.g. `slack:<team>:<channel>:<ts>`, `discord:<messageId>`, `local:<messageId>`).
   */
  eventKey: string;
  replyTarget: ReplyTarget;
  /** Platform message id of the user's message (for reactions), when there is one. */
  messageRef?: string;
  /**
   * For the first message of a thread that starts on a message the bot posted (an answer or a
   * cron post): the posted-message key of that message (`postedMessageKey(platform, channel,
   * ref)`). The bridge records it as the conversation's `seededFrom` (thread seeding).
   */
  seedFrom?: string;
  /**
   * True when the message explicitly addressed the bot (an @-mention, a DM, or the local chat's
   * `/agent` prefix). Only addressed messages are read as commands (`@agentbridge stop`).
   */
  addressed?: boolean;
  /** Receive time, ms since the epoch. */
  receivedAt: number;
  /**
   * Files attached to the message, in the order the platform lists them (all of them: the limit
   * of 10 per message and AGENTBRIDGE_MAX_FILE_MB are applied when the turn fetches them, with a
   * note in the thread for each file left out). Absent or empty: none.
   */
  files?: InboundFile[];
}

/** True for a message the scheduler produced (a cron run or a scheduled message). */
export function fromScheduler(m: Pick<InboundMessage, 'origin'>): boolean {
  return m.origin === 'scheduler';
}

/**
 * Where a message came from, as a metrics label: `scheduler` for scheduler messages, else the
 * platform (the `platform` label of `agentbridge_turns_total`).
 */
export function messageSource(m: Pick<InboundMessage, 'platform' | 'origin'>): PlatformName | 'scheduler' {
  return fromScheduler(m) ? 'scheduler' : m.platform;
}
