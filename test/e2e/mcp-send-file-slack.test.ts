/**
 * End to end: the agent's `send_file` on Slack (Socket Mode twin). agentbridge runs as its own
 * process with the real `claude` CLI and the scripted model; the model makes claude call
 * `mcp__agentbridge__send_file`. The file goes through Slack's external upload flow on the twin
 * (`files.getUploadURLExternal`, the bytes, `files.completeUploadExternal`) and shows in the
 * thread exactly once — also when agentbridge is killed (SIGKILL) while the twin holds the answer
 * of `files.completeUploadExternal` (the file was shared, agentbridge never heard) and started
 * again: the outbox row is delivered again, finds the share of the recorded file id, and does not
 * upload a second time.
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { RERUN_NOTE } from '../../src/conversation/rerun.js';
import { startAgentbridge, type AgentbridgeProcess } from '../helpers/agentbridge.js';
import { processesMentioning } from '../helpers/procs.js';
import { makeSandbox, waitFor, type Sandbox } from '../helpers/sandbox.js';
import { lastUserText, startAnthropicModel, toolResults, type AnthropicModel, type Responder } from '../models/anthropic.js';
import { botMessages, CHANNEL, slackEnv, USERS, waitForAcks, waitForAnswer } from '../twins/slack/harness.js';
import { SlackTwin } from '../twins/slack/twin.js';

let model: AnthropicModel;
let twin: SlackTwin;
let sb: Sandbox;
const running: AgentbridgeProcess[] = [];

/** "send <path> [saying <comment>]": send_file; then an answer quoting the tool result. A re-run (after the kill) only answers. */
const responder: Responder = (req) => {
  const last = lastUserText(req);
  const results = toolResults(req);
  if (last.startsWith(RERUN_NOTE)) return { text: 'rerun: done' };
  const send = /send (\S+)(?: saying (.+))?/.exec(last);
  if (send && results.length === 0)
    return { toolUse: { name: 'mcp__agentbridge__send_file', input: { path: send[1], ...(send[2] ? { comment: send[2] } : {}) } } };
  if (results.length) return { text: `Tool said: ${results.at(-1)!.isError ? 'ERROR ' : ''}${results.at(-1)!.text}` };
  return { text: `echo: ${last}` };
};

async function start(): Promise<AgentbridgeProcess> {
  const p = await startAgentbridge(slackEnv(sb, model, twin, 'socket'), sb.root);
  running.push(p);
  return p;
}

const fileMessages = (root: string) => botMessages(twin, CHANNEL, root).filter((m) => m.files?.length);

beforeAll(async () => {
  [model, twin] = await Promise.all([startAnthropicModel(responder), SlackTwin.start({ users: USERS })]);
  sb = makeSandbox();
});

afterEach(async () => {
  for (const p of running.splice(0)) await p.stop();
});

afterAll(async () => {
  await Promise.all([model?.close(), twin?.close()]);
  expect(processesMentioning(sb.root)).toEqual([]);
  sb?.cleanup();
});

describe('send_file on Slack, end to end', () => {
  it('the file is uploaded and shared in the thread once, with the comment; an outside path is refused', async () => {
    const report = 'report body\n'.repeat(100);
    fs.writeFileSync(path.join(sb.workdir, 'report.txt'), report);
    await start();
    const root = await twin.userPosts({ user: 'U0ALICE', channel: CHANNEL, text: 'please send report.txt saying the *weekly* report', mention: true });
    await waitForAnswer(twin, CHANNEL, root.ts, 'Tool said:', 60_000);
    expect(botMessages(twin, CHANNEL, root.ts).find((m) => m.text.startsWith('Tool said:'))!.text).toBe(`Tool said: Sent report.txt (${report.length} bytes).`);
    const shared = fileMessages(root.ts);
    expect(shared).toHaveLength(1);
    expect(shared[0]!.files).toEqual([{ id: expect.any(String), name: 'report.txt', title: 'report.txt', size: report.length }]);
    expect(shared[0]!.thread_ts).toBe(root.ts);
    // The comment went through the Slack renderer (mrkdwn: *weekly* → _weekly_).
    expect(shared[0]!.text.replace(/\u200b/g, '')).toBe('the _weekly_ report');
    const file = twin.store.files.get(shared[0]!.files![0]!.id)!;
    expect(file.bytes!.toString('utf8')).toBe(report);
    expect(file.shares).toBe(1);

    // A path outside the working directory: refused, nothing uploaded.
    const uploadsBefore = twin.store.files.size;
    const other = await twin.userPosts({ user: 'U0ALICE', channel: CHANNEL, text: 'please send ../data/agentbridge.db', mention: true });
    const refused = await waitForAnswer(twin, CHANNEL, other.ts, 'Tool said:', 60_000);
    expect(refused.text).toMatch(/^Tool said: ERROR .*outside the working directory/);
    expect(twin.store.files.size).toBe(uploadsBefore);
    expect(fileMessages(other.ts)).toHaveLength(0);
  });

  it('killed (SIGKILL) while files.completeUploadExternal was in flight, then started again: the file shows once', async () => {
    const plot = Buffer.alloc(50_000, 7);
    fs.writeFileSync(path.join(sb.workdir, 'plot.bin'), plot);
    const ab = await start();
    const hold = twin.holdNext('files.completeUploadExternal');
    const completesBefore = twin.calls.filter((c) => c.method === 'files.completeUploadExternal').length;
    const root = await twin.userPosts({ user: 'U0ALICE', channel: CHANNEL, text: 'please send plot.bin', mention: true });
    await waitForAcks(twin, root.eventIds);
    await hold.arrived; // the file is shared in the thread; agentbridge waits for the answer
    expect(fileMessages(root.ts)).toHaveLength(1);
    ab.child.kill('SIGKILL');
    await ab.exited;
    hold.release();

    await start(); // delivers the pending file row (finds the share), re-runs the cut turn
    await waitForAnswer(twin, CHANNEL, root.ts, 'rerun: done', 60_000);
    await waitFor(
      async () => {
        const res = await fetch(`${running.at(-1)!.url}/healthz`);
        return ((await res.json()) as { outboxPending: number }).outboxPending === 0;
      },
      20_000,
      'the outbox to be empty',
    );
    const shared = fileMessages(root.ts);
    expect(shared).toHaveLength(1);
    expect(twin.store.files.get(shared[0]!.files![0]!.id)!.bytes!.equals(plot)).toBe(true);
    expect(twin.calls.filter((c) => c.method === 'files.completeUploadExternal').length - completesBefore).toBe(1);
    expect([...twin.store.files.values()].filter((f) => f.name === 'plot.bin')).toHaveLength(1);
    // The copy in the data directory is deleted once the row is marked delivered.
    expect(fs.readdirSync(path.join(sb.root, 'data', 'outgoing-files'))).toEqual([]);
  });
});
