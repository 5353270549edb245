/**
 * File modes of the data directory: agentbridge's data (transcripts, answers, the MCP secret) is
 * only for the user it runs as. The directory is 0700; the database, its -wal/-shm, the marker
 * and the lock file are 0600. The process umask is never changed (agent processes inherit it):
 * modes are given at creation and existing files are tightened with chmod.
 */
import fs from 'node:fs';
import path from 'node:path';
import type { Logger } from '../logger.js';

/** Mode of the data directory. */
export const DIR_MODE = 0o700;
/** Mode of the database, its -wal/-shm, the marker and the lock file. */
export const FILE_MODE = 0o600;

/** A directory agentbridge needs cannot be created or written; `reason` says why (e.g. `ENOENT: no such file or directory, mkdir '/proc/nope'`). */
export class DirectoryError extends Error {
  override readonly name = 'DirectoryError';
  constructor(
    readonly dir: string,
    readonly reason: string,
  ) {
    super(`${dir} cannot be used: ${reason}`);
  }
}

/**
 * Creates `dir` and its missing parents, one level at a time, each new one with `mode`.
 * Not `fs.mkdirSync(dir, { recursive: true })`: Node's recursive mkdir (20, and 22.23 still) never returns for a
 * path under /proc (e.g. `/proc/nope`: mkdir says ENOENT while the parent exists, and it retries
 * forever); one level at a time every failure comes back at once.
 * @throws DirectoryError naming the level that could not be created, or a non-directory in the way
 */
export function makeDirs(dir: string, mode = 0o777): void {
  const abs = path.resolve(dir);
  const missing: string[] = [];
  for (let p = abs; ; p = path.dirname(p)) {
    let st: fs.Stats | undefined;
    try {
      st = fs.statSync(p);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw new DirectoryError(abs, (err as Error).message);
    }
    if (st) {
      if (!st.isDirectory()) throw new DirectoryError(abs, `${p} exists and is not a directory`);
      break;
    }
    missing.unshift(p);
    if (path.dirname(p) === p) break;
  }
  for (const p of missing) {
    try {
      fs.mkdirSync(p, { mode });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw new DirectoryError(abs, (err as Error).message);
    }
  }
}

/**
 * Checks that files can be created in `dir` by creating and removing one (`access(W_OK)` is not
 * enough: it says yes to root for /proc, and to everyone for a read-only mount). Synchronous and
 * bounded: one create, one unlink.
 * @throws DirectoryError with the file system's reason (e.g. EROFS, EACCES, ENOSPC)
 */
export function assertWritableDir(dir: string): void {
  const probe = path.join(dir, `.agentbridge-write-check-${process.pid}`);
  try {
    fs.closeSync(fs.openSync(probe, fs.constants.O_CREAT | fs.constants.O_EXCL | fs.constants.O_WRONLY, FILE_MODE));
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw new DirectoryError(path.resolve(dir), `cannot create files in it: ${(err as Error).message}`);
  }
  fs.rmSync(probe, { force: true });
}

/**
 * Creates `dir` (and missing parents, {@link makeDirs}) with mode 0700, checks that files can be
 * created in it ({@link assertWritableDir}; before any chmod, so a system directory given by mistake,
 * e.g. /proc, is left alone), then tightens an existing one whose group or others bits are set. A
 * failing chmod (e.g. EPERM: owned by another user) is logged as a warning, not thrown.
 * @throws DirectoryError when the directory cannot be created or written
 */
export function ensurePrivateDir(dir: string, logger?: Pick<Logger, 'warn' | 'info'>): void {
  makeDirs(dir, DIR_MODE);
  assertWritableDir(dir);
  tighten(dir, DIR_MODE, logger);
}

/** Tightens `file` to 0600 when it exists and is wider (a missing file is fine). Logs a warning when chmod fails. */
export function tightenFile(file: string, logger?: Pick<Logger, 'warn' | 'info'>): void {
  tighten(file, FILE_MODE, logger);
}

/**
 * Creates an empty `file` with mode 0600 if it does not exist (before SQLite opens it: SQLite gives
 * the -wal and -shm files the main file's mode), else tightens it.
 */
export function createPrivateFile(file: string, logger?: Pick<Logger, 'warn' | 'info'>): void {
  try {
    fs.closeSync(fs.openSync(file, fs.constants.O_CREAT | fs.constants.O_EXCL | fs.constants.O_WRONLY, FILE_MODE));
    return;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
  }
  tighten(file, FILE_MODE, logger);
}

function tighten(p: string, mode: number, logger?: Pick<Logger, 'warn' | 'info'>): void {
  let st: fs.Stats;
  try {
    st = fs.statSync(p);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw err;
  }
  const current = st.mode & 0o777;
  if ((current & ~mode) === 0) return;
  try {
    fs.chmodSync(p, current & mode);
    logger?.info({ path: p, from: current.toString(8), to: (current & mode).toString(8) }, 'tightened file mode (data directory is private to this user)');
  } catch (err) {
    logger?.warn(
      { path: p, mode: current.toString(8), err: (err as Error).message },
      `could not tighten the mode of ${p} to ${mode.toString(8)}; its contents may be readable by other users`,
    );
  }
}
