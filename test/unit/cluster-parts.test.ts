/**
 * Cluster mode's smaller parts (docs/ARCHITECTURE.md §10): the database liveness watchdog, the
 * maintenance wake-ups, delivery leases (repository on both backends; two outboxes on one
 * PostgreSQL database deliver a conversation's rows once each, in order), approvals decided on
 * another instance, and the configuration.
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { OutgoingFiles } from '../../src/store/outgoing-files.js';
import type { PlatformAdapter } from '../../src/platforms/types.js';
import { createLogger } from '../../src/logger.js';
import { DatabaseLiveness } from '../../src/cluster/liveness.js';
import { wakeStaleConversations } from '../../src/cluster/maintenance.js';
import { ConfigError, loadConfig, parseRoles } from '../../src/config.js';
import { BACKENDS, openTestStore } from '../helpers/backends.js';
import { startCore } from '../helpers/core.js';
import { localMessage } from '../helpers/fakes.js';
import { openPostgresStore } from '../../src/store/postgres.js';
import { freshPostgresDatabase } from '../helpers/pg.js';
import { waitFor } from '../helpers/sandbox.js';

const logger = createLogger('silent');
const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c().catch(() => {});
});
const machine = () => ({ cpus: 2, memoryBytes: 8 * 2 ** 30 });

describe('DatabaseLiveness', () => {
  it('declares the claims lost once no probe succeeded for the window, once per outage; fresh again after a probe', async () => {
    let now = 0;
    let ok = false;
    const lost: number[] = [];
    const l = new DatabaseLiveness({
      probe: async () => {
        if (!ok) throw new Error('down');
      },
      windowMs: 10_000,
      everyMs: 5,
      logger,
      now: () => now,
    });
    l.onLost(() => lost.push(now));
    l.start();
    cleanups.push(async () => l.stop());
    now = 9_000;
    await new Promise((r) => setTimeout(r, 30));
    expect(l.fresh()).toBe(true);
    expect(lost).toEqual([]);
    now = 10_500;
    await waitFor(() => lost.length === 1, 2_000, 'lost');
    expect(l.fresh()).toBe(false);
    now = 12_000;
    await new Promise((r) => setTimeout(r, 30));
    expect(lost).toHaveLength(1); // once per outage
    ok = true;
    await waitFor(() => l.fresh(), 2_000, 'fresh again');
  });

  it('a process paused past the window (a clock jump) is not fresh before any probe runs', () => {
    let now = 0;
    const l = new DatabaseLiveness({ probe: async () => {}, windowMs: 10_000, logger, now: () => now });
    expect(l.fresh()).toBe(true);
    now = 60_000; // SIGSTOP for a minute
    expect(l.fresh()).toBe(false);
  });
});

describe.each(BACKENDS)('maintenance (%s)', (backend) => {
  it('wakes each conversation with unfinished rows untouched since the cut-off, once', async () => {
    const { store, cleanup } = await openTestStore(backend);
    cleanups.push(cleanup);
    for (const [conv, key] of [
      ['a', 'a1'],
      ['a', 'a2'],
      ['b', 'b1'],
      ['c', 'c1'],
      ['d', 'd1'],
    ] as const)
      await store.inbox.accept(localMessage(conv, key, { eventKey: key }));
    // d is done; b was touched after the cut-off
    await store.inbox.markDone(['d1']);
    const cutOff = Date.now() + 1;
    await new Promise((r) => setTimeout(r, 5));
    await store.inbox.markRunning(['b1']);
    const woken: string[] = [];
    const withJobs = { inbox: store.inbox, turnJobs: { wake: async (id: string) => void woken.push(id) } } as unknown as Parameters<
      typeof wakeStaleConversations
    >[0];
    expect(await wakeStaleConversations(withJobs, cutOff)).toBe(2);
    expect(woken).toEqual(['local:general:a', 'local:general:c']);
  });
});

describe.each(BACKENDS)('delivery leases (%s)', (backend) => {
  it('one holder at a time; the holder extends it; another takes it once it lapsed or was released', async () => {
    const { store, cleanup } = await openTestStore(backend);
    cleanups.push(cleanup);
    const leases = store.deliveryLeases;
    expect(await leases.take('conv', 'a', 1_000, 0)).toBe(true);
    expect(await leases.take('conv', 'b', 1_000, 500)).toBe(false);
    expect(await leases.take('conv', 'a', 1_000, 900)).toBe(true); // extended to 1,900
    expect(await leases.take('conv', 'b', 1_000, 1_500)).toBe(false);
    expect(await leases.take('conv', 'b', 1_000, 2_000)).toBe(true); // lapsed
    await leases.release('conv', 'a'); // not a's any more: nothing happens
    expect(await leases.take('conv', 'a', 1_000, 2_100)).toBe(false);
    await leases.release('conv', 'b');
    expect(await leases.take('conv', 'a', 1_000, 2_200)).toBe(true);
  });
});

describe('outbox delivery in a cluster', () => {
  it('two instances delivering one conversation at once post each row once, in order', async () => {
    const db = await freshPostgresDatabase();
    cleanups.push(db.drop);
    const cores = await Promise.all(
      ['a', 'b'].map(async (id) => {
        const store = await openPostgresStore({ url: db.url, logger });
        const core = startCore({ store, cluster: { instanceId: id, deliveryLeaseMs: 5_000 } });
        cleanups.push(() => core.close());
        return core;
      }),
    );
    const [a, b] = cores as [(typeof cores)[0], (typeof cores)[0]];
    const m = localMessage('d1', 'x');
    const to = { conversationId: m.conversationId, replyTarget: m.replyTarget };
    for (let i = 0; i < 12; i++) await a.outbound.enqueue(to, `row ${i}`);
    await Promise.all([
      a.outbox.deliver(m.conversationId),
      b.outbox.deliver(m.conversationId),
      a.outbox.deliver(m.conversationId),
      b.outbox.deliver(m.conversationId),
    ]);
    await waitFor(async () => (await a.store.outbox.pendingFor(m.conversationId)).length === 0, 20_000, 'every row delivered');
    const posts = [...a.adapter.calls, ...b.adapter.calls].filter((c) => c.op === 'post').map((c) => c.text);
    expect(posts.sort()).toEqual(Array.from({ length: 12 }, (_, i) => `row ${i}`).sort());
    // Order: each adapter's posts are in row order, and the rows went out under one lease at a time.
    for (const core of [a, b]) {
      const mine = core.adapter.calls.filter((c) => c.op === 'post').map((c) => Number(c.text?.split(' ')[1]));
      expect(mine).toEqual([...mine].sort((x, y) => x - y));
    }
  });

  it('one drain takes the lease once for many rows (renewed only once a third of its time passed) and releases it once', async () => {
    const db = await freshPostgresDatabase();
    cleanups.push(db.drop);
    const store = await openPostgresStore({ url: db.url, logger });
    const core = startCore({ store, cluster: { instanceId: 'a', deliveryLeaseMs: 30_000 } });
    cleanups.push(() => core.close());
    const calls: string[] = [];
    const leases = core.store.deliveryLeases;
    const take = leases.take.bind(leases);
    const release = leases.release.bind(leases);
    leases.take = (...args) => (calls.push('take'), take(...args));
    leases.release = (...args) => (calls.push('release'), release(...args));
    const m = localMessage('d2', 'x');
    const to = { conversationId: m.conversationId, replyTarget: m.replyTarget };
    for (let i = 0; i < 8; i++) await core.outbound.enqueue(to, `row ${i}`);
    calls.length = 0;
    await core.outbox.deliver(m.conversationId);
    await waitFor(async () => (await core.store.outbox.pendingFor(m.conversationId)).length === 0, 20_000, 'every row delivered');
    expect(core.adapter.calls.filter((c) => c.op === 'post').map((c) => c.text)).toEqual(Array.from({ length: 8 }, (_, i) => `row ${i}`));
    expect(calls).toEqual(['take', 'release']);
  });
});

describe('approvals in a cluster', () => {
  it('a decision recorded on another instance reaches the waiting turn', async () => {
    const db = await freshPostgresDatabase();
    cleanups.push(db.drop);
    const open = async (id: string) => {
      const store = await openPostgresStore({ url: db.url, logger });
      const core = startCore({ store, cluster: { instanceId: id, interactionPollMs: 50 } });
      cleanups.push(() => core.close());
      return core;
    };
    const a = await open('a');
    const b = await open('b');
    const m = localMessage('q1', 'x');
    await a.inbox.ensureConversation({ id: m.conversationId, platform: 'local', channel: 'general', thread: 'q1' });
    const signal = new AbortController().signal;
    const decided = a.interactions.ask(
      { conversationId: m.conversationId, replyTarget: m.replyTarget, agent: 'claude', requester: { id: 'local:ann', name: 'ann' }, signal },
      { kind: 'approval', tool: 'Bash', preview: { format: 'command', text: 'ls' }, ruleKey: 'ls' },
    );
    const row = await waitFor(async () => (await b.store.interactions.pending(m.conversationId))[0], 10_000, 'the request');
    // The click reaches instance b (e.g. its Slack ingress); the turn waits on a.
    const reply = await b.interactions.onAction({
      platform: 'local',
      actionId: `ab:${row.id}:approve`,
      userId: 'ann',
      userName: 'ann',
      channel: 'general',
      thread: 'q1',
      messageRef: 'x',
    });
    expect(reply.status).toBe('ok');
    expect((await decided).kind).toBe('allow');
  });
});

describe('cluster configuration', () => {
  it('needs PostgreSQL, names bad roles, defaults to every role and a host-pid instance id', () => {
    const err = (() => {
      try {
        loadConfig({ AGENTBRIDGE_CLUSTER: '1', AGENTBRIDGE_ROLES: 'ingress,boss', AGENTBRIDGE_CLUSTER_HEARTBEAT_S: '5' }, '/srv', undefined, machine);
      } catch (e) {
        return e as ConfigError;
      }
      throw new Error('no error');
    })();
    expect(err).toBeInstanceOf(ConfigError);
    expect(err.message).toContain('"boss": each role must be one of ingress, worker, leader');
    expect(err.message).toContain('AGENTBRIDGE_CLUSTER_HEARTBEAT_S');
    expect(() => loadConfig({ AGENTBRIDGE_CLUSTER: '1' }, '/srv', undefined, machine)).toThrow(/cluster mode needs PostgreSQL/);
    expect(() => loadConfig({ AGENTBRIDGE_ROLES: 'worker' }, '/srv', undefined, machine)).toThrow(/roles apply in cluster mode only/);
    const c = loadConfig({ AGENTBRIDGE_CLUSTER: '1', AGENTBRIDGE_DATABASE_URL: 'postgres://u:p@db/x' }, '/srv', undefined, machine);
    expect(c.cluster).toMatchObject({ roles: ['ingress', 'worker', 'leader'], heartbeatS: 10, workspacesShared: false });
    expect(c.cluster?.instanceId).toMatch(/^[A-Za-z0-9._-]+-\d+$/);
    expect(loadConfig({ AGENTBRIDGE_DATABASE_URL: 'postgres://u:p@db/x' }, '/srv', undefined, machine).cluster).toBeUndefined();
    expect(parseRoles('leader, worker,worker')).toEqual(['worker', 'leader']);
  });
});

describe('files sent in a cluster', () => {
  it('a file row whose copy another instance holds is not given up by the instance that reaches it first: its owner posts it, once', async () => {
    const db = await freshPostgresDatabase();
    cleanups.push(db.drop);
    const open = async (id: string) => {
      const store = await openPostgresStore({ url: db.url, logger });
      const core = startCore({ store, cluster: { instanceId: id, deliveryLeaseMs: 5_000 }, retryDelaysMs: [50] });
      cleanups.push(() => core.close());
      return core;
    };
    const owner = await open('owner');
    const other = await open('other');
    const posted: Array<{ by: string; name: string; bytes: string }> = [];
    for (const [by, core] of [
      ['owner', owner],
      ['other', other],
    ] as const) {
      core.adapter.limits = { ...core.adapter.limits, maxFileBytes: 1024 };
      const withFiles = core.adapter as Pick<PlatformAdapter, 'postFile'>;
      withFiles.postFile = async (target, file) => {
        posted.push({ by, name: file.name, bytes: fs.readFileSync(file.path, 'utf8') });
        return { ref: `file-${posted.length}`, channel: target.channel };
      };
    }
    const src = path.join(owner.dir, 'report.txt');
    fs.writeFileSync(src, 'the report');
    const copy = new OutgoingFiles(owner.dir).put(src, 1024);
    const m = localMessage('f1', 'x');
    const to = { conversationId: m.conversationId, replyTarget: m.replyTarget };
    await owner.outbound.enqueueFile(to, { id: copy.id, name: 'report.txt', size: copy.size });
    // The other instance gets to the row first: it has no copy, and leaves the row for the owner.
    await other.outbox.deliver(m.conversationId);
    expect((await owner.store.outbox.pendingFor(m.conversationId)).map((r) => r.state)).toEqual(['pending']);
    await owner.outbox.deliver(m.conversationId);
    await waitFor(async () => (await owner.store.outbox.pendingFor(m.conversationId)).length === 0, 20_000, 'the file row delivered');
    expect(posted).toEqual([{ by: 'owner', name: 'report.txt', bytes: 'the report' }]);
  });
});
