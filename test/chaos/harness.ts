/**
 * Shared pieces of the chaos scenarios: the scripted model's token-echoing responder with a
 * random delay (so kills and faults land mid-turn), the agentbridge processes of a scenario
 * (every one recorded, all stopped at the end, also on failure), `/healthz` reads and polling.
 */
import fs from 'node:fs';
import { expect } from 'vitest';
import { startAgentbridge, type LocalChat, type AgentbridgeProcess } from '../helpers/agentbridge.js';
import { processesMentioning, type FoundProcess } from '../helpers/procs.js';
import { lastUserText, type Responder } from '../models/anthropic.js';
import { answerFor, tokenFor, type RunAudit } from './audit.js';
import type { Prng } from './prng.js';

/**
 * A responder answering `answered <tokens of the newest prompt>` after a random delay of
 * `minMs`–`maxMs` (drawn from `rng`); `inFlight()` counts requests being answered right now.
 */
export function tokenEcho(rng: Prng, minMs: number, maxMs: number): { responder: Responder; inFlight(): number } {
  let active = 0;
  return {
    inFlight: () => active,
    responder: async (req) => {
      active++;
      try {
        await new Promise((r) => setTimeout(r, rng.int(minMs, maxMs)));
        return { text: answerFor(lastUserText(req)) };
      } finally {
        active--;
      }
    },
  };
}

/** Every agentbridge process a scenario started; `stopAll()` ends the live ones (SIGTERM, then SIGKILL). */
export class Fleet {
  readonly all: AgentbridgeProcess[] = [];

  constructor(
    private readonly env: () => NodeJS.ProcessEnv,
    private readonly cwd: string,
  ) {}

  /** Starts one and waits until it is ready (60 s: a restart after a kill ends orphans and recovers first). */
  async start(): Promise<AgentbridgeProcess> {
    const p = await startAgentbridge(this.env(), this.cwd, 60_000);
    this.all.push(p);
    return p;
  }

  /** SIGKILLs `p` and waits for its exit. */
  async kill(p: AgentbridgeProcess): Promise<void> {
    p.child.kill('SIGKILL');
    await p.exited;
  }

  /** Pids of the agentbridge processes still alive. */
  livePids(): number[] {
    return this.all.filter((p) => p.child.exitCode === null && p.child.signalCode === null).map((p) => p.child.pid!);
  }

  async stopAll(): Promise<void> {
    for (const p of this.all) await p.stop().catch(() => undefined);
  }
}

/** Processes mentioning `marker` (the sandbox root) other than agentbridge itself: agent CLIs and their children. */
export function agentProcesses(marker: string, fleet: Fleet): FoundProcess[] {
  return strayProcesses(marker, fleet.livePids());
}

/** Processes mentioning `marker` that are neither one of `ownPids` (live agentbridge instances) nor descend from one. */
export function strayProcesses(marker: string, ownPids: readonly number[]): FoundProcess[] {
  const own = new Set(ownPids);
  // Live agent sessions of a running instance (its children and their children) are kept between
  // turns by design; what is left over is anything else: orphans of killed instances, or any
  // process once the instances have stopped.
  return processesMentioning(marker).filter((p) => !own.has(p.pid) && !descendsFrom(p.pid, own));
}

/** True when an ancestor of `pid` (by /proc/<pid>/stat ppid) is one of `ancestors`. */
export function descendsFrom(pid: number, ancestors: ReadonlySet<number>): boolean {
  let current = pid;
  for (let depth = 0; depth < 64 && current > 1; depth++) {
    let stat: string;
    try {
      stat = fs.readFileSync(`/proc/${current}/stat`, 'utf8');
    } catch {
      return false;
    }
    const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
    if (ancestors.has(ppid)) return true;
    current = ppid;
  }
  return false;
}

export interface Health {
  status: number;
  ok: boolean;
  reason?: string;
  inbox?: Record<string, number>;
  outboxPending?: number;
}

/** `GET /healthz`; a connection failure reads as status 0. */
export async function healthz(url: string): Promise<Health> {
  try {
    const res = await fetch(`${url}/healthz`);
    const body = (await res.json().catch(() => ({}))) as { ok?: boolean; reason?: string; inbox?: Record<string, number>; outboxPending?: number };
    return { status: res.status, ok: body.ok === true, reason: body.reason, inbox: body.inbox, outboxPending: body.outboxPending };
  } catch {
    return { status: 0, ok: false };
  }
}

/** True when nothing is queued, running or waiting in the outbox. */
export async function isSettled(url: string): Promise<boolean> {
  const h = await healthz(url);
  return h.status === 200 && (h.inbox?.queued ?? 1) === 0 && (h.inbox?.running ?? 1) === 0 && h.outboxPending === 0;
}

/**
 * Calls `check` every `intervalMs` until it returns a truthy value; rejects after `timeoutMs`
 * with `what` and the last value/error (for checks too costly for {@link waitFor}'s 25 ms).
 */
export async function pollUntil<T>(check: () => Promise<T> | T, timeoutMs: number, what: string, intervalMs = 250): Promise<NonNullable<T>> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await check();
      if (v) return v as NonNullable<T>;
      last = v;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what} (last: ${String(last)})`);
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}

/**
 * Cleanup after a scenario (also a failed one): SIGKILLs, by pid, every process still
 * mentioning `marker` (agent CLIs orphaned by a SIGKILLed agentbridge that was not started
 * again). Returns what it found; the scenarios assert on leftovers before this runs.
 */
export function reapLeftovers(marker: string): FoundProcess[] {
  const found = processesMentioning(marker);
  for (const p of found) {
    try {
      process.kill(p.pid, 'SIGKILL');
    } catch {
      /* already gone */
    }
  }
  return found;
}

/** The send order of a run: the thread (0-based) of each message, a random interleaving of `threads` × (`messages`/`threads`). */
export function interleave(rng: Prng, messages: number, threads: number): number[] {
  const left = Array.from({ length: threads }, (_, i) => Math.floor(messages / threads) + (i < messages % threads ? 1 : 0));
  const order: number[] = [];
  while (order.length < messages) {
    const open = left.flatMap((n, t) => (n > 0 ? [t] : []));
    const t = rng.pick(open);
    left[t]!--;
    order.push(t);
  }
  return order;
}

/**
 * Waits for a random moment inside a turn: until `inFlight()` counts a model request (at most
 * 15 s), then 0–600 ms more. Resolves true when a request was in flight, false when none came.
 */
export async function midTurnMoment(rng: Prng, inFlight: () => number): Promise<boolean> {
  const midTurn = await pollUntil(() => inFlight() > 0, 15_000, 'a model request in flight', 20).then(
    () => true,
    () => false,
  );
  await new Promise((r) => setTimeout(r, rng.int(0, 600)));
  return midTurn;
}

/** The messages of a run as sent: thread number → local thread id, local thread id → tokens in send order. */
export class SentMessages {
  readonly threadIds = new Map<number, string>();
  readonly accepted = new Map<string, string[]>();

  /** Sends message `index` of thread `thread` (`please note <token>`, as user `chaos`) through `chat`, in the thread's local thread once it has one. */
  async send(chat: LocalChat, channel: string, thread: number, index: number): Promise<void> {
    const token = tokenFor(thread, index);
    const id = this.threadIds.get(thread);
    const res = await chat.send(channel, `please note ${token}`, { user: 'chaos', ...(id ? { thread: id } : {}) });
    if (!id) this.threadIds.set(thread, res.thread);
    this.accepted.set(res.thread, [...(this.accepted.get(res.thread) ?? []), token]);
  }
}

/** Local thread id → texts of the bot's messages in it (progress messages included), for each of `threads`. */
export async function botTexts(chat: LocalChat, channel: string, threads: readonly string[]): Promise<Map<string, string[]>> {
  const out = new Map<string, string[]>();
  for (const th of threads)
    out.set(
      th,
      (await chat.messages(channel, th)).filter((m) => m.bot).map((m) => m.text),
    );
  return out;
}

/**
 * Asserts a run's answers and context are clean: nothing lost, duplicated, reordered or
 * misplaced, no stale progress message, every prompt once in the agent's context. `unit` names
 * a thread in the messages ("threads", "conversations").
 */
export function expectCleanRun(r: RunAudit, unit: string): void {
  expect(r.audit.lost, 'lost messages (no answer names them)').toEqual([]);
  expect(r.audit.duplicated, 'messages answered more than once').toEqual([]);
  expect(r.audit.reordered, `${unit} whose answers came out of order`).toEqual([]);
  expect(r.audit.misplaced, `answers in the wrong ${unit.replace(/s$/, '')}`).toEqual([]);
  expect(r.stale, 'progress messages left "⏳ Working…"').toEqual([]);
  expect(r.context.repeatedInSomeRequest, 'prompts that appear more than once in one model request').toEqual([]);
  expect(r.context.lastRequestWrong, `prompts not exactly once in the last model request of their ${unit.replace(/s$/, '')}`).toEqual([]);
}
