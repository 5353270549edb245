/**
 * File modes of the data directory: agentbridge's data (transcripts, answers, the MCP secret) is
 * only for the user it runs as. The directory is 0700; the database, its -wal/-shm, the marker
 * and the lock file are 0600. The process umask is never changed (agent processes inherit it):
 * modes are given at creation and existing files are tightened with chmod.
 */
import fs from 'node:fs';
import type { Logger } from '../logger.js';

/** Mode of the data directory. */
export const DIR_MODE = 0o700;
/** Mode of the database, its -wal/-shm, the marker and the lock file. */
export const FILE_MODE = 0o600;

/**
 * Creates `dir` (and missing parents) with mode 0700, or tightens an existing one whose group or
 * others bits are set. A failing chmod (e.g. EPERM: owned by another user) is logged as a warning,
 * not thrown. Throws the `fs` error when the directory cannot be created.
 */
export function ensurePrivateDir(dir: string, logger?: Pick<Logger, 'warn' | 'info'>): void {
  fs.mkdirSync(dir, { recursive: true, mode: DIR_MODE });
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
