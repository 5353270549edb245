/**
 * End to end: projects and a git worktree per conversation (issue 13), with agentbridge and its
 * CLI as their own processes, the local chat, the real `claude` CLI and the scripted Anthropic
 * model. A local bare repository stands in for the remote (no network).
 *
 * - `agentbridge projects add/list/remove` (the real CLI): a `--git` clone under the workspaces
 *   root, a `--path` project, an invalid name (exit 2), remove.
 * - `/agent project alpha` binds the channel; two threads started at once each get their own
 *   worktree and branch; the model (held until both turns have asked it, so they really run at the
 *   same time) makes claude edit the same file in both (claude's Read and Edit tools); each
 *   worktree has its own content, the project's checkout none; `/agent diff` in each thread posts
 *   the stat summary and exactly one file `<slug>.patch` whose bytes are that thread's own change
 *   (`git diff` in its worktree), downloadable from the chat.
 * - `/agent worktree remove` asks; `confirm` refuses uncommitted changes; `force` removes the
 *   worktree and the branch.
 * - `db prune` keeps a pruned conversation's worktree whose branch has an unpushed commit (and says
 *   so), and removes it once the branch is pushed.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { latch, startAnthropicModel, toolResults, type AnthropicModel, type Responder } from '../models/anthropic.js';
import { LocalChat, addLocalUsers, claudeServiceEnv, runCli, startAgentbridge, type AgentbridgeProcess } from '../helpers/agentbridge.js';
import { processesMentioning } from '../helpers/procs.js';
import { makeSandbox, waitFor, type Sandbox } from '../helpers/sandbox.js';
import { worktreeBranch, worktreeSlug } from '../../src/core/projects.js';

let model: AnthropicModel;
let sb: Sandbox;
const running: AgentbridgeProcess[] = [];

beforeAll(async () => {
  model = await startAnthropicModel();
  sb = makeSandbox();
});

afterEach(async () => {
  for (const p of running.splice(0)) await p.stop();
  model.setResponder(undefined);
});

afterAll(async () => {
  await model?.close();
  expect(processesMentioning(sb.root)).toEqual([]);
  sb?.cleanup();
});

const gitIn = (dir: string, ...args: string[]) =>
  execFileSync('git', ['-c', 'user.name=test', '-c', 'user.email=test@example.com', ...args], {
    cwd: dir,
    env: { PATH: process.env.PATH, HOME: sb.home },
    encoding: 'utf8',
  });

/** A bare repository with `notes.txt` (three lines) on `main`: the "remote". */
function bareRepo(): string {
  const src = path.join(sb.root, 'src-repo');
  fs.mkdirSync(src);
  gitIn(src, 'init', '-q', '-b', 'main');
  fs.writeFileSync(path.join(src, 'notes.txt'), 'one\ntwo\nthree\n');
  gitIn(src, 'add', 'notes.txt');
  gitIn(src, 'commit', '-qm', 'base');
  const bare = path.join(sb.root, 'origin.git');
  gitIn(sb.root, 'clone', '-q', '--bare', src, bare);
  return bare;
}

/**
 * Per conversation (told apart by the tag in its prompt): Read notes.txt in the worktree the
 * request names (claude's working directory), Edit line two into `two (<tag>)`, then "Done <tag>.".
 * The first request of each waits until both conversations asked (`both`).
 */
function parallelEdits(tags: string[]): { responder: Responder; seenDirs: Map<string, string> } {
  const both = latch();
  const asked = new Set<string>();
  const seenDirs = new Map<string, string>();
  return {
    seenDirs,
    responder: (req) => {
      const json = JSON.stringify(req.body);
      const tag = tags.find((t) => json.includes(`edit for ${t}`));
      if (!tag) return { text: 'no tag' };
      const dir = /(\/[^"\s\\]*\/\.worktrees\/[a-z0-9-]+)/.exec(json)?.[1];
      if (!dir) return { text: `no worktree in the request of ${tag}` };
      seenDirs.set(tag, dir);
      const notes = path.join(dir, 'notes.txt');
      const step = toolResults(req).length;
      if (step === 0) {
        asked.add(tag);
        if (asked.size === tags.length) both.open();
        return { until: both.promise, then: { toolUse: { name: 'Read', input: { file_path: notes } } } };
      }
      if (step === 1) return { toolUse: { name: 'Edit', input: { file_path: notes, old_string: 'two\n', new_string: `two (${tag})\n` } } };
      return { text: `Done ${tag}.` };
    },
  };
}

describe('projects and a worktree per conversation, end to end with Claude Code', () => {
  it('projects add/list/remove; two threads edit one file in parallel on their own branches; diff, worktree remove, db prune', async () => {
    const root = path.join(sb.root, 'ws');
    fs.mkdirSync(root);
    const env = claudeServiceEnv(sb, model.url, {
      AGENTBRIDGE_WORKSPACES_ROOT: root,
      AGENTBRIDGE_ADMINS: 'local:root',
      AGENTBRIDGE_MAX_CONCURRENT_TURNS: '2',
      AGENTBRIDGE_CHANGE_SUMMARY: 'off',
    });
    const bare = bareRepo();

    // --- the CLI ---
    const bad = await runCli(['projects', 'add', 'Bad Name', '--path', 'x'], env, sb.root);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('is not a project name');
    const outside = await runCli(['projects', 'add', 'outside', '--path', sb.root], env, sb.root);
    expect(outside.code).toBe(2);
    expect(outside.stderr).toContain('outside the workspaces root');
    const add = await runCli(['projects', 'add', 'alpha', '--git', bare, '--worktrees'], env, sb.root, 60_000);
    expect(add.stderr).toBe('');
    expect(add.code).toBe(0);
    const clone = path.join(fs.realpathSync(root), 'alpha');
    expect(add.stdout).toContain(`added project alpha: ${clone} (branch main), a git worktree per conversation`);
    expect(fs.readFileSync(path.join(clone, 'notes.txt'), 'utf8')).toBe('one\ntwo\nthree\n');
    fs.mkdirSync(path.join(root, 'plain'));
    expect((await runCli(['projects', 'add', 'plain', '--path', 'plain'], env, sb.root)).code).toBe(0);
    const list = await runCli(['projects', 'list'], env, sb.root);
    expect(list.code).toBe(0);
    expect(list.stdout).toMatch(new RegExp(`^alpha  ${clone}  git=${bare}  branch=main  worktrees=on \\(0\\)  channels=-  added=`, 'm'));
    expect(list.stdout).toMatch(/^plain {2}\S+\/plain {2}path {2}branch=- {2}worktrees=off/m);
    const rm = await runCli(['projects', 'remove', 'plain'], env, sb.root);
    expect(rm.code).toBe(0);
    expect((await runCli(['projects', 'list'], env, sb.root)).stdout).not.toContain('plain');
    expect((await runCli(['projects', 'remove', 'plain'], env, sb.root)).code).toBe(1);

    // --- binding and two parallel threads ---
    // The admin list names a local user, so the chat needs logins (`agentbridge users add --token`).
    const tokens = await addLocalUsers(env, sb.root, [{ name: 'root' }, { name: 'alice' }]);
    const ab = await startAgentbridge(env, sb.root);
    running.push(ab);
    const chat = new LocalChat(ab.url, tokens);
    const bind = await chat.send('general', '/agent project alpha', { user: 'root' });
    await waitFor(
      async () =>
        (await chat.botTexts('general', bind.thread)).find((t) => t.includes('now bound to project **alpha**') || t.includes('bound to project alpha')),
      60_000,
      'the bind reply',
    );

    const script = parallelEdits(['A', 'B']);
    model.setResponder(script.responder);
    const [a, b] = await Promise.all([chat.send('general', 'edit for A', { user: 'alice' }), chat.send('general', 'edit for B', { user: 'alice' })]);
    for (const [t, tag] of [
      [a.thread, 'A'],
      [b.thread, 'B'],
    ] as const) {
      await waitFor(async () => (await chat.botTexts('general', t)).find((x) => x.startsWith(`Done ${tag}.`)), 180_000, `the answer of ${tag}`);
    }
    const wt = (thread: string) => path.join(clone, '.worktrees', worktreeSlug(`local:general:${thread}`));
    expect(script.seenDirs.get('A')).toBe(wt(a.thread));
    expect(script.seenDirs.get('B')).toBe(wt(b.thread));
    // Each worktree has its own change; the project's own checkout none; two branches.
    expect(fs.readFileSync(path.join(wt(a.thread), 'notes.txt'), 'utf8')).toBe('one\ntwo (A)\nthree\n');
    expect(fs.readFileSync(path.join(wt(b.thread), 'notes.txt'), 'utf8')).toBe('one\ntwo (B)\nthree\n');
    expect(fs.readFileSync(path.join(clone, 'notes.txt'), 'utf8')).toBe('one\ntwo\nthree\n');
    expect(gitIn(clone, 'status', '--porcelain')).toBe('');
    const branches = gitIn(clone, 'branch', '--list', 'agentbridge/*', '--format=%(refname:short)').trim().split('\n').sort();
    expect(branches).toEqual([worktreeBranch(`local:general:${a.thread}`), worktreeBranch(`local:general:${b.thread}`)].sort());
    expect(gitIn(wt(a.thread), 'rev-parse', '--abbrev-ref', 'HEAD').trim()).toBe(worktreeBranch(`local:general:${a.thread}`));
    expect(gitIn(wt(b.thread), 'rev-parse', '--abbrev-ref', 'HEAD').trim()).toBe(worktreeBranch(`local:general:${b.thread}`));

    // --- /agent diff: each thread its own change, the stat as a message and the patch as one file ---
    const diffOf = async (thread: string, tag: string, other: string) => {
      const before = (await chat.botTexts('general', thread)).length;
      await chat.send('general', '/agent diff', { thread, user: 'alice' });
      const name = `${worktreeSlug(`local:general:${thread}`)}.patch`;
      const stat = await waitFor(
        async () => (await chat.botTexts('general', thread)).slice(before).find((t) => t.startsWith('📝 Changes in')),
        60_000,
        'the diff summary',
      );
      expect(stat).toContain(`branch \`${worktreeBranch(`local:general:${thread}`)}\``);
      expect(stat).toContain('notes.txt | 2 +-');
      expect(stat).toContain(`The full patch follows as \`${name}\``);
      expect(stat).not.toContain('```diff');
      const files = await waitFor(
        async () => {
          const withFile = (await chat.messages('general', thread)).filter((m) => m.file);
          return withFile.length ? withFile : undefined;
        },
        60_000,
        'the patch file',
      );
      expect(files).toHaveLength(1);
      expect(files[0]!.bot).toBe(true);
      expect(files[0]!.file).toMatchObject({ name });
      const download = await chat.file(files[0]!.id);
      expect(download.status).toBe(200);
      const patch = download.bytes.toString('utf8');
      expect(patch).toBe(gitIn(wt(thread), 'diff', '--no-color', 'HEAD'));
      expect(patch).toContain(`-two\n+two (${tag})\n`);
      expect(patch).not.toContain(`(${other})`);
    };
    await diffOf(a.thread, 'A', 'B');
    await diffOf(b.thread, 'B', 'A');

    // --- /agent worktree remove (A): asks, refuses uncommitted changes, force removes ---
    const say = async (thread: string, text: string, expectText: string, user = 'root') => {
      const before = (await chat.botTexts('general', thread)).length;
      await chat.send('general', text, { thread, user });
      return waitFor(async () => (await chat.botTexts('general', thread)).slice(before).find((t) => t.includes(expectText)), 60_000, expectText);
    };
    await say(a.thread, '/agent worktree remove', 'To go ahead: `/agent worktree remove confirm`');
    await say(a.thread, '/agent worktree remove', 'only for agentbridge admins', 'alice');
    await say(a.thread, '/agent worktree remove confirm', 'Not removed: the worktree has 1 uncommitted change');
    expect(fs.existsSync(wt(a.thread))).toBe(true);
    await say(a.thread, '/agent worktree remove force', 'Removed the worktree');
    expect(fs.existsSync(wt(a.thread))).toBe(false);
    expect(gitIn(clone, 'branch', '--list', 'agentbridge/*', '--format=%(refname:short)').trim()).toBe(worktreeBranch(`local:general:${b.thread}`));
    await ab.stop();

    // --- db prune: B's branch has an unpushed commit → kept and reported; pushed → removed ---
    gitIn(wt(b.thread), 'commit', '-qam', 'B edits');
    const prune1 = await runCli(['db', 'prune', '--before', '0d', '--yes'], env, sb.root);
    expect(prune1.code).toBe(0);
    expect(prune1.stdout).toContain(`worktree kept: ${wt(b.thread)} — branch ${worktreeBranch(`local:general:${b.thread}`)} has 1 unpushed commit(s)`);
    expect(fs.existsSync(wt(b.thread))).toBe(true);
    gitIn(clone, 'push', '-q', 'origin', worktreeBranch(`local:general:${b.thread}`));
    const prune2 = await runCli(['db', 'prune', '--before', '0d', '--yes'], env, sb.root);
    expect(prune2.code).toBe(0);
    expect(prune2.stdout).toContain(`worktree removed: ${wt(b.thread)}`);
    expect(fs.existsSync(wt(b.thread))).toBe(false);
    expect(gitIn(clone, 'branch', '--list', 'agentbridge/*')).toBe('');
  });
});
