/**
 * End to end on Discord: a cron job posts to a chat channel, and a thread on the post starts from
 * it. The job (`every 1m`) is created with the CLI while agentbridge is stopped, then
 * `cron run-now` queues a run that starts right after agentbridge starts (so the test need not
 * wait a minute). agentbridge runs as its own process with the real `claude` CLI against the
 * scripted model; Discord is the twin.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { allText, lastUserText, startAnthropicModel, type AnthropicModel } from '../models/anthropic.js';
import { runCli, startAgentbridge, type AgentbridgeProcess } from '../helpers/agentbridge.js';
import { processesMentioning } from '../helpers/procs.js';
import { makeSandbox, waitFor, type Sandbox } from '../helpers/sandbox.js';
import { startDiscordTwin, type DiscordTwin } from '../twins/discord/index.js';
import { answer, botAnswers, discordEnv } from '../twins/discord/harness.js';

const PROMPT = 'summarise the failed CI runs of project ALBATROSS';
const OUTPUT = 'Digest: 3 failed runs, all in the flaky MONGOOSE suite.';

let model: AnthropicModel;
let sb: Sandbox;
let twin: DiscordTwin;
let ab: AgentbridgeProcess | undefined;
let env: NodeJS.ProcessEnv;

const cli = (...args: string[]) => runCli(args, env, sb.root);

beforeAll(async () => {
  // The job's run answers with a fixed digest; everything else is echoed.
  model = await startAnthropicModel((req) => (lastUserText(req) === PROMPT ? { text: OUTPUT } : { text: `echo: ${lastUserText(req)}` }));
  sb = makeSandbox();
  twin = await startDiscordTwin({ channels: ['ops', 'general'] });
  env = discordEnv(sb, model, twin, [twin.channels.ops!]);
});

afterAll(async () => {
  const code = await ab?.stop();
  await twin?.close();
  await model?.close();
  expect(code).toBe(0);
  expect(processesMentioning(sb.root)).toEqual([]);
  sb?.cleanup();
});

describe('cron job on Discord, end to end', () => {
  it('posts its output as a new message in the channel; a thread on the post starts from the job prompt and the post', async () => {
    const ops = twin.channels.ops!;
    const added = await cli('cron', 'add', '--name', 'ci-digest', '--schedule', 'every 1m', '--platform', 'discord', '--channel', ops, '--prompt', PROMPT);
    expect(added.stderr).toBe('');
    expect(added.code).toBe(0);
    expect(added.stdout).toMatch(new RegExp(`^added cron job "ci-digest" \\(id [0-9a-f]+\\): every 1m → discord channel ${ops}; next run `));
    const queued = await cli('cron', 'run-now', 'ci-digest');
    expect(queued.code).toBe(0);
    expect(queued.stdout).toContain('it runs when agentbridge starts');

    ab = await startAgentbridge(env, sb.root);
    await waitFor(() => twin.connected(), 10_000, 'agentbridge on the Gateway');

    // The run's output: a new top-level message in #ops (not a reply to anything).
    const post = await answer(twin, ops, OUTPUT);
    expect(post.content).toBe(OUTPUT);
    expect(post.message_reference).toBeUndefined();
    expect(post.type).toBe(0);
    expect(twin.channelMessages(ops).filter((m) => m.author.id !== twin.bot.id)).toEqual([]); // nobody asked: the job did
    expect(model.mainRequests().filter((r) => lastUserText(r) === PROMPT)).toHaveLength(1);

    // The run history shows an ok run that posted that message.
    const runs = await waitFor(
      async () => {
        const r = await cli('cron', 'runs', 'ci-digest');
        return r.code === 0 && /#\d+ {2}ok /.test(r.stdout) ? r.stdout : undefined;
      },
      20_000,
      'an ok run in `cron runs`',
    );
    expect(runs).toContain(`posted=discord:${ops}:${post.id}`);
    expect(runs).toContain('(manual)');

    // Dana opens a thread on the post and asks about it.
    const thread = twin.createThread(ops, post.id, 'CI digest');
    const mark = model.mainRequests().length;
    twin.userSays({ user: 'Dana', channel: thread, content: 'which suite should we fix first?' });
    const reply = await answer(twin, thread, 'echo: ');
    expect(reply.content).toContain('which suite should we fix first?');
    expect(reply.channel_id).toBe(thread);

    // The model saw the job's prompt and the posted output as the conversation so far, then Dana.
    const req = model
      .mainRequests()
      .slice(mark)
      .find((r) => lastUserText(r).includes('which suite should we fix first?'))!;
    expect(req).toBeDefined();
    const seen = allText(req);
    expect(seen).toContain(PROMPT);
    expect(seen).toContain(OUTPUT);
    expect(seen.indexOf(PROMPT)).toBeLessThan(seen.indexOf(OUTPUT));
    expect(seen.lastIndexOf(OUTPUT)).toBeLessThan(seen.lastIndexOf('which suite should we fix first?'));

    // Recorded once, visible in `sessions show`.
    const threadConv = `discord:${twin.guildId}:${ops}:${thread}`;
    const shown = await cli('sessions', 'show', threadConv);
    expect(shown.code).toBe(0);
    expect(shown.stdout).toContain(`seeded from    discord:${ops}:${post.id}`);
    expect(shown.stdout.match(/Thread seeded from discord:\S+: /g)).toHaveLength(1);

    // Still one post in the channel itself (the thread's answer went to the thread).
    expect(botAnswers(twin, ops).map((m) => m.content)).toEqual([OUTPUT]);
  });
});
