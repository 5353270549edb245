/**
 * End to end, a full disk (docs/ARCHITECTURE.md §3 invariant 10): agentbridge as its own process with its data
 * directory on a small real tmpfs, the real `claude` CLI against the scripted Anthropic model.
 * While the disk is full: /healthz answers 503 with the reason, a new local chat message gets 503
 * and leaves no trace, and the turn of a message accepted before the fault fails on SQLITE_FULL
 * at its commit. After the filler is removed — without a restart — /healthz is 200 again and the
 * accepted message is answered exactly once, and the agent got its prompt once.
 */
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { lastUserText, startAnthropicModel, type AnthropicModel } from '../models/anthropic.js';
import { claudeServiceEnv, health, LocalChat, runCli, startAgentbridge, type AgentbridgeProcess } from '../helpers/agentbridge.js';
import { processesMentioning } from '../helpers/procs.js';
import { makeSandbox, waitFor, type Sandbox } from '../helpers/sandbox.js';
import { mountTmpfs, type Tmpfs } from '../helpers/tmpfs.js';

let model: AnthropicModel;
let sb: Sandbox;
let disk: Tmpfs | undefined;
const running: AgentbridgeProcess[] = [];

beforeAll(async () => {
  model = await startAnthropicModel();
  sb = makeSandbox();
  disk = mountTmpfs(16 * 1024 * 1024);
});

afterEach(async () => {
  for (const p of running.splice(0)) await p.stop();
  model.setResponder(undefined);
});

afterAll(async () => {
  try {
    await model?.close();
    expect(processesMentioning(sb.root)).toEqual([]);
  } finally {
    disk?.unmount();
    sb?.cleanup();
  }
});

describe('a full disk, end to end', () => {
  it('503 with the reason and no trace while full; the accepted message is answered once after space returns, without a restart', async () => {
    const dataDir = path.join(disk!.dir, 'data');
    const env = claudeServiceEnv(sb, model.url, { AGENTBRIDGE_DATA_DIR: dataDir });
    const ab = await startAgentbridge(env, sb.root);
    running.push(ab);
    const chat = new LocalChat(ab.url);
    const answer = (thread: string, text: string) => waitFor(async () => (await chat.botTexts('general', thread)).includes(text), 60_000, `answer "${text}"`);

    const warm = await chat.send('general', 'warm up', { user: 'ann' });
    await answer(warm.thread, 'echo: warm up');

    // A message accepted before the fault, whose agent answers only once the disk is full.
    let release!: () => void;
    const released = new Promise<void>((r) => (release = r));
    model.setResponder(async (req) => {
      const text = lastUserText(req);
      if (text.includes('HOLD')) await released;
      return { text: `echo: ${text}` };
    });
    const held = await chat.send('general', 'HOLD until the disk is full', { user: 'ann' });
    await waitFor(() => model.mainRequests().some((r) => lastUserText(r).includes('HOLD')), 60_000, 'the model to receive the held prompt');

    // Full: empty the WAL (so no write can reuse its space), then fill the file system.
    const cp = await runCli(['db', 'checkpoint'], env, sb.root);
    expect(cp.code, cp.stderr).toBe(0);
    disk!.fill();
    expect(disk!.free()).toBe(0);

    const refused = await fetch(`${ab.url}/api/local/messages`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ channel: 'general', text: 'REFUSED while the disk is full', user: 'ann' }),
    });
    expect(refused.status).toBe(503);
    expect(((await refused.json()) as { error: string }).error).toMatch(/cannot write its database.*SQLITE_FULL/);
    const sick = await health(ab.url);
    expect(sick.status).toBe(503);
    expect(sick.body.ok).toBe(false);
    expect(sick.body.reason).toMatch(/database cannot be written: SQLITE_FULL/);
    expect(sick.body.agent).toBe('claude'); // the other fields stay

    // The agent answers now: the turn's commit fails on the full disk and waits to run again.
    release();
    await waitFor(
      () => ab.logs.some((l) => l.msg === 'turn failed on a storage fault; it runs again once the database can be written'),
      60_000,
      'the held turn to fail on the full disk',
    );
    expect((await health(ab.url)).status).toBe(503);

    disk!.unfill();
    await waitFor(async () => (await health(ab.url)).status === 200, 30_000, '/healthz 200 again');
    await answer(held.thread, 'echo: HOLD until the disk is full');

    // Exactly once: one answer in the thread, the prompt reached the agent once.
    const bot = await chat.botTexts('general', held.thread);
    expect(bot.filter((t) => t.includes('HOLD'))).toEqual(['echo: HOLD until the disk is full']);
    expect(model.mainRequests().filter((r) => lastUserText(r).includes('HOLD'))).toHaveLength(1);
    // No trace of the refused message: no thread, no inbox row.
    const threads = (await (await fetch(`${ab.url}/api/local/threads?channel=general`)).json()) as { threads: Array<{ text: string }> };
    expect(threads.threads.map((t) => t.text).sort()).toEqual(['HOLD until the disk is full', 'warm up']);
    const after = await health(ab.url);
    expect(after.body).toMatchObject({ ok: true, inbox: { queued: 0, running: 0, done: 2, failed: 0 }, outboxPending: 0 });
    expect(after.body.reason).toBeUndefined();
    expect(model.mainRequests().some((r) => lastUserText(r).includes('REFUSED'))).toBe(false);

    // And new messages work as before.
    const later = await chat.send('general', 'after the disk was freed', { user: 'ann' });
    await answer(later.thread, 'echo: after the disk was freed');
    expect(await ab.stop()).toBe(0);
  });
});
