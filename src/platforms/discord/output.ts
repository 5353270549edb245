/**
 * What the bot does on Discord for the core: post, edit, delete, reactions and the typing
 * indicator, through discord.js (whose REST client waits out 429s using `Retry-After` and
 * retries; an error that still escapes is thrown, and the core's outbox retries later).
 *
 * Discord rules encoded:
 * - Every create and edit carries `allowed_mentions: {parse: [], replied_user: false}`
 *   ({@link NO_MENTIONS}): no user, role, @everyone/@here or reply ping.
 * - A reply is `message_reference: {message_id, fail_if_not_exists: false}`, so an answer to a
 *   deleted message is still posted (as a plain message).
 * - Reactions: `PUT /channels/{c}/messages/{m}/reactions/{emoji}/@me` with the emoji
 *   URL-encoded; 👀 while working, ✅ done, ❌ failed — added only, never removed (a removal
 *   would double the decoration calls per answer).
 * - Budget: creates, edits and reactions go through a per-channel budget (`../budget.ts`, limits
 *   in `limits.ts` `discordBucket`): answers and notices first, decoration (reactions, the
 *   progress message and its edits) when there is room.
 * - Typing: `POST /channels/{id}/typing` shows "<bot> is typing…" for about 10 s or until the
 *   bot posts; it is repeated every {@link TYPING_REPEAT_MS} while a status is set.
 * - Idempotent posts: a post with `idempotencyKey` sends it as `nonce` (≤ 25 characters) with
 *   `enforce_nonce: true`; Discord then answers a create repeating a nonce of the same author
 *   (within a few minutes) with the message already created, and creates none. This covers
 *   @discordjs/rest's own retries of a 5xx (up to 3, same body) and the outbox's later retries.
 * - Card buttons (`opts.actions`): sent as the message's `components`, action rows of buttons
 *   (./components.ts); an edit with `actions: []` sends `components: []`, which removes them,
 *   and an edit without `actions` leaves the field out, which keeps them.
 */
import fs from 'node:fs';
import { type Channel, type Client, type SendableChannels } from 'discord.js';
import type { Logger } from '../../logger.js';
import type { ReplyTarget } from '../../core/messages.js';
import {
  MAX_IDEMPOTENCY_KEY_CHARS,
  type EditOptions,
  type OutgoingFile,
  type PostFileOptions,
  type PostOptions,
  type PostedMessage,
  type ReactionState,
} from '../types.js';
import { buttonRows } from './components.js';
import { isDroppedCall, WebApiBudget } from '../budget.js';
import { DISCORD_MAX_FILE_BYTES, discordBucket } from './limits.js';
import { NO_MENTIONS } from './format.js';

/** Interval between typing requests while a status is set, ms (Discord shows typing ~10 s). */
export const TYPING_REPEAT_MS = 8_000;
/** A typing indicator left on (no `setStatus(null)`) stops by itself after this long, ms. */
const TYPING_MAX_MS = 60 * 60_000;
/** Reaction per state. */
export const REACTION: Record<ReactionState, string> = { working: '👀', done: '✅', failed: '❌', steered: '↪️' };
/** Most channels remembered by a client without a Gateway session. */
const MAX_REST_CHANNELS = 1_000;
/** Most remembered own reactions (per message); the oldest are forgotten first. */
const MAX_REACTIONS = 1_000;

export class DiscordOutput {
  /** Own reaction per `<channel>:<message>`. */
  private readonly reactions = new Map<string, string>();
  /** Typing per channel: the repeat timer and a token so a late start can tell it was cleared. */
  private readonly typing = new Map<string, { timer?: NodeJS.Timeout; since: number }>();
  /** Channels looked up without a Gateway session, per client ({@link restChannel}). */
  private readonly restChannels = new WeakMap<Client, Map<string, Channel>>();
  /** REST calls per route and channel: answers first, decoration when there is room. */
  private readonly budget = new WebApiBudget({ spec: discordBucket });

  constructor(
    private readonly client: () => Client,
    private readonly logger: Logger,
    private readonly typingRepeatMs = TYPING_REPEAT_MS,
  ) {}

  /**
   * Sends `text` into the target channel or thread, replying to `target.replyTo` when set; with
   * `opts.idempotencyKey`, as nonce with `enforceNonce` (a key over 25 characters is not sent:
   * Discord would refuse the message); with `opts.actions`, their buttons under the text.
   * @throws Error from {@link buttonRows} for actions Discord cannot show (more than 25, a bad id)
   */
  async post(target: ReplyTarget, text: string, opts: PostOptions = {}): Promise<PostedMessage> {
    const components = opts.actions?.length ? buttonRows(opts.actions) : undefined;
    const channel = await this.channel(target);
    const key = opts.idempotencyKey;
    const nonce = key && key.length <= MAX_IDEMPOTENCY_KEY_CHARS ? key : undefined;
    if (key && !nonce) this.logger.warn({ key }, 'discord: idempotency key too long for a nonce; posting without it');
    const send = async (): Promise<{ id: string }> =>
      channel.send({
        content: text,
        allowedMentions: NO_MENTIONS,
        ...(target.replyTo ? { reply: { messageReference: target.replyTo, failIfNotExists: false } } : {}),
        ...(nonce ? { nonce, enforceNonce: true } : {}),
        ...(components ? { components } : {}),
      });
    const sent = opts.decoration
      ? await this.budget.decoration('messages.create', channel.id, send, { signal: opts.decoration.signal })
      : await this.budget.urgent('messages.create', channel.id, send);
    return { ref: sent.id, channel: channel.id };
  }

  /**
   * Sends a message with the file as its attachment (discord.js `files: [{attachment, name}]`: a
   * multipart `POST /channels/{id}/messages` with `payload_json` and `files[0]`) and
   * `opts.comment` as its content, under the same nonce rule as {@link post} (a repeat within
   * Discord's nonce window returns the first message). The file is read from disk here.
   * @throws Error for a file over {@link DISCORD_MAX_FILE_BYTES}, or Discord's error.
   */
  async postFile(target: ReplyTarget, file: OutgoingFile, opts: PostFileOptions = {}): Promise<PostedMessage> {
    if (file.size > DISCORD_MAX_FILE_BYTES) throw new Error(`${file.name} is larger than Discord's file limit`);
    const channel = await this.channel(target);
    const key = opts.idempotencyKey;
    const nonce = key && key.length <= MAX_IDEMPOTENCY_KEY_CHARS ? key : undefined;
    const bytes = await fs.promises.readFile(file.path);
    const send = async (): Promise<{ id: string }> =>
      channel.send({
        ...(opts.comment ? { content: opts.comment } : {}),
        files: [{ attachment: bytes, name: file.name }],
        allowedMentions: NO_MENTIONS,
        ...(target.replyTo ? { reply: { messageReference: target.replyTo, failIfNotExists: false } } : {}),
        ...(nonce ? { nonce, enforceNonce: true } : {}),
      });
    const sent = await this.budget.urgent('messages.create', channel.id, send);
    return { ref: sent.id, channel: channel.id };
  }

  /**
   * Replaces the text of bot message `ref`; with `opts.actions` also its buttons (`[]` removes them).
   * @throws Error from {@link buttonRows} for actions Discord cannot show
   */
  async edit(target: ReplyTarget, ref: string, text: string, opts: EditOptions = {}): Promise<void> {
    const components = opts.actions ? buttonRows(opts.actions) : undefined;
    const channel = await this.channel(target);
    const edit = () => channel.messages.edit(ref, { content: text, allowedMentions: NO_MENTIONS, ...(components ? { components } : {}) });
    if (opts.decoration) await this.budget.decoration('messages.edit', channel.id, edit, { slot: ref, signal: opts.decoration.signal });
    else await this.budget.urgent('messages.edit', channel.id, edit);
  }

  /** Deletes a bot message; one already gone (Discord error 10008 "Unknown Message") counts as deleted. */
  async delete(target: ReplyTarget, ref: string): Promise<void> {
    const channel = await this.channel(target);
    try {
      await channel.messages.delete(ref);
    } catch (err) {
      if ((err as { code?: unknown })?.code === 10008) return;
      throw err;
    }
  }

  /**
   * Adds `state`'s emoji to the user's message (decoration: a later state of the same message
   * replaces one still waiting; a dropped one resolves quietly). The previous one is not removed.
   */
  async react(target: ReplyTarget, messageRef: string, state: ReactionState): Promise<void> {
    const channel = await this.channel(target);
    const key = `${channel.id}:${messageRef}`;
    const emoji = REACTION[state];
    if (this.reactions.get(key) === emoji) return;
    try {
      await this.budget.decoration('reactions.add', channel.id, () => channel.messages.react(messageRef, emoji), { slot: messageRef });
    } catch (err) {
      if (isDroppedCall(err)) return;
      throw err;
    }
    this.reactions.delete(key);
    this.reactions.set(key, emoji);
    if (this.reactions.size > MAX_REACTIONS) this.reactions.delete(this.reactions.keys().next().value!);
  }

  /** Typing indicator in the target channel while `status` is set; `null` stops it. */
  async setStatus(target: ReplyTarget, status: string | null): Promise<void> {
    const id = target.channel;
    this.stopTyping(id);
    if (status === null) return;
    const entry: { timer?: NodeJS.Timeout; since: number } = { since: Date.now() };
    this.typing.set(id, entry);
    const channel = await this.channel(target);
    if (this.typing.get(id) !== entry) return; // cleared while the channel was looked up
    await channel.sendTyping();
    if (this.typing.get(id) !== entry) return;
    entry.timer = setInterval(() => {
      if (Date.now() - entry.since > TYPING_MAX_MS) return this.stopTyping(id);
      channel.sendTyping().catch((err: unknown) => this.logger.debug({ err: String(err), channel: id }, 'discord: typing failed'));
    }, this.typingRepeatMs);
    entry.timer.unref();
  }

  /** Stops every typing indicator (adapter stop). */
  stopAll(): void {
    for (const id of [...this.typing.keys()]) this.stopTyping(id);
  }

  private stopTyping(id: string): void {
    const entry = this.typing.get(id);
    if (entry?.timer) clearInterval(entry.timer);
    this.typing.delete(id);
  }

  /** The channel or thread a target names (cache first, else `GET /channels/{id}`). */
  private async channel(target: ReplyTarget): Promise<SendableChannels> {
    if (target.platform !== 'discord') throw new Error(`discord: cannot deliver to platform ${target.platform}`);
    const client = this.client();
    const channel =
      client.channels.cache.get(target.channel) ??
      (client.isReady() ? await client.channels.fetch(target.channel) : await this.restChannel(client, target.channel));
    if (!channel || !channel.isSendable()) throw new Error(`discord: channel ${target.channel} cannot take messages`);
    return channel;
  }

  /**
   * A channel looked up by a client without a Gateway session (cluster mode, no lease): its
   * guild is not in the cache, so discord.js builds the channel only with `allowUnknownGuild`
   * and does not cache it — remembered here (per client, the latest {@link MAX_REST_CHANNELS}).
   */
  private async restChannel(client: Client, id: string): Promise<Channel | null> {
    let known = this.restChannels.get(client);
    if (!known) this.restChannels.set(client, (known = new Map()));
    const hit = known.get(id);
    if (hit) return hit;
    const channel = await client.channels.fetch(id, { allowUnknownGuild: true });
    if (channel) {
      known.set(id, channel);
      if (known.size > MAX_REST_CHANNELS) known.delete(known.keys().next().value!);
    }
    return channel;
  }
}
