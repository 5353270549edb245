/**
 * The Discord adapter in-process against the Discord twin (real discord.js, no agent): where it
 * takes part, what it hands to the core, output calls as Discord sees them, and catch-up after
 * a failed resume, across a restart and after the core refused a message.
 */
import { describe, expect, it } from 'vitest';
import { DiscordAdapter } from '../../src/platforms/discord/adapter.js';
import { DEFER_AFTER_MS, deferDelay, POSTED_IN_CHANNEL } from '../../src/platforms/discord/commands.js';
import type { CommandReply } from '../../src/platforms/types.js';
import { postedMessageKey } from '../../src/core/ids.js';
import { startDiscordTwin } from '../twins/discord/index.js';
import { waitFor } from '../helpers/sandbox.js';
import { useDiscordTwin } from '../helpers/discord.js';

const dt = useDiscordTwin();
const { logger, startAdapter } = dt;

describe('Discord adapter: start', () => {
  it('fails with what to do: a wrong token, or the Message Content intent not enabled', async () => {
    const wrong = new DiscordAdapter({ config: { botToken: 'not-the-token', apiUrl: dt.twin.apiUrl, channels: [], allowBots: false }, logger });
    await expect(wrong.start(dt.core.sink, dt.core.context)).rejects.toThrow(/rejected DISCORD_BOT_TOKEN/);
    const strict = await startDiscordTwin({ messageContentIntent: false });
    try {
      const a = new DiscordAdapter({ config: { botToken: strict.token, apiUrl: strict.apiUrl, channels: [], allowBots: false }, logger });
      await expect(a.start(dt.core.sink, dt.core.context)).rejects.toThrow(/Message Content intent/);
      expect(strict.frames.some((f) => f.dir === 'in' && f.op === 2)).toBe(true);
    } finally {
      await strict.close();
    }
  });
});

describe('Discord adapter: inbound', () => {
  it('takes part in chat channels, answers mentions elsewhere, DMs always; skips its own, bots and system messages', async () => {
    await startAdapter();
    const chat = dt.twin.channels['agent-chat']!;
    const general = dt.twin.channels.general!;
    const alice = dt.twin.user('Alice', { nick: 'Ali' });
    const bob = dt.twin.user('Bob');
    const m1 = dt.twin.userSays({ user: alice, channel: chat, content: `hello <@${bob.id}>, see <#${general}>` });
    dt.twin.userSays({ user: bob, channel: general, content: 'not for the bot' });
    const m3 = dt.twin.userSays({ user: bob, channel: general, content: 'can you help?', mentionsBot: true });
    dt.twin.userSays({ user: dt.twin.user('Other Bot', { bot: true }), channel: chat, content: 'beep' });
    dt.twin.userSays({ user: bob, channel: chat, content: 'joined', type: 7 });
    const dm = dt.twin.userSays({ user: bob, channel: dt.twin.dmChannel(bob), content: 'psst' });
    await waitFor(() => dt.core.received.length >= 3, 5_000, 'three messages');
    const [a, b, c] = dt.core.received;
    expect(a).toMatchObject({
      platform: 'discord',
      conversationId: `discord:${dt.twin.guildId}:${chat}`,
      channel: chat,
      author: { id: alice.id, name: 'Ali' },
      text: 'hello @Bob, see #general',
      eventKey: `discord:${m1.id}`,
      messageRef: m1.id,
      replyTarget: { platform: 'discord', channel: chat, replyTo: m1.id },
    });
    expect(b).toMatchObject({ conversationId: `discord:${dt.twin.guildId}:${general}`, text: 'can you help?', eventKey: `discord:${m3.id}` });
    expect(c).toMatchObject({ conversationId: `discord:@me:${dm.channel_id}`, text: 'psst', replyTarget: { channel: dm.channel_id } });
    // The bot's own messages are ignored too.
    await dt.adapters[0]!.post(a!.replyTarget, 'an answer');
    const last = dt.twin.userSays({ user: alice, channel: chat, content: 'thanks' });
    await waitFor(() => dt.core.received.some((m) => m.messageRef === last.id), 5_000, 'the last message');
    expect(dt.core.texts()).toEqual(['hello @Bob, see #general', 'can you help?', 'psst', 'thanks']);
    expect(dt.core.received.map((m) => m.addressed)).toEqual([false, true, true, false]); // a mention or a DM
  });

  it('threads are their own conversations; a thread on a bot answer is seeded and needs no mention', async () => {
    const a = await startAdapter();
    const chat = dt.twin.channels['agent-chat']!;
    const general = dt.twin.channels.general!;
    const root = dt.twin.userSays({ user: 'Alice', channel: chat, content: 'root' });
    const t1 = dt.twin.createThread(chat, root.id, 'side');
    dt.twin.userSays({ user: 'Alice', channel: t1, content: 'in a chat thread' });
    const q = dt.twin.userSays({ user: 'Bob', channel: general, content: 'question', mentionsBot: true });
    await waitFor(() => dt.core.received.length === 3, 5_000, 'three messages');
    const answer = await a.post({ platform: 'discord', channel: general, replyTo: q.id }, 'the answer');
    dt.core.postedKeys.add(postedMessageKey('discord', general, answer.ref)); // what the outbox records
    const t2 = dt.twin.createThread(general, answer.ref, 'about the answer');
    dt.twin.userSays({ user: 'Bob', channel: t2, content: 'follow-up without mention' });
    dt.twin.userSays({ user: 'Bob', channel: t2, content: 'and another' });
    await waitFor(() => dt.core.received.length === 5, 5_000, 'the thread messages');
    expect(dt.core.received[1]).toMatchObject({
      conversationId: `discord:${dt.twin.guildId}:${chat}:${t1}`,
      channel: chat,
      thread: t1,
      replyTarget: { channel: t1, thread: t1 },
    });
    expect(dt.core.received[1]!.seedFrom).toBeUndefined();
    expect(dt.core.received[3]).toMatchObject({
      conversationId: `discord:${dt.twin.guildId}:${general}:${t2}`,
      seedFrom: postedMessageKey('discord', general, t2),
    });
    expect(dt.core.received[4]!.seedFrom).toBeUndefined(); // the conversation exists by then
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
    const chat = dt.twin.channels['agent-chat']!;
    const said = dt.twin.userSays({
      user: 'Alice',
      channel: chat,
      content: 'see the log',
      files: [
        { name: 'build log.txt', bytes: 'line 1\nline 2\n', contentType: 'text/plain' },
        { name: 'data.bin', bytes: Buffer.from([0, 1, 2, 255]) },
      ],
    });
    const filesOnly = dt.twin.userSays({
      user: 'Alice',
      channel: chat,
      content: '',
      files: [{ name: 'only.txt', bytes: 'just a file', contentType: 'text/plain' }],
    });
    await waitFor(() => dt.core.received.length === 2, 5_000, 'the two messages');
    const [withText, withoutText] = dt.core.received;
    const ids = (said.attachments as Array<{ id: string }>).map((a) => a.id);
    expect(withText).toMatchObject({ eventKey: `discord:${said.id}`, text: 'see the log' });
    expect(withText!.files).toEqual([
      { id: ids[0], name: 'build log.txt', mimeType: 'text/plain', size: 14, url: expect.stringMatching(/^http:\/\/127\.0\.0\.1:\d+\/attachments\//) },
      { id: ids[1], name: 'data.bin', size: 4, url: expect.any(String) },
    ]);
    expect(withoutText).toMatchObject({ eventKey: `discord:${filesOnly.id}`, text: '', files: [{ name: 'only.txt', size: 11 }] });

    expect((await read(await adapter.fetchFile(withText!.files![0]!))).toString('utf8')).toBe('line 1\nline 2\n');
    expect([...(await read(await adapter.fetchFile(withText!.files![1]!)))]).toEqual([0, 1, 2, 255]);
    expect(dt.twin.cdnDownloads.map((d) => [d.attachmentId, d.status, d.bytes])).toEqual([
      [ids[0], 200, 14],
      [ids[1], 200, 4],
    ]);
    expect(dt.twin.cdnDownloads.every((d) => d.authorization === undefined)).toBe(true);

    dt.twin.failNextDownload(500);
    await expect(adapter.fetchFile(withText!.files![0]!)).rejects.toThrow('download failed: HTTP 500');
    await expect(adapter.fetchFile({ ...withText!.files![0]!, url: 'https://example.com/x.txt' })).rejects.toThrow(/^refused: example\.com/);

    // Catch-up reads REST message objects: their attachments become files the same way.
    dt.twin.disconnect({ resumable: false });
    const missed = dt.twin.userSays({
      user: 'Bob',
      channel: chat,
      content: 'while away',
      files: [{ name: 'late.txt', bytes: 'late', contentType: 'text/plain' }],
    });
    await waitFor(() => dt.core.received.length === 3, 15_000, 'the caught-up message');
    expect(dt.core.received[2]).toMatchObject({ eventKey: `discord:${missed.id}`, files: [{ name: 'late.txt', size: 4, mimeType: 'text/plain' }] });
    expect((await read(await adapter.fetchFile(dt.core.received[2]!.files![0]!))).toString('utf8')).toBe('late');
  });
});

describe('Discord adapter: output', () => {
  it('replies with message_reference and no pings, edits, deletes, adds reactions (never removes) and repeats typing until cleared', async () => {
    const a = await startAdapter();
    const chat = dt.twin.channels['agent-chat']!;
    const said = dt.twin.userSays({ user: 'Alice', channel: chat, content: 'hi' });
    await waitFor(() => dt.core.received.length === 1, 5_000, 'the message');
    const target = dt.core.received[0]!.replyTarget;
    const posted = await a.post(target, 'hello @everyone and <@123456789012345678>');
    const create = dt.twin.callsTo('POST /channels/:c/messages')[0]!;
    expect(create.body).toMatchObject({
      allowed_mentions: { parse: [], replied_user: false },
      message_reference: { message_id: said.id, fail_if_not_exists: false },
    });
    expect(dt.twin.pings.get(posted.ref)).toEqual({ everyone: false, users: [], repliedUser: false });
    // render() (the outbound path's pass) also breaks @everyone/@here in the text; code is left alone
    expect(a.render('**hello** @everyone, @here and <@123456789012345678> `@here`')).toBe(
      '**hello** @\u200Beveryone, @\u200Bhere and <@123456789012345678> `@here`',
    );
    await a.edit(target, posted.ref, 'edited');
    expect(dt.twin.callsTo('PATCH /channels/:c/messages/:m')[0]!.body).toMatchObject({ content: 'edited', allowed_mentions: { parse: [] } });
    await a.delete(target, posted.ref);
    expect(dt.twin.botMessages(chat)).toEqual([]);

    await a.react(target, said.id, 'working');
    expect(dt.twin.botReactions(said.id)).toEqual(['👀']);
    await a.react(target, said.id, 'done');
    expect(dt.twin.botReactions(said.id)).toEqual(['👀', '✅']);
    expect(dt.twin.calls.filter((c) => c.method === 'DELETE' && c.path.includes('/reactions/'))).toEqual([]);

    await a.setStatus(target, 'is working…');
    await waitFor(() => dt.twin.callsTo('POST /channels/:c/typing').length >= 3, 5_000, 'repeated typing');
    await a.setStatus(target, null);
    const n = dt.twin.callsTo('POST /channels/:c/typing').length;
    // Proving an absence needs a bounded wait: 3 typing intervals.
    await new Promise<void>((r) => setTimeout(r, 600));
    expect(dt.twin.callsTo('POST /channels/:c/typing').length).toBe(n);
  });

  it('a 429 on message create is waited out and the message is posted once', async () => {
    const a = await startAdapter();
    const chat = dt.twin.channels['agent-chat']!;
    dt.twin.failNext('POST /channels/:c/messages', { status: 429, retryAfter: 0.5 });
    const t0 = Date.now();
    await a.post({ platform: 'discord', channel: chat }, 'patience');
    expect(Date.now() - t0).toBeGreaterThanOrEqual(450);
    expect(dt.twin.callsTo('POST /channels/:c/messages').map((c) => c.status)).toEqual([429, 200]);
    expect(dt.twin.botMessages(chat).map((m) => m.content)).toEqual(['patience']);
    expect(dt.core.apiErrors).toEqual(['rate_limited POST /channels/:id/messages']);
  });
});

describe('Discord adapter: idempotent posts (nonce)', () => {
  const creates = () => dt.twin.callsTo('POST /channels/:c/messages');
  const frames = (content: string) =>
    dt.twin.frames.filter((f) => f.dir === 'out' && f.t === 'MESSAGE_CREATE' && (f.d as { content?: string }).content === content);

  it('a create Discord carried out but answered 500 for is retried by discord.js: with the key as nonce, one message', async () => {
    const a = await startAdapter();
    const chat = dt.twin.channels['agent-chat']!;
    const target = { platform: 'discord' as const, channel: chat };

    // Sanity: without a key (no nonce) the retry of the same request creates a second message.
    dt.twin.failAfterCreate('POST /channels/:c/messages');
    await a.post(target, 'no key');
    expect(creates().map((c) => [c.status, (c.body as { nonce?: unknown }).nonce])).toEqual([
      [500, undefined],
      [200, undefined],
    ]);
    expect(dt.twin.botMessages(chat).map((m) => m.content)).toEqual(['no key', 'no key']);

    dt.twin.failAfterCreate('POST /channels/:c/messages');
    const posted = await a.post(target, 'with a key', { idempotencyKey: 'ab-o7-m0abcdef' });
    const keyed = creates().slice(2);
    expect(keyed.map((c) => [c.status, c.outcome])).toEqual([
      [500, 'failed-after-create'],
      [200, 'nonce-replay'],
    ]);
    for (const c of keyed)
      expect(c.body).toMatchObject({ content: 'with a key', nonce: 'ab-o7-m0abcdef', enforce_nonce: true, allowed_mentions: { parse: [] } });
    expect(
      dt.twin
        .botMessages(chat)
        .filter((m) => m.content === 'with a key')
        .map((m) => m.id),
    ).toEqual([posted.ref]);
    expect(dt.twin.nonceReplays).toEqual([{ channelId: chat, nonce: 'ab-o7-m0abcdef', messageId: posted.ref, at: expect.any(Number) }]);
    expect(frames('with a key')).toHaveLength(1); // MESSAGE_CREATE dispatched once

    // A key longer than Discord's 25 characters is not sent (Discord would refuse the message).
    await a.post(target, 'long key', { idempotencyKey: 'x'.repeat(26) });
    expect(creates().at(-1)!.body).not.toHaveProperty('nonce');
  });

  it('a dropped connection after the create fails the post; the retry with the same key gets that message back', async () => {
    const a = await startAdapter();
    const chat = dt.twin.channels['agent-chat']!;
    const target = { platform: 'discord' as const, channel: chat };
    dt.twin.failAfterCreate('POST /channels/:c/messages', { drop: true });
    await expect(a.post(target, 'dropped', { idempotencyKey: 'ab-o8-m0abcdef' })).rejects.toThrow();
    const created = dt.twin.botMessages(chat).filter((m) => m.content === 'dropped');
    expect(created).toHaveLength(1);
    // What the outbox does next: the same post again.
    const again = await a.post(target, 'dropped', { idempotencyKey: 'ab-o8-m0abcdef' });
    expect(again.ref).toBe(created[0]!.id);
    expect(dt.twin.botMessages(chat).filter((m) => m.content === 'dropped')).toHaveLength(1);
    expect(frames('dropped')).toHaveLength(1);
    // Another key is another message.
    await a.post(target, 'dropped', { idempotencyKey: 'ab-o9-m0abcdef' });
    expect(dt.twin.botMessages(chat).filter((m) => m.content === 'dropped')).toHaveLength(2);
  });
});

describe('Discord adapter: /agent slash command', () => {
  it('registers /agent in the guild and answers through the interaction: at once, or deferred when slow', async () => {
    await startAdapter();
    await waitFor(() => dt.twin.callsTo('PUT /applications/:app/guilds/:g/commands').length === 1, 5_000, 'the command registration');
    expect(dt.twin.callsTo('PUT /applications/:app/guilds/:g/commands')[0]!.body).toEqual([
      expect.objectContaining({ name: 'agent', options: [expect.objectContaining({ name: 'command', type: 3 })] }),
    ]);
    const chat = dt.twin.channels['agent-chat']!;
    dt.twin.slashCommand({ user: 'Alice', channel: chat, name: 'agent', options: [{ name: 'command', type: 3, value: 'status' }] });
    await waitFor(() => dt.twin.callsTo('POST /interactions/:id/:token/callback').length === 1, 5_000, 'the reply');
    expect(dt.core.commands[0]).toMatchObject({
      platform: 'discord',
      userName: 'Alice',
      channel: chat,
      conversationId: `discord:${dt.twin.guildId}:${chat}`,
      text: 'status',
      replyTarget: { platform: 'discord', channel: chat },
    });
    expect(dt.twin.callsTo('POST /interactions/:id/:token/callback')[0]!.body).toMatchObject({
      type: 4,
      data: { content: 'ran status', flags: 64, allowed_mentions: { parse: [] } },
    });

    let finish!: (r: CommandReply) => void;
    dt.core.commandReply = () => new Promise((r) => (finish = r));
    dt.twin.slashCommand({ user: 'Bob', channel: dt.twin.channels.general!, name: 'agent', options: [{ name: 'command', type: 3, value: 'model gpt-5' }] });
    await waitFor(() => dt.twin.callsTo('POST /interactions/:id/:token/callback').length === 2, 5_000, 'the deferral');
    expect(dt.twin.callsTo('POST /interactions/:id/:token/callback')[1]!.body).toMatchObject({ type: 5, data: { flags: 64 } });
    expect(dt.core.commands[1]!.conversationId).toBeUndefined(); // not a chat channel, no conversation there
    finish({ text: 'switched @everyone', ephemeral: true });
    await waitFor(() => dt.twin.callsTo('PATCH /webhooks/:app/:token/messages/@original').length === 1, 5_000, 'the edited reply');
    expect(dt.twin.callsTo('PATCH /webhooks/:app/:token/messages/@original')[0]!.body).toMatchObject({
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
    await waitFor(() => dt.twin.callsTo('PUT /applications/:app/guilds/:g/commands').length === 1, 5_000, 'the command registration');
    const order: string[] = [];
    dt.core.commandReply = async (req) => {
      order.push(`command (${dt.twin.callsTo('POST /interactions/:id/:token/callback').length} callbacks)`);
      return { text: `ran ${req.text}`, ephemeral: true };
    };
    dt.twin.slashCommand({
      user: 'Alice',
      channel: dt.twin.channels['agent-chat']!,
      name: 'agent',
      options: [{ name: 'command', type: 3, value: 'status' }],
      lateByMs: 2_200,
    });
    await waitFor(() => dt.twin.callsTo('PATCH /webhooks/:app/:token/messages/@original').length === 1, 5_000, 'the edited answer');
    expect(order).toEqual(['command (1 callbacks)']);
    expect(dt.twin.callsTo('POST /interactions/:id/:token/callback').map((c) => [c.status, (c.body as { type: number }).type])).toEqual([[204, 5]]);
    expect(dt.twin.callsTo('PATCH /webhooks/:app/:token/messages/@original')[0]!.body).toMatchObject({ content: 'ran status' });

    // Past its 3 s: the deferral is refused (10062), the command still runs; nothing else is sent.
    dt.twin.slashCommand({
      user: 'Alice',
      channel: dt.twin.channels['agent-chat']!,
      name: 'agent',
      options: [{ name: 'command', type: 3, value: 'stop' }],
      lateByMs: 3_500,
    });
    await waitFor(() => dt.core.commands.some((c) => c.text === 'stop'), 5_000, 'the late command run');
    expect(dt.twin.callsTo('POST /interactions/:id/:token/callback').map((c) => c.status)).toEqual([204, 404]);
    expect(dt.twin.callsTo('PATCH /webhooks/:app/:token/messages/@original')).toHaveLength(1);
  });
});

describe('Discord adapter: /agent late answers for everyone', () => {
  it('a deferred (so ephemeral) answer meant for everyone is posted in the channel, the response points to it', async () => {
    await startAdapter();
    await waitFor(() => dt.twin.callsTo('PUT /applications/:app/guilds/:g/commands').length === 1, 5_000, 'the command registration');
    const chat = dt.twin.channels['agent-chat']!;
    dt.core.commandReply = async (req) => ({ text: `⏹️ Stopping (asked by <@${dt.twin.user('Alice').id}>) @everyone, ${req.text}`, ephemeral: false });
    const i = dt.twin.slashCommand({ user: 'Alice', channel: chat, name: 'agent', options: [{ name: 'command', type: 3, value: 'stop' }], lateByMs: 2_200 });
    await waitFor(() => dt.twin.callsTo('PATCH /webhooks/:app/:token/messages/@original').length === 1, 5_000, 'the edited response');
    expect(dt.twin.callsTo('POST /interactions/:id/:token/callback').map((c) => c.body)).toEqual([
      expect.objectContaining({ type: 5, data: expect.objectContaining({ flags: 64 }) }),
    ]);
    expect(dt.twin.callsTo('PATCH /webhooks/:app/:token/messages/@original')[0]!.body).toMatchObject({
      content: POSTED_IN_CHANNEL,
      allowed_mentions: { parse: [] },
    });
    const original = dt.twin.botMessages(chat).find((m) => m.webhook_id);
    expect(original).toMatchObject({ content: POSTED_IN_CHANNEL, flags: 64 }); // ephemeral: fixed at the deferral
    // The answer: a normal bot message in the channel, pinging no one, with a nonce of the interaction.
    const posted = dt.twin.botMessages(chat).filter((m) => !m.webhook_id);
    expect(posted.map((m) => [m.content, m.flags, m.nonce])).toEqual([
      [`⏹️ Stopping (asked by <@${dt.twin.user('Alice').id}>) @\u200Beveryone, stop`, 0, `i${i.id}-0`],
    ]);
    expect(dt.twin.pings.get(posted[0]!.id)).toEqual({ everyone: false, users: [], repliedUser: false });
    expect(dt.twin.callsTo('POST /channels/:c/messages')[0]!.body).toMatchObject({ allowed_mentions: { parse: [], replied_user: false }, enforce_nonce: true });
  });

  it('when the bot may not post in the channel, the answer goes into the deferred response (the caller sees it)', async () => {
    await startAdapter();
    await waitFor(() => dt.twin.callsTo('PUT /applications/:app/guilds/:g/commands').length === 1, 5_000, 'the command registration');
    const general = dt.twin.channels.general!;
    dt.twin.failNext('POST /channels/:c/messages', { status: 403 }); // Missing Permissions
    dt.core.commandReply = async () => ({ text: 'Model set to `x`.', ephemeral: false });
    dt.twin.slashCommand({ user: 'Alice', channel: general, name: 'agent', options: [{ name: 'command', type: 3, value: 'model x' }], lateByMs: 2_200 });
    await waitFor(() => dt.twin.callsTo('PATCH /webhooks/:app/:token/messages/@original').length === 1, 5_000, 'the edited response');
    expect(dt.twin.callsTo('PATCH /webhooks/:app/:token/messages/@original')[0]!.body).toMatchObject({ content: 'Model set to `x`.' });
    expect(dt.twin.botMessages(general).map((m) => [m.content, m.flags])).toEqual([['Model set to `x`.', 64]]);
  });
});

describe('Discord adapter: catch-up', () => {
  it('after a failed resume, fetches what was said meanwhile (channel and thread), in order, once', async () => {
    await startAdapter();
    const chat = dt.twin.channels['agent-chat']!;
    const root = dt.twin.userSays({ user: 'Alice', channel: chat, content: 'before' });
    const thread = dt.twin.createThread(chat, root.id, 'side');
    dt.twin.userSays({ user: 'Alice', channel: thread, content: 'thread before' });
    await waitFor(() => dt.core.received.length === 2, 5_000, 'the first messages');
    expect(dt.core.state.get(`discord:cursor:${chat}`)).toBe(root.id);

    const resumed = dt.twin.sessionId();
    dt.twin.disconnect({ resumable: true });
    dt.twin.userSays({ user: 'Bob', channel: chat, content: 'during a resumable drop' });
    await waitFor(() => dt.core.texts().includes('during a resumable drop'), 10_000, 'the replayed message');
    expect(dt.twin.sessionId()).toBe(resumed);
    expect(dt.twin.callsTo('GET /channels/:c/messages')).toEqual([]);

    dt.twin.disconnect({ resumable: false });
    dt.twin.userSays({ user: 'Bob', channel: chat, content: 'lost 1' });
    dt.twin.userSays({ user: 'Carol', channel: chat, content: 'lost 2' });
    dt.twin.userSays({ user: 'Bob', channel: thread, content: 'lost in thread' });
    await waitFor(() => dt.core.received.length === 6, 15_000, 'the caught-up messages');
    expect(dt.core.texts().slice(3)).toEqual(['lost 1', 'lost 2', 'lost in thread']);
    expect(dt.twin.callsTo('GET /channels/:c/messages').map((c) => c.query.after)).toEqual(
      expect.arrayContaining([dt.core.received[2]!.messageRef, dt.core.received[1]!.messageRef]),
    );
    // Live again, and nothing was handed twice.
    dt.twin.userSays({ user: 'Bob', channel: chat, content: 'after' });
    await waitFor(() => dt.core.texts().includes('after'), 5_000, 'a live message');
    expect(new Set(dt.core.received.map((m) => m.eventKey)).size).toBe(dt.core.received.length);
    expect(dt.core.state.get(`discord:cursor:${chat}`)).toBe(dt.core.received.at(-1)!.messageRef);
  });

  it('catches up across a restart from the stored cursors, including a thread opened meanwhile; old history is not answered', async () => {
    const chat = dt.twin.channels['agent-chat']!;
    dt.twin.userSays({ user: 'Alice', channel: chat, content: 'ancient history' });
    const a = await startAdapter();
    const first = dt.twin.userSays({ user: 'Alice', channel: chat, content: 'first' });
    await waitFor(() => dt.core.received.length === 1, 5_000, 'the first message');
    await a.stop();

    dt.twin.userSays({ user: 'Alice', channel: chat, content: 'while down' });
    const thread = dt.twin.createThread(chat, first.id, 'new thread');
    dt.twin.userSays({ user: 'Bob', channel: thread, content: 'thread while down' });
    await startAdapter();
    await waitFor(() => dt.core.received.length === 3, 10_000, 'the caught-up messages');
    expect(dt.core.texts()).toEqual(['first', 'while down', 'thread while down']);
    expect(dt.core.received[2]!.conversationId).toBe(`discord:${dt.twin.guildId}:${chat}:${thread}`);
  });

  it('a message the core refused is read again later, before newer ones of its channel', async () => {
    await startAdapter();
    const chat = dt.twin.channels['agent-chat']!;
    const m1 = dt.twin.userSays({ user: 'Alice', channel: chat, content: 'one' });
    await waitFor(() => dt.core.received.length === 1, 5_000, 'the first message');
    const m2 = dt.twin.userSays({ user: 'Alice', channel: chat, content: 'two' });
    dt.core.refuse.add(`discord:${m2.id}`); // before the Gateway frame reaches the adapter
    await waitFor(() => dt.core.refuse.size === 0, 5_000, 'the refusal');
    dt.twin.userSays({ user: 'Alice', channel: chat, content: 'three' });
    await waitFor(() => dt.core.received.length === 3, 10_000, 'the retry');
    expect(dt.core.texts()).toEqual(['one', 'two', 'three']);
    expect(dt.core.state.get(`discord:cursor:${chat}`)).toBe(dt.core.received[2]!.messageRef);
    expect(m2.id > m1.id).toBe(true);
  });
});

describe('Discord adapter: the REST budget per channel', () => {
  it('a burst of answers and progress edits in one channel: waiting edits merged, never over 5 creates or 5 edits in any 5 s', async () => {
    const a = await startAdapter();
    const chat = dt.twin.channels['agent-chat']!;
    dt.twin.userSays({ user: 'Alice', channel: chat, content: 'hi' });
    await waitFor(() => dt.core.received.length === 1, 5_000, 'the message');
    const target = { ...dt.core.received[0]!.replyTarget, replyTo: undefined };
    const progress = await a.post(target, '⏳ Working…');
    const since = dt.twin.calls.length;
    const signal = new AbortController().signal;
    // 6 progress edits of one message (decoration: the latest wins) and 6 answers, asked for at once.
    const edits = Array.from({ length: 6 }, (_, i) => a.edit(target, progress.ref, `⏳ step ${i}`, { decoration: { signal } }).catch(() => 'dropped'));
    const answers = Array.from({ length: 6 }, (_, i) => a.post(target, `answer ${i}`));
    await Promise.all([...answers, ...edits]);
    const calls = dt.twin.calls.slice(since);
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
