/**
 * End to end on Discord, when things break: a Gateway drop (resumed, then one whose resume
 * fails) while users write, and agentbridge killed (SIGKILL) during a turn and started again.
 * agentbridge runs as its own process with the real `claude` CLI and the scripted model.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { lastUserText, startAnthropicModel, type AnthropicModel } from '../models/anthropic.js';
import { startAgentbridge, type AgentbridgeProcess } from '../helpers/agentbridge.js';
import { processesMentioning } from '../helpers/procs.js';
import { makeSandbox, waitFor, type Sandbox } from '../helpers/sandbox.js';
import { startDiscordTwin, type DiscordTwin } from '../twins/discord/index.js';
import { answer, countAnswers, discordEnv } from '../twins/discord/harness.js';

let model: AnthropicModel;
let sb: Sandbox;
let twin: DiscordTwin;
const running: AgentbridgeProcess[] = [];

async function start(): Promise<AgentbridgeProcess> {
  const chat = ['chat-gateway', 'chat-crash', 'chat-outbox'].map((c) => twin.channels[c]!);
  const ab = await startAgentbridge(discordEnv(sb, model, twin, chat), sb.root);
  running.push(ab);
  await waitFor(() => twin.connected(), 10_000, 'agentbridge on the Gateway');
  return ab;
}

beforeAll(async () => {
  model = await startAnthropicModel();
  sb = makeSandbox();
  twin = await startDiscordTwin({ channels: ['chat-gateway', 'chat-crash', 'chat-outbox'] });
});

afterEach(async () => {
  for (const p of running.splice(0)) await p.stop();
  model.setResponder(undefined);
});

afterAll(async () => {
  await twin?.close();
  await model?.close();
  expect(processesMentioning(sb.root)).toEqual([]);
  sb?.cleanup();
});

describe('Discord recovery, end to end', () => {
  it('a Gateway drop: resumed sessions replay, a failed resume is caught up from history; each message answered once', async () => {
    const ab = await start();
    const ch = twin.channels['chat-gateway']!;
    twin.userSays({ user: 'Alice', channel: ch, content: 'warming up' });
    await answer(twin, ch, 'echo: warming up');

    twin.disconnect({ resumable: true });
    twin.userSays({ user: 'Alice', channel: ch, content: 'said during a resumable drop' });
    await answer(twin, ch, 'echo: said during a resumable drop');
    expect(twin.connections.at(-1)).toBe('/gateway-resume');

    const session = twin.sessionId();
    const mark = twin.calls.length;
    twin.disconnect({ resumable: false });
    const lost = twin.userSays({ user: 'Alice', channel: ch, content: 'said while the bot was away' });
    expect(twin.connected()).toBe(false); // only stored: no session could take the MESSAGE_CREATE
    const a = await answer(twin, ch, 'echo: said while the bot was away');
    expect(a.message_reference?.message_id).toBe(lost.id);
    expect(twin.sessionId()).not.toBe(session);
    expect(twin.frames.some((f) => f.dir === 'out' && f.op === 9 && f.d === false)).toBe(true);
    const history = twin.calls.slice(mark).filter((c) => c.method === 'GET' && c.path === `/channels/${ch}/messages`);
    expect(history.length).toBeGreaterThan(0);

    // Answered once: a later message's answer comes after, and each answer is there once.
    twin.userSays({ user: 'Alice', channel: ch, content: 'and after that' });
    await answer(twin, ch, 'echo: and after that');
    for (const t of ['warming up', 'said during a resumable drop', 'said while the bot was away', 'and after that']) {
      expect(countAnswers(twin, ch, `echo: ${t}`)).toBe(1);
    }
    expect(ab.logs.some((l) => l.msg === 'discord: caught up')).toBe(true);
  });

  it('SIGKILL during a turn, restart: the turn is answered, a message sent meanwhile too, nothing posted twice', async () => {
    let ab = await start();
    const ch = twin.channels['chat-crash']!;
    model.setResponder((req) => (lastUserText(req).includes('long task') ? { hang: true } : { text: `echo: ${lastUserText(req)}` }));
    const mark = model.mainRequests().length;
    twin.userSays({ user: 'Alice', channel: ch, content: 'run the long task' });
    await waitFor(() => model.mainRequests().length > mark, 30_000, 'the turn at the model');
    ab.child.kill('SIGKILL');
    await ab.exited;
    // The agent process of the killed run is still alive (its own process group): reaped at start.
    expect(processesMentioning(sb.root).length).toBeGreaterThan(0);

    twin.userSays({ user: 'Bob', channel: ch, content: 'anyone there?' });
    model.setResponder(undefined);
    ab = await start();
    await answer(twin, ch, '🔄 agentbridge restarted while working');
    // Both are answered (in one turn or two: the inbox holds both when recovery queues them).
    await waitFor(() => countAnswers(twin, ch, 'run the long task') && countAnswers(twin, ch, 'anyone there?'), 45_000, 'the answers after the restart');

    twin.userSays({ user: 'Alice', channel: ch, content: 'final check' });
    await answer(twin, ch, 'echo: [Alice]: final check'); // two people in the channel now: prefixed
    expect(countAnswers(twin, ch, 'run the long task')).toBe(1);
    expect(countAnswers(twin, ch, 'anyone there?')).toBe(1);
    expect(countAnswers(twin, ch, '🔄 agentbridge restarted')).toBe(1);
    const answers = twin.botMessages(ch).map((m) => m.content).filter((c) => !c.startsWith('⏳'));
    expect(new Set(answers).size).toBe(answers.length);
    const code = await ab.stop(); if (code !== 0) console.log(ab.logs.slice(-15).map((l) => JSON.stringify(l).slice(0, 400)).join('\n'), ab.stderr());
    expect(code).toBe(0);
    expect(processesMentioning(sb.root)).toEqual([]);
  });

  it('an answer Discord keeps refusing is kept in the outbox and posted after a restart, once', async () => {
    let ab = await start();
    const ch = twin.channels['chat-outbox']!;
    twin.failNext(`POST /channels/${ch}/messages`, { status: 500, times: 10_000 });
    twin.userSays({ user: 'Alice', channel: ch, content: 'keep this answer safe' });
    await waitFor(() => ab.logs.some((l) => l.msg === 'outbox: delivery failed; will retry'), 45_000, 'a failed delivery');
    expect(twin.botMessages(ch)).toEqual([]);
    expect(await ab.stop()).toBe(0);

    twin.clearFaults();
    ab = await start();
    await answer(twin, ch, 'echo: keep this answer safe');
    twin.userSays({ user: 'Alice', channel: ch, content: 'still there?' });
    await answer(twin, ch, 'echo: still there?');
    expect(countAnswers(twin, ch, 'echo: keep this answer safe')).toBe(1);
  });
});
