/**
 * The scheduler and local-chat repositories of the store (cron jobs, cron runs, scheduled
 * messages, interactions, local users, local uploads, projects) on both backends: SQLite and
 * PostgreSQL (test/helpers/backends.ts). Besides the behaviour, the places where the backends
 * could differ: millisecond times above 2^31 and COUNT(*)/MIN() read back as JS numbers (BIGINT
 * on PostgreSQL), booleans stored as 0/1, byte order of text keys (COLLATE "C"), the ON CONFLICT
 * paths, a LIMIT that is negative (SQLite's "no limit"), an empty `IN` list, NULL compared with
 * `IS NULL`, constraint errors of either driver, a savepoint inside the caller's transaction, and
 * every compare-and-set racing a second call (one wins, also under PostgreSQL's READ COMMITTED).
 */
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { newCronRun, type CronJob } from '../../src/core/schedule.js';
import type { InteractionRequest } from '../../src/core/interactions.js';
import type { Backend } from '../../src/store/sql/kysely.js';
import type { Store } from '../../src/store/types.js';
import { BACKENDS, openTestStore } from '../helpers/backends.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A millisecond time above 2^31 (a 32-bit column or parameter would overflow). */
const T = 1_760_000_000_000;

/** Text keys whose byte order (SQLite BINARY, PostgreSQL COLLATE "C") differs from a locale's order. */
const BYTE_ORDERED = ['B', 'Z', '_x', 'a', 'b', 'é'];

/** A constraint error of either driver (SqliteError / pg DatabaseError). */
const FOREIGN_KEY = /FOREIGN KEY|foreign key/;
const UNIQUE = /UNIQUE|PRIMARY|unique|duplicate key/;

/**
 * A compare-and-set race: `first` runs in a transaction that stays open after it (holding its row
 * locks on PostgreSQL; on SQLite holding the connection) while `second` is called outside it;
 * then the transaction commits, or rolls back when `rollback`. Resolves to both results and
 * whether `second` was still waiting when the transaction ended.
 */
async function race<A, B>(
  store: Store,
  first: (tx: Store) => Promise<A>,
  second: () => Promise<B>,
  rollback = false,
): Promise<{ first: A; second: B; waited: boolean }> {
  let entered!: () => void;
  const inside = new Promise<void>((r) => (entered = r));
  let release!: () => void;
  const hold = new Promise<void>((r) => (release = r));
  let firstResult: A | undefined;
  const tx = store.transaction(async (t) => {
    try {
      firstResult = await first(t);
    } finally {
      entered();
    }
    await hold;
    if (rollback) throw new Error('rolled back');
  });
  const settledTx = tx.then(
    () => undefined,
    (err: unknown) => err,
  );
  await inside;
  let done = false;
  const secondCall = second().finally(() => (done = true));
  await sleep(150);
  const waited = !done;
  release();
  const txError = await settledTx;
  if (!rollback && txError) throw txError as Error;
  return { first: firstResult as A, second: await secondCall, waited };
}

/** `n` calls of `fn` at once; their results. */
const together = <R>(n: number, fn: (i: number) => Promise<R>): Promise<R[]> => Promise.all(Array.from({ length: n }, (_, i) => fn(i)));

function job(id: string, fields: Partial<CronJob> = {}): Omit<CronJob, 'createdAt' | 'updatedAt'> {
  return {
    id,
    name: id,
    schedule: { kind: 'cron', expr: '0 9 * * *', tz: 'Europe/Berlin' },
    scheduleText: 'every day at 9',
    target: { platform: 'slack', channel: 'C1' },
    prompt: 'report',
    sessionMode: 'isolated',
    enabled: true,
    createdBy: 'slack:U1',
    consecutiveFailures: 0,
    nextRunAt: null,
    lastRunAt: null,
    ...fields,
  };
}

const approval: InteractionRequest = { kind: 'approval', tool: 'Bash', preview: { format: 'command', text: 'rm -rf build' }, ruleKey: 'rm' };

describe.each(BACKENDS)('scheduler and local repositories (%s)', (backend: Backend) => {
  let store: Store;
  let cleanup: () => Promise<void>;

  beforeEach(async () => {
    ({ store, cleanup } = await openTestStore(backend));
  });
  afterEach(async () => {
    vi.restoreAllMocks();
    await cleanup();
  });

  describe('cron jobs', () => {
    it('inserts and reads back every field: booleans, JSON, absent agent/model, times above 2^31', async () => {
      vi.spyOn(Date, 'now').mockReturnValue(T);
      const full = await store.cronJobs.insert(
        job('j1', { name: 'daily', agent: 'codex', model: 'gpt-5', enabled: false, consecutiveFailures: 3, nextRunAt: T + 60_000, lastRunAt: T - 1 }),
      );
      expect(full).toEqual({
        ...job('j1'),
        name: 'daily',
        agent: 'codex',
        model: 'gpt-5',
        enabled: false,
        consecutiveFailures: 3,
        nextRunAt: T + 60_000,
        lastRunAt: T - 1,
        createdAt: T,
        updatedAt: T,
      });
      const plain = await store.cronJobs.insert(
        job('j2', { schedule: { kind: 'every', everyMs: 3_600_000 }, target: { platform: 'discord', channel: '1', conversationId: 'discord:1:2' } }),
      );
      expect(plain).not.toHaveProperty('agent');
      expect(plain).not.toHaveProperty('model');
      expect(plain.enabled).toBe(true);
      expect(await store.cronJobs.get('j2')).toEqual(plain);
      expect(await store.cronJobs.getByName('daily')).toEqual(full);
      expect(typeof (await store.cronJobs.get('j1'))!.nextRunAt).toBe('number');
      expect(await store.cronJobs.get('nope')).toBeUndefined();
      expect(await store.cronJobs.getByName('nope')).toBeUndefined();
    });

    it('refuses a second job with a known id or name (the driver’s error)', async () => {
      await store.cronJobs.insert(job('j1'));
      await expect(store.cronJobs.insert(job('j1', { name: 'other' }))).rejects.toThrow(UNIQUE);
      await expect(store.cronJobs.insert(job('j2', { name: 'j1' }))).rejects.toThrow(UNIQUE);
      expect(await store.cronJobs.list()).toHaveLength(1);
    });

    it('lists by name in byte order', async () => {
      for (const name of [...BYTE_ORDERED].reverse()) await store.cronJobs.insert(job(`id-${name}`, { name }));
      expect((await store.cronJobs.list()).map((j) => j.name)).toEqual(BYTE_ORDERED);
    });

    it('update changes only the given fields (null clears a time, false disables) and updatedAt', async () => {
      const now = vi.spyOn(Date, 'now').mockReturnValue(T);
      await store.cronJobs.insert(job('j1', { nextRunAt: T + 5, lastRunAt: T - 5, consecutiveFailures: 2 }));
      now.mockReturnValue(T + 1000);
      expect(await store.cronJobs.update('j1', { enabled: false, nextRunAt: null })).toMatchObject({
        enabled: false,
        nextRunAt: null,
        lastRunAt: T - 5,
        consecutiveFailures: 2,
        createdAt: T,
        updatedAt: T + 1000,
      });
      expect(await store.cronJobs.update('j1', { enabled: true, consecutiveFailures: 0, lastRunAt: T + 999, nextRunAt: undefined })).toMatchObject({
        enabled: true,
        nextRunAt: null,
        lastRunAt: T + 999,
        consecutiveFailures: 0,
      });
      expect(await store.cronJobs.update('j1', {})).toMatchObject({ enabled: true, lastRunAt: T + 999 });
      expect(await store.cronJobs.update('nope', { enabled: false })).toBeUndefined();
    });

    it('due and nextDue: enabled jobs with a next run, earliest first then by id; numbers', async () => {
      expect(await store.cronJobs.nextDue()).toBeNull();
      await store.cronJobs.insert(job('b', { nextRunAt: T + 10 }));
      await store.cronJobs.insert(job('a', { nextRunAt: T + 10 }));
      await store.cronJobs.insert(job('c', { nextRunAt: T + 5 }));
      await store.cronJobs.insert(job('off', { nextRunAt: T, enabled: false }));
      await store.cronJobs.insert(job('never'));
      expect((await store.cronJobs.due(T + 10)).map((j) => j.id)).toEqual(['c', 'a', 'b']);
      expect((await store.cronJobs.due(T + 9)).map((j) => j.id)).toEqual(['c']);
      expect(await store.cronJobs.due(T)).toEqual([]);
      expect(await store.cronJobs.nextDue()).toBe(T + 5);
    });

    it('delete removes the job and its runs; false for an unknown id', async () => {
      await store.cronJobs.insert(job('j1'));
      const r = (await store.cronRuns.insert(newCronRun({ jobId: 'j1', scheduledFor: T, attempt: 1, status: 'ok' })))!;
      expect(await store.cronJobs.delete('j1')).toBe(true);
      expect(await store.cronJobs.get('j1')).toBeUndefined();
      expect(await store.cronRuns.get(r.id)).toBeUndefined();
      expect(await store.cronJobs.delete('j1')).toBe(false);
    });
  });

  describe('cron runs', () => {
    beforeEach(async () => {
      await store.cronJobs.insert(job('j1'));
      await store.cronJobs.insert(job('j2'));
    });

    it('inserts a run once per (job, due time, attempt); numeric ids; an unknown job is the driver’s error', async () => {
      const first = (await store.cronRuns.insert(newCronRun({ jobId: 'j1', scheduledFor: T, attempt: 1, status: 'running', startedAt: T + 1 })))!;
      expect(first).toEqual({
        id: expect.any(Number) as number,
        jobId: 'j1',
        scheduledFor: T,
        attempt: 1,
        kind: 'schedule',
        status: 'running',
        dueAt: null,
        conversationId: null,
        eventKey: null,
        startedAt: T + 1,
        endedAt: null,
        error: null,
        postedKey: null,
      });
      expect(await store.cronRuns.insert(newCronRun({ jobId: 'j1', scheduledFor: T, attempt: 1, status: 'queued', kind: 'manual' }))).toBeUndefined();
      expect(await store.cronRuns.get(first.id)).toEqual(first);
      const retry = (await store.cronRuns.insert(
        newCronRun({ jobId: 'j1', scheduledFor: T, attempt: 2, status: 'queued', kind: 'retry', dueAt: T + 60_000 }),
      ))!;
      expect(retry.id).toBeGreaterThan(first.id);
      expect(retry).toMatchObject({ kind: 'retry', dueAt: T + 60_000, attempt: 2 });
      await expect(store.cronRuns.insert(newCronRun({ jobId: 'nope', scheduledFor: T, attempt: 1, status: 'queued' }))).rejects.toThrow(FOREIGN_KEY);
      expect(await store.cronRuns.get(999_999)).toBeUndefined();
    });

    it('listForJob: newest first, at most limit (default 50; negative = all, as SQLite’s LIMIT -1)', async () => {
      for (let i = 0; i < 55; i++) await store.cronRuns.insert(newCronRun({ jobId: 'j1', scheduledFor: T + i, attempt: 1, status: 'ok' }));
      await store.cronRuns.insert(newCronRun({ jobId: 'j2', scheduledFor: T, attempt: 1, status: 'ok' }));
      const runs = await store.cronRuns.listForJob('j1');
      expect(runs).toHaveLength(50);
      expect(runs[0]!.scheduledFor).toBe(T + 54);
      expect((await store.cronRuns.listForJob('j1', 3)).map((r) => r.scheduledFor)).toEqual([T + 54, T + 53, T + 52]);
      expect(await store.cronRuns.listForJob('j1', -1)).toHaveLength(55);
      expect(await store.cronRuns.listForJob('j1', 0)).toEqual([]);
      expect(await store.cronRuns.listForJob('nope')).toEqual([]);
    });

    it('update changes the given fields (null clears), returns the run; an empty patch reads it; unknown id undefined', async () => {
      const r = (await store.cronRuns.insert(newCronRun({ jobId: 'j1', scheduledFor: T, attempt: 1, status: 'running', error: 'x' })))!;
      expect(await store.cronRuns.update(r.id, { status: 'failed', endedAt: T + 5, error: null, conversationId: 'slack:C1:1', postedKey: undefined })).toEqual({
        ...r,
        status: 'failed',
        endedAt: T + 5,
        error: null,
        conversationId: 'slack:C1:1',
      });
      expect(await store.cronRuns.update(r.id, {})).toMatchObject({ status: 'failed', endedAt: T + 5 });
      expect(await store.cronRuns.update(999_999, { status: 'ok' })).toBeUndefined();
      expect(await store.cronRuns.update(999_999, {})).toBeUndefined();
    });

    it('withStatus, runningIn, dueQueued and nextQueuedDue', async () => {
      expect(await store.cronRuns.nextQueuedDue()).toBeNull();
      const q1 = (await store.cronRuns.insert(newCronRun({ jobId: 'j1', scheduledFor: T, attempt: 1, status: 'queued', dueAt: T + 20 })))!;
      const q2 = (await store.cronRuns.insert(newCronRun({ jobId: 'j2', scheduledFor: T, attempt: 1, status: 'queued', dueAt: T + 10 })))!;
      const q3 = (await store.cronRuns.insert(newCronRun({ jobId: 'j2', scheduledFor: T + 1, attempt: 1, status: 'queued', dueAt: T + 10 })))!;
      const run1 = (await store.cronRuns.insert(newCronRun({ jobId: 'j1', scheduledFor: T + 1, attempt: 1, status: 'running', conversationId: 'c1' })))!;
      await store.cronRuns.insert(newCronRun({ jobId: 'j1', scheduledFor: T + 2, attempt: 1, status: 'ok', conversationId: 'c1' }));
      expect((await store.cronRuns.withStatus('queued')).map((r) => r.id)).toEqual([q1.id, q2.id, q3.id]);
      expect((await store.cronRuns.withStatus('queued', 'j2')).map((r) => r.id)).toEqual([q2.id, q3.id]);
      expect(await store.cronRuns.withStatus('skipped')).toEqual([]);
      expect((await store.cronRuns.runningIn('c1')).map((r) => r.id)).toEqual([run1.id]);
      expect(await store.cronRuns.runningIn('c2')).toEqual([]);
      expect((await store.cronRuns.dueQueued(T + 20)).map((r) => r.id)).toEqual([q2.id, q3.id, q1.id]);
      expect((await store.cronRuns.dueQueued(T + 10)).map((r) => r.id)).toEqual([q2.id, q3.id]);
      expect(await store.cronRuns.nextQueuedDue()).toBe(T + 10);
    });

    it('transition is a compare-and-set of the status', async () => {
      const r = (await store.cronRuns.insert(newCronRun({ jobId: 'j1', scheduledFor: T, attempt: 1, status: 'queued', dueAt: T })))!;
      expect(await store.cronRuns.transition(r.id, 'running', { status: 'ok' })).toBe(false);
      expect(await store.cronRuns.transition(r.id, 'queued', { status: 'running', startedAt: T + 1, dueAt: null })).toBe(true);
      expect(await store.cronRuns.get(r.id)).toMatchObject({ status: 'running', startedAt: T + 1, dueAt: null });
      expect(await store.cronRuns.transition(r.id, 'queued', { status: 'running' })).toBe(false);
      // An empty patch only compares.
      expect(await store.cronRuns.transition(r.id, 'running', {})).toBe(true);
      expect(await store.cronRuns.transition(r.id, 'queued', {})).toBe(false);
      expect(await store.cronRuns.transition(999_999, 'queued', { status: 'running' })).toBe(false);
      expect(await store.cronRuns.transition(999_999, 'queued', {})).toBe(false);
    });

    it('transition racing: exactly one of concurrent calls wins; a call waiting on a held row loses, or wins after a rollback', async () => {
      const r = (await store.cronRuns.insert(newCronRun({ jobId: 'j1', scheduledFor: T, attempt: 1, status: 'queued', dueAt: T })))!;
      const results = await together(5, (i) => store.cronRuns.transition(r.id, 'queued', { status: 'running', error: `instance ${i}` }));
      expect(results.filter(Boolean)).toHaveLength(1);
      expect((await store.cronRuns.get(r.id))!.error).toBe(`instance ${results.indexOf(true)}`);

      const held = await race(
        store,
        (tx) => tx.cronRuns.transition(r.id, 'running', { status: 'ok', error: 'first' }),
        () => store.cronRuns.transition(r.id, 'running', { status: 'failed', error: 'second' }),
      );
      expect(held).toEqual({ first: true, second: false, waited: true });
      expect(await store.cronRuns.get(r.id)).toMatchObject({ status: 'ok', error: 'first' });

      const undone = await race(
        store,
        (tx) => tx.cronRuns.transition(r.id, 'ok', { status: 'skipped' }),
        () => store.cronRuns.transition(r.id, 'ok', { status: 'failed', error: 'after rollback' }),
        true,
      );
      expect(undone).toEqual({ first: true, second: true, waited: true });
      expect(await store.cronRuns.get(r.id)).toMatchObject({ status: 'failed', error: 'after rollback' });
    });
  });

  describe('scheduled messages', () => {
    const msg = (id: string, dueAt: number, conversationId = 'local:a', everyMs: number | null = null) => ({
      id,
      conversationId,
      text: `text ${id}`,
      dueAt,
      everyMs,
      createdBy: 'agent',
      createdAt: T,
    });
    beforeEach(async () => {
      await store.conversations.ensure({ id: 'local:a', platform: 'local', channel: 'a' });
      await store.conversations.ensure({ id: 'local:b', platform: 'local', channel: 'b' });
    });

    it('inserts and reads back (times above 2^31, everyMs or null); an unknown conversation is the driver’s error', async () => {
      expect(await store.scheduledMessages.insert(msg('m1', T + 1, 'local:a', 86_400_000))).toEqual(msg('m1', T + 1, 'local:a', 86_400_000));
      expect(await store.scheduledMessages.get('m1')).toEqual(msg('m1', T + 1, 'local:a', 86_400_000));
      expect(await store.scheduledMessages.get('nope')).toBeUndefined();
      await expect(store.scheduledMessages.insert(msg('m2', T, 'local:nope'))).rejects.toThrow(FOREIGN_KEY);
      await expect(store.scheduledMessages.insert(msg('m1', T))).rejects.toThrow(UNIQUE);
    });

    it('lists, counts and deletes per conversation (an id of another conversation changes nothing)', async () => {
      await store.scheduledMessages.insert(msg('m2', T + 5));
      await store.scheduledMessages.insert(msg('m1', T + 5));
      await store.scheduledMessages.insert(msg('m0', T + 9));
      await store.scheduledMessages.insert(msg('b1', T, 'local:b'));
      expect((await store.scheduledMessages.listForConversation('local:a')).map((m) => m.id)).toEqual(['m1', 'm2', 'm0']);
      expect(await store.scheduledMessages.countForConversation('local:a')).toBe(3);
      expect(await store.scheduledMessages.countForConversation('local:none')).toBe(0);
      expect(await store.scheduledMessages.delete('local:b', 'm1')).toBe(false);
      expect(await store.scheduledMessages.delete('local:a', 'm1')).toBe(true);
      expect(await store.scheduledMessages.delete('local:a', 'm1')).toBe(false);
      expect(await store.scheduledMessages.deleteForConversation('local:a')).toBe(2);
      expect(await store.scheduledMessages.deleteForConversation('local:a')).toBe(0);
      expect(await store.scheduledMessages.get('b1')).toBeDefined();
    });

    it('is deleted with its conversation', async () => {
      await store.scheduledMessages.insert(msg('m1', T));
      await store.conversations.delete('local:a');
      expect(await store.scheduledMessages.get('m1')).toBeUndefined();
    });

    it('due and nextDue: earliest first then by id', async () => {
      expect(await store.scheduledMessages.nextDue()).toBeNull();
      await store.scheduledMessages.insert(msg('m2', T + 5));
      await store.scheduledMessages.insert(msg('b1', T + 5, 'local:b'));
      await store.scheduledMessages.insert(msg('m1', T + 3));
      await store.scheduledMessages.insert(msg('m3', T + 7));
      expect((await store.scheduledMessages.due(T + 5)).map((m) => m.id)).toEqual(['m1', 'b1', 'm2']);
      expect(await store.scheduledMessages.due(T + 2)).toEqual([]);
      expect(await store.scheduledMessages.nextDue()).toBe(T + 3);
    });

    it('deleteIfDue and reschedule compare the due time', async () => {
      await store.scheduledMessages.insert(msg('m1', T));
      expect(await store.scheduledMessages.reschedule('m1', T + 1, T + 100)).toBe(false);
      expect(await store.scheduledMessages.reschedule('m1', T, T + 100)).toBe(true);
      expect((await store.scheduledMessages.get('m1'))!.dueAt).toBe(T + 100);
      expect(await store.scheduledMessages.deleteIfDue('m1', T)).toBe(false);
      expect(await store.scheduledMessages.deleteIfDue('m1', T + 100)).toBe(true);
      expect(await store.scheduledMessages.get('m1')).toBeUndefined();
      expect(await store.scheduledMessages.deleteIfDue('m1', T + 100)).toBe(false);
      expect(await store.scheduledMessages.reschedule('nope', T, T + 1)).toBe(false);
    });

    it('deleteIfDue and reschedule racing: exactly one of concurrent calls wins; a call waiting on a held row loses', async () => {
      await store.scheduledMessages.insert(msg('m1', T));
      const moved = await together(5, (i) => store.scheduledMessages.reschedule('m1', T, T + 10 + i));
      expect(moved.filter(Boolean)).toHaveLength(1);
      expect((await store.scheduledMessages.get('m1'))!.dueAt).toBe(T + 10 + moved.indexOf(true));
      const dueAt = (await store.scheduledMessages.get('m1'))!.dueAt;

      const held = await race(
        store,
        (tx) => tx.scheduledMessages.reschedule('m1', dueAt, T + 500),
        () => store.scheduledMessages.reschedule('m1', dueAt, T + 600),
      );
      expect(held).toEqual({ first: true, second: false, waited: true });
      expect((await store.scheduledMessages.get('m1'))!.dueAt).toBe(T + 500);

      // A recurring message fires: one instance reschedules it, the other must not delete it.
      const fired = await race(
        store,
        (tx) => tx.scheduledMessages.reschedule('m1', T + 500, T + 900),
        () => store.scheduledMessages.deleteIfDue('m1', T + 500),
      );
      expect(fired).toEqual({ first: true, second: false, waited: true });
      expect((await store.scheduledMessages.get('m1'))!.dueAt).toBe(T + 900);

      const deleted = await together(5, () => store.scheduledMessages.deleteIfDue('m1', T + 900));
      expect(deleted.filter(Boolean)).toHaveLength(1);
      await store.scheduledMessages.insert(msg('m2', T));
      const once = await race(
        store,
        (tx) => tx.scheduledMessages.deleteIfDue('m2', T),
        () => store.scheduledMessages.deleteIfDue('m2', T),
      );
      expect(once).toEqual({ first: true, second: false, waited: true });
    });
  });

  describe('interactions', () => {
    const create = (id: string, conversationId = 'local:a', requester: { id: string; name: string } | null = { id: 'local:ann', name: 'Ann' }) =>
      store.interactions.create({ id, conversationId, request: approval, requester, expiresAt: T + 60_000 });

    it('creates and reads back (JSON request, requester or null, 0/1 awaitingText, times above 2^31)', async () => {
      vi.spyOn(Date, 'now').mockReturnValue(T);
      const row = await create('i1');
      expect(row).toEqual({
        id: 'i1',
        conversationId: 'local:a',
        request: approval,
        requester: { id: 'local:ann', name: 'Ann' },
        outboxId: null,
        state: 'pending',
        awaitingText: false,
        decision: null,
        decidedBy: null,
        decidedAt: null,
        createdAt: T,
        expiresAt: T + 60_000,
      });
      expect(await store.interactions.get('i1')).toEqual(row);
      expect((await create('i2', 'local:a', null)).requester).toBeNull();
      expect(await store.interactions.get('nope')).toBeUndefined();
      await expect(create('i1')).rejects.toThrow(UNIQUE);
    });

    it('setCard, setAwaitingText (only while pending), finish (the first decision wins)', async () => {
      await create('i1');
      await store.interactions.setCard('i1', 2 ** 40);
      await store.interactions.setAwaitingText('i1', true);
      expect(await store.interactions.get('i1')).toMatchObject({ outboxId: 2 ** 40, awaitingText: true });
      await store.interactions.setAwaitingText('i1', false);
      expect((await store.interactions.get('i1'))!.awaitingText).toBe(false);
      await store.interactions.setAwaitingText('i1', true);
      expect(await store.interactions.finish('i1', 'decided', { kind: 'allow', always: true }, { id: 'slack:U1', name: 'Una' }, T + 5)).toBe(true);
      expect(await store.interactions.get('i1')).toMatchObject({
        state: 'decided',
        awaitingText: false,
        decision: { kind: 'allow', always: true },
        decidedBy: { id: 'slack:U1', name: 'Una' },
        decidedAt: T + 5,
      });
      expect(await store.interactions.finish('i1', 'timed_out', null, null, T + 6)).toBe(false);
      await store.interactions.setAwaitingText('i1', true);
      expect((await store.interactions.get('i1'))!.awaitingText).toBe(false);
      await create('i2');
      expect(await store.interactions.finish('i2', 'expired', null, null, T)).toBe(true);
      expect(await store.interactions.get('i2')).toMatchObject({ state: 'expired', decision: null, decidedBy: null, decidedAt: T });
      expect(await store.interactions.finish('nope', 'cancelled', null, null, T)).toBe(false);
    });

    it('pending: oldest first then by id, of all or one conversation', async () => {
      const now = vi.spyOn(Date, 'now').mockReturnValue(T + 10);
      await create('b', 'local:a');
      await create('a', 'local:b');
      now.mockReturnValue(T);
      await create('z', 'local:a');
      await create('done', 'local:a');
      await store.interactions.finish('done', 'cancelled', { kind: 'cancel', message: 'stop' }, null, T);
      expect((await store.interactions.pending()).map((r) => r.id)).toEqual(['z', 'a', 'b']);
      expect((await store.interactions.pending('local:a')).map((r) => r.id)).toEqual(['z', 'b']);
      expect(await store.interactions.pending('local:none')).toEqual([]);
    });

    it('finish racing: exactly one of concurrent calls wins; a call waiting on a held row loses', async () => {
      await create('i1');
      const results = await together(5, (i) =>
        store.interactions.finish('i1', 'decided', { kind: 'deny', message: `no ${i}` }, { id: `u${i}`, name: 'U' }, T + i),
      );
      expect(results.filter(Boolean)).toHaveLength(1);
      const winner = results.indexOf(true);
      expect(await store.interactions.get('i1')).toMatchObject({ decision: { kind: 'deny', message: `no ${winner}` }, decidedAt: T + winner });

      await create('i2');
      const held = await race(
        store,
        (tx) => tx.interactions.finish('i2', 'decided', { kind: 'approve-plan' }, { id: 'slack:U1', name: 'Una' }, T),
        () => store.interactions.finish('i2', 'timed_out', null, null, T + 1),
      );
      expect(held).toEqual({ first: true, second: false, waited: true });
      expect(await store.interactions.get('i2')).toMatchObject({ state: 'decided', decision: { kind: 'approve-plan' } });
    });
  });

  describe('local users', () => {
    it('adds once, reads back the admin flag (0/1), counts, lists by name in byte order', async () => {
      expect(await store.localUsers.count()).toBe(0);
      expect(await store.localUsers.add('alice', true, T)).toBe(true);
      expect(await store.localUsers.add('alice', false, T + 1)).toBe(false);
      expect(await store.localUsers.get('alice')).toEqual({ name: 'alice', admin: true, createdAt: T });
      for (const name of [...BYTE_ORDERED].reverse()) await store.localUsers.add(name, false, T);
      expect(await store.localUsers.get('B')).toEqual({ name: 'B', admin: false, createdAt: T });
      expect(await store.localUsers.get('nope')).toBeUndefined();
      expect(await store.localUsers.count()).toBe(BYTE_ORDERED.length + 1);
      expect((await store.localUsers.list(T)).map((u) => u.name)).toEqual([...BYTE_ORDERED.slice(0, 3), 'a', 'alice', ...BYTE_ORDERED.slice(4)]);
    });

    it('list counts live tokens of each kind at `now` (numbers)', async () => {
      await store.localUsers.add('alice', false, T);
      await store.localUsers.add('bob', false, T);
      const token = (hash: string, kind: 'link' | 'session' | 'api', expiresAt: number | null, user = 'alice') =>
        store.localUsers.addToken({ hash, user, kind, expiresAt, now: T });
      await token('s1', 'session', T + 10);
      await token('s2', 'session', T + 100);
      await token('s3', 'session', null);
      await token('a1', 'api', null);
      await token('l1', 'link', T + 10);
      await token('l2', 'link', T + 100);
      await token('b1', 'session', T + 100, 'bob');
      expect(await store.localUsers.list(T + 50)).toEqual([
        { name: 'alice', admin: false, createdAt: T, sessions: 2, apiTokens: 1, links: 1 },
        { name: 'bob', admin: false, createdAt: T, sessions: 1, apiTokens: 0, links: 0 },
      ]);
    });

    it('tokens: an unknown user is the driver’s error; findToken by kind and expiry; deleteToken; revoke; purgeExpired; remove cascades', async () => {
      await store.localUsers.add('alice', true, T);
      await expect(store.localUsers.addToken({ hash: 'x', user: 'nope', kind: 'api', expiresAt: null })).rejects.toThrow(FOREIGN_KEY);
      await store.localUsers.addToken({ hash: 'sess', user: 'alice', kind: 'session', expiresAt: T + 10, now: T });
      await store.localUsers.addToken({ hash: 'api', user: 'alice', kind: 'api', expiresAt: null, now: T });
      await store.localUsers.addToken({ hash: 'api2', user: 'alice', kind: 'api', expiresAt: null, now: T });
      await store.localUsers.addToken({ hash: 'link', user: 'alice', kind: 'link', expiresAt: T + 10, now: T });
      await expect(store.localUsers.addToken({ hash: 'api', user: 'alice', kind: 'api', expiresAt: null })).rejects.toThrow(UNIQUE);
      const alice = { name: 'alice', admin: true, createdAt: T };
      expect(await store.localUsers.findToken('sess', ['session', 'api'], T + 9)).toEqual(alice);
      expect(await store.localUsers.findToken('sess', ['session'], T + 10)).toBeUndefined();
      expect(await store.localUsers.findToken('sess', ['api'], T)).toBeUndefined();
      expect(await store.localUsers.findToken('api', ['api'], T + 10 ** 9)).toEqual(alice);
      expect(await store.localUsers.findToken('nope', ['api'], T)).toBeUndefined();
      expect(await store.localUsers.deleteToken('api2')).toBe(true);
      expect(await store.localUsers.deleteToken('api2')).toBe(false);
      expect(await store.localUsers.revoke('alice', [])).toBe(0);
      expect(await store.localUsers.revoke('alice', ['api', 'api', 'link'])).toBe(2);
      expect(await store.localUsers.findToken('api', ['api'], T)).toBeUndefined();
      expect(await store.localUsers.purgeExpired(T + 9)).toBe(0);
      expect(await store.localUsers.purgeExpired(T + 10)).toBe(1);
      await store.localUsers.addToken({ hash: 'api3', user: 'alice', kind: 'api', expiresAt: null, now: T });
      expect(await store.localUsers.remove('alice')).toBe(true);
      expect(await store.localUsers.remove('alice')).toBe(false);
      await store.localUsers.add('alice', false, T);
      expect(await store.localUsers.findToken('api3', ['api'], T)).toBeUndefined();
    });

    it('consumeLink: once, only an unexpired link', async () => {
      await store.localUsers.add('alice', false, T);
      await store.localUsers.addToken({ hash: 'link', user: 'alice', kind: 'link', expiresAt: T + 10, now: T });
      await store.localUsers.addToken({ hash: 'old', user: 'alice', kind: 'link', expiresAt: T, now: T });
      await store.localUsers.addToken({ hash: 'sess', user: 'alice', kind: 'session', expiresAt: T + 10, now: T });
      expect(await store.localUsers.consumeLink('old', T)).toBeUndefined();
      expect(await store.localUsers.consumeLink('sess', T)).toBeUndefined();
      expect(await store.localUsers.findToken('sess', ['session'], T)).toBeDefined();
      expect(await store.localUsers.consumeLink('link', T + 9)).toEqual({ name: 'alice', admin: false, createdAt: T });
      expect(await store.localUsers.consumeLink('link', T + 9)).toBeUndefined();
    });

    it('consumeLink racing: exactly one of concurrent uses logs in; a use waiting on a held row gets nothing', async () => {
      await store.localUsers.add('alice', false, T);
      await store.localUsers.addToken({ hash: 'link', user: 'alice', kind: 'link', expiresAt: T + 10, now: T });
      const uses = await together(5, () => store.localUsers.consumeLink('link', T));
      expect(uses.filter((u) => u !== undefined)).toEqual([{ name: 'alice', admin: false, createdAt: T }]);

      await store.localUsers.addToken({ hash: 'link2', user: 'alice', kind: 'link', expiresAt: T + 10, now: T });
      const held = await race(
        store,
        (tx) => tx.localUsers.consumeLink('link2', T),
        () => store.localUsers.consumeLink('link2', T),
      );
      expect(held).toEqual({ first: { name: 'alice', admin: false, createdAt: T }, second: undefined, waited: true });
    });
  });

  describe('local uploads (migration 013)', () => {
    const up = (id: string, owner: string | null, createdAt = 1000) =>
      store.localUploads.insert({ id, owner, name: `${id}.txt`, type: 'text/plain', size: 5, createdAt });

    it('inserts unsent uploads and reads them back', async () => {
      expect(await up('up-a', 'alice')).toEqual({
        id: 'up-a',
        owner: 'alice',
        name: 'up-a.txt',
        type: 'text/plain',
        size: 5,
        createdAt: 1000,
        messageId: null,
      });
      expect(await store.localUploads.get('up-a')).toEqual({
        id: 'up-a',
        owner: 'alice',
        name: 'up-a.txt',
        type: 'text/plain',
        size: 5,
        createdAt: 1000,
        messageId: null,
      });
      expect(await store.localUploads.get('nope')).toBeUndefined();
      await expect(up('up-a', null)).rejects.toThrow(UNIQUE);
    });

    it('sizes and times above 2^31 are numbers; createdAt defaults to now', async () => {
      vi.spyOn(Date, 'now').mockReturnValue(T);
      expect(await store.localUploads.insert({ id: 'big', owner: null, name: 'big.bin', type: 'application/octet-stream', size: 5 * 2 ** 30 })).toMatchObject({
        size: 5 * 2 ** 30,
        createdAt: T,
      });
      expect(await store.localUploads.get('big')).toMatchObject({ size: 5 * 2 ** 30, createdAt: T });
    });

    it('markSent takes all or none: only the owner’s (null = anonymous) unsent uploads, once', async () => {
      await up('up-a', 'alice');
      await up('up-b', 'alice');
      await up('up-c', 'bob');
      await up('up-n', null);
      expect(await store.localUploads.markSent(['up-a', 'up-c'], 'alice', 'm1')).toBe(false);
      expect((await store.localUploads.get('up-a'))!.messageId).toBeNull();
      expect(await store.localUploads.markSent(['up-n'], 'alice', 'm1')).toBe(false);
      expect(await store.localUploads.markSent(['up-a'], null, 'm1')).toBe(false);
      expect(await store.localUploads.markSent(['up-a', 'nope'], 'alice', 'm1')).toBe(false);
      expect(await store.localUploads.markSent(['up-a', 'up-a'], 'alice', 'm1')).toBe(false);
      expect((await store.localUploads.get('up-a'))!.messageId).toBeNull();
      expect(await store.localUploads.markSent([], 'alice', 'm1')).toBe(true);
      expect(await store.localUploads.markSent(['up-a', 'up-b'], 'alice', 'm1')).toBe(true);
      expect((await store.localUploads.get('up-b'))!.messageId).toBe('m1');
      expect(await store.localUploads.markSent(['up-a'], 'alice', 'm2')).toBe(false);
      expect(await store.localUploads.markSent(['up-n'], null, 'm3')).toBe(true);
      // Inside an outer transaction that rolls back, nothing stays marked.
      await up('up-d', 'bob');
      await expect(
        store.transaction(async (tx) => {
          expect(await tx.localUploads.markSent(['up-d'], 'bob', 'm4')).toBe(true);
          throw new Error('rolled back');
        }),
      ).rejects.toThrow('rolled back');
      expect((await store.localUploads.get('up-d'))!.messageId).toBeNull();
    });

    it('markSent inside a transaction: a refusal undoes only its own changes (a savepoint), the transaction goes on', async () => {
      await up('up-a', 'alice');
      await up('up-b', 'alice');
      await up('up-x', 'bob');
      await store.transaction(async (tx) => {
        await tx.localUploads.insert({ id: 'up-t', owner: 'alice', name: 't', type: 'text/plain', size: 1, createdAt: 1 });
        // up-a is updated by the statement, then rolled back to the savepoint (up-x is not alice's).
        expect(await tx.localUploads.markSent(['up-a', 'up-x'], 'alice', 'm1')).toBe(false);
        expect((await tx.localUploads.get('up-a'))!.messageId).toBeNull();
        expect(await tx.localUploads.markSent(['up-a', 'up-t'], 'alice', 'm2')).toBe(true);
        expect(await tx.localUploads.markSent(['up-b'], 'alice', 'm3')).toBe(true);
      });
      expect((await store.localUploads.get('up-a'))!.messageId).toBe('m2');
      expect((await store.localUploads.get('up-t'))!.messageId).toBe('m2');
      expect((await store.localUploads.get('up-b'))!.messageId).toBe('m3');
      expect((await store.localUploads.get('up-x'))!.messageId).toBeNull();
    });

    it('markSent racing: one of concurrent sends of an upload wins; one waiting on a held upload marks none of its uploads', async () => {
      for (const id of ['up-a', 'up-b', 'up-c', 'up-d']) await up(id, 'alice');
      const sends = await together(5, (i) => store.localUploads.markSent(['up-a', 'up-b'], 'alice', `m${i}`));
      expect(sends.filter(Boolean)).toHaveLength(1);
      expect((await store.localUploads.get('up-b'))!.messageId).toBe(`m${sends.indexOf(true)}`);

      const held = await race(
        store,
        (tx) => tx.localUploads.markSent(['up-c'], 'alice', 'first'),
        () => store.localUploads.markSent(['up-d', 'up-c'], 'alice', 'second'),
      );
      expect(held).toEqual({ first: true, second: false, waited: true });
      expect((await store.localUploads.get('up-c'))!.messageId).toBe('first');
      expect((await store.localUploads.get('up-d'))!.messageId).toBeNull();
    });

    it('deleteUnsent removes only unsent uploads created before the time', async () => {
      await up('up-old', null, 100);
      await up('up-new', null, 5000);
      await up('up-sent', null, 100);
      await up('up-b-old', 'bob', 200);
      await store.localUploads.markSent(['up-sent'], null, 'm');
      expect(await store.localUploads.deleteUnsent(1000)).toEqual(['up-b-old', 'up-old']);
      expect(await store.localUploads.get('up-new')).toBeDefined();
      expect(await store.localUploads.get('up-sent')).toBeDefined();
      expect(await store.localUploads.deleteUnsent(1000)).toEqual([]);
    });
  });

  describe('projects', () => {
    const project = (name: string, worktrees = false) => ({
      name,
      path: `/w/${name}`,
      gitUrl: worktrees ? `file:///r/${name}.git` : null,
      branch: worktrees ? 'main' : null,
      worktrees,
    });

    it('adds once, reads back the worktrees flag (0/1), lists by name in byte order', async () => {
      expect(await store.projects.add(project('alpha', true), T)).toBe(true);
      expect(await store.projects.add({ ...project('alpha'), path: '/other' }, T + 1)).toBe(false);
      expect(await store.projects.get('alpha')).toEqual({ ...project('alpha', true), createdAt: T });
      for (const name of [...BYTE_ORDERED].reverse()) await store.projects.add(project(name), T);
      expect(await store.projects.get('B')).toEqual({ ...project('B'), createdAt: T });
      expect((await store.projects.list()).map((p) => p.name)).toEqual([...BYTE_ORDERED.slice(0, 3), 'a', 'alpha', ...BYTE_ORDERED.slice(4)]);
      expect(await store.projects.get('nope')).toBeUndefined();
    });

    it('binds (replacing a binding; an unknown project is the driver’s error), unbinds, removes a project with its bindings', async () => {
      await store.projects.add(project('alpha'), T);
      await store.projects.add(project('beta'), T);
      await store.projects.bind({ platform: 'slack', channel: 'C1', project: 'alpha', boundBy: 'slack:U1' }, T);
      expect(await store.projects.binding('slack', 'C1')).toEqual({ platform: 'slack', channel: 'C1', project: 'alpha', boundBy: 'slack:U1', createdAt: T });
      await store.projects.bind({ platform: 'slack', channel: 'C1', project: 'beta', boundBy: 'slack:U2' }, T + 1);
      expect(await store.projects.binding('slack', 'C1')).toEqual({ platform: 'slack', channel: 'C1', project: 'beta', boundBy: 'slack:U2', createdAt: T + 1 });
      await expect(store.projects.bind({ platform: 'slack', channel: 'C2', project: 'nope', boundBy: 'x' })).rejects.toThrow(FOREIGN_KEY);
      for (const channel of [...BYTE_ORDERED].reverse()) await store.projects.bind({ platform: 'discord', channel, project: 'beta', boundBy: 'x' }, T);
      expect((await store.projects.bindingsOf('beta')).map((b) => `${b.platform}/${b.channel}`)).toEqual([
        ...BYTE_ORDERED.map((c) => `discord/${c}`),
        'slack/C1',
      ]);
      expect(await store.projects.bindingsOf('alpha')).toEqual([]);
      expect(await store.projects.unbind('discord', 'B')).toBe(true);
      expect(await store.projects.unbind('discord', 'B')).toBe(false);
      expect(await store.projects.binding('discord', 'B')).toBeUndefined();
      expect(await store.projects.remove('beta')).toBe(true);
      expect(await store.projects.remove('beta')).toBe(false);
      expect(await store.projects.binding('slack', 'C1')).toBeUndefined();
      expect(await store.projects.bindingsOf('beta')).toEqual([]);
    });

    it('worktrees: set (replacing, keeping createdAt), list oldest first, orphans, remove', async () => {
      await store.projects.add(project('alpha', true), T);
      await store.conversations.ensure({ id: 'local:g:live', platform: 'local', channel: 'g', thread: 'live' });
      const wt = (conversationId: string, slug: string) => ({
        conversationId,
        project: 'alpha',
        path: `/w/alpha/.worktrees/${slug}`,
        branch: `agentbridge/${slug}`,
        base: 'abc',
      });
      await store.projects.setWorktree(wt('local:g:b', 'b'), T + 5);
      await store.projects.setWorktree(wt('local:g:a', 'a'), T + 5);
      await store.projects.setWorktree(wt('local:g:live', 'live'), T);
      await store.projects.setWorktree({ ...wt('local:g:live', 'live2'), base: 'def' }, T + 9);
      expect(await store.projects.worktree('local:g:live')).toEqual({ ...wt('local:g:live', 'live2'), base: 'def', createdAt: T });
      expect(await store.projects.worktree('nope')).toBeUndefined();
      expect((await store.projects.worktrees()).map((w) => w.conversationId)).toEqual(['local:g:live', 'local:g:a', 'local:g:b']);
      expect((await store.projects.orphanWorktrees()).map((w) => w.conversationId)).toEqual(['local:g:a', 'local:g:b']);
      // A project's removal keeps its worktree rows.
      expect(await store.projects.remove('alpha')).toBe(true);
      expect(await store.projects.removeWorktree('local:g:a')).toBe(true);
      expect(await store.projects.removeWorktree('local:g:a')).toBe(false);
      expect((await store.projects.worktrees()).map((w) => w.conversationId)).toEqual(['local:g:live', 'local:g:b']);
    });
  });
});
