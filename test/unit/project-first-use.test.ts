/**
 * Project workspaces on first use (cluster mode: a worker that has never seen a project,
 * src/conversation/worktrees.ts): a project whose path is missing on this host but has a git URL is
 * cloned to that same path at its first turn (one clone for turns asking at once); a conversation's
 * recorded worktree missing on this host is made again — from its branch as pushed, else from its
 * recorded base. The "remote" is a local bare repository. Runs on both backends.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { worktreeBranch } from '../../src/core/projects.js';
import { conversationWorkdir, ensureProjectCheckout } from '../../src/conversation/worktrees.js';
import type { ConversationRow, Store } from '../../src/store/types.js';
import { BACKENDS, openTestStore } from '../helpers/backends.js';
import { gitRunner, initRepo } from '../helpers/git.js';

const dirs: string[] = [];
const stores: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const close of stores.splice(0)) await close();
  for (const d of dirs.splice(0)) fs.rmSync(d, { recursive: true, force: true });
});

const env = { PATH: process.env.PATH, HOME: os.tmpdir(), GIT_CONFIG_NOSYSTEM: '1' };
function tmp(): string {
  const d = fs.realpathSync(fs.mkdtempSync(path.join(os.tmpdir(), 'first-use-test-')));
  dirs.push(d);
  return d;
}
const run = gitRunner(env);
const git = (cwd: string, ...args: string[]) => run(cwd, ...args).trim();

/** A bare "remote" with `main` (notes.txt) and a `dev` branch (dev.txt). */
function remote(): string {
  const work = tmp();
  initRepo(run, work, { 'notes.txt': 'one\n' });
  git(work, 'checkout', '-qb', 'dev');
  fs.writeFileSync(path.join(work, 'dev.txt'), 'dev\n');
  git(work, 'add', '.');
  git(work, 'commit', '-qm', 'dev');
  git(work, 'checkout', '-q', 'main');
  const bare = path.join(tmp(), 'remote.git');
  git(work, 'clone', '-q', '--bare', work, bare);
  return bare;
}

function conv(id: string): ConversationRow {
  return {
    id,
    platform: 'slack',
    channel: 'C1',
    thread: null,
    agent: null,
    model: null,
    agentSessionId: null,
    agentSessionAgent: null,
    agentSessionAt: null,
    workdir: null,
    seededFrom: null,
    seededAt: null,
    permissionMode: null,
    createdAt: 0,
    updatedAt: 0,
  };
}

describe('ensureProjectCheckout', () => {
  it('clones a missing project (its branch) to the same absolute path, once for callers at once; an existing path or no URL is left alone', async () => {
    const url = remote();
    const where = path.join(tmp(), 'workspaces', 'web');
    await Promise.all([
      ensureProjectCheckout({ path: where, gitUrl: url, branch: 'dev' }, env),
      ensureProjectCheckout({ path: where, gitUrl: url, branch: 'dev' }, env),
    ]);
    expect(git(where, 'rev-parse', '--abbrev-ref', 'HEAD')).toBe('dev');
    expect(fs.existsSync(path.join(where, 'dev.txt'))).toBe(true);
    // No temporary clone left beside it.
    expect(fs.readdirSync(path.dirname(where))).toEqual(['web']);

    fs.writeFileSync(path.join(where, 'local.txt'), 'mine');
    await ensureProjectCheckout({ path: where, gitUrl: url, branch: 'dev' }, env);
    expect(fs.readFileSync(path.join(where, 'local.txt'), 'utf8')).toBe('mine');

    const none = path.join(tmp(), 'nothing');
    await ensureProjectCheckout({ path: none, gitUrl: null, branch: null }, env);
    expect(fs.existsSync(none)).toBe(false);
  });

  it('a failing clone rejects with git’s message and leaves nothing behind', async () => {
    const where = path.join(tmp(), 'ws', 'broken');
    await expect(ensureProjectCheckout({ path: where, gitUrl: path.join(tmp(), 'no-such.git'), branch: null }, env)).rejects.toThrow(/git clone failed/);
    expect(fs.readdirSync(path.dirname(where))).toEqual([]);
  });
});

describe.each(BACKENDS)('first use on another worker (%s)', (backend) => {
  async function storeWith(projectPath: string, url: string, worktrees: boolean): Promise<Store> {
    const { store, cleanup } = await openTestStore(backend, { shared: true });
    stores.push(cleanup);
    await store.projects.add({ name: 'web', path: projectPath, gitUrl: url, branch: 'main', worktrees }, 1);
    await store.projects.bind({ platform: 'slack', channel: 'C1', project: 'web', boundBy: 'slack:U1' }, 2);
    return store;
  }

  it('a project without worktrees is cloned at its first turn and used as the workdir', async () => {
    const url = remote();
    const where = path.join(tmp(), 'ws', 'web');
    const store = await storeWith(where, url, false);
    expect(await conversationWorkdir(store, conv('slack:T:C1:1.0'), '/default', env)).toBe(where);
    expect(git(where, 'rev-parse', '--abbrev-ref', 'HEAD')).toBe('main');
  });

  it('a recorded worktree missing on this host is made again: from its pushed branch, else from its recorded base', async () => {
    const url = remote();
    // Worker A: clone, worktree, a commit on the conversation's branch, pushed; a second conversation's branch not pushed.
    const hostA = path.join(tmp(), 'ws', 'web');
    const store = await storeWith(hostA, url, true);
    const pushed = await conversationWorkdir(store, conv('slack:T:C1:1.1'), '/default', env);
    fs.writeFileSync(path.join(pushed, 'work.txt'), 'from A\n');
    git(pushed, 'add', '.');
    git(pushed, 'commit', '-qm', 'work on A');
    git(pushed, 'push', '-q', 'origin', worktreeBranch('slack:T:C1:1.1'));
    const local = await conversationWorkdir(store, conv('slack:T:C1:2.2'), '/default', env);
    const base = (await store.projects.worktree('slack:T:C1:2.2'))!.base;
    // main moves on in the remote meanwhile: a re-created worktree must start from its recorded base, not from main.
    const other = path.join(tmp(), 'other');
    git(path.dirname(other), 'clone', '-q', url, other);
    fs.writeFileSync(path.join(other, 'later.txt'), 'later\n');
    git(other, 'add', '.');
    git(other, 'commit', '-qm', 'later');
    git(other, 'push', '-q', 'origin', 'main');

    // Worker B has nothing: same absolute path, a new clone (simulated by removing A's checkout).
    fs.rmSync(hostA, { recursive: true, force: true });
    const again = await conversationWorkdir(store, conv('slack:T:C1:1.1'), '/default', env);
    expect(again).toBe(pushed);
    expect(fs.readFileSync(path.join(again, 'work.txt'), 'utf8')).toBe('from A\n');
    expect(git(again, 'rev-parse', '--abbrev-ref', 'HEAD')).toBe(worktreeBranch('slack:T:C1:1.1'));

    const second = await conversationWorkdir(store, conv('slack:T:C1:2.2'), '/default', env);
    expect(second).toBe(local);
    expect(git(second, 'rev-parse', 'HEAD')).toBe(base);
    expect(git(hostA, 'rev-parse', 'main')).not.toBe(base);
    // The recorded base is kept.
    expect((await store.projects.worktree('slack:T:C1:2.2'))!.base).toBe(base);
  });
});
