/**
 * Projects at turn time (docs/ARCHITECTURE.md §1.1 step 9b): which directory a conversation's
 * agent works in, the git worktree of a conversation of a `--worktrees` project, its diff and its
 * removal. git runs with `execFile` (no shell), a timeout ({@link PROJECT_GIT_TIMEOUT_MS}, then
 * SIGKILL) and the agents' environment (`config.agentEnv`: the host's git configuration and
 * credentials, nothing of agentbridge's).
 *
 * Where a conversation works ({@link conversationWorkdir}): its own `workdir` (the `workdir`
 * command) wins; else the project its channel is bound to (`channel_projects`; a Discord thread
 * and a Slack thread go by their parent channel, from the conversation id) — its worktree when the
 * project has `worktrees`, else its directory; else AGENTBRIDGE_WORKDIR.
 *
 * A worktree ({@link ensureWorktree}) is `<project>/.worktrees/<slug>` on the branch
 * `agentbridge/<slug>` (src/core/projects.ts), made from the project's branch at the
 * conversation's first turn with `git worktree add`. It is idempotent across restarts: a recorded
 * worktree that still exists is reused; a branch left by a crash after `worktree add` (with or
 * without its directory) is checked out again instead of created.
 */
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { WORKTREES_DIR, worktreeBranch, worktreeSlug } from '../core/projects.js';
import { parseConversationId } from '../platforms/registry.js';
import type { ConversationRow, ProjectRow, Store, WorktreeRow } from '../store/types.js';

/** Each git call of this module is killed after this long, ms (except a clone: {@link CLONE_TIMEOUT_MS}). */
export const PROJECT_GIT_TIMEOUT_MS = 60_000;
/** A clone (`projects add --git`, or a project's first use on a worker) is killed after this long, ms. */
export const CLONE_TIMEOUT_MS = 30 * 60_000;
/** git's empty tree: the diff base of a repository without commits. */
const EMPTY_TREE = '4b825dc642cb6eb9a060e54bf8d69288fbee4904';

/** A git command failed (exit code ≠ 0, a timeout, git missing); `message` carries git's stderr. */
export class GitError extends Error {
  override readonly name = 'GitError';
}

/**
 * Runs `git <args>` in `cwd` and resolves with its stdout.
 * @throws GitError with git's stderr (first 500 characters) when it fails
 */
export function git(args: string[], opts: { cwd: string; env: NodeJS.ProcessEnv; timeoutMs?: number }): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(
      'git',
      args,
      {
        cwd: opts.cwd,
        env: { ...opts.env, GIT_TERMINAL_PROMPT: '0' },
        timeout: opts.timeoutMs ?? PROJECT_GIT_TIMEOUT_MS,
        killSignal: 'SIGKILL',
        maxBuffer: 64 * 1024 * 1024,
      },
      (err, stdout, stderr) => {
        if (err) reject(new GitError(`git ${args[0]} failed: ${(String(stderr).trim() || err.message).slice(0, 500)}`));
        else resolve(String(stdout));
      },
    );
  });
}

/** The platform channel a conversation's project binding is looked up by (its parent channel for a thread). */
export function bindingChannel(conversationId: string): { platform: string; channel: string } {
  const p = parseConversationId(conversationId);
  return { platform: p.platform, channel: p.channel };
}

/** The project a conversation's channel is bound to, if any (none for an id no registered platform parses). */
export async function boundProject(store: Pick<Store, 'projects'>, conversationId: string): Promise<ProjectRow | undefined> {
  let where: { platform: string; channel: string };
  try {
    where = bindingChannel(conversationId);
  } catch {
    return undefined;
  }
  const b = await store.projects.binding(where.platform, where.channel);
  return b && store.projects.get(b.project);
}

/**
 * Clones `url` (its `branch`, else the remote's default) into `dir` with the host's git
 * (`git clone [--branch B] -- URL DIR`, the agents' environment `env`, {@link CLONE_TIMEOUT_MS}).
 * `dir` must not exist; its parent is created.
 * @throws GitError when git fails
 */
export async function cloneRepository(url: string, dir: string, branch: string | null | undefined, env: NodeJS.ProcessEnv): Promise<void> {
  fs.mkdirSync(path.dirname(dir), { recursive: true });
  await git(['clone', ...(branch ? ['--branch', branch] : []), '--', url, dir], { cwd: path.dirname(dir), env, timeoutMs: CLONE_TIMEOUT_MS });
}

/** Clones in progress in this process, by target path (two turns needing the same project wait for one clone). */
const cloning = new Map<string, Promise<void>>();

/**
 * Makes sure the project's directory exists on this host (cluster mode: workspaces on any worker,
 * docs/ARCHITECTURE.md §10): a project whose `path` is missing here but has a `gitUrl` is cloned
 * to that same absolute path (its `branch`). The clone goes to a temporary sibling directory that
 * is renamed into place, so two processes of one host cloning at once leave one complete clone (the
 * loser's is removed); in one process a second caller waits for the first clone. A path that
 * exists, or a project without `gitUrl`, is left as it is.
 * @throws GitError when the clone fails (nothing is left at `path`)
 */
export async function ensureProjectCheckout(project: Pick<ProjectRow, 'path' | 'gitUrl' | 'branch'>, env: NodeJS.ProcessEnv): Promise<void> {
  if (fs.existsSync(project.path) || !project.gitUrl) return;
  const running = cloning.get(project.path);
  if (running) return running;
  const url = project.gitUrl;
  const job = (async () => {
    const tmp = `${project.path}.agentbridge-clone-${process.pid}-${Date.now()}`;
    try {
      await cloneRepository(url, tmp, project.branch, env);
      try {
        fs.renameSync(tmp, project.path);
      } catch (err) {
        // Another process of this host got there first: keep its clone.
        if (!fs.existsSync(project.path)) throw err;
      }
    } finally {
      fs.rmSync(tmp, { recursive: true, force: true });
    }
  })().finally(() => cloning.delete(project.path));
  cloning.set(project.path, job);
  return job;
}

/**
 * The directory the conversation's agent works in (see the module comment), cloning the project
 * on this host when it is missing here ({@link ensureProjectCheckout}) and creating the
 * conversation's worktree when its project has worktrees.
 * @throws GitError when the clone or the worktree cannot be made
 */
export async function conversationWorkdir(
  store: Pick<Store, 'projects'>,
  conv: ConversationRow,
  defaultWorkdir: string,
  env: NodeJS.ProcessEnv,
): Promise<string> {
  if (conv.workdir) return conv.workdir;
  const project = await boundProject(store, conv.id);
  if (!project) return defaultWorkdir;
  await ensureProjectCheckout(project, env);
  if (!project.worktrees) return project.path;
  return (await ensureWorktree(store, project, conv.id, env)).path;
}

/**
 * The directory the conversation's turns run in now, without making anything (for the agent's
 * tools, e.g. `send_file`'s path rule): its own workdir; else, in a channel bound to a project,
 * its recorded worktree (a `--worktrees` project; the project's path before its first turn made
 * one) or the project's path; else `defaultWorkdir`. Same order as {@link conversationWorkdir}.
 */
export async function currentWorkdir(store: Pick<Store, 'projects' | 'conversations'>, conversationId: string, defaultWorkdir: string): Promise<string> {
  const own = (await store.conversations.get(conversationId))?.workdir;
  if (own) return own;
  const project = await boundProject(store, conversationId);
  if (!project) return defaultWorkdir;
  return (project.worktrees && (await store.projects.worktree(conversationId))?.path) || project.path;
}

/** True when `dir` is the top level of a git work tree. */
async function isWorkTreeTop(dir: string, env: NodeJS.ProcessEnv): Promise<boolean> {
  if (!fs.existsSync(dir)) return false;
  try {
    const top = (await git(['rev-parse', '--show-toplevel'], { cwd: dir, env })).trim();
    return fs.realpathSync(top) === fs.realpathSync(dir);
  } catch {
    return false;
  }
}

/** Adds `/.worktrees/` to the project's `info/exclude`, so the project's own checkout does not list the worktrees as untracked. */
async function excludeWorktreesDir(projectPath: string, env: NodeJS.ProcessEnv): Promise<void> {
  const gitDir = (await git(['rev-parse', '--git-common-dir'], { cwd: projectPath, env })).trim();
  const file = path.join(path.resolve(projectPath, gitDir), 'info', 'exclude');
  const line = `/${WORKTREES_DIR}/`;
  const text = fs.existsSync(file) ? fs.readFileSync(file, 'utf8') : '';
  if (text.split('\n').includes(line)) return;
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.appendFileSync(file, `${text && !text.endsWith('\n') ? '\n' : ''}${line}\n`);
}

/**
 * The conversation's worktree in `project`, made at the first call (see the module comment) and
 * recorded in `conversation_worktrees`.
 * @throws GitError when git cannot make it
 */
export async function ensureWorktree(
  store: Pick<Store, 'projects'>,
  project: ProjectRow,
  conversationId: string,
  env: NodeJS.ProcessEnv,
): Promise<WorktreeRow> {
  const known = await store.projects.worktree(conversationId);
  if (known && (await isWorkTreeTop(known.path, env))) return known;
  const slug = worktreeSlug(conversationId);
  const branch = worktreeBranch(conversationId);
  const dir = path.join(project.path, WORKTREES_DIR, slug);
  const run = (args: string[]) => git(args, { cwd: project.path, env });
  await excludeWorktreesDir(project.path, env);
  const start = project.branch ?? 'HEAD';
  if (!(await isWorkTreeTop(dir, env))) {
    // A directory or a registration left by a crash in the middle of `worktree add`.
    await run(['worktree', 'prune']);
    if (fs.existsSync(dir) && fs.readdirSync(dir).length === 0) fs.rmdirSync(dir);
    const branchExists = await run(['rev-parse', '--verify', '--quiet', `refs/heads/${branch}`]).then(
      () => true,
      () => false,
    );
    fs.mkdirSync(path.dirname(dir), { recursive: true });
    if (branchExists) await run(['worktree', 'add', dir, branch]);
    else await run(['worktree', 'add', '-b', branch, dir, await recreateFrom(run, branch, known, start)]);
  }
  const base = known?.base ?? (await run(['merge-base', branch, start]).catch(() => run(['rev-parse', branch]))).trim();
  const row = { conversationId, project: project.name, path: fs.realpathSync(dir), branch, base };
  await store.projects.setWorktree(row);
  return { ...row, createdAt: known?.createdAt ?? Date.now() };
}

/**
 * Where a worktree branch missing from this clone starts: for a recorded worktree (made on another
 * worker, or lost) the branch as pushed (`origin/<branch>`) when the clone has it, else its
 * recorded base commit when the clone has that; otherwise — and for a new worktree — `start`.
 */
async function recreateFrom(run: (args: string[]) => Promise<string>, branch: string, known: WorktreeRow | undefined, start: string): Promise<string> {
  if (!known) return start;
  const has = (ref: string) =>
    run(['rev-parse', '--verify', '--quiet', ref]).then(
      () => true,
      () => false,
    );
  if (await has(`refs/remotes/origin/${branch}`)) return `refs/remotes/origin/${branch}`;
  if (known.base && (await has(`${known.base}^{commit}`))) return known.base;
  return start;
}

/** What `/agent diff` shows: git's `--stat` summary, and the patch written to a file, both against `base`. */
export interface WorkdirDiff {
  /** The commit compared against (a hash, or git's empty tree). */
  base: string;
  /** `git diff --stat` output; '' when nothing changed. */
  stat: string;
  /** Size of the patch written to the `patchFile` given, bytes (0 when nothing changed). */
  patchBytes: number;
}

/**
 * The changes of the git work tree at `dir` against `base` (default: HEAD, or the empty tree in a
 * repository without commits), including uncommitted and untracked (not ignored) files: the
 * `--stat` summary, and the full patch written to `patchFile` (created or replaced; git writes it
 * with `--output`, so a large patch is never held in memory). The patch is plain text for people
 * and `git apply` (no colour, no external diff driver, binary files named but not included). A
 * temporary index is used, so the repository's own index is untouched (new blobs may be written
 * to its object store).
 * @throws GitError when `dir` is not in a git work tree or git fails
 */
export async function workdirDiff(dir: string, env: NodeJS.ProcessEnv, patchFile: string, base?: string): Promise<WorkdirDiff> {
  const top = (await git(['rev-parse', '--show-toplevel'], { cwd: dir, env })).trim();
  const head = await git(['rev-parse', '--verify', '--quiet', 'HEAD'], { cwd: top, env }).then(
    (s) => s.trim(),
    () => undefined,
  );
  const from = base ?? head ?? EMPTY_TREE;
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'agentbridge-diff-'));
  try {
    const ienv = { ...env, GIT_INDEX_FILE: path.join(tmp, 'index') };
    if (head) await git(['read-tree', head], { cwd: top, env: ienv });
    await git(['add', '-A', '--', '.'], { cwd: top, env: ienv });
    const stat = (await git(['diff', '--cached', '--no-color', '--stat=120', from], { cwd: top, env: ienv })).trimEnd();
    await git(['diff', '--cached', '--no-color', '--no-ext-diff', '--no-textconv', `--output=${path.resolve(patchFile)}`, from], { cwd: top, env: ienv });
    return { base: from, stat, patchBytes: fs.statSync(patchFile).size };
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
}

/**
 * Commits of `branch` not on any remote-tracking branch and not in `base` (so not pushed anywhere):
 * their one-line summaries, newest first.
 * @throws GitError when git fails
 */
export async function unpushedCommits(repo: string, branch: string, base: string, env: NodeJS.ProcessEnv): Promise<string[]> {
  const out = await git(['log', '--format=%h %s', branch, '--not', base, '--remotes'], { cwd: repo, env });
  return out.split('\n').filter(Boolean);
}

/** What {@link removeWorktree} did. */
export type RemoveWorktreeResult =
  { removed: true } | { removed: false; reason: 'unpushed'; commits: string[] } | { removed: false; reason: 'dirty'; files: string[] };

/**
 * Removes a conversation's worktree and its branch and forgets the row, unless the branch has
 * commits that are not pushed (`unpushed`) or the worktree has uncommitted changes (`dirty`) —
 * `force` removes anyway. A worktree directory already gone only loses its branch and row.
 * @throws GitError when git fails
 */
export async function removeWorktree(
  store: Pick<Store, 'projects'>,
  row: WorktreeRow,
  repo: string,
  env: NodeJS.ProcessEnv,
  opts: { force?: boolean } = {},
): Promise<RemoveWorktreeResult> {
  const run = (args: string[]) => git(args, { cwd: repo, env });
  const exists = await isWorkTreeTop(row.path, env);
  const branchExists = await run(['rev-parse', '--verify', '--quiet', `refs/heads/${row.branch}`]).then(
    () => true,
    () => false,
  );
  if (!opts.force) {
    if (exists) {
      const dirty = (await git(['status', '--porcelain'], { cwd: row.path, env })).split('\n').filter(Boolean);
      if (dirty.length) return { removed: false, reason: 'dirty', files: dirty.map((l) => l.slice(3)) };
    }
    if (branchExists) {
      const commits = await unpushedCommits(repo, row.branch, row.base, env);
      if (commits.length) return { removed: false, reason: 'unpushed', commits };
    }
  }
  if (exists) await run(['worktree', 'remove', ...(opts.force ? ['--force'] : []), row.path]);
  else await run(['worktree', 'prune']);
  if (branchExists) await run(['branch', '-D', row.branch]);
  await store.projects.removeWorktree(row.conversationId);
  return { removed: true };
}
