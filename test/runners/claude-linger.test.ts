/**
 * A turn ends at the CLI's final event, not at its exit (issue 16): the claude runner over a fake
 * `claude` (test/fakes/claude-linger.mjs) that prints its `result` at once and then keeps running
 * 2 s with a child in its process group. The run resolves with the answer while that group is
 * still alive; the group is then ended in the background (SIGTERM 1 s after the result, SIGKILL
 * after the kill grace for a CLI that ignores SIGTERM), stays recorded for orphan reaping until
 * it is gone, and `settleProcessCleanups` (the app's shutdown) waits for it.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { createRunner } from '../../src/runners/define.js';
import { claude } from '../../src/runners/claude/index.js';
import { trackAgentProcesses } from '../../src/runners/orphans.js';
import { groupAlive, pendingProcessCleanups, processHooks, settleProcessCleanups } from '../../src/runners/process.js';
import type { RunRequest } from '../../src/runners/types.js';
import { processesMentioning } from '../helpers/procs.js';
import { makeSandbox, waitFor, type Sandbox } from '../helpers/sandbox.js';

const FAKE = path.resolve(import.meta.dirname, '../fakes/claude-linger.mjs');
/** How long the fake keeps running after its result unless ended: far beyond agentbridge's own 1 s grace, so the two cannot be confused under load. */
const LINGER_MS = 6000;

const cleanups: Array<() => void> = [];
afterEach(() => {
  processHooks.onSpawn = undefined;
  processHooks.onGone = undefined;
  while (cleanups.length) cleanups.pop()!();
});

function setup(extra: NodeJS.ProcessEnv = {}): { sb: Sandbox; log: string; records: string; req: RunRequest } {
  const sb = makeSandbox({ ANTHROPIC_API_KEY: 'test-key', FAKE_CLAUDE_LINGER_MS: String(LINGER_MS), ...extra });
  cleanups.push(() => sb.cleanup());
  const log = path.join(sb.root, 'fake.log');
  sb.env.FAKE_CLAUDE_LOG = log;
  const records = fs.mkdtempSync(path.join(os.tmpdir(), 'linger-records-'));
  cleanups.push(() => fs.rmSync(records, { recursive: true, force: true }));
  trackAgentProcesses(records);
  return { sb, log, records, req: { prompt: 'hello\nlinger please', cwd: sb.workdir, env: sb.env, permissionMode: 'edit', timeoutMs: 60_000 } };
}

/** The fake's log lines: its pid and when it printed its result (ms since the epoch). */
function fakeLog(log: string): Array<{ pid: number; resultAt: number }> {
  return fs
    .readFileSync(log, 'utf8')
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as { pid: number; resultAt: number });
}

describe('a one-shot turn ends at the CLI final event', () => {
  it('claude: the answer comes while the CLI lingers; its group is ended in the background and stays recorded until gone', async () => {
    const { sb, log, records, req } = setup();
    const started = Date.now();
    const result = await createRunner(claude, { bin: FAKE }).run(req, () => {});
    const resolvedAt = Date.now();
    // Right at the answer: the fake and its child are still running, and recorded.
    const alive = processesMentioning(sb.root);

    expect(result).toMatchObject({ ok: true, text: 'echo: linger please', exitCode: null });
    expect(result.sessionId).toBeTruthy();
    const [fake] = fakeLog(log);
    console.log(`run resolved ${resolvedAt - started} ms after start, ${resolvedAt - fake!.resultAt} ms after the result line`);
    expect(alive.length).toBeGreaterThanOrEqual(2); // the fake and its `sleep`
    expect(groupAlive(fake!.pid)).toBe(true);
    // Well before the CLI would have exited by itself (the old driver waited for that).
    expect(resolvedAt - fake!.resultAt).toBeLessThan(LINGER_MS / 2);
    expect(pendingProcessCleanups()).toBeGreaterThan(0);
    await waitFor(() => fs.existsSync(path.join(records, `${fake!.pid}.json`)), 5000, 'the orphan record');

    // The background cleanup ends the group (SIGTERM after FINAL_LINGER_MS), then drops the record.
    expect(await settleProcessCleanups(10_000)).toBe(true);
    expect(groupAlive(fake!.pid)).toBe(false);
    expect(processesMentioning(sb.root)).toEqual([]);
    expect(fs.readdirSync(records)).toEqual([]);
    // Ended by agentbridge, not by its own exit LINGER_MS after the result.
    expect(Date.now() - fake!.resultAt).toBeLessThan(LINGER_MS);
  });

  it('a CLI that ignores SIGTERM after its result is SIGKILLed after the kill grace; nothing is left', async () => {
    const { sb, log, records, req } = setup({ FAKE_CLAUDE_IGNORE_TERM: '1', FAKE_CLAUDE_LINGER_MS: '30000' });
    const result = await createRunner(claude, { bin: FAKE, killGraceMs: 500 }).run(req, () => {});
    expect(result).toMatchObject({ ok: true, text: 'echo: linger please' });
    const [fake] = fakeLog(log);
    expect(groupAlive(fake!.pid)).toBe(true);

    await waitFor(() => !groupAlive(fake!.pid), 10_000, 'the group to be gone');
    // Long before its own 30 s linger: agentbridge killed it.
    expect(Date.now() - fake!.resultAt).toBeLessThan(10_000);
    expect(await settleProcessCleanups(10_000)).toBe(true);
    expect(processesMentioning(sb.root)).toEqual([]);
    expect(fs.readdirSync(records)).toEqual([]);
  });
});
