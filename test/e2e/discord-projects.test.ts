/**
 * End to end on Discord (the twin): a channel bound to a `--worktrees` project with
 * `@agentbridge project alpha`; the channel's main conversation and a thread in it each run the
 * real `claude` in their own worktree of the project (the scripted model answers with the working
 * directory claude reports in its request), on their own branches.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startAnthropicModel, type AnthropicModel } from '../models/anthropic.js';
import { runCli, startAgentbridge, type AgentbridgeProcess } from '../helpers/agentbridge.js';
import { processesMentioning } from '../helpers/procs.js';
import { makeSandbox, waitFor, type Sandbox } from '../helpers/sandbox.js';
import { startDiscordTwin, type DiscordTwin } from '../twins/discord/index.js';
import { answer, discordEnv } from '../twins/discord/harness.js';
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

    // The model answers with the worktree claude runs in (its working directory is in the request).
    model.setResponder((req) => ({ text: `cwd=${/\/[^"\s\\]*\/\.worktrees\/[a-z0-9-]+/.exec(JSON.stringify(req.body))?.[0] ?? 'none'}` }));
    twin.userSays({ user: 'Alice', channel: ch, content: 'where are you, main?' });
    const main = await answer(twin, ch, 'cwd=', 120_000);
    const thread = twin.createThread(ch, rootUser.id, 'side');
    twin.userSays({ user: 'Alice', channel: thread, content: 'where are you, thread?' });
    const inThread = await answer(twin, thread, 'cwd=', 120_000);

    const real = fs.realpathSync(repo);
    const mainId = `discord:${twin.guildId}:${ch}`;
    const threadId = `discord:${twin.guildId}:${ch}:${thread}`;
    expect(main.content).toBe(`cwd=${path.join(real, '.worktrees', worktreeSlug(mainId))}`);
    expect(inThread.content).toBe(`cwd=${path.join(real, '.worktrees', worktreeSlug(threadId))}`);
    expect(git('branch', '--list', 'agentbridge/*', '--format=%(refname:short)').trim().split('\n').sort()).toEqual(
      [worktreeBranch(mainId), worktreeBranch(threadId)].sort(),
    );
  });
});
