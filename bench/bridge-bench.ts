/**
 * `npm run bench`: the bridge's own cost, with an in-process runner that answers at once and an
 * in-memory platform adapter, over the real SQLite store (a temp file, WAL), wired by the
 * service's own composition root (`createCore`, src/compose.ts: access control and commands
 * included; no store health probe).
 *
 * - Throughput and per-turn overhead (p50/p99, ms) at 1, 100 and 1,000 concurrent
 *   conversations, 10 messages each, each sent after the previous answer arrived; checks that
 *   no message is lost and answers come in order per conversation.
 * - Resident memory per idle conversation after 10,000 conversations were created (each by one
 *   real turn, then left idle in memory; the database is on disk).
 *
 * Overhead = wall time of a turn (inbox → progress message → runner → answer in the outbox →
 * posted → posted-message row) minus the runner's own time. Slot waiting is excluded.
 *
 * The throughput part runs BENCH_REPEATS times (default 3; BENCH_QUICK=1: once, 1 and 100
 * conversations, 1,000 idle ones): each figure is reported as the median of the runs, and the
 * overhead p99 as min / median / max, since one run's p99 moves with the machine's load.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { pino } from 'pino';
import { createCore, type CoreConfig } from '../src/compose.js';
import { executeTurn } from '../src/conversation/turn.js';
import type { InboundMessage, ReplyTarget } from '../src/core/messages.js';
import type { PlatformAdapter, PostedMessage } from '../src/platforms/types.js';
import type { AgentName } from '../src/core/agents.js';
import type { Runner, RunRequest, RunResult } from '../src/runners/types.js';
import { openStore } from '../src/store/store.js';
import { median, percentile } from './stats.js';

const logger = pino({ level: 'silent' });
const MESSAGES_PER_CONVERSATION = 10;

class InstantRunner implements Runner {
  constructor(readonly agent: AgentName) {}
  runnerMs = 0;
  async run(req: RunRequest): Promise<RunResult> {
    const t0 = performance.now();
    const r: RunResult = { ok: true, text: `answer to ${req.prompt}`, sessionId: 'bench-session', exitCode: 0 };
    this.runnerMs += performance.now() - t0;
    return r;
  }
  async probe() {
    return { agent: this.agent, installed: true, authenticated: true as const, detail: '' };
  }
}

/** In-memory adapter: resolves a waiter when a conversation's final answer arrives. */
class MemoryAdapter implements PlatformAdapter {
  readonly name = 'local' as const;
  readonly limits = { maxMessageChars: 4000, minEditIntervalMs: 0 };
  private n = 0;
  readonly answers = new Map<string, string[]>();
  private waiters = new Map<string, () => void>();
  /** When false, answers are only counted (memory phase). */
  record = true;
  answered = 0;
  private onCount?: () => void;
  async start() {}
  async stop() {}
  async post(target: ReplyTarget): Promise<PostedMessage> {
    return { ref: `m${++this.n}`, channel: target.channel };
  }
  render(markdown: string): string {
    return markdown;
  }
  neutraliseMentions(text: string): string {
    return text;
  }
  async edit(target: ReplyTarget, _ref: string, text: string): Promise<void> {
    if (!text.startsWith('answer to')) return; // progress edits
    this.answered++;
    this.onCount?.();
    if (!this.record) return;
    const key = `${target.channel}/${target.thread}`;
    const list = this.answers.get(key) ?? [];
    list.push(text);
    this.answers.set(key, list);
    this.waiters.get(key)?.();
  }
  waitCount(n: number): Promise<void> {
    return new Promise((r) => {
      this.onCount = () => this.answered >= n && r();
      this.onCount();
    });
  }
  waitAnswer(key: string): Promise<void> {
    return new Promise((r) => this.waiters.set(key, r));
  }
}

function setup(concurrency: number) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'agentbridge-bench-'));
  const store = openStore({ dbPath: path.join(dir, 'bench.db'), logger });
  const adapter = new MemoryAdapter();
  const runner = new InstantRunner('claude');
  const overheads: number[] = [];
  const config: CoreConfig = {
    dataDir: dir,
    workdir: dir,
    permissionMode: 'edit',
    maxConcurrentTurns: concurrency,
    turnTimeoutMs: 60_000,
    idleEvictMs: 3_600_000,
    access: { admins: [], allowedUsers: [], allowedChannels: [] },
    workspacesRoot: dir,
    shutdownGraceMs: 0,
    cronGraceMs: 10 * 60_000,
    agentEnv: {},
  };
  // The service's core (src/compose.ts) with an in-process runner and an in-memory adapter; as in
  // the service, WAL checkpoints run in a worker thread, not inside a turn's commit.
  const core = createCore(config, {
    store,
    logger,
    runners: { claude: runner, codex: runner, gemini: runner },
    adapters: () => adapter,
    platforms: ['local'],
    defaultAgent: 'claude',
    availableAgents: ['claude'],
    health: false,
    walCheckpointer: true,
    turn: async (deps, batch, signal) => {
      const before = runner.runnerMs;
      const t0 = performance.now();
      const outcome = await executeTurn(deps, batch, signal);
      overheads.push(performance.now() - t0 - (runner.runnerMs - before));
      return outcome;
    },
  });
  const { router, bridges } = core;
  router.recovered();
  const done = async () => {
    await core.shutdown();
    await core.close();
    await store.close();
    fs.rmSync(dir, { recursive: true, force: true });
  };
  return { store, adapter, router, bridges, overheads, done };
}

function message(conv: number, i: number): InboundMessage {
  const channel = 'bench';
  const thread = `t${conv}`;
  return {
    platform: 'local',
    conversationId: `local:${channel}:${thread}`,
    channel,
    thread,
    author: { id: 'u', name: 'user' },
    text: `c${conv}-m${i}`,
    eventKey: `local:c${conv}-m${i}`,
    replyTarget: { platform: 'local', channel, thread },
    receivedAt: Date.now(),
  };
}

const pct = percentile;

/** The service default (AGENTBRIDGE_MAX_CONCURRENT_TURNS). */
const SLOTS = 4;

async function throughput(conversations: number) {
  const b = setup(SLOTS);
  // Warm up (JIT, statement caches) on other conversations; not measured.
  for (let i = 0; i < 50; i++) {
    const answered = b.adapter.waitAnswer('bench/t-warm');
    await b.router.accept({
      ...message(-1, i),
      conversationId: 'local:bench:t-warm',
      thread: 't-warm',
      replyTarget: { platform: 'local', channel: 'bench', thread: 't-warm' },
    });
    await answered;
  }
  while (b.overheads.length < 50) await new Promise((r) => setImmediate(r));
  b.overheads.length = 0;
  const latencies: number[] = [];
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: conversations }, async (_, c) => {
      for (let i = 0; i < MESSAGES_PER_CONVERSATION; i++) {
        const answered = b.adapter.waitAnswer(`bench/t${c}`);
        const s0 = performance.now();
        await b.router.accept(message(c, i));
        await answered;
        latencies.push(performance.now() - s0);
      }
    }),
  );
  const seconds = (performance.now() - t0) / 1000;
  await b.bridges.shutdown(); // lets the last turns finish their bookkeeping
  let lost = 0;
  let reordered = 0;
  for (let c = 0; c < conversations; c++) {
    const got = b.adapter.answers.get(`bench/t${c}`) ?? [];
    lost += MESSAGES_PER_CONVERSATION - got.length;
    got.forEach((text, i) => {
      if (!text.includes(`c${c}-m${i}`)) reordered++;
    });
  }
  const turns = b.overheads.length;
  const row = {
    conversations,
    turns,
    turnsPerS: turns / seconds,
    p50: pct(b.overheads, 50),
    p99: pct(b.overheads, 99),
    e2e50: pct(latencies, 50),
    e2e99: pct(latencies, 99),
    lost,
    reordered,
  };
  await b.done();
  return row;
}

async function idleMemory(conversations: number) {
  const b = setup(SLOTS);
  const gc = (globalThis as { gc?: () => void }).gc;
  const settle = () => {
    gc?.();
    gc?.();
  };
  b.adapter.record = false;
  const create = async (from: number, count: number) => {
    const target = b.adapter.answered + count;
    const all = b.adapter.waitCount(target);
    for (let c = from; c < from + count; c++) await b.router.accept(message(c, 0));
    await all;
  };
  // Warm up allocations, statement caches and the SQLite page cache before the baseline.
  await create(0, 500);
  settle();
  const before = process.memoryUsage();
  await create(500, conversations);
  settle();
  const after = process.memoryUsage();
  const row = {
    conversations: b.bridges.size - 500,
    rssPerConvBytes: (after.rss - before.rss) / conversations,
    heapPerConvBytes: (after.heapUsed - before.heapUsed) / conversations,
    gc: !!gc,
  };
  await b.done();
  return row;
}

const QUICK = process.env.BENCH_QUICK === '1';
const REPEATS = Number(process.env.BENCH_REPEATS ?? (QUICK ? 1 : 3));
const SIZES = QUICK ? [1, 100] : [1, 100, 1000];
const runs: Array<Awaited<ReturnType<typeof throughput>>[]> = SIZES.map(() => []);
for (let r = 0; r < REPEATS; r++) for (const [i, n] of SIZES.entries()) runs[i]!.push(await throughput(n));
const rows = runs.map((list) => {
  const mid = (pick: (x: (typeof list)[number]) => number) => median(list.map(pick));
  const p99s = list.map((x) => x.p99);
  return {
    conversations: list[0]!.conversations,
    turns: list[0]!.turns,
    turnsPerS: mid((x) => x.turnsPerS),
    p50: mid((x) => x.p50),
    p99: median(p99s),
    p99min: Math.min(...p99s),
    p99max: Math.max(...p99s),
    p99s,
    e2e50: mid((x) => x.e2e50),
    e2e99: mid((x) => x.e2e99),
    lost: list.reduce((a, x) => a + x.lost, 0),
    reordered: list.reduce((a, x) => a + x.reordered, 0),
  };
});
const mem = await idleMemory(QUICK ? 1_000 : 10_000);

const f = (x: number, d = 2) => x.toFixed(d);
console.log('\nagentbridge bridge benchmark (in-process runner, SQLite WAL store, in-memory adapter)');
console.log(
  `node ${process.version}, ${os.cpus().length} cores (${os.cpus()[0]?.model ?? '?'}), load average ${os
    .loadavg()
    .map((l) => l.toFixed(2))
    .join(' ')} at the end\n`,
);
console.log(`${SLOTS} turn slots (the default AGENTBRIDGE_MAX_CONCURRENT_TURNS); overhead excludes waiting for a slot, message→answer includes it`);
console.log(`${REPEATS} run(s): medians of the runs; overhead p99 as min / median / max over the runs; lost and reordered summed\n`);
console.log(
  '| conversations | turns per run | turns/s | overhead p50 (ms) | overhead p99 min / median / max (ms) | message→answer p50 (ms) | message→answer p99 (ms) | lost | reordered |',
);
console.log('|---:|---:|---:|---:|---:|---:|---:|---:|---:|');
for (const r of rows)
  console.log(
    `| ${r.conversations} | ${r.turns} | ${f(r.turnsPerS, 0)} | ${f(r.p50)} | ${f(r.p99min)} / ${f(r.p99)} / ${f(r.p99max)} | ${f(r.e2e50)} | ${f(r.e2e99)} | ${r.lost} | ${r.reordered} |`,
  );
console.log(
  `\nidle conversations: ${mem.conversations}; resident memory per idle conversation: ${f(mem.rssPerConvBytes / 1024)} KB (heap ${f(mem.heapPerConvBytes / 1024)} KB)${mem.gc ? '' : ' — run with --expose-gc for stable figures'}`,
);
const failed = rows.some((r) => r.lost || r.reordered);
const at100 = rows.find((r) => r.conversations === 100);
const under5 = at100 ? at100.p99s.filter((x) => x < 5).length : 0;
console.log(
  `\ntargets: overhead p99 < 5 ms at 100 conversations: ${at100 && under5 === at100.p99s.length ? 'met' : 'MISSED'} in ${under5} of ${at100?.p99s.length ?? 0} runs (${at100?.p99s.map((x) => f(x)).join(', ') ?? '–'} ms); no lost or reordered messages: ${failed ? 'MISSED' : 'met'}; < 10 KB per idle conversation: ${mem.rssPerConvBytes < 10240 ? 'met' : 'MISSED'}`,
);
if (failed) process.exitCode = 1;
