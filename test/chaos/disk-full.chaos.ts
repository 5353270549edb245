/**
 * Chaos: DISK FULL (docs/ARCHITECTURE.md §6, chaos suite). agentbridge's data directory is a small tmpfs
 * (`mount -t tmpfs -o size=8m`; needs root or CAP_SYS_ADMIN — the scenario fails with a clear
 * message when the mount is refused; it is always unmounted at the end). agentbridge runs the
 * local chat as its own process with the real `claude` CLI against the scripted model.
 *
 * 1. Some messages are answered normally.
 * 2. A filler file takes every free byte of the tmpfs; messages keep coming (new threads and
 *    replies). Each must get 202 (accepted) or 503 (refused); `/healthz` must turn 503; every
 *    message sent while `/healthz` says 503 must be refused with 503.
 * 3. The filler is deleted: `/healthz` must be 200 again and every accepted (202) message
 *    answered exactly once by the SAME process (no restart); refused messages leave no trace
 *    (not in the local chat history, not in the inbox); no progress message left "⏳ Working…";
 *    a new message afterwards is answered.
 *
 * Sizes: full = 10 messages before, 30 while full (+5 after /healthz turned 503);
 * ci = 3 before, 8 while full (+3).
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LocalChat, claudeServiceEnv, type AgentbridgeProcess } from '../helpers/agentbridge.js';
import { makeSandbox, type Sandbox } from '../helpers/sandbox.js';
import { startAnthropicModel, type AnthropicModel } from '../models/anthropic.js';
import { auditAnswers, isProgressText, threadOf, tokenFor, tokensIn } from './audit.js';
import { agentProcesses, Fleet, reapLeftovers, healthz, isSettled, pollUntil, tokenEcho, type Health } from './harness.js';
import { makePrng } from './prng.js';
import { announce, writeResults } from './results.js';
import { bySize, SEED } from './scale.js';

const SCENARIO = 'disk-full';
const SIZE = bySize({
  full: { before: 10, during: 30, afterHealth503: 5, healthTimeoutMs: 60_000, answerTimeoutMs: 5 * 60_000 },
  ci: { before: 3, during: 8, afterHealth503: 3, healthTimeoutMs: 15_000, answerTimeoutMs: 60_000 },
});
const CHANNEL = 'diskfull';
const TMPFS_SIZE = '8m';

const rng = makePrng(SEED, SCENARIO);
let model: AnthropicModel;
let sb: Sandbox;
let fleet: Fleet;
let dataDir = '';
let mounted = false;

function mountTmpfs(dir: string): void {
  fs.mkdirSync(dir, { recursive: true });
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${TMPFS_SIZE},mode=0700`, 'tmpfs', dir], { stdio: ['ignore', 'pipe', 'pipe'] });
  } catch (err) {
    const stderr = (err as { stderr?: Buffer }).stderr?.toString().trim();
    throw new Error(`disk-full scenario: could not mount a ${TMPFS_SIZE} tmpfs on ${dir} (needs root or CAP_SYS_ADMIN): ${stderr || String(err)}`, {
      cause: err,
    });
  }
  mounted = true;
}

function unmountTmpfs(dir: string): void {
  if (!mounted) return;
  try {
    execFileSync('umount', [dir], { stdio: 'ignore' });
  } catch {
    execFileSync('umount', ['-l', dir], { stdio: 'ignore' }); // busy: detach now, freed when the last file closes
  }
  mounted = false;
}

/** Writes a filler file until the file system is full; returns its size in bytes. */
function fill(file: string): number {
  const fd = fs.openSync(file, 'w');
  let bytes = 0;
  try {
    for (const size of [1 << 18, 1 << 12, 512, 1]) {
      const buf = Buffer.alloc(size, 0x5a);
      for (;;) {
        try {
          bytes += fs.writeSync(fd, buf);
        } catch (err) {
          if ((err as NodeJS.ErrnoException).code === 'ENOSPC') break;
          throw err;
        }
      }
    }
  } finally {
    fs.closeSync(fd);
  }
  return bytes;
}

/** POST a message; the HTTP status (0 when the connection failed) and the reply body. */
async function post(url: string, text: string, thread?: string): Promise<{ status: number; body: { message?: string; thread?: string; error?: string } }> {
  try {
    const res = await fetch(`${url}/api/local/messages`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ channel: CHANNEL, text, user: 'chaos', ...(thread ? { thread } : {}) }),
    });
    return { status: res.status, body: (await res.json().catch(() => ({}))) as { message?: string; thread?: string; error?: string } };
  } catch (err) {
    return { status: 0, body: { error: String(err) } };
  }
}

beforeAll(async () => {
  model = await startAnthropicModel();
  sb = makeSandbox();
  dataDir = path.join(sb.root, 'data');
  fleet = new Fleet(() => claudeServiceEnv(sb, model.url, { AGENTBRIDGE_DATA_DIR: dataDir, LOG_LEVEL: 'info' }), sb.root);
});

afterAll(async () => {
  await fleet?.stopAll();
  if (sb) reapLeftovers(sb.root);
  await model?.close();
  if (dataDir) unmountTmpfs(dataDir);
  sb?.cleanup();
});

describe('chaos: disk full (data directory on a small tmpfs)', () => {
  it('refuses cleanly while full (503, /healthz 503, no trace) and answers every accepted message once space returns, without a restart', async () => {
    announce(
      SCENARIO,
      `${TMPFS_SIZE} tmpfs data dir; ${SIZE.before} messages before, ${SIZE.during} while full (+${SIZE.afterHealth503} after /healthz turned 503)`,
    );
    mountTmpfs(dataDir);
    const echo = tokenEcho(rng, 200, 800);
    model.setResponder(echo.responder);
    const started = Date.now();
    const ab: AgentbridgeProcess = await fleet.start();
    const chat = new LocalChat(ab.url);
    let n = 0;
    let threadNo = 0;
    const accepted = new Map<string, string[]>(); // thread id → tokens
    const accept = (thread: string, token: string) => accepted.set(thread, [...(accepted.get(thread) ?? []), token]);

    // 1. Normal operation.
    for (let i = 0; i < SIZE.before; i++) {
      const token = tokenFor(threadNo++, n++);
      const res = await chat.send(CHANNEL, `please note ${token}`, { user: 'chaos' });
      accept(res.thread, token);
    }
    await pollUntil(() => isSettled(ab.url), 60_000, 'the first messages to be answered');
    const threadsBefore = [...accepted.keys()];

    // 2. The disk fills up.
    const filler = path.join(dataDir, 'filler.bin');
    const fillerBytes = fill(filler);
    const filledAt = Date.now();
    const sent: Array<{ token: string; status: number; phase: 'full' | 'after-healthz-503'; healthzBefore: number; thread?: string; error?: string }> = [];
    const healthWhileFull: Health[] = [];
    const sendOne = async (phase: 'full' | 'after-healthz-503') => {
      const existing = rng.chance(0.5) ? rng.pick(threadsBefore) : undefined;
      const token = tokenFor(existing ? threadOf(accepted.get(existing)![0]!) : threadNo++, n++);
      const before = await healthz(ab.url);
      healthWhileFull.push(before);
      const res = await post(ab.url, `please note ${token}`, existing);
      sent.push({ token, status: res.status, phase, healthzBefore: before.status, thread: res.body.thread ?? existing, error: res.body.error });
      if (res.status === 202 && res.body.thread) accept(res.body.thread, token);
      healthWhileFull.push(await healthz(ab.url));
    };
    for (let i = 0; i < SIZE.during; i++) {
      await sendOne('full');
      await new Promise((r) => setTimeout(r, rng.int(50, 400)));
    }
    const health503 = await pollUntil(
      async () => {
        const h = await healthz(ab.url);
        healthWhileFull.push(h);
        return h.status === 503 ? h : undefined;
      },
      SIZE.healthTimeoutMs,
      '/healthz to answer 503 while the disk is full',
    ).catch(() => undefined);
    for (let i = 0; i < SIZE.afterHealth503; i++) await sendOne('after-healthz-503');
    const fullForMs = Date.now() - filledAt;

    // 3. Space returns (no restart).
    fs.unlinkSync(filler);
    const freedAt = Date.now();
    const healthBack = await pollUntil(
      async () => (await healthz(ab.url)).status === 200,
      SIZE.healthTimeoutMs,
      '/healthz to answer 200 after space returned',
    ).then(
      () => Date.now() - freedAt,
      () => undefined,
    );
    const acceptedTokens = () => [...accepted.values()].flat();
    const threadTexts = async () => {
      const threads = (
        (await (await fetch(`${ab.url}/api/local/threads?channel=${CHANNEL}&limit=500`)).json()) as { threads: Array<{ thread: string }> }
      ).threads.map((t) => t.thread);
      const out = new Map<string, Array<{ bot: boolean; text: string }>>();
      for (const th of threads)
        out.set(
          th,
          (await chat.messages(CHANNEL, th)).map((m) => ({ bot: m.bot, text: m.text })),
        );
      return out;
    };
    let answerError: unknown;
    await pollUntil(
      async () => {
        const seen = new Set(
          [...(await threadTexts()).values()]
            .flat()
            .filter((m) => m.bot && !isProgressText(m.text))
            .flatMap((m) => tokensIn(m.text)),
        );
        return acceptedTokens().every((tk) => seen.has(tk)) && (await isSettled(ab.url));
      },
      SIZE.answerTimeoutMs,
      'every accepted message to be answered after space returned',
      500,
    ).catch((err: unknown) => (answerError = err));
    const recoveredMs = Date.now() - freedAt;

    // A message after recovery is answered too.
    const afterToken = tokenFor(threadNo++, n++);
    const after = await post(ab.url, `please note ${afterToken}`);
    if (after.status === 202 && after.body.thread) accept(after.body.thread, afterToken);
    const afterAnswered = await pollUntil(
      async () => after.body.thread !== undefined && (await chat.botTexts(CHANNEL, after.body.thread)).some((x) => x.includes(afterToken)),
      45_000,
      'the answer to a message sent after recovery',
    ).then(
      () => true,
      () => false,
    );
    await pollUntil(() => isSettled(ab.url), 20_000, 'the inbox and outbox to drain').catch(() => undefined);

    // The record.
    const texts = await threadTexts();
    const answers = new Map([...texts].map(([th, ms]) => [th, ms.filter((m) => m.bot && !isProgressText(m.text)).map((m) => m.text)]));
    const stale = [...texts.values()]
      .flat()
      .filter((m) => m.bot && isProgressText(m.text))
      .map((m) => m.text);
    const refused = sent.filter((s) => s.status !== 202).map((s) => s.token);
    const allText = [...texts.values()]
      .flat()
      .map((m) => m.text)
      .join('\n');
    const refusedTraces = refused.filter((tk) => allText.includes(tk));
    const userCopies = acceptedTokens().filter((tk) => [...texts.values()].flat().filter((m) => !m.bot && m.text.includes(tk)).length !== 1);
    const audit = auditAnswers(accepted, answers);
    const finalHealth = await healthz(ab.url);
    const inboxRows = Object.values(finalHealth.inbox ?? {}).reduce((a, b) => a + b, 0);
    const samePid = ab.child.exitCode === null && ab.child.signalCode === null && fleet.all.length === 1;
    const readyLines = ab.logs.filter((l) => l.msg === 'agentbridge is ready').length;
    const storageErrors = ab.logs.filter((l) => /SQLITE_FULL|database or disk is full/i.test(JSON.stringify(l))).length;
    const leftRunning = agentProcesses(sb.root, fleet);
    await fleet.stopAll();
    const leftAfterStop = agentProcesses(sb.root, fleet);

    const statuses = (phase: string) => sent.filter((s) => s.phase === phase).map((s) => s.status);
    const count = (xs: number[], st: number) => xs.filter((x) => x === st).length;
    const figures = {
      tmpfs: TMPFS_SIZE,
      fillerBytes,
      messagesBefore: SIZE.before,
      sentWhileFull: sent.length,
      acceptedWhileFull: count(
        sent.map((s) => s.status),
        202,
      ),
      refusedWhileFull: count(
        sent.map((s) => s.status),
        503,
      ),
      otherStatusesWhileFull: sent.filter((s) => s.status !== 202 && s.status !== 503).map((s) => ({ status: s.status, error: s.error })),
      statusesAfterHealthz503: statuses('after-healthz-503'),
      // Messages sent right after /healthz said 503 (while still full): each must be refused.
      statusesWhileHealthz503: sent.filter((s) => s.healthzBefore === 503).map((s) => s.status),
      healthz503Seen: health503 !== undefined,
      healthz503Reason: health503?.reason ?? null,
      healthzStatusesWhileFull: [...new Set(healthWhileFull.map((h) => h.status))],
      healthzBackAfterMs: healthBack ?? null,
      refusedTraces: refusedTraces.length,
      acceptedNotStoredOnce: userCopies.length,
      inboxRows,
      acceptedTotal: acceptedTokens().length,
      lost: audit.lost.length,
      duplicated: audit.duplicated.length,
      reordered: audit.reordered.length,
      staleProgress: stale.length,
      afterRecoveryAnswered: afterAnswered,
      restarted: !samePid || readyLines !== 1,
      storageErrorLogLines: storageErrors,
      agentProcessesLeft: leftRunning.length + leftAfterStop.length,
      fullForMs,
      recoveredAfterMs: recoveredMs,
      totalMs: Date.now() - started,
      details: { sent, lost: audit.lost, duplicated: audit.duplicated, stale, refusedTraces, userCopies, leftRunning, leftAfterStop, finalHealth },
    };
    writeResults(
      SCENARIO,
      `${figures.sentWhileFull} messages while full: ${figures.acceptedWhileFull}×202, ${figures.refusedWhileFull}×503` +
        `${figures.otherStatusesWhileFull.length ? `, ${figures.otherStatusesWhileFull.length}× other` : ''}; /healthz 503 while full: ${figures.healthz503Seen ? 'yes' : 'NO'}; ` +
        `${figures.refusedTraces} refused messages left a trace; after freeing space: /healthz 200 ${healthBack !== undefined ? `after ${(healthBack / 1000).toFixed(1)} s` : 'NEVER'}, ` +
        `${figures.lost} accepted messages unanswered, ${figures.duplicated} answered twice, ${figures.staleProgress} stale progress, restart needed: ${figures.restarted ? 'yes' : 'no'}`,
      figures,
    );

    expect(figures.otherStatusesWhileFull, 'answers other than 202/503 while the disk was full').toEqual([]);
    expect(figures.healthz503Seen, '/healthz answered 503 while the disk was full').toBe(true);
    expect(figures.statusesWhileHealthz503.length, 'messages sent while /healthz said 503').toBeGreaterThan(0);
    expect(
      figures.statusesWhileHealthz503.filter((s) => s !== 503),
      'messages not refused with 503 while /healthz said 503',
    ).toEqual([]);
    expect(refusedTraces, 'refused messages that left a trace in the local chat history').toEqual([]);
    expect(healthBack, '/healthz back to 200 after space returned').toBeDefined();
    expect(answerError, 'every accepted message answered after space returned').toBeUndefined();
    expect(audit.lost, 'accepted messages never answered').toEqual([]);
    expect(audit.duplicated, 'messages answered more than once').toEqual([]);
    expect(userCopies, 'accepted messages not shown exactly once in the history').toEqual([]);
    expect(inboxRows, 'inbox rows = accepted messages (refused ones leave none)').toBe(acceptedTokens().length);
    expect(stale, 'progress messages left "⏳ Working…"').toEqual([]);
    expect(afterAnswered, 'a message after recovery is answered').toBe(true);
    expect(figures.restarted, 'recovered without a restart').toBe(false);
    expect(leftRunning, 'agent processes left while idle').toEqual([]);
    expect(leftAfterStop, 'agent processes left after the stop').toEqual([]);
  });
});
