/**
 * Projects and conversation worktrees: the pure naming (slug, branch, project and branch names),
 * command parsing, the store repository, the conversation id → channel binding resolution
 * (Slack, Discord, local), and the git side on real temporary repositories (worktree made once and
 * again after a crash, diff with untracked files, removal refusals) and the `project` command's replies.
 * Every case that uses the store runs on both backends (SQLite in memory, PostgreSQL).
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { BRANCH_NAME, MAX_SLUG_LENGTH, PROJECT_NAME, worktreeBranch, worktreeSlug } from '../../src/core/projects.js';
import { parseCommand } from '../../src/conversation/commands/index.js';
import { project } from '../../src/conversation/commands/project.js';
import type { CommandContext } from '../../src/conversation/commands/types.js';
import {
  bindingChannel,
  boundProject,
  conversationWorkdir,
  currentWorkdir,
  ensureWorktree,
  removeWorktree,
  workdirDiff,
} from '../../src/conversation/worktrees.js';
import type { Backend } from '../../src/store/sql/kysely.js';
import type { ConversationRow, Store } from '../../src/store/types.js';
import { BACKENDS, openTestStore } from '../helpers/backends.js';
import { gitRunner, initRepo } from '../helpers/git.js';

const dirs: string[] = [];
const stores: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const close of stores.splice(0)) await close();
  for (const d of dirs.splice(0)) fs.rmSync(d, { recursive: true, force: true });
});

const env = { PATH: process.env.PATH, HOME: os.tmpdir() };
function tmp(): string {
  const d = fs.realpathSync(fs.mkdtempSync(path.join(os.tmpdir(), 'projects-test-')));
  dirs.push(d);
  return d;
}
/** An empty store of `backend` (PostgreSQL: the file's shared database, emptied), closed after the test. */
async function storeOn(backend: Backend): Promise<Store> {
  const { store, cleanup } = await openTestStore(backend, { shared: true });
  stores.push(cleanup);
  return store;
}
const git = gitRunner(env);

/** A repository on `main` with notes.txt committed. */
function repo(): string {
  const d = tmp();
  initRepo(git, d, { 'notes.txt': 'one\ntwo\n' });
  return d;
}

function conv(id: string, workdir: string | null = null): ConversationRow {
  return {
    id,
    platform: id.split(':')[0] as ConversationRow['platform'],
    channel: 'x',
    thread: null,
    agent: null,
    model: null,
    agentSessionId: null,
    agentSessionAgent: null,
    agentSessionAt: null,
    workdir,
    seededFrom: null,
    seededAt: null,
    permissionMode: null,
    createdAt: 0,
    updatedAt: 0,
  };
}

describe('names', () => {
  it('worktreeSlug is a pure, unique, bounded, ref-safe function of the conversation id', () => {
    const ids = [
      'local:general:t1',
      'local:general-t1',
      'slack:T1:C1:1700000000.000100',
      `discord:1234567:${'9'.repeat(25)}:${'8'.repeat(25)}`,
      'x'.repeat(500),
      ':::',
    ];
    const slugs = ids.map(worktreeSlug);
    expect(new Set(slugs).size).toBe(ids.length);
    expect(slugs.map(worktreeSlug)).not.toEqual(slugs); // a slug of a slug is another slug (hashing)
    expect(ids.map(worktreeSlug)).toEqual(slugs);
    for (const s of slugs) {
      expect(s.length).toBeLessThanOrEqual(MAX_SLUG_LENGTH);
      expect(s).toMatch(/^[a-z0-9][a-z0-9-]*[a-z0-9]$/);
    }
    expect(worktreeSlug('local:general:t1')).toMatch(/^local-general-t1-[0-9a-f]{8}$/);
    for (const id of ids) expect(git(os.tmpdir(), 'check-ref-format', '--branch', worktreeBranch(id)).trim()).toBe(worktreeBranch(id));
  });

  it('project and branch names', () => {
    for (const ok of ['alpha', 'a', 'web-app-2', 'x'.repeat(40)]) expect(PROJECT_NAME.safeParse(ok).success).toBe(true);
    for (const bad of ['', 'Alpha', '-a', 'a b', 'a/b', '../x', 'x'.repeat(41), 'a.b']) expect(PROJECT_NAME.safeParse(bad).success).toBe(false);
    for (const ok of ['main', 'release/1.2', 'feature_x']) expect(BRANCH_NAME.safeParse(ok).success).toBe(true);
    for (const bad of ['', '-main', 'a..b', 'a/', 'a.lock', 'a b', 'a/.b', 'x@{1}']) expect(BRANCH_NAME.safeParse(bad).success).toBe(false);
  });

  it('parses project, diff and worktree commands', () => {
    const args = (t: string) => {
      const p = parseCommand(t);
      return p?.kind === 'command' ? { name: p.command.name, args: p.args } : p;
    };
    expect(args('/agent project')).toEqual({ name: 'project', args: { show: true } });
    expect(args('/agent project alpha')).toEqual({ name: 'project', args: { name: 'alpha' } });
    expect(args('/agent project none')).toEqual({ name: 'project', args: { name: null } });
    expect(parseCommand('/agent project Bad Name')?.kind).toBe('usage');
    expect(parseCommand('project plan for tomorrow')).toBeUndefined(); // stays a prompt
    expect(args('/agent diff')).toEqual({ name: 'diff', args: true });
    expect(args('/agent worktree remove')).toEqual({ name: 'worktree', args: { step: 'ask' } });
    expect(args('/agent worktree remove confirm')).toEqual({ name: 'worktree', args: { step: 'confirm' } });
    expect(args('/agent worktree remove force')).toEqual({ name: 'worktree', args: { step: 'force' } });
    expect(parseCommand('/agent worktree')?.kind).toBe('usage');
  });
});

describe.each(BACKENDS)('with the store (%s)', (backend) => {
  const store = () => storeOn(backend);

  describe('store: projects repository', () => {
    it('adds, binds, lists, unbinds, removes (bindings cascade) and finds orphan worktrees', async () => {
      const s = await store();
      expect(await s.projects.add({ name: 'alpha', path: '/w/alpha', gitUrl: 'file:///r.git', branch: 'main', worktrees: true }, 5)).toBe(true);
      expect(await s.projects.add({ name: 'alpha', path: '/other', gitUrl: null, branch: null, worktrees: false })).toBe(false);
      expect(await s.projects.get('alpha')).toEqual({
        name: 'alpha',
        path: '/w/alpha',
        gitUrl: 'file:///r.git',
        branch: 'main',
        worktrees: true,
        createdAt: 5,
      });
      await s.projects.bind({ platform: 'slack', channel: 'C1', project: 'alpha', boundBy: 'slack:U1' }, 7);
      expect(await s.projects.binding('slack', 'C1')).toEqual({ platform: 'slack', channel: 'C1', project: 'alpha', boundBy: 'slack:U1', createdAt: 7 });
      await expect(s.projects.bind({ platform: 'slack', channel: 'C2', project: 'nope', boundBy: 'x' })).rejects.toThrow(/FOREIGN KEY|foreign key constraint/); // SQLite's / PostgreSQL's message;
      await s.projects.setWorktree({ conversationId: 'local:g:t', project: 'alpha', path: '/w/alpha/.worktrees/s', branch: 'agentbridge/s', base: 'abc' });
      expect((await s.projects.orphanWorktrees()).map((w) => w.conversationId)).toEqual(['local:g:t']);
      await s.conversations.ensure({ id: 'local:g:t', platform: 'local', channel: 'g', thread: 't' });
      expect(await s.projects.orphanWorktrees()).toEqual([]);
      expect(await s.projects.remove('alpha')).toBe(true);
      expect(await s.projects.binding('slack', 'C1')).toBeUndefined();
      expect((await s.projects.worktree('local:g:t'))?.branch).toBe('agentbridge/s');
      expect(await s.projects.unbind('slack', 'C1')).toBe(false);
    });
  });

  describe('binding resolution: conversation id → channel → project', () => {
    it('a Slack thread, a Discord channel and its threads, a local thread go by their channel', async () => {
      expect(bindingChannel('slack:T1:C1:1700000000.000100')).toEqual({ platform: 'slack', channel: 'C1' });
      expect(bindingChannel('discord:111111:222222')).toEqual({ platform: 'discord', channel: '222222' });
      expect(bindingChannel('discord:111111:222222:333333')).toEqual({ platform: 'discord', channel: '222222' });
      expect(bindingChannel('local:general:t9')).toEqual({ platform: 'local', channel: 'general' });
      const s = await store();
      await s.projects.add({ name: 'alpha', path: '/w/alpha', gitUrl: null, branch: null, worktrees: false });
      await s.projects.bind({ platform: 'discord', channel: '222222', project: 'alpha', boundBy: 'x' });
      await s.projects.bind({ platform: 'slack', channel: 'C1', project: 'alpha', boundBy: 'x' });
      expect((await boundProject(s, 'discord:111111:222222'))?.name).toBe('alpha');
      expect((await boundProject(s, 'discord:111111:222222:333333'))?.name).toBe('alpha');
      expect(await boundProject(s, 'discord:111111:444444')).toBeUndefined();
      expect((await boundProject(s, 'slack:T1:C1:1700000000.000100'))?.name).toBe('alpha');
      expect(await boundProject(s, 'slack:T1:C2:1700000000.000100')).toBeUndefined();
      expect(await boundProject(s, 'local:C1:t')).toBeUndefined(); // same channel name, other platform
      expect(await boundProject(s, 'nochat:C1:t')).toBeUndefined(); // a platform not registered: unbound, not an error
    });

    it("the conversation's own workdir wins, then the project (its directory or worktree), then the default", async () => {
      const s = await store();
      const r = repo();
      await s.projects.add({ name: 'plain', path: '/w/plain', gitUrl: null, branch: null, worktrees: false });
      await s.projects.add({ name: 'wt', path: r, gitUrl: null, branch: 'main', worktrees: true });
      await s.projects.bind({ platform: 'local', channel: 'p', project: 'plain', boundBy: 'x' });
      await s.projects.bind({ platform: 'local', channel: 'w', project: 'wt', boundBy: 'x' });
      expect(await conversationWorkdir(s, conv('local:p:1', '/own'), '/def', env)).toBe('/own');
      expect(await conversationWorkdir(s, conv('local:p:1'), '/def', env)).toBe('/w/plain');
      expect(await conversationWorkdir(s, conv('local:other:1'), '/def', env)).toBe('/def');
      const dir = await conversationWorkdir(s, conv('local:w:1'), '/def', env);
      expect(dir).toBe(path.join(r, '.worktrees', worktreeSlug('local:w:1')));
      expect(git(dir, 'rev-parse', '--abbrev-ref', 'HEAD').trim()).toBe(worktreeBranch('local:w:1'));
      // The project's own checkout does not see the worktrees as untracked.
      expect(git(r, 'status', '--porcelain')).toBe('');
      // The agent's tools (send_file) find the same directory without making anything.
      expect(await currentWorkdir(s, 'local:w:1', '/def')).toBe(dir);
      expect(await currentWorkdir(s, 'local:w:2', '/def')).toBe(r); // no worktree yet: the project's path
      expect(await currentWorkdir(s, 'local:p:1', '/def')).toBe('/w/plain');
      expect(await currentWorkdir(s, 'local:other:1', '/def')).toBe('/def');
      await s.conversations.ensure({ id: 'local:w:3', platform: 'local', channel: 'w', thread: '3', workdir: '/own' });
      expect(await currentWorkdir(s, 'local:w:3', '/def')).toBe('/own');
    });
  });

  describe('worktrees on real repositories', () => {
    it('ensureWorktree is idempotent, also after a crash after `worktree add` (row lost) and with the directory gone', async () => {
      const s = await store();
      const r = repo();
      await s.projects.add({ name: 'wt', path: r, gitUrl: null, branch: 'main', worktrees: true });
      const p = (await s.projects.get('wt'))!;
      const first = await ensureWorktree(s, p, 'local:w:1', env);
      fs.writeFileSync(path.join(first.path, 'work.txt'), 'kept\n');
      expect((await ensureWorktree(s, p, 'local:w:1', env)).path).toBe(first.path);
      // Crash after `git worktree add`, before the row was written.
      await s.projects.removeWorktree('local:w:1');
      const again = await ensureWorktree(s, p, 'local:w:1', env);
      expect(again.path).toBe(first.path);
      expect(again.base).toBe(git(r, 'rev-parse', 'main').trim());
      expect(fs.readFileSync(path.join(again.path, 'work.txt'), 'utf8')).toBe('kept\n');
      // The directory removed by hand: the branch is checked out again.
      git(first.path, 'add', '.');
      git(first.path, 'commit', '-qm', 'work');
      fs.rmSync(first.path, { recursive: true, force: true });
      const third = await ensureWorktree(s, p, 'local:w:1', env);
      expect(fs.readFileSync(path.join(third.path, 'work.txt'), 'utf8')).toBe('kept\n');
      expect(third.base).toBe(first.base);
      // Two conversations: two worktrees, two branches.
      const other = await ensureWorktree(s, p, 'local:w:2', env);
      expect(other.path).not.toBe(third.path);
      expect(fs.existsSync(path.join(other.path, 'work.txt'))).toBe(false);
    });

    it('workdirDiff shows committed, uncommitted and untracked changes against the base, and leaves the index alone', async () => {
      const s = await store();
      const r = repo();
      await s.projects.add({ name: 'wt', path: r, gitUrl: null, branch: 'main', worktrees: true });
      const w = await ensureWorktree(s, (await s.projects.get('wt'))!, 'local:w:1', env);
      fs.writeFileSync(path.join(w.path, 'committed.txt'), 'c\n');
      git(w.path, 'add', 'committed.txt');
      git(w.path, 'commit', '-qm', 'c');
      fs.writeFileSync(path.join(w.path, 'notes.txt'), 'one\nTWO\n');
      fs.writeFileSync(path.join(w.path, 'new.txt'), 'n\n');
      const out = path.join(tmp(), 'a.patch');
      const d = await workdirDiff(w.path, env, out, w.base);
      expect(d.stat).toContain('committed.txt');
      expect(d.stat).toContain('new.txt');
      expect(d.stat).toContain('notes.txt');
      expect(d.stat).toContain('3 files changed');
      const patch = fs.readFileSync(out, 'utf8');
      expect(d.patchBytes).toBe(Buffer.byteLength(patch));
      expect(patch).toContain('-two\n+TWO');
      expect(patch).toContain('+n');
      expect(git(w.path, 'status', '--porcelain').split('\n').filter(Boolean).sort()).toEqual([' M notes.txt', '?? new.txt']);
      // The patch applies: on a fresh checkout of the base it gives the same files.
      const check = tmp();
      git(r, 'worktree', 'add', '-q', '--detach', check, w.base);
      git(check, 'apply', out);
      expect(fs.readFileSync(path.join(check, 'notes.txt'), 'utf8')).toBe('one\nTWO\n');
      expect(fs.readFileSync(path.join(check, 'new.txt'), 'utf8')).toBe('n\n');
      // Without a base (any git workdir): against HEAD.
      const plain = await workdirDiff(w.path, env, out);
      expect(plain.stat).not.toContain('committed.txt');
      expect(plain.stat).toContain('2 files changed');
      expect(fs.readFileSync(out, 'utf8')).not.toContain('committed.txt');
      // Nothing changed: no stat, an empty patch file.
      const clean = await ensureWorktree(s, (await s.projects.get('wt'))!, 'local:w:2', env);
      expect(await workdirDiff(clean.path, env, out, clean.base)).toEqual({ base: clean.base, stat: '', patchBytes: 0 });
      expect(fs.readFileSync(out, 'utf8')).toBe('');
      await expect(workdirDiff(tmp(), env, out)).rejects.toThrow(/git rev-parse failed/);
    });

    it('removeWorktree refuses uncommitted changes and unpushed commits unless forced, and removes a clean pushed one', async () => {
      const s = await store();
      const bare = tmp();
      git(bare, 'init', '-q', '--bare');
      const r = repo();
      git(r, 'remote', 'add', 'origin', bare);
      git(r, 'push', '-q', 'origin', 'main');
      await s.projects.add({ name: 'wt', path: r, gitUrl: null, branch: 'main', worktrees: true });
      const p = (await s.projects.get('wt'))!;
      const w = await ensureWorktree(s, p, 'local:w:1', env);
      expect(await removeWorktree(s, w, r, env)).toEqual({ removed: true });
      expect(fs.existsSync(w.path)).toBe(false);
      expect(git(r, 'branch', '--list', w.branch)).toBe('');
      expect(await s.projects.worktree('local:w:1')).toBeUndefined();

      const w2 = await ensureWorktree(s, p, 'local:w:2', env);
      fs.writeFileSync(path.join(w2.path, 'notes.txt'), 'changed\n');
      expect(await removeWorktree(s, w2, r, env)).toEqual({ removed: false, reason: 'dirty', files: ['notes.txt'] });
      git(w2.path, 'commit', '-qam', 'wip');
      const unpushed = await removeWorktree(s, w2, r, env);
      expect(unpushed).toMatchObject({ removed: false, reason: 'unpushed' });
      expect(unpushed.removed === false && unpushed.reason === 'unpushed' && unpushed.commits[0]).toMatch(/ wip$/);
      git(w2.path, 'push', '-q', 'origin', w2.branch);
      git(r, 'fetch', '-q', 'origin');
      expect(await removeWorktree(s, w2, r, env)).toEqual({ removed: true });

      const w3 = await ensureWorktree(s, p, 'local:w:3', env);
      fs.writeFileSync(path.join(w3.path, 'x.txt'), 'x\n');
      git(w3.path, 'add', '.');
      git(w3.path, 'commit', '-qm', 'x');
      fs.writeFileSync(path.join(w3.path, 'y.txt'), 'y\n');
      expect(await removeWorktree(s, w3, r, env, { force: true })).toEqual({ removed: true });
      expect(fs.existsSync(w3.path)).toBe(false);
    });
  });

  describe('the project command', () => {
    function ctx(s: Store, admin: boolean, conversationId = 'slack:T1:C1:1700000000.000100'): CommandContext {
      return {
        caller: { platform: 'slack', userId: 'U1', userName: 'u', qualifiedId: 'slack:U1', admin },
        place: { conversationId, channel: 'C1', replyTarget: { platform: 'slack', channel: 'C1', thread: '1700000000.000100' } },
        deps: { store: s, logger: pino({ level: 'silent' }) } as unknown as CommandContext['deps'],
      };
    }
    it('shows, refuses a non-admin, binds the parent channel, names unknown projects, unbinds', async () => {
      const s = await store();
      await s.projects.add({ name: 'alpha', path: '/w/alpha', gitUrl: null, branch: 'main', worktrees: true });
      expect((await project.run(ctx(s, false), { show: true })).text).toContain('not bound to a project');
      expect((await project.run(ctx(s, false), { name: 'alpha' })).text).toContain('Only agentbridge admins');
      expect(await s.projects.binding('slack', 'C1')).toBeUndefined();
      expect((await project.run(ctx(s, true), { name: 'beta' })).text).toBe('⚠️ No project `beta`. Projects: alpha.');
      const bound = await project.run(ctx(s, true), { name: 'alpha' });
      expect(bound.text).toContain('now bound to project **alpha**');
      expect(bound.text).toContain('its own git worktree');
      expect((await s.projects.binding('slack', 'C1'))?.boundBy).toBe('slack:U1');
      expect((await project.run(ctx(s, false, 'slack:T1:C1:1700000001.000100'), { show: true })).text).toContain('bound to project **alpha** (`/w/alpha`');
      expect((await project.run(ctx(s, true), { name: null })).text).toContain('no longer bound to **alpha**');
      expect(await s.projects.binding('slack', 'C1')).toBeUndefined();
    });
  });
});
