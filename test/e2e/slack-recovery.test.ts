/**
 * End to end over Socket Mode, when things break: the Socket Mode connection drops during a
 * turn, and agentbridge is killed (SIGKILL) during a turn and started again. agentbridge runs as
 * its own process with the real `claude` CLI and the scripted model; the tests share one data dir.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { RERUN_NOTE } from '../../src/conversation/rerun.js';
import { echo, lastUserText, startAnthropicModel, type AnthropicModel } from '../models/anthropic.js';
import { startAgentbridge, type AgentbridgeProcess } from '../helpers/agentbridge.js';
import { processesMentioning } from '../helpers/procs.js';
import { makeSandbox, waitFor, type Sandbox } from '../helpers/sandbox.js';
import { SlackTwin } from '../twins/slack/twin.js';
import { answersStartingWith, botMessages, CHANNEL, gate, inboxTotal, slackEnv, USERS, waitForAcks, waitForAnswer } from '../twins/slack/harness.js';

let model: AnthropicModel;
let twin: SlackTwin;
let sb: Sandbox;
const running: AgentbridgeProcess[] = [];

async function start(): Promise<AgentbridgeProcess> {
  // These tests are about messages that queue while a turn runs (combined into the next turn, in
  // order); steering them into the running turn (the default busy mode) is tested in interactive-*.test.ts.
  const p = await startAgentbridge({ ...slackEnv(sb, model, twin, 'socket'), AGENTBRIDGE_BUSY_MODE: 'queue' }, sb.root);
  running.push(p);
  return p;
}

function requestsWith(needle: string) {
  return model.mainRequests().filter((r) => lastUserText(r).includes(needle));
}

beforeAll(async () => {
  [model, twin] = await Promise.all([startAnthropicModel(), SlackTwin.start({ users: USERS })]);
  sb = makeSandbox();
});

afterEach(async () => {
  for (const p of running.splice(0)) await p.stop();
  model.setResponder(undefined);
});

afterAll(async () => {
  await Promise.all([model?.close(), twin?.close()]);
  expect(processesMentioning(sb.root)).toEqual([]);
  sb?.cleanup();
});

describe('Slack end to end: disconnects and crashes', () => {
  it('a Socket Mode disconnect during a turn: answers are delivered once after reconnecting', async () => {
    const ab = await start();
    const hold = gate();
    model.setResponder(async (req) => {
      if (lastUserText(req).includes('DISCONNECT-TEST')) await hold.promise;
      return echo(req);
    });
    const root = await twin.userPosts({ user: 'U0ALICE', channel: CHANNEL, text: 'DISCONNECT-TEST run it', mention: true });
    await waitFor(() => requestsWith('DISCONNECT-TEST').length > 0, 30_000, 'the turn to reach the model');
    const connections = twin.socket.connectionsOpened;

    // The network drops; meanwhile Bob writes in the thread (Slack holds the event).
    twin.dropConnection();
    await waitFor(() => !twin.socket.connected, 5_000, 'the connection to drop');
    const offline = await twin.userPosts({ user: 'U0BOB', channel: CHANNEL, text: 'written while offline OFFLINE-MSG', thread_ts: root.ts });
    await waitFor(() => twin.socket.connectionsOpened > connections, 30_000, 'Bolt to reconnect');
    hold.open();
    await waitForAnswer(twin, CHANNEL, root.ts, 'echo: DISCONNECT-TEST run it');
    await waitForAcks(twin, offline.eventIds);
    await waitFor(
      () => answersStartingWith(twin, CHANNEL, root.ts, 'echo:').some((m) => m.text.includes('OFFLINE-MSG')),
      45_000,
      'the answer to the offline message',
    );

    // Slack redelivers the first event after the reconnect, and asks for a refresh: still one answer each.
    const inbox = await inboxTotal(ab.url);
    void twin.redeliver(root.eventIds[0]!);
    await waitFor(
      () => twin.socket.envelopes.some((e) => e.event_id === root.eventIds[0] && e.retry_attempt > 0 && e.acked),
      10_000,
      'the ack of the redelivery',
    );
    twin.requestRefresh();
    await waitFor(() => twin.socket.connectionsOpened > connections + 1, 30_000, 'the refresh reconnect');
    expect(await inboxTotal(ab.url)).toBe(inbox);
    expect(requestsWith('DISCONNECT-TEST')).toHaveLength(1);
    expect(requestsWith('OFFLINE-MSG')).toHaveLength(1);
    const answers = answersStartingWith(twin, CHANNEL, root.ts, 'echo:').map((m) => m.text);
    expect(answers).toEqual(['echo: DISCONNECT-TEST run it', expect.stringContaining('OFFLINE-MSG')]);
  });

  it('agentbridge killed (SIGKILL) during a turn and started again: one answer, nothing posted twice', async () => {
    const ab = await start();
    model.setResponder((req) => (lastUserText(req).includes('KILL-TEST') ? { hang: true } : echo(req)));
    const root = await twin.userPosts({ user: 'U0ALICE', channel: CHANNEL, text: 'KILL-TEST long job', mention: true });
    await waitForAcks(twin, root.eventIds);
    await waitFor(() => requestsWith('KILL-TEST').length === 1 && botMessages(twin, CHANNEL, root.ts).length === 1, 30_000, 'the turn to run');

    ab.child.kill('SIGKILL');
    await ab.exited;
    // The re-run's prompt starts with the interruption note; echo the message without it.
    model.setResponder((req) => ({ text: `echo: ${lastUserText(req).replace(`${RERUN_NOTE}\n\n`, '')}` }));
    const connections = twin.socket.connectionsOpened;
    await start(); // ends the orphaned claude of the killed run, tells the thread, runs the turn again
    expect(twin.socket.connectionsOpened).toBeGreaterThan(connections);
    await waitForAnswer(twin, CHANNEL, root.ts, 'echo: KILL-TEST long job');

    const texts = botMessages(twin, CHANNEL, root.ts).map((m) => m.text);
    expect(texts.filter((t) => t.startsWith('echo: KILL-TEST'))).toHaveLength(1);
    expect(texts.filter((t) => t.startsWith('🔄 agentbridge restarted'))).toHaveLength(1);
    expect(requestsWith('KILL-TEST')).toHaveLength(2);
    expect(lastUserText(requestsWith('KILL-TEST')[1]!)).toBe(`${RERUN_NOTE}\n\nKILL-TEST long job`);
    // The answer went out in exactly one successful call (the edit of the new run's progress message or a post).
    const answerCalls = twin.calls.filter(
      (c) =>
        (c.method === 'chat.postMessage' || c.method === 'chat.update') && c.status === 200 && c.response.ok && c.params.text?.startsWith('echo: KILL-TEST'),
    );
    expect(answerCalls).toHaveLength(1);
  });
});
