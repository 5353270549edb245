/**
 * Cluster visibility against a real pg-boss (12.38) on a new test database: the status of two
 * fake instances (one stale, one stopped) with lease holders, the turn queue's depth and a blocked
 * conversation (a key_strict_fifo job failed with retryLimit 0 holds back its key's later job);
 * `retry` makes it run again before the later job; `skip` fails the conversation's inbox rows and
 * lets the later job run; the Markdown and text forms; a database without pg-boss.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PgBoss } from 'pg-boss';
import { createLogger } from '../../src/logger.js';
import { PGBOSS_SCHEMA, TURN_QUEUE } from '../../src/cluster/constants.js';
import { blockedNotice, retryBlocked, skipBlocked } from '../../src/cluster/blocked.js';
import { failureMessage, formatClusterStatus, formatClusterStatusText, gatherClusterStatus, type LeaseHolder } from '../../src/cluster/status.js';
import { openQueueReader, QueueNotInstalledError } from '../../src/cluster/turn-queue.js';
import { openPostgresStore, type PostgresStore } from '../../src/store/postgres.js';
import { freshPostgresDatabase } from '../helpers/pg.js';
import { localMessage } from '../helpers/fakes.js';

let db: { url: string; drop: () => Promise<void> };
let store: PostgresStore;
/** The "instance" that works the queue (as a worker would). */
let worker: PgBoss;
/** The CLI's reader: no maintenance, not migrating. */
let reader: { boss: PgBoss; close: () => Promise<void> };

beforeAll(async () => {
  db = await freshPostgresDatabase();
  store = await openPostgresStore({ url: db.url, logger: createLogger('silent') });
  worker = new PgBoss({ connectionString: db.url, schema: PGBOSS_SCHEMA, supervise: false, schedule: false, max: 3 });
  worker.on('error', () => {});
  await worker.start();
  await worker.createQueue(TURN_QUEUE, { policy: 'key_strict_fifo', retryLimit: 0 });
  reader = await openQueueReader(db.url);
}, 60_000);

afterAll(async () => {
  await reader?.close();
  await worker?.stop({ graceful: false, timeout: 1000 });
  await store?.close();
  await db?.drop();
});

/** Sends one wake-up job for `conversation` (its id as the singleton key). */
async function send(conversation: string, n: number): Promise<string> {
  const id = await worker.send(TURN_QUEUE, { conversation, n }, { singletonKey: conversation, retryLimit: 0 });
  expect(id).toBeTruthy();
  return id!;
}

/** Fetches what is fetchable now (any number of keys, one job each). */
async function fetchAll(): Promise<{ id: string; key: string; n: number }[]> {
  const jobs = await worker.fetch<{ conversation: string; n: number }>(TURN_QUEUE, { batchSize: 10 });
  return jobs.map((j) => ({ id: j.id, key: j.data.conversation, n: j.data.n }));
}

const A = 'local:general:a';
const B = 'local:general:b';
const C = 'local:general:c';

describe('cluster status, retry and skip on pg-boss', () => {
  it('lists instances (live, stale, stopped), lease holders, queue depth and the blocked conversation; retry runs it again in order', async () => {
    const now = Date.now();
    const base = { pid: 1, url: null, startedAt: now - 60_000, turnsRunning: 0 };
    await store.clusterInstances.beat({ ...base, id: 'i-live', host: 'h1', roles: ['ingress', 'worker', 'leader'], heartbeatAt: now - 2000, turnsRunning: 2 });
    await store.clusterInstances.beat({ ...base, id: 'i-stale', host: 'h2', roles: ['worker'], heartbeatAt: now - 20_000, turnsRunning: 1 });
    await store.clusterInstances.beat({ ...base, id: 'i-stopped', host: 'h3', roles: ['worker'], heartbeatAt: now - 1000 });
    await store.clusterInstances.markStopped('i-stopped', now - 500);

    const a1 = await send(A, 1);
    const a2 = await send(A, 2);
    const b1 = await send(B, 1);
    const first = await fetchAll();
    expect(first.map((j) => j.id).sort()).toEqual([a1, b1].sort()); // one job per key
    await worker.fail(TURN_QUEUE, a1, { message: 'agent exited with code 1' });
    await worker.complete(TURN_QUEUE, b1);
    expect(await fetchAll()).toEqual([]); // a2 waits behind the failed a1
    await worker.supervise(TURN_QUEUE); // a monitor pass (the running instances do it every minute)

    const leaseHolders = async (): Promise<LeaseHolder[]> => [{ lease: 'scheduler', instanceId: 'i-live', since: now - 90_000 }];
    const status = await gatherClusterStatus({ instances: store.clusterInstances, leaseHolders, queue: reader.boss, now: () => now });
    expect(status.instances.map((i) => [i.id, i.live, i.stopped, i.heartbeatAgeS, i.turnsRunning])).toEqual([
      ['i-live', true, false, 2, 2],
      ['i-stale', false, false, 20, 1],
      ['i-stopped', false, true, 1, 0],
    ]);
    expect(status.leases).toEqual([
      { lease: 'discord-gateway', holder: undefined, known: true },
      { lease: 'scheduler', holder: { lease: 'scheduler', instanceId: 'i-live', since: now - 90_000 }, known: true },
      { lease: 'maintenance', holder: undefined, known: true },
    ]);
    expect(status.queue).toMatchObject({ queued: 1, active: 0, failed: 1 });
    expect(status.blocked).toEqual([{ conversationId: A, jobIds: [a1], failedAt: expect.any(Number), error: 'agent exited with code 1', waiting: 1 }]);

    expect(formatClusterStatus(status)).toContain('- blocked conversations: 1 (`agentbridge cluster status` lists them)');
    expect(formatClusterStatus(status)).not.toContain(A);
    const md = formatClusterStatus(status, { blockedDetails: true });
    expect(md).toContain('- instances: 1 live of 3');
    expect(md).toContain('`i-stale` on h2 (worker): not live, heartbeat 20s ago, 1 turn running');
    expect(md).toContain('scheduler → `i-live (for 1m 30s)`');
    expect(md).toContain('discord-gateway → nobody');
    expect(md).toContain(`\`${A}`);
    expect(md).toContain('agent exited with code 1');
    const text = formatClusterStatusText(status);
    expect(text).toMatch(/^ {2}ID\s+HOST\s+PID\s+ROLES\s+STATE\s+HEARTBEAT\s+TURNS$/m);
    expect(text).toMatch(/^ {2}i-stopped\s+h3\s+1\s+worker\s+stopped\s+1s ago\s+0$/m);
    expect(text).toMatch(/^ {2}scheduler\s+i-live \(for 1m 30s\)$/m);
    expect(text).toContain('turn queue: 1 queued (0 deferred), 0 running, 1 failed');
    expect(text).toContain(`blocked conversations: 1\n  ${A}, failed `);

    // retry: the failed job comes back first, then the one behind it.
    const retried = await retryBlocked(reader.boss, A);
    expect(retried).toEqual({ conversationId: A, jobIds: [a1] });
    expect(blockedNotice(retried)).toContain('retried');
    const again = await fetchAll();
    expect(again.map((j) => j.id)).toEqual([a1]);
    await worker.complete(TURN_QUEUE, a1);
    const next = await fetchAll();
    expect(next.map((j) => j.id)).toEqual([a2]);
    await worker.complete(TURN_QUEUE, a2);
    expect((await gatherClusterStatus({ instances: store.clusterInstances, leaseHolders, queue: reader.boss })).blocked).toEqual([]);
    // Not blocked (any more): nothing to do.
    expect(await retryBlocked(reader.boss, A)).toEqual({ conversationId: A, jobIds: [] });
    expect(blockedNotice({ conversationId: A, jobIds: [] })).toBeUndefined();
  });

  it('skip fails the conversation’s unfinished inbox rows, removes the failed job, and the later job runs', async () => {
    const m1 = localMessage('c', 'one');
    const m2 = localMessage('c', 'two');
    const other = localMessage('d', 'elsewhere');
    for (const m of [m1, m2, other]) await store.inbox.accept(m);
    const c1 = await send(C, 1);
    const c2 = await send(C, 2);
    expect((await fetchAll()).map((j) => j.id)).toEqual([c1]);
    await store.inbox.markRunning([m1.eventKey]);
    await worker.fail(TURN_QUEUE, c1, new Error('turn failed: timeout'));
    expect(await fetchAll()).toEqual([]);
    const [blocked] = (await gatherClusterStatus({ instances: store.clusterInstances, leaseHolders: async () => [], queue: reader.boss })).blocked;
    expect(blocked).toMatchObject({ conversationId: C, jobIds: [c1], waiting: 1 });
    expect(blocked!.error).toContain('turn failed: timeout');

    // Not blocked: nothing changes (other's row stays queued).
    expect(await skipBlocked(reader.boss, store.inbox, 'local:general:d')).toEqual({ conversationId: 'local:general:d', jobIds: [], failedEventKeys: [] });
    expect((await store.inbox.get(other.eventKey))!.state).toBe('queued');

    const skipped = await skipBlocked(reader.boss, store.inbox, C);
    expect(skipped).toEqual({ conversationId: C, jobIds: [c1], failedEventKeys: [m1.eventKey, m2.eventKey] });
    expect(blockedNotice(skipped)).toContain('2 messages will get no answer');
    expect((await store.inbox.get(m1.eventKey))!.state).toBe('failed');
    expect((await store.inbox.get(m2.eventKey))!.state).toBe('failed');
    expect((await store.inbox.get(other.eventKey))!.state).toBe('queued');
    expect((await fetchAll()).map((j) => j.id)).toEqual([c2]);
    await worker.complete(TURN_QUEUE, c2);
    expect((await gatherClusterStatus({ instances: store.clusterInstances, leaseHolders: async () => [], queue: reader.boss })).blocked).toEqual([]);
  });

  it('a database without pg-boss: the reader says so; no queue means no depth and nothing blocked', async () => {
    const empty = await freshPostgresDatabase();
    try {
      await expect(openQueueReader(empty.url)).rejects.toBeInstanceOf(QueueNotInstalledError);
    } finally {
      await empty.drop();
    }
    const status = await gatherClusterStatus({ instances: { list: async () => [] }, now: () => 0 });
    expect(status).toEqual({ at: 0, instances: [], leases: expect.any(Array), queue: undefined, blocked: [] });
    expect(status.leases.map((l) => l.known)).toEqual([false, false, false]); // no lease source: unknown, not "nobody"
    expect(formatClusterStatus(status)).toContain('scheduler → unknown');
    expect(formatClusterStatus(status)).toContain('no turn queue yet');
    expect(formatClusterStatusText(status)).toContain('none has beaten yet');
  });

  it('failureMessage reads what pg-boss kept', () => {
    expect(failureMessage({ message: 'boom\n  at x', stack: '…' })).toBe('boom at x');
    expect(failureMessage({ value: 'text' })).toBe('text');
    expect(failureMessage({})).toBeNull();
    expect(failureMessage({ message: 'connect postgres://u:hunter2@db/x failed' })).not.toContain('hunter2');
    expect(failureMessage(null)).toBeNull();
    expect(failureMessage({ message: 'x'.repeat(400) })).toHaveLength(300);
  });
});
