/**
 * `agentbridge projects add|list|remove`: the projects channels can be bound to (`/agent project
 * NAME`; docs/ARCHITECTURE.md §4 "projects"). Safe while agentbridge runs: SQLite in WAL mode (and PostgreSQL) lets
 * this process write beside the service, which reads projects and bindings from the database at
 * every turn and command.
 *
 * - `add NAME --path DIR`: an existing directory inside AGENTBRIDGE_WORKSPACES_ROOT (relative
 *   paths are taken from there; symlinks out of it are refused — the rule of `/agent workdir`).
 * - `add NAME --git URL [--branch B]`: cloned with the host's `git` (execFile, no shell; the
 *   agents' environment — the host's git configuration and credentials, nothing of
 *   agentbridge's) into `<AGENTBRIDGE_WORKSPACES_ROOT>/NAME`, which must not exist yet.
 * - `--worktrees`: each conversation gets its own git worktree and branch (needs a git repository).
 * - `remove NAME`: forgets the project and its channel bindings; its directory, clone and
 *   worktrees stay on disk (the command says where).
 * Exit codes: 0 ok; 1 unknown project, git failed, no database; 2 invalid name, path or options.
 */
import fs from 'node:fs';
import path from 'node:path';
import type { Command } from 'commander';
import type { Config } from '../core/config.js';
import { BRANCH_NAME, PROJECT_NAME } from '../core/projects.js';
import { resolveWorkdir, WorkdirError } from '../conversation/commands/workdir.js';
import { cloneRepository, git, GitError, removeWorktree } from '../conversation/worktrees.js';
import type { AppStore } from '../store/open.js';
import type { Store } from '../store/types.js';
import { configOrExit, fail } from './env.js';
import { noDatabaseYet, withStore } from './store-access.js';

/** Opens the store writable (no owner lock: these commands run beside the service; ./store-access.ts), runs `fn`, closes it. */
function withProjectStore<T>(create: boolean, fn: (store: AppStore, config: Config) => Promise<T> | T): Promise<T> {
  return withStore({ mode: 'beside', create, noDatabase: '; add a project first' }, fn);
}

const iso = (ms: number) => new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');

/** The current branch of the repository at `dir`, or undefined (not a repository, detached HEAD). */
async function currentBranch(dir: string, env: NodeJS.ProcessEnv): Promise<string | undefined> {
  try {
    const b = (await git(['symbolic-ref', '--quiet', '--short', 'HEAD'], { cwd: dir, env })).trim();
    return b || undefined;
  } catch {
    return undefined;
  }
}

interface AddOptions {
  path?: string;
  git?: string;
  branch?: string;
  worktrees?: boolean;
}

async function addProject(name: string, opts: AddOptions): Promise<void> {
  const nameOk = PROJECT_NAME.safeParse(name);
  if (!nameOk.success) fail(`"${name}" is not a project name: ${nameOk.error.issues[0]!.message}`, 2);
  if ((opts.path === undefined) === (opts.git === undefined)) fail('give exactly one of --path DIR or --git URL', 2);
  if (opts.branch !== undefined) {
    const b = BRANCH_NAME.safeParse(opts.branch);
    if (!b.success) fail(`--branch "${opts.branch}": ${b.error.issues[0]!.message}`, 2);
  }
  if (opts.git !== undefined && (opts.git.startsWith('-') || /[\0\n\r]/.test(opts.git) || !opts.git)) fail(`--git "${opts.git}" is not a repository URL`, 2);
  await withProjectStore(true, async (store, config) => {
    if (await store.projects.get(name)) fail(`project "${name}" already exists (see: agentbridge projects list)`);
    const env = config.agentEnv;
    let dir: string;
    let branch: string | undefined = opts.branch;
    if (opts.path !== undefined) {
      const target = path.resolve(config.workspacesRoot, opts.path);
      if (!fs.existsSync(target) || !fs.statSync(target).isDirectory()) fail(`--path ${opts.path}: no such directory (${target})`, 2);
      try {
        dir = resolveWorkdir(config.workspacesRoot, opts.path);
      } catch (err) {
        if (err instanceof WorkdirError) fail(`--path: ${err.message.replace(/`/g, '')}`, 2);
        throw err;
      }
      const isRepo = await git(['rev-parse', '--show-toplevel'], { cwd: dir, env }).then(
        () => true,
        () => false,
      );
      if (opts.worktrees && !isRepo) fail(`--worktrees needs a git repository, and ${dir} is not in one`, 2);
      if (branch !== undefined && !isRepo) fail(`--branch needs a git repository, and ${dir} is not in one`, 2);
      if (isRepo && branch === undefined) branch = await currentBranch(dir, env);
      if (isRepo && branch !== undefined) {
        const ok = await git(['rev-parse', '--verify', '--quiet', `${branch}^{commit}`], { cwd: dir, env }).then(
          () => true,
          () => false,
        );
        if (!ok) fail(`--branch ${branch}: no such branch with a commit in ${dir}`, 2);
      }
    } else {
      fs.mkdirSync(config.workspacesRoot, { recursive: true });
      dir = path.join(fs.realpathSync(config.workspacesRoot), name);
      if (fs.existsSync(dir)) fail(`${dir} already exists; use --path ${name} to add it as it is, or move it away`, 2);
      process.stdout.write(`cloning ${opts.git} into ${dir} …\n`);
      try {
        await cloneRepository(opts.git!, dir, branch, env);
      } catch (err) {
        if (err instanceof GitError) fail(`the clone failed: ${err.message}`);
        throw err;
      }
      branch ??= await currentBranch(dir, env);
    }
    await store.projects.add({ name, path: dir, gitUrl: opts.git ?? null, branch: branch ?? null, worktrees: opts.worktrees === true });
    process.stdout.write(
      [
        `added project ${name}: ${dir}${branch ? ` (branch ${branch})` : ''}${opts.worktrees ? ', a git worktree per conversation' : ''}`,
        `bind a channel to it: /agent project ${name} (an admin, in the channel)`,
      ].join('\n') + '\n',
    );
  });
}

export function registerProjectCommands(program: Command): void {
  const projects = program.command('projects').description('projects channels can be bound to with /agent project NAME (safe while agentbridge runs)');

  projects
    .command('add <name>')
    .description('add a project: an existing directory inside AGENTBRIDGE_WORKSPACES_ROOT, or a git clone made there as <root>/<name>')
    .option('--path <dir>', 'an existing directory inside AGENTBRIDGE_WORKSPACES_ROOT (relative: from there)')
    .option('--git <url>', "a repository to clone with the host's git and credentials")
    .option('--branch <branch>', 'the branch to clone and to start worktrees from (default: the current branch)')
    .option('--worktrees', 'give each conversation its own git worktree and branch agentbridge/<conversation>')
    .action((name: string, opts: AddOptions) => addProject(name, opts));

  projects
    .command('list')
    .description('list projects and the channels bound to them')
    .action(async () => {
      const config = configOrExit();
      if (noDatabaseYet(config)) {
        process.stdout.write('no projects\n');
        return;
      }
      await withProjectStore(false, async (store) => {
        const rows = await store.projects.list();
        if (!rows.length) process.stdout.write('no projects\n');
        for (const p of rows) {
          const channels = (await store.projects.bindingsOf(p.name)).map((b) => `${b.platform}:${b.channel}`);
          const worktrees = (await store.projects.worktrees()).filter((w) => w.project === p.name).length;
          process.stdout.write(
            `${p.name}  ${p.path}  ${p.gitUrl ? `git=${p.gitUrl}` : 'path'}  branch=${p.branch ?? '-'}  worktrees=${p.worktrees ? `on (${worktrees})` : 'off'}  channels=${channels.join(',') || '-'}  added=${iso(p.createdAt)}\n`,
          );
        }
      });
    });

  projects
    .command('remove <name>')
    .description('forget a project and its channel bindings (its directory and worktrees stay on disk)')
    .action(async (name: string) => {
      await withProjectStore(false, async (store) => {
        const p = await store.projects.get(name);
        if (!p) fail(`no project "${name}" (see: agentbridge projects list)`);
        const channels = (await store.projects.bindingsOf(name)).length;
        await store.projects.remove(name);
        process.stdout.write(`removed project ${name} (${channels} channel binding${channels === 1 ? '' : 's'}); its files stay in ${p.path}\n`);
      });
    });
}

/**
 * After `db prune`: removes the worktrees (and branches) of conversations that no longer exist,
 * unless they have uncommitted changes or commits on no remote branch — those are kept and
 * reported. Returns the report lines.
 */
export async function pruneWorktrees(store: Pick<Store, 'projects'>, env: NodeJS.ProcessEnv): Promise<string[]> {
  const lines: string[] = [];
  for (const row of await store.projects.orphanWorktrees()) {
    const repo = (await store.projects.get(row.project))?.path ?? path.dirname(path.dirname(row.path));
    try {
      const r = await removeWorktree(store, row, repo, env);
      if (r.removed) lines.push(`  worktree removed: ${row.path} (branch ${row.branch})`);
      else if (r.reason === 'unpushed') lines.push(`  worktree kept: ${row.path} — branch ${row.branch} has ${r.commits.length} unpushed commit(s)`);
      else lines.push(`  worktree kept: ${row.path} — ${r.files.length} uncommitted change(s)`);
    } catch (err) {
      lines.push(`  worktree kept: ${row.path} — ${err instanceof Error ? err.message : String(err)}`);
    }
  }
  return lines;
}
