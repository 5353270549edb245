/**
 * The Discord twin's world: one guild with text channels and threads, users, DM channels and
 * the message history of every channel. Pure data plus builders of Discord API objects (v10
 * field names, snake_case) — the REST and Gateway halves both read from here.
 *
 * Discord facts encoded (discord.com/developers/docs; docs/ARCHITECTURE.md §7; test/unit/discord-twin.test.ts):
 * - Ids are snowflakes: `(ms since 2015-01-01 UTC) << 22 | worker << 17 | process << 12 | seq`,
 *   so a later id is a larger number (history is ordered by id).
 * - A thread started on a message has the message's id as its own id; its messages carry the
 *   thread id as `channel_id` (channel types: 0 text, 1 DM, 11 public thread, 12 private thread).
 * - `mentions` lists the users mentioned as `<@id>`/`<@!id>` in `content`, plus the author of the
 *   replied-to message when the reply pings (`allowed_mentions.replied_user`).
 */

import { cdnPath } from './cdn.js';

/** Discord's epoch: 2015-01-01T00:00:00Z, ms. */
export const DISCORD_EPOCH = 1_420_070_400_000n;

/** Makes increasing snowflakes from the current time. */
export function snowflakeGenerator(): () => string {
  let last = 0n;
  let seq = 0n;
  return () => {
    let id = ((BigInt(Date.now()) - DISCORD_EPOCH) << 22n) | (1n << 17n) | (1n << 12n) | (seq++ & 0xfffn);
    if (id <= last) id = last + 1n;
    last = id;
    return id.toString();
  };
}

/** A snowflake for time `ms` (ms since the Unix epoch) with random low bits, e.g. for an object created in the past. */
export function snowflakeAt(ms: number): string {
  return (((BigInt(Math.floor(ms)) - DISCORD_EPOCH) << 22n) | BigInt(Math.floor(Math.random() * 0x3fffff))).toString();
}

/** The timestamp (ms since the Unix epoch) inside a snowflake. */
export function snowflakeTime(id: string): number {
  return Number((BigInt(id) >> 22n) + DISCORD_EPOCH);
}

export interface TwinUser {
  id: string;
  username: string;
  /** Display name (`global_name`); the username when unset. */
  globalName?: string;
  /** Server nickname (guild member `nick`). */
  nick?: string;
  bot?: boolean;
}

export type ChannelKind = 'text' | 'thread' | 'dm';

export interface TwinChannel {
  id: string;
  kind: ChannelKind;
  name: string;
  /** For threads: the parent text channel. */
  parentId?: string;
  /** For DMs: the human on the other side. */
  recipientId?: string;
  ownerId?: string;
  createdAt: number;
}

export interface TwinMessage {
  id: string;
  channelId: string;
  authorId: string;
  content: string;
  /** 0 default, 19 reply, 21 thread starter, 20 slash-command response, 7 member join (system). */
  type: number;
  createdAt: number;
  editedAt?: number;
  /** `message_reference.message_id` of a reply. */
  replyTo?: string;
  /** Users listed in `mentions` (ids). */
  mentionIds: string[];
  mentionEveryone: boolean;
  /** emoji → user ids who reacted. */
  reactions: Map<string, Set<string>>;
  /** Set for messages posted through an interaction webhook. */
  webhookId?: string;
  /** Discord message flags (64 ephemeral, 128 loading). */
  flags: number;
  /** The `nonce` the bot sent with the create, if any (echoed in the message object, like Discord). */
  nonce?: string | number;
  /** Message components (action rows of buttons) as the bot last sent them; empty when none. */
  components?: unknown[];
  /** Files sent with the message (a multipart create), in order. */
  attachments?: TwinAttachment[];
}

/** A file of a message: a `files[n]` part of a bot's multipart create, or a file a user attached (`userSays` `files`). */
export interface TwinAttachment {
  id: string;
  filename: string;
  /** Bytes. */
  size: number;
  contentType?: string;
  bytes: Buffer;
}

/** Mentions of users in message content: `<@123>` or `<@!123>`. */
export const USER_MENTION = /<@!?(\d{5,25})>/g;

export class TwinWorld {
  readonly nextId = snowflakeGenerator();
  readonly guildId: string;
  readonly guildName: string;
  readonly applicationId: string;
  readonly bot: TwinUser;
  readonly users = new Map<string, TwinUser>();
  readonly channels = new Map<string, TwinChannel>();
  /** Messages per channel id, in id order. */
  readonly messages = new Map<string, TwinMessage[]>();
  /** Base URL of attachment URLs: the twin's own server once it listens (./cdn.ts serves them). */
  cdnBase = 'http://127.0.0.1';

  constructor(opts: { guildName: string; botName: string; channelNames: string[] }) {
    this.guildId = this.nextId();
    this.guildName = opts.guildName;
    this.applicationId = this.nextId();
    // A bot user's id equals its application's id on Discord.
    this.bot = { id: this.applicationId, username: opts.botName, bot: true };
    this.users.set(this.bot.id, this.bot);
    for (const name of opts.channelNames) this.addChannel({ kind: 'text', name });
  }

  addChannel(c: Omit<TwinChannel, 'id' | 'createdAt'> & { id?: string }): TwinChannel {
    const channel: TwinChannel = { ...c, id: c.id ?? this.nextId(), createdAt: Date.now() };
    this.channels.set(channel.id, channel);
    this.messages.set(channel.id, []);
    return channel;
  }

  /** The human user called `name`, created on first use (username = lower-case name). */
  userNamed(name: string, extra: Partial<TwinUser> = {}): TwinUser {
    for (const u of this.users.values()) if (!u.bot && u.globalName === name) return u;
    const user: TwinUser = { id: this.nextId(), username: name.toLowerCase().replace(/[^a-z0-9_.]/g, '_'), globalName: name, ...extra };
    this.users.set(user.id, user);
    return user;
  }

  channelByIdOrName(idOrName: string): TwinChannel | undefined {
    const byId = this.channels.get(idOrName);
    if (byId) return byId;
    for (const c of this.channels.values()) if (c.name === idOrName && c.kind === 'text') return c;
    return undefined;
  }

  findMessage(messageId: string): TwinMessage | undefined {
    for (const list of this.messages.values()) {
      const m = list.find((x) => x.id === messageId);
      if (m) return m;
    }
    return undefined;
  }

  addMessage(m: Omit<TwinMessage, 'id' | 'createdAt' | 'reactions' | 'mentionIds' | 'mentionEveryone' | 'flags'> & Partial<TwinMessage>): TwinMessage {
    const mentionIds = m.mentionIds ?? [...m.content.matchAll(USER_MENTION)].map((x) => x[1]!).filter((id) => this.users.has(id));
    const msg: TwinMessage = {
      id: this.nextId(),
      createdAt: Date.now(),
      reactions: new Map(),
      mentionEveryone: /@(everyone|here)\b/.test(m.content),
      flags: 0,
      ...m,
      mentionIds: [...new Set(mentionIds)],
    };
    this.messages.get(m.channelId)!.push(msg);
    return msg;
  }

  lastMessageId(channelId: string): string | null {
    return this.messages.get(channelId)?.at(-1)?.id ?? null;
  }

  // ---- API object builders (Discord v10 shapes) ----

  apiUser(u: TwinUser): Record<string, unknown> {
    return { id: u.id, username: u.username, global_name: u.globalName ?? null, discriminator: '0', avatar: null, ...(u.bot ? { bot: true } : {}) };
  }

  apiMember(u: TwinUser, withUser = true): Record<string, unknown> {
    return {
      ...(withUser ? { user: this.apiUser(u) } : {}),
      nick: u.nick ?? null,
      roles: [],
      joined_at: new Date(0).toISOString(),
      deaf: false,
      mute: false,
      flags: 0,
    };
  }

  apiChannel(c: TwinChannel): Record<string, unknown> {
    const base = { id: c.id, last_message_id: this.lastMessageId(c.id), flags: 0 };
    if (c.kind === 'dm') return { ...base, type: 1, recipients: [this.apiUser(this.users.get(c.recipientId!)!)] };
    if (c.kind === 'thread') {
      const count = this.messages.get(c.id)!.length;
      return {
        ...base,
        type: 11,
        guild_id: this.guildId,
        parent_id: c.parentId,
        owner_id: c.ownerId,
        name: c.name,
        rate_limit_per_user: 0,
        message_count: count,
        total_message_sent: count,
        member_count: 1,
        thread_metadata: {
          archived: false,
          auto_archive_duration: 1440,
          archive_timestamp: new Date(c.createdAt).toISOString(),
          locked: false,
          create_timestamp: new Date(c.createdAt).toISOString(),
        },
      };
    }
    return {
      ...base,
      type: 0,
      guild_id: this.guildId,
      name: c.name,
      position: 0,
      parent_id: null,
      topic: null,
      nsfw: false,
      rate_limit_per_user: 0,
      permission_overwrites: [],
    };
  }

  /**
   * A message object. Gateway MESSAGE_CREATE/UPDATE events (`gateway: true`) carry the author's
   * guild `member` and `guild_id`; REST message objects have neither (Discord docs: "Message
   * Create: … extra fields member, guild_id").
   */
  apiMessage(m: TwinMessage, opts: { gateway?: boolean } = {}): Record<string, unknown> {
    const channel = this.channels.get(m.channelId)!;
    const author = this.users.get(m.authorId)!;
    const guildChannel = channel.kind !== 'dm';
    const inGuild = guildChannel && opts.gateway === true;
    const replied = m.replyTo ? this.findMessage(m.replyTo) : undefined;
    return {
      id: m.id,
      channel_id: m.channelId,
      ...(inGuild ? { guild_id: this.guildId, member: this.apiMember(author, false) } : {}),
      author: this.apiUser(author),
      content: m.content,
      timestamp: new Date(m.createdAt).toISOString(),
      edited_timestamp: m.editedAt ? new Date(m.editedAt).toISOString() : null,
      tts: false,
      mention_everyone: m.mentionEveryone,
      mentions: m.mentionIds.map((id) => ({
        ...this.apiUser(this.users.get(id)!),
        ...(inGuild ? { member: this.apiMember(this.users.get(id)!, false) } : {}),
      })),
      mention_roles: [],
      attachments: (m.attachments ?? []).map((a) => ({
        id: a.id,
        filename: a.filename,
        size: a.size,
        url: `${this.cdnBase}${cdnPath(m.channelId, a)}`,
        proxy_url: `${this.cdnBase}${cdnPath(m.channelId, a, true)}`,
        ...(a.contentType ? { content_type: a.contentType } : {}),
      })),
      embeds: [],
      pinned: false,
      type: m.type,
      flags: m.flags,
      components: m.components ?? [],
      ...(m.nonce !== undefined ? { nonce: m.nonce } : {}),
      ...(m.webhookId ? { webhook_id: m.webhookId, application_id: this.applicationId } : {}),
      ...(m.replyTo
        ? {
            message_reference: {
              type: 0,
              message_id: m.replyTo,
              channel_id: replied?.channelId ?? m.channelId,
              ...(guildChannel ? { guild_id: this.guildId } : {}),
            },
          }
        : {}),
      ...(replied ? { referenced_message: { ...this.apiMessageShallow(replied) } } : {}),
      ...(m.reactions.size
        ? {
            reactions: [...m.reactions].map(([emoji, who]) => ({
              emoji: { id: null, name: emoji },
              count: who.size,
              me: who.has(this.bot.id),
              burst_colors: [],
              count_details: { burst: 0, normal: who.size },
              me_burst: false,
              burst_me: false,
              burst_count: 0,
            })),
          }
        : {}),
    };
  }

  /** A message without its own `referenced_message` (Discord nests only one level). */
  private apiMessageShallow(m: TwinMessage): Record<string, unknown> {
    const { referenced_message: _drop, ...rest } = this.apiMessage({ ...m, replyTo: undefined });
    return rest;
  }

  /** The guild as sent in GUILD_CREATE: channels, active threads, the bot's member, @everyone. */
  apiGuildCreate(): Record<string, unknown> {
    const channels = [...this.channels.values()];
    return {
      id: this.guildId,
      name: this.guildName,
      icon: null,
      owner_id: this.bot.id,
      unavailable: false,
      large: false,
      member_count: this.users.size,
      joined_at: new Date(0).toISOString(),
      afk_timeout: 300,
      verification_level: 0,
      default_message_notifications: 0,
      explicit_content_filter: 0,
      mfa_level: 0,
      nsfw_level: 0,
      premium_tier: 0,
      preferred_locale: 'en-US',
      system_channel_id: null,
      features: [],
      roles: [
        {
          id: this.guildId,
          name: '@everyone',
          permissions: '2248473465835073',
          position: 0,
          color: 0,
          hoist: false,
          managed: false,
          mentionable: false,
          flags: 0,
        },
      ],
      emojis: [],
      stickers: [],
      channels: channels.filter((c) => c.kind === 'text').map((c) => this.apiChannel(c)),
      threads: channels.filter((c) => c.kind === 'thread').map((c) => this.apiChannel(c)),
      members: [this.apiMember(this.bot)],
      voice_states: [],
      presences: [],
      stage_instances: [],
      guild_scheduled_events: [],
      soundboard_sounds: [],
    };
  }
}
