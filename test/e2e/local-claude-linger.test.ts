/**
 * End to end (issue 16): a one-shot turn ends at the CLI's `result` line, not at its exit.
 * agentbridge as its own process, the local chat API, and a fake `claude` (CLAUDE_BIN =
 * test/fakes/claude-linger.mjs) that answers at once and then keeps running 5 s with a child in
 * its process group.
 *
 * First messages of a conversation run in a live session; a one-shot `claude -p` turn is what a
 * re-run of a turn cut by a shutdown uses (`--resume-session-at`, src/conversation/run-agent.ts
 * `canRunLive`). So: one answered message (live), one that hangs (live) and is cut by a
 * shutdown, then a restart whose re-run is one-shot. Its answer must be visible long before the
 * fake would exit by itself (the old driver waited for that), and no process of the fake may
 * remain afterwards.
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { LocalChat, startAgentbridge, type AgentbridgeProcess, claudeServiceEnv } from '../helpers/agentbridge.js';
import { processesMentioning } from '../helpers/procs.js';
import { makeSandbox, waitFor, type Sandbox } from '../helpers/sandbox.js';

const FAKE = path.resolve(import.meta.dirname, '../fakes/claude-linger.mjs');
/** How long the fake keeps running after its one-shot result, ms. */
const LINGER_MS = 5000;

let sb: Sandbox;
let log: string;
const running: AgentbridgeProcess[] = [];

async function start(): Promise<AgentbridgeProcess> {
  const env = claudeServiceEnv(sb, 'http://127.0.0.1:9', { CLAUDE_BIN: FAKE, FAKE_CLAUDE_LOG: log, FAKE_CLAUDE_LINGER_MS: String(LINGER_MS) });
  const p = await startAgentbridge(env, sb.root);
  running.push(p);
  return p;
}

/** Agent processes (the fake and its child): everything mentioning the sandbox but agentbridge itself. */
function agentProcesses(ab: AgentbridgeProcess) {
  return processesMentioning(sb.root).filter((p) => p.pid !== ab.child.pid);
}

function fakeLog(): Array<{ pid: number; mode: string; resultAt: number; args: string[] }> {
  if (!fs.existsSync(log)) return [];
  return fs
    .readFileSync(log, 'utf8')
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as { pid: number; mode: string; resultAt: number; args: string[] });
}

beforeAll(() => {
  sb = makeSandbox();
  log = path.join(sb.root, 'fake-claude.log');
});

afterEach(async () => {
  for (const p of running.splice(0)) await p.stop();
});

afterAll(() => {
  expect(processesMentioning(sb.root)).toEqual([]);
  sb?.cleanup();
});

describe('a one-shot claude turn ends at its result line, end to end', () => {
  it('the answer is visible while the CLI still lingers, and no process of it remains', async () => {
    let ab = await start();
    let chat = new LocalChat(ab.url);
    const { thread } = await chat.send('general', 'remember PELICAN', { user: 'alice' });
    await waitFor(async () => (await chat.botTexts('general', thread)).includes('echo: remember PELICAN'), 45_000, 'the first answer');

    // A turn that hangs, cut by a shutdown: it runs again after the next start.
    await chat.send('general', 'HANG until the restart', { thread, user: 'alice' });
    await waitFor(
      async () => ((await (await fetch(`${ab.url}/healthz`)).json()) as { inbox: { running: number } }).inbox.running === 1,
      30_000,
      'the turn to run',
    );
    expect(await ab.stop('SIGTERM')).toBe(0);
    expect(processesMentioning(sb.root)).toEqual([]);

    ab = await start();
    chat = new LocalChat(ab.url);
    const seenAt = await waitFor(
      async () => ((await chat.botTexts('general', thread)).includes('echo: HANG until the restart') ? Date.now() : undefined),
      45_000,
      'the re-run answer',
    );
    const oneShot = fakeLog().filter((l) => l.mode === 'oneshot');
    expect(oneShot).toHaveLength(1);
    expect(oneShot[0]!.args).toContain('--resume-session-at');
    const late = seenAt - oneShot[0]!.resultAt;
    console.log(`answer visible ${late} ms after the CLI's result line (it lingers ${LINGER_MS} ms)`);
    // The old driver waited for the exit: the answer came ≥ LINGER_MS after the result.
    expect(late).toBeLessThan(LINGER_MS);

    // The lingering CLI and its child are ended in the background (SIGTERM 1 s after the result).
    await waitFor(() => agentProcesses(ab).length === 0, 10_000, 'no process of the fake left');
    expect(await ab.stop()).toBe(0);
    expect(processesMentioning(sb.root)).toEqual([]);
  });
});
