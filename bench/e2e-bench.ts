/**
 * The realistic end-to-end bench (first part of `npm run bench`; run `npm run build` first — it
 * starts `dist/`).
 *
 * agentbridge runs as its own process (`node dist/cli.js start`, test/helpers/agentbridge.ts) with
 * the Slack twin over Socket Mode (test/twins/slack/) and the real Claude runner over
 * bench/fake-claude.mjs, an instant CLI that speaks claude's stream-json and makes claude's
 * requests to agentbridge's real MCP endpoint. The twin's Web API answers after a simulated
 * round trip (bench/twin-latency.ts: 0 and 150 ms). Each scenario gets a fresh agentbridge, data
 * directory and twin; two warm-up conversations (another channel) run before anything is measured.
 *
 * Measured per message (ms since the epoch, all on this machine's clock):
 * - sent: the twin sent the Socket Mode envelope; ack: the twin received its acknowledgement;
 * - agent start: the CLI process started (a conversation's first turn: agentbridge spawns its
 *   live session) or, for a follow-up in a live session, the CLI read the user message;
 * - result: the CLI printed its `result` line;
 * - feedback: the first successful bot call a person sees for it: 👀 (`reactions.add` on the
 *   message), a post in its thread (`chat.postMessage`), the thread status
 *   (`assistant.threads.setStatus`), or the channel's busy notice counting it (`creditBusyNotices`);
 * - answer: the call carrying the final text (`chat.postMessage` / `chat.update` whose text has
 *   the CLI's answer), as the twin carried it out (a full round trip after it was sent).
 * agentbridge's own time = (agent start − sent) + (answer − result).
 *
 * Scenarios (sizes from the environment; BENCH_QUICK=1 is a smoke run under a minute):
 * - sequential: BENCH_SEQ_TURNS (20) follow-ups in one conversation, and as many new
 *   conversations one after another, each after the previous answer, its decorations and a pause
 *   of BENCH_PACE_MS (2000: Slack allows about one post a second per channel), at
 *   0 and 150 ms round trip;
 * - bursts: BENCH_BURSTS (20,100) top-level mentions in one channel sent at once (separate
 *   conversations), at BENCH_BURST_LATENCY_MS (150) with the default slots;
 * - slots: the burst of BENCH_SLOTS_BURST (20) with AGENTBRIDGE_MAX_CONCURRENT_TURNS =
 *   BENCH_SLOTS (2,4,8).
 * BENCH_CLI_MS (default 0) gives the fake CLI that much time per turn (a model's), e.g. to see
 * how calls spread over minutes when turns take seconds. BENCH_RAW=1 adds each sequential
 * scenario's turns and Web API calls to the JSON.
 *
 * Prints Markdown tables and writes the figures to bench/results/e2e-<date>-<HHMM>.json.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { startAgentbridge, type AgentbridgeProcess } from '../test/helpers/agentbridge.js';
import { reapAll } from '../test/helpers/reap.js';
import { makeSandbox, waitFor, type Sandbox } from '../test/helpers/sandbox.js';
import { USERS } from '../test/twins/slack/harness.js';
import { SlackTwin, type ApiCall } from '../test/twins/slack/twin.js';
import { maxInWindow, ms, summarize, type Summary } from './stats.js';
import { setWebApiLatency } from './twin-latency.js';
import { QUICK, intEnv, listEnv } from './env.js';

const FAKE_CLAUDE = path.resolve(import.meta.dirname, 'fake-claude.mjs');
const RESULTS_DIR = path.resolve(import.meta.dirname, 'results');
const CHANNEL = 'C0BENCH';
const WARM_CHANNEL = 'C0WARMUP';

const SEQ_TURNS = intEnv('BENCH_SEQ_TURNS', QUICK ? 2 : 20);
const SEQ_LATENCIES = listEnv('BENCH_LATENCIES', QUICK ? [150] : [0, 150]);
const BURSTS = listEnv('BENCH_BURSTS', QUICK ? [5] : [20, 100]);
const BURST_LATENCY = intEnv('BENCH_BURST_LATENCY_MS', 150);
const DEFAULT_SLOTS = 4;
const SLOTS = listEnv('BENCH_SLOTS', QUICK ? [DEFAULT_SLOTS] : [2, 4, 8]);
const SLOTS_BURST = intEnv('BENCH_SLOTS_BURST', QUICK ? 5 : 20);
/** The fake CLI's time per turn, ms (default 0: instant). */
const CLI_MS = intEnv('BENCH_CLI_MS', 0);

/**
 * Slack's documented per-minute limits (api.slack.com method pages, "Rate limits"): Tier 2 ≈ 20,
 * Tier 3 ≈ 50, Tier 4 ≈ 100 per minute per workspace (and method); `chat.postMessage` is
 * "special": about 1 per second per channel with short bursts allowed.
 */
const SLACK_LIMIT_PER_MIN: Record<string, number> = {
  'chat.postMessage': 60,
  'chat.update': 50,
  'chat.delete': 50,
  'reactions.add': 50,
  'reactions.remove': 20,
  'conversations.replies': 50,
  'conversations.history': 50,
  'users.info': 100,
};

/** One measured message. */
interface Turn {
  id: string;
  /** `ts` of the user's message and of its thread. */
  ts: string;
  thread: string;
  eventId: string;
  sent: number;
  ack?: number;
  agentStart?: number;
  /** The CLI's first turn in its process (it was spawned for this turn). */
  spawned?: boolean;
  result?: number;
  feedback?: number;
  /** The progress message first showed the answer's text (streamed preview under its header). */
  preview?: number;
  answer?: number;
}

interface FakeLine {
  turn: string;
  pid: number;
  mode: string;
  spawnAt: number;
  promptAt: number;
  resultAt: number;
  firstInProcess: boolean;
  mcp?: { used: boolean; tools?: number; get?: number; error?: string };
}

interface Env {
  twin: SlackTwin;
  sb: Sandbox;
  ab: AgentbridgeProcess;
  fakeLog: string;
}

const sleep = (msDelay: number) => new Promise((r) => setTimeout(r, msDelay));

/** agentbridge's CPU time so far (user + system), ms, from /proc/<pid>/stat. */
function cpuMs(pid: number): number {
  const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const ticks = Number(fields[11]) + Number(fields[12]);
  return (ticks * 1000) / CLK_TCK;
}
const CLK_TCK = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;

/** Starts a twin with `latencyMs` round trips and agentbridge (`slots` turn slots) on it. */
async function start(latencyMs: number, slots: number): Promise<Env> {
  const twin = await SlackTwin.start({ users: USERS });
  setWebApiLatency(twin, latencyMs);
  const sb = makeSandbox();
  const fakeLog = path.join(sb.root, 'fake-claude.jsonl');
  const env: NodeJS.ProcessEnv = {
    ...sb.env,
    AGENTBRIDGE_DATA_DIR: path.join(sb.root, 'data'),
    AGENTBRIDGE_WORKDIR: sb.workdir,
    AGENTBRIDGE_AGENT: 'claude',
    AGENTBRIDGE_MAX_CONCURRENT_TURNS: String(slots),
    CLAUDE_BIN: FAKE_CLAUDE,
    ANTHROPIC_API_KEY: 'bench-unused',
    BENCH_FAKE_LOG: fakeLog,
    BENCH_FAKE_THINK_MS: String(CLI_MS),
    // The service default; startAgentbridge waits for the "ready" line, logged at info.
    LOG_LEVEL: process.env.BENCH_LOG_LEVEL ?? 'info',
    SLACK_BOT_TOKEN: twin.botToken,
    SLACK_APP_TOKEN: twin.appToken,
    SLACK_API_URL: `${twin.url}/api`,
  };
  const ab = await startAgentbridge(env, sb.root, 60_000);
  await waitFor(() => twin.socket.connected, 30_000, 'the Socket Mode connection');
  return { twin, sb, ab, fakeLog };
}

async function stop(e: Env): Promise<void> {
  await e.ab.stop();
  await e.twin.close();
  reapAll();
  e.sb.cleanup();
}

/** Waits until the twin has had no Web API call for `quietMs`. */
async function settle(twin: SlackTwin, quietMs: number): Promise<void> {
  for (;;) {
    const last = twin.calls.at(-1)?.at ?? 0;
    const wait = last + quietMs - Date.now();
    if (wait <= 0) return;
    await sleep(wait);
  }
}

/** The progress message's first line (src/conversation/progress.ts): its edits show the streamed text under it. */
const PROGRESS_HEADER = '⏳';

/**
 * The first successful post or edit whose text has the answer to `id` (the fake answers
 * "Answer to <id>."): the final answer (`preview` false), or the progress message showing the
 * streamed text under its header (`preview` true).
 */
function answerCall(calls: readonly ApiCall[], id: string, preview = false): ApiCall | undefined {
  const needle = `Answer to ${id}.`;
  return calls.find((c) => {
    if ((c.method !== 'chat.postMessage' && c.method !== 'chat.update') || c.status !== 200 || c.response.ok !== true) return false;
    const text = c.params.text ?? '';
    return text.includes(needle) && text.startsWith(PROGRESS_HEADER) === preview;
  });
}

/** Posts a user message (a mention for a new conversation, a plain reply in a thread) and records it. */
async function post(twin: SlackTwin, channel: string, id: string, thread?: string): Promise<Turn> {
  const p = await twin.userPosts({ user: 'U0ALICE', channel, text: `please answer ${id}`, ...(thread ? { thread_ts: thread } : { mention: true }) });
  const eventId = p.eventIds[0]!;
  const env = twin.socket.envelopes.find((x) => x.event_id === eventId);
  return { id, ts: p.ts, thread: thread ?? p.ts, eventId, sent: env?.sentAt ?? Date.now() };
}

/** Waits for the answer of every turn (generous: a loaded 2-core machine). */
async function waitAnswers(twin: SlackTwin, turns: Turn[], timeoutMs: number): Promise<void> {
  await waitFor(() => turns.every((t) => answerCall(twin.calls, t.id)), timeoutMs, `answers to ${turns.length} messages`);
}

/** Two conversations (a smoke run: one) in another channel, so the measured turns run on a warmed-up process. */
async function warmUp(e: Env, latencyMs: number): Promise<void> {
  for (const id of QUICK ? ['turn-warm1'] : ['turn-warm1', 'turn-warm2']) {
    const t = await post(e.twin, WARM_CHANNEL, id);
    await waitAnswers(e.twin, [t], 60_000);
  }
  await settle(e.twin, 500 + 2 * latencyMs);
}

/** Fills in ack, agent start, result, feedback and answer of each turn from the twin and the fake's log. */
function complete(e: Env, turns: Turn[]): { mcp: FakeLine['mcp'][] } {
  const lines = fs.existsSync(e.fakeLog)
    ? fs
        .readFileSync(e.fakeLog, 'utf8')
        .split('\n')
        .filter(Boolean)
        .map((l) => JSON.parse(l) as FakeLine)
    : [];
  const byTurn = new Map(lines.map((l) => [l.turn, l]));
  const calls = e.twin.calls;
  for (const t of turns) {
    const env = e.twin.socket.envelopes.find((x) => x.event_id === t.eventId);
    const ack = env && e.twin.socket.acks.find((a) => a.envelope_id === env.envelope_id);
    if (ack) t.ack = ack.at;
    const f = byTurn.get(t.id);
    if (f) {
      t.spawned = f.firstInProcess;
      t.agentStart = f.firstInProcess ? f.spawnAt : f.promptAt;
      t.result = f.resultAt;
    }
    t.answer = answerCall(calls, t.id)?.at;
    t.preview = answerCall(calls, t.id, true)?.at;
    t.feedback = calls.find(
      (c) =>
        c.at >= t.sent &&
        c.status === 200 &&
        c.response.ok === true &&
        ((c.method === 'reactions.add' && c.params.timestamp === t.ts) ||
          (c.method === 'chat.postMessage' && c.params.thread_ts === t.thread) ||
          (c.method === 'assistant.threads.setStatus' && c.params.thread_ts === t.thread && c.params.status !== '')),
    )?.at;
  }
  creditBusyNotices(calls, turns);
  return { mcp: lines.filter((l) => l.mcp).map((l) => l.mcp) };
}

/**
 * The channel's busy notice ("⏳ Busy: N messages in this channel are waiting…", a top-level
 * `chat.postMessage` or its `chat.update`) is first feedback for the N messages it counts. The
 * line is first in first out, so they are the N earliest-acknowledged messages whose agent had
 * not started when the call reached the twin (a message leaves the line just before its agent
 * starts, so this may credit one that had just left, never one that had not yet joined: every
 * credited message was acknowledged — and so in the line — before the call was received).
 */
function creditBusyNotices(calls: readonly ApiCall[], turns: Turn[]): void {
  const byAck = turns.filter((t) => t.ack !== undefined).sort((a, b) => a.ack! - b.ack!);
  for (const c of calls) {
    if (c.status !== 200 || c.response.ok !== true || c.params.thread_ts) continue;
    if (c.method !== 'chat.postMessage' && c.method !== 'chat.update') continue;
    const n = /^⏳ Busy: (\d+) messages? in this channel/.exec(String(c.params.text ?? ''))?.[1];
    if (!n) continue;
    const waiting = byAck.filter((t) => t.ack! <= c.receivedAt && (t.agentStart === undefined || t.agentStart > c.receivedAt)).slice(0, Number(n));
    for (const t of waiting) if (t.feedback === undefined || c.at < t.feedback) t.feedback = c.at;
  }
}

const defined = (xs: Array<number | undefined>): number[] => xs.filter((x): x is number => x !== undefined && Number.isFinite(x));

/** Web API calls of the measured window, by method, per answer. */
function callsPerAnswer(calls: readonly ApiCall[], from: number, answers: number): Record<string, number> {
  const out: Record<string, number> = {};
  for (const c of calls) if (c.at >= from) out[c.method] = (out[c.method] ?? 0) + 1;
  for (const k of Object.keys(out)) out[k] = out[k]! / answers;
  return out;
}

/** Busiest 60 s sliding window per channel and method in the measured window. */
function busiestMinute(calls: readonly ApiCall[], from: number): Array<{ channel: string; method: string; calls: number; limit?: number }> {
  const groups = new Map<string, number[]>();
  for (const c of calls) {
    if (c.at < from) continue;
    const channel = c.params.channel ?? c.params.channel_id ?? '-';
    const key = `${channel}\t${c.method}`;
    groups.set(key, [...(groups.get(key) ?? []), c.at]);
  }
  return [...groups]
    .map(([key, times]) => {
      const [channel, method] = key.split('\t') as [string, string];
      return { channel, method, calls: maxInWindow(times, 60_000), limit: SLACK_LIMIT_PER_MIN[method] };
    })
    .sort((a, b) => b.calls - a.calls);
}

interface SequentialResult {
  kind: 'follow-ups' | 'new conversations';
  latencyMs: number;
  turns: number;
  beforeAgent: Summary;
  afterResult: Summary;
  /** Result → the progress message shows the answer's text (not the final answer). */
  afterResultPreview: Summary;
  own: Summary;
  eventToAck: Summary;
  feedback: Summary;
  answer: Summary;
  cpuMsPerMessage: number;
  callsPerAnswer: Record<string, number>;
  failed: number;
  mcp: { processes: number; handshakesOk: number };
  raw: Turn[];
  /** The measured window's Web API calls, compact (BENCH_RAW=1 writes them to the JSON). */
  callLog: CallLogEntry[];
}

interface CallLogEntry {
  at: number;
  method: string;
  status: number;
  ts?: string;
  thread?: string;
  text?: string;
}

/** Calls from `from` on, compact: method, status, target message or thread, text's first 60 characters. */
function callLog(calls: readonly ApiCall[], from: number): CallLogEntry[] {
  return calls
    .filter((c) => c.at >= from)
    .map((c) => ({
      at: c.at,
      method: c.method,
      status: c.status,
      ts: c.params.ts ?? c.params.timestamp,
      thread: c.params.thread_ts,
      text: c.params.name ?? c.params.status ?? c.params.text?.slice(0, 60),
    }));
}

/** One conversation's follow-ups, or new conversations, one at a time. */
/** Pause after each sequential answer (and its decorations) before the next message, ms (BENCH_PACE_MS). */
const PACE_MS = Number(process.env.BENCH_PACE_MS ?? 2000);

async function sequential(kind: SequentialResult['kind'], latencyMs: number, n: number): Promise<SequentialResult> {
  const e = await start(latencyMs, DEFAULT_SLOTS);
  try {
    await warmUp(e, latencyMs);
    const turns: Turn[] = [];
    let root: string | undefined;
    const from = Date.now();
    const cpu0 = cpuMs(e.ab.child.pid!);
    for (let i = 1; i <= n; i++) {
      const id = `turn-${kind === 'follow-ups' ? 'f' : 'n'}${latencyMs}-${i}`;
      const t = await post(e.twin, CHANNEL, id, kind === 'follow-ups' ? root : undefined);
      if (kind === 'follow-ups' && !root) root = t.ts;
      turns.push(t);
      await waitAnswers(e.twin, [t], 60_000);
      await settle(e.twin, 300 + 2 * latencyMs);
      // A person's pace: Slack allows about one post a second per channel, and agentbridge's budget
      // keeps below that, so messages sent back to back would measure the budget, not agentbridge.
      await sleep(PACE_MS);
    }
    const cpu = cpuMs(e.ab.child.pid!) - cpu0;
    const { mcp } = complete(e, turns);
    const before = defined(turns.map((t) => t.agentStart && t.agentStart - t.sent));
    const after = defined(turns.map((t) => t.answer && t.result && t.answer - t.result));
    const own = defined(turns.map((t) => t.agentStart && t.answer && t.result && t.agentStart - t.sent + (t.answer - t.result)));
    return {
      kind,
      latencyMs,
      turns: n,
      beforeAgent: summarize(before),
      afterResult: summarize(after),
      afterResultPreview: summarize(defined(turns.map((t) => t.preview && t.result && t.preview - t.result))),
      own: summarize(own),
      eventToAck: summarize(defined(turns.map((t) => t.ack && t.ack - t.sent))),
      feedback: summarize(defined(turns.map((t) => t.feedback && t.feedback - t.sent))),
      answer: summarize(defined(turns.map((t) => t.answer && t.answer - t.sent))),
      cpuMsPerMessage: cpu / n,
      callsPerAnswer: callsPerAnswer(e.twin.calls, from, n),
      failed: turns.filter((t) => t.answer === undefined).length,
      mcp: { processes: mcp.length, handshakesOk: mcp.filter((m) => m?.used && !m.error && (m.tools ?? 0) > 0 && m.get === 405).length },
      raw: turns,
      callLog: callLog(e.twin.calls, from),
    };
  } finally {
    await stop(e);
  }
}

interface BurstResult {
  size: number;
  slots: number;
  latencyMs: number;
  feedback: Summary;
  answer: Summary;
  eventToAck: Summary;
  /** Sent of the first message → the last answer, ms. */
  allAnsweredMs: number;
  cpuMsPerMessage: number;
  callsPerAnswer: Record<string, number>;
  busiest: Array<{ channel: string; method: string; calls: number; limit?: number }>;
  rateLimited: number;
  failed: number;
}

/** `size` top-level mentions in one channel sent at once. */
async function burst(size: number, slots: number, latencyMs: number): Promise<BurstResult> {
  const e = await start(latencyMs, slots);
  try {
    await warmUp(e, latencyMs);
    const from = Date.now();
    const cpu0 = cpuMs(e.ab.child.pid!);
    const turns: Turn[] = [];
    for (let i = 1; i <= size; i++) turns.push(await post(e.twin, CHANNEL, `turn-b${size}s${slots}-${i}`));
    await waitAnswers(e.twin, turns, 120_000 + size * 3_000);
    await settle(e.twin, 1000 + 2 * latencyMs);
    const cpu = cpuMs(e.ab.child.pid!) - cpu0;
    complete(e, turns);
    const answers = defined(turns.map((t) => t.answer));
    return {
      size,
      slots,
      latencyMs,
      feedback: summarize(defined(turns.map((t) => t.feedback && t.feedback - t.sent))),
      answer: summarize(defined(turns.map((t) => t.answer && t.answer - t.sent))),
      eventToAck: summarize(defined(turns.map((t) => t.ack && t.ack - t.sent))),
      allAnsweredMs: Math.max(...answers) - turns[0]!.sent,
      cpuMsPerMessage: cpu / size,
      callsPerAnswer: callsPerAnswer(e.twin.calls, from, size),
      busiest: busiestMinute(e.twin.calls, from),
      rateLimited: e.twin.calls.filter((c) => c.at >= from && c.status === 429).length,
      failed: turns.length - answers.length,
    };
  } finally {
    await stop(e);
  }
}

// ---- run ----

const started = new Date();
const load0 = os.loadavg();
const commit = (() => {
  try {
    return execFileSync('git', ['rev-parse', '--short', 'HEAD'], { encoding: 'utf8', cwd: import.meta.dirname }).trim();
  } catch {
    return 'unknown';
  }
})();
const progress = (s: string) => process.stderr.write(`[e2e-bench] ${s}\n`);

const seq: SequentialResult[] = [];
for (const latency of SEQ_LATENCIES) {
  for (const kind of ['follow-ups', 'new conversations'] as const) {
    progress(`sequential ${kind}, ${SEQ_TURNS} turns, ${latency} ms round trip`);
    seq.push(await sequential(kind, latency, SEQ_TURNS));
  }
}
const bursts: BurstResult[] = [];
for (const size of BURSTS) {
  progress(`burst of ${size}, ${DEFAULT_SLOTS} slots, ${BURST_LATENCY} ms round trip`);
  bursts.push(await burst(size, DEFAULT_SLOTS, BURST_LATENCY));
}
const slots: BurstResult[] = [];
for (const n of SLOTS) {
  const same = bursts.find((b) => b.size === SLOTS_BURST && b.slots === n);
  if (same) {
    slots.push(same);
    continue;
  }
  progress(`burst of ${SLOTS_BURST}, ${n} slots, ${BURST_LATENCY} ms round trip`);
  slots.push(await burst(SLOTS_BURST, n, BURST_LATENCY));
}
const load1 = os.loadavg();

// ---- report ----

const lines: string[] = [];
const p = (s = '') => lines.push(s);
const f1 = (x: number) => (Number.isFinite(x) ? x.toFixed(1) : '–');
const sum3 = (s: Summary) => `${ms(s.p50)} / ${ms(s.p90)}`;
const sumMax = (s: Summary) => `${ms(s.p50)} / ${ms(s.p90)} / ${ms(s.p99)} / ${ms(s.max)}`;

p(`## agentbridge end-to-end bench (${started.toISOString().slice(0, 10)}, commit ${commit})`);
p();
p(
  `node ${process.version}, ${os.cpus().length} cores (${os.cpus()[0]?.model ?? '?'}), load average ${load0.map((l) => l.toFixed(2)).join(' ')} at the start, ${load1.map((l) => l.toFixed(2)).join(' ')} at the end${QUICK ? ' — QUICK smoke run, sizes too small to judge' : ''}`,
);
p();
p(
  `Slack twin over Socket Mode, the real Claude runner over ${CLI_MS ? `a fake CLI taking ${CLI_MS} ms per turn` : 'an instant fake CLI'} with the real MCP endpoint; agentbridge as its own process.`,
);
p('All times in ms, p50 / p90 (/ p99 / max). "before" = message sent → the CLI has the turn (spawned, or the prompt read by its live session);');
p('"after" = the CLI printed its result → the final answer visible at the twin (the post or edit with the answer alone, not the progress');
p('message showing the streamed text); own = before + after. A call takes effect (is visible) when its round trip is over.');
p();
p('### agentbridge’s own time per answer (sequential, one message at a time)');
p();
p('| messages | round trip | turns | before | after | own | event→ack | first feedback | answer | CPU ms / message | Web API calls / answer |');
p('|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|');
for (const r of seq) {
  const total = Object.values(r.callsPerAnswer).reduce((a, b) => a + b, 0);
  p(
    `| ${r.kind} | ${r.latencyMs} | ${r.turns} | ${sum3(r.beforeAgent)} | ${sum3(r.afterResult)} | ${sum3(r.own)} | ${sum3(r.eventToAck)} | ${sum3(r.feedback)} | ${sum3(r.answer)} | ${f1(r.cpuMsPerMessage)} | ${f1(total)} |`,
  );
}
p();
p('### Web API calls per answer, by method');
p();
const methods = [...new Set([...seq, ...bursts].flatMap((r) => Object.keys(r.callsPerAnswer)))].sort();
const cols = [
  ...seq.map((r) => ({ label: `${r.kind} @${r.latencyMs}`, c: r.callsPerAnswer })),
  ...bursts.map((b) => ({ label: `burst ${b.size} @${b.latencyMs}`, c: b.callsPerAnswer })),
];
p(`| method | ${cols.map((c) => c.label).join(' | ')} |`);
p(`|---|${cols.map(() => '---:').join('|')}|`);
for (const m of methods) p(`| ${m} | ${cols.map((c) => f1(c.c[m] ?? 0)).join(' | ')} |`);
p(`| **total** | ${cols.map((c) => `**${f1(Object.values(c.c).reduce((a, b) => a + b, 0))}**`).join(' | ')} |`);
p();
p(`### Bursts (top-level mentions in one channel, sent at once; ${BURST_LATENCY} ms round trip, ${DEFAULT_SLOTS} slots)`);
p();
p('| burst | event→ack | first feedback | answer | all answered | CPU ms / message | 429s | lost |');
p('|---:|---:|---:|---:|---:|---:|---:|---:|');
for (const b of bursts)
  p(
    `| ${b.size} | ${sumMax(b.eventToAck)} | ${sumMax(b.feedback)} | ${sumMax(b.answer)} | ${ms(b.allAnsweredMs)} | ${f1(b.cpuMsPerMessage)} | ${b.rateLimited} | ${b.failed} |`,
  );
p();
p('Busiest minute (most calls in any 60 s window) per channel and method, against Slack’s documented per-minute limit:');
p();
p(`| method | ${bursts.map((b) => `burst ${b.size}`).join(' | ')} | Slack limit / min |`);
p(`|---|${bursts.map(() => '---:').join('|')}|---:|`);
const burstMethods = [...new Set(bursts.flatMap((b) => b.busiest.filter((x) => x.channel === CHANNEL).map((x) => x.method)))].sort();
for (const m of burstMethods) {
  const cells = bursts.map((b) => {
    const x = b.busiest.find((y) => y.channel === CHANNEL && y.method === m);
    const over = x && x.limit !== undefined && x.calls > x.limit;
    return x ? (over ? `**${x.calls}**` : String(x.calls)) : '0';
  });
  p(`| ${m} | ${cells.join(' | ')} | ${SLACK_LIMIT_PER_MIN[m] ?? '?'} |`);
}
p();
p(`### Turn slots (burst of ${SLOTS_BURST}, ${BURST_LATENCY} ms round trip)`);
p();
p('| AGENTBRIDGE_MAX_CONCURRENT_TURNS | first feedback | answer | all answered | CPU ms / message | lost |');
p('|---:|---:|---:|---:|---:|---:|');
for (const b of slots) p(`| ${b.slots} | ${sumMax(b.feedback)} | ${sumMax(b.answer)} | ${ms(b.allAnsweredMs)} | ${f1(b.cpuMsPerMessage)} | ${b.failed} |`);
p();

// Issue 16's targets.
const verdict = (ok: boolean | undefined) => (ok === undefined ? 'not measured' : ok ? 'met' : 'MISSED');
const worstOwn = (latency: number) => {
  const rs = seq.filter((r) => r.latencyMs === latency);
  return rs.length ? Math.max(...rs.map((r) => r.own.p50)) : undefined;
};
const own150 = worstOwn(150);
const own0 = worstOwn(0);
const maxCalls = seq.length ? Math.max(...seq.map((r) => Object.values(r.callsPerAnswer).reduce((a, b) => a + b, 0))) : undefined;
const b100 = bursts.find((b) => b.size === 100) ?? bursts.at(-1);
const over100 = b100?.busiest.filter((x) => x.channel === CHANNEL && x.limit !== undefined && x.calls > x.limit) ?? [];
const maxCpu = Math.max(...seq.map((r) => r.cpuMsPerMessage), ...bursts.map((b) => b.cpuMsPerMessage));
p('### Targets (issue 16)');
p();
p(
  `- own time ≤ 350 ms per answer at 150 ms round trip (p50, worst of the sequential rows): ${own150 === undefined ? '–' : ms(own150)} → ${verdict(own150 === undefined ? undefined : own150 <= 350)}`,
);
p(`- own time ≤ 60 ms at 0 ms: ${own0 === undefined ? '–' : ms(own0)} → ${verdict(own0 === undefined ? undefined : own0 <= 60)}`);
p(
  `- ≤ 4 Web API calls per answer (sequential, worst row): ${maxCalls === undefined ? '–' : f1(maxCalls)} → ${verdict(maxCalls === undefined ? undefined : maxCalls <= 4)}`,
);
p(
  `- 0 calls over Slack's tiers in a burst of ${b100?.size ?? '–'}: ${b100 ? `${b100.rateLimited} answered 429; busiest minutes over the limit: ${over100.map((x) => `${x.method} ${x.calls}`).join(', ') || 'none'}` : '–'} → ${verdict(b100 ? b100.rateLimited === 0 && over100.length === 0 : undefined)}`,
);
p(`- ≤ 60 ms CPU per message (worst row): ${f1(maxCpu)} → ${verdict(Number.isFinite(maxCpu) ? maxCpu <= 60 : undefined)}`);
const mcpIssues = seq.filter((r) => r.mcp.handshakesOk < r.mcp.processes);
if (mcpIssues.length) p(`\nWARNING: the fake CLI's MCP handshake failed in ${mcpIssues.map((r) => `${r.kind} @${r.latencyMs}`).join(', ')}`);
const lost = [...seq, ...bursts, ...slots].reduce((a, r) => a + r.failed, 0);
if (lost) p(`\nWARNING: ${lost} messages got no answer`);

console.log(`\n${lines.join('\n')}\n`);

fs.mkdirSync(RESULTS_DIR, { recursive: true });
// e2e-<date>-<HHMM UTC>[-quick].json: a re-run on the same day keeps earlier figures.
const iso = started.toISOString();
const file = path.join(RESULTS_DIR, `e2e-${iso.slice(0, 10)}-${iso.slice(11, 16).replace(':', '')}${QUICK ? '-quick' : ''}.json`);
fs.writeFileSync(
  file,
  `${JSON.stringify(
    {
      date: started.toISOString(),
      commit,
      node: process.version,
      cores: os.cpus().length,
      cpu: os.cpus()[0]?.model,
      loadavg: { start: load0, end: load1 },
      quick: QUICK,
      cliMs: CLI_MS,
      sizes: { seqTurns: SEQ_TURNS, latencies: SEQ_LATENCIES, bursts: BURSTS, burstLatencyMs: BURST_LATENCY, slots: SLOTS, slotsBurst: SLOTS_BURST },
      sequential: seq.map(({ raw, callLog: log, ...r }) => ({ ...r, ...(process.env.BENCH_RAW === '1' ? { turnsRaw: raw, callLog: log } : {}) })),
      bursts,
      slots,
    },
    null,
    2,
  )}\n`,
);
console.log(`figures written to ${path.relative(process.cwd(), file)} (bench took ${Math.round((Date.now() - started.getTime()) / 1000)} s)`);
if (lost || mcpIssues.length) process.exitCode = 1;
