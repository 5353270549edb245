/**
 * The scheduler as cluster mode's leader runs it (docs/ARCHITECTURE.md §10): `start()` / `stop()`
 * repeatable (the `scheduler` lease lost and taken again; due times missed while stopped follow
 * the grace rules once), a `stop()` during `start()` submits nothing, and cron runs completed on
 * another instance that never started its scheduler (a worker) — with the retry picked up by the
 * lease holder through `maxSleepMs`. Both backends.
 */
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { TurnOutcome } from '../../src/core/turn.js';
import type { TurnEndedSource } from '../../src/scheduler/scheduler.js';
import { BACKENDS } from '../helpers/backends.js';
import { job, makeHarness, type Harness } from './scheduler-harness.js';

const T0 = Date.parse('2026-06-01T12:00:00Z');
const MIN = 60_000;
const HOUR = 3_600_000;
let h: Harness;

describe.each(BACKENDS)('scheduler under a lease (%s)', (backend) => {
  beforeEach(async () => {
    h = await makeHarness(T0, backend);
  });
  afterEach(() => h.cleanup());

  it('start → stop → start: nothing fires while stopped; a due time missed meanwhile runs once after the restart', async () => {
    const s = h.scheduler();
    const j = await s.cron.add(job());
    await s.start();
    await s.start(); // idempotent
    await h.advance(HOUR);
    expect(h.submitted.map((m) => m.eventKey)).toEqual([`cron:${j.id}:${T0 + HOUR}:1`]);
    await h.finishTurn(s, h.submitted[0]!.conversationId, 'ok');

    await s.stop();
    await s.stop(); // idempotent
    await h.advance(HOUR + 5 * MIN); // the 14:00 due time passes while stopped
    expect(h.submitted).toHaveLength(1);

    await s.start(); // 5 min late: within the grace window, runs once
    expect(h.submitted.map((m) => m.eventKey)).toEqual([`cron:${j.id}:${T0 + HOUR}:1`, `cron:${j.id}:${T0 + 2 * HOUR}:1`]);
    await h.finishTurn(s, h.submitted[1]!.conversationId, 'ok');
    await h.advance(HOUR); // armed again: 15:00 fires
    expect(h.submitted.map((m) => m.eventKey).at(-1)).toBe(`cron:${j.id}:${T0 + 3 * HOUR}:1`);
    expect(h.submitted).toHaveLength(3);
  });

  it('a stop() while start() is settling submits nothing; a later start() does', async () => {
    const s = h.scheduler();
    const j = await s.cron.add(job());
    vi.setSystemTime(T0 + HOUR + MIN); // due a minute ago
    const starting = s.start();
    await s.stop();
    await starting;
    await h.advance(5 * MIN); // still within the grace window afterwards
    expect(h.submitted).toHaveLength(0);
    await s.start();
    expect(h.submitted.map((m) => m.eventKey)).toEqual([`cron:${j.id}:${T0 + HOUR}:1`]);
  });

  it('a worker that never started its scheduler completes runs (completeRuns); the holder picks up the retry', async () => {
    const leader = h.scheduler({ maxSleepMs: 5_000 });
    const j = await leader.cron.add(job({ schedule: 'every 1d' }));
    vi.setSystemTime(T0 + 24 * HOUR + MIN); // the lease taken a minute after the due time
    await leader.start();
    expect(h.submitted).toHaveLength(1);
    const conv = h.submitted[0]!.conversationId;

    // A worker on its own connection/pool: subscribes to its bridges' turnEnded, never starts.
    const other = await h.openSecond();
    const worker = h.scheduler({ store: other });
    let listener: ((e: { conversationId: string; outcome: TurnOutcome }) => void) | undefined;
    const source: TurnEndedSource = { on: (_e, l) => ((listener = l), () => (listener = undefined)) };
    const unsubscribe = worker.completeRuns(source);
    expect(listener).toBeDefined();
    // The turn failed on the worker (the harness marks the inbox row like the worker's bridge would).
    await h.finishTurn(worker, conv, 'timeout');
    listener!({ conversationId: conv, outcome: 'timeout' }); // a repeated end changes nothing (compare-and-set)
    await worker.stop(); // waits for the recorded turn ends
    unsubscribe();
    expect(listener).toBeUndefined();
    const runs = await h.store.cronRuns.listForJob(j.id);
    expect(runs.map((r) => [r.status, r.attempt, r.kind])).toEqual([
      ['queued', 2, 'retry'],
      ['failed', 1, 'schedule'],
    ]);
    expect((await h.store.cronJobs.get(j.id))!.consecutiveFailures).toBe(1);

    // The lease holder's timer was armed for tomorrow; it reads again every 5 s and finds the retry due in 30 s.
    await h.advance(35_000);
    expect(h.submitted.map((m) => m.eventKey)).toEqual([`cron:${j.id}:${T0 + 24 * HOUR}:1`, `cron:${j.id}:${T0 + 24 * HOUR}:2`]);
  });
});
