/**
 * Cluster mode's turn path on real PostgreSQL and pg-boss (docs/ARCHITECTURE.md §10), in process:
 * two cores ("instances") on one database, each with its worker, a manual runner each.
 * - a message and its wake-up job commit together (a rolled-back accept leaves no job);
 * - messages accepted on either instance are run by a worker, in order, one turn at a time per
 *   conversation, and answered once;
 * - fencing: a turn whose claim is gone (another attempt took the conversation) cannot commit —
 *   its answer never reaches the outbox — and a worker that loses its job abandons the turn.
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { PgBoss } from 'pg-boss';
import { createLogger } from '../../src/logger.js';
import { startTurnQueue } from '../../src/cluster/queue.js';
import { TURN_QUEUE } from '../../src/cluster/constants.js';
import { TurnWorker } from '../../src/cluster/worker.js';
import { DatabaseLiveness } from '../../src/cluster/liveness.js';
import { openPostgresStore, type PostgresStore } from '../../src/store/postgres.js';
import { TurnFencedError } from '../../src/store/types.js';
import { freshPostgresDatabase } from '../helpers/pg.js';
import { startCore, type Core } from '../helpers/core.js';
import { localMessage } from '../helpers/fakes.js';
import { waitFor } from '../helpers/sandbox.js';

const logger = createLogger(process.env.TEST_LOG === '1' ? 'info' : 'silent');
const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c().catch(() => {});
});

interface Instance {
  store: PostgresStore;
  boss: PgBoss;
  core: Core<PostgresStore>;
  worker: TurnWorker;
  liveness: DatabaseLiveness;
}

async function database(): Promise<string> {
  const db = await freshPostgresDatabase();
  cleanups.push(db.drop);
  return db.url;
}

async function instance(url: string, id: string, concurrency = 4): Promise<Instance> {
  const store = await openPostgresStore({ url, logger });
  const boss = await startTurnQueue({ url, instanceId: id, heartbeatS: 10, logger, poolMax: 2 }, store.jobs);
  const core = startCore({ store, cluster: { instanceId: id }, concurrency });
  const liveness = new DatabaseLiveness({ probe: () => store.probeWrite(), windowMs: 10_000, logger });
  liveness.start();
  const worker = new TurnWorker({
    boss,
    store,
    router: core.router,
    bridges: core.bridges,
    outbound: core.outbound,
    interactions: core.interactions,
    sessions: core.sessions,
    liveness,
    concurrency,
    heartbeatS: 10,
    logger,
  });
  cleanups.push(async () => {
    liveness.stop();
    await worker.stop();
    await core.bridges.shutdown(0);
    await worker.release(2_000);
    await boss.stop({ graceful: false, close: true, timeout: 2_000 });
    await core.close();
  });
  return { store, boss, core, worker, liveness };
}

describe('cluster turn queue', () => {
  it('enqueues the wake-up job in the inbox transaction: committed together, rolled back together', async () => {
    const url = await database();
    const a = await instance(url, 'a');
    const hello = localMessage('t1', 'hello');
    await a.core.inbox.accept(hello);
    const jobs = await a.boss.findJobs(TURN_QUEUE, { key: 'local:general:t1' });
    expect(jobs.map((j) => [j.singletonKey, (j.data as { conversationId: string }).conversationId])).toEqual([['local:general:t1', 'local:general:t1']]);

    // A transaction that fails after the accept and the wake leaves neither the row nor the job.
    await expect(
      a.store.transaction(async (tx) => {
        await tx.inbox.accept(localMessage('t2', 'never'));
        await tx.turnJobs.wake('local:general:t2');
        throw new Error('rolled back');
      }),
    ).rejects.toThrow('rolled back');
    expect(await a.boss.findJobs(TURN_QUEUE, { key: 'local:general:t2' })).toEqual([]);
    expect(await a.store.inbox.get('local:t2-never')).toBeUndefined();
    // A duplicate delivery enqueues nothing more.
    await a.core.inbox.accept(hello);
    expect(await a.boss.findJobs(TURN_QUEUE, { key: 'local:general:t1' })).toHaveLength(1);
  });

  it('two instances: every message answered once, in order, never two turns of a conversation at once', async () => {
    const url = await database();
    const a = await instance(url, 'a', 2);
    const b = await instance(url, 'b', 2);
    let inFlight = new Map<string, number>();
    let overlap = 0;
    for (const i of [a, b]) {
      i.core.runner.auto = undefined;
      await i.worker.start();
    }
    // Each runner answers after a short while, recording overlaps per conversation. The first
    // answers wait until four turns run at once: with two turn slots per worker, both workers run some.
    let wave = false;
    const answer = (i: Instance) =>
      setInterval(() => {
        if (!wave && a.core.runner.runs.length + b.core.runner.runs.length < 4) return;
        wave = true;
        for (const run of i.core.runner.runs.splice(0)) {
          const conv = run.req.prompt.match(/\[(c\d)\]/)?.[1] ?? '?';
          const n = (inFlight.get(conv) ?? 0) + 1;
          inFlight.set(conv, n);
          if (n > 1) overlap++;
          setTimeout(() => {
            inFlight.set(conv, (inFlight.get(conv) ?? 1) - 1);
            run.finish({ ok: true, text: `echo: ${run.req.prompt.split('\n').at(-1)}` });
          }, 30);
        }
      }, 5);
    const timers = [answer(a), answer(b)];
    cleanups.push(async () => timers.forEach(clearInterval));
    inFlight = new Map();
    const sent: Array<{ conv: string; text: string }> = [];
    for (let m = 0; m < 4; m++)
      for (let c = 0; c < 4; c++) {
        const text = `[c${c}] m${m}`;
        await (m % 2 ? b : a).core.router.accept(localMessage(`c${c}`, text, { eventKey: `local:c${c}-${m}` }));
        sent.push({ conv: `c${c}`, text });
      }
    await waitFor(async () => (await a.store.inbox.countByState()).done === 16, 60_000, 'all 16 messages done');
    // Both workers' platform calls, in the order they were made.
    const posted = () => [...a.core.adapter.calls, ...b.core.adapter.calls].filter((c) => c.op === 'post' || c.op === 'edit').sort((x, y) => x.seq! - y.seq!);
    // Committed answers are delivered just after the commit: wait for each conversation's last one.
    await waitFor(
      () => [0, 1, 2, 3].every((c) => posted().some((p) => p.target.thread === `c${c}` && p.text?.startsWith('echo:') && p.text.endsWith('m3'))),
      30_000,
      'the last answers',
    );
    expect(overlap).toBe(0);
    const posts = posted();
    for (let c = 0; c < 4; c++) {
      const texts = posts.filter((p) => p.target.thread === `c${c}` && p.text?.startsWith('echo:')).map((p) => p.text);
      // Each message is answered: in order, once (messages that arrived during a turn join the next one).
      const last = texts.map((t) => Number(/m(\d)/.exec(t ?? '')?.[1]));
      expect(last).toEqual([...last].sort());
      expect(new Set(texts).size).toBe(texts.length);
      expect(last.at(-1)).toBe(3);
    }
    // Both workers ran turns.
    expect(a.core.adapter.calls.some((c) => c.text?.startsWith('echo:'))).toBe(true);
    expect(b.core.adapter.calls.some((c) => c.text?.startsWith('echo:'))).toBe(true);
  });

  it('fencing: a turn whose claim was taken over cannot commit its answer', async () => {
    const url = await database();
    const a = await instance(url, 'a');
    const m = localMessage('f1', 'fenced');
    await a.core.inbox.accept(m);
    const mine = a.core.inbox.claimed('job-1:0');
    const theirs = a.core.inbox.claimed('job-1:1');
    await a.store.transaction((tx) => mine.start([m.eventKey], tx));
    // The takeover: the rows are put back and started under the new attempt's claim.
    await a.core.inbox.requeue([m.eventKey]);
    await a.store.transaction((tx) => theirs.start([m.eventKey], tx));
    // The old attempt can neither start again nor commit; its answer stays out of the outbox.
    await expect(a.store.transaction((tx) => mine.start([m.eventKey], tx))).rejects.toBeInstanceOf(TurnFencedError);
    await expect(
      a.core.outbound.enqueue({ conversationId: m.conversationId, replyTarget: m.replyTarget }, 'stale answer', {
        alsoInTx: (tx) => mine.finish([m.eventKey], 'done', tx),
      }),
    ).rejects.toBeInstanceOf(TurnFencedError);
    expect(await a.store.outbox.pendingFor(m.conversationId)).toEqual([]);
    expect((await a.store.inbox.get(m.eventKey))?.state).toBe('running');
    // The current attempt commits.
    await a.core.outbound.enqueue({ conversationId: m.conversationId, replyTarget: m.replyTarget }, 'fresh answer', {
      alsoInTx: (tx) => theirs.finish([m.eventKey], 'done', tx),
    });
    expect((await a.store.inbox.get(m.eventKey))?.state).toBe('done');
  });

  it('a job taken over elsewhere: the next worker tells the thread, re-runs the cut turn, and the first one commits nothing', { timeout: 90_000 }, async () => {
    const url = await database();
    const a = await instance(url, 'a');
    const b = await instance(url, 'b');
    await a.worker.start();
    const m = localMessage('k1', 'long task');
    await a.core.router.accept(m);
    await a.core.runner.waitRuns(1);
    // As if a's heartbeat lapsed (a takes no new jobs): pg-boss fails the job and b takes the retry.
    await a.worker.stop();
    const [job] = await a.boss.findJobs(TURN_QUEUE, { key: m.conversationId });
    await a.boss.fail(TURN_QUEUE, job!.id, { reason: 'heartbeat lapsed (test)' });
    await b.worker.start();
    b.core.runner.auto = () => ({ ok: true, text: 'answer from b' });
    await waitFor(async () => (await b.store.inbox.get(m.eventKey))?.state === 'done', 60_000, 'b to answer');
    // a's heartbeat found the claim gone: its turn was abandoned (the agent stopped).
    await waitFor(() => a.core.runner.runs[0]!.req.signal?.aborted, 30_000, "a's agent to be stopped");
    a.core.runner.runs[0]!.finish({ ok: true, text: 'answer from a' });
    await new Promise((r) => setTimeout(r, 300));
    const texts = [...a.core.adapter.calls, ...b.core.adapter.calls].map((c) => c.text ?? '');
    expect(texts.filter((t) => t.includes('answer from b'))).toHaveLength(1);
    expect(texts.some((t) => t.includes('answer from a'))).toBe(false);
    expect(texts.some((t) => t.includes('restarted while working on your message'))).toBe(true);
  });
});
