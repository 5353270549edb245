/**
 * End to end: thread seeding in the local chat. A cron job posts in #ops (a new top-level message,
 * so a thread of its own); a reply in that post's thread starts from the job's prompt and the post
 * (Claude: a fork of the job run's session), exactly as a Slack reply under a bot message or a
 * Discord thread on one. agentbridge runs as its own process with the real `claude` CLI against
 * the scripted model.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { allText, lastUserText, startAnthropicModel, type AnthropicModel, type RecordedRequest } from '../models/anthropic.js';
import { LocalChat, runCli, startAgentbridge, type AgentbridgeProcess, claudeServiceEnv } from '../helpers/agentbridge.js';
import { processesMentioning } from '../helpers/procs.js';
import { makeSandbox, waitFor, type Sandbox } from '../helpers/sandbox.js';

let model: AnthropicModel;
let sb: Sandbox;
let ab: AgentbridgeProcess | undefined;

const PROMPT = 'summarise the ops status of MARMALADE';

const env = (): NodeJS.ProcessEnv => claudeServiceEnv(sb, model.url);

/** The Claude Code session a model request belongs to (the CLI sends it with every request). */
const sessionOf = (r: RecordedRequest) => String(r.headers['x-claude-code-session-id'] ?? '');

/** `agentbridge sessions show <id>` (read-only, safe while agentbridge runs). */
async function show(conversationId: string): Promise<string> {
  const r = await runCli(['sessions', 'show', conversationId], env(), sb.root);
  expect(r.stderr).toBe('');
  expect(r.code).toBe(0);
  return r.stdout;
}

/** Main requests since `mark` whose last user text contains `text`. */
const requestsFor = (mark: number, text: string) =>
  model
    .mainRequests()
    .slice(mark)
    .filter((r) => lastUserText(r).includes(text));

/** Waits for a bot message in the thread that starts with `prefix` (a final answer, not the progress message). */
const answer = (chat: LocalChat, channel: string, thread: string, prefix: string) =>
  waitFor(async () => (await chat.botTexts(channel, thread)).find((t) => t.startsWith(prefix)), 45_000, `answer starting "${prefix}"`);

beforeAll(async () => {
  model = await startAnthropicModel();
  sb = makeSandbox();
});

afterAll(async () => {
  const code = await ab?.stop();
  await model?.close();
  expect(code).toBe(0);
  expect(processesMentioning(sb.root)).toEqual([]);
  sb?.cleanup();
});

describe('local chat thread seeding, end to end', () => {
  it('a reply under a cron post starts from the job prompt and the post; `sessions show` says seeded from the post', async () => {
    const cron = (...args: string[]) => runCli(['cron', ...args], env(), sb.root);
    expect((await cron('add', '--name', 'ops-digest', '--schedule', 'every 1h', '--platform', 'local', '--channel', 'ops', '--prompt', PROMPT)).code).toBe(0);
    expect((await cron('run-now', 'ops-digest')).code).toBe(0);
    ab = await startAgentbridge(env(), sb.root);
    const chat = new LocalChat(ab.url);

    // The job's post: a top-level bot message in #ops (its id is its thread's id).
    const post = await waitFor(
      async () => {
        const res = await fetch(`${ab!.url}/api/local/threads?channel=ops`);
        const { threads } = (await res.json()) as { threads: Array<{ thread: string; text: string }> };
        return threads.find((t) => t.text === `echo: ${PROMPT}`);
      },
      45_000,
      'the job output in #ops',
    );
    const jobRequest = model.mainRequests().find((r) => lastUserText(r).includes(PROMPT))!;
    const jobSession = sessionOf(jobRequest);
    expect(jobSession).toMatch(/^[0-9a-f-]{36}$/);
    // The run is recorded once the post is; the thread's conversation does not exist before the reply.
    await waitFor(async () => /#\d+ {2}ok /.test((await cron('runs', 'ops-digest')).stdout), 20_000, 'an ok run');

    const threadId = `local:ops:${post.thread}`;
    const mark = model.mainRequests().length;
    await chat.send('ops', 'why is that?', { thread: post.thread, user: 'alice' });
    await answer(chat, 'ops', post.thread, 'echo: why is that?');

    // The model saw the job's prompt and the post, through a fork of the job run's Claude session.
    const first = requestsFor(mark, 'why is that?')[0]!;
    const seen = allText(first);
    expect(seen).toContain(PROMPT);
    expect(seen).toContain(`echo: ${PROMPT}`);
    expect(lastUserText(first)).not.toContain(PROMPT);
    const forked = sessionOf(first);
    expect(forked).toMatch(/^[0-9a-f-]{36}$/);
    expect(forked).not.toBe(jobSession);

    const shown = await waitFor(
      async () => {
        const s = await show(threadId);
        return s.includes('Thread seeded from') ? s : undefined;
      },
      10_000,
      'the seed recorded',
    );
    expect(shown).toContain(`seeded from    local:ops:${post.thread}`);
    expect(shown).toContain(`Thread seeded from local:ops:${post.thread}: forked agent session ${jobSession}.`);

    // Seeded once: the next reply resumes the thread's own session.
    const mark2 = model.mainRequests().length;
    await chat.send('ops', 'and tomorrow?', { thread: post.thread, user: 'alice' });
    await answer(chat, 'ops', post.thread, 'echo: and tomorrow?');
    const second = requestsFor(mark2, 'and tomorrow?')[0]!;
    expect(sessionOf(second)).toBe(forked);
    expect(allText(second)).toContain('why is that?');
    expect((await show(threadId)).match(/Thread seeded from/g)).toHaveLength(1);
  });

  it('a thread a person started (the answer inside it) is not seeded: replies under the answer continue that conversation', async () => {
    const chat = new LocalChat(ab!.url);
    const { thread } = await chat.send('ops', 'the password hint is OTTER', { user: 'bob' });
    await answer(chat, 'ops', thread, 'echo: the password hint is OTTER');
    const mark = model.mainRequests().length;
    await chat.send('ops', 'what was the hint?', { thread, user: 'bob' });
    await answer(chat, 'ops', thread, 'echo: what was the hint?');
    expect(allText(requestsFor(mark, 'what was the hint?')[0]!)).toContain('OTTER');
    expect(await show(`local:ops:${thread}`)).toContain('seeded from    -');
  });
});
