/**
 * End to end on Discord: agentbridge as its own process, the real discord.js client against the
 * Discord twin, the real `claude` CLI against the scripted Anthropic model. One agentbridge,
 * twin, model and sandbox for the file; each test talks in its own chat channel.
 */
import path from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { allText, echo, lastUserText, startAnthropicModel, type AnthropicModel } from '../models/anthropic.js';
import { startAgentbridge, type AgentbridgeProcess } from '../helpers/agentbridge.js';
import { processesMentioning } from '../helpers/procs.js';
import { makeSandbox, waitFor, type Sandbox } from '../helpers/sandbox.js';
import { startDiscordTwin, type DiscordTwin } from '../twins/discord/index.js';
import { answer, botAnswers, botWrites, countAnswers, discordEnv } from '../twins/discord/harness.js';

const CHAT = ['chat-session', 'chat-crowd', 'chat-thread', 'chat-long', 'chat-mentions', 'chat-limits'];
let model: AnthropicModel;
let sb: Sandbox;
let twin: DiscordTwin;
let ab: AgentbridgeProcess;

beforeAll(async () => {
  model = await startAnthropicModel();
  sb = makeSandbox();
  twin = await startDiscordTwin({ channels: [...CHAT, 'general'] });
  // These tests are about messages that queue while a turn runs (combined into the next turn, in
  // order); steering them into the running turn (the default busy mode) is tested in interactive-*.test.ts.
  ab = await startAgentbridge(
    {
      ...discordEnv(
        sb,
        model,
        twin,
        CHAT.map((c) => twin.channels[c]!),
      ),
      AGENTBRIDGE_BUSY_MODE: 'queue',
    },
    sb.root,
  );
  await waitFor(() => twin.connected(), 10_000, 'agentbridge on the Gateway');
});

afterEach(() => model.setResponder(undefined));

afterAll(async () => {
  const code = await ab?.stop();
  await twin?.close();
  await model?.close();
  expect(code).toBe(0);
  expect(processesMentioning(sb.root)).toEqual([]);
  // The bot token never reaches the logs (docs/ARCHITECTURE.md §3, invariant 7).
  expect(JSON.stringify(ab.logs) + ab.stderr()).not.toContain(twin.token);
  sb?.cleanup();
});

describe('Discord with Claude Code, end to end', () => {
  it('answers in a chat channel, replying to the message; a second message continues the session', async () => {
    const ch = twin.channels['chat-session']!;
    const first = twin.userSays({ user: 'Alice', channel: ch, content: 'remember the word PELICAN' });
    const a1 = await answer(twin, ch, 'echo: remember the word PELICAN');
    expect(a1.message_reference?.message_id).toBe(first.id);
    await waitFor(() => twin.botReactions(first.id).includes('✅') || undefined, 15_000, 'the ✅ reaction');
    expect(twin.botReactions(first.id)).toEqual(['👀', '✅']);
    // No typing indicator while the progress message shows the work.
    expect(twin.callsTo('POST /channels/:c/typing').some((c) => c.path === `/channels/${ch}/typing`)).toBe(false);

    const mark = model.mainRequests().length;
    twin.userSays({ user: 'Alice', channel: ch, content: 'what was the word?' });
    await answer(twin, ch, 'echo: what was the word?');
    const second = model.mainRequests().slice(mark).at(-1)!;
    expect(allText(second)).toContain('remember the word PELICAN');
    expect(allText(second)).toContain('echo: remember the word PELICAN');
    expect(botAnswers(twin, ch).map((m) => m.content)).toEqual(['echo: remember the word PELICAN', 'echo: what was the word?']);
  });

  it('in a channel that is not listed, answers only a mention', async () => {
    const general = twin.channels.general!;
    twin.userSays({ user: 'Bob', channel: general, content: 'just chatting, SECRET-NOT-FOR-BOT' });
    const asked = twin.userSays({ user: 'Bob', channel: general, content: 'what is 2+2?', mentionsBot: true });
    const a = await answer(twin, general, 'echo: what is 2+2?');
    expect(a.message_reference?.message_id).toBe(asked.id);
    expect(botAnswers(twin, general)).toHaveLength(1);
    expect(model.requests.some((r) => allText(r).includes('SECRET-NOT-FOR-BOT'))).toBe(false);
  });

  it('two users writing while a turn runs: both reach the agent, in order, attributed', async () => {
    const ch = twin.channels['chat-crowd']!;
    let release!: () => void;
    const held = new Promise<void>((r) => (release = r));
    model.setResponder(async (req) => {
      if (lastUserText(req).includes('long job')) await held;
      return echo(req);
    });
    const mark = model.mainRequests().length;
    twin.userSays({ user: 'Alice', channel: ch, content: 'start the long job' });
    await waitFor(
      () =>
        model
          .mainRequests()
          .slice(mark)
          .some((r) => lastUserText(r).includes('long job')),
      30_000,
      'the first turn at the model',
    );
    const bob = twin.userSays({ user: 'Bob', channel: ch, content: 'also check the tests' });
    const carol = twin.userSays({ user: 'Carol', channel: ch, content: 'and the docs' });
    // Both are in agentbridge's inbox before the first turn is let go.
    await waitFor(() => accepted(bob.id) && accepted(carol.id), 10_000, 'the two messages accepted');
    release();
    await answer(twin, ch, 'echo: start the long job');
    const combined = await answer(twin, ch, 'echo: [Bob]: also check the tests');
    expect(combined.content).toBe('echo: [Bob]: also check the tests\n\n[Carol]: and the docs');
  });

  it('a thread is its own conversation; a thread on a bot answer records its seed', async () => {
    const ch = twin.channels['chat-thread']!;
    const root = twin.userSays({ user: 'Alice', channel: ch, content: 'channel topic ZEBRA' });
    const rootAnswer = await answer(twin, ch, 'echo: channel topic ZEBRA');

    const thread = twin.createThread(ch, root.id, 'side topic');
    const mark = model.mainRequests().length;
    twin.userSays({ user: 'Alice', channel: thread, content: 'thread topic GIRAFFE' });
    const inThread = await answer(twin, thread, 'echo: thread topic GIRAFFE');
    expect(inThread.channel_id).toBe(thread);
    const threadReq = model.mainRequests().slice(mark).at(-1)!;
    expect(allText(threadReq)).not.toContain('ZEBRA');

    const mark2 = model.mainRequests().length;
    twin.userSays({ user: 'Alice', channel: ch, content: 'back in the channel' });
    await answer(twin, ch, 'echo: back in the channel');
    const channelReq = model.mainRequests().slice(mark2).at(-1)!;
    expect(allText(channelReq)).toContain('ZEBRA');
    expect(allText(channelReq)).not.toContain('GIRAFFE');

    // A thread started on the bot's answer: its conversation records where it was seeded from.
    const seeded = twin.createThread(ch, rootAnswer.id, 'about the answer');
    twin.userSays({ user: 'Bob', channel: seeded, content: 'tell me more' });
    await answer(twin, seeded, 'echo: ');
    const db = new Database(path.join(sb.root, 'data', 'agentbridge.db'), { readonly: true, fileMustExist: true });
    try {
      const row = db.prepare('SELECT seeded_from FROM conversations WHERE id = ?').get(`discord:${twin.guildId}:${ch}:${seeded}`) as {
        seeded_from: string | null;
      };
      expect(row.seeded_from).toBe(`discord:${ch}:${rootAnswer.id}`);
    } finally {
      db.close();
    }
  });

  it('a 2,000+ character answer with code blocks arrives complete, every block intact, no message over 2,000', async () => {
    const ch = twin.channels['chat-long']!;
    const blocks = [1, 2, 3].map(
      (n) => '```ts\n' + Array.from({ length: 30 }, (_, i) => `const v${n}_${i} = ${i} * ${n}; // line ${i} of block ${n}`).join('\n') + '\n```',
    );
    const prose = [1, 2, 3, 4].map((n) => `Paragraph ${n}: ` + 'lorem ipsum dolor sit amet '.repeat(6).trim() + '.');
    const long = [prose[0], blocks[0], prose[1], blocks[1], prose[2], blocks[2], prose[3]].join('\n\n');
    expect(long.length).toBeGreaterThan(4000);
    model.setResponder(() => ({ text: long }));
    twin.userSays({ user: 'Alice', channel: ch, content: 'show me the code' });
    await answer(twin, ch, 'Paragraph 1:');
    await waitFor(() => botAnswers(twin, ch).some((m) => m.content.includes('Paragraph 4:')), 20_000, 'the last chunk');
    const parts = botAnswers(twin, ch).map((m) => m.content);
    expect(parts.length).toBeGreaterThanOrEqual(3);
    for (const p of parts) {
      expect(p.length).toBeLessThanOrEqual(2000);
      expect((p.match(/^```/gm) ?? []).length % 2).toBe(0); // every message's fences are balanced
    }
    for (const b of blocks) expect(parts.filter((p) => p.includes(b))).toHaveLength(1);
    for (const p of prose) expect(parts.join('\n').includes(p)).toBe(true);
    for (const w of botWrites(twin)) expect((w.body.content ?? '').length).toBeLessThanOrEqual(2000);
  });

  it('an answer with @everyone and <@id> pings no one', async () => {
    const ch = twin.channels['chat-mentions']!;
    const alice = twin.user('Alice');
    model.setResponder(() => ({ text: `Heads up @everyone and @here: <@${alice.id}> broke the build.` }));
    twin.userSays({ user: alice, channel: ch, content: 'who broke it?' });
    const a = await answer(twin, ch, 'Heads up');
    expect(a.content).toBe(`Heads up @\u200Beveryone and @\u200Bhere: <@${alice.id}> broke the build.`);
    const writes = botWrites(twin);
    expect(writes.length).toBeGreaterThan(0);
    for (const w of writes) expect(w.body.allowed_mentions).toMatchObject({ parse: [], replied_user: false });
    for (const [id, p] of twin.pings) expect({ id, ...p }).toEqual({ id, everyone: false, users: [], repliedUser: false });
  });

  it('a 429 on message create is waited out by discord.js; the answer arrives once', async () => {
    const ch = twin.channels['chat-limits']!;
    twin.failNext(`POST /channels/${ch}/messages`, { status: 429, retryAfter: 1 });
    const mark = twin.calls.length;
    twin.userSays({ user: 'Alice', channel: ch, content: 'are we rate limited?' });
    await answer(twin, ch, 'echo: are we rate limited?');
    const creates = twin.calls.slice(mark).filter((c) => c.method === 'POST' && c.path === `/channels/${ch}/messages`);
    expect(creates.map((c) => c.status).slice(0, 2)).toEqual([429, 200]);
    expect(creates[1]!.at - creates[0]!.at).toBeGreaterThanOrEqual(900);
    // Once: a later message's answer comes after it, and the first is still there once.
    twin.userSays({ user: 'Alice', channel: ch, content: 'and now?' });
    await answer(twin, ch, 'echo: and now?');
    expect(countAnswers(twin, ch, 'echo: are we rate limited?')).toBe(1);
    expect(twin.botMessages(ch)).toHaveLength(2);
  });
});

/** True once agentbridge logged that it handed Discord message `id` to the core (debug log). */
function accepted(id: string): boolean {
  return ab.logs.some((l) => l.eventKey === `discord:${id}` && l.outcome === 'accepted');
}
