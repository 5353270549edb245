/**
 * Where an agent CLI keeps the files of one of its sessions: each runner declares it
 * (`RunnerDefinition.sessionFiles`, ./define.ts) so that cluster mode (src/cluster/session-files.ts)
 * can save them to the database after a turn and restore them on another worker before a resume
 * (docs/ARCHITECTURE.md §10, "Cluster mode — workspaces on any worker").
 *
 * A location names its root symbolically ({@link SessionFileLocation.name}, e.g. `claude-config`):
 * stored rows carry that name and paths relative to the root, never host paths, so a worker with
 * another HOME (or CLAUDE_CONFIG_DIR, CODEX_HOME) restores into its own root.
 */
import fs from 'node:fs';
import path from 'node:path';

/** What a runner is told to locate a session's files. */
export interface SessionFilesContext {
  /** The agent process environment (HOME, CLAUDE_CONFIG_DIR, CODEX_HOME, … decide the root). */
  env: NodeJS.ProcessEnv;
  /** The turn's working directory (absolute; Claude keys its sessions by it). */
  cwd: string;
  /** The agent's own session id. */
  sessionId: string;
}

/** Where one agent session's files live on this host. */
export interface SessionFileLocation {
  /** Symbolic name of the root, stored in the database instead of the host path: `claude-config`, `codex-home`, `gemini-home`. */
  name: string;
  /** The root directory on this host (absolute). */
  root: string;
  /**
   * The files under `root` that hold the session, relative to it with `/` separators, in no
   * particular order; [] when there are none (yet). Rejects only on unexpected I/O errors.
   */
  paths(): Promise<string[]>;
  /**
   * True for a path that is restored only where it is missing, never replaced (e.g. Gemini's
   * `tmp/<project>/.project_root`, which names the directory that owns the folder on that host).
   * Absent: every path is append-only session data (replaced by a longer stored copy).
   */
  createOnly?(path: string): boolean;
}

/**
 * Every regular file under `dir`, relative to `base` with `/` separators (symbolic links are not
 * followed); [] when `dir` does not exist.
 */
export async function filesUnder(base: string, dir: string): Promise<string[]> {
  let entries: fs.Dirent[];
  try {
    entries = await fs.promises.readdir(dir, { withFileTypes: true });
  } catch (err) {
    if (isMissing(err)) return [];
    throw err;
  }
  const out: string[] = [];
  for (const e of entries) {
    const full = path.join(dir, e.name);
    if (e.isDirectory()) out.push(...(await filesUnder(base, full)));
    else if (e.isFile()) out.push(toRelative(base, full));
  }
  return out;
}

/** Whether `file` is a regular file (false when missing). */
export async function isFile(file: string): Promise<boolean> {
  try {
    return (await fs.promises.lstat(file)).isFile();
  } catch (err) {
    if (isMissing(err)) return false;
    throw err;
  }
}

/** `full` relative to `base`, with `/` separators. */
export function toRelative(base: string, full: string): string {
  return path.relative(base, full).split(path.sep).join('/');
}

/** True for ENOENT/ENOTDIR errors. */
export function isMissing(err: unknown): boolean {
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  return code === 'ENOENT' || code === 'ENOTDIR';
}
