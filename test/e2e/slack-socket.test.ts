/**
 * End to end over Socket Mode: agentbridge as its own process, real @slack/bolt against the
 * Slack twin, the real `claude` CLI against the scripted model. One agentbridge serves the whole
 * file; every test works in its own thread.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { allText, echo, lastUserText, startAnthropicModel, type AnthropicModel } from '../models/anthropic.js';
import { startAgentbridge, type AgentbridgeProcess } from '../helpers/agentbridge.js';
import { processesMentioning } from '../helpers/procs.js';
import { makeSandbox, waitFor, type Sandbox } from '../helpers/sandbox.js';
import { SlackTwin } from '../twins/slack/twin.js';
import { answersStartingWith, botMessages, CHANNEL, gate, inboxTotal, slackEnv, USERS, waitForAcks, waitForAnswer } from '../twins/slack/harness.js';

let model: AnthropicModel;
let twin: SlackTwin;
let sb: Sandbox;
let ab: AgentbridgeProcess;

beforeAll(async () => {
  [model, twin] = await Promise.all([startAnthropicModel(), SlackTwin.start({ users: USERS })]);
  sb = makeSandbox();
  // These tests are about messages that queue while a turn runs (combined into the next turn, in
  // order); steering them into the running turn (the default busy mode) is tested in interactive-*.test.ts.
  ab = await startAgentbridge({ ...slackEnv(sb, model, twin, 'socket'), AGENTBRIDGE_BUSY_MODE: 'queue' }, sb.root);
});

afterEach(() => {
  model.setResponder(undefined);
});

afterAll(async () => {
  expect(await ab?.stop()).toBe(0);
  // Invariant 7: no token in any log line (LOG_LEVEL=debug; TEST_LOG_LEVEL=trace checks Bolt's own debug output too).
  const logs = JSON.stringify(ab.logs) + ab.stderr();
  expect(logs).not.toContain(twin.botToken);
  expect(logs).not.toContain(twin.appToken);
  await Promise.all([model?.close(), twin?.close()]);
  expect(processesMentioning(sb.root)).toEqual([]);
  sb?.cleanup();
});

/** Main model requests whose last user text contains `needle`. */
function requestsWith(needle: string) {
  return model.mainRequests().filter((r) => lastUserText(r).includes(needle));
}

describe('Slack over Socket Mode, end to end', () => {
  it('a mention starts a threaded conversation and the answer arrives in the thread', async () => {
    const post = await twin.userPosts({ user: 'U0ALICE', channel: CHANNEL, text: 'hello agent, ask <@U0BOB> and remember PELICAN', mention: true });
    const answer = await waitForAnswer(twin, CHANNEL, post.ts, 'echo: hello agent, ask @Bob Builder and remember PELICAN');
    expect(answer.thread_ts).toBe(post.ts);
    // The agent got the text without the bot's mention, with the other user's name.
    const [req] = requestsWith('remember PELICAN');
    expect(lastUserText(req!)).toBe('hello agent, ask @Bob Builder and remember PELICAN');
    // Nothing top-level from the bot; one answer; ✅ added after 👀 on the user's message (no removal calls).
    expect(twin.store.channelMessages(CHANNEL).filter((m) => m.bot_id && !m.thread_ts)).toEqual([]);
    expect(answersStartingWith(twin, CHANNEL, post.ts, 'echo:')).toHaveLength(1);
    await waitFor(() => twin.message(CHANNEL, post.ts)!.reactions.white_check_mark, 15_000, 'the ✅ reaction');
    expect(twin.callsOf('reactions.remove')).toEqual([]);
    expect(
      twin
        .callsOf('reactions.add')
        .filter((c) => c.params.timestamp === post.ts)
        .map((c) => c.params.name),
    ).toEqual(['eyes', 'white_check_mark']);
    // No thread status: the progress message shows the work (a status would be one more call).
    expect(twin.store.statuses.filter((s) => s.thread_ts === post.ts)).toEqual([]);
    // The answer replaced the progress message: one bot message in the thread.
    expect(twin.botTexts(CHANNEL, post.ts)).toHaveLength(1);
  });

  it('a follow-up without mention continues the thread with its history; other messages are ignored', async () => {
    const root = await twin.userPosts({ user: 'U0ALICE', channel: CHANNEL, text: 'remember the word HERON', mention: true });
    await waitForAnswer(twin, CHANNEL, root.ts, 'echo: remember the word HERON');
    const inboxBefore = await inboxTotal(ab.url);

    // Not for the bot: a channel message without mention, and a reply in someone else's thread.
    const plain = await twin.userPosts({ user: 'U0BOB', channel: CHANNEL, text: 'lunch anyone? IGNORED-1' });
    const stray = await twin.userPosts({ user: 'U0BOB', channel: CHANNEL, text: 'sure IGNORED-2', thread_ts: plain.ts });
    const follow = await twin.userPosts({ user: 'U0ALICE', channel: CHANNEL, text: 'what was the word?', thread_ts: root.ts });
    await waitForAcks(twin, [...plain.eventIds, ...stray.eventIds, ...follow.eventIds]);
    await waitForAnswer(twin, CHANNEL, root.ts, 'echo: what was the word?');

    const [second] = requestsWith('what was the word?');
    expect(allText(second!)).toContain('remember the word HERON');
    expect(allText(second!)).toContain('echo: remember the word HERON');
    expect(await inboxTotal(ab.url)).toBe(inboxBefore + 1);
    expect(model.mainRequests().filter((r) => allText(r).includes('IGNORED'))).toEqual([]);
    expect(botMessages(twin, CHANNEL, plain.ts)).toEqual([]);
  });

  it('a direct message starts its own threaded conversation; a reply in it continues', async () => {
    const dm = await twin.userPosts({ user: 'U0BOB', channel: 'D0BOB', text: 'hi in private, remember OSPREY' });
    await waitForAnswer(twin, 'D0BOB', dm.ts, 'echo: hi in private, remember OSPREY');
    const reply = await twin.userPosts({ user: 'U0BOB', channel: 'D0BOB', text: 'which bird?', thread_ts: dm.ts });
    await waitForAnswer(twin, 'D0BOB', dm.ts, 'echo: which bird?');
    expect(allText(requestsWith('which bird?')[0]!)).toContain('remember OSPREY');
    // A second top-level DM is a new conversation, without the first one's history.
    const other = await twin.userPosts({ user: 'U0BOB', channel: 'D0BOB', text: 'new topic WREN' });
    await waitForAnswer(twin, 'D0BOB', other.ts, 'echo: new topic WREN');
    expect(allText(requestsWith('new topic WREN')[0]!)).not.toContain('OSPREY');
    expect(reply.thread_ts).toBe(dm.ts);
  });

  it('three messages posted quickly while a turn runs all reach the agent, in order', async () => {
    const hold = gate();
    model.setResponder(async (req) => {
      if (lastUserText(req).includes('start the long task')) await hold.promise;
      return echo(req);
    });
    const root = await twin.userPosts({ user: 'U0ALICE', channel: CHANNEL, text: 'start the long task', mention: true });
    await waitFor(() => requestsWith('start the long task').length > 0, 30_000, 'the first turn to reach the model');
    const burst = [];
    for (const [user, text] of [
      ['U0ALICE', 'first FOLLOW-A'],
      ['U0BOB', 'second FOLLOW-B'],
      ['U0ALICE', 'third FOLLOW-C'],
    ] as const) {
      burst.push(await twin.userPosts({ user, channel: CHANNEL, text, thread_ts: root.ts }));
    }
    await waitForAcks(
      twin,
      burst.flatMap((b) => b.eventIds),
    );
    hold.open();
    await waitForAnswer(twin, CHANNEL, root.ts, 'echo: start the long task');
    await waitFor(() => answersStartingWith(twin, CHANNEL, root.ts, 'echo:').some((m) => m.text.includes('FOLLOW-C')), 45_000, 'the answer to the burst');

    const seen = model.mainRequests().filter((r) => lastUserText(r).includes('FOLLOW-'));
    expect(seen).toHaveLength(1); // one turn for the three queued messages
    const prompt = lastUserText(seen[0]!);
    const at = ['FOLLOW-A', 'FOLLOW-B', 'FOLLOW-C'].map((w) => prompt.indexOf(w));
    expect(at.every((i) => i >= 0)).toBe(true);
    expect([...at].sort((a, b) => a - b)).toEqual(at);
    expect(prompt).toContain('[Bob Builder]: second FOLLOW-B');
    expect(answersStartingWith(twin, CHANNEL, root.ts, 'echo:')).toHaveLength(2);
  });

  it('duplicate deliveries (retries of one event_id, app_mention plus message) give one turn and one answer', async () => {
    const hold = gate();
    model.setResponder(async (req) => {
      if (lastUserText(req).includes('DUPLICATE-CHECK')) await hold.promise;
      return echo(req);
    });
    const inboxBefore = await inboxTotal(ab.url);
    const post = await twin.userPosts({ user: 'U0ALICE', channel: CHANNEL, text: 'DUPLICATE-CHECK please', mention: true, also_as_message: true });
    expect(post.eventIds).toHaveLength(2);
    await waitFor(() => requestsWith('DUPLICATE-CHECK').length > 0, 30_000, 'the turn to reach the model');
    // Slack retries the app_mention while the turn runs (same event_id, retry_attempt 1).
    void twin.redeliver(post.eventIds[0]!);
    await waitFor(() => twin.socket.envelopes.some((e) => e.event_id === post.eventIds[0] && e.retry_attempt === 1 && e.acked), 10_000, 'the ack of the retry');
    hold.open();
    await waitForAnswer(twin, CHANNEL, post.ts, 'echo: DUPLICATE-CHECK please');
    // ... and once more after the answer (both event ids).
    void twin.redeliver(post.eventIds[0]!);
    void twin.redeliver(post.eventIds[1]!);
    await waitFor(
      () =>
        post.eventIds.every(
          (id) => twin.socket.envelopes.filter((e) => e.event_id === id && e.acked && e.retry_attempt > 0).length >= (id === post.eventIds[0] ? 2 : 1),
        ),
      10_000,
      'the acks of the late retries',
    );
    expect(await inboxTotal(ab.url)).toBe(inboxBefore + 1);
    expect(requestsWith('DUPLICATE-CHECK')).toHaveLength(1);
    expect(answersStartingWith(twin, CHANNEL, post.ts, 'echo:')).toHaveLength(1);
  });

  it('a 429 on chat.postMessage is waited out and the answer is delivered once', async () => {
    // Two chunks: the first replaces the progress message (chat.update), the second is a new chat.postMessage.
    const part1 = `RATE-PART-ONE ${'alpha beta gamma '.repeat(170)}`.trim();
    const part2 = `RATE-PART-TWO ${'delta epsilon zeta '.repeat(150)}`.trim();
    const hold = gate();
    model.setResponder(async (req) => {
      if (!lastUserText(req).includes('RATE-LIMIT')) return echo(req);
      await hold.promise;
      return { text: `${part1}\n\n${part2}` };
    });
    const post = await twin.userPosts({ user: 'U0BOB', channel: CHANNEL, text: 'RATE-LIMIT test', mention: true });
    const inThread = () => twin.callsOf('chat.postMessage').filter((c) => c.params.thread_ts === post.ts);
    await waitFor(() => inThread().some((c) => c.status === 200) && requestsWith('RATE-LIMIT').length > 0, 30_000, 'the progress message and the turn');
    twin.failNext('chat.postMessage', { status: 429, retryAfter: 1 });
    hold.open();
    await waitForAnswer(twin, CHANNEL, post.ts, 'RATE-PART-TWO');
    const calls = inThread();
    expect(calls.map((c) => c.status)).toEqual([200, 429, 200]);
    expect(calls[2]!.at - calls[1]!.at).toBeGreaterThanOrEqual(1_000);
    expect(botMessages(twin, CHANNEL, post.ts).map((m) => m.text)).toEqual([part1, part2]);
    // The 429 that was waited out is counted in /metrics.
    const metrics = await (await fetch(`${ab.url}/metrics`)).text();
    expect(metrics).toContain('agentbridge_platform_api_errors_total{platform="slack",kind="rate_limited"} 1');
  });

  it('a 10,000-character answer with code blocks arrives complete, in order, every code block intact', async () => {
    const { markdown, code, prose } = longAnswer();
    expect(markdown.length).toBeGreaterThanOrEqual(10_000);
    model.setResponder((req) => (lastUserText(req).includes('LONG-ANSWER') ? { text: markdown } : echo(req)));
    const post = await twin.userPosts({ user: 'U0ALICE', channel: CHANNEL, text: 'LONG-ANSWER please', mention: true });
    // Done when the progress message (⏳ …) was replaced and the last chunk is there.
    const done = () => {
      const texts = botMessages(twin, CHANNEL, post.ts).map((m) => m.text);
      return texts.length > 1 && !texts.some((t) => t.startsWith('⏳')) && texts.at(-1)!.endsWith('END-OF-ANSWER');
    };
    await waitFor(done, 45_000, 'the whole answer');
    const messages = botMessages(twin, CHANNEL, post.ts).map((m) => m.text);
    expect(messages.length).toBeGreaterThanOrEqual(3);
    for (const text of messages) {
      expect(text.length).toBeLessThanOrEqual(3_900);
      expect(text.split('\n').filter((l) => l.startsWith('```')).length % 2).toBe(0); // fences balanced per message
    }
    // Reassembled: the code lines inside fences and the prose lines, complete and in order.
    const lines = messages.flatMap((t) => t.split('\n'));
    let inCode = false;
    const gotCode: string[] = [];
    const gotProse: string[] = [];
    for (const line of lines) {
      if (line.startsWith('```')) inCode = !inCode;
      else if (inCode) gotCode.push(line);
      else if (line.trim()) gotProse.push(line);
    }
    expect(gotCode).toEqual(code);
    expect(gotProse).toEqual(prose);
  });
});

/**
 * An answer of > 10,000 characters: paragraphs and fenced code blocks whose content
 * slackify-markdown leaves unchanged (no `<`, `>`, `&`, `@`, `*`, `_` outside code).
 */
function longAnswer(): { markdown: string; code: string[]; prose: string[] } {
  const parts: string[] = [];
  const code: string[] = [];
  const prose: string[] = [];
  for (let s = 1; s <= 8; s++) {
    const para =
      `Section ${s} explains step ${s} of the plan in plain words, so that the reader can follow it line by line. ${'It keeps going with more detail. '.repeat(12)}`.trim();
    prose.push(para);
    parts.push(para);
    const block: string[] = [];
    for (let l = 1; l <= 22; l++) block.push(`    const value${s}x${l} = compute(${s}, ${l}) + offset${l}; // block ${s} line ${l}`);
    code.push(...block);
    parts.push(['```js', ...block, '```'].join('\n'));
  }
  prose.push('END-OF-ANSWER');
  parts.push('END-OF-ANSWER');
  return { markdown: parts.join('\n\n'), code, prose };
}
