/**
 * End to end on Discord: chat commands through the `/agent` application command (registered by
 * bulk overwrite at start, answered through the interaction callback, deferred when late) and
 * as `@agentbridge <command>` messages in chat channels and threads; access control (admins,
 * allowed users); stopping a running turn; reset; /metrics. agentbridge runs as its own process
 * with the real `claude` CLI against the scripted model; Discord is the twin.
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { allText, lastUserText, startAnthropicModel, type AnthropicModel, type RecordedRequest } from '../models/anthropic.js';
import { startAgentbridge, type AgentbridgeProcess } from '../helpers/agentbridge.js';
import { processesMentioning } from '../helpers/procs.js';
import { makeSandbox, waitFor, type Sandbox } from '../helpers/sandbox.js';
import { startDiscordTwin, type ApiMessage, type DiscordTwin } from '../twins/discord/index.js';
import { agentCommand, answer, botAnswers, discordEnv } from '../twins/discord/harness.js';

const CHAT = ['chat-slash', 'chat-mention', 'chat-access', 'chat-stop', 'chat-reset', 'chat-metrics', 'chat-restart'];
let model: AnthropicModel;
let sb: Sandbox;
let twin: DiscordTwin;
let ab: AgentbridgeProcess;
let env: NodeJS.ProcessEnv;

beforeAll(async () => {
  model = await startAnthropicModel();
  sb = makeSandbox();
  twin = await startDiscordTwin({ channels: [...CHAT, 'general'] });
  const [alice, bob, root] = ['Alice', 'Bob', 'Root'].map((n) => twin.user(n));
  env = {
    ...discordEnv(
      sb,
      model,
      twin,
      CHAT.map((c) => twin.channels[c]!),
    ),
    AGENTBRIDGE_ADMINS: `discord:${root!.id}`,
    AGENTBRIDGE_ALLOWED_USERS: `discord:${alice!.id},discord:${bob!.id}`,
    AGENTBRIDGE_WORKSPACES_ROOT: path.join(sb.root, 'workspaces'),
    // `/agent restart` exits (code 75) for a supervisor to start it again: here, the test.
    AGENTBRIDGE_RESTART_MODE: 'exit',
  };
  ab = await startAgentbridge(env, sb.root);
  await waitFor(() => twin.connected(), 10_000, 'agentbridge on the Gateway');
});

afterEach(() => model.setResponder(undefined));

afterAll(async () => {
  const code = await ab?.stop();
  await twin?.close();
  await model?.close();
  expect(code).toBe(0);
  expect(processesMentioning(sb.root)).toEqual([]);
  sb?.cleanup();
});

/** `user` writes `@agentbridge <text>` in `channel`; resolves with the bot's reply to that message. */
async function mention(user: string, channel: string, text: string): Promise<ApiMessage> {
  const m = twin.userSays({ user, channel, content: text, mentionsBot: true });
  return waitFor(
    () => twin.botMessages(channel).find((b) => b.message_reference?.message_id === m.id && !b.content.startsWith('⏳')),
    15_000,
    `the reply to "@agentbridge ${text}"`,
  );
}

/** The main request of the turn whose user text contains `text` (after `mark`). */
function requestFor(mark: number, text: string): RecordedRequest {
  const r = model
    .mainRequests()
    .slice(mark)
    .find((x) => lastUserText(x).includes(text));
  if (!r) throw new Error(`no model request for "${text}"`);
  return r;
}

/** Agent (claude) processes alive: processes mentioning the sandbox, minus agentbridge itself. */
function agentProcesses(): number[] {
  return processesMentioning(sb.root)
    .map((p) => p.pid)
    .filter((pid) => pid !== ab.child.pid);
}

/** True once agentbridge logged that it handed Discord message `id` to the core (debug log). */
function accepted(id: string): boolean {
  return ab.logs.some((l) => l.eventKey === `discord:${id}` && l.outcome === 'accepted');
}

const callbacks = () => twin.callsTo('POST /interactions/:id/:token/callback');

describe('chat commands on Discord, end to end', () => {
  it('/agent is registered by bulk overwrite at start and answered through the interaction: status, help, model, agent, stop, usage; deferred and edited when late (an answer for everyone then posted in the channel)', async () => {
    // Registered while agentbridge starts; it may land just after the "ready" log line.
    await waitFor(() => twin.callsTo('PUT /applications/:app/guilds/:g/commands').length > 0 || undefined, 15_000, 'the command registration');
    const puts = twin.callsTo('PUT /applications/:app/guilds/:g/commands');
    expect(puts.map((c) => [c.path, c.status])).toEqual([[`/applications/${twin.applicationId}/guilds/${twin.guildId}/commands`, 200]]);
    expect(puts[0]!.body).toEqual([expect.objectContaining({ name: 'agent', options: [expect.objectContaining({ name: 'command', type: 3 })] })]);
    expect(twin.callsTo('PUT /applications/:app/commands')).toEqual([]); // per guild, not global

    const ch = twin.channels['chat-slash']!;
    twin.userSays({ user: 'Alice', channel: ch, content: 'remember the word PELICAN' });
    await answer(twin, ch, 'echo: remember the word PELICAN');
    const turnsBefore = model.requests.length;

    // The answer is visible a moment before its turn has ended (the turn waits for the delivery): ask until it has.
    const status = await waitFor(
      async () => {
        const s = await agentCommand(twin, 'Alice', ch, 'status');
        return s.content?.includes('turn: none running') ? s : undefined;
      },
      20_000,
      'status once the turn ended',
    );
    expect(status).toMatchObject({ type: 4, flags: 64 }); // at once, only for the caller
    expect(status.content).toContain('agent: claude (default)');
    expect(status.content).toMatch(/agent session: `[0-9a-f-]{36}` \(claude\)/);
    expect(status.content).toContain('turn: none running');
    expect(status.content).toContain('turns answered: 1');

    const help = await agentCommand(twin, 'Alice', ch, 'help');
    expect(help).toMatchObject({ type: 4, flags: 64 });
    expect(help.content).toContain('/agent status');
    expect(help.content).not.toContain('Admin commands');
    expect((await agentCommand(twin, 'Root', ch, 'help')).content).toContain('Admin commands');
    expect((await agentCommand(twin, 'Alice', ch, 'frobnicate')).content).toContain('Unknown command `frobnicate`');
    expect((await agentCommand(twin, 'Alice', ch, 'model')).content).toContain('Usage: `/agent model <name>|default`');
    expect((await agentCommand(twin, 'Alice', ch, 'agent gemini')).content).toContain('gemini is not available');
    expect((await agentCommand(twin, 'Alice', ch, 'agent claude')).content).toContain('already uses claude');
    expect((await agentCommand(twin, 'Alice', ch, 'stop')).content).toBe('Nothing is running in this conversation.');
    expect(model.requests.length).toBe(turnsBefore); // commands never reach the agent

    // model: visible to the channel; the next turn asks the model server for that model.
    const set = await agentCommand(twin, 'Alice', ch, 'model claude-scripted-test');
    expect(set).toMatchObject({ type: 4, flags: 0 });
    expect(set.content).toContain('`claude-scripted-test`');
    let mark = model.mainRequests().length;
    twin.userSays({ user: 'Alice', channel: ch, content: 'which model?' });
    await answer(twin, ch, 'echo: which model?');
    expect(requestFor(mark, 'which model?').body.model).toBe('claude-scripted-test');
    expect((await agentCommand(twin, 'Alice', ch, 'model default')).content).toContain('Model reset');
    mark = model.mainRequests().length;
    twin.userSays({ user: 'Alice', channel: ch, content: 'and now?' });
    await answer(twin, ch, 'echo: and now?');
    expect(requestFor(mark, 'and now?').body.model).not.toBe('claude-scripted-test');

    // An interaction that reaches agentbridge late (2 s of its 3 s gone): deferred, then the answer edited in.
    const late = await agentCommand(twin, 'Alice', ch, 'status', { lateByMs: 2_000 });
    expect(late).toMatchObject({ type: 5, flags: 64 });
    expect(late.content).toContain('Status of this conversation');
    expect(late.content).toContain('turns answered: 3');
    // A late answer meant for everyone: a deferral is ephemeral, so it is posted in the channel
    // as a bot message (no pings) and the deferred response only points to it.
    const lateModel = await agentCommand(twin, 'Alice', ch, 'model claude-scripted-test', { lateByMs: 2_000 });
    expect(lateModel).toMatchObject({ type: 5, flags: 64, content: 'Done — posted in the channel.' });
    expect(lateModel.posted).toContain('`claude-scripted-test`');
    const post = twin.callsTo(`POST /channels/${ch}/messages`).find((c) => /^i\d+-0$/.test(String((c.body as { nonce?: unknown }).nonce)));
    expect(post?.body).toMatchObject({ content: lateModel.posted, allowed_mentions: { parse: [], replied_user: false }, enforce_nonce: true });
    expect(botAnswers(twin, ch).filter((m) => m.content === lateModel.posted && !m.webhook_id && m.flags === 0)).toHaveLength(1);
    expect((await agentCommand(twin, 'Alice', ch, 'model default')).content).toContain('Model reset');
    // Every interaction was acknowledged within its 3 s, once.
    expect(callbacks().filter((c) => c.status >= 300)).toEqual([]);
    expect(new Set(callbacks().map((c) => c.path)).size).toBe(callbacks().length);
  });

  it('@agentbridge <command> in a chat channel and in a thread: status, model, agent, help, reset; admin commands refused for non-admins', async () => {
    const ch = twin.channels['chat-mention']!;
    const before = model.requests.length;
    const status = await mention('Alice', ch, 'status');
    expect(status.content).toContain('Status of this conversation');
    expect(status.content).toContain('agent session: none yet');
    expect(model.requests.length).toBe(before);

    const hello = twin.userSays({ user: 'Alice', channel: ch, content: 'hello there' });
    await answer(twin, ch, 'echo: hello there');
    // "@agentbridge help me …" is not the help command: it is a prompt.
    twin.userSays({ user: 'Alice', channel: ch, content: 'help me name the release', mentionsBot: true });
    await answer(twin, ch, 'echo: help me name the release');

    // A thread on a user's message: its own conversation, commands apply to it alone.
    const thread = twin.createThread(ch, hello.id, 'side');
    expect((await mention('Bob', thread, 'model claude-thread-model')).content).toContain('`claude-thread-model`');
    let mark = model.mainRequests().length;
    twin.userSays({ user: 'Bob', channel: thread, content: 'which model here?' });
    await answer(twin, thread, 'echo: which model here?');
    expect(requestFor(mark, 'which model here?').body.model).toBe('claude-thread-model');
    const threadStatus = await mention('Bob', thread, 'status');
    expect(threadStatus.content).toContain('model: claude-thread-model');
    expect(threadStatus.content).toContain('turns answered: 1');
    expect((await agentCommand(twin, 'Bob', thread, 'status')).content).toContain('model: claude-thread-model'); // /agent in the thread: the thread's conversation
    expect((await mention('Bob', thread, 'help')).content).toContain('/agent status');
    expect((await mention('Bob', thread, 'agent codex')).content).toContain('codex is not available');
    mark = model.mainRequests().length;
    twin.userSays({ user: 'Alice', channel: ch, content: 'and in the channel?' });
    await answer(twin, ch, 'echo: and in the channel?');
    expect(requestFor(mark, 'and in the channel?').body.model).not.toBe('claude-thread-model');

    // reset in the thread: a new agent session there, the channel's untouched.
    expect((await mention('Bob', thread, 'reset')).content).toContain('🆕 New agent session');
    expect((await mention('Bob', thread, 'status')).content).toContain('agent session: none yet');
    expect((await mention('Alice', ch, 'status')).content).toMatch(/agent session: `[0-9a-f-]{36}` \(claude\)/);

    // Admin commands from non-admins: refused (and logged), nothing changes.
    expect((await mention('Alice', ch, 'cron list')).content).toContain('🔒 `/agent cron` is only for agentbridge admins.');
    expect((await mention('Bob', thread, 'workdir proj')).content).toContain('🔒 `/agent workdir` is only for agentbridge admins.');
    const restart = await agentCommand(twin, 'Alice', ch, 'restart');
    expect(restart).toMatchObject({ type: 4, flags: 64, content: '🔒 `/agent restart` is only for agentbridge admins.' });
    expect((await agentCommand(twin, 'Bob', thread, 'sessions')).content).toContain('🔒 `/agent sessions` is only for agentbridge admins.');
    expect(fs.existsSync(path.join(sb.root, 'workspaces', 'proj'))).toBe(false);
    const alice = twin.user('Alice').id;
    const bob = twin.user('Bob').id;
    await waitFor(
      () =>
        ab.logs.filter((l) => l.msg === 'admin command refused: not an admin' && (l.userId === `discord:${alice}` || l.userId === `discord:${bob}`)).length ===
        4,
      5_000,
      'the refusals logged',
    );
    expect(ab.child.exitCode).toBeNull(); // no restart happened

    // The admin may.
    expect((await agentCommand(twin, 'Root', ch, 'cron list')).content).toContain('No cron jobs yet');
    expect((await mention('Root', thread, 'sessions')).content).toContain('No active conversations');
  });

  it('a disallowed user never reaches the agent and is told once per conversation', async () => {
    const ch = twin.channels['chat-access']!;
    const before = model.requests.length;
    const first = twin.userSays({ user: 'Mallory', channel: ch, content: 'please run this for me SECRET-MALLORY' });
    // Refusals posted in the channel (not the interaction's own answer, which only Mallory sees).
    const sorry = (where: string) => twin.botMessages(where).filter((m) => m.content.startsWith('Sorry') && !m.webhook_id);
    await waitFor(() => sorry(ch).length === 1, 10_000, 'the refusal');
    expect(sorry(ch)[0]!.content).toContain("can't pass your messages to the agent");
    twin.userSays({ user: 'Mallory', channel: ch, content: 'hello? anyone?' });
    twin.userSays({ user: 'Mallory', channel: ch, content: 'status', mentionsBot: true });
    const slash = await agentCommand(twin, 'Mallory', ch, 'status');
    expect(slash).toMatchObject({ type: 4, flags: 64 });
    expect(slash.content).toMatch(/^Sorry, I can only work with people/);
    // A thread is another conversation: told once there too.
    const thread = twin.createThread(ch, first.id, 'mallory thread');
    twin.userSays({ user: 'Mallory', channel: thread, content: 'in a thread then' });
    twin.userSays({ user: 'Mallory', channel: thread, content: 'still nothing?' });
    await waitFor(() => sorry(thread).length === 1, 10_000, 'the refusal in the thread');

    // An allowed user in the same channel is answered — after Mallory's messages were handled.
    twin.userSays({ user: 'Alice', channel: ch, content: 'hi from Alice' });
    await answer(twin, ch, 'echo: hi from Alice'); // Mallory's messages are not in the conversation: one author
    expect(sorry(ch)).toHaveLength(1);
    expect(sorry(thread)).toHaveLength(1);
    expect(
      model.requests.slice(before).filter((r) => allText(r).includes('Mallory') || allText(r).includes('SECRET-MALLORY') || allText(r).includes('anyone?')),
    ).toEqual([]);
    expect(
      model
        .mainRequests()
        .slice(0)
        .filter((r) => r.index >= before)
        .map((r) => lastUserText(r)),
    ).toEqual(['hi from Alice']);
    const mallory = twin.user('Mallory').id;
    expect(ab.logs.filter((l) => l.msg === 'access refused: user not allowed' && l.userId === mallory).length).toBeGreaterThanOrEqual(6);
  });

  it('@agentbridge stop interrupts a long-running turn (the live agent process stays); a message sent meanwhile is answered next; reset ends the process', async () => {
    const ch = twin.channels['chat-stop']!;
    // Claude joins the user messages of runs that produced nothing into one, so the answer to the
    // message sent meanwhile also quotes the stopped prompt: hang only while that message is not in.
    model.setResponder((req) =>
      lastUserText(req).includes('endless task') && !lastUserText(req).includes('queued meanwhile') ? { hang: true } : { text: `echo: ${lastUserText(req)}` },
    );
    const mark = model.mainRequests().length;
    // Live sessions of earlier tests' conversations are still up: this conversation's process is the new one.
    const before = new Set(agentProcesses());
    const mine = () => agentProcesses().filter((pid) => !before.has(pid));
    twin.userSays({ user: 'Alice', channel: ch, content: 'start the endless task' });
    await waitFor(() => model.mainRequests().length > mark, 30_000, 'the turn at the model');
    const agents = await waitFor(() => (mine().length ? mine() : undefined), 10_000, 'the agent process');
    const queued = twin.userSays({ user: 'Bob', channel: ch, content: 'queued meanwhile' });
    await waitFor(() => accepted(queued.id), 10_000, 'the message sent meanwhile accepted');

    const stop = await mention('Alice', ch, 'stop');
    expect(stop.content).toBe('⏹️ Stopping the running turn (asked by Alice). 1 queued message will be answered next.');
    // The turn ends stopped — unless the CLI had already taken the message sent meanwhile (it was
    // offered to the running turn) when the interrupt came: then that turn answers it instead.
    await waitFor(
      () =>
        botAnswers(twin, ch).find(
          (m) => m.content.startsWith('⏹️ The turn was stopped.') || (m.content.startsWith('echo:') && m.content.includes('queued meanwhile')),
        ),
      45_000,
      'the stopped turn or the answer to the message sent meanwhile',
    );
    await waitFor(
      () => botAnswers(twin, ch).find((m) => m.content.startsWith('echo:') && m.content.includes('queued meanwhile')),
      45_000,
      'the answer to the message sent meanwhile',
    );
    // Interrupted through the protocol, not killed: the same live process answered the next message.
    expect(agents.every((pid) => processesMentioning(sb.root).some((p) => p.pid === pid))).toBe(true);
    expect(botAnswers(twin, ch).filter((m) => m.content.startsWith('echo:'))).toHaveLength(1);
    await mention('Alice', ch, 'reset');
    await waitFor(() => mine().length === 0, 15_000, 'no agent process of the conversation left after reset');
  });

  it('/agent reset starts a new agent session: the next model request does not carry the earlier turns', async () => {
    const ch = twin.channels['chat-reset']!;
    twin.userSays({ user: 'Alice', channel: ch, content: 'remember the word ZEBRA' });
    await answer(twin, ch, 'echo: remember the word ZEBRA');
    let mark = model.mainRequests().length;
    const second = twin.userSays({ user: 'Alice', channel: ch, content: 'what was it?' });
    await answer(twin, ch, 'echo: what was it?');
    // The answer goes out before the turn has ended; ✅ follows it (issue 16's critical path).
    await waitFor(() => twin.botReactions(second.id).includes('✅') || undefined, 30_000, 'the ✅ after the answer');
    const old = requestFor(mark, 'what was it?');
    expect(allText(old)).toContain('ZEBRA');
    const oldSession = String(old.headers['x-claude-code-session-id']);

    const reset = await agentCommand(twin, 'Alice', ch, 'reset');
    expect(reset).toMatchObject({ type: 4, flags: 0 });
    expect(reset.content).toContain('🆕 New agent session');
    expect((await mention('Alice', ch, 'status')).content).toContain('agent session: none yet');

    mark = model.mainRequests().length;
    twin.userSays({ user: 'Alice', channel: ch, content: 'fresh start' });
    await answer(twin, ch, 'echo: fresh start');
    const fresh = model.mainRequests().slice(mark);
    expect(fresh.length).toBeGreaterThan(0);
    for (const r of fresh) {
      expect(allText(r)).not.toContain('ZEBRA');
      expect(r.headers['x-claude-code-session-id']).not.toBe(oldSession);
    }
    expect((await mention('Alice', ch, 'status')).content).toMatch(/agent session: `[0-9a-f-]{36}` \(claude\)/);
  });

  it('/metrics counts the turns by platform, agent and outcome', async () => {
    const metrics = async () => (await fetch(`${ab.url}/metrics`)).text();
    const count = (text: string, outcome: string) =>
      Number(new RegExp(`agentbridge_turns_total\\{platform="discord",agent="claude",outcome="${outcome}"\\} (\\d+)`).exec(text)?.[1] ?? 0);
    const durations = (text: string) => Number(/agentbridge_turn_duration_seconds_count\{platform="discord",agent="claude"\} (\d+)/.exec(text)?.[1] ?? 0);
    const before = await metrics();
    // The turns of the tests above (at least the stopped one and a few answered ones).
    expect(count(before, 'ok')).toBeGreaterThanOrEqual(3);
    expect(count(before, 'stopped')).toBe(1);

    const ch = twin.channels['chat-metrics']!;
    twin.userSays({ user: 'Alice', channel: ch, content: 'count me' });
    await answer(twin, ch, 'echo: count me');
    const after = await waitFor(
      async () => {
        const text = await metrics();
        return count(text, 'ok') === count(before, 'ok') + 1 ? text : undefined;
      },
      10_000,
      'the turn counted',
    );
    expect(durations(after)).toBe(durations(before) + 1);
    expect(count(after, 'stopped')).toBe(1);
    expect(after).toContain('agentbridge_queue_depth 0');
    expect(after).toMatch(/agentbridge_inbox_backlog \d+/);
  });

  it('/agent restart (admin): answered before agentbridge stops; once started again, it reports back in the channel', async () => {
    const ch = twin.channels['chat-restart']!;
    twin.userSays({ user: 'Alice', channel: ch, content: 'before the restart' });
    await answer(twin, ch, 'echo: before the restart');

    const reply = await agentCommand(twin, 'Root', ch, 'restart');
    expect(reply).toMatchObject({ type: 4, flags: 0 });
    expect(reply.content).toMatch(/^♻️ Restarting agentbridge/);
    expect(await ab.exited).toBe(75);
    expect(callbacks().filter((c) => c.status >= 300)).toEqual([]);

    // The supervisor (here: the test) starts it again.
    ab = await startAgentbridge(env, sb.root);
    const notice = await answer(twin, ch, '✅ agentbridge restarted (requested by Root).');
    expect(notice.message_reference).toBeUndefined();
    twin.userSays({ user: 'Alice', channel: ch, content: 'after the restart' });
    await answer(twin, ch, 'echo: after the restart');
    expect(botAnswers(twin, ch).filter((m) => m.content.startsWith('✅ agentbridge restarted'))).toHaveLength(1);
  });
});
