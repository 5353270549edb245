/**
 * Cluster instances: the `cluster_instances` repository on both backends (upsert by id, a beat
 * clears a stop, times above 2^31 back as numbers, prune by heartbeat; `inbox.failUnfinished`
 * used by `cluster skip`), and {@link InstanceHeartbeat} (beats at start and on its interval with
 * the turns running, marks the row stopped, never throws when the store fails).
 */
import { afterEach, describe, expect, it } from 'vitest';
import { createLogger } from '../../src/logger.js';
import { InstanceHeartbeat } from '../../src/cluster/instances.js';
import type { ClusterInstanceRow, ClusterInstancesRepo, Store } from '../../src/store/types.js';
import { BACKENDS, openTestStore } from '../helpers/backends.js';
import { localMessage } from '../helpers/fakes.js';

/** A millisecond time above 2^31. */
const T = 1_760_000_000_000;

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function open(backend: (typeof BACKENDS)[number]): Promise<Store> {
  const { store, cleanup } = await openTestStore(backend, { shared: true });
  cleanups.push(cleanup);
  return store;
}

function row(id: string, heartbeatAt: number, extra: Partial<ClusterInstanceRow> = {}): Omit<ClusterInstanceRow, 'stoppedAt'> {
  return {
    id,
    host: 'h1',
    pid: 4242,
    roles: ['ingress', 'worker', 'leader'],
    url: 'http://10.0.0.5:8787',
    startedAt: T,
    heartbeatAt,
    turnsRunning: 2,
    ...extra,
  };
}

describe.each(BACKENDS)('cluster instances repository (%s)', (backend) => {
  it('upserts by id, lists by id, marks stopped, a beat clears the stop, prunes by heartbeat', async () => {
    const store = await open(backend);
    await store.clusterInstances.beat(row('b', T + 1000));
    await store.clusterInstances.beat(row('a', T + 500, { roles: ['worker'], url: null, turnsRunning: 0 }));
    expect(await store.clusterInstances.list()).toEqual([
      { ...row('a', T + 500, { roles: ['worker'], url: null, turnsRunning: 0 }), stoppedAt: null },
      { ...row('b', T + 1000), stoppedAt: null },
    ]);

    // A second beat replaces the row (not a second row).
    await store.clusterInstances.beat(row('b', T + 6000, { turnsRunning: 5, pid: 7 }));
    const b = (await store.clusterInstances.list()).find((r) => r.id === 'b')!;
    expect(b).toEqual({ ...row('b', T + 6000, { turnsRunning: 5, pid: 7 }), stoppedAt: null });
    expect(typeof b.heartbeatAt).toBe('number');

    expect(await store.clusterInstances.markStopped('b', T + 7000)).toBe(true);
    expect(await store.clusterInstances.markStopped('nope', T)).toBe(false);
    expect((await store.clusterInstances.list()).find((r) => r.id === 'b')).toMatchObject({ stoppedAt: T + 7000, turnsRunning: 0 });
    // Started again under the same id: running again.
    await store.clusterInstances.beat(row('b', T + 9000));
    expect((await store.clusterInstances.list()).find((r) => r.id === 'b')!.stoppedAt).toBeNull();

    expect(await store.clusterInstances.prune(T + 1000)).toBe(1); // a (T+500); b beat at T+9000
    expect((await store.clusterInstances.list()).map((r) => r.id)).toEqual(['b']);
  });

  it('inbox.failUnfinished closes only that conversation’s queued and running rows, oldest first', async () => {
    const store = await open(backend);
    const m1 = localMessage('t1', 'one', { receivedAt: T + 2 });
    const m2 = localMessage('t1', 'two', { receivedAt: T + 1 });
    const m3 = localMessage('t1', 'three', { receivedAt: T + 3 });
    const other = localMessage('t2', 'other', { receivedAt: T });
    for (const m of [m1, m2, m3, other]) await store.inbox.accept(m);
    await store.inbox.markRunning([m2.eventKey]);
    await store.inbox.markRunning([m3.eventKey]);
    await store.inbox.markDone([m3.eventKey]);
    expect(await store.inbox.failUnfinished('local:general:t1')).toEqual([m2.eventKey, m1.eventKey]);
    expect((await store.inbox.get(m1.eventKey))!.state).toBe('failed');
    expect((await store.inbox.get(m2.eventKey))!.state).toBe('failed');
    expect((await store.inbox.get(m3.eventKey))!.state).toBe('done');
    expect((await store.inbox.get(other.eventKey))!.state).toBe('queued');
    expect(await store.inbox.failUnfinished('local:general:t1')).toEqual([]);
  });
});

/** A repo in memory that records every write, and fails while `failing`. */
function memoryRepo(): Pick<ClusterInstancesRepo, 'beat' | 'markStopped'> & {
  beats: Omit<ClusterInstanceRow, 'stoppedAt'>[];
  stopped: number[];
  failing: boolean;
  waiters: Array<() => void>;
} {
  const repo = {
    beats: [] as Omit<ClusterInstanceRow, 'stoppedAt'>[],
    stopped: [] as number[],
    failing: false,
    waiters: [] as Array<() => void>,
    async beat(r: Omit<ClusterInstanceRow, 'stoppedAt'>) {
      if (repo.failing) throw new Error('connection refused');
      repo.beats.push(r);
      for (const w of repo.waiters.splice(0)) w();
    },
    async markStopped(_id: string, at: number) {
      if (repo.failing) throw new Error('connection refused');
      repo.stopped.push(at);
      return true;
    },
  };
  return repo;
}

/** A logger whose warnings are collected. */
function collectingLogger(): { logger: ReturnType<typeof createLogger>; warnings: string[] } {
  const warnings: string[] = [];
  const stream = { write: (line: string) => void warnings.push(line) } as unknown as NodeJS.WritableStream;
  return { logger: createLogger('warn', stream), warnings };
}

describe('InstanceHeartbeat', () => {
  it('beats at start and every interval with the turns running, then marks the row stopped and beats no more', async () => {
    const repo = memoryRepo();
    let turns = 1;
    let clock = T;
    const hb = new InstanceHeartbeat({
      repo,
      instanceId: 'i1',
      roles: ['worker'],
      url: 'http://h:1',
      turnsRunning: () => turns,
      logger: createLogger('silent'),
      intervalMs: 20,
      host: 'h',
      pid: 9,
      now: () => clock,
    });
    await hb.start();
    expect(repo.beats).toEqual([{ id: 'i1', host: 'h', pid: 9, roles: ['worker'], url: 'http://h:1', startedAt: T, heartbeatAt: T, turnsRunning: 1 }]);
    turns = 3;
    clock = T + 20;
    await new Promise<void>((r) => repo.waiters.push(r));
    expect(repo.beats[1]).toMatchObject({ heartbeatAt: T + 20, turnsRunning: 3, startedAt: T });
    clock = T + 50;
    await hb.stop();
    expect(repo.stopped).toEqual([T + 50]);
    const n = repo.beats.length;
    await new Promise((r) => setTimeout(r, 80));
    expect(repo.beats.length).toBe(n);
    await hb.stop(); // idempotent
    expect(repo.stopped).toEqual([T + 50]);
  });

  it('logs a failed write once, never throws, and writes again when the store is back', async () => {
    const repo = memoryRepo();
    repo.failing = true;
    const { logger, warnings } = collectingLogger();
    const hb = new InstanceHeartbeat({ repo, instanceId: 'i2', roles: ['leader'], turnsRunning: () => 0, logger, intervalMs: 10, host: 'h', pid: 1 });
    await expect(hb.start()).resolves.toBeUndefined();
    await hb.beat();
    await hb.beat();
    expect(warnings.filter((w) => w.includes('cluster heartbeat could not be written'))).toHaveLength(1);
    repo.failing = false;
    await new Promise<void>((r) => repo.waiters.push(r));
    expect(repo.beats[0]).toMatchObject({ id: 'i2', url: null, roles: ['leader'] });
    repo.failing = true;
    await expect(hb.stop()).resolves.toBeUndefined();
    expect(warnings.some((w) => w.includes('could not be marked stopped'))).toBe(true);
  });
});
