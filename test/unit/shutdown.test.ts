/**
 * Graceful shutdown of the router: no new turns, running turns finish within the grace period,
 * the rest are stopped for retry (inbox rows left running), messages arriving meanwhile are kept.
 * Every case runs on both backends (SQLite file, PostgreSQL).
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { TurnOutcome } from '../../src/core/turn.js';
import type { InboundMessage } from '../../src/core/messages.js';
import type { Backend } from '../../src/store/sql/kysely.js';
import { BACKENDS, testDatabase } from '../helpers/backends.js';
import { startCore } from '../helpers/core.js';
import { waitFor } from '../helpers/sandbox.js';

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

/** The core on a new database of `backend` (PostgreSQL: the file's shared one, emptied), one turn slot, recording turn outcomes. */
async function world(backend: Backend) {
  const outcomes: TurnOutcome[] = [];
  const db = await testDatabase(backend, { shared: true });
  cleanups.push(() => db.remove());
  const core = startCore({ store: await db.open(), concurrency: 1, onTurnEnd: (_id, o) => outcomes.push(o) });
  cleanups.push(
    () => core.removeDir(),
    () => core.close(),
  );
  return { ...core, outcomes };
}

let n = 0;
function msg(thread: string, text: string): InboundMessage {
  const key = `s${++n}`;
  return {
    platform: 'local',
    conversationId: `local:general:${thread}`,
    channel: 'general',
    thread,
    author: { id: 'ann', name: 'ann' },
    text,
    eventKey: `local:${key}`,
    replyTarget: { platform: 'local', channel: 'general', thread },
    receivedAt: Date.now(),
  };
}

describe.each(BACKENDS)('graceful shutdown (%s)', (backend) => {
  it('lets a running turn finish within the grace period and starts nothing new; later messages stay in the inbox', async () => {
    const w = await world(backend);
    await w.router.accept(msg('a', 'working'));
    await w.runner.waitRuns(1);
    await w.router.accept(msg('b', 'waiting for the slot'));
    let done = false;
    const stopped = w.bridges.shutdown(30_000).then(() => (done = true));
    expect(w.router.stopping).toBe(true);
    const during = msg('c', 'arrived while draining');
    expect(await w.router.accept(during)).toBe('accepted');
    expect(done).toBe(false);
    w.runner.runs[0]!.finish({ text: 'finished in time' });
    await stopped;
    expect(w.adapter.texts('a')).toContain('finished in time');
    expect(w.outcomes).toEqual(['ok']);
    expect(w.runner.runs).toHaveLength(1); // nothing new started
    expect((await w.store.inbox.unfinished()).map((r) => [r.message.text, r.state])).toEqual([
      ['waiting for the slot', 'queued'],
      ['arrived while draining', 'queued'],
    ]);
    await expect(w.router.accept(msg('d', 'after'))).rejects.toThrow(/shutting down/);
  });

  it('stops turns still running when the grace period ends; they stay running in the inbox for the restart', async () => {
    const w = await world(backend);
    await w.router.accept(msg('a', 'slow'));
    await w.runner.waitRuns(1);
    const t0 = Date.now();
    await w.bridges.shutdown(200);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(190);
    expect(w.runner.runs[0]!.req.signal?.aborted).toBe(true);
    await waitFor(() => w.outcomes.length === 1);
    expect(w.outcomes).toEqual(['interrupted']);
    expect((await w.store.inbox.unfinished()).map((r) => r.state)).toEqual(['running']);
    expect(w.adapter.texts('a').some((t) => t.includes('slow'))).toBe(false);
  });

  it('without a grace period stops at once', async () => {
    const w = await world(backend);
    await w.router.accept(msg('a', 'slow'));
    await w.runner.waitRuns(1);
    await w.bridges.shutdown(0);
    expect(w.outcomes).toEqual(['interrupted']);
  });
});
