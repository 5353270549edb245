/**
 * End to end over Socket Mode against the Slack twin enforcing Slack's rate tiers
 * (test/twins/slack/rate-tiers.ts), turns that take a while (the scripted model waits 8 s before
 * answering; issue 12 "honest progress"):
 * - one slow turn alone: its progress message's elapsed time moves while the model is quiet;
 * - 20 slow conversations started together in ONE channel with 6 turn slots: those that wait show
 *   their place in line, the twin refuses nothing (the elapsed-time edits, the queued messages and
 *   the answers share the channel's budget), and every message is answered once, the answer
 *   replacing the progress message (one bot message per thread).
 */
import { afterAll, beforeAll, describe, expect } from 'vitest';
import { lastUserText, startAnthropicModel, type AnthropicModel } from '../models/anthropic.js';
import { startAgentbridge, type AgentbridgeProcess } from '../helpers/agentbridge.js';
import { processesMentioning } from '../helpers/procs.js';
import { makeSandbox, waitFor, type Sandbox } from '../helpers/sandbox.js';
import { timedTests } from '../helpers/timed.js';
import { SlackTwin } from '../twins/slack/twin.js';
import { answersStartingWith, CHANNEL, slackEnv, USERS, waitForAcks } from '../twins/slack/harness.js';

const BURST = 20;
const SLOTS = 6;
const MODEL_DELAY_MS = 8_000;

let model: AnthropicModel;
let twin: SlackTwin;
let sb: Sandbox;
let ab: AgentbridgeProcess | undefined;
const { timed, durations } = timedTests(300_000);

beforeAll(async () => {
  [model, twin] = await Promise.all([
    startAnthropicModel((req) => ({ text: `echo: ${lastUserText(req)}`, delayMs: lastUserText(req).includes('SLOWBURST') ? MODEL_DELAY_MS : 0 })),
    SlackTwin.start({ users: USERS }),
  ]);
  sb = makeSandbox();
  ab = await startAgentbridge({ ...slackEnv(sb, model, twin, 'socket'), AGENTBRIDGE_MAX_CONCURRENT_TURNS: String(SLOTS) }, sb.root);
});

afterAll(async () => {
  if (ab) expect(await ab.stop()).toBe(0);
  await Promise.all([model?.close(), twin?.close()]);
  expect(processesMentioning(sb.root)).toEqual([]);
  sb?.cleanup();
  console.log(durations.join('\n'));
});

describe('Slack end to end: progress of 20 slow turns in one channel', () => {
  timed('one slow turn: its progress message shows the elapsed time moving while the model is quiet', async () => {
    const before = twin.calls.length;
    const post = await twin.userPosts({ user: USERS[0]!.id, channel: CHANNEL, text: 'SLOWBURST alone', mention: true });
    await waitFor(() => answersStartingWith(twin, CHANNEL, post.ts, 'echo:').length > 0, 60_000, 'the answer');
    const texts = twin.calls
      .slice(before)
      .filter((c) => c.method === 'chat.update')
      .map((c) => String(c.params.text ?? ''));
    expect(texts.some((t) => /elapsed [5-9] s/.test(t))).toBe(true);
    expect(twin.botTexts(CHANNEL, post.ts)).toEqual(['echo: SLOWBURST alone']);
  });

  timed(`${BURST} slow conversations: the queued ones show their place, no 429, one answer each`, async () => {
    const before = twin.calls.length;
    const posts = await Promise.all(
      Array.from({ length: BURST }, (_, i) =>
        twin.userPosts({ user: USERS[i % USERS.length]!.id, channel: CHANNEL, text: `SLOWBURST question ${i} SB-${i}-END`, mention: true }),
      ),
    );
    await waitForAcks(
      twin,
      posts.flatMap((p) => p.eventIds),
      60_000,
    );
    const answered = (i: number) => answersStartingWith(twin, CHANNEL, posts[i]!.ts, 'echo:').length > 0;
    await waitFor(() => posts.every((_, i) => answered(i)), 240_000, `answers to all ${BURST}`);

    const calls = twin.calls.slice(before);
    const texts = calls.filter((c) => c.method === 'chat.update' || c.method === 'chat.postMessage').map((c) => String(c.params.text ?? ''));
    const elapsed = texts.map((t) => /elapsed (\d+) s/.exec(t)?.[1]).filter((x): x is string => x !== undefined);
    durations.push(
      `  ${calls.length} calls; progress texts with a moved elapsed time: ${elapsed.filter((s) => Number(s) >= 5).length}; queued texts: ${texts.filter((t) => t.startsWith('⏳ Queued')).length}; 429s: ${twin.rateLimited.length}`,
    );
    // (The elapsed-time edits share the channel's chat.update budget with the answers and the
    // queued messages; in a burst they go out only as far as it allows — printed above.)
    // More conversations than slots: some waited, and said so.
    expect(texts.some((t) => t.startsWith('⏳ Queued'))).toBe(true);
    // Within Slack's tiers.
    expect(twin.rateLimitedSummary()).toEqual([]);
    // One answer per thread, replacing the progress message: no other bot message is left there.
    for (const [i, p] of posts.entries()) {
      expect(twin.botTexts(CHANNEL, p.ts)).toEqual([`echo: SLOWBURST question ${i} SB-${i}-END`]);
    }
  });
});
