/**
 * Chaos: the SLACK FAULT STORM (docs/ARCHITECTURE.md §6, chaos suite). agentbridge runs as its own process with the
 * real @slack/bolt over Socket Mode against the Slack twin, and the real `claude` CLI against the
 * scripted model (answers after 200–800 ms naming the tokens of the prompt). While people write
 * in several threads, at random moments (seeded):
 *
 * - double deliveries: mentions delivered both as `app_mention` and as `message`;
 * - event retries: already acknowledged events delivered again (`retry_attempt` > 0);
 * - Socket Mode drops while a model request is in flight (events wait and are redelivered);
 * - 429 (`Retry-After: 1`) and 500 on `chat.postMessage` / `chat.update`;
 * - 500 returned AFTER `chat.postMessage` created the message (the ambiguous failure).
 *
 * Then a probe: one message whose answer edit (`chat.update` of the progress message) fails
 * with 500 until the Web API client gives up, and whose fallback post (`chat.postMessage`) is
 * created but answered 500 — the exact case of defects 3 and 4.
 *
 * Expect exactly one answer per message (no message unanswered, none answered twice) and no
 * stale progress message (no bot message still reading "⏳ Working…") at the end.
 *
 * Sizes: full = 60 messages / 15 threads, 3 drops, 10 retries, 6×429, 6×500, 4×500-after-create;
 * ci = 20 / 5, 1 drop, 4 retries, 2×429, 2×500, 2×500-after-create.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeSandbox, type Sandbox } from '../helpers/sandbox.js';
import { lastUserText, startAnthropicModel, type AnthropicModel } from '../models/anthropic.js';
import { botMessages, CHANNEL, slackEnv, USERS } from '../twins/slack/harness.js';
import { SlackTwin } from '../twins/slack/twin.js';
import { auditAnswers, isProgressText, tokenFor, tokensIn } from './audit.js';
import { agentProcesses, Fleet, reapLeftovers, isSettled, pollUntil, tokenEcho } from './harness.js';
import { makePrng } from './prng.js';
import { announce, writeResults } from './results.js';
import { bySize, SEED } from './scale.js';

const SCENARIO = 'slack-storm';
const SIZE = bySize({
  full: { messages: 60, threads: 15, drops: 3, redeliveries: 10, rateLimits: 6, errors: 6, afterCreate: 4, settleTimeoutMs: 10 * 60_000 },
  ci: { messages: 20, threads: 5, drops: 1, redeliveries: 4, rateLimits: 2, errors: 2, afterCreate: 2, settleTimeoutMs: 150_000 },
});
const METHODS = ['chat.postMessage', 'chat.update'] as const;

const rng = makePrng(SEED, SCENARIO);
let model: AnthropicModel;
let twin: SlackTwin;
let sb: Sandbox;
let fleet: Fleet;

beforeAll(async () => {
  [model, twin] = await Promise.all([startAnthropicModel(), SlackTwin.start({ users: USERS })]);
  sb = makeSandbox();
  fleet = new Fleet(() => ({ ...slackEnv(sb, model, twin, 'socket'), LOG_LEVEL: process.env.TEST_LOG_LEVEL ?? 'info' }), sb.root);
});

afterAll(async () => {
  await fleet?.stopAll();
  if (sb) reapLeftovers(sb.root);
  await Promise.all([model?.close(), twin?.close()]);
  sb?.cleanup();
});

type FaultKind = 'drop' | 'redeliver' | 'rate-limit' | 'error' | 'after-create';

/** Which faults come after which message (indices 0 … messages-1), drawn from the seed. */
function faultPlan(): Map<number, FaultKind[]> {
  const plan = new Map<number, FaultKind[]>();
  const place = (kind: FaultKind, count: number) => {
    for (let k = 0; k < count; k++) {
      const at = rng.int(1, SIZE.messages - 1);
      plan.set(at, [...(plan.get(at) ?? []), kind]);
    }
  };
  place('drop', SIZE.drops);
  place('redeliver', SIZE.redeliveries);
  place('rate-limit', SIZE.rateLimits);
  place('error', SIZE.errors);
  place('after-create', SIZE.afterCreate);
  return plan;
}

describe('chaos: Slack fault storm (Socket Mode, real Bolt, the Slack twin)', () => {
  it(`${SIZE.messages} messages across ${SIZE.threads} threads through redeliveries, drops, 429s and 500s: one answer each, no stale progress`, async () => {
    announce(
      SCENARIO,
      `${SIZE.messages} messages, ${SIZE.threads} threads, faults: ${SIZE.drops} drops, ${SIZE.redeliveries} redeliveries, ${SIZE.rateLimits}×429, ${SIZE.errors}×500, ${SIZE.afterCreate}×500-after-create, then the probe`,
    );
    const echo = tokenEcho(rng, 200, 800);
    model.setResponder(echo.responder);
    const plan = faultPlan();
    const started = Date.now();
    await fleet.start();

    const roots = new Map<number, string>(); // thread number → root ts
    const accepted = new Map<string, string[]>(); // root ts → tokens in send order
    const injected: Array<{ afterMessage: number; kind: FaultKind; detail: string }> = [];
    let doubleDeliveries = 0;
    const order: number[] = [];
    {
      const left = Array.from({ length: SIZE.threads }, (_, i) => Math.floor(SIZE.messages / SIZE.threads) + (i < SIZE.messages % SIZE.threads ? 1 : 0));
      while (order.length < SIZE.messages) {
        const t = rng.pick(left.flatMap((n, i) => (n > 0 ? [i] : [])));
        left[t]!--;
        order.push(t);
      }
    }

    for (let i = 0; i < order.length; i++) {
      const t = order[i]!;
      const token = tokenFor(t, i);
      const root = roots.get(t);
      const user = rng.pick(USERS).id;
      if (!root) {
        const double = rng.chance(0.5);
        if (double) doubleDeliveries++;
        const post = await twin.userPosts({ user, channel: CHANNEL, text: `please note ${token}`, mention: true, also_as_message: double });
        roots.set(t, post.ts);
        accepted.set(post.ts, [token]);
      } else {
        await twin.userPosts({ user, channel: CHANNEL, text: `please note ${token}`, thread_ts: root });
        accepted.get(root)!.push(token);
      }

      for (const kind of plan.get(i) ?? []) {
        let detail: string;
        if (kind === 'drop') {
          const midTurn = await pollUntil(() => echo.inFlight() > 0, 15_000, 'a model request in flight', 20).then(
            () => true,
            () => false,
          );
          twin.dropConnection();
          detail = midTurn ? 'mid-turn' : 'no turn was running';
        } else if (kind === 'redeliver') {
          const acked = twin.socket.envelopes.filter((e) => e.acked);
          if (acked.length) {
            const e = rng.pick(acked);
            await twin.redeliver(e.event_id);
            detail = e.event_id;
          } else detail = 'nothing acknowledged yet';
        } else {
          const method = kind === 'after-create' ? 'chat.postMessage' : rng.pick(METHODS);
          const status = kind === 'rate-limit' ? 429 : 500;
          twin.faultRules.add({ method, status, retryAfter: 1, when: kind === 'after-create' ? 'after' : 'before', label: kind });
          detail = `${method} ${status}`;
        }
        injected.push({ afterMessage: i, kind, detail });
      }
      await new Promise((r) => setTimeout(r, rng.int(50, 500)));
    }

    const allTokens = () => [...accepted.values()].flat();
    const answeredAll = async () => {
      const seen = new Set(
        [...accepted.keys()].flatMap((ts) =>
          botMessages(twin, CHANNEL, ts)
            .filter((m) => !isProgressText(m.text))
            .flatMap((m) => tokensIn(m.text)),
        ),
      );
      return allTokens().every((tk) => seen.has(tk)) && (await isSettled(fleet.all.at(-1)!.url));
    };
    let stormError: unknown;
    await pollUntil(answeredAll, SIZE.settleTimeoutMs, 'every storm message to be answered and the outbox drained', 500).catch(
      (err: unknown) => (stormError = err),
    );
    const stormMs = Date.now() - started;
    // Faults armed so late that no call came to take them are dropped before the probe.
    const unusedFaults = twin.faultRules.pending;
    twin.faultRules.clear();

    // The probe: the answer's edit fails with 500 until the client gives up (5 attempts), and
    // the fallback post is created but answered 500.
    const probeToken = tokenFor(SIZE.threads, SIZE.messages);
    const isProbeAnswer = (p: Record<string, string>) => (p.text ?? '').startsWith('answered') && (p.text ?? '').includes(probeToken);
    twin.faultRules.add({ method: 'chat.update', status: 500, when: 'before', times: 5, match: isProbeAnswer, label: 'probe: answer edit 500' });
    twin.faultRules.add({ method: 'chat.postMessage', status: 500, when: 'after', times: 1, match: isProbeAnswer, label: 'probe: 500 after create' });
    const probe = await twin.userPosts({ user: 'U0ALICE', channel: CHANNEL, text: `please note ${probeToken}`, mention: true });
    accepted.set(probe.ts, [probeToken]);
    let probeError: unknown;
    await pollUntil(answeredAll, SIZE.settleTimeoutMs, 'the probe to be answered and the outbox drained', 500).catch((err: unknown) => (probeError = err));
    const totalMs = Date.now() - started;

    const answers = new Map(
      [...accepted.keys()].map((ts) => [
        ts,
        botMessages(twin, CHANNEL, ts)
          .filter((m) => !isProgressText(m.text))
          .map((m) => m.text),
      ]),
    );
    const stale = [...accepted.keys()].flatMap((ts) =>
      botMessages(twin, CHANNEL, ts)
        .filter((m) => isProgressText(m.text))
        .map((m) => ({ thread: ts, ts: m.ts, text: m.text })),
    );
    const audit = auditAnswers(accepted, answers);
    const probeAnswers = answers.get(probe.ts)!.filter((x) => x.includes(probeToken)).length;
    const requestsPerToken = new Map<string, number>();
    for (const r of model.mainRequests()) for (const tk of new Set(tokensIn(lastUserText(r)))) requestsPerToken.set(tk, (requestsPerToken.get(tk) ?? 0) + 1);
    const leftRunning = agentProcesses(sb.root, fleet);
    await fleet.stopAll();
    const leftAfterStop = agentProcesses(sb.root, fleet);
    const applied = twin.faultRules.applied.map((a) => `${a.label ?? ''} ${a.method} ${a.status} ${a.when}`);

    const figures = {
      messages: allTokens().length,
      threads: accepted.size,
      doubleDeliveries,
      redeliveries: twin.socket.envelopes.filter((e) => e.retry_attempt > 0).length,
      socketDrops: injected.filter((f) => f.kind === 'drop').length,
      socketDropsMidTurn: injected.filter((f) => f.kind === 'drop' && f.detail === 'mid-turn').length,
      socketConnections: twin.socket.connectionsOpened,
      faultsApplied: twin.faultRules.applied.length,
      faultsUnused: unusedFaults,
      http429: twin.calls.filter((c) => c.status === 429 && !c.rateLimited).length,
      /** 429s from the twin's enforcement of Slack's tiers (agentbridge's budget should keep this at 0). */
      tierLimited: twin.rateLimited.length,
      http500: twin.calls.filter((c) => c.status === 500).length,
      http500AfterCreate: twin.faultRules.applied.filter((a) => a.when === 'after').length,
      lost: audit.lost.length,
      duplicated: audit.duplicated.length,
      reordered: audit.reordered.length,
      misplaced: audit.misplaced.length,
      staleProgress: stale.length,
      probeAnswers,
      messagesSentToModelMoreThanOnce: [...requestsPerToken.values()].filter((n) => n > 1).length,
      agentProcessesLeft: leftRunning.length + leftAfterStop.length,
      stormMs,
      totalMs,
      timedOut: stormError !== undefined || probeError !== undefined,
      details: {
        injected,
        applied,
        lost: audit.lost,
        duplicated: audit.duplicated,
        reordered: audit.reordered,
        misplaced: audit.misplaced,
        stale,
        leftRunning,
        leftAfterStop,
      },
    };
    writeResults(
      SCENARIO,
      `${figures.messages} messages/${figures.threads} threads, ${doubleDeliveries} double deliveries, ${figures.redeliveries} redeliveries, ` +
        `${figures.socketDrops} Socket Mode drops (${figures.socketDropsMidTurn} mid-turn), ${figures.http429}×429 injected, ${figures.tierLimited}×429 over Slack's tiers, ${figures.http500}×500 (${figures.http500AfterCreate} after create): ` +
        `${figures.lost} lost, ${figures.duplicated} answered twice, ${figures.staleProgress} stale progress, probe answered ${probeAnswers}×, ` +
        `${(totalMs / 1000).toFixed(0)} s${figures.timedOut ? ' (TIMED OUT)' : ''}`,
      figures,
    );

    expect(stormError, 'storm messages answered and the outbox drained in time').toBeUndefined();
    expect(probeError, 'the probe answered and the outbox drained in time').toBeUndefined();
    expect(audit.lost, 'messages without an answer').toEqual([]);
    expect(audit.duplicated, 'messages answered more than once').toEqual([]);
    expect(audit.misplaced, 'answers in the wrong thread').toEqual([]);
    expect(stale, 'bot messages still reading "⏳ Working…"').toEqual([]);
    expect(leftRunning, 'agent processes left while idle').toEqual([]);
    expect(leftAfterStop, 'agent processes left after the stop').toEqual([]);
  });
});
