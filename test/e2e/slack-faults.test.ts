/**
 * End to end over Socket Mode with Slack misbehaving: a `chat.postMessage` that creates the
 * message but answers 500, `chat.update` failing for the progress message (the answer is posted
 * instead, and the progress message must not stay "⏳ Working…"), and a Socket Mode connection
 * that stays open but goes silent. agentbridge runs as its own process with the real `claude`
 * CLI and the scripted model.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { echo, lastUserText, startAnthropicModel, type AnthropicModel } from '../models/anthropic.js';
import { startAgentbridge, type AgentbridgeProcess } from '../helpers/agentbridge.js';
import { processesMentioning } from '../helpers/procs.js';
import { makeSandbox, waitFor, type Sandbox } from '../helpers/sandbox.js';
import { SlackTwin } from '../twins/slack/twin.js';
import { botMessages, CHANNEL, gate, slackEnv, USERS, waitForAnswer } from '../twins/slack/harness.js';

let model: AnthropicModel;
let twin: SlackTwin;
let sb: Sandbox;
const running: AgentbridgeProcess[] = [];

async function start(extra: NodeJS.ProcessEnv = {}): Promise<AgentbridgeProcess> {
  const p = await startAgentbridge({ ...slackEnv(sb, model, twin, 'socket'), ...extra }, sb.root);
  running.push(p);
  return p;
}

beforeAll(async () => {
  [model, twin] = await Promise.all([startAnthropicModel(), SlackTwin.start({ users: USERS })]);
  sb = makeSandbox();
});

afterEach(async () => {
  for (const p of running.splice(0)) await p.stop();
  model.setResponder(undefined);
  twin.clearFaults();
  twin.socket.pingIntervalMs = undefined;
});

afterAll(async () => {
  await Promise.all([model?.close(), twin?.close()]);
  expect(processesMentioning(sb.root)).toEqual([]);
  sb?.cleanup();
});

describe('Slack end to end: faults', () => {
  it('chat.postMessage creates the message but answers 500: exactly one message in the thread', async () => {
    await start();
    twin.failNext('chat.postMessage', { status: 500, applied: true });
    const root = await twin.userPosts({ user: 'U0ALICE', channel: CHANNEL, text: 'LOST-RESPONSE hello', mention: true });
    await waitForAnswer(twin, CHANNEL, root.ts, 'echo: LOST-RESPONSE hello', 90_000);
    const posts = twin.callsOf('chat.postMessage').filter((c) => c.params.thread_ts === root.ts);
    expect(posts.map((c) => c.status)).toEqual([500]); // created once, never posted again
    expect(twin.callsOf('conversations.replies').some((c) => c.params.ts === root.ts && c.params.include_all_metadata === 'true')).toBe(true);
    expect(botMessages(twin, CHANNEL, root.ts).map((m) => m.text)).toEqual(['echo: LOST-RESPONSE hello']);
  }, 120_000);

  it('chat.update keeps failing for the progress message: one answer, and the progress message is removed once Slack recovers', async () => {
    await start();
    const hold = gate();
    model.setResponder(async (req) => {
      if (lastUserText(req).includes('STALE-PROGRESS')) await hold.promise;
      return echo(req);
    });
    const root = await twin.userPosts({ user: 'U0ALICE', channel: CHANNEL, text: 'STALE-PROGRESS please', mention: true });
    const progress = await waitFor(() => botMessages(twin, CHANNEL, root.ts).find((m) => m.text.startsWith('⏳')), 60_000, 'the progress message');
    // Every edit fails from now on; the answer's post is created but answered 500; the first
    // deletes fail too (beyond the client's own retries, so the outbox retries later).
    twin.failNext('chat.update', { status: 500 }, 200);
    twin.failNext('chat.postMessage', { status: 500, applied: true });
    twin.failNext('chat.delete', { status: 500 }, 6);
    hold.open();
    await waitForAnswer(twin, CHANNEL, root.ts, 'echo: STALE-PROGRESS please', 120_000);
    await waitFor(() => twin.message(CHANNEL, progress.ts)?.deleted || undefined, 120_000, 'the progress message deleted');
    const texts = botMessages(twin, CHANNEL, root.ts).map((m) => m.text);
    expect(texts).toEqual(['echo: STALE-PROGRESS please']);
    expect(
      twin
        .callsOf('chat.delete')
        .filter((c) => c.params.ts === progress.ts)
        .map((c) => c.status)
        .at(-1),
    ).toBe(200);
    expect(twin.callsOf('chat.postMessage').filter((c) => c.params.thread_ts === root.ts && c.params.text?.startsWith('echo:'))).toHaveLength(1);
  }, 300_000);

  it('a Socket Mode connection that stays open but goes silent is replaced; a message sent afterwards is answered; /metrics shows the idle time', async () => {
    twin.socket.pingIntervalMs = 500;
    const ab = await start({ AGENTBRIDGE_SLACK_SOCKET_IDLE_S: '3' });
    const opens = twin.callsOf('apps.connections.open').length;
    const opened = twin.socket.connectionsOpened;
    await waitFor(() => twin.socket.pingsReceived > 0 || undefined, 30_000, 'the heartbeat');
    twin.socket.silence();
    await waitFor(
      () => (twin.callsOf('apps.connections.open').length > opens && twin.socket.connectionsOpened > opened) || undefined,
      60_000,
      'a new connection',
    );
    const root = await twin.userPosts({ user: 'U0ALICE', channel: CHANNEL, text: 'AFTER-SILENCE are you there', mention: true });
    await waitForAnswer(twin, CHANNEL, root.ts, 'echo: AFTER-SILENCE are you there', 90_000);
    const metrics = await (await fetch(`${ab.url}/metrics`)).text();
    const line = metrics.split('\n').find((l) => l.startsWith('agentbridge_seconds_since_last_inbound_event{platform="slack"}'));
    expect(line).toBeDefined();
    expect(Number(line!.split(' ')[1])).toBeLessThan(120);
  }, 180_000);
});
