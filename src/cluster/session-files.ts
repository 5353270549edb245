/**
 * `SessionFileSync`: the agent CLI's own session files follow the conversation from worker to
 * worker (cluster mode, docs/ARCHITECTURE.md §10 "workspaces on any worker"). After a turn
 * committed, the files the runner declares for the session (`Runner.sessionFiles`,
 * src/runners/session-files.ts) are stored in `agent_session_files`; before a turn that resumes
 * the session, the stored files whose local copy is missing or shorter are written back — into
 * this worker's own root (rows name the root symbolically, e.g. `claude-config`, with paths
 * relative to it, so a worker with another HOME restores into its own).
 *
 * Session files are append-only JSON lines: a longer local copy is newer and kept. A JSON-lines
 * file is stored up to its last complete line (the CLI may still be appending its final lines).
 * Nothing here fails a turn: every error is logged at warn and the turn goes on; a resume that
 * then fails continues from agentbridge's transcript (src/conversation/turn.ts).
 *
 * Not used with AGENTBRIDGE_WORKSPACES_SHARED=1 (one volume holds every worker's files).
 */
import fs from 'node:fs';
import path from 'node:path';
import type { Logger } from '../logger.js';
import type { AgentSessionFiles, AgentSessionRef } from '../conversation/session-files.js';
import type { Runner, SessionFileLocation } from '../runners/types.js';
import type { Store } from '../store/types.js';

/** Largest file saved, bytes (50 MB); a larger one is left out with a warning. */
export const MAX_SESSION_FILE_BYTES = 50 * 1024 * 1024;

/** What {@link SessionFileSync} is made with. */
export interface SessionFileSyncOptions {
  store: Pick<Store, 'sessionFiles'>;
  /** The runners by agent name; an agent whose runner declares no `sessionFiles` is skipped. */
  runners: Readonly<Record<string, Pick<Runner, 'sessionFiles'> | undefined>>;
  logger: Logger;
  /** Largest file saved, bytes (default {@link MAX_SESSION_FILE_BYTES}). */
  maxFileBytes?: number;
  /** How long the session's files must stay unchanged before they are read, ms (default {@link SETTLE_MS}; 0: read at once). */
  settleMs?: number;
  /** The longest wait for them to settle, ms (default {@link MAX_SETTLE_MS}); then they are read as they are. */
  maxSettleMs?: number;
}

/**
 * The agent may still be writing its session when the turn ends: claude 2.1.197 writes the turn's
 * last transcript lines (the assistant message) about 10 ms after its `result` line, as it exits
 * (seen with test/runners/claude-session-files.test.ts), and a live session's process writes on.
 * So a save waits until the session's files have not changed for this long, ms.
 */
export const SETTLE_MS = 400;
/** The longest a save waits for the files to settle, ms. */
export const MAX_SETTLE_MS = 5000;
/** How often the files are looked at while settling, ms. */
const SETTLE_POLL_MS = 50;

/** What a {@link SessionFileSync.save} did. */
export interface SaveReport {
  /** Relative paths stored. */
  saved: string[];
  /** Relative paths left out (too large, not UTF-8 text, unreadable). */
  skipped: string[];
}

/** What a {@link SessionFileSync.restore} did. */
export interface RestoreReport {
  /** Relative paths written (missing or shorter here). */
  written: string[];
  /** Relative paths whose local copy was as long or longer (kept). */
  kept: string[];
}

/** Saves and restores agent session files through the store (see the module doc). */
export class SessionFileSync implements AgentSessionFiles {
  constructor(private readonly opts: SessionFileSyncOptions) {}

  /**
   * Stores the session's files once they have settled (unchanged for `settleMs`), replacing the
   * conversation's stored set for the agent. Files over the size limit, or not UTF-8 text, are left out (warning). Nothing found: the
   * stored set stays as it was. Never rejects (a failure is logged at warn; the report is then empty).
   */
  async save(ref: AgentSessionRef): Promise<SaveReport> {
    const report: SaveReport = { saved: [], skipped: [] };
    const log = this.opts.logger.child({ conversationId: ref.conversationId, agent: ref.agent, sessionId: ref.sessionId });
    try {
      const loc = this.locate(ref);
      if (!loc) return report;
      const files: { root: string; path: string; content: string }[] = [];
      const limit = this.opts.maxFileBytes ?? MAX_SESSION_FILE_BYTES;
      for (const rel of await settled(loc, this.opts.settleMs ?? SETTLE_MS, this.opts.maxSettleMs ?? MAX_SETTLE_MS)) {
        const file = path.join(loc.root, rel);
        try {
          const size = (await fs.promises.stat(file)).size;
          if (size > limit) {
            log.warn({ path: rel, bytes: size, limit }, 'agent session file too large to save for other workers; left out');
            report.skipped.push(rel);
            continue;
          }
          const content = textOf(await fs.promises.readFile(file), rel);
          if (content === undefined) {
            log.warn({ path: rel }, 'agent session file is not UTF-8 text; left out');
            report.skipped.push(rel);
            continue;
          }
          files.push({ root: loc.name, path: rel, content });
          report.saved.push(rel);
        } catch (err) {
          log.warn({ path: rel, err: message(err) }, 'agent session file could not be read; left out');
          report.skipped.push(rel);
        }
      }
      if (files.length === 0) {
        log.debug('no agent session files to save');
        return report;
      }
      await this.opts.store.sessionFiles.save(ref.conversationId, ref.agent, ref.sessionId, files);
      log.debug({ files: files.length }, 'agent session files saved');
      return report;
    } catch (err) {
      log.warn({ err: message(err) }, 'agent session files could not be saved; a turn on another worker continues from the transcript');
      return { saved: [], skipped: report.saved.concat(report.skipped) };
    }
  }

  /**
   * Writes the stored files of session `ref.sessionId` whose local copy is missing or shorter (a
   * path the runner marks `createOnly`: only when missing) (directories 0700, files 0600, each written to a temporary file and renamed into place). Rows of
   * another session, of a root this runner does not declare, or whose path leaves the root are
   * ignored. Never rejects (a failure is logged at warn; what was written stays).
   */
  async restore(ref: AgentSessionRef): Promise<RestoreReport> {
    const report: RestoreReport = { written: [], kept: [] };
    const log = this.opts.logger.child({ conversationId: ref.conversationId, agent: ref.agent, sessionId: ref.sessionId });
    try {
      const loc = this.locate(ref);
      if (!loc) return report;
      const rows = (await this.opts.store.sessionFiles.load(ref.conversationId, ref.agent)).filter((r) => r.sessionId === ref.sessionId);
      for (const row of rows) {
        if (row.root !== loc.name) {
          log.warn({ root: row.root }, 'stored agent session file under a root this runner does not declare; ignored');
          continue;
        }
        const target = path.resolve(loc.root, row.path);
        if (!inside(loc.root, target)) {
          log.warn({ path: row.path }, 'stored agent session file path leaves its root; ignored');
          continue;
        }
        const local = await sizeOf(target);
        if (local !== undefined && (local >= row.size || loc.createOnly?.(row.path))) {
          report.kept.push(row.path);
          continue;
        }
        await writePrivate(target, row.content);
        report.written.push(row.path);
      }
      if (report.written.length) log.info({ files: report.written.length }, 'agent session files restored from the database');
    } catch (err) {
      log.warn({ err: message(err) }, 'agent session files could not be restored; a failed resume continues from the transcript');
    }
    return report;
  }

  /** The runner's declared location for the session, or undefined (none declared). */
  private locate(ref: AgentSessionRef): SessionFileLocation | undefined {
    return this.opts.runners[ref.agent]?.sessionFiles?.({ env: ref.env, cwd: ref.workdir, sessionId: ref.sessionId });
  }
}

/**
 * The location's paths once the set and the files' sizes and modification times have stayed the
 * same for `settleMs` (looked at every {@link SETTLE_POLL_MS} ms), or as they are after `maxSettleMs`.
 */
async function settled(loc: SessionFileLocation, settleMs: number, maxSettleMs: number): Promise<string[]> {
  const look = async () => {
    const paths = (await loc.paths()).sort();
    const stats = await Promise.all(
      paths.map((p) =>
        fs.promises.stat(path.join(loc.root, p)).then(
          (st) => `${st.size}:${st.mtimeMs}`,
          () => 'gone',
        ),
      ),
    );
    return { paths, key: paths.map((p, i) => `${p}=${stats[i]}`).join('\n') };
  };
  let last = await look();
  if (settleMs <= 0) return last.paths;
  const deadline = Date.now() + maxSettleMs;
  let stableSince = Date.now();
  while (Date.now() - stableSince < settleMs && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, SETTLE_POLL_MS));
    const now = await look();
    if (now.key !== last.key) stableSince = Date.now();
    last = now;
  }
  return last.paths;
}

/**
 * The file's text, or undefined when it is not UTF-8 text (a NUL byte, which PostgreSQL's TEXT
 * cannot hold, or bytes that do not decode). A `.jsonl` file is cut after its last newline.
 */
export function textOf(bytes: Buffer, rel: string): string | undefined {
  if (bytes.includes(0)) return undefined;
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    return undefined;
  }
  if (rel.endsWith('.jsonl')) text = text.slice(0, text.lastIndexOf('\n') + 1);
  return text;
}

/** Whether `target` lies strictly inside `root`. */
function inside(root: string, target: string): boolean {
  const rel = path.relative(path.resolve(root), target);
  return rel !== '' && !rel.startsWith('..') && !path.isAbsolute(rel);
}

/** The size of `file` in bytes, or undefined when it does not exist. */
async function sizeOf(file: string): Promise<number | undefined> {
  try {
    return (await fs.promises.stat(file)).size;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
}

/** Writes `content` to `file` (mode 0600; missing directories made 0700) through a temporary file renamed into place. */
async function writePrivate(file: string, content: string): Promise<void> {
  await fs.promises.mkdir(path.dirname(file), { recursive: true, mode: 0o700 });
  const tmp = `${file}.agentbridge-${process.pid}-${Date.now()}.tmp`;
  try {
    await fs.promises.writeFile(tmp, content, { mode: 0o600 });
    await fs.promises.rename(tmp, file);
  } catch (err) {
    await fs.promises.rm(tmp, { force: true });
    throw err;
  }
}

function message(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
