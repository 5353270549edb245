import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { acquireOwnerLock, LOCK_FILE, readOwner, StoreLockedError } from '../../src/store/lock.js';

let dir: string;
const children: ChildProcess[] = [];

beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'agentbridge-lock-'));
});
afterEach(() => {
  for (const c of children.splice(0)) c.kill('SIGKILL');
  fs.rmSync(dir, { recursive: true, force: true });
});

function writeLock(pid: number, startedAt = 1_700_000_000_000): void {
  fs.writeFileSync(path.join(dir, LOCK_FILE), JSON.stringify({ pid, startedAt }));
}

/** Pid of a process that has exited (and been reaped). */
function deadPid(): number {
  const r = spawnSync(process.execPath, ['-e', '']);
  return r.pid!;
}

describe('owner lock', () => {
  it('writes pid and start time, refuses a second acquire, and is released', () => {
    const lock = acquireOwnerLock(dir);
    const content = JSON.parse(fs.readFileSync(path.join(dir, LOCK_FILE), 'utf8'));
    expect(content).toEqual({ pid: process.pid, startedAt: lock.startedAt });
    expect(readOwner(dir)).toEqual({ pid: process.pid, startedAt: lock.startedAt });
    expect(() => acquireOwnerLock(dir)).toThrow(StoreLockedError);
    lock.release();
    lock.release(); // idempotent
    expect(fs.existsSync(path.join(dir, LOCK_FILE))).toBe(false);
    expect(readOwner(dir)).toBeUndefined();
    acquireOwnerLock(dir).release();
  });

  it('refuses when a live process owns the directory', async () => {
    const child = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 60000)'], { stdio: 'ignore' });
    children.push(child);
    await new Promise((r) => child.once('spawn', r));
    writeLock(child.pid!);
    let error: unknown;
    try {
      acquireOwnerLock(dir);
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(StoreLockedError);
    expect((error as StoreLockedError).pid).toBe(child.pid);
    expect((error as Error).message).toBe(`another agentbridge (pid ${child.pid}) is using ${dir}; stop it first or use a different AGENTBRIDGE_DATA_DIR`);
    expect(readOwner(dir)).toEqual({ pid: child.pid, startedAt: 1_700_000_000_000 });
    // the live owner's lock is untouched
    expect(JSON.parse(fs.readFileSync(path.join(dir, LOCK_FILE), 'utf8')).pid).toBe(child.pid);
  });

  it('refuses with the parent process as owner (process.ppid)', () => {
    writeLock(process.ppid);
    expect(() => acquireOwnerLock(dir)).toThrow(StoreLockedError);
  });

  it('takes over a stale lock whose pid is dead', () => {
    const pid = deadPid();
    writeLock(pid);
    expect(readOwner(dir)).toBeUndefined();
    const lock = acquireOwnerLock(dir);
    expect(JSON.parse(fs.readFileSync(lock.path, 'utf8')).pid).toBe(process.pid);
    expect(fs.readdirSync(dir)).toEqual([LOCK_FILE]); // no leftovers from the takeover
    lock.release();
  });

  it('takes over a lock carrying our own pid that this process does not hold (container restarts)', () => {
    writeLock(process.pid);
    expect(readOwner(dir)).toBeUndefined();
    const lock = acquireOwnerLock(dir);
    expect(lock.startedAt).not.toBe(1_700_000_000_000);
    lock.release();
  });

  it('takes over an old garbled lock file but not a fresh one', () => {
    const file = path.join(dir, LOCK_FILE);
    fs.writeFileSync(file, '');
    expect(() => acquireOwnerLock(dir)).toThrow(/another agentbridge is using/);
    const old = new Date(Date.now() - 60_000);
    fs.utimesSync(file, old, old);
    acquireOwnerLock(dir).release();
  });

  it('does not remove a lock that was taken over by someone else', () => {
    const lock = acquireOwnerLock(dir);
    writeLock(process.ppid, 5);
    lock.release();
    expect(readOwner(dir)).toEqual({ pid: process.ppid, startedAt: 5 });
  });

  it('is released when the process exits', () => {
    const tsx = path.resolve(import.meta.dirname, '../../node_modules/.bin/tsx');
    const lockModule = path.resolve(import.meta.dirname, '../../src/store/lock.ts');
    const script = `import { acquireOwnerLock } from ${JSON.stringify(lockModule)};
      const l = acquireOwnerLock(${JSON.stringify(dir)}); console.log(l.pid); process.exit(0);`;
    const r = spawnSync(tsx, ['--eval', script], { encoding: 'utf8' });
    expect(r.status, r.stderr).toBe(0);
    expect(Number(r.stdout.trim())).toBeGreaterThan(0);
    expect(fs.existsSync(path.join(dir, LOCK_FILE))).toBe(false);
  });
});
