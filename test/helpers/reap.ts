/**
 * Every process a test starts is recorded when it is spawned and reaped after the test file,
 * whatever happened: agentbridge processes started through {@link spawnCli} (recorded with
 * {@link recordSpawn}) and anything still running that mentions a sandbox made by
 * `makeSandbox` (agent CLIs run with HOME/TMPDIR inside it; recorded with {@link recordSandbox}).
 * A test that fails or times out half-way (say, during start-up) therefore never leaves an
 * agentbridge holding a data directory's lock, or an agent CLI running, for the next test file.
 *
 * `./reap-setup.ts` runs {@link reapAll} after every test file (vitest `setupFiles`); the tests' own assertions that
 * nothing is left behind stay — this is the safety net after them. Linux only (/proc).
 */
import type { ChildProcess } from 'node:child_process';
import { processesMentioning } from './procs.js';

const children = new Set<ChildProcess>();
const sandboxes = new Set<string>();

/** Records a spawned process; it is SIGKILLed after the test file if it is still running. */
export function recordSpawn(child: ChildProcess): ChildProcess {
  children.add(child);
  child.once('exit', () => children.delete(child));
  return child;
}

/** Records a sandbox root: processes mentioning it are ended (their process groups) after the test file. */
export function recordSandbox(root: string): void {
  sandboxes.add(root);
}

function kill(pid: number): void {
  for (const target of [-pid, pid]) {
    try {
      process.kill(target, 'SIGKILL');
    } catch {
      /* gone, or not a group leader */
    }
  }
}

/** Ends what is left; returns what it found (for the log). */
export function reapAll(): string[] {
  const found: string[] = [];
  for (const child of children) {
    if (child.pid !== undefined && child.exitCode === null && child.signalCode === null) {
      found.push(`pid ${child.pid} (spawned by the test)`);
      kill(child.pid);
    }
  }
  children.clear();
  for (const root of sandboxes) {
    for (const p of processesMentioning(root)) {
      found.push(`pid ${p.pid} ${p.cmd.slice(0, 80)}`);
      kill(p.pid);
    }
  }
  sandboxes.clear();
  return found;
}
