/**
 * The Discord adapter in-process against the Discord twin (real discord.js, no agent): where it
 * takes part, what it hands to the core, output calls as Discord sees them, and catch-up after
 * a failed resume, across a restart and after the core refused a message.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { DiscordAdapter } from '../../src/platforms/discord/adapter.js';
import { DEFER_AFTER_MS, deferDelay, POSTED_IN_CHANNEL } from '../../src/platforms/discord/commands.js';
import { createLogger } from '../../src/logger.js';
import type { InboundMessage } from '../../src/core/messages.js';
import type { AdapterContext, CommandReply, CommandRequest } from '../../src/platforms/types.js';
import { postedMessageKey } from '../../src/core/ids.js';
import { startDiscordTwin, type DiscordTwin } from '../twins/discord/index.js';
import { waitFor } from '../helpers/sandbox.js';

/** What the core would be: an inbox deduplicating by event key, conversations, posted messages, state. */
class FakeCore {
  readonly received: InboundMessage[] = [];
  readonly keys = new Set<string>();
  readonly conversations = new Set<string>();
  readonly postedKeys = new Set<string>();
  readonly state = new Map<string, string>();
  /** When set, the sink throws for these event keys (once each). */
  readonly refuse = new Set<string>();
  readonly commands: CommandRequest[] = [];
  readonly apiErrors: string[] = [];
  /** How `/agent` answers (default: immediately, ephemeral). */
  commandReply: (req: CommandRequest) => Promise<CommandReply> = async (req) => ({ text: `ran ${req.text || 'help'}`, ephemeral: true });
  readonly sink = async (m: InboundMessage) => {
    if (this.refuse.delete(m.eventKey)) throw new Error('database is locked');
    if (this.keys.has(m.eventKey)) return 'duplicate' as const;
    this.keys.add(m.eventKey);
    this.conversations.add(m.conversationId);
    this.received.push(m);
    return 'accepted' as const;
  };
  readonly context: AdapterContext = {
    hasConversation: async (id) => this.conversations.has(id),
    isBotMessage: async (key) => this.postedKeys.has(key),
    state: { get: async (k) => this.state.get(k), set: async (k, v) => void this.state.set(k, v) },
    runCommand: (req) => (this.commands.push(req), this.commandReply(req)),
    reportApiError: (kind, method) => void this.apiErrors.push(`${kind} ${method}`),
  };
  texts(): string[] {
    return this.received.map((m) => m.text);
  }
}

let twin: DiscordTwin;
let core: FakeCore;
const adapters: DiscordAdapter[] = [];
const logger = createLogger('silent');

async function startAdapter(): Promise<DiscordAdapter> {
  const a = new DiscordAdapter({
    config: { botToken: twin.token, apiUrl: twin.apiUrl, channels: [twin.channels['agent-chat']!], allowBots: false },
    logger,
    typingRepeatMs: 200,
  });
  adapters.push(a);
  await a.start(core.sink, core.context);
  return a;
}

beforeEach(async () => {
  twin = await startDiscordTwin();
  core = new FakeCore();
});

afterEach(async () => {
  for (const a of adapters.splice(0)) await a.stop();
  await twin.close();
});

describe('Discord adapter: start', () => {
  it('fails with what to do: a wrong token, or the Message Content intent not enabled', async () => {
    const wrong = new DiscordAdapter({ config: { botToken: 'not-the-token', apiUrl: twin.apiUrl, channels: [], allowBots: false }, logger });
    await expect(wrong.start(core.sink, core.context)).rejects.toThrow(/rejected DISCORD_BOT_TOKEN/);
    const strict = await startDiscordTwin({ messageContentIntent: false });
    try {
      const a = new DiscordAdapter({ config: { botToken: strict.token, apiUrl: strict.apiUrl, channels: [], allowBots: false }, logger });
      await expect(a.start(core.sink, core.context)).rejects.toThrow(/Message Content intent/);
      expect(strict.frames.some((f) => f.dir === 'in' && f.op === 2)).toBe(true);
    } finally {
      await strict.close();
    }
  });
});

describe('Discord adapter: inbound', () => {
  it('takes part in chat channels, answers mentions elsewhere, DMs always; skips its own, bots and system messages', async () => {
    await startAdapter();
    const chat = twin.channels['agent-chat']!;
    const general = twin.channels.general!;
    const alice = twin.user('Alice', { nick: 'Ali' });
    const bob = twin.user('Bob');
    const m1 = twin.userSays({ user: alice, channel: chat, content: `hello <@${bob.id}>, see <#${general}>` });
    twin.userSays({ user: bob, channel: general, content: 'not for the bot' });
    const m3 = twin.userSays({ user: bob, channel: general, content: 'can you help?', mentionsBot: true });
    twin.userSays({ user: twin.user('Other Bot', { bot: true }), channel: chat, content: 'beep' });
    twin.userSays({ user: bob, channel: chat, content: 'joined', type: 7 });
    const dm = twin.userSays({ user: bob, channel: twin.dmChannel(bob), content: 'psst' });
    await waitFor(() => core.received.length >= 3, 5_000, 'three messages');
    const [a, b, c] = core.received;
    expect(a).toMatchObject({
      platform: 'discord',
      conversationId: `discord:${twin.guildId}:${chat}`,
      channel: chat,
      author: { id: alice.id, name: 'Ali' },
      text: 'hello @Bob, see #general',
      eventKey: `discord:${m1.id}`,
      messageRef: m1.id,
      replyTarget: { platform: 'discord', channel: chat, replyTo: m1.id },
    });
    expect(b).toMatchObject({ conversationId: `discord:${twin.guildId}:${general}`, text: 'can you help?', eventKey: `discord:${m3.id}` });
    expect(c).toMatchObject({ conversationId: `discord:@me:${dm.channel_id}`, text: 'psst', replyTarget: { channel: dm.channel_id } });
    // The bot's own messages are ignored too.
    await adapters[0]!.post(a!.replyTarget, 'an answer');
    const last = twin.userSays({ user: alice, channel: chat, content: 'thanks' });
    await waitFor(() => core.received.some((m) => m.messageRef === last.id), 5_000, 'the last message');
    expect(core.texts()).toEqual(['hello @Bob, see #general', 'can you help?', 'psst', 'thanks']);
    expect(core.received.map((m) => m.addressed)).toEqual([false, true, true, false]); // a mention or a DM
  });

  it('threads are their own conversations; a thread on a bot answer is seeded and needs no mention', async () => {
    const a = await startAdapter();
    const chat = twin.channels['agent-chat']!;
    const general = twin.channels.general!;
    const root = twin.userSays({ user: 'Alice', channel: chat, content: 'root' });
    const t1 = twin.createThread(chat, root.id, 'side');
    twin.userSays({ user: 'Alice', channel: t1, content: 'in a chat thread' });
    const q = twin.userSays({ user: 'Bob', channel: general, content: 'question', mentionsBot: true });
    await waitFor(() => core.received.length === 3, 5_000, 'three messages');
    const answer = await a.post({ platform: 'discord', channel: general, replyTo: q.id }, 'the answer');
    core.postedKeys.add(postedMessageKey('discord', general, answer.ref)); // what the outbox records
    const t2 = twin.createThread(general, answer.ref, 'about the answer');
    twin.userSays({ user: 'Bob', channel: t2, content: 'follow-up without mention' });
    twin.userSays({ user: 'Bob', channel: t2, content: 'and another' });
    await waitFor(() => core.received.length === 5, 5_000, 'the thread messages');
    expect(core.received[1]).toMatchObject({
      conversationId: `discord:${twin.guildId}:${chat}:${t1}`,
      channel: chat,
      thread: t1,
      replyTarget: { channel: t1, thread: t1 },
    });
    expect(core.received[1]!.seedFrom).toBeUndefined();
    expect(core.received[3]).toMatchObject({ conversationId: `discord:${twin.guildId}:${general}:${t2}`, seedFrom: postedMessageKey('discord', general, t2) });
    expect(core.received[4]!.seedFrom).toBeUndefined(); // the conversation exists by then
  });
});

describe('Discord adapter: files in', () => {
  /** Reads a fetched body whole. */
  async function read(body: AsyncIterable<Uint8Array>): Promise<Buffer> {
    const parts: Buffer[] = [];
    for await (const c of body) parts.push(Buffer.from(c));
    return Buffer.concat(parts);
  }

  it('attachments become files (also without text, also in catch-up); fetchFile gets their bytes from the CDN without the bot token', async () => {
    const adapter = await startAdapter();
    const chat = twin.channels['agent-chat']!;
    const said = twin.userSays({
      user: 'Alice',
      channel: chat,
      content: 'see the log',
      files: [
        { name: 'build log.txt', bytes: 'line 1\nline 2\n', contentType: 'text/plain' },
        { name: 'data.bin', bytes: Buffer.from([0, 1, 2, 255]) },
      ],
    });
    const filesOnly = twin.userSays({
      user: 'Alice',
      channel: chat,
      content: '',
      files: [{ name: 'only.txt', bytes: 'just a file', contentType: 'text/plain' }],
    });
    await waitFor(() => core.received.length === 2, 5_000, 'the two messages');
    const [withText, withoutText] = core.received;
    const ids = (said.attachments as Array<{ id: string }>).map((a) => a.id);
    expect(withText).toMatchObject({ eventKey: `discord:${said.id}`, text: 'see the log' });
    expect(withText!.files).toEqual([
      { id: ids[0], name: 'build log.txt', mimeType: 'text/plain', size: 14, url: expect.stringMatching(/^http:\/\/127\.0\.0\.1:\d+\/attachments\//) },
      { id: ids[1], name: 'data.bin', size: 4, url: expect.any(String) },
    ]);
    expect(withoutText).toMatchObject({ eventKey: `discord:${filesOnly.id}`, text: '', files: [{ name: 'only.txt', size: 11 }] });

    expect((await read(await adapter.fetchFile(withText!.files![0]!))).toString('utf8')).toBe('line 1\nline 2\n');
    expect([...(await read(await adapter.fetchFile(withText!.files![1]!)))]).toEqual([0, 1, 2, 255]);
    expect(twin.cdnDownloads.map((d) => [d.attachmentId, d.status, d.bytes])).toEqual([
      [ids[0], 200, 14],
      [ids[1], 200, 4],
    ]);
    expect(twin.cdnDownloads.every((d) => d.authorization === undefined)).toBe(true);

    twin.failNextDownload(500);
    await expect(adapter.fetchFile(withText!.files![0]!)).rejects.toThrow('download failed: HTTP 500');
    await expect(adapter.fetchFile({ ...withText!.files![0]!, url: 'https://example.com/x.txt' })).rejects.toThrow(/^refused: example\.com/);

    // Catch-up reads REST message objects: their attachments become files the same way.
    twin.disconnect({ resumable: false });
    const missed = twin.userSays({
      user: 'Bob',
      channel: chat,
      content: 'while away',
      files: [{ name: 'late.txt', bytes: 'late', contentType: 'text/plain' }],
    });
    await waitFor(() => core.received.length === 3, 15_000, 'the caught-up message');
    expect(core.received[2]).toMatchObject({ eventKey: `discord:${missed.id}`, files: [{ name: 'late.txt', size: 4, mimeType: 'text/plain' }] });
    expect((await read(await adapter.fetchFile(core.received[2]!.files![0]!))).toString('utf8')).toBe('late');
  });
});

describe('Discord adapter: output', () => {
  it('replies with message_reference and no pings, edits, deletes, adds reactions (never removes) and repeats typing until cleared', async () => {
    const a = await startAdapter();
    const chat = twin.channels['agent-chat']!;
    const said = twin.userSays({ user: 'Alice', channel: chat, content: 'hi' });
    await waitFor(() => core.received.length === 1, 5_000, 'the message');
    const target = core.received[0]!.replyTarget;
    const posted = await a.post(target, 'hello @everyone and <@123456789012345678>');
    const create = twin.callsTo('POST /channels/:c/messages')[0]!;
    expect(create.body).toMatchObject({
      allowed_mentions: { parse: [], replied_user: false },
      message_reference: { message_id: said.id, fail_if_not_exists: false },
    });
    expect(twin.pings.get(posted.ref)).toEqual({ everyone: false, users: [], repliedUser: false });
    // render() (the outbound path's pass) also breaks @everyone/@here in the text; code is left alone
    expect(a.render('**hello** @everyone, @here and <@123456789012345678> `@here`')).toBe(
      '**hello** @\u200Beveryone, @\u200Bhere and <@123456789012345678> `@here`',
    );
    await a.edit(target, posted.ref, 'edited');
    expect(twin.callsTo('PATCH /channels/:c/messages/:m')[0]!.body).toMatchObject({ content: 'edited', allowed_mentions: { parse: [] } });
    await a.delete(target, posted.ref);
    expect(twin.botMessages(chat)).toEqual([]);

    await a.react(target, said.id, 'working');
    expect(twin.botReactions(said.id)).toEqual(['👀']);
    await a.react(target, said.id, 'done');
    expect(twin.botReactions(said.id)).toEqual(['👀', '✅']);
    expect(twin.calls.filter((c) => c.method === 'DELETE' && c.path.includes('/reactions/'))).toEqual([]);

    await a.setStatus(target, 'is working…');
    await waitFor(() => twin.callsTo('POST /channels/:c/typing').length >= 3, 5_000, 'repeated typing');
    await a.setStatus(target, null);
    const n = twin.callsTo('POST /channels/:c/typing').length;
    // Proving an absence needs a bounded wait: 3 typing intervals.
    await new Promise<void>((r) => setTimeout(r, 600));
    expect(twin.callsTo('POST /channels/:c/typing').length).toBe(n);
  });

  it('a 429 on message create is waited out and the message is posted once', async () => {
    const a = await startAdapter();
    const chat = twin.channels['agent-chat']!;
    twin.failNext('POST /channels/:c/messages', { status: 429, retryAfter: 0.5 });
    const t0 = Date.now();
    await a.post({ platform: 'discord', channel: chat }, 'patience');
    expect(Date.now() - t0).toBeGreaterThanOrEqual(450);
    expect(twin.callsTo('POST /channels/:c/messages').map((c) => c.status)).toEqual([429, 200]);
    expect(twin.botMessages(chat).map((m) => m.content)).toEqual(['patience']);
    expect(core.apiErrors).toEqual(['rate_limited POST /channels/:id/messages']);
  });
});

describe('Discord adapter: idempotent posts (nonce)', () => {
  const creates = () => twin.callsTo('POST /channels/:c/messages');
  const frames = (content: string) =>
    twin.frames.filter((f) => f.dir === 'out' && f.t === 'MESSAGE_CREATE' && (f.d as { content?: string }).content === content);

  it('a create Discord carried out but answered 500 for is retried by discord.js: with the key as nonce, one message', async () => {
    const a = await startAdapter();
    const chat = twin.channels['agent-chat']!;
    const target = { platform: 'discord' as const, channel: chat };

    // Sanity: without a key (no nonce) the retry of the same request creates a second message.
    twin.failAfterCreate('POST /channels/:c/messages');
    await a.post(target, 'no key');
    expect(creates().map((c) => [c.status, (c.body as { nonce?: unknown }).nonce])).toEqual([
      [500, undefined],
      [200, undefined],
    ]);
    expect(twin.botMessages(chat).map((m) => m.content)).toEqual(['no key', 'no key']);

    twin.failAfterCreate('POST /channels/:c/messages');
    const posted = await a.post(target, 'with a key', { idempotencyKey: 'ab-o7-m0abcdef' });
    const keyed = creates().slice(2);
    expect(keyed.map((c) => [c.status, c.outcome])).toEqual([
      [500, 'failed-after-create'],
      [200, 'nonce-replay'],
    ]);
    for (const c of keyed)
      expect(c.body).toMatchObject({ content: 'with a key', nonce: 'ab-o7-m0abcdef', enforce_nonce: true, allowed_mentions: { parse: [] } });
    expect(
      twin
        .botMessages(chat)
        .filter((m) => m.content === 'with a key')
        .map((m) => m.id),
    ).toEqual([posted.ref]);
    expect(twin.nonceReplays).toEqual([{ channelId: chat, nonce: 'ab-o7-m0abcdef', messageId: posted.ref, at: expect.any(Number) }]);
    expect(frames('with a key')).toHaveLength(1); // MESSAGE_CREATE dispatched once

    // A key longer than Discord's 25 characters is not sent (Discord would refuse the message).
    await a.post(target, 'long key', { idempotencyKey: 'x'.repeat(26) });
    expect(creates().at(-1)!.body).not.toHaveProperty('nonce');
  });

  it('a dropped connection after the create fails the post; the retry with the same key gets that message back', async () => {
    const a = await startAdapter();
    const chat = twin.channels['agent-chat']!;
    const target = { platform: 'discord' as const, channel: chat };
    twin.failAfterCreate('POST /channels/:c/messages', { drop: true });
    await expect(a.post(target, 'dropped', { idempotencyKey: 'ab-o8-m0abcdef' })).rejects.toThrow();
    const created = twin.botMessages(chat).filter((m) => m.content === 'dropped');
    expect(created).toHaveLength(1);
    // What the outbox does next: the same post again.
    const again = await a.post(target, 'dropped', { idempotencyKey: 'ab-o8-m0abcdef' });
    expect(again.ref).toBe(created[0]!.id);
    expect(twin.botMessages(chat).filter((m) => m.content === 'dropped')).toHaveLength(1);
    expect(frames('dropped')).toHaveLength(1);
    // Another key is another message.
    await a.post(target, 'dropped', { idempotencyKey: 'ab-o9-m0abcdef' });
    expect(twin.botMessages(chat).filter((m) => m.content === 'dropped')).toHaveLength(2);
  });
});

describe('Discord adapter: /agent slash command', () => {
  it('registers /agent in the guild and answers through the interaction: at once, or deferred when slow', async () => {
    await startAdapter();
    await waitFor(() => twin.callsTo('PUT /applications/:app/guilds/:g/commands').length === 1, 5_000, 'the command registration');
    expect(twin.callsTo('PUT /applications/:app/guilds/:g/commands')[0]!.body).toEqual([
      expect.objectContaining({ name: 'agent', options: [expect.objectContaining({ name: 'command', type: 3 })] }),
    ]);
    const chat = twin.channels['agent-chat']!;
    twin.slashCommand({ user: 'Alice', channel: chat, name: 'agent', options: [{ name: 'command', type: 3, value: 'status' }] });
    await waitFor(() => twin.callsTo('POST /interactions/:id/:token/callback').length === 1, 5_000, 'the reply');
    expect(core.commands[0]).toMatchObject({
      platform: 'discord',
      userName: 'Alice',
      channel: chat,
      conversationId: `discord:${twin.guildId}:${chat}`,
      text: 'status',
      replyTarget: { platform: 'discord', channel: chat },
    });
    expect(twin.callsTo('POST /interactions/:id/:token/callback')[0]!.body).toMatchObject({
      type: 4,
      data: { content: 'ran status', flags: 64, allowed_mentions: { parse: [] } },
    });

    let finish!: (r: CommandReply) => void;
    core.commandReply = () => new Promise((r) => (finish = r));
    twin.slashCommand({ user: 'Bob', channel: twin.channels.general!, name: 'agent', options: [{ name: 'command', type: 3, value: 'model gpt-5' }] });
    await waitFor(() => twin.callsTo('POST /interactions/:id/:token/callback').length === 2, 5_000, 'the deferral');
    expect(twin.callsTo('POST /interactions/:id/:token/callback')[1]!.body).toMatchObject({ type: 5, data: { flags: 64 } });
    expect(core.commands[1]!.conversationId).toBeUndefined(); // not a chat channel, no conversation there
    finish({ text: 'switched @everyone', ephemeral: true });
    await waitFor(() => twin.callsTo('PATCH /webhooks/:app/:token/messages/@original').length === 1, 5_000, 'the edited reply');
    expect(twin.callsTo('PATCH /webhooks/:app/:token/messages/@original')[0]!.body).toMatchObject({
      content: 'switched @\u200Beveryone',
      allowed_mentions: { parse: [] },
    });
  });
});

describe('Discord adapter: /agent answer deadline', () => {
  it('waits for the command until 2 s after the interaction was created, not after it arrived', () => {
    const created = 1_000_000;
    expect(deferDelay(created, created)).toBe(DEFER_AFTER_MS);
    expect(deferDelay(created, created + 500)).toBe(1_500);
    expect(deferDelay(created, created + DEFER_AFTER_MS)).toBe(0);
    expect(deferDelay(created, created + 5_000)).toBe(0);
    expect(deferDelay(created, created - 3_000)).toBe(DEFER_AFTER_MS); // a clock behind Discord's
  });

  it('an interaction that arrives late is deferred before the command runs, and the answer edited in', async () => {
    await startAdapter();
    await waitFor(() => twin.callsTo('PUT /applications/:app/guilds/:g/commands').length === 1, 5_000, 'the command registration');
    const order: string[] = [];
    core.commandReply = async (req) => {
      order.push(`command (${twin.callsTo('POST /interactions/:id/:token/callback').length} callbacks)`);
      return { text: `ran ${req.text}`, ephemeral: true };
    };
    twin.slashCommand({
      user: 'Alice',
      channel: twin.channels['agent-chat']!,
      name: 'agent',
      options: [{ name: 'command', type: 3, value: 'status' }],
      lateByMs: 2_200,
    });
    await waitFor(() => twin.callsTo('PATCH /webhooks/:app/:token/messages/@original').length === 1, 5_000, 'the edited answer');
    expect(order).toEqual(['command (1 callbacks)']);
    expect(twin.callsTo('POST /interactions/:id/:token/callback').map((c) => [c.status, (c.body as { type: number }).type])).toEqual([[204, 5]]);
    expect(twin.callsTo('PATCH /webhooks/:app/:token/messages/@original')[0]!.body).toMatchObject({ content: 'ran status' });

    // Past its 3 s: the deferral is refused (10062), the command still runs; nothing else is sent.
    twin.slashCommand({
      user: 'Alice',
      channel: twin.channels['agent-chat']!,
      name: 'agent',
      options: [{ name: 'command', type: 3, value: 'stop' }],
      lateByMs: 3_500,
    });
    await waitFor(() => core.commands.some((c) => c.text === 'stop'), 5_000, 'the late command run');
    expect(twin.callsTo('POST /interactions/:id/:token/callback').map((c) => c.status)).toEqual([204, 404]);
    expect(twin.callsTo('PATCH /webhooks/:app/:token/messages/@original')).toHaveLength(1);
  });
});

describe('Discord adapter: /agent late answers for everyone', () => {
  it('a deferred (so ephemeral) answer meant for everyone is posted in the channel, the response points to it', async () => {
    await startAdapter();
    await waitFor(() => twin.callsTo('PUT /applications/:app/guilds/:g/commands').length === 1, 5_000, 'the command registration');
    const chat = twin.channels['agent-chat']!;
    core.commandReply = async (req) => ({ text: `⏹️ Stopping (asked by <@${twin.user('Alice').id}>) @everyone, ${req.text}`, ephemeral: false });
    const i = twin.slashCommand({ user: 'Alice', channel: chat, name: 'agent', options: [{ name: 'command', type: 3, value: 'stop' }], lateByMs: 2_200 });
    await waitFor(() => twin.callsTo('PATCH /webhooks/:app/:token/messages/@original').length === 1, 5_000, 'the edited response');
    expect(twin.callsTo('POST /interactions/:id/:token/callback').map((c) => c.body)).toEqual([
      expect.objectContaining({ type: 5, data: expect.objectContaining({ flags: 64 }) }),
    ]);
    expect(twin.callsTo('PATCH /webhooks/:app/:token/messages/@original')[0]!.body).toMatchObject({
      content: POSTED_IN_CHANNEL,
      allowed_mentions: { parse: [] },
    });
    const original = twin.botMessages(chat).find((m) => m.webhook_id);
    expect(original).toMatchObject({ content: POSTED_IN_CHANNEL, flags: 64 }); // ephemeral: fixed at the deferral
    // The answer: a normal bot message in the channel, pinging no one, with a nonce of the interaction.
    const posted = twin.botMessages(chat).filter((m) => !m.webhook_id);
    expect(posted.map((m) => [m.content, m.flags, m.nonce])).toEqual([
      [`⏹️ Stopping (asked by <@${twin.user('Alice').id}>) @\u200Beveryone, stop`, 0, `i${i.id}-0`],
    ]);
    expect(twin.pings.get(posted[0]!.id)).toEqual({ everyone: false, users: [], repliedUser: false });
    expect(twin.callsTo('POST /channels/:c/messages')[0]!.body).toMatchObject({ allowed_mentions: { parse: [], replied_user: false }, enforce_nonce: true });
  });

  it('when the bot may not post in the channel, the answer goes into the deferred response (the caller sees it)', async () => {
    await startAdapter();
    await waitFor(() => twin.callsTo('PUT /applications/:app/guilds/:g/commands').length === 1, 5_000, 'the command registration');
    const general = twin.channels.general!;
    twin.failNext('POST /channels/:c/messages', { status: 403 }); // Missing Permissions
    core.commandReply = async () => ({ text: 'Model set to `x`.', ephemeral: false });
    twin.slashCommand({ user: 'Alice', channel: general, name: 'agent', options: [{ name: 'command', type: 3, value: 'model x' }], lateByMs: 2_200 });
    await waitFor(() => twin.callsTo('PATCH /webhooks/:app/:token/messages/@original').length === 1, 5_000, 'the edited response');
    expect(twin.callsTo('PATCH /webhooks/:app/:token/messages/@original')[0]!.body).toMatchObject({ content: 'Model set to `x`.' });
    expect(twin.botMessages(general).map((m) => [m.content, m.flags])).toEqual([['Model set to `x`.', 64]]);
  });
});

describe('Discord adapter: catch-up', () => {
  it('after a failed resume, fetches what was said meanwhile (channel and thread), in order, once', async () => {
    await startAdapter();
    const chat = twin.channels['agent-chat']!;
    const root = twin.userSays({ user: 'Alice', channel: chat, content: 'before' });
    const thread = twin.createThread(chat, root.id, 'side');
    twin.userSays({ user: 'Alice', channel: thread, content: 'thread before' });
    await waitFor(() => core.received.length === 2, 5_000, 'the first messages');
    expect(core.state.get(`discord:cursor:${chat}`)).toBe(root.id);

    const resumed = twin.sessionId();
    twin.disconnect({ resumable: true });
    twin.userSays({ user: 'Bob', channel: chat, content: 'during a resumable drop' });
    await waitFor(() => core.texts().includes('during a resumable drop'), 10_000, 'the replayed message');
    expect(twin.sessionId()).toBe(resumed);
    expect(twin.callsTo('GET /channels/:c/messages')).toEqual([]);

    twin.disconnect({ resumable: false });
    twin.userSays({ user: 'Bob', channel: chat, content: 'lost 1' });
    twin.userSays({ user: 'Carol', channel: chat, content: 'lost 2' });
    twin.userSays({ user: 'Bob', channel: thread, content: 'lost in thread' });
    await waitFor(() => core.received.length === 6, 15_000, 'the caught-up messages');
    expect(core.texts().slice(3)).toEqual(['lost 1', 'lost 2', 'lost in thread']);
    expect(twin.callsTo('GET /channels/:c/messages').map((c) => c.query.after)).toEqual(
      expect.arrayContaining([core.received[2]!.messageRef, core.received[1]!.messageRef]),
    );
    // Live again, and nothing was handed twice.
    twin.userSays({ user: 'Bob', channel: chat, content: 'after' });
    await waitFor(() => core.texts().includes('after'), 5_000, 'a live message');
    expect(new Set(core.received.map((m) => m.eventKey)).size).toBe(core.received.length);
    expect(core.state.get(`discord:cursor:${chat}`)).toBe(core.received.at(-1)!.messageRef);
  });

  it('catches up across a restart from the stored cursors, including a thread opened meanwhile; old history is not answered', async () => {
    const chat = twin.channels['agent-chat']!;
    twin.userSays({ user: 'Alice', channel: chat, content: 'ancient history' });
    const a = await startAdapter();
    const first = twin.userSays({ user: 'Alice', channel: chat, content: 'first' });
    await waitFor(() => core.received.length === 1, 5_000, 'the first message');
    await a.stop();

    twin.userSays({ user: 'Alice', channel: chat, content: 'while down' });
    const thread = twin.createThread(chat, first.id, 'new thread');
    twin.userSays({ user: 'Bob', channel: thread, content: 'thread while down' });
    await startAdapter();
    await waitFor(() => core.received.length === 3, 10_000, 'the caught-up messages');
    expect(core.texts()).toEqual(['first', 'while down', 'thread while down']);
    expect(core.received[2]!.conversationId).toBe(`discord:${twin.guildId}:${chat}:${thread}`);
  });

  it('a message the core refused is read again later, before newer ones of its channel', async () => {
    await startAdapter();
    const chat = twin.channels['agent-chat']!;
    const m1 = twin.userSays({ user: 'Alice', channel: chat, content: 'one' });
    await waitFor(() => core.received.length === 1, 5_000, 'the first message');
    const m2 = twin.userSays({ user: 'Alice', channel: chat, content: 'two' });
    core.refuse.add(`discord:${m2.id}`); // before the Gateway frame reaches the adapter
    await waitFor(() => core.refuse.size === 0, 5_000, 'the refusal');
    twin.userSays({ user: 'Alice', channel: chat, content: 'three' });
    await waitFor(() => core.received.length === 3, 10_000, 'the retry');
    expect(core.texts()).toEqual(['one', 'two', 'three']);
    expect(core.state.get(`discord:cursor:${chat}`)).toBe(core.received[2]!.messageRef);
    expect(m2.id > m1.id).toBe(true);
  });
});

describe('Discord adapter: the REST budget per channel', () => {
  it('a burst of answers and progress edits in one channel: waiting edits merged, never over 5 creates or 5 edits in any 5 s', async () => {
    const a = await startAdapter();
    const chat = twin.channels['agent-chat']!;
    twin.userSays({ user: 'Alice', channel: chat, content: 'hi' });
    await waitFor(() => core.received.length === 1, 5_000, 'the message');
    const target = { ...core.received[0]!.replyTarget, replyTo: undefined };
    const progress = await a.post(target, '⏳ Working…');
    const since = twin.calls.length;
    const signal = new AbortController().signal;
    // 6 progress edits of one message (decoration: the latest wins) and 6 answers, asked for at once.
    const edits = Array.from({ length: 6 }, (_, i) => a.edit(target, progress.ref, `⏳ step ${i}`, { decoration: { signal } }).catch(() => 'dropped'));
    const answers = Array.from({ length: 6 }, (_, i) => a.post(target, `answer ${i}`));
    await Promise.all([...answers, ...edits]);
    const calls = twin.calls.slice(since);
    const creates = calls.filter((c) => c.method === 'POST' && c.path === `/channels/${chat}/messages`);
    const patches = calls.filter((c) => c.method === 'PATCH');
    expect(creates).toHaveLength(6);
    // The bucket's burst went out at once; the edits that had to wait were merged: only the latest of them went out.
    const contents = patches.map((c) => (c.body as { content: string }).content);
    expect(contents.at(-1)).toBe('⏳ step 5');
    expect(contents.length).toBeLessThan(6);
    for (const list of [creates, patches]) {
      for (const c of list) expect(list.filter((d) => d.at >= c.at && d.at < c.at + 5_000).length).toBeLessThanOrEqual(5);
    }
  }, 60_000);
});
