/** The test-process safety net (test/helpers/reap.ts): what a test spawned or left in its sandbox is ended. */
import { spawn } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { reapAll, recordSpawn } from '../helpers/reap.js';
import { makeSandbox, waitFor } from '../helpers/sandbox.js';

const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

describe('reaping', () => {
  it('ends a recorded child and a detached process group that mentions a sandbox', async () => {
    const child = recordSpawn(spawn('sleep', ['60'], { stdio: 'ignore' }));
    const sb = makeSandbox();
    // Like an agent CLI: its own process group, the sandbox in its environment, not recorded itself.
    const agent = spawn('sleep', ['61'], { stdio: 'ignore', detached: true, env: { ...process.env, ...sb.env } });
    await waitFor(() => (alive(child.pid!) && alive(agent.pid!)) || undefined, 5_000, 'both running');
    const found = reapAll();
    expect(found).toHaveLength(2);
    await waitFor(() => !alive(agent.pid!) || undefined, 5_000, 'the agent group ended');
    await waitFor(() => child.signalCode ?? undefined, 5_000, 'the child ended');
    expect(child.signalCode).toBe('SIGKILL');
    sb.cleanup();
  });
});
