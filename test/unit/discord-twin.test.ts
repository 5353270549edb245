/**
 * The Discord twin against the real discord.js client: the Gateway flow (Hello, Identify →
 * READY + GUILD_CREATE, heartbeats, Resume with replay, op 9 → new session, op 7), REST
 * (messages, history paging, threads, reactions, typing, 429 handling) and interactions
 * (bulk command overwrite, INTERACTION_CREATE, callback, webhook edit and follow-up; message
 * components and button clicks).
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  ChannelType,
  Client,
  Events,
  GatewayIntentBits,
  Partials,
  type ButtonInteraction,
  type ChatInputCommandInteraction,
  type Message,
  type TextChannel,
} from 'discord.js';
import { startDiscordTwin, type DiscordTwin } from '../twins/discord/index.js';
import { waitFor } from '../helpers/sandbox.js';

let twin: DiscordTwin;
let client: Client;
let seen: Message[];

async function connect(): Promise<Client> {
  const c = new Client({
    intents: [GatewayIntentBits.Guilds, GatewayIntentBits.GuildMessages, GatewayIntentBits.MessageContent, GatewayIntentBits.DirectMessages],
    partials: [Partials.Channel],
    rest: { api: twin.apiUrl },
  });
  c.on(Events.MessageCreate, (m) => seen.push(m));
  const ready = new Promise<void>((r) => c.once(Events.ClientReady, () => r()));
  await c.login(twin.token);
  await ready;
  return c;
}

beforeEach(async () => {
  twin = await startDiscordTwin({ heartbeatIntervalMs: 250 });
  seen = [];
  client = await connect();
});

afterEach(async () => {
  await client?.destroy();
  await twin?.close();
});

describe('Discord twin with discord.js', () => {
  it('connects: Hello, Identify, READY, GUILD_CREATE with channels, heartbeats acknowledged', async () => {
    const out = twin.frames.filter((f) => f.dir === 'out');
    expect(out[0]).toMatchObject({ op: 10 });
    expect(twin.frames.find((f) => f.dir === 'in' && f.op === 2)?.d).toMatchObject({ token: '[token]', intents: 1 | (1 << 9) | (1 << 12) | (1 << 15) });
    expect(out.filter((f) => f.op === 0).map((f) => [f.t, f.s])).toEqual([
      ['READY', 1],
      ['GUILD_CREATE', 2],
    ]);
    expect(client.user?.id).toBe(twin.bot.id);
    expect(client.channels.cache.get(twin.channels['agent-chat']!)?.type).toBe(ChannelType.GuildText);
    await waitFor(
      () => twin.frames.some((f) => f.dir === 'in' && f.op === 1) && twin.frames.some((f) => f.dir === 'out' && f.op === 11),
      5_000,
      'a heartbeat and its ACK',
    );
    await waitFor(() => client.ws.ping >= 0, 5_000, 'discord.js to measure the heartbeat latency');
    expect(twin.callsTo('GET /gateway/bot')).toHaveLength(1);
  });

  it('dispatches MESSAGE_CREATE; REST creates, edits, deletes, reacts, types and pages history', async () => {
    const chat = twin.channels['agent-chat']!;
    const said = twin.userSays({ user: 'Alice', channel: chat, content: 'hi <@' + twin.bot.id + '>' });
    await waitFor(() => seen.find((m) => m.id === said.id), 5_000, 'messageCreate');
    const m = seen.find((x) => x.id === said.id)!;
    expect(m.author.displayName).toBe('Alice');
    expect(m.mentions.users.has(twin.bot.id)).toBe(true);

    const channel = client.channels.cache.get(chat)!;
    if (!channel.isSendable()) throw new Error('not sendable');
    const sent = await channel.send({
      content: 'hello @everyone',
      allowedMentions: { parse: [] },
      reply: { messageReference: said.id, failIfNotExists: false },
    });
    expect(twin.pings.get(sent.id)).toEqual({ everyone: false, users: [], repliedUser: false });
    const loud = await channel.send({ content: 'ping @everyone' }); // no allowed_mentions: Discord parses everything
    expect(twin.pings.get(loud.id)?.everyone).toBe(true);
    await channel.messages.edit(sent.id, { content: 'edited', allowedMentions: { parse: [] } });
    await channel.messages.react(said.id, '👀');
    expect(twin.botReactions(said.id)).toEqual(['👀']);
    await channel.sendTyping();
    expect(twin.callsTo('POST /channels/:c/typing')).toHaveLength(1);
    await channel.messages.delete(loud.id);
    expect(twin.channelMessages(chat).map((x) => x.content)).toEqual([said.content, 'edited']);
    await expect(channel.send({ content: 'x'.repeat(2001) })).rejects.toMatchObject({ status: 400, code: 50035 });

    for (let i = 0; i < 5; i++) twin.userSays({ user: 'Bob', channel: chat, content: `n${i}` });
    const page = await channel.messages.fetch({ after: said.id, limit: 3 });
    expect([...page.values()].map((x) => x.content)).toEqual(['n1', 'n0', 'edited']); // the 3 right after, newest first
  });

  it("a user's files arrive as attachments whose url and proxy_url the twin serves; downloads recorded, faults injected", async () => {
    const chat = twin.channels['agent-chat']!;
    const said = twin.userSays({
      user: 'Alice',
      channel: chat,
      content: 'two files',
      files: [
        { name: 'notes.txt', bytes: 'some notes', contentType: 'text/plain' },
        { name: 'big.bin', bytes: 'x', size: 2_000_000 },
      ],
    });
    await waitFor(() => seen.find((m) => m.id === said.id), 5_000, 'the message');
    const [notes, big] = [...seen.find((m) => m.id === said.id)!.attachments.values()];
    expect(notes).toMatchObject({ name: 'notes.txt', size: 10, contentType: 'text/plain' });
    expect(notes!.url).toMatch(new RegExp(`^${twin.url}/attachments/${chat}/${notes!.id}/notes\\.txt\\?ex=`));
    expect(notes!.proxyURL).toMatch(new RegExp(`^${twin.url}/proxy/attachments/${chat}/${notes!.id}/notes\\.txt\\?`));
    expect(big).toMatchObject({ name: 'big.bin', size: 2_000_000, contentType: null }); // the reported size, as given
    expect(await (await fetch(notes!.url)).text()).toBe('some notes');
    const proxied = await fetch(notes!.proxyURL);
    expect([proxied.status, proxied.headers.get('content-type'), await proxied.text()]).toEqual([200, 'text/plain', 'some notes']);
    twin.failNextDownload(404, { attachmentId: notes!.id });
    expect((await fetch(notes!.url)).status).toBe(404);
    twin.failNextDownload(500);
    expect((await fetch(notes!.url)).status).toBe(500);
    expect((await fetch(notes!.url.replace('notes.txt', 'other.txt'))).status).toBe(404);
    expect((await fetch(notes!.url)).status).toBe(200);
    expect(twin.cdnDownloads.map((d) => [d.via, d.status])).toEqual([
      ['cdn', 200],
      ['proxy', 200],
      ['cdn', 404],
      ['cdn', 500],
      ['cdn', 404],
      ['cdn', 200],
    ]);
    // The bot's uploads are served too.
    const sent = await (client.channels.cache.get(chat) as TextChannel).send({ files: [{ attachment: Buffer.from('report'), name: 'r.txt' }] });
    expect(await (await fetch(sent.attachments.first()!.url)).text()).toBe('report');
  });

  it('waits out a 429 and retries (Retry-After), the message is created once', async () => {
    const chat = twin.channels['agent-chat']!;
    twin.failNext('POST /channels/:c/messages', { status: 429, retryAfter: 0.3 });
    const channel = client.channels.cache.get(chat)!;
    if (!channel.isSendable()) throw new Error('not sendable');
    const t0 = Date.now();
    await channel.send({ content: 'after the limit', allowedMentions: { parse: [] } });
    expect(Date.now() - t0).toBeGreaterThanOrEqual(250);
    expect(twin.callsTo('POST /channels/:c/messages').map((c) => c.status)).toEqual([429, 200]);
    expect(twin.botMessages(chat).map((m) => m.content)).toEqual(['after the limit']);
  });

  it('message nonce: with enforce_nonce a repeated nonce returns the first message; without it, a new one', async () => {
    const chat = twin.channels['agent-chat']!;
    const channel = client.channels.cache.get(chat)!;
    if (!channel.isSendable()) throw new Error('not sendable');
    const a = await channel.send({ content: 'once', nonce: 'n-1', enforceNonce: true });
    const b = await channel.send({ content: 'once', nonce: 'n-1', enforceNonce: true });
    expect(b.id).toBe(a.id);
    expect(a.nonce).toBe('n-1');
    await channel.send({ content: 'not enforced', nonce: 'n-2' });
    await channel.send({ content: 'not enforced', nonce: 'n-2' });
    expect(twin.botMessages(chat).map((m) => m.content)).toEqual(['once', 'not enforced', 'not enforced']);
    expect(twin.nonceReplays).toEqual([{ channelId: chat, nonce: 'n-1', messageId: a.id, at: expect.any(Number) }]);
    await expect(channel.send({ content: 'x', nonce: 'n'.repeat(26), enforceNonce: true })).rejects.toMatchObject({ status: 400, code: 50035 });
  });

  it('creates threads (id = message id) and announces them with THREAD_CREATE', async () => {
    const chat = twin.channels['agent-chat']!;
    const said = twin.userSays({ user: 'Alice', channel: chat, content: 'start here' });
    const threadId = twin.createThread(chat, said.id, 'side topic');
    expect(threadId).toBe(said.id);
    await waitFor(() => client.channels.cache.get(threadId)?.isThread(), 5_000, 'the thread in the cache');
    const inThread = twin.userSays({ user: 'Alice', channel: threadId, content: 'in the thread' });
    await waitFor(() => seen.find((m) => m.id === inThread.id), 5_000, 'the thread message');
    const thread = client.channels.cache.get(threadId)!;
    expect(thread.isThread() && thread.parentId).toBe(chat);

    const other = twin.userSays({ user: 'Alice', channel: chat, content: 'another' });
    const channel = client.channels.cache.get(chat)!;
    if (channel.type !== ChannelType.GuildText) throw new Error('not text');
    const made = await channel.threads.create({ startMessage: other.id, name: 'bot thread' });
    expect(made.id).toBe(other.id);
  });

  it('resumes after a drop and replays what was missed; a failed resume (op 9) starts a new session', async () => {
    const chat = twin.channels['agent-chat']!;
    const firstSession = twin.sessionId();
    const resumed = new Promise<number>((r) => client.once(Events.ShardResume, (_id, replayed) => r(replayed)));
    twin.disconnect({ resumable: true });
    const during = twin.userSays({ user: 'Alice', channel: chat, content: 'while away' });
    expect(await resumed).toBeGreaterThanOrEqual(1); // discord.js counts RESUMED itself too
    await waitFor(() => seen.find((m) => m.id === during.id), 5_000, 'the replayed message');
    expect(twin.connections).toEqual(['/gateway', '/gateway-resume']);
    expect(twin.sessionId()).toBe(firstSession);

    const reidentified = new Promise<void>((r) => client.once(Events.ShardReady, () => r()));
    twin.disconnect({ resumable: false });
    const lost = twin.userSays({ user: 'Alice', channel: chat, content: 'lost to the gateway' });
    await reidentified;
    expect(twin.frames.some((f) => f.dir === 'out' && f.op === 9 && f.d === false)).toBe(true);
    expect(twin.sessionId()).not.toBe(firstSession);
    expect(seen.find((m) => m.id === lost.id)).toBeUndefined();
    expect(twin.channelMessages(chat).map((m) => m.id)).toContain(lost.id);

    const again = new Promise<void>((r) => client.once(Events.ShardResume, () => r()));
    twin.requestReconnect();
    await again;
    expect(twin.frames.some((f) => f.dir === 'out' && f.op === 7)).toBe(true);
  });

  it('bulk-overwrites commands; INTERACTION_CREATE → deferred callback → edit original → follow-up', async () => {
    await client.application!.commands.set([{ name: 'status', description: 'Show status' }], twin.guildId);
    expect(twin.callsTo('PUT /applications/:a/guilds/:g/commands')).toHaveLength(1);
    const got = new Promise<ChatInputCommandInteraction>((r) => client.once(Events.InteractionCreate, (i) => i.isChatInputCommand() && r(i)));
    twin.slashCommand({ user: 'Alice', channel: twin.channels['agent-chat']!, name: 'status' });
    const interaction = await got;
    expect(interaction.commandName).toBe('status');
    await interaction.deferReply();
    await interaction.editReply({ content: 'all good', allowedMentions: { parse: [] } });
    await interaction.followUp({ content: 'one more thing', allowedMentions: { parse: [] } });
    expect(twin.callsTo('POST /interactions/:id/:token/callback')[0]?.body).toMatchObject({ type: 5 });
    expect(twin.callsTo('PATCH /webhooks/:app/:token/messages/@original')).toHaveLength(1);
    expect(twin.botMessages(twin.channels['agent-chat']).map((m) => m.content)).toEqual(['all good', 'one more thing']);
  });

  it('stores buttons on messages, refuses what Discord refuses; a click is a type 3 interaction answered by type 6/7', async () => {
    const chat = client.channels.cache.get(twin.channels['agent-chat']!)!;
    if (chat.type !== ChannelType.GuildText) throw new Error('not text');
    const button = (id: string, label = 'Go') => ({ type: 2, style: 1, label, custom_id: id });
    const sent = await chat.send({ content: 'card', components: [{ type: 1, components: [button('a'), button('b')] }] });
    expect(twin.botMessages(chat.id)[0]!.components).toEqual([{ type: 1, components: [button('a'), button('b')] }]);
    const row = (n: number) => ({ type: 1, components: Array.from({ length: n }, (_, k) => button(`r${k}`)) });
    await expect(chat.send({ content: 'x', components: [row(6)] })).rejects.toMatchObject({ status: 400, code: 50035 });
    await expect(
      chat.send({ content: 'x', components: Array.from({ length: 6 }, () => ({ type: 1, components: [button(`x${Math.random()}`)] })) }),
    ).rejects.toMatchObject({
      code: 50035,
    });
    await expect(chat.send({ content: 'x', components: [{ type: 1, components: [button('y'.repeat(101))] }] })).rejects.toMatchObject({ code: 50035 });
    await expect(chat.send({ content: 'x', components: [{ type: 1, components: [button('z', 'l'.repeat(81))] }] })).rejects.toMatchObject({ code: 50035 });
    await expect(chat.send({ content: 'x', components: [{ type: 1, components: [button('d'), button('d')] }] })).rejects.toMatchObject({ code: 50035 });
    expect(() => twin.clickButton({ user: 'Alice', messageId: sent.id, customId: 'nope' })).toThrow(/no button nope/);

    const got = new Promise<ButtonInteraction>((r) => client.once(Events.InteractionCreate, (i) => i.isButton() && r(i)));
    const alice = twin.user('Alice');
    const i = twin.clickButton({ user: alice, messageId: sent.id, customId: 'b' });
    const click = await got;
    expect([click.customId, click.user.id, click.message.id, click.channelId]).toEqual(['b', alice.id, sent.id, chat.id]);
    await click.update({ content: 'decided', components: [] });
    expect(twin.interactionReplies(i).callback).toMatchObject({ type: 7, data: { content: 'decided', components: [] } });
    expect(twin.botMessages(chat.id)[0]).toMatchObject({ content: 'decided', components: [] });
    await expect(click.deferUpdate()).rejects.toThrow(); // answered already (discord.js refuses locally)

    // A slash command cannot be answered with type 6.
    await client.application!.commands.set([{ name: 'status', description: 'Show status' }], twin.guildId);
    const cmd = new Promise<ChatInputCommandInteraction>((r) => client.once(Events.InteractionCreate, (x) => x.isChatInputCommand() && r(x)));
    const s = twin.slashCommand({ user: 'Alice', channel: chat.id, name: 'status' });
    await cmd;
    await expect(client.rest.post(`/interactions/${s.id}/${s.token}/callback`, { body: { type: 6 }, auth: false })).rejects.toMatchObject({ status: 400 });
  });
});
