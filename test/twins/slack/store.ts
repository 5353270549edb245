/**
 * The Slack twin's state: users, messages (with threads, edits, deletions and reactions) and
 * thread statuses. Plain in-memory data, no I/O.
 *
 * Slack facts encoded: a message is identified by channel + `ts` (`"<seconds>.<micro>"`, unique
 * and increasing per workspace here); a reply carries `thread_ts` = the parent's `ts`, and a
 * reply to a reply lands in the parent's thread; `reactions` are per name with the reacting
 * users; `users.info` shows `profile.display_name` (may be empty), `real_name`, `name`; a
 * message may carry Block Kit `blocks` (then `text` is only the notification fallback);
 * ephemeral messages (`chat.postEphemeral`) are seen by one user only and are not part of the
 * channel's history.
 */

export interface TwinUser {
  id: string;
  /** Legacy handle (`name`). */
  name: string;
  display_name?: string;
  real_name?: string;
  is_bot?: boolean;
}

export interface TwinMessage {
  channel: string;
  ts: string;
  /** Parent's ts for replies (and for a parent that has replies, its own ts — as Slack does). */
  thread_ts?: string;
  user?: string;
  bot_id?: string;
  text: string;
  /** Emoji name → users who reacted. */
  reactions: Record<string, string[]>;
  /** Number of `chat.update`s applied. */
  edits: number;
  /** Every text the message had, oldest first (the first post, then each update). */
  history: string[];
  deleted: boolean;
  reply_count: number;
  /** Message metadata as posted (`{event_type, event_payload}`), if any. */
  metadata?: Record<string, unknown>;
  /** Block Kit blocks as posted / last updated, if any. */
  blocks?: Array<Record<string, unknown>>;
  /** The blocks after each post/update, oldest first (`undefined` = none). */
  blocksHistory: Array<Array<Record<string, unknown>> | undefined>;
  /** Files the message shares (the share message of `files.completeUploadExternal`). */
  files?: TwinFileRef[];
}

/** A file as a message lists it. */
export interface TwinFileRef {
  id: string;
  name: string;
  title: string;
  size: number;
}

/** A file of the external upload flow: created by `files.getUploadURLExternal`, bytes POSTed to its upload URL, shared by `files.completeUploadExternal`. */
export interface TwinFile {
  id: string;
  name: string;
  /** The `length` announced, bytes. */
  length: number;
  /** The bytes POSTed to the upload URL (undefined until then). */
  bytes?: Buffer;
  /** Times `files.completeUploadExternal` shared it. */
  shares: number;
}

/** An ephemeral message (`chat.postEphemeral`): shown to `user` only. */
export interface TwinEphemeral {
  channel: string;
  user: string;
  text: string;
  thread_ts?: string;
  /** The `message_ts` answered. */
  ts: string;
  at: number;
}

/** `thread_ts`-style status set with `assistant.threads.setStatus`. */
export interface TwinStatus {
  channel: string;
  thread_ts: string;
  status: string;
  at: number;
}

export class TwinStore {
  readonly users = new Map<string, TwinUser>();
  private readonly messages = new Map<string, TwinMessage>();
  readonly statuses: TwinStatus[] = [];
  /** Ephemeral messages posted, oldest first. */
  readonly ephemerals: TwinEphemeral[] = [];
  /** Files of the external upload flow, by id. */
  readonly files = new Map<string, TwinFile>();
  /** Last `ts` handed out, in microseconds. */
  private lastMicros = 0;

  /**
   * A fresh, increasing `ts` from the wall clock (`"<Unix seconds>.<micro>"`, as Slack's), so
   * `oldest`-bounded lookups work as against Slack; strictly increasing within the twin.
   */
  nextTs(): string {
    this.lastMicros = Math.max(this.lastMicros + 1, Date.now() * 1000);
    return `${Math.floor(this.lastMicros / 1_000_000)}.${String(this.lastMicros % 1_000_000).padStart(6, '0')}`;
  }

  get(channel: string, ts: string): TwinMessage | undefined {
    return this.messages.get(`${channel}/${ts}`);
  }

  /**
   * Stores a new message. A `thread_ts` naming a reply is moved to that reply's parent; an
   * unknown `thread_ts` is kept as given (the parent may predate the twin).
   */
  add(m: {
    channel: string;
    text: string;
    user?: string;
    bot_id?: string;
    thread_ts?: string;
    metadata?: Record<string, unknown>;
    blocks?: Array<Record<string, unknown>>;
    files?: TwinFileRef[];
  }): TwinMessage {
    let thread = m.thread_ts;
    if (thread) {
      const parent = this.get(m.channel, thread);
      if (parent?.thread_ts && parent.thread_ts !== parent.ts) thread = parent.thread_ts;
    }
    const ts = this.nextTs();
    const msg: TwinMessage = {
      channel: m.channel,
      ts,
      ...(thread ? { thread_ts: thread } : {}),
      ...(m.user ? { user: m.user } : {}),
      ...(m.bot_id ? { bot_id: m.bot_id } : {}),
      text: m.text,
      reactions: {},
      edits: 0,
      history: [m.text],
      deleted: false,
      reply_count: 0,
      ...(m.metadata ? { metadata: m.metadata } : {}),
      ...(m.blocks ? { blocks: m.blocks } : {}),
      blocksHistory: [m.blocks],
      ...(m.files ? { files: m.files } : {}),
    };
    this.messages.set(`${m.channel}/${ts}`, msg);
    if (thread) {
      const parent = this.get(m.channel, thread);
      if (parent) {
        parent.thread_ts = parent.ts;
        parent.reply_count++;
      }
    }
    return msg;
  }

  /** Parent and replies of a thread (deleted ones left out), oldest first. */
  thread(channel: string, ts: string): TwinMessage[] {
    return [...this.messages.values()]
      .filter((m) => m.channel === channel && !m.deleted && (m.ts === ts || m.thread_ts === ts))
      .sort((a, b) => (a.ts < b.ts ? -1 : a.ts > b.ts ? 1 : 0));
  }

  /** Every stored message of a channel (deleted ones too), oldest first. */
  channelMessages(channel: string): TwinMessage[] {
    return [...this.messages.values()].filter((m) => m.channel === channel).sort((a, b) => (a.ts < b.ts ? -1 : 1));
  }

  /** Public shape of a message, as the Web API returns it; `metadata` only with `withMetadata` (Slack: `include_all_metadata`). */
  static wire(m: TwinMessage, botUserId?: string, withMetadata = false): Record<string, unknown> {
    const reactions = Object.entries(m.reactions).map(([name, users]) => ({ name, users, count: users.length }));
    return {
      type: 'message',
      ts: m.ts,
      text: m.text,
      ...(m.user ? { user: m.user } : {}),
      ...(m.bot_id ? { bot_id: m.bot_id, user: m.user ?? botUserId } : {}),
      ...(m.thread_ts ? { thread_ts: m.thread_ts } : {}),
      ...(m.reply_count ? { reply_count: m.reply_count } : {}),
      ...(m.edits ? { edited: { user: m.user, ts: m.ts } } : {}),
      ...(reactions.length ? { reactions } : {}),
      ...(withMetadata && m.metadata ? { metadata: m.metadata } : {}),
      ...(m.blocks ? { blocks: m.blocks } : {}),
      ...(m.files ? { files: m.files.map((f) => ({ ...f })) } : {}),
    };
  }
}

/** Slack's `users.info` user object for a twin user. */
export function wireUser(u: TwinUser, teamId: string): Record<string, unknown> {
  return {
    id: u.id,
    team_id: teamId,
    name: u.name,
    real_name: u.real_name ?? u.name,
    is_bot: u.is_bot ?? false,
    deleted: false,
    profile: { display_name: u.display_name ?? '', real_name: u.real_name ?? u.name },
  };
}

/** Slack's `channel_type` for a channel id: `C…` channel, `G…` group (private), `D…` im. */
export function channelType(channel: string): 'channel' | 'group' | 'im' {
  if (channel.startsWith('D')) return 'im';
  if (channel.startsWith('G')) return 'group';
  return 'channel';
}
