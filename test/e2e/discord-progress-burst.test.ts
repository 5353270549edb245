/**
 * End to end on Discord against the Discord twin enforcing Discord's rate limits
 * (test/twins/discord/rate-limits.ts: 5 creates and 5 edits per 5 s, 1 reaction per 0.25 s per
 * channel, 50 requests per second in all), turns that take a while (the scripted model waits 8 s
 * before answering):
 * - one slow turn alone: its progress message's elapsed time moves while the model is quiet;
 * - 20 slow conversations started together with 6 turn slots: those that wait show their place in
 *   line, the twin refuses nothing and discord.js gets no 429, and every message is answered
 *   once, the answer replacing the progress message (one bot message per conversation).
 *
 * Arrangement: agentbridge keeps one conversation per Discord channel and one per thread, so 20
 * conversations need 20 channel ids: here 20 threads of ONE chat channel. Discord's per-route
 * buckets are keyed by channel id and a thread is a channel of its own, so no arrangement puts
 * two conversations in one per-route bucket; each thread's bucket carries one conversation's
 * reactions, progress message, its edits and the answer, and what all 20 share is the global
 * limit (the burst's start: a 👀 and a progress or "⏳ Queued" message for each, at once).
 */
import { afterAll, beforeAll, describe, expect } from 'vitest';
import { lastUserText, startAnthropicModel, type AnthropicModel } from '../models/anthropic.js';
import { startAgentbridge, type AgentbridgeProcess } from '../helpers/agentbridge.js';
import { processesMentioning } from '../helpers/procs.js';
import { makeSandbox, waitFor, type Sandbox } from '../helpers/sandbox.js';
import { timedTests } from '../helpers/timed.js';
import { startDiscordTwin, type DiscordTwin, type RestCall } from '../twins/discord/index.js';
import { botAnswers, discordEnv } from '../twins/discord/harness.js';
import { DISCORD_ROUTE_LIMITS, routeOf } from '../twins/discord/rate-limits.js';

const BURST = 20;
const SLOTS = 6;
const MODEL_DELAY_MS = 8_000;

let model: AnthropicModel;
let twin: DiscordTwin;
let sb: Sandbox;
let ab: AgentbridgeProcess | undefined;
let chat: string;
const { timed, durations } = timedTests(300_000);

beforeAll(async () => {
  [model, twin] = await Promise.all([
    startAnthropicModel((req) => ({ text: `echo: ${lastUserText(req)}`, delayMs: lastUserText(req).includes('SLOWBURST') ? MODEL_DELAY_MS : 0 })),
    startDiscordTwin({ channels: ['burst-chat', 'general'] }),
  ]);
  chat = twin.channels['burst-chat']!;
  sb = makeSandbox();
  ab = await startAgentbridge({ ...discordEnv(sb, model, twin, [chat]), AGENTBRIDGE_MAX_CONCURRENT_TURNS: String(SLOTS) }, sb.root);
  await waitFor(() => twin.connected(), 10_000, 'agentbridge on the Gateway');
});

afterAll(async () => {
  if (ab) expect(await ab.stop()).toBe(0);
  await Promise.all([model?.close(), twin?.close()]);
  expect(processesMentioning(sb.root)).toEqual([]);
  sb?.cleanup();
  console.log(durations.join('\n'));
});

/** The text of each message create and edit among `calls` (progress, queued and answers). */
function writtenTexts(calls: RestCall[]): string[] {
  return calls
    .filter(
      (c) => (c.method === 'POST' && /^\/channels\/\d+\/messages$/.test(c.path)) || (c.method === 'PATCH' && /^\/channels\/\d+\/messages\/\d+$/.test(c.path)),
    )
    .map((c) => String((c.body as { content?: unknown } | null)?.content ?? ''));
}

/** An elapsed time of 5 s or more in a progress text ("elapsed 7 s", "elapsed 12 s"). */
const MOVED = /elapsed ([5-9]|\d{2,}) s/;

/** The most calls counted by the global limit in any 1-s window (interaction routes are not counted). */
function peakPerSecond(calls: RestCall[]): number {
  const at = calls.filter((c) => !/^\/(interactions|webhooks)\//.test(c.path)).map((c) => c.at);
  let peak = 0;
  for (let i = 0, j = 0; i < at.length; i++) {
    while (at[i]! - at[j]! >= 1_000) j++;
    peak = Math.max(peak, i - j + 1);
  }
  return peak;
}

/** The busiest per-channel bucket: the most calls of one limited route in one channel within its window, as `n/max route`. */
function busiestBucket(calls: RestCall[]): string {
  let best = { n: 0, label: 'none' };
  const byKey = new Map<string, number[]>();
  for (const c of calls) {
    const { route, channel } = routeOf(c.method, c.path);
    if (DISCORD_ROUTE_LIMITS[route]) byKey.set(`${route} ${channel}`, [...(byKey.get(`${route} ${channel}`) ?? []), c.at]);
  }
  for (const [key, at] of byKey) {
    const route = key.slice(0, key.lastIndexOf(' '));
    const { max, windowMs } = DISCORD_ROUTE_LIMITS[route]!;
    for (let i = 0, j = 0; i < at.length; i++) {
      while (at[i]! - at[j]! >= windowMs) j++;
      if (i - j + 1 > best.n) best = { n: i - j + 1, label: `${i - j + 1}/${max} ${route}` };
    }
  }
  return best.label;
}

describe('Discord end to end: progress of 20 slow turns in 20 threads of one channel', () => {
  timed('one slow turn: its progress message shows the elapsed time moving while the model is quiet', async () => {
    const before = twin.calls.length;
    const thread = twin.startThread(chat, 'alone');
    twin.userSays({ user: 'Alice', channel: thread, content: 'SLOWBURST alone' });
    await waitFor(() => botAnswers(twin, thread).some((m) => m.content.startsWith('echo:')), 60_000, 'the answer');
    const edits = twin.calls.slice(before).filter((c) => c.method === 'PATCH' && c.path.startsWith(`/channels/${thread}/`));
    expect(writtenTexts(edits).some((t) => MOVED.test(t))).toBe(true);
    expect(twin.botMessages(thread).map((m) => m.content)).toEqual(['echo: SLOWBURST alone']);
    expect(twin.rateLimitedSummary()).toEqual([]);
  });

  timed(`${BURST} slow conversations: the queued ones show their place, no 429, one answer each`, async () => {
    const before = twin.calls.length;
    const threads = Array.from({ length: BURST }, (_, i) => twin.startThread(chat, `burst ${i}`));
    for (const [i, thread] of threads.entries()) twin.userSays({ user: `User${i % 5}`, channel: thread, content: `SLOWBURST question ${i} SB-${i}-END` });
    const answered = (i: number) => botAnswers(twin, threads[i]!).some((m) => m.content.startsWith('echo:'));
    await waitFor(() => threads.every((_, i) => answered(i)), 240_000, `answers to all ${BURST}`);

    const calls = twin.calls.slice(before);
    const texts = writtenTexts(calls);
    const queuedThreads = threads.filter((t) => writtenTexts(calls.filter((c) => c.path.startsWith(`/channels/${t}/`))).some((x) => x.startsWith('⏳ Queued')));
    durations.push(
      `  ${calls.length} REST calls, at most ${peakPerSecond(calls)} in any 1 s (global limit 50); busiest channel bucket: ${busiestBucket(calls)}; progress texts with a moved elapsed time: ${texts.filter((t) => MOVED.test(t)).length}; ` +
        `threads shown queued: ${queuedThreads.length}; 429s: ${calls.filter((c) => c.status === 429).length}`,
    );
    // More conversations than slots: some waited, and said where they stand in line.
    expect(queuedThreads.length).toBeGreaterThan(0);
    expect(texts.filter((t) => t.startsWith('⏳ Queued')).every((t) => /^⏳ Queued — (next in line|\d+ conversations? ahead of this one)\./.test(t))).toBe(
      true,
    );
    // The slow turns' progress showed the time moving.
    expect(texts.some((t) => MOVED.test(t))).toBe(true);
    // Within Discord's limits: the twin refused nothing, and discord.js never met a 429.
    expect(twin.rateLimitedSummary()).toEqual([]);
    expect(calls.filter((c) => c.status === 429).map((c) => `${c.method} ${c.path}`)).toEqual([]);
    // One answer per thread, replacing the progress message: no other bot message is left there.
    for (const [i, thread] of threads.entries()) {
      expect(twin.botMessages(thread).map((m) => m.content)).toEqual([`echo: SLOWBURST question ${i} SB-${i}-END`]);
    }
  });
});
