/**
 * Shared pieces of the chaos scenarios: the scripted model's token-echoing responder with a
 * random delay (so kills and faults land mid-turn), the agentbridge processes of a scenario
 * (every one recorded, all stopped at the end, also on failure), `/healthz` reads and polling.
 */
import fs from 'node:fs';
import { startAgentbridge, type AgentbridgeProcess } from '../helpers/agentbridge.js';
import { processesMentioning, type FoundProcess } from '../helpers/procs.js';
import { lastUserText, type Responder } from '../models/anthropic.js';
import { answerFor } from './audit.js';
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
  const own = new Set(fleet.livePids());
  // Live agent sessions of a running instance (its children and their children) are kept between
  // turns by design; what is left over is anything else: orphans of killed instances, or any
  // process once the fleet has stopped.
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
