/**
 * What changed in the turn's working tree (AGENTBRIDGE_CHANGE_SUMMARY; docs/ARCHITECTURE.md §1.1
 * step 13b): a snapshot of the git work tree before the agent gets the prompt and one after it
 * finished, compared into the line `📝 N files changed (+A −D): …` that ends the answer. The
 * definitions (which paths, which counts, the line's format) and the pure parsing are
 * src/core/changes.ts; this module runs git and reads the changed files.
 *
 * - Outside a git work tree nothing runs: {@link ChangeSummaries.watch} looks for a `.git` entry
 *   in the working directory and its parents (a few `stat` calls, no process) and returns undefined.
 * - git runs with `execFile` (no shell), a timeout ({@link GIT_TIMEOUT_MS} per call, then SIGKILL),
 *   `GIT_OPTIONAL_LOCKS=0` (no index refresh written into the repository), and an environment of
 *   `PATH`, `HOME` and `XDG_CONFIG_HOME` only (from the agents' environment: the user's git
 *   configuration applies; nothing of agentbridge's, no API keys). Commands: `rev-parse`
 *   (work tree, prefix, HEAD — once, before), then `diff --numstat -z -M <base>` and `ls-files
 *   --others --exclude-standard -z` at once, for each snapshot. Nothing is written to the repository.
 * - Each changed or untracked file is `lstat`ed and, up to {@link MAX_READ_BYTES}, read and hashed
 *   (SHA-1 of the content; a symlink: its target; a bigger file: size and mtime; a directory or special file: its mode), so a
 *   file edited further with the same line counts is still seen. A snapshot of more than
 *   {@link MAX_PATHS} paths is given up.
 * - Any failure (not a work tree after all, git missing, a timeout, an unreadable output) means no
 *   line and a debug log — never a failed turn.
 */
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import type { Logger } from '../logger.js';
import {
  changesBetween,
  countLines,
  formatChangeSummary,
  parseNulList,
  parseNumstatZ,
  parseRepoInfo,
  treeState,
  type RepoInfo,
  type TreeState,
} from '../core/changes.js';

/** Each git call is killed after this long, ms. */
export const GIT_TIMEOUT_MS = 5_000;
/** Files up to this size are read and hashed; bigger ones are fingerprinted by size and mtime (and counted without lines when untracked). */
export const MAX_READ_BYTES = 4 * 1024 * 1024;
/** A snapshot with more changed and untracked paths than this is given up (no line). */
export const MAX_PATHS = 10_000;
/** The variables git gets from the agents' environment (besides the fixed ones in {@link gitEnvironment}). */
const PASSED_VARIABLES = ['PATH', 'HOME', 'XDG_CONFIG_HOME'] as const;
/** Files read at once while fingerprinting. */
const READ_CONCURRENCY = 16;

export interface ChangeSummaryOptions {
  /** The agents' environment (`config.agentEnv`); only {@link PASSED_VARIABLES} reach git. */
  env: NodeJS.ProcessEnv;
  logger: Logger;
  /** Per git call, ms; default {@link GIT_TIMEOUT_MS}. */
  timeoutMs?: number;
  /** The git executable; default `git` on the PATH. */
  git?: string;
  /** Clock for the timing logs, ms. */
  now?: () => number;
}

/** One turn's watch over its working tree. */
export interface ChangeWatch {
  /** Settles once the "before" snapshot is taken, or failed; never rejects. The agent gets its prompt after it. */
  readonly ready: Promise<void>;
  /**
   * Takes the "after" snapshot and compares: the summary line, or undefined when nothing changed,
   * the "before" snapshot failed, or git failed now. Never rejects. Call once, after the agent finished.
   */
  summary(): Promise<string | undefined>;
}

/** The git environment: {@link PASSED_VARIABLES} of `env`, `GIT_OPTIONAL_LOCKS=0`, `GIT_TERMINAL_PROMPT=0`, `LC_ALL=C`. */
export function gitEnvironment(env: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  const out: NodeJS.ProcessEnv = { GIT_OPTIONAL_LOCKS: '0', GIT_TERMINAL_PROMPT: '0', LC_ALL: 'C' };
  for (const name of PASSED_VARIABLES) if (env[name] !== undefined) out[name] = env[name];
  return out;
}

/** True when `dir` or one of its parents has a `.git` entry (directory or file: a worktree, a submodule). Synchronous, a few `stat` calls. */
export function insideGitTree(dir: string): boolean {
  for (let d = path.resolve(dir); ;) {
    if (fs.statSync(path.join(d, '.git'), { throwIfNoEntry: false })) return true;
    const parent = path.dirname(d);
    if (parent === d) return false;
    d = parent;
  }
}

/** Takes the snapshots of turns' working trees (one instance for the service; see the module doc). */
export class ChangeSummaries {
  private readonly env: NodeJS.ProcessEnv;
  private readonly timeoutMs: number;
  private readonly git: string;
  private readonly now: () => number;

  constructor(private readonly opts: ChangeSummaryOptions) {
    this.env = gitEnvironment(opts.env);
    this.timeoutMs = opts.timeoutMs ?? GIT_TIMEOUT_MS;
    this.git = opts.git ?? 'git';
    this.now = opts.now ?? Date.now;
  }

  /**
   * Starts watching `cwd` (the turn's working directory): the "before" snapshot starts now.
   * Undefined when `cwd` is not inside a git work tree ({@link insideGitTree}; nothing is started).
   */
  watch(cwd: string): ChangeWatch | undefined {
    if (!insideGitTree(cwd)) return undefined;
    const log = this.opts.logger;
    const started = this.now();
    const taken = this.repoInfo(cwd)
      .then(async (info) => ({ info, state: await this.snapshot(info) }))
      .then(
        (b) => {
          log.debug({ cwd, ms: this.now() - started, paths: b.state.size }, 'change summary: snapshot before the turn');
          return b;
        },
        (err: unknown) => {
          log.debug({ cwd, err: message(err) }, 'change summary: no snapshot before the turn; no change line');
          return undefined;
        },
      );
    return {
      ready: taken.then(() => undefined),
      summary: async () => {
        const b = await taken;
        if (!b) return undefined;
        const t = this.now();
        try {
          const after = await this.snapshot(b.info);
          const line = formatChangeSummary(changesBetween(b.state, after), b.info.prefix);
          log.debug({ cwd, ms: this.now() - t, paths: after.size, changed: line !== undefined }, 'change summary: snapshot after the turn');
          return line;
        } catch (err) {
          log.debug({ cwd, err: message(err) }, 'change summary: no snapshot after the turn; no change line');
          return undefined;
        }
      },
    };
  }

  /** The work tree's root, the working directory's prefix and the base commit. */
  private async repoInfo(cwd: string): Promise<RepoInfo> {
    const r = await this.run(cwd, ['rev-parse', '--show-toplevel', '--show-prefix', '--show-object-format', '-q', '--verify', 'HEAD'], [0, 1]);
    return parseRepoInfo(r.stdout, r.code);
  }

  /** The tree's state against `info.base` (src/core/changes.ts → {@link treeState}). */
  private async snapshot(info: RepoInfo): Promise<TreeState> {
    const [diff, others] = await Promise.all([
      this.run(info.root, ['diff', '--numstat', '-z', '-M', '--no-color', '--no-ext-diff', '--no-textconv', info.base, '--']),
      this.run(info.root, ['ls-files', '--others', '--exclude-standard', '-z']),
    ]);
    const tracked = parseNumstatZ(diff.stdout);
    const untrackedPaths = parseNulList(others.stdout);
    if (tracked.length + untrackedPaths.length > MAX_PATHS) throw new Error(`more than ${MAX_PATHS} changed paths`);
    const untracked = new Set(untrackedPaths);
    const files = new Map<string, { fingerprint: string | null; lines: number | null }>();
    const paths = [...new Set([...tracked.map((e) => e.path), ...untrackedPaths])];
    for (let i = 0; i < paths.length; i += READ_CONCURRENCY) {
      const batch = paths.slice(i, i + READ_CONCURRENCY);
      const read = await Promise.all(batch.map((p) => inspect(path.join(info.root, p), untracked.has(p))));
      batch.forEach((p, j) => files.set(p, read[j]!));
    }
    const fingerprints = new Map([...files].map(([p, f]) => [p, f.fingerprint]));
    return treeState(
      tracked,
      untrackedPaths.map((p) => ({ path: p, lines: files.get(p)?.lines ?? null })),
      fingerprints,
    );
  }

  /** Runs git in `cwd`; resolves with stdout and the exit code when it is one of `okCodes`, else rejects. */
  private run(cwd: string, args: string[], okCodes: readonly number[] = [0]): Promise<{ stdout: string; code: number }> {
    return new Promise((resolve, reject) => {
      execFile(
        this.git,
        args,
        { cwd, env: this.env, timeout: this.timeoutMs, killSignal: 'SIGKILL', maxBuffer: 64 * 1024 * 1024, encoding: 'utf8', windowsHide: true },
        (err, stdout, stderr) => {
          const code = !err ? 0 : typeof err.code === 'number' ? err.code : null;
          if (code !== null && okCodes.includes(code)) return resolve({ stdout, code });
          const why = err?.killed ? `timed out after ${this.timeoutMs} ms` : stderr.trim().split('\n')[0] || err?.message || `exit ${code}`;
          reject(new Error(`git ${args[0]}: ${why}`));
        },
      );
    });
  }
}

/**
 * The fingerprint of the file at `file` (and, when `countIt`, its line count as git counts a new
 * file): null when there is none; `l:<target>` for a symlink (1 line, as git counts one);
 * `f:<sha1>` for a regular file up to {@link MAX_READ_BYTES}; `s:<size>:<mtime ms>` for a bigger
 * one and `o:<mode>` for anything else (both counted without lines). A read error counts as no file.
 */
async function inspect(file: string, countIt: boolean): Promise<{ fingerprint: string | null; lines: number | null }> {
  try {
    const st = await fs.promises.lstat(file);
    if (st.isSymbolicLink()) return { fingerprint: `l:${await fs.promises.readlink(file)}`, lines: 1 };
    if (!st.isFile()) return { fingerprint: `o:${st.mode}`, lines: null };
    if (st.size > MAX_READ_BYTES) return { fingerprint: `s:${st.size}:${st.mtimeMs}`, lines: null };
    const bytes = await fs.promises.readFile(file);
    return { fingerprint: `f:${createHash('sha1').update(bytes).digest('hex')}`, lines: countIt ? countLines(bytes) : null };
  } catch {
    return { fingerprint: null, lines: null };
  }
}

function message(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
