/**
 * Chaos: the KILL LOOP (docs/ARCHITECTURE.md §6, chaos suite). agentbridge runs the local chat as its own process
 * with the real `claude` CLI against the scripted model (answers after 200–800 ms, naming the
 * tokens of the prompt). Messages go to many threads; agentbridge is SIGKILLed at random moments
 * while a model request is in flight and started again each time; the last kill comes after the
 * last message, so the final start must recover everything.
 *
 * Expect: 0 lost, 0 duplicated and 0 reordered answers, no progress message left "⏳ Working…",
 * 0 agent processes left, and every prompt in the agent's context exactly once: in the last
 * model request of each thread each of its tokens appears once in the user content, and in no
 * request does a token appear twice.
 *
 * Sizes: full = 200 messages / 50 threads / 8 kills; ci = 40 / 10 / 3.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LocalChat, claudeServiceEnv, type AgentbridgeProcess } from '../helpers/agentbridge.js';
import { makeSandbox, type Sandbox } from '../helpers/sandbox.js';
import { lastUserText, startAnthropicModel, type AnthropicModel } from '../models/anthropic.js';
import { auditAnswers, auditContext, isProgressText, tokenFor, tokensIn } from './audit.js';
import { processesMentioning } from '../helpers/procs.js';
import { agentProcesses, Fleet, reapLeftovers, isSettled, pollUntil, tokenEcho } from './harness.js';
import { makePrng } from './prng.js';
import { announce, writeResults } from './results.js';
import { bySize, SEED } from './scale.js';

const SCENARIO = 'kill-loop';
const SIZE = bySize({
  full: { messages: 200, threads: 50, kills: 8, answerTimeoutMs: 20 * 60_000 },
  ci: { messages: 40, threads: 10, kills: 3, answerTimeoutMs: 150_000 },
});
const CHANNEL = 'chaos';

const rng = makePrng(SEED, SCENARIO);
let model: AnthropicModel;
let sb: Sandbox;
let fleet: Fleet;

beforeAll(async () => {
  model = await startAnthropicModel();
  sb = makeSandbox();
  fleet = new Fleet(() => claudeServiceEnv(sb, model.url, { LOG_LEVEL: 'info' }), sb.root);
});

afterAll(async () => {
  await fleet?.stopAll();
  if (sb) reapLeftovers(sb.root);
  await model?.close();
  sb?.cleanup();
});

/** The send order: thread of each message, a random interleaving of `threads` × (messages/threads). */
function schedule(): number[] {
  const left = Array.from({ length: SIZE.threads }, (_, i) => Math.floor(SIZE.messages / SIZE.threads) + (i < SIZE.messages % SIZE.threads ? 1 : 0));
  const order: number[] = [];
  while (order.length < SIZE.messages) {
    const open = left.flatMap((n, t) => (n > 0 ? [t] : []));
    const t = rng.pick(open);
    left[t]!--;
    order.push(t);
  }
  return order;
}

describe('chaos: kill loop (local chat, SIGKILL at random moments)', () => {
  it(`${SIZE.messages} messages across ${SIZE.threads} threads with ${SIZE.kills} SIGKILLs: every message answered once, in order, prompts in context once`, async () => {
    announce(SCENARIO, `${SIZE.messages} messages, ${SIZE.threads} threads, ${SIZE.kills} SIGKILLs`);
    const echo = tokenEcho(rng, 200, 800);
    model.setResponder(echo.responder);
    const order = schedule();
    // Kill after these message indices (the last kill after the last message).
    const killAfter = [...rng.distinct(SIZE.kills - 1, 1, SIZE.messages - 2), SIZE.messages - 1];
    const started = Date.now();

    let ab: AgentbridgeProcess = await fleet.start();
    let chat = new LocalChat(ab.url);
    const threadIds = new Map<number, string>(); // thread number → local thread id
    const accepted = new Map<string, string[]>(); // local thread id → tokens in send order
    const kills: Array<{ afterMessage: number; midTurn: boolean; agentProcs: number; restartMs: number }> = [];

    for (let i = 0; i < order.length; i++) {
      const t = order[i]!;
      const token = tokenFor(t, i);
      const thread = threadIds.get(t);
      const res = await chat.send(CHANNEL, `please note ${token}`, { user: 'chaos', ...(thread ? { thread } : {}) });
      if (!thread) threadIds.set(t, res.thread);
      accepted.set(res.thread, [...(accepted.get(res.thread) ?? []), token]);

      if (killAfter.includes(i)) {
        // A random moment inside a turn: once a model request is in flight, plus 0–600 ms.
        const midTurn = await pollUntil(() => echo.inFlight() > 0, 15_000, 'a model request in flight', 20).then(
          () => true,
          () => false,
        );
        await new Promise((r) => setTimeout(r, rng.int(0, 600)));
        // Agent processes up at the kill (the live sessions of this instance included).
        const procs = processesMentioning(sb.root).filter((p) => p.pid !== ab.child.pid).length;
        await fleet.kill(ab);
        const t0 = Date.now();
        ab = await fleet.start();
        chat = new LocalChat(ab.url);
        kills.push({ afterMessage: i, midTurn: midTurn && procs > 0, agentProcs: procs, restartMs: Date.now() - t0 });
      } else {
        await new Promise((r) => setTimeout(r, rng.int(20, 400)));
      }
    }
    const sentMs = Date.now() - started;

    const threads = [...accepted.keys()];
    const answersOf = async (): Promise<Map<string, string[]>> => {
      const out = new Map<string, string[]>();
      for (const th of threads)
        out.set(
          th,
          (await chat.messages(CHANNEL, th)).filter((m) => m.bot).map((m) => m.text),
        );
      return out;
    };
    const allTokens = [...accepted.values()].flat();
    let waitError: unknown;
    await pollUntil(
      async () => {
        const texts = [...(await answersOf()).values()].flat().filter((x) => !isProgressText(x));
        const seen = new Set(texts.flatMap(tokensIn));
        return allTokens.every((tk) => seen.has(tk)) && (await isSettled(ab.url));
      },
      SIZE.answerTimeoutMs,
      'every message to be answered and the inbox and outbox to be empty',
      500,
    ).catch((err: unknown) => (waitError = err));
    const answeredMs = Date.now() - started;

    const bot = await answersOf();
    const answers = new Map([...bot].map(([th, texts]) => [th, texts.filter((x) => !isProgressText(x))]));
    const stale = [...bot.values()].flat().filter(isProgressText);
    const audit = auditAnswers(accepted, answers);
    const context = auditContext(accepted, model.mainRequests(), lastUserText);
    const leftRunning = agentProcesses(sb.root, fleet);
    const restartNotices = [...bot.values()].flat().filter((x) => x.startsWith('🔄')).length;
    await fleet.stopAll();
    const leftAfterStop = agentProcesses(sb.root, fleet);

    const figures = {
      messages: SIZE.messages,
      threads: SIZE.threads,
      kills: kills.length,
      killsMidTurn: kills.filter((k) => k.midTurn).length,
      killDetails: kills,
      restartNotices,
      lost: audit.lost.length,
      duplicated: audit.duplicated.length,
      reordered: audit.reordered.length,
      misplaced: audit.misplaced.length,
      staleProgress: stale.length,
      agentProcessesLeft: leftRunning.length + leftAfterStop.length,
      modelRequests: context.requests,
      promptsRepeatedInContext: new Set([...context.repeatedInSomeRequest.map((r) => r.token), ...context.lastRequestWrong.map((w) => w.token)]).size,
      lastRequestWrong: context.lastRequestWrong.length,
      promptsSentAgain: context.promptedMoreThanOnce,
      sendPhaseMs: sentMs,
      totalMs: answeredMs,
      timedOut: waitError !== undefined,
      details: {
        lost: audit.lost,
        duplicated: audit.duplicated,
        reordered: audit.reordered,
        misplaced: audit.misplaced,
        stale,
        context: context.lastRequestWrong.slice(0, 50),
        repeated: context.repeatedInSomeRequest.slice(0, 50),
        leftRunning,
        leftAfterStop,
      },
    };
    writeResults(
      SCENARIO,
      `${SIZE.messages} messages/${SIZE.threads} threads, ${kills.length} SIGKILLs (${figures.killsMidTurn} mid-turn): ` +
        `${figures.lost} lost, ${figures.duplicated} duplicated, ${figures.reordered} reordered, ${figures.staleProgress} stale progress, ` +
        `${figures.agentProcessesLeft} agent processes left, ${figures.promptsRepeatedInContext} prompts not exactly once in the agent's context ` +
        `(${figures.promptsSentAgain} prompts sent again after a kill), all answered in ${(answeredMs / 1000).toFixed(0)} s${waitError ? ' (TIMED OUT)' : ''}`,
      figures,
    );

    expect(waitError, 'every message answered and the inbox/outbox drained in time').toBeUndefined();
    expect(kills).toHaveLength(SIZE.kills);
    expect(audit.lost, 'lost messages (no answer names them)').toEqual([]);
    expect(audit.duplicated, 'messages answered more than once').toEqual([]);
    expect(audit.reordered, 'threads whose answers came out of order').toEqual([]);
    expect(audit.misplaced, 'answers in the wrong thread').toEqual([]);
    expect(stale, 'progress messages left "⏳ Working…"').toEqual([]);
    expect(leftRunning, 'agent processes left while idle').toEqual([]);
    expect(leftAfterStop, 'agent processes left after the stop').toEqual([]);
    expect(context.repeatedInSomeRequest, 'prompts that appear more than once in one model request').toEqual([]);
    expect(context.lastRequestWrong, 'prompts not exactly once in the last model request of their thread').toEqual([]);
  });
});
