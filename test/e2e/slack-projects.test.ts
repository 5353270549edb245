/**
 * End to end on Slack (the Socket Mode twin): projects and a git worktree per thread (issue 13),
 * with agentbridge and its CLI as their own processes, the real `claude` CLI and the scripted
 * Anthropic model.
 *
 * - `agentbridge projects add alpha --path alpha --worktrees` (the real CLI) on a local repository;
 * - `/agent project alpha` as a Slack slash command (through the twin) binds the channel;
 * - two threads started at once each get their own worktree `.worktrees/<slug>` on their own branch
 *   `agentbridge/<slug>`; the model (held until both turns asked it, so they really run at the
 *   same time) makes claude Read and Edit the same file in both (claude's own tools), without
 *   conflict: each worktree has its own content, the project's checkout none;
 * - each answer ends with the exact change summary line for the scripted edit;
 * - `@agentbridge diff` in each thread (Slack slash commands cannot be used in threads) posts the
 *   stat summary and one file `<slug>.patch`, uploaded once through the twin's external upload
 *   flow, whose bytes are that thread's own change (`git diff` in its worktree).
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { worktreeBranch, worktreeSlug } from '../../src/core/projects.js';
import { runCli, startAgentbridge, type AgentbridgeProcess } from '../helpers/agentbridge.js';
import { processesMentioning } from '../helpers/procs.js';
import { makeSandbox, waitFor, type Sandbox } from '../helpers/sandbox.js';
import { latch, startAnthropicModel, toolResults, type AnthropicModel, type Responder } from '../models/anthropic.js';
import { botMessages, CHANNEL, slackEnv, USERS, waitForAnswer } from '../twins/slack/harness.js';
import { SlackTwin } from '../twins/slack/twin.js';

let model: AnthropicModel;
let twin: SlackTwin;
let sb: Sandbox;
let ab: AgentbridgeProcess | undefined;

beforeAll(async () => {
  [model, twin] = await Promise.all([startAnthropicModel(), SlackTwin.start({ users: USERS })]);
  sb = makeSandbox();
});

afterAll(async () => {
  await ab?.stop();
  await Promise.all([model?.close(), twin?.close()]);
  expect(processesMentioning(sb.root)).toEqual([]);
  sb?.cleanup();
});

/** Slack text without the zero-width spaces the renderer puts next to Markdown it neutralises. */
const plain = (text: string) => text.replace(/\u200b/g, '');

/**
 * Per thread (told apart by the tag in its prompt): Read notes.txt in the worktree the request
 * names (claude's working directory), Edit line two into `two (<tag>)`, then "Done <tag>.". The
 * first request of each waits until both threads asked.
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

describe('projects on Slack, end to end with Claude Code', () => {
  it('a --worktrees project bound by /agent project: two threads edit one file in parallel on their own branches; diff posts each thread its own patch file', async () => {
    const root = path.join(sb.root, 'ws');
    const repo = path.join(root, 'alpha');
    fs.mkdirSync(repo, { recursive: true });
    const git = (dir: string, ...args: string[]) =>
      execFileSync('git', ['-c', 'user.name=t', '-c', 'user.email=t@example.com', ...args], {
        cwd: dir,
        env: { PATH: process.env.PATH, HOME: sb.home },
        encoding: 'utf8',
      });
    git(repo, 'init', '-q', '-b', 'main');
    fs.writeFileSync(path.join(repo, 'notes.txt'), 'one\ntwo\nthree\n');
    git(repo, 'add', '.');
    git(repo, 'commit', '-qm', 'base');
    const env = {
      ...slackEnv(sb, model, twin, 'socket'),
      AGENTBRIDGE_ADMINS: 'slack:U0ALICE',
      AGENTBRIDGE_WORKSPACES_ROOT: root,
      AGENTBRIDGE_MAX_CONCURRENT_TURNS: '2',
    };

    // --- the CLI ---
    const add = await runCli(['projects', 'add', 'alpha', '--path', 'alpha', '--worktrees'], env, sb.root);
    expect(add.stderr).toBe('');
    expect(add.code).toBe(0);
    const real = fs.realpathSync(repo);
    expect(add.stdout).toContain(`added project alpha: ${real}`);

    // --- /agent project alpha: a Slack slash command (admins only) ---
    ab = await startAgentbridge(env, sb.root);
    const refused = await twin.slashCommand({ user: 'U0BOB', channel: CHANNEL, text: 'project alpha' });
    expect((refused.ack as { text: string }).text).toContain('Only agentbridge admins');
    const bind = await twin.slashCommand({ user: 'U0ALICE', channel: CHANNEL, text: 'project alpha' });
    expect(bind.ackedAt).toBeDefined();
    const shown = bind.ack as { response_type: string; text: string };
    expect(shown.response_type).toBe('in_channel');
    expect(plain(shown.text)).toContain('now bound to project *alpha*');

    // --- two threads at once, each in its own worktree ---
    const script = parallelEdits(['A', 'B']);
    model.setResponder(script.responder);
    const [a, b] = await Promise.all([
      twin.userPosts({ user: 'U0BOB', channel: CHANNEL, text: 'edit for A', mention: true }),
      twin.userPosts({ user: 'U0BOB', channel: CHANNEL, text: 'edit for B', mention: true }),
    ]);
    const [doneA, doneB] = await Promise.all([waitForAnswer(twin, CHANNEL, a.ts, 'Done A.', 180_000), waitForAnswer(twin, CHANNEL, b.ts, 'Done B.', 180_000)]);
    const idOf = (ts: string) => `slack:${twin.teamId}:${CHANNEL}:${ts}`;
    const wt = (ts: string) => path.join(real, '.worktrees', worktreeSlug(idOf(ts)));
    expect(script.seenDirs.get('A')).toBe(wt(a.ts));
    expect(script.seenDirs.get('B')).toBe(wt(b.ts));
    // The change summary line is exact for the scripted edit.
    expect(plain(doneA.text)).toBe('Done A.\n\n📝 1 file changed (+1 −1): notes.txt');
    expect(plain(doneB.text)).toBe('Done B.\n\n📝 1 file changed (+1 −1): notes.txt');
    // Each worktree has its own change, the project's checkout none; each its own branch.
    expect(fs.readFileSync(path.join(wt(a.ts), 'notes.txt'), 'utf8')).toBe('one\ntwo (A)\nthree\n');
    expect(fs.readFileSync(path.join(wt(b.ts), 'notes.txt'), 'utf8')).toBe('one\ntwo (B)\nthree\n');
    expect(fs.readFileSync(path.join(real, 'notes.txt'), 'utf8')).toBe('one\ntwo\nthree\n');
    expect(git(real, 'status', '--porcelain')).toBe('');
    expect(git(real, 'branch', '--list', 'agentbridge/*', '--format=%(refname:short)').trim().split('\n').sort()).toEqual(
      [worktreeBranch(idOf(a.ts)), worktreeBranch(idOf(b.ts))].sort(),
    );
    expect(git(wt(a.ts), 'rev-parse', '--abbrev-ref', 'HEAD').trim()).toBe(worktreeBranch(idOf(a.ts)));
    expect(git(wt(b.ts), 'rev-parse', '--abbrev-ref', 'HEAD').trim()).toBe(worktreeBranch(idOf(b.ts)));

    // --- @agentbridge diff in each thread: the stat summary, then the patch uploaded once as a file ---
    for (const [ts, tag, other] of [
      [a.ts, 'A', 'B'],
      [b.ts, 'B', 'A'],
    ] as const) {
      const name = `${worktreeSlug(idOf(ts))}.patch`;
      await twin.userPosts({ user: 'U0BOB', channel: CHANNEL, text: 'diff', thread_ts: ts, mention: true });
      const stat = await waitForAnswer(twin, CHANNEL, ts, '📝 Changes in', 60_000);
      expect(plain(stat.text)).toContain(`branch \`${worktreeBranch(idOf(ts))}\` against its branch point`);
      expect(stat.text).toContain('notes.txt | 2 +-');
      expect(plain(stat.text)).toContain(`The full patch follows as \`${name}\``);
      expect(stat.text).not.toContain('+two');
      const shared = await waitFor(
        () => {
          const m = botMessages(twin, CHANNEL, ts).filter((x) => x.files?.length);
          return m.length ? m : undefined;
        },
        30_000,
        `the patch file in thread ${ts}`,
      );
      expect(shared).toHaveLength(1);
      expect(shared[0]!.thread_ts).toBe(ts);
      expect(shared[0]!.files!.map((f) => f.name)).toEqual([name]);
      // Posted after the summary, in the same thread.
      expect(Number(shared[0]!.ts)).toBeGreaterThan(Number(stat.ts));
      const file = twin.store.files.get(shared[0]!.files![0]!.id)!;
      expect(file.shares).toBe(1);
      expect([...twin.store.files.values()].filter((f) => f.name === name)).toHaveLength(1);
      expect(twin.calls.filter((c) => c.method === 'files.getUploadURLExternal' && c.params.filename === name)).toHaveLength(1);
      const patch = file.bytes!.toString('utf8');
      expect(patch).toBe(git(wt(ts), 'diff', '--no-color', 'HEAD'));
      expect(patch).toContain(`-two\n+two (${tag})\n`);
      expect(patch).not.toContain(`(${other})`);
    }
    expect(twin.calls.filter((c) => c.method === 'files.completeUploadExternal' && c.status === 200)).toHaveLength(2);
    // The delivered copies are gone from the data directory.
    await waitFor(() => fs.readdirSync(path.join(sb.root, 'data', 'outgoing-files')).length === 0, 10_000, 'the delivered copies deleted');
  });
});
