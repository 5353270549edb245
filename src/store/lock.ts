/**
 * Single owner per data directory: a lock file `agentbridge.lock` holding `{pid, startedAt}`,
 * created with O_EXCL. A lock left by a dead process is taken over; a live owner is refused.
 */
import fs from 'node:fs';
import path from 'node:path';
import { ensurePrivateDir, FILE_MODE } from './files.js';

/** Name of the lock file inside the data directory. */
export const LOCK_FILE = 'agentbridge.lock';

/** Who holds a data directory. */
export interface OwnerInfo {
  pid: number;
  /** When the owner took the lock, ms since the epoch. */
  startedAt: number;
}

/** A held lock. */
export interface OwnerLock extends OwnerInfo {
  /** Absolute path of the lock file. */
  readonly path: string;
  /** Removes the lock file (only if it is still ours). Idempotent; also done on process exit. */
  release(): void;
}

/** Another live process owns the data directory. */
export class StoreLockedError extends Error {
  override readonly name = 'StoreLockedError';
  constructor(
    readonly dataDir: string,
    /** The owner's pid; undefined when its lock file is still being written. */
    readonly pid: number | undefined,
  ) {
    super(`another agentbridge${pid === undefined ? '' : ` (pid ${pid})`} is using ${dataDir}; stop it first or use a different AGENTBRIDGE_DATA_DIR`);
  }
}

/** Lock files held by this process (absolute path → file content), to tell our own pid from a reused one. */
const held = new Map<string, string>();

/** A lock file younger than this whose content cannot be parsed is being written right now. */
const WRITE_GRACE_MS = 2000;

/**
 * Takes the lock of `dataDir` (created 0700 if missing) for this process; the lock file is 0600.
 * Throws {@link StoreLockedError} when a live process holds it (also when this process already
 * does), and the `fs` error for anything else (e.g. EACCES).
 */
export function acquireOwnerLock(dataDir: string): OwnerLock {
  const dir = path.resolve(dataDir);
  ensurePrivateDir(dir);
  const lockPath = path.join(dir, LOCK_FILE);
  for (let attempt = 0; attempt < 5; attempt++) {
    const startedAt = Date.now();
    const content = JSON.stringify({ pid: process.pid, startedAt });
    let fd: number;
    try {
      fd = fs.openSync(lockPath, 'wx', FILE_MODE);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      const seen = readLockFile(lockPath);
      if (seen === undefined) continue; // removed meanwhile: try again
      const owner = parseOwner(seen.content);
      if (owner ? isLiveOwner(lockPath, owner, seen.content) : Date.now() - seen.mtimeMs < WRITE_GRACE_MS) {
        throw new StoreLockedError(dataDir, owner?.pid);
      }
      takeOverStale(lockPath, seen.content);
      continue;
    }
    try {
      fs.writeSync(fd, content);
    } finally {
      fs.closeSync(fd);
    }
    return holdLock(lockPath, content, startedAt);
  }
  throw new Error(`could not take the lock ${lockPath}: it keeps changing; is another agentbridge starting?`);
}

/** The live owner of `dataDir`, or undefined when there is no lock file or its process is dead. Never throws for a missing/garbled file. */
export function readOwner(dataDir: string): OwnerInfo | undefined {
  const lockPath = path.join(path.resolve(dataDir), LOCK_FILE);
  const seen = readLockFile(lockPath);
  const owner = seen && parseOwner(seen.content);
  return owner && isLiveOwner(lockPath, owner, seen.content) ? owner : undefined;
}

function holdLock(lockPath: string, content: string, startedAt: number): OwnerLock {
  held.set(lockPath, content);
  const onExit = (): void => release();
  process.on('exit', onExit);
  let released = false;
  function release(): void {
    if (released) return;
    released = true;
    process.off('exit', onExit);
    held.delete(lockPath);
    // Only remove the file if it is still ours (not taken over after we were presumed dead).
    if (readLockFile(lockPath)?.content === content) fs.rmSync(lockPath, { force: true });
  }
  return { path: lockPath, pid: process.pid, startedAt, release };
}

function readLockFile(lockPath: string): { content: string; mtimeMs: number } | undefined {
  try {
    const content = fs.readFileSync(lockPath, 'utf8');
    return { content, mtimeMs: fs.statSync(lockPath).mtimeMs };
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
}

function parseOwner(content: string): OwnerInfo | undefined {
  try {
    const v = JSON.parse(content) as Partial<OwnerInfo>;
    if (Number.isInteger(v.pid) && (v.pid as number) > 0 && typeof v.startedAt === 'number') {
      return { pid: v.pid as number, startedAt: v.startedAt };
    }
  } catch {
    // garbled
  }
  return undefined;
}

/**
 * Whether the lock's owner is alive. Our own pid counts only if this process holds that very lock:
 * in a container the service often gets the same pid (e.g. 1) on every start, so a lock from a
 * previous run carrying our pid is stale.
 */
function isLiveOwner(lockPath: string, owner: OwnerInfo, content: string): boolean {
  if (owner.pid === process.pid) return held.get(lockPath) === content;
  try {
    process.kill(owner.pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM'; // exists, belongs to another user
  }
}

/**
 * Removes a stale lock whose content was `seen`. Renames it aside first and checks the content, so
 * that a fresh lock created by a concurrent starter in the meantime is put back, not deleted.
 */
function takeOverStale(lockPath: string, seen: string): void {
  const aside = `${lockPath}.stale-${process.pid}-${Date.now()}`;
  try {
    fs.renameSync(lockPath, aside);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw err;
  }
  if (fs.readFileSync(aside, 'utf8') !== seen) {
    try {
      fs.linkSync(aside, lockPath); // not the stale lock: restore it (fails if yet another appeared)
    } catch {
      // a newer lock exists; the next attempt will see it
    }
  }
  fs.rmSync(aside, { force: true });
}
