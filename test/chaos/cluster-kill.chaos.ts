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
import { processesMentioning, type FoundProcess } from '../helpers/procs.js';
import { makeSandbox, type Sandbox } from '../helpers/sandbox.js';
import { lastUserText, startAnthropicModel, type AnthropicModel, type Responder } from '../models/anthropic.js';
import { answerFor, auditAnswers, auditContext, isProgressText, threadOf, tokenFor, tokensIn } from './audit.js';
import { descendsFrom, isSettled, pollUntil, reapLeftovers } from './harness.js';
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

/** The send order: conversation of each message, a random interleaving of `conversations` × (messages/conversations). */
function schedule(): number[] {
  const left = Array.from(
    { length: SIZE.conversations },
    (_, i) => Math.floor(SIZE.messages / SIZE.conversations) + (i < SIZE.messages % SIZE.conversations ? 1 : 0),
  );
  const order: number[] = [];
  while (order.length < SIZE.messages) {
    const open = left.flatMap((n, t) => (n > 0 ? [t] : []));
    const t = rng.pick(open);
    left[t]!--;
    order.push(t);
  }
  return order;
}

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
    const order = schedule();
    const killAfter = [...rng.distinct(SIZE.kills - 1, 1, SIZE.messages - 2), SIZE.messages - 1];

    const live = (): number[] => c.nodes.flatMap((p, i) => (p ? [i] : []));
    const chatOf = (i: number) => new LocalChat(c.nodes[i]!.url);
    const anyUrl = (): string => c.nodes[live()[0]!]!.url;
    const threadIds = new Map<number, string>(); // conversation number → local thread id
    const accepted = new Map<string, string[]>(); // local thread id → tokens in send order
    const sentVia = [0, 0, 0];
    const kills: Array<{ afterMessage: number; instance: number; midTurn: boolean; at: number; restartMs: number }> = [];
    let restarting: Promise<unknown> = Promise.resolve();
    const everyProcess: AgentbridgeProcess[] = [...c.nodes.filter((p): p is AgentbridgeProcess => !!p)];

    const killOne = async (afterMessage: number): Promise<void> => {
      await restarting; // at most one instance down at a time
      const midTurn = await pollUntil(() => rec.inFlight() > 0, 15_000, 'a model request in flight', 20).then(
        () => true,
        () => false,
      );
      await new Promise((r) => setTimeout(r, rng.int(0, 600)));
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
      const t = order[i]!;
      const token = tokenFor(t, i);
      const thread = threadIds.get(t);
      const via = rng.pick(live());
      sentVia[via]!++;
      const res = await chatOf(via).send(CHANNEL, `please note ${token}`, { user: 'chaos', ...(thread ? { thread } : {}) });
      if (!thread) threadIds.set(t, res.thread);
      accepted.set(res.thread, [...(accepted.get(res.thread) ?? []), token]);
      if (killAfter.includes(i)) await killOne(i);
      else await new Promise((r) => setTimeout(r, rng.int(20, 300)));
    }
    await restarting;
    const sentMs = Date.now() - started;

    const threads = [...accepted.keys()];
    const answersOf = async (): Promise<Map<string, string[]>> => {
      const out = new Map<string, string[]>();
      const chat = new LocalChat(anyUrl());
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
        if (!allTokens.every((tk) => seen.has(tk))) return false;
        for (const i of live()) if (!(await isSettled(c.nodes[i]!.url))) return false;
        return true;
      },
      SIZE.answerTimeoutMs,
      'every message to be answered and the inbox and outbox to be empty',
      1000,
    ).catch((err: unknown) => (waitError = err));
    const answeredMs = Date.now() - started;

    const bot = await answersOf();
    const answers = new Map([...bot].map(([th, texts]) => [th, texts.filter((x) => !isProgressText(x))]));
    const stale = [...bot.values()].flat().filter(isProgressText);
    const audit = auditAnswers(accepted, answers);
    const context = auditContext(accepted, model.mainRequests(), lastUserText);
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
    const own = new Set(live().map((i) => c.nodes[i]!.child.pid!));
    const leftRunning: FoundProcess[] = processesMentioning(sb.root).filter((p) => !own.has(p.pid) && !descendsFrom(p.pid, own));
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
      lost: audit.lost.length,
      duplicated: audit.duplicated.length,
      reordered: audit.reordered.length,
      misplaced: audit.misplaced.length,
      staleProgress: stale.length,
      concurrentTurns: concurrent.length,
      modelRequests: context.requests,
      promptsRepeatedInContext: new Set([...context.repeatedInSomeRequest.map((r) => r.token), ...context.lastRequestWrong.map((w) => w.token)]).size,
      promptsSentAgain: context.promptedMoreThanOnce,
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
        lost: audit.lost,
        duplicated: audit.duplicated,
        reordered: audit.reordered,
        misplaced: audit.misplaced,
        stale,
        concurrent: concurrent.slice(0, 20),
        context: context.lastRequestWrong.slice(0, 50),
        repeated: context.repeatedInSomeRequest.slice(0, 50),
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
    expect(audit.lost, 'lost messages (no answer names them)').toEqual([]);
    expect(audit.duplicated, 'messages answered more than once').toEqual([]);
    expect(audit.reordered, 'conversations whose answers came out of order').toEqual([]);
    expect(audit.misplaced, 'answers in the wrong conversation').toEqual([]);
    expect(stale, 'progress messages left "⏳ Working…"').toEqual([]);
    expect(concurrent, 'two model requests of one conversation at once').toEqual([]);
    expect(context.repeatedInSomeRequest, 'prompts that appear more than once in one model request').toEqual([]);
    expect(context.lastRequestWrong, 'prompts not exactly once in the last model request of their conversation').toEqual([]);
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
