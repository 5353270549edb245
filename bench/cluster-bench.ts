/**
 * Cluster scaling bench (issue 15, "Scaling"; last part of `npm run bench`; run `npm run build`
 * first — it starts `dist/`).
 *
 * For each instance count k of BENCH_CLUSTER_INSTANCES (default 1,2,3), in one run: k agentbridge
 * processes (`node dist/cli.js start`, test/helpers/agentbridge.ts) in cluster mode
 * (AGENTBRIDGE_CLUSTER=1, every role, own AGENTBRIDGE_DATA_DIR and AGENTBRIDGE_INSTANCE_ID each)
 * on one fresh PostgreSQL database of the bench server (bench/postgres-server.ts: a new database
 * per instance count, dropped after), the real Claude runner over bench/fake-claude.mjs (an instant
 * CLI), and AGENTBRIDGE_MAX_CONCURRENT_TURNS = BENCH_CLUSTER_SLOTS (2) per instance, so that more
 * turn slots come only from more instances.
 *
 * Load, through the local chat API: BENCH_CLUSTER_CONVERSATIONS (12) conversations ×
 * BENCH_CLUSTER_MESSAGES (8) messages. Every conversation's first message is POSTed at once; each
 * next message of a conversation is POSTed as soon as its previous answer is in the database (so
 * each message is one turn, never combined with another). Message m of conversation c goes to
 * instance (c + m) mod k: the POSTs are spread over the instances, and a conversation's
 * consecutive messages enter through different ones. One warm-up message per instance (another
 * channel) runs before anything is measured.
 *
 * Measured (ms since the epoch, all on this machine's clock):
 * - sent: just before the POST; answer: the `updated_at` of the bot row in the shared
 *   `local_messages` that first carries the fake's answer ("Answer to <id>.", not the "⏳"
 *   progress message), as written by whichever instance ran the turn. The bench reads the table
 *   every BENCH_CLUSTER_POLL_MS (20) to find answers and pace the conversations.
 * - turns/s = messages ÷ (last answer − first send), and the same until 90 % were answered (a few
 *   late answers at the end weigh less); latency = answer − sent, p50 / p99 / max, and how many
 *   took 10 s or more; scaling = turns/s with k instances ÷ turns/s with the first count (1);
 * - jobs per instance (its log lines "cluster: running the conversation"), the instances' CPU time
 *   per turn (/proc/<pid>/stat), and the 1-minute load average before and after
 *   the run (os.loadavg: other work on the machine shows there).
 * Checks (else the bench fails): every message stored once, and answered exactly once, in order
 * within its conversation, after a quiet second.
 *
 * BENCH_QUICK=1 is a smoke run (4 conversations × 3 messages, about 30 s). BENCH_CLI_MS
 * (default 0) gives the fake CLI that much time per turn (a model's): then the turn slots, not the
 * CPU, bound one instance. BENCH_RAW=1 adds every message's times to the JSON; BENCH_CLUSTER_LOG_DIR
 * keeps each instance's log lines and the fake CLI's timings there. Prints a Markdown table and writes
 * bench/results/cluster-<date>-<HHMM UTC>[-quick].json.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { startAgentbridge, type AgentbridgeProcess } from '../test/helpers/agentbridge.js';
import { reapAll } from '../test/helpers/reap.js';
import { makeSandbox, waitFor, type Sandbox } from '../test/helpers/sandbox.js';
import { startBenchPostgres, type BenchDatabase, type BenchPostgres } from './postgres-server.js';
import { ms, percentile, summarize, type Summary } from './stats.js';
import { QUICK, intEnv, listEnv } from './env.js';

const FAKE_CLAUDE = path.resolve(import.meta.dirname, 'fake-claude.mjs');
const RESULTS_DIR = path.resolve(import.meta.dirname, 'results');
const CHANNEL = 'bench';
const WARM_CHANNEL = 'warmup';

const COUNTS = listEnv('BENCH_CLUSTER_INSTANCES', [1, 2, 3]);
const CONVERSATIONS = intEnv('BENCH_CLUSTER_CONVERSATIONS', QUICK ? 4 : 12);
const MESSAGES = intEnv('BENCH_CLUSTER_MESSAGES', QUICK ? 3 : 8);
const SLOTS = intEnv('BENCH_CLUSTER_SLOTS', 2);
const POLL_MS = intEnv('BENCH_CLUSTER_POLL_MS', 20);
/** The fake CLI's time per turn, ms (default 0: instant). */
const CLI_MS = intEnv('BENCH_CLI_MS', 0);
/** Longest wait for all answers of one instance count, ms. */
const RUN_TIMEOUT_MS = intEnv('BENCH_CLUSTER_TIMEOUT_MS', 300_000);

const CLK_TCK = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;

/** A process's CPU time so far (user + system), ms, from /proc/<pid>/stat; 0 once it is gone. */
function cpuMs(pid: number | undefined): number {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return ((Number(fields[11]) + Number(fields[12])) * 1000) / CLK_TCK;
  } catch {
    return 0;
  }
}

/** One measured message: `turn-c<c>-m<m>`, the fake answers "Answer to <id>.". */
interface Msg {
  id: string;
  conv: number;
  index: number;
  /** Instance it was POSTed to. */
  via: number;
  sent?: number;
  answer?: number;
}

/** Figures of one instance count. */
interface Row {
  instances: number;
  slotsPerInstance: number;
  conversations: number;
  messagesPerConversation: number;
  turns: number;
  wallMs: number;
  turnsPerS: number;
  /** Turns per second until 90 % of the messages were answered (less sensitive to a few late answers at the end). */
  turnsPerS90: number;
  /** turns/s ÷ turns/s of the first instance count. */
  scaling: number;
  latency: Summary;
  /** Messages answered 10 s or more after they were sent (a turn takes well under a second here: a wake-up job that waited for a poll). */
  over10s: number;
  /** Wake-up jobs run per instance ("cluster: running the conversation" log lines, the measured channel only). */
  jobsPerInstance: number[];
  /** CPU time of the agentbridge processes during the run, ms per turn (the fake CLI's and PostgreSQL's not counted). */
  agentbridgeCpuMsPerTurn: number;
  /** os.loadavg() before and after the run (1, 5, 15 min). */
  loadBefore: number[];
  loadAfter: number[];
  /** With BENCH_RAW=1: every message (id, instance POSTed to, sent and answer ms since the epoch). */
  raw?: Array<Pick<Msg, 'id' | 'via' | 'sent' | 'answer'>>;
}

const sleep = (delay: number) => new Promise((r) => setTimeout(r, delay));

/** The environment of instance `i` of a cluster on `url`. */
function instanceEnv(sb: Sandbox, url: string, i: number, fakeLog: string): NodeJS.ProcessEnv {
  return {
    ...sb.env,
    AGENTBRIDGE_DATA_DIR: path.join(sb.root, `data-${i}`),
    AGENTBRIDGE_WORKDIR: sb.workdir,
    AGENTBRIDGE_AGENT: 'claude',
    AGENTBRIDGE_DATABASE_URL: url,
    AGENTBRIDGE_CLUSTER: '1',
    AGENTBRIDGE_INSTANCE_ID: `bench-${i}`,
    AGENTBRIDGE_MAX_CONCURRENT_TURNS: String(SLOTS),
    CLAUDE_BIN: FAKE_CLAUDE,
    ANTHROPIC_API_KEY: 'bench-unused',
    BENCH_FAKE_LOG: fakeLog,
    BENCH_FAKE_THINK_MS: String(CLI_MS),
    // The service default; startAgentbridge waits for the "ready" line, logged at info.
    LOG_LEVEL: process.env.BENCH_LOG_LEVEL ?? 'info',
  };
}

/** POSTs one message to `url`'s local chat API; resolves to its thread. */
async function post(url: string, channel: string, text: string, thread?: string): Promise<string> {
  const res = await fetch(`${url}/api/local/messages`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ channel, text, user: 'bench', ...(thread ? { thread } : {}) }),
  });
  if (res.status !== 202) throw new Error(`POST ${url}/api/local/messages: HTTP ${res.status} ${await res.text()}`);
  return ((await res.json()) as { thread: string }).thread;
}

interface StoredRow {
  id: string;
  thread: string;
  text: string;
  bot: number;
  ts: string;
  updated_at: string;
}

const ANSWER = /Answer to (turn-[\w-]+)\./;

/** The turn id a bot row answers, or undefined (not an answer, or the "⏳" progress message showing it). */
function answered(row: Pick<StoredRow, 'text' | 'bot'>): string | undefined {
  if (!Number(row.bot) || row.text.startsWith('⏳')) return undefined;
  return ANSWER.exec(row.text)?.[1];
}

async function rowsOf(db: pg.Client, channel: string): Promise<StoredRow[]> {
  return (await db.query<StoredRow>('SELECT id, thread, text, bot, ts, updated_at FROM local_messages WHERE channel = $1 ORDER BY ts, id', [channel])).rows;
}

/** Runs the load on `k` instances of a fresh database; returns its figures (scaling filled in by the caller). */
async function measure(server: BenchPostgres, k: number): Promise<Omit<Row, 'scaling'>> {
  const database: BenchDatabase = await server.freshDatabase();
  const sb = makeSandbox();
  const fakeLog = path.join(sb.root, 'fake-claude.jsonl');
  const nodes: AgentbridgeProcess[] = [];
  const db = new pg.Client({ connectionString: database.url });
  try {
    // The first instance creates the schema and pg-boss's; the others start alongside each other.
    nodes.push(await startAgentbridge(instanceEnv(sb, database.url, 0, fakeLog), sb.root, 120_000));
    nodes.push(
      ...(await Promise.all(Array.from({ length: k - 1 }, (_, i) => startAgentbridge(instanceEnv(sb, database.url, i + 1, fakeLog), sb.root, 120_000)))),
    );
    await db.connect();

    // Warm-up: one message through each instance (its own conversation), answered before measuring.
    await Promise.all(nodes.map((n, i) => post(n.url, WARM_CHANNEL, `warm-up turn-warm-${i}`)));
    await waitFor(async () => (await rowsOf(db, WARM_CHANNEL)).filter((r) => answered(r)).length >= k, 120_000, 'the warm-up answers');
    const runningLogs = (n: AgentbridgeProcess) =>
      n.logs.filter((l) => l.msg === 'cluster: running the conversation' && String(l.conversationId).startsWith(`local:${CHANNEL}:`)).length;
    const cpuBefore = nodes.reduce((s, n) => s + cpuMs(n.child.pid), 0);
    const loadBefore = os.loadavg();

    const msgs: Msg[][] = Array.from({ length: CONVERSATIONS }, (_, c) =>
      Array.from({ length: MESSAGES }, (_, m) => ({ id: `turn-c${c}-m${m}`, conv: c, index: m, via: (c + m) % k })),
    );
    const byId = new Map(msgs.flat().map((m) => [m.id, m]));
    const threads: string[] = [];
    const send = async (m: Msg): Promise<void> => {
      m.sent = Date.now();
      const thread = await post(nodes[m.via]!.url, CHANNEL, `question ${m.id}`, threads[m.conv]);
      threads[m.conv] ??= thread;
    };

    // Each conversation: its messages one after another, the next one as soon as the answer is stored.
    const pending = new Set(byId.keys());
    let failure: unknown;
    const t0 = Date.now();
    await Promise.all(msgs.map((conv) => send(conv[0]!)));
    const sends: Array<Promise<void>> = [];
    const deadline = t0 + RUN_TIMEOUT_MS;
    while (pending.size > 0 && failure === undefined) {
      if (Date.now() > deadline)
        throw new Error(`${k} instance(s): ${pending.size} message(s) unanswered after ${RUN_TIMEOUT_MS} ms: ${[...pending].slice(0, 5).join(', ')}`);
      await sleep(POLL_MS);
      for (const row of await rowsOf(db, CHANNEL)) {
        const id = answered(row);
        const m = id === undefined ? undefined : byId.get(id);
        if (!m || m.answer !== undefined || !pending.has(m.id)) continue;
        m.answer = Number(row.updated_at);
        pending.delete(m.id);
        const next = msgs[m.conv]![m.index + 1];
        if (next) sends.push(send(next).catch((err: unknown) => void (failure ??= err)));
      }
    }
    if (failure !== undefined) throw failure;
    await Promise.all(sends);
    const all = msgs.flat();
    const tEnd = Math.max(...all.map((m) => m.answer!));
    const cpuAfter = nodes.reduce((s, n) => s + cpuMs(n.child.pid), 0);
    const loadAfter = os.loadavg();
    const jobsPerInstance = nodes.map(runningLogs);

    // Quiet second, then: every message stored once and answered exactly once, in order per thread.
    await sleep(1_000);
    const stored = await rowsOf(db, CHANNEL);
    const problems: string[] = [];
    for (const [c, conv] of msgs.entries()) {
      const thread = stored.filter((r) => r.thread === threads[c]);
      const questions = thread.filter((r) => !Number(r.bot)).map((r) => /turn-[\w-]+/.exec(r.text)?.[0]);
      const answers = thread.map(answered).filter((a) => a !== undefined);
      const expected = conv.map((m) => m.id);
      if (JSON.stringify(questions) !== JSON.stringify(expected)) problems.push(`c${c}: stored questions ${JSON.stringify(questions)}`);
      if (JSON.stringify(answers) !== JSON.stringify(expected))
        problems.push(`c${c}: answers ${JSON.stringify(answers)}, expected each of ${JSON.stringify(expected)} once in order`);
    }
    const strays = stored.filter((r) => !threads.includes(r.thread));
    if (strays.length) problems.push(`${strays.length} row(s) in threads the bench did not start`);
    if (problems.length) throw new Error(`${k} instance(s): not every message answered exactly once:\n  ${problems.join('\n  ')}`);

    const turns = all.length;
    const wallMs = tEnd - t0;
    return {
      instances: k,
      slotsPerInstance: SLOTS,
      conversations: CONVERSATIONS,
      messagesPerConversation: MESSAGES,
      turns,
      wallMs,
      turnsPerS: (turns * 1000) / wallMs,
      turnsPerS90:
        (Math.ceil(turns * 0.9) * 1000) /
        (percentile(
          all.map((m) => m.answer!),
          90,
        ) -
          t0),
      latency: summarize(all.map((m) => m.answer! - m.sent!)),
      over10s: all.filter((m) => m.answer! - m.sent! >= 10_000).length,
      jobsPerInstance,
      agentbridgeCpuMsPerTurn: (cpuAfter - cpuBefore) / turns,
      loadBefore,
      loadAfter,
      ...(process.env.BENCH_RAW === '1' ? { raw: all.map(({ id, via, sent, answer }) => ({ id, via, sent, answer })) } : {}),
    };
  } finally {
    if (process.env.BENCH_CLUSTER_LOG_DIR) {
      fs.mkdirSync(process.env.BENCH_CLUSTER_LOG_DIR, { recursive: true });
      for (const [i, n] of nodes.entries())
        fs.writeFileSync(path.join(process.env.BENCH_CLUSTER_LOG_DIR, `k${k}-node${i}.jsonl`), n.logs.map((l) => JSON.stringify(l)).join('\n') + '\n');
      if (fs.existsSync(fakeLog)) fs.copyFileSync(fakeLog, path.join(process.env.BENCH_CLUSTER_LOG_DIR, `k${k}-fake.jsonl`));
    }
    await db.end().catch(() => {});
    await Promise.all(nodes.map((n) => n.stop()));
    reapAll();
    sb.cleanup();
    await database.drop().catch((err: unknown) => console.error(`could not drop ${database.name}: ${String(err)}`));
  }
}

async function main(): Promise<void> {
  const server = await startBenchPostgres();
  const rows: Row[] = [];
  try {
    console.log(
      `cluster bench: ${CONVERSATIONS} conversations × ${MESSAGES} messages, ${SLOTS} turn slots per instance, fake CLI ${CLI_MS} ms per turn, ` +
        `instances ${COUNTS.join(', ')}; ${os.cpus().length} cores; PostgreSQL ${server.version} at ${server.where}`,
    );
    for (const k of COUNTS) {
      const r = await measure(server, k);
      const base = rows[0]?.turnsPerS ?? r.turnsPerS;
      rows.push({ ...r, scaling: r.turnsPerS / base });
      console.log(`  ${k} instance(s): ${r.turnsPerS.toFixed(1)} turns/s, load ${r.loadAfter[0]!.toFixed(2)}`);
    }
  } finally {
    await server.stop();
  }
  console.log('');
  console.log(
    '| instances | slots | turns | wall s | turns/s | scaling | turns/s to 90 % | latency p50 / p99 / max ms | ≥ 10 s | jobs per instance | agentbridge CPU ms/turn | load avg 1 min (before → after) |',
  );
  console.log('|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|---:|---:|');
  for (const r of rows)
    console.log(
      `| ${r.instances} | ${r.slotsPerInstance} | ${r.turns} | ${(r.wallMs / 1000).toFixed(1)} | ${r.turnsPerS.toFixed(2)} | ${r.scaling.toFixed(2)} | ${r.turnsPerS90.toFixed(2)} | ` +
        `${ms(r.latency.p50)} / ${ms(r.latency.p99)} / ${ms(r.latency.max)} | ${r.over10s} | ${r.jobsPerInstance.join(' / ')} | ${Math.round(r.agentbridgeCpuMsPerTurn)} | ` +
        `${r.loadBefore[0]!.toFixed(2)} → ${r.loadAfter[0]!.toFixed(2)} |`,
    );
  const result = {
    quick: QUICK,
    node: process.version,
    cores: os.cpus().length,
    cliMs: CLI_MS,
    pollMs: POLL_MS,
    postgres: { version: server.version, where: server.where, transport: server.transport },
    rows,
  };
  fs.mkdirSync(RESULTS_DIR, { recursive: true });
  // cluster-<date>-<HHMM UTC>[-quick].json, as bench/e2e-bench.ts names its files (quick runs are not kept in git).
  const iso = new Date().toISOString();
  const file = path.join(RESULTS_DIR, `cluster-${iso.slice(0, 10)}-${iso.slice(11, 16).replace(':', '')}${QUICK ? '-quick' : ''}.json`);
  fs.writeFileSync(file, `${JSON.stringify(result, null, 2)}\n`);
  console.log(`written: ${path.relative(process.cwd(), file)}`);
}

await main();
