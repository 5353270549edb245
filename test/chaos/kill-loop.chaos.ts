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
import { allAnswered, auditRun, runDetails, runFigures } from './audit.js';
import { processesMentioning } from '../helpers/procs.js';
import {
  agentProcesses,
  botTexts,
  expectCleanRun,
  Fleet,
  interleave,
  reapLeftovers,
  isSettled,
  midTurnMoment,
  pollUntil,
  SentMessages,
  tokenEcho,
} from './harness.js';
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

describe('chaos: kill loop (local chat, SIGKILL at random moments)', () => {
  it(`${SIZE.messages} messages across ${SIZE.threads} threads with ${SIZE.kills} SIGKILLs: every message answered once, in order, prompts in context once`, async () => {
    announce(SCENARIO, `${SIZE.messages} messages, ${SIZE.threads} threads, ${SIZE.kills} SIGKILLs`);
    const echo = tokenEcho(rng, 200, 800);
    model.setResponder(echo.responder);
    const order = interleave(rng, SIZE.messages, SIZE.threads);
    // Kill after these message indices (the last kill after the last message).
    const killAfter = [...rng.distinct(SIZE.kills - 1, 1, SIZE.messages - 2), SIZE.messages - 1];
    const started = Date.now();

    let ab: AgentbridgeProcess = await fleet.start();
    let chat = new LocalChat(ab.url);
    const sent = new SentMessages();
    const kills: Array<{ afterMessage: number; midTurn: boolean; agentProcs: number; restartMs: number }> = [];

    for (let i = 0; i < order.length; i++) {
      await sent.send(chat, CHANNEL, order[i]!, i);

      if (killAfter.includes(i)) {
        const midTurn = await midTurnMoment(rng, echo.inFlight);
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

    const { accepted } = sent;
    const threads = [...accepted.keys()];
    let waitError: unknown;
    await pollUntil(
      async () => allAnswered(await botTexts(chat, CHANNEL, threads), accepted) && (await isSettled(ab.url)),
      SIZE.answerTimeoutMs,
      'every message to be answered and the inbox and outbox to be empty',
      500,
    ).catch((err: unknown) => (waitError = err));
    const answeredMs = Date.now() - started;

    const bot = await botTexts(chat, CHANNEL, threads);
    const run = auditRun(bot, accepted, model.mainRequests(), lastUserText);
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
      ...runFigures(run),
      agentProcessesLeft: leftRunning.length + leftAfterStop.length,
      sendPhaseMs: sentMs,
      totalMs: answeredMs,
      timedOut: waitError !== undefined,
      details: {
        ...runDetails(run),
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
    expectCleanRun(run, 'threads');
    expect(leftRunning, 'agent processes left while idle').toEqual([]);
    expect(leftAfterStop, 'agent processes left after the stop').toEqual([]);
  });
});
