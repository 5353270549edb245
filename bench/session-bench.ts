/**
 * `npm run bench` (third part, after bench/e2e-bench.ts and bench/bridge-bench.ts): live agent
 * sessions against one-shot turns, with the real `claude` CLI (node_modules/.bin/claude, pinned)
 * and the scripted Anthropic model (test/models/anthropic.ts), which answers at once — so a
 * turn's wall time is the CLI's and agentbridge's own cost.
 *
 * - Follow-up turn latency: a one-shot turn (`claude -p`, one process per turn, resuming the
 *   session like agentbridge does) against a follow-up turn on a live session
 *   (src/runners/claude/session.ts), {@link TURNS} turns each, median and p90 ms. The ratio
 *   live/one-shot is the share of the one-shot's latency a live follow-up still costs (issue 11
 *   target: ≤ 20 %).
 * - Memory of idle live sessions: {@link IDLE_SESSIONS} sessions opened, one turn each, then idle;
 *   resident memory is the sum of VmRSS (/proc/<pid>/status, kB) over every process of each
 *   session's process group. AGENTBRIDGE_MAX_LIVE_SESSIONS bounds the total at about
 *   max × (per-session figure).
 *
 * Linux only (/proc). Each agent process runs in a temporary HOME/CLAUDE_CONFIG_DIR removed at the end.
 */
import fs from 'node:fs';
import os from 'node:os';
import { performance } from 'node:perf_hooks';
import { claude } from '../src/runners/claude/index.js';
import { createRunner } from '../src/runners/define.js';
import type { AgentSession } from '../src/runners/session/types.js';
import type { RunRequest, RunResult } from '../src/runners/types.js';
import { makeSandbox } from '../test/helpers/sandbox.js';
import { startAnthropicModel } from '../test/models/anthropic.js';

/** Timed turns per mode. */
const TURNS = Number(process.env.BENCH_SESSION_TURNS ?? 8);
/** Idle live sessions measured for memory. */
const IDLE_SESSIONS = Number(process.env.BENCH_IDLE_SESSIONS ?? 4);

const model = await startAnthropicModel();
const sb = makeSandbox({
  ANTHROPIC_BASE_URL: model.url,
  ANTHROPIC_API_KEY: 'bench-key',
  CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC: '1',
  CLAUDE_CODE_MAX_RETRIES: '0',
  DISABLE_AUTOUPDATER: '1',
});
const runner = createRunner(claude);
const sessions: AgentSession[] = [];

const pct = (xs: number[], p: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)] ?? NaN;
};

function check(r: RunResult, what: string): RunResult {
  if (!r.ok) throw new Error(`${what} failed: ${r.error?.kind} ${r.error?.message}`);
  return r;
}

/** Process group id of `pid` from /proc/<pid>/stat, or undefined when it is gone. */
function groupOf(pid: number): number | undefined {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[2]);
  } catch {
    return undefined;
  }
}

/** Sum of VmRSS, bytes, over every process whose process group is one of `groups`. */
function groupRss(groups: Set<number>): { bytes: number; processes: number } {
  let bytes = 0;
  let processes = 0;
  for (const entry of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const g = groupOf(Number(entry));
    if (g === undefined || !groups.has(g)) continue;
    try {
      const kb = /VmRSS:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${entry}/status`, 'utf8'))?.[1];
      if (kb) {
        bytes += Number(kb) * 1024;
        processes++;
      }
    } catch {
      /* exited meanwhile */
    }
  }
  return { bytes, processes };
}

const noInteraction = { onEvent: () => {}, onInteraction: async () => ({ kind: 'deny' as const, message: 'bench' }) };

try {
  // One-shot: a first turn makes the session, then each timed turn resumes it in a new process.
  const base: RunRequest = { prompt: 'one-shot base', cwd: sb.workdir, env: sb.env, permissionMode: 'edit', timeoutMs: 120_000 };
  const first = check(await runner.run(base, () => {}), 'one-shot base turn');
  const oneShot: number[] = [];
  for (let i = 0; i < TURNS; i++) {
    const t0 = performance.now();
    check(await runner.run({ ...base, prompt: `one-shot ${i}`, resumeSessionId: first.sessionId! }, () => {}), 'one-shot turn');
    oneShot.push(performance.now() - t0);
  }

  // Live: open, a first turn (start-up included, not timed as a follow-up), then timed follow-ups.
  const t0 = performance.now();
  const live = runner.openSession!({ cwd: sb.workdir, env: sb.env, permissionMode: 'edit' });
  sessions.push(live);
  check(await live.send('live first', noInteraction, { timeoutMs: 120_000 }), 'live first turn');
  const firstLiveMs = performance.now() - t0;
  const followUps: number[] = [];
  for (let i = 0; i < TURNS; i++) {
    const t = performance.now();
    check(await live.send(`live ${i}`, noInteraction, { timeoutMs: 120_000 }), 'live follow-up');
    followUps.push(performance.now() - t);
  }

  // Idle memory.
  for (let i = 0; i < IDLE_SESSIONS - 1; i++) {
    const s = runner.openSession!({ cwd: sb.workdir, env: sb.env, permissionMode: 'edit' });
    sessions.push(s);
    check(await s.send(`idle ${i}`, noInteraction, { timeoutMs: 120_000 }), 'idle session turn');
  }
  await new Promise((r) => setTimeout(r, 2000)); // let them settle after their turn
  const rss = groupRss(new Set(sessions.flatMap((s) => (s.pid !== undefined ? [s.pid] : []))));

  const f = (x: number, d = 0) => x.toFixed(d);
  const one50 = pct(oneShot, 50);
  const live50 = pct(followUps, 50);
  const ratio = live50 / one50;
  console.log('\nagentbridge live session benchmark (real claude CLI, scripted model answering at once)');
  console.log(
    `node ${process.version}, ${os.cpus().length} cores, load average ${os
      .loadavg()
      .map((x) => x.toFixed(2))
      .join(' ')}\n`,
  );
  console.log('| turn | turns | p50 (ms) | p90 (ms) |');
  console.log('|---|---:|---:|---:|');
  console.log(`| one-shot \`claude -p --resume\` (a process per turn) | ${TURNS} | ${f(one50)} | ${f(pct(oneShot, 90))} |`);
  console.log(`| live session follow-up | ${TURNS} | ${f(live50)} | ${f(pct(followUps, 90))} |`);
  console.log(`\nlive session start + first turn: ${f(firstLiveMs)} ms`);
  console.log(`follow-up latency on a live session: ${f(ratio * 100, 1)} % of a one-shot turn's (target ≤ 20 %: ${ratio <= 0.2 ? 'met' : 'MISSED'})`);
  const perSession = rss.bytes / sessions.length;
  console.log(
    `idle live sessions: ${sessions.length}, ${rss.processes} processes, resident memory ${f(rss.bytes / 2 ** 20, 1)} MB in total, ${f(perSession / 2 ** 20, 1)} MB per session` +
      ` (AGENTBRIDGE_MAX_LIVE_SESSIONS=N bounds it at about N × ${f(perSession / 2 ** 20)} MB)`,
  );
} finally {
  await Promise.all(sessions.map((s) => s.close()));
  await model.close();
  sb.cleanup();
}
