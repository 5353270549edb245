/**
 * End to end on Discord: thread seeding in a chat channel. A thread started on one of the bot's
 * answers begins from the channel's main session as it was at that answer — on the latest answer
 * by forking Claude's session (`--resume <main> --fork-session`: the thread gets its own agent
 * session, the channel keeps its own), on an older answer with the transcript up to that answer
 * as context. agentbridge runs as its own process with the real `claude` CLI against the
 * scripted model; Discord is the twin.
 */
import path from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { allText, lastUserText, startAnthropicModel, type AnthropicModel, type RecordedRequest } from '../models/anthropic.js';
import { runCli, startAgentbridge, type AgentbridgeProcess } from '../helpers/agentbridge.js';
import { processesMentioning } from '../helpers/procs.js';
import { makeSandbox, waitFor, type Sandbox } from '../helpers/sandbox.js';
import { startDiscordTwin, type DiscordTwin } from '../twins/discord/index.js';
import { answer, discordEnv } from '../twins/discord/harness.js';

const CHAT = ['chat-fork', 'chat-older'];
let model: AnthropicModel;
let sb: Sandbox;
let twin: DiscordTwin;
let ab: AgentbridgeProcess;
let env: NodeJS.ProcessEnv;

/** The Claude Code session a model request belongs to (the CLI sends it with every request). */
const sessionOf = (r: RecordedRequest) => String(r.headers['x-claude-code-session-id'] ?? '');

/** `agentbridge sessions show <id>` (read-only, safe while agentbridge runs). */
async function show(conversationId: string): Promise<string> {
  const r = await runCli(['sessions', 'show', conversationId], env, sb.root);
  expect(r.stderr).toBe('');
  expect(r.code).toBe(0);
  return r.stdout;
}

/** The stored agent session of a conversation (read-only look at the store). */
function agentSession(conversationId: string): { agent_session_id: string | null; seeded_from: string | null; seeded_at: number | null } | undefined {
  const db = new Database(path.join(sb.root, 'data', 'agentbridge.db'), { readonly: true, fileMustExist: true });
  try {
    return db.prepare('SELECT agent_session_id, seeded_from, seeded_at FROM conversations WHERE id = ?').get(conversationId) as never;
  } finally {
    db.close();
  }
}

/** Main requests since `mark` whose last user text contains `text`. */
function requestsFor(mark: number, text: string): RecordedRequest[] {
  return model
    .mainRequests()
    .slice(mark)
    .filter((r) => lastUserText(r).includes(text));
}

beforeAll(async () => {
  model = await startAnthropicModel();
  sb = makeSandbox();
  twin = await startDiscordTwin({ channels: CHAT });
  env = discordEnv(
    sb,
    model,
    twin,
    CHAT.map((c) => twin.channels[c]!),
  );
  ab = await startAgentbridge(env, sb.root);
  await waitFor(() => twin.connected(), 10_000, 'agentbridge on the Gateway');
});

afterAll(async () => {
  const code = await ab?.stop();
  await twin?.close();
  await model?.close();
  expect(code).toBe(0);
  expect(processesMentioning(sb.root)).toEqual([]);
  sb?.cleanup();
});

describe('Discord thread seeding, end to end', () => {
  it('a thread on the latest answer forks the main session: the main turns as context, its own agent session, the channel keeps its own', async () => {
    const ch = twin.channels['chat-fork']!;
    const mainId = `discord:${twin.guildId}:${ch}`;
    twin.userSays({ user: 'Alice', channel: ch, content: 'the codename is OSPREY' });
    await answer(twin, ch, 'echo: the codename is OSPREY');
    let mark = model.mainRequests().length;
    twin.userSays({ user: 'Alice', channel: ch, content: 'the launch day is THURSDAY' });
    const latest = await answer(twin, ch, 'echo: the launch day is THURSDAY');
    const mainSession = sessionOf(requestsFor(mark, 'THURSDAY')[0]!);
    expect(mainSession).toMatch(/^[0-9a-f-]{36}$/);
    await waitFor(() => agentSession(mainId)?.agent_session_id === mainSession, 10_000, 'the main session stored');

    // Bob starts a thread on the latest answer and writes in it.
    const thread = twin.createThread(ch, latest.id, 'about the launch');
    const threadId = `${mainId}:${thread}`;
    mark = model.mainRequests().length;
    twin.userSays({ user: 'Bob', channel: thread, content: 'what do we know so far?' });
    const inThread = await answer(twin, thread, 'echo: ');
    expect(inThread.content).toContain('what do we know so far?');

    const first = requestsFor(mark, 'what do we know so far?')[0]!;
    // The main session's turns came along, through Claude's own session (no transcript in the prompt).
    const seen = allText(first);
    expect(seen).toContain('the codename is OSPREY');
    expect(seen).toContain('echo: the codename is OSPREY');
    expect(seen).toContain('the launch day is THURSDAY');
    expect(seen).toContain('echo: the launch day is THURSDAY');
    expect(seen).not.toContain('<earlier-conversation>');
    expect(lastUserText(first)).not.toContain('OSPREY');
    // A fork: a new Claude session for the thread.
    const forked = sessionOf(first);
    expect(forked).toMatch(/^[0-9a-f-]{36}$/);
    expect(forked).not.toBe(mainSession);

    // The store and `sessions show`: the thread has its own session and says where it came from.
    await waitFor(() => agentSession(threadId)?.agent_session_id === forked, 10_000, 'the thread session stored');
    expect(agentSession(threadId)).toMatchObject({ seeded_from: `discord:${ch}:${latest.id}`, seeded_at: expect.any(Number) });
    expect(agentSession(mainId)?.agent_session_id).toBe(mainSession);
    const shown = await show(threadId);
    expect(shown).toContain(`seeded from    discord:${ch}:${latest.id}`);
    expect(shown).toContain(`agent session  ${forked} (claude)`);
    expect(shown).toContain(`Thread seeded from discord:${ch}:${latest.id}: forked agent session ${mainSession}.`);
    expect(await show(mainId)).toContain(`agent session  ${mainSession} (claude)`);

    // Seeded once: the thread's next turn resumes its own session; the channel goes on with its own.
    mark = model.mainRequests().length;
    twin.userSays({ user: 'Bob', channel: thread, content: 'thread-only detail KESTREL' });
    await answer(twin, thread, 'echo: thread-only detail KESTREL');
    expect(requestsFor(mark, 'KESTREL').map(sessionOf)).toEqual([forked]);
    mark = model.mainRequests().length;
    twin.userSays({ user: 'Alice', channel: ch, content: 'back in the channel' });
    await answer(twin, ch, 'echo: back in the channel');
    const channelReq = requestsFor(mark, 'back in the channel')[0]!;
    expect(sessionOf(channelReq)).toBe(mainSession);
    expect(allText(channelReq)).toContain('OSPREY');
    expect(allText(channelReq)).not.toContain('what do we know so far?');
    expect(allText(channelReq)).not.toContain('KESTREL');
    expect((await show(threadId)).match(/Thread seeded from/g)).toHaveLength(1);
  });

  it('a thread on an older answer gets the transcript up to that answer, not the later turn', async () => {
    const ch = twin.channels['chat-older']!;
    const mainId = `discord:${twin.guildId}:${ch}`;
    twin.userSays({ user: 'Alice', channel: ch, content: 'first topic is HERON' });
    const older = await answer(twin, ch, 'echo: first topic is HERON');
    twin.userSays({ user: 'Alice', channel: ch, content: 'second topic is PUFFIN' });
    await answer(twin, ch, 'echo: second topic is PUFFIN');
    const mainSession = agentSession(mainId)?.agent_session_id;
    expect(mainSession).toBeTruthy();

    const thread = twin.createThread(ch, older.id, 'back to the first topic');
    const threadId = `${mainId}:${thread}`;
    const mark = model.mainRequests().length;
    twin.userSays({ user: 'Carol', channel: thread, content: 'tell me about the first topic' });
    await answer(twin, thread, 'echo: ');
    const first = requestsFor(mark, 'tell me about the first topic')[0]!;
    const seen = lastUserText(first);
    // The transcript up to the older answer, as context in the prompt …
    expect(seen).toContain('<earlier-conversation>');
    expect(seen).toContain('[Alice]: first topic is HERON');
    expect(seen).toContain('[assistant]: echo: first topic is HERON');
    // … and nothing said after it.
    expect(allText(first)).not.toContain('PUFFIN');
    // A fresh Claude session (not the channel's, not a fork of it).
    expect(sessionOf(first)).not.toBe(mainSession);
    expect(first.body.messages!.filter((m) => m.role === 'assistant')).toEqual([]);

    await waitFor(() => agentSession(threadId)?.seeded_at, 10_000, 'the seed recorded');
    const shown = await show(threadId);
    expect(shown).toContain(`seeded from    discord:${ch}:${older.id}`);
    expect(shown).toMatch(new RegExp(`Thread seeded from discord:${ch}:${older.id}: 2 earlier entries given as context\\.`));
    expect(agentSession(mainId)?.agent_session_id).toBe(mainSession);
  });
});
