import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { reapOrphans, trackAgentProcesses } from '../../src/runners/orphans.js';
import { drive, groupAlive, processHooks } from '../../src/runners/process.js';
import { waitFor } from '../helpers/sandbox.js';

const logger = pino({ level: 'silent' });
let dir: string;
afterEach(() => {
  processHooks.onSpawn = undefined;
  processHooks.onGone = undefined;
  fs.rmSync(dir, { recursive: true, force: true });
});

describe('orphaned agent processes', () => {
  it('records live agent process groups and removes the record when the group is gone', async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'orphans-'));
    trackAgentProcesses(dir);
    const r = await drive({ bin: 'sh', args: ['-c', 'echo hi'], cwd: dir, env: process.env, timeoutMs: 10_000, onLine: () => {} });
    expect(r.exitCode).toBe(0);
    expect(fs.readdirSync(dir)).toEqual([]);
  });

  it('ends a recorded group left by a previous run (leader and its children) and clears the record', async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'orphans-'));
    trackAgentProcesses(dir);
    let pid = 0;
    const spawned = new Promise<void>((resolve) => {
      const prev = processHooks.onSpawn!;
      processHooks.onSpawn = (p) => {
        prev(p);
        pid = p;
        resolve();
      };
    });
    // A "turn" whose agent starts a child and never ends.
    const running = drive({ bin: 'sh', args: ['-c', 'sleep 300 & sleep 300'], cwd: dir, env: process.env, timeoutMs: 600_000, onLine: () => {} });
    await spawned;
    await waitFor(() => fs.readdirSync(dir).length === 1);
    expect(groupAlive(pid)).toBe(true);
    // As if agentbridge had been killed: the next start reaps what is recorded.
    processHooks.onSpawn = undefined;
    expect(reapOrphans(dir, logger)).toEqual([pid]);
    await waitFor(() => !groupAlive(pid), 10_000, 'the group to be gone');
    await running;
    expect(fs.readdirSync(dir)).toEqual([]);
  });

  it('leaves a pid that now belongs to another process alone', () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'orphans-'));
    fs.writeFileSync(path.join(dir, `${process.pid}.json`), JSON.stringify({ pid: process.pid, startTime: '1' }));
    expect(reapOrphans(dir, logger)).toEqual([]);
    expect(fs.readdirSync(dir)).toEqual([]);
  });
});
