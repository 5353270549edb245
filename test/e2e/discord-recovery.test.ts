/**
 * End to end on Discord, when things break: a Gateway drop (resumed, then one whose resume
 * fails) while users write, agentbridge killed (SIGKILL) during a turn and started again, and
 * answers Discord created without agentbridge learning it (a 500, a dropped connection).
 * agentbridge runs as its own process with the real `claude` CLI and the scripted model.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { lastUserText, startAnthropicModel, type AnthropicModel } from '../models/anthropic.js';
import { startAgentbridge, type AgentbridgeProcess } from '../helpers/agentbridge.js';
import { processesMentioning } from '../helpers/procs.js';
import { makeSandbox, waitFor, type Sandbox } from '../helpers/sandbox.js';
import { startDiscordTwin, type DiscordTwin } from '../twins/discord/index.js';
import { answer, countAnswers, discordEnv } from '../twins/discord/harness.js';

const CHANNELS = ['chat-gateway', 'chat-crash', 'chat-outbox', 'chat-nonce'];
let model: AnthropicModel;
let sb: Sandbox;
let twin: DiscordTwin;
const running: AgentbridgeProcess[] = [];

async function start(): Promise<AgentbridgeProcess> {
  const chat = CHANNELS.map((c) => twin.channels[c]!);
  const ab = await startAgentbridge(discordEnv(sb, model, twin, chat), sb.root);
  running.push(ab);
  await waitFor(() => twin.connected(), 10_000, 'agentbridge on the Gateway');
  return ab;
}

beforeAll(async () => {
  model = await startAnthropicModel();
  sb = makeSandbox();
  twin = await startDiscordTwin({ channels: CHANNELS });
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
    const answers = twin
      .botMessages(ch)
      .map((m) => m.content)
      .filter((c) => !c.startsWith('⏳'));
    expect(new Set(answers).size).toBe(answers.length);
    const code = await ab.stop();
    if (code !== 0)
      console.log(
        ab.logs
          .slice(-15)
          .map((l) => JSON.stringify(l).slice(0, 400))
          .join('\n'),
        ab.stderr(),
      );
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

  it('an answer Discord created but answered 500 for, or whose connection dropped, is seen once (message nonce)', async () => {
    const ab = await start();
    const ch = twin.channels['chat-nonce']!;
    const route = `POST /channels/${ch}/messages`;
    const startsWith = (prefix: string) => (b: Record<string, unknown>) => String(b.content ?? '').startsWith(prefix);
    // No progress message here, so each answer is a create of its own (not an edit of the progress message).
    twin.failNext(route, { status: 403, times: 10_000, match: startsWith('⏳') });
    // A create the twin's rate limit refused (429, not carried out) is left out: this channel sees
    // more creates than agentbridge's budget starts — @discordjs/rest repeats a create answered 500
    // by itself, unseen by the budget — so one may meet Discord's 5 per 5 s; discord.js waits it
    // out and sends it again, same nonce.
    const creates = () => twin.callsTo(route).filter((c) => c.outcome !== 'rate-limited' && !String((c.body as { content?: string }).content).startsWith('⏳'));

    // A 500 after the create: @discordjs/rest retries the same request at once.
    twin.failAfterCreate(route, { match: startsWith('echo: created, then a 500') });
    twin.userSays({ user: 'Alice', channel: ch, content: 'created, then a 500' });
    await answer(twin, ch, 'echo: created, then a 500');
    await waitFor(() => creates().length === 2, 15_000, 'the retried create');

    // A dropped connection after the create: the delivery fails, the outbox retries the row later.
    twin.failAfterCreate(route, { drop: true, match: startsWith('echo: created, then the connection dropped') });
    twin.userSays({ user: 'Alice', channel: ch, content: 'created, then the connection dropped' });
    await answer(twin, ch, 'echo: created, then the connection dropped');
    await waitFor(() => creates().length === 4, 30_000, 'the outbox retry');
    expect(ab.logs.some((l) => l.msg === 'outbox: delivery failed; will retry')).toBe(true);

    twin.userSays({ user: 'Alice', channel: ch, content: 'and after that' });
    await answer(twin, ch, 'echo: and after that');
    for (const t of ['created, then a 500', 'created, then the connection dropped', 'and after that']) expect(countAnswers(twin, ch, `echo: ${t}`)).toBe(1);
    expect(creates().map((c) => [c.status, c.outcome])).toEqual([
      [500, 'failed-after-create'],
      [200, 'nonce-replay'],
      [0, 'failed-after-create'],
      [200, 'nonce-replay'],
      [200, undefined],
    ]);
    // Each answer's attempts carried one nonce (its outbox row's key), with enforce_nonce.
    const nonces = creates().map((c) => (c.body as { nonce?: string }).nonce);
    expect(creates().every((c) => (c.body as { enforce_nonce?: boolean }).enforce_nonce === true)).toBe(true);
    expect(nonces[1]).toBe(nonces[0]);
    expect(nonces[3]).toBe(nonces[2]);
    expect(new Set(nonces).size).toBe(3);
    for (const n of nonces) expect(n).toMatch(/^ab-o\d+-[0-9a-z]+$/);
    // The retry got back the message created the first time (the ref the outbox then records).
    const [first] = twin.botMessages(ch).filter((m) => m.content.startsWith('echo: created, then the connection dropped'));
    expect(twin.nonceReplays[1]!.messageId).toBe(first!.id);
  });
});
