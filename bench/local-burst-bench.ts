/**
 * The local web chat under a burst (issue 12, "immediate feedback for every accepted message"):
 * agentbridge started as its own process with no Slack or Discord credentials (the local chat
 * only), the instant fake CLI (`bench/fake-claude.mjs`), 4 turn slots; BENCH_LOCAL_BURST (100)
 * messages, each starting its own thread, POSTed to `/api/local/messages` at once. Measured per
 * message from the event stream (`/api/local/events`) as the page gets it:
 * - accepted: POST → its `202`;
 * - first feedback: POST → the first `message.updated` event of the message carrying a mark
 *   (`reaction`: 👀 working, or ✅ done) — what the page shows on the message;
 * - answer: POST → the `message.created`/`message.updated` event of a bot message in the thread
 *   with the fake's answer ("Answer to <id>.").
 * Prints p50 / p90 / p99 / max ms and writes `bench/results/local-burst-<time>.json`.
 * Run: `node --import tsx bench/local-burst-bench.ts` (part of `npm run bench`).
 */
import fs from 'node:fs';
import path from 'node:path';
import { startAgentbridge } from '../test/helpers/agentbridge.js';
import { reapAll } from '../test/helpers/reap.js';
import { makeSandbox, waitFor } from '../test/helpers/sandbox.js';
import { summarize, type Summary } from './stats.js';

const FAKE_CLAUDE = path.resolve(import.meta.dirname, 'fake-claude.mjs');
const RESULTS_DIR = path.resolve(import.meta.dirname, 'results');
const BURST = Number(process.env.BENCH_LOCAL_BURST ?? 100);
const SLOTS = 4;

interface Sent {
  id: string;
  postAt: number;
  acceptedAt?: number;
  message?: string;
  thread?: string;
  feedbackAt?: number;
  answerAt?: number;
}

interface LocalEvent {
  event: string;
  data: { id?: string; thread?: string; text?: string; bot?: boolean; reaction?: string };
  at: number;
}

/** Reads the event stream into `events` (each stamped on arrival) until the signal aborts. */
async function readEvents(url: string, events: LocalEvent[], signal: AbortSignal): Promise<void> {
  const res = await fetch(url, { signal });
  if (res.status !== 200 || !res.body) throw new Error(`event stream: HTTP ${res.status}`);
  const reader = res.body.getReader();
  const decoder = new TextDecoder();
  let buf = '';
  void (async () => {
    for (;;) {
      const { value, done } = await reader.read().catch(() => ({ value: undefined, done: true as const }));
      if (done) return;
      const at = Date.now();
      buf += decoder.decode(value, { stream: true });
      let i: number;
      while ((i = buf.indexOf('\n\n')) >= 0) {
        const frame = buf.slice(0, i);
        buf = buf.slice(i + 2);
        let event = 'message';
        let data = '';
        for (const line of frame.split('\n')) {
          if (line.startsWith('event: ')) event = line.slice(7);
          else if (line.startsWith('data: ')) data += line.slice(6);
        }
        if (data) events.push({ event, data: JSON.parse(data) as LocalEvent['data'], at });
      }
    }
  })();
}

async function main(): Promise<void> {
  const sb = makeSandbox();
  const ctrl = new AbortController();
  const env: NodeJS.ProcessEnv = {
    ...sb.env,
    AGENTBRIDGE_DATA_DIR: path.join(sb.root, 'data'),
    AGENTBRIDGE_WORKDIR: sb.workdir,
    AGENTBRIDGE_AGENT: 'claude',
    AGENTBRIDGE_MAX_CONCURRENT_TURNS: String(SLOTS),
    CLAUDE_BIN: FAKE_CLAUDE,
    ANTHROPIC_API_KEY: 'bench-unused',
    LOG_LEVEL: 'info',
  };
  const ab = await startAgentbridge(env, sb.root, 60_000);
  try {
    const events: LocalEvent[] = [];
    await readEvents(`${ab.url}/api/local/events?channel=general`, events, ctrl.signal);
    const sent: Sent[] = Array.from({ length: BURST }, (_, i) => ({ id: `turn-local-${i}`, postAt: 0 }));
    const t0 = Date.now();
    await Promise.all(
      sent.map(async (s) => {
        s.postAt = Date.now();
        const res = await fetch(`${ab.url}/api/local/messages`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ channel: 'general', text: `burst question ${s.id}`, user: 'bench' }),
        });
        s.acceptedAt = Date.now();
        if (res.status !== 202) throw new Error(`POST: HTTP ${res.status} ${await res.text()}`);
        const body = (await res.json()) as { message: string; thread: string };
        s.message = body.message;
        s.thread = body.thread;
      }),
    );
    const fill = () => {
      for (const s of sent) {
        s.feedbackAt ??= events.find((e) => e.event === 'message.updated' && e.data.id === s.message && e.data.reaction)?.at;
        s.answerAt ??= events.find((e) => e.data.bot && e.data.thread === s.thread && e.data.text?.includes(`Answer to ${s.id}.`))?.at;
      }
      return sent.every((s) => s.answerAt !== undefined);
    };
    await waitFor(fill, 300_000, 'every answer');
    const allAnsweredMs = Math.max(...sent.map((s) => s.answerAt!)) - t0;
    const result: Record<string, Summary | number | string> = {
      burst: BURST,
      slots: SLOTS,
      node: process.version,
      accepted: summarize(sent.map((s) => s.acceptedAt! - s.postAt)),
      feedback: summarize(sent.map((s) => (s.feedbackAt ?? Number.NaN) - s.postAt).filter(Number.isFinite)),
      answer: summarize(sent.map((s) => s.answerAt! - s.postAt)),
      allAnsweredMs,
      withoutFeedback: sent.filter((s) => s.feedbackAt === undefined).length,
    };
    const f = (x: Summary) => `${x.p50} / ${x.p90} / ${x.p99} / ${x.max}`;
    console.log(`local chat, burst of ${BURST} new threads, ${SLOTS} slots (p50 / p90 / p99 / max ms):`);
    console.log('| burst | accepted (202) | first feedback (mark) | answer | all answered | without feedback |');
    console.log('|---:|---:|---:|---:|---:|---:|');
    console.log(
      `| ${BURST} | ${f(result.accepted as Summary)} | ${f(result.feedback as Summary)} | ${f(result.answer as Summary)} | ${allAnsweredMs} | ${result.withoutFeedback} |`,
    );
    fs.mkdirSync(RESULTS_DIR, { recursive: true });
    const file = path.join(RESULTS_DIR, `local-burst-${new Date().toISOString().replace(/[:.]/g, '-')}.json`);
    fs.writeFileSync(file, `${JSON.stringify(result, null, 2)}\n`);
    console.log(`written: ${path.relative(process.cwd(), file)}`);
  } finally {
    ctrl.abort();
    await ab.stop();
    reapAll();
    sb.cleanup();
  }
}

await main();
