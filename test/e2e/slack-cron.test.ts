/**
 * End to end on the Slack twin: a cron job posts to a channel, and a thread on the post starts
 * from it. The job is created with the CLI while agentbridge is stopped (`cron add`, then
 * `cron run-now` so the test need not wait a minute); agentbridge (its own process, Socket Mode
 * against the twin) runs it with the real `claude` CLI against the scripted model and posts the
 * output as a new top-level message in the channel. A person replies in the post's thread
 * without mentioning the bot: the bot takes part (it posted the parent), and the first turn of
 * the thread starts from the post — the job's prompt and output are in the model's request.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { allText, echo, lastUserText, startAnthropicModel, type AnthropicModel } from '../models/anthropic.js';
import { runCli, startAgentbridge, type AgentbridgeProcess } from '../helpers/agentbridge.js';
import { processesMentioning } from '../helpers/procs.js';
import { makeSandbox, waitFor, type Sandbox } from '../helpers/sandbox.js';
import { SlackTwin } from '../twins/slack/twin.js';
import { CHANNEL, slackEnv, USERS, waitForAnswer } from '../twins/slack/harness.js';

let model: AnthropicModel;
let twin: SlackTwin;
let sb: Sandbox;
let ab: AgentbridgeProcess | undefined;

const PROMPT = 'Summarise the failed CI runs of yesterday for the team (job CORMORANT)';
const OUTPUT = 'Two CI runs failed yesterday: KESTREL-42 timed out and KESTREL-43 hit a flaky test.';

const env = () => ({ ...slackEnv(sb, model, twin, 'socket'), LOG_LEVEL: 'info' });
const cli = (...args: string[]) => runCli(args, env(), sb.root);

beforeAll(async () => {
  [model, twin] = await Promise.all([startAnthropicModel(), SlackTwin.start({ users: USERS })]);
  sb = makeSandbox();
  model.setResponder((req) => (lastUserText(req).includes('CORMORANT') ? { text: OUTPUT } : echo(req)));
});

afterAll(async () => {
  if (ab) expect(await ab.stop()).toBe(0);
  await Promise.all([model?.close(), twin?.close()]);
  expect(processesMentioning(sb.root)).toEqual([]);
  sb?.cleanup();
});

describe('a cron job on Slack, end to end', () => {
  it('posts its output as a new top-level message; a reply in its thread starts from the post', async () => {
    const added = await cli('cron', 'add', '--name', 'ci-digest', '--schedule', 'every 1m', '--platform', 'slack', '--channel', CHANNEL, '--prompt', PROMPT);
    expect(added.stderr).toBe('');
    expect(added.code).toBe(0);
    expect(added.stdout).toMatch(new RegExp(`^added cron job "ci-digest" \\(id [0-9a-f]+\\): every 1m → slack channel ${CHANNEL}; next run `));
    expect((await cli('cron', 'run-now', 'ci-digest')).code).toBe(0);

    ab = await startAgentbridge(env(), sb.root);

    // The output, as a new top-level message of the bot in the channel (not in a thread).
    const post = await waitFor(
      () => twin.store.channelMessages(CHANNEL).find((m) => m.bot_id === twin.botId && !m.deleted && m.text === OUTPUT),
      45_000,
      'the job output in the channel',
    );
    expect(post.thread_ts).toBeUndefined();
    expect(twin.store.channelMessages(CHANNEL).filter((m) => m.bot_id === twin.botId && !m.deleted)).toHaveLength(1);
    expect(model.mainRequests().filter((r) => lastUserText(r).includes(PROMPT))).toHaveLength(1);

    // The run history names the posted message.
    const runs = await waitFor(
      async () => {
        const r = await cli('cron', 'runs', 'ci-digest');
        return r.code === 0 && /#\d+ {2}ok /.test(r.stdout) ? r.stdout : undefined;
      },
      20_000,
      'an ok run in `cron runs`',
    );
    expect(runs).toContain(`posted=slack:${CHANNEL}:${post.ts}`);

    // A reply in the post's thread, without a mention: the thread's first turn starts from the post.
    const reply = await twin.userPosts({ user: 'U0BOB', channel: CHANNEL, text: 'what happened to KESTREL-42 exactly?', thread_ts: post.ts });
    const answer = await waitForAnswer(twin, CHANNEL, post.ts, 'echo: what happened to KESTREL-42 exactly?');
    expect(answer.thread_ts).toBe(post.ts);
    const turn = model.mainRequests().filter((r) => lastUserText(r).includes('what happened to KESTREL-42'));
    expect(turn.length).toBeGreaterThan(0);
    for (const r of turn) {
      expect(allText(r)).toContain(PROMPT);
      expect(allText(r)).toContain(OUTPUT);
    }
    // The reply was taken as the user's message (👀 then ✅ on it), and the post itself stays one message.
    await waitFor(() => twin.message(CHANNEL, reply.ts)!.reactions.white_check_mark, 15_000, 'the ✅ on the reply');
    expect(twin.message(CHANNEL, post.ts)!.text).toBe(OUTPUT);

    // Seeding is recorded and shown.
    const conversation = `slack:${twin.teamId}:${CHANNEL}:${post.ts}`;
    const show = await cli('sessions', 'show', conversation);
    expect(show.code).toBe(0);
    expect(show.stdout).toMatch(new RegExp(`^seeded from +slack:${CHANNEL}:${post.ts.replace('.', '\\.')}$`, 'm'));
    expect(show.stdout.match(/Thread seeded from/g)).toHaveLength(1);

    // A second reply continues the thread's own session (seeded once, not again).
    await twin.userPosts({ user: 'U0ALICE', channel: CHANNEL, text: 'and KESTREL-43?', thread_ts: post.ts });
    // Two people now talk in the thread, so the agent is told who wrote it.
    await waitForAnswer(twin, CHANNEL, post.ts, 'echo: [Alice]: and KESTREL-43?');
    const second = model
      .mainRequests()
      .filter((r) => lastUserText(r).includes('and KESTREL-43?'))
      .at(-1)!;
    expect(allText(second)).toContain('what happened to KESTREL-42 exactly?');
    expect((await cli('sessions', 'show', conversation)).stdout.match(/Thread seeded from/g)).toHaveLength(1);
  });
});
