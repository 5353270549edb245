/**
 * Chaos: CLUSTER KILL (docs/ARCHITECTURE.md §6 chaos suite, §10 cluster mode; issue 15 "load with
 * kills"). Three agentbridge instances (all roles) on one fresh PostgreSQL database
 * (`test/helpers/cluster.ts`), the real `claude` CLI against the scripted model (answers after
 * 200–800 ms, naming the tokens of the prompt). Messages go through the local chat API of a
 * random live instance, to many conversations; at random moments (while a model request is in
 * flight) a random instance is SIGKILLed and started again on the same data directory (so its
 * orphaned agents are reaped); the last kill comes after the last message. A cron job fires every
 * minute during the run.
 *
 * Expect:
 * - 0 lost, 0 duplicated, 0 reordered, 0 misplaced answers (`audit.ts`);
 * - never two turns of one conversation at once: the model's request spans (start/end ms, by the
 *   conversation of the prompt's tokens) of one conversation never overlap;
 * - every prompt in the agent's context exactly once (`auditContext`);
 * - each cron occurrence fired once: per due time at most one `ok` run in `cron_runs`, as many
 *   job outputs in the channel as `ok` runs, no minute skipped between the first and last run;
 * - no agent process left beside the live instances' own while idle, none after the stop.
 *
 * Sizes: full = 300 messages / 60 conversations / 10 kills (the issue's figures);
 * ci = 60 / 15 / 3.
 */
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LocalChat, runCli, type AgentbridgeProcess } from '../helpers/agentbridge.js';
import { clusterEnv, startCluster, type TestCluster } from '../helpers/cluster.js';
import { freshPostgresDatabase } from '../helpers/pg.js';
import { processesMentioning } from '../helpers/procs.js';
import { makeSandbox, type Sandbox } from '../helpers/sandbox.js';
import { lastUserText, startAnthropicModel, type AnthropicModel, type Responder } from '../models/anthropic.js';
import { allAnswered, answerFor, auditRun, runDetails, runFigures, threadOf, tokensIn } from './audit.js';
import { botTexts, expectCleanRun, interleave, isSettled, midTurnMoment, pollUntil, reapLeftovers, SentMessages, strayProcesses } from './harness.js';
import { makePrng } from './prng.js';
import { announce, writeResults } from './results.js';
import { bySize, SCALE, SEED } from './scale.js';

const SCENARIO = 'cluster-kill';
const SIZE = bySize({
  full: { messages: 300, conversations: 60, kills: 10, answerTimeoutMs: 30 * 60_000 },
  ci: { messages: 60, conversations: 15, kills: 3, answerTimeoutMs: 150_000 },
});
const INSTANCES = 3;
const CHANNEL = 'chaos';
const CRON_CHANNEL = 'ops';
const CRON_PROMPT = 'cluster cron tick: report the time';

const rng = makePrng(SEED, SCENARIO);
let model: AnthropicModel;
let sb: Sandbox;
let db: { url: string; drop: () => Promise<void> } | undefined;
let cluster: TestCluster | undefined;

/** One main model request: the conversation (thread number) of its prompt's tokens, start/end ms. */
interface Span {
  thread: number;
  start: number;
  end: number;
  tokens: string[];
}

beforeAll(async () => {
  model = await startAnthropicModel();
  sb = makeSandbox();
  db = await freshPostgresDatabase();
}, 120_000);

afterAll(async () => {
  await cluster?.stopAll();
  if (sb) reapLeftovers(sb.root);
  await model?.close();
  await db?.drop();
  sb?.cleanup();
}, 120_000);

/** A token-echoing responder (200–800 ms) that records each request's span by conversation. */
function spanRecorder(): { responder: Responder; spans: Span[]; inFlight(): number } {
  const spans: Span[] = [];
  let active = 0;
  return {
    spans,
    inFlight: () => active,
    responder: async (req) => {
      const prompt = lastUserText(req);
      const tokens = tokensIn(prompt);
      const span: Span = { thread: tokens.length ? threadOf(tokens[0]!) : -1, start: Date.now(), end: 0, tokens };
      active++;
      try {
        await new Promise((r) => setTimeout(r, rng.int(200, 800)));
        return { text: answerFor(prompt) };
      } finally {
        span.end = Date.now();
        spans.push(span);
        active--;
      }
    },
  };
}

/** Pairs of requests of one conversation that overlap in time. */
function overlaps(spans: readonly Span[]): Array<{ thread: number; first: Span; second: Span }> {
  const out: Array<{ thread: number; first: Span; second: Span }> = [];
  const byThread = new Map<number, Span[]>();
  for (const s of spans) if (s.thread >= 0) byThread.set(s.thread, [...(byThread.get(s.thread) ?? []), s]);
  for (const [thread, list] of byThread) {
    list.sort((a, b) => a.start - b.start);
    for (let i = 1; i < list.length; i++) if (list[i]!.start < list[i - 1]!.end) out.push({ thread, first: list[i - 1]!, second: list[i]! });
  }
  return out;
}

interface CronRun {
  scheduled_for: string;
  attempt: string;
  kind: string;
  status: string;
}

async function cronRuns(url: string): Promise<CronRun[]> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return (await client.query<CronRun>('SELECT scheduled_for::text, attempt::text, kind, status FROM cron_runs ORDER BY scheduled_for, attempt')).rows;
  } finally {
    await client.end();
  }
}

async function topLevelThreads(url: string, channel: string): Promise<Array<{ thread: string; user: string; text: string }>> {
  const res = await fetch(`${url}/api/local/threads?channel=${channel}&limit=500`);
  if (res.status !== 200) throw new Error(`GET /api/local/threads → ${res.status}`);
  return ((await res.json()) as { threads: Array<{ thread: string; user: string; text: string }> }).threads;
}

describe('chaos: cluster kill (three instances on one PostgreSQL, SIGKILL and restart at random)', () => {
  it(`${SIZE.messages} messages across ${SIZE.conversations} conversations with ${SIZE.kills} instance SIGKILLs: every message answered once, in order, one turn at a time, prompts in context once, cron once`, async () => {
    announce(SCENARIO, `${SIZE.messages} messages, ${SIZE.conversations} conversations, ${INSTANCES} instances, ${SIZE.kills} SIGKILLs`);
    const rec = spanRecorder();
    model.setResponder(rec.responder);
    const started = Date.now();

    // The cron job is added before the instances start (the CLI on the cluster's database).
    const probeEnv = clusterEnv(sb, model.url, db!.url, 0);
    const cron = await runCli(
      ['cron', 'add', '--name', 'chaos-tick', '--schedule', 'every 1m', '--platform', 'local', '--channel', CRON_CHANNEL, '--prompt', CRON_PROMPT],
      probeEnv,
      sb.root,
      60_000,
    );
    expect(cron.stderr).toBe('');
    expect(cron.code).toBe(0);

    const c = (cluster = await startCluster(sb, model.url, db!.url, INSTANCES));
    const startupMs = Date.now() - started;
    const order = interleave(rng, SIZE.messages, SIZE.conversations);
    const killAfter = [...rng.distinct(SIZE.kills - 1, 1, SIZE.messages - 2), SIZE.messages - 1];

    const live = (): number[] => c.nodes.flatMap((p, i) => (p ? [i] : []));
    const chatOf = (i: number) => new LocalChat(c.nodes[i]!.url);
    const anyUrl = (): string => c.nodes[live()[0]!]!.url;
    const sent = new SentMessages(); // conversation number → local thread id → tokens in send order
    const sentVia = [0, 0, 0];
    const kills: Array<{ afterMessage: number; instance: number; midTurn: boolean; at: number; restartMs: number }> = [];
    let restarting: Promise<unknown> = Promise.resolve();
    const everyProcess: AgentbridgeProcess[] = [...c.nodes.filter((p): p is AgentbridgeProcess => !!p)];

    const killOne = async (afterMessage: number): Promise<void> => {
      await restarting; // at most one instance down at a time
      const midTurn = await midTurnMoment(rng, rec.inFlight);
      const victim = rng.pick(live());
      const at = Date.now();
      await c.nodes[victim]!.stop('SIGKILL');
      c.nodes[victim] = undefined;
      const kill = { afterMessage, instance: victim, midTurn, at: at - started, restartMs: -1 };
      kills.push(kill);
      // Started again on the same data directory (in the background: sends go to the others meanwhile).
      restarting = c.start(victim).then((p) => {
        everyProcess.push(p);
        kill.restartMs = Date.now() - at;
      });
    };

    for (let i = 0; i < order.length; i++) {
      const via = rng.pick(live());
      sentVia[via]!++;
      await sent.send(chatOf(via), CHANNEL, order[i]!, i);
      if (killAfter.includes(i)) await killOne(i);
      else await new Promise((r) => setTimeout(r, rng.int(20, 300)));
    }
    await restarting;
    const sentMs = Date.now() - started;

    const { accepted } = sent;
    const threads = [...accepted.keys()];
    const answersOf = () => botTexts(new LocalChat(anyUrl()), CHANNEL, threads);
    let waitError: unknown;
    await pollUntil(
      async () => {
        if (!allAnswered(await answersOf(), accepted)) return false;
        for (const i of live()) if (!(await isSettled(c.nodes[i]!.url))) return false;
        return true;
      },
      SIZE.answerTimeoutMs,
      'every message to be answered and the inbox and outbox to be empty',
      1000,
    ).catch((err: unknown) => (waitError = err));
    const answeredMs = Date.now() - started;

    const bot = await answersOf();
    const run = auditRun(bot, accepted, model.mainRequests(), lastUserText);
    const concurrent = overlaps(rec.spans);
    const interrupted = [...bot.values()].flat().filter((x) => x.startsWith('⚠️') || x.startsWith('🔄')).length;

    // Cron: each due time fired once (at most one ok run), one output per ok run, no minute skipped.
    const runs = await cronRuns(db!.url);
    const okRuns = runs.filter((r) => r.status === 'ok');
    const okDue = okRuns.map((r) => Number(r.scheduled_for));
    const cronTwice = okDue.filter((d, i) => okDue.indexOf(d) !== i);
    const cronPosts = (await topLevelThreads(anyUrl(), CRON_CHANNEL)).filter((th) => th.user === 'agentbridge');
    // The job's answers (the model names its prompt); notices of an interrupted run are posted beside them.
    const cronOutputs = cronPosts.filter((th) => th.text.includes(CRON_PROMPT));
    const dueTimes = [...new Set(runs.filter((r) => r.kind === 'schedule').map((r) => Number(r.scheduled_for)))].sort((a, b) => a - b);
    const cronGaps = dueTimes.slice(1).filter((d, i) => d - dueTimes[i]! !== 60_000);

    // Idle: only the live instances' own agent sessions may run; after the stop, nothing.
    const leftRunning = strayProcesses(
      sb.root,
      live().map((i) => c.nodes[i]!.child.pid!),
    );
    await c.stopAll();
    const leftAfterStop = processesMentioning(sb.root);

    const figures = {
      instances: INSTANCES,
      messages: SIZE.messages,
      conversations: SIZE.conversations,
      sentVia,
      kills: kills.length,
      killsMidTurn: kills.filter((k) => k.midTurn).length,
      killDetails: kills,
      interruptedNotices: interrupted,
      ...runFigures(run),
      concurrentTurns: concurrent.length,
      cronRuns: runs.length,
      cronOk: okRuns.length,
      cronOutputs: cronOutputs.length,
      cronFiredTwice: cronTwice.length,
      cronMinutesSkipped: cronGaps.length,
      agentProcessesLeft: leftRunning.length + leftAfterStop.length,
      startupMs,
      sendPhaseMs: sentMs,
      totalMs: answeredMs,
      timedOut: waitError !== undefined,
      details: {
        ...runDetails(run),
        concurrent: concurrent.slice(0, 20),
        cronRuns: runs,
        cronPosts: cronPosts.map((th) => th.text.slice(0, 200)),
        leftRunning,
        leftAfterStop,
        waitError: waitError ? String(waitError) : undefined,
      },
    };
    writeResults(
      SCENARIO,
      `${SIZE.messages} messages/${SIZE.conversations} conversations on ${INSTANCES} instances, ${kills.length} SIGKILLs (${figures.killsMidTurn} mid-turn): ` +
        `${figures.lost} lost, ${figures.duplicated} duplicated, ${figures.reordered} reordered, ${figures.concurrentTurns} concurrent turns of one conversation, ` +
        `${figures.promptsRepeatedInContext} prompts not exactly once in the agent's context, cron ${figures.cronOk} ok runs/${figures.cronOutputs} outputs ` +
        `(${figures.cronFiredTwice} fired twice, ${figures.cronMinutesSkipped} minutes skipped), ${figures.agentProcessesLeft} agent processes left, ` +
        `all answered in ${(answeredMs / 1000).toFixed(0)} s${waitError ? ' (TIMED OUT)' : ''}`,
      figures,
    );

    expect(waitError, 'every message answered and the inbox/outbox drained in time').toBeUndefined();
    expect(kills).toHaveLength(SIZE.kills);
    expectCleanRun(run, 'conversations');
    expect(concurrent, 'two model requests of one conversation at once').toEqual([]);
    expect(cronTwice, 'cron due times with more than one ok run').toEqual([]);
    expect(cronOutputs.length, 'cron outputs posted = ok runs').toBe(okRuns.length);
    expect(cronGaps, 'cron minutes skipped between the first and the last run').toEqual([]);
    // The run lasts over a minute: the job fired at least once (more often at full scale).
    expect(okRuns.length).toBeGreaterThanOrEqual(SCALE === 'full' ? 3 : 1);
    expect(leftRunning, 'agent processes left beside the live instances while idle').toEqual([]);
    expect(leftAfterStop, 'processes left after the stop').toEqual([]);
    expect(everyProcess.length).toBe(INSTANCES + SIZE.kills);
  });
});
