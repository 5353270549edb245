/**
 * End to end on Discord (the twin): a channel bound to a `--worktrees` project with
 * `@agentbridge project alpha`; the channel's main conversation and a thread in it each run the
 * real `claude` in their own worktree of the project (the scripted model makes claude Read and
 * Edit notes.txt in the working directory its request names, then answers with that directory),
 * on their own branches; each answer ends with the exact change summary line. `@agentbridge diff`
 * in each posts the stat summary and exactly one attachment `<slug>.patch` whose bytes are that
 * conversation's own change (`git diff` in its worktree).
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startAnthropicModel, toolResults, type AnthropicModel } from '../models/anthropic.js';
import { runCli, startAgentbridge, type AgentbridgeProcess } from '../helpers/agentbridge.js';
import { processesMentioning } from '../helpers/procs.js';
import { makeSandbox, waitFor, type Sandbox } from '../helpers/sandbox.js';
import { startDiscordTwin, type DiscordTwin } from '../twins/discord/index.js';
import { answer, discordEnv } from '../twins/discord/harness.js';
import { FILES_KEY } from '../twins/discord/rest.js';
import { worktreeBranch, worktreeSlug } from '../../src/core/projects.js';

let model: AnthropicModel;
let sb: Sandbox;
let twin: DiscordTwin;
let ab: AgentbridgeProcess | undefined;

beforeAll(async () => {
  model = await startAnthropicModel();
  sb = makeSandbox();
  twin = await startDiscordTwin({ channels: ['proj'] });
});

afterAll(async () => {
  await ab?.stop();
  await twin?.close();
  await model?.close();
  expect(processesMentioning(sb.root)).toEqual([]);
  sb?.cleanup();
});

describe('projects on Discord', () => {
  it("a bound channel's main conversation and its thread each work in their own worktree", async () => {
    const root = path.join(sb.root, 'ws');
    const repo = path.join(root, 'alpha');
    fs.mkdirSync(repo, { recursive: true });
    const git = (...args: string[]) =>
      execFileSync('git', ['-c', 'user.name=t', '-c', 'user.email=t@example.com', ...args], {
        cwd: repo,
        env: { PATH: process.env.PATH, HOME: sb.home },
        encoding: 'utf8',
      });
    git('init', '-q', '-b', 'main');
    fs.writeFileSync(path.join(repo, 'notes.txt'), 'one\n');
    git('add', '.');
    git('commit', '-qm', 'base');
    const rootUser = twin.user('Root')!;
    const env = { ...discordEnv(sb, model, twin, [twin.channels.proj!]), AGENTBRIDGE_ADMINS: `discord:${rootUser.id}`, AGENTBRIDGE_WORKSPACES_ROOT: root };
    const add = await runCli(['projects', 'add', 'alpha', '--path', 'alpha', '--worktrees'], env, sb.root);
    expect(add.code).toBe(0);

    ab = await startAgentbridge(env, sb.root);
    await waitFor(() => twin.connected(), 10_000, 'agentbridge on the Gateway');
    const ch = twin.channels.proj!;
    twin.userSays({ user: 'Root', channel: ch, content: 'project alpha', mentionsBot: true });
    await answer(twin, ch, '📁 This channel is now bound to project **alpha**');

    // claude Reads and Edits notes.txt in the worktree its request names, then the model answers with that directory.
    model.setResponder((req) => {
      const json = JSON.stringify(req.body);
      const dir = /\/[^"\s\\]*\/\.worktrees\/[a-z0-9-]+/.exec(json)?.[0];
      const tag = /edit for (\w+)/.exec(json)?.[1];
      if (!dir || !tag) return { text: 'cwd=none' };
      const notes = path.join(dir, 'notes.txt');
      const step = toolResults(req).length;
      if (step === 0) return { toolUse: { name: 'Read', input: { file_path: notes } } };
      if (step === 1) return { toolUse: { name: 'Edit', input: { file_path: notes, old_string: 'one\n', new_string: `one (${tag})\n` } } };
      return { text: `cwd=${dir}` };
    });
    twin.userSays({ user: 'Alice', channel: ch, content: 'edit for main' });
    const main = await answer(twin, ch, 'cwd=', 120_000);
    const thread = twin.createThread(ch, rootUser.id, 'side');
    twin.userSays({ user: 'Alice', channel: thread, content: 'edit for side' });
    const inThread = await answer(twin, thread, 'cwd=', 120_000);

    const real = fs.realpathSync(repo);
    const mainId = `discord:${twin.guildId}:${ch}`;
    const threadId = `discord:${twin.guildId}:${ch}:${thread}`;
    const mainWt = path.join(real, '.worktrees', worktreeSlug(mainId));
    const threadWt = path.join(real, '.worktrees', worktreeSlug(threadId));
    // The change summary line is exact for the scripted edit.
    expect(main.content).toBe(`cwd=${mainWt}\n\n📝 1 file changed (+1 −1): notes.txt`);
    expect(inThread.content).toBe(`cwd=${threadWt}\n\n📝 1 file changed (+1 −1): notes.txt`);
    expect(fs.readFileSync(path.join(mainWt, 'notes.txt'), 'utf8')).toBe('one (main)\n');
    expect(fs.readFileSync(path.join(threadWt, 'notes.txt'), 'utf8')).toBe('one (side)\n');
    expect(git('branch', '--list', 'agentbridge/*', '--format=%(refname:short)').trim().split('\n').sort()).toEqual(
      [worktreeBranch(mainId), worktreeBranch(threadId)].sort(),
    );

    // `@agentbridge diff` in each: the stat summary, then exactly one attachment with that conversation's own patch.
    for (const [channel, id, wt, tag, other] of [
      [ch, mainId, mainWt, 'main', 'side'],
      [thread, threadId, threadWt, 'side', 'main'],
    ] as const) {
      twin.userSays({ user: 'Alice', channel, content: 'diff', mentionsBot: true });
      const stat = await answer(twin, channel, '📝 Changes in', 60_000);
      expect(stat.content).toContain(`branch \`${worktreeBranch(id)}\` against its branch point`);
      expect(stat.content).toContain('notes.txt | 2 +-');
      expect(stat.content).not.toContain('+one');
      const name = `${worktreeSlug(id)}.patch`;
      const withFile = await waitFor(
        () => {
          const m = twin.botMessages(channel).filter((x) => ((x as { attachments?: unknown[] }).attachments ?? []).length > 0);
          return m.length ? m : undefined;
        },
        30_000,
        `the patch file in ${channel}`,
      );
      expect(withFile).toHaveLength(1);
      expect((withFile[0] as unknown as { attachments: Array<{ filename: string }> }).attachments.map((a) => a.filename)).toEqual([name]);
      const sent = twin.calls.filter((c) => c.method === 'POST' && c.path === `/channels/${channel}/messages` && c.body && FILES_KEY in (c.body as object));
      expect(sent).toHaveLength(1);
      const files = (sent[0]!.body as Record<string, Array<{ filename: string; bytes: Buffer }>>)[FILES_KEY]!;
      expect(files.map((f) => f.filename)).toEqual([name]);
      const patch = files[0]!.bytes.toString('utf8');
      expect(patch).toBe(execFileSync('git', ['diff', '--no-color', 'HEAD'], { cwd: wt, env: { PATH: process.env.PATH, HOME: sb.home }, encoding: 'utf8' }));
      expect(patch).toContain(`-one\n+one (${tag})\n`);
      expect(patch).not.toContain(other);
    }
  });
});
