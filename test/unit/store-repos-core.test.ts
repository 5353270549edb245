/**
 * The core repositories of the store (conversations, entries, posted messages, inbox, outbox,
 * local messages, approval rules) on both backends: SQLite and PostgreSQL
 * (test/helpers/backends.ts). Besides the behaviour, the places where the backends could differ:
 * numbers read back as JS numbers (BIGINT / COUNT(*) on PostgreSQL), byte order of text keys,
 * the ON CONFLICT paths, statements without a LIMIT, and compare-and-set updates racing.
 */
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import type { InboundMessage } from '../../src/core/messages.js';
import type { Backend } from '../../src/store/sql/kysely.js';
import type { Store } from '../../src/store/types.js';
import { BACKENDS, openTestStore, type TestStore } from '../helpers/backends.js';

function message(eventKey: string, text: string, receivedAt: number, conversationId = 'local:general'): InboundMessage {
  return {
    platform: 'local',
    conversationId,
    channel: 'general',
    author: { id: 'ann', name: 'Ann' },
    text,
    eventKey,
    replyTarget: { platform: 'local', channel: 'general' },
    receivedAt,
  };
}

/** Runs raw SQL (a hand-edited value, a look at a column) on the database of `store`; its rows. */
async function rawQuery(store: Store, text: string): Promise<unknown[]> {
  const s = store as TestStore;
  if (s.backend === 'postgres') return (await s.pool.query(text)).rows;
  const stmt = s.db.prepare(text);
  if (!stmt.reader) {
    stmt.run();
    return [];
  }
  return stmt.all();
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * A compare-and-set race: `first` runs in a transaction that stays open after it (holding its row
 * locks on PostgreSQL; on SQLite holding the connection) while `second` is called outside it; then
 * the transaction commits, or rolls back when `rollback`. Resolves when both are done.
 */
async function race(store: Store, first: (tx: Store) => Promise<unknown>, second: () => Promise<unknown>, rollback = false): Promise<void> {
  let entered!: () => void;
  const inside = new Promise<void>((r) => (entered = r));
  let release!: () => void;
  const hold = new Promise<void>((r) => (release = r));
  const tx = store
    .transaction(async (t) => {
      try {
        await first(t);
      } finally {
        entered();
      }
      await hold;
      if (rollback) throw new Error('rolled back');
    })
    .then(
      () => undefined,
      (err: unknown) => err,
    );
  await inside;
  const secondCall = second();
  await sleep(100);
  release();
  const txError = await tx;
  if (!rollback && txError) throw txError as Error;
  await secondCall;
}

/** Text keys whose byte order (SQLite BINARY, PostgreSQL COLLATE "C") differs from a locale's order. */
const BYTE_ORDERED = ['B', 'Z', '_x', 'a', 'b', 'é'];

/** The tables these tests write (children before their parents). */
const TABLES = ['posted_messages', 'session_entries', 'inbox', 'outbox', 'interactions', 'approval_rules', 'conversations', 'local_messages'];

/** A millisecond time above 2^31 (a 32-bit column or parameter would overflow). */
const T = 1_760_000_000_000;

describe.each(BACKENDS)('store repositories (%s)', (backend: Backend) => {
  let store: Store;
  let cleanup: () => Promise<void>;
  const raw = (text: string) => rawQuery(store, text);

  // One store per backend (a new PostgreSQL database and its migrations take seconds on a loaded
  // machine); each test starts with the tables of these repositories emptied.
  beforeAll(async () => {
    ({ store, cleanup } = await openTestStore(backend));
  });
  afterAll(() => cleanup());
  beforeEach(async () => {
    for (const table of TABLES) await raw(`DELETE FROM ${table}`);
  });
  afterEach(() => {
    vi.restoreAllMocks();
  });

  describe('inbox', () => {
    it('accepts a message once: a duplicate returns false and keeps the first payload', async () => {
      expect(await store.inbox.accept(message('local:1', 'first', 1000))).toBe(true);
      expect(await store.inbox.accept(message('local:1', 'second', 2000))).toBe(false);
      const row = (await store.inbox.get('local:1'))!;
      expect(row.message.text).toBe('first');
      expect(row).toMatchObject({ state: 'queued', attempts: 0, receivedAt: 1000, conversationId: 'local:general' });
      expect(row.message).toEqual(message('local:1', 'first', 1000));
      expect(await store.inbox.countByState()).toEqual({ queued: 1, running: 0, done: 0, failed: 0 });
    });

    it('lists unfinished rows by receivedAt then insertion order, through state transitions', async () => {
      await store.inbox.accept(message('c', 'c', 2000));
      await store.inbox.accept(message('a', 'a', 1000));
      await store.inbox.accept(message('b2', 'b2', 1500));
      await store.inbox.accept(message('b1', 'b1', 1500)); // same time, inserted later
      expect((await store.inbox.unfinished()).map((r) => r.eventKey)).toEqual(['a', 'b2', 'b1', 'c']);

      await store.inbox.markRunning(['a', 'b2']);
      expect(await store.inbox.get('a')).toMatchObject({ state: 'running', attempts: 1 });
      await store.inbox.markDone(['a']);
      await store.inbox.markFailed(['b2']);
      expect((await store.inbox.unfinished()).map((r) => r.eventKey)).toEqual(['b1', 'c']);
      expect(await store.inbox.countByState()).toEqual({ queued: 2, running: 0, done: 1, failed: 1 });

      // a finished row is not restarted by markRunning
      await store.inbox.markRunning(['a']);
      expect(await store.inbox.get('a')).toMatchObject({ state: 'done', attempts: 1 });
      expect(await store.inbox.get('unknown')).toBeUndefined();
    });

    it('requeue puts running rows back to queued and keeps attempts', async () => {
      await store.inbox.accept(message('x', 'x', 1));
      await store.inbox.markRunning(['x']);
      await store.inbox.requeue(['x']);
      expect(await store.inbox.get('x')).toMatchObject({ state: 'queued', attempts: 1 });
      await store.inbox.markRunning(['x']);
      expect(await store.inbox.get('x')).toMatchObject({ state: 'running', attempts: 2 });
      expect((await store.inbox.unfinished()).map((r) => r.eventKey)).toEqual(['x']);
    });

    it('reads times, attempts and counts back as numbers; marks many keys at once (unknown ones ignored); no keys is a no-op', async () => {
      const keys = Array.from({ length: 1203 }, (_, i) => `k${i}`);
      await store.transaction(async (tx) => {
        for (const k of keys) await tx.inbox.accept(message(k, k, T));
      });
      await store.inbox.markRunning([...keys, 'unknown']);
      await store.inbox.markRunning([]);
      await store.inbox.markDone([]);
      const row = (await store.inbox.get('k1202'))!;
      expect(row).toMatchObject({ state: 'running', attempts: 1, receivedAt: T });
      for (const n of [row.attempts, row.receivedAt, row.updatedAt]) expect(typeof n).toBe('number');
      const counts = await store.inbox.countByState();
      expect(counts).toEqual({ queued: 0, running: 1203, done: 0, failed: 0 });
      expect(typeof counts.running).toBe('number');
      await store.inbox.markDone(keys);
      expect(await store.inbox.unfinished()).toEqual([]);
      // A message without a usable receivedAt is stamped now.
      const before = Date.now();
      expect(await store.inbox.accept({ ...message('nan', 'x', 0), receivedAt: Number.NaN })).toBe(true);
      expect((await store.inbox.get('nan'))!.receivedAt).toBeGreaterThanOrEqual(before);
    });

    it('markRunning racing markDone in an open transaction does not restart the finished row', async () => {
      await store.inbox.accept(message('x', 'x', 1));
      await store.inbox.markRunning(['x']);
      await race(
        store,
        (tx) => tx.inbox.markDone(['x']),
        () => store.inbox.markRunning(['x']),
      );
      expect(await store.inbox.get('x')).toMatchObject({ state: 'done', attempts: 1 });
    });

    it('rolls back the marks of a transaction that fails', async () => {
      await store.inbox.accept(message('x', 'x', 1));
      await expect(
        store.transaction(async (tx) => {
          await tx.inbox.markRunning(['x']);
          throw new Error('boom');
        }),
      ).rejects.toThrow('boom');
      expect(await store.inbox.get('x')).toMatchObject({ state: 'queued', attempts: 0 });
    });
  });

  describe('outbox', () => {
    const target = { platform: 'slack' as const, channel: 'C1', thread: '17.1' };

    it('enqueues pending rows, marks posted and failed attempts', async () => {
      const a = await store.outbox.enqueue({ conversationId: 'c1', target, text: 'answer A', sessionEntryId: 5 });
      const b = await store.outbox.enqueue({ conversationId: 'c1', target, text: 'answer B' });
      expect(a).toMatchObject({ state: 'pending', attempts: 0, target, sessionEntryId: 5, postedRef: null, lastError: null });
      expect(b.sessionEntryId).toBeNull();
      const edit = await store.outbox.enqueue({ conversationId: 'c2', target: { ...target, editRef: '17.9' }, text: 'final' });
      expect((await store.outbox.pending()).find((r) => r.id === edit.id)?.target).toEqual({ ...target, editRef: '17.9' });
      await store.outbox.markPosted(edit.id, '17.9');
      expect((await store.outbox.pending()).map((r) => r.id)).toEqual([a.id, b.id]);

      await store.outbox.markAttemptFailed(a.id, 'HTTP 429');
      expect((await store.outbox.pending())[0]).toMatchObject({ id: a.id, state: 'pending', attempts: 1, lastError: 'HTTP 429' });
      await store.outbox.markPosted(a.id, '17.2');
      await store.outbox.markAttemptFailed(b.id, 'channel_not_found', true);
      expect(await store.outbox.pending()).toEqual([]);
      // a posted row is not turned into a failure later
      await store.outbox.markAttemptFailed(a.id, 'late', true);
      expect(await store.outbox.get(a.id)).toMatchObject({ state: 'posted', attempts: 1, postedRef: '17.2', lastError: 'HTTP 429' });
      expect(await store.outbox.get(b.id)).toMatchObject({ state: 'failed', attempts: 1, postedRef: null, lastError: 'channel_not_found' });
      expect(await store.outbox.get(2 ** 50)).toBeUndefined();
    });

    it('reads ids, times and counts back as numbers; pendingFor is in insertion order, pending by createdAt', async () => {
      vi.spyOn(Date, 'now').mockReturnValue(T + 10);
      const late = await store.outbox.enqueue({ conversationId: 'c1', target, text: 'late', sessionEntryId: 2 ** 40 });
      vi.spyOn(Date, 'now').mockReturnValue(T);
      const early = await store.outbox.enqueue({ conversationId: 'c1', target, text: 'early' });
      vi.restoreAllMocks();
      for (const n of [late.id, late.createdAt, late.attempts, late.sessionEntryId]) expect(typeof n).toBe('number');
      expect(late).toMatchObject({ createdAt: T + 10, sessionEntryId: 2 ** 40 });
      expect(await store.outbox.get(late.id)).toEqual(late);
      expect(early.id).toBeGreaterThan(late.id);
      expect((await store.outbox.pending()).map((r) => r.text)).toEqual(['early', 'late']);
      expect((await store.outbox.pendingFor('c1')).map((r) => r.text)).toEqual(['late', 'early']);
      expect(await store.outbox.pendingFor('other')).toEqual([]);
      const count = await store.outbox.pendingCount();
      expect(count).toBe(2);
      expect(typeof count).toBe('number');
    });

    it('a final failure racing one in an open transaction: the second sees the committed state, or applies after a rollback', async () => {
      const a = await store.outbox.enqueue({ conversationId: 'c1', target, text: 'a' });
      await race(
        store,
        (tx) => tx.outbox.markAttemptFailed(a.id, 'in tx', true),
        () => store.outbox.markAttemptFailed(a.id, 'outside', true),
      );
      expect(await store.outbox.get(a.id)).toMatchObject({ state: 'failed', attempts: 1, lastError: 'in tx' });
      const b = await store.outbox.enqueue({ conversationId: 'c1', target, text: 'b' });
      await race(
        store,
        (tx) => tx.outbox.markAttemptFailed(b.id, 'in tx', true),
        () => store.outbox.markAttemptFailed(b.id, 'outside', true),
        true,
      );
      expect(await store.outbox.get(b.id)).toMatchObject({ state: 'failed', attempts: 1, lastError: 'outside' });
    });

    it('counts a failed attempt once when two final failures race (compare-and-set on pending)', async () => {
      const row = await store.outbox.enqueue({ conversationId: 'c1', target, text: 'x' });
      await Promise.all([store.outbox.markAttemptFailed(row.id, 'first', true), store.outbox.markAttemptFailed(row.id, 'second', true)]);
      const after = (await store.outbox.get(row.id))!;
      expect(after).toMatchObject({ state: 'failed', attempts: 1 });
      expect(['first', 'second']).toContain(after.lastError);
    });
  });

  describe('conversations', () => {
    it('ensure is idempotent and keeps the first values', async () => {
      const c = await store.conversations.ensure({ id: 'slack:T:C1', platform: 'slack', channel: 'C1', workdir: '/w' });
      expect(c).toMatchObject({ id: 'slack:T:C1', thread: null, agent: null, agentSessionId: null, workdir: '/w' });
      const again = await store.conversations.ensure({ id: 'slack:T:C1', platform: 'slack', channel: 'C1', workdir: '/other' });
      expect(again).toEqual(c);
      expect(await store.conversations.list()).toHaveLength(1);
    });

    it('setAgentSession and update change only the given fields and bump updatedAt', async () => {
      const c = await store.conversations.ensure({ id: 'c', platform: 'local', channel: 'general', thread: 't1' });
      await sleep(5);
      await store.conversations.setAgentSession('c', 'codex', 'sess-1');
      const s = (await store.conversations.get('c'))!;
      expect(s).toMatchObject({ agentSessionAgent: 'codex', agentSessionId: 'sess-1', agentSessionAt: null, thread: 't1' });
      expect(s.updatedAt).toBeGreaterThan(c.updatedAt);

      await store.conversations.update('c', { agent: 'claude', model: 'opus' });
      await store.conversations.update('c', { workdir: '/tmp/w' });
      expect(await store.conversations.get('c')).toMatchObject({ agent: 'claude', model: 'opus', workdir: '/tmp/w', seededFrom: null });
      await store.conversations.update('c', { model: null, seededFrom: 'slack:C1:17.1' });
      expect(await store.conversations.get('c')).toMatchObject({ agent: 'claude', model: null, seededFrom: 'slack:C1:17.1' });
      await store.conversations.setAgentSession('c', null, null);
      expect(await store.conversations.get('c')).toMatchObject({ agentSessionAgent: null, agentSessionId: null, createdAt: c.createdAt });
    });

    it('stores the committed point of the session (dropped with the session id), seededAt and the permission mode; numbers stay numbers', async () => {
      vi.spyOn(Date, 'now').mockReturnValue(T);
      const c = await store.conversations.ensure({ id: 'c', platform: 'local', channel: 'general' });
      vi.restoreAllMocks();
      expect(c).toMatchObject({ createdAt: T, updatedAt: T, seededAt: null, permissionMode: null });
      await store.conversations.setAgentSession('c', 'claude', 'sess-1', 'uuid-9');
      expect(await store.conversations.get('c')).toMatchObject({ agentSessionId: 'sess-1', agentSessionAt: 'uuid-9' });
      await store.conversations.setAgentSession('c', 'claude', null, 'uuid-9');
      expect(await store.conversations.get('c')).toMatchObject({ agentSessionId: null, agentSessionAt: null });

      await store.conversations.update('c', { seededAt: T + 1, permissionMode: 'edit' });
      const seeded = (await store.conversations.get('c'))!;
      expect(seeded).toMatchObject({ seededAt: T + 1, permissionMode: 'edit', createdAt: T });
      for (const n of [seeded.seededAt, seeded.createdAt, seeded.updatedAt]) expect(typeof n).toBe('number');
      // An undefined field is left alone, except permissionMode: given as undefined it clears.
      await store.conversations.update('c', { seededAt: undefined, agent: undefined });
      expect(await store.conversations.get('c')).toMatchObject({ seededAt: T + 1, permissionMode: 'edit' });
      await store.conversations.update('c', { permissionMode: undefined });
      expect(await store.conversations.get('c')).toMatchObject({ seededAt: T + 1, permissionMode: null });
      await store.conversations.update('c', {});
      // Unknown ids change nothing.
      await store.conversations.update('nope', { model: 'm' });
      await store.conversations.setAgentSession('nope', 'codex', 's');
      expect(await store.conversations.get('nope')).toBeUndefined();
    });

    it('list orders by most recent update and honours limit', async () => {
      await store.conversations.ensure({ id: 'a', platform: 'local', channel: 'x' });
      await store.conversations.ensure({ id: 'b', platform: 'local', channel: 'x' });
      await sleep(5);
      await store.conversations.update('a', { model: 'm' });
      expect((await store.conversations.list()).map((c) => c.id)).toEqual(['a', 'b']);
      expect((await store.conversations.list({ limit: 1 })).map((c) => c.id)).toEqual(['a']);
    });

    it('list orders conversations updated in the same millisecond by id in byte order', async () => {
      vi.spyOn(Date, 'now').mockReturnValue(T);
      for (const id of [...BYTE_ORDERED].reverse()) await store.conversations.ensure({ id, platform: 'local', channel: 'x' });
      vi.restoreAllMocks();
      expect((await store.conversations.list()).map((c) => c.id)).toEqual(BYTE_ORDERED);
      expect((await store.conversations.list({ limit: 2 })).map((c) => c.id)).toEqual(BYTE_ORDERED.slice(0, 2));
      expect(await store.conversations.list({ limit: 0 })).toEqual([]);
      expect(await store.conversations.list({ limit: -1 })).toHaveLength(BYTE_ORDERED.length); // negative = all, as SQLite's LIMIT -1
    });

    it('delete removes the conversation with its entries, posted messages, inbox and outbox rows only', async () => {
      for (const id of ['gone', 'kept']) {
        await store.conversations.ensure({ id, platform: 'local', channel: id });
        const e = await store.entries.append({
          conversationId: id,
          role: 'assistant',
          author: null,
          text: 'hi',
          agent: null,
          model: null,
          usage: null,
          costUsd: null,
        });
        await store.postedMessages.record({
          key: `k-${id}`,
          conversationId: id,
          sessionEntryId: e.id,
          platformMessageRef: 'm',
          assistantText: 'hi',
          kind: 'answer',
        });
        await store.inbox.accept(message(`ev-${id}`, 'x', 1, id));
        await store.outbox.enqueue({ conversationId: id, target: { platform: 'local', channel: id }, text: 'hi' });
        await store.approvalRules.add({ conversationId: id, tool: 'Bash', ruleKey: '', createdBy: null });
      }
      expect(await store.conversations.delete('gone')).toBe(true);
      expect(await store.conversations.delete('gone')).toBe(false);
      expect(await store.conversations.get('gone')).toBeUndefined();
      expect(await store.entries.list('gone')).toEqual([]);
      expect(await store.postedMessages.get('k-gone')).toBeUndefined();
      expect(await store.inbox.get('ev-gone')).toBeUndefined();
      expect((await store.outbox.pending()).map((o) => o.conversationId)).toEqual(['kept']);
      expect(await store.approvalRules.list('gone')).toEqual([]);
      expect(await store.entries.list('kept')).toHaveLength(1);
      expect(await store.postedMessages.get('k-kept')).toBeDefined();
      expect(await store.inbox.get('ev-kept')).toBeDefined();
      expect(await store.approvalRules.list('kept')).toHaveLength(1);
    });

    it('delete inside a transaction that fails is rolled back with it', async () => {
      await store.conversations.ensure({ id: 'c', platform: 'local', channel: 'x' });
      await store.inbox.accept(message('ev', 'x', 1, 'c'));
      await expect(
        store.transaction(async (tx) => {
          expect(await tx.conversations.delete('c')).toBe(true);
          throw new Error('boom');
        }),
      ).rejects.toThrow('boom');
      expect(await store.conversations.get('c')).toBeDefined();
      expect(await store.inbox.get('ev')).toBeDefined();
    });
  });

  describe('transaction', () => {
    it('rolls back every write when fn throws', async () => {
      await expect(
        store.transaction(async (tx) => {
          await tx.conversations.ensure({ id: 'c', platform: 'local', channel: 'x' });
          await tx.inbox.accept(message('e', 'x', 1));
          throw new Error('boom');
        }),
      ).rejects.toThrow('boom');
      expect(await store.conversations.get('c')).toBeUndefined();
      expect(await store.inbox.get('e')).toBeUndefined();
      expect(await store.transaction(async () => 7)).toBe(7);
    });

    it('a nested transaction is a savepoint: its failure rolls back only its writes; nested ones run one after another', async () => {
      await store.transaction(async (tx) => {
        await tx.inbox.accept(message('outer', 'x', 1));
        await expect(
          tx.transaction(async (inner) => {
            await inner.inbox.accept(message('inner-failed', 'x', 2));
            throw new Error('inner boom');
          }),
        ).rejects.toThrow('inner boom');
        const order: string[] = [];
        await Promise.all(
          ['a', 'b'].map((k) =>
            tx.transaction(async (inner) => {
              order.push(`${k}:start`);
              await inner.inbox.accept(message(`inner-${k}`, 'x', 3));
              order.push(`${k}:end`);
            }),
          ),
        );
        expect(order).toEqual(['a:start', 'a:end', 'b:start', 'b:end']);
      });
      expect((await store.inbox.unfinished()).map((r) => r.eventKey).sort()).toEqual(['inner-a', 'inner-b', 'outer']);
      // An outer failure also rolls back what its nested transactions committed.
      await expect(
        store.transaction(async (tx) => {
          await tx.transaction(async (inner) => void (await inner.inbox.accept(message('nested-kept', 'x', 4))));
          throw new Error('outer boom');
        }),
      ).rejects.toThrow('outer boom');
      expect(await store.inbox.get('nested-kept')).toBeUndefined();
    });
  });

  describe('entries', () => {
    it('appends and lists oldest first, round-tripping usage JSON; paging with limit/beforeId', async () => {
      await store.conversations.ensure({ id: 'c', platform: 'local', channel: 'general' });
      const usage = { inputTokens: 1200, outputTokens: 85, costUsd: 0.0123 };
      const u = await store.entries.append({
        conversationId: 'c',
        role: 'user',
        author: 'Ann',
        text: 'q',
        agent: null,
        model: null,
        usage: null,
        costUsd: null,
        createdAt: 42,
      });
      const a = await store.entries.append({
        conversationId: 'c',
        role: 'assistant',
        author: null,
        text: 'a',
        agent: 'gemini',
        model: 'g-2',
        usage,
        costUsd: 0.0123,
      });
      const s = await store.entries.append({
        conversationId: 'c',
        role: 'system',
        author: null,
        text: 's',
        agent: null,
        model: null,
        usage: null,
        costUsd: null,
      });
      expect(u.createdAt).toBe(42);
      expect(s.role).toBe('system');
      expect(a.createdAt).toBeGreaterThan(Date.now() - 60_000);
      expect(await store.entries.get(a.id)).toEqual({ ...a, usage });
      expect((await store.entries.get(a.id))!.usage).toEqual(usage);
      expect((await store.entries.list('c')).map((e) => e.text)).toEqual(['q', 'a', 's']);
      expect((await store.entries.list('c', { limit: 2 })).map((e) => e.text)).toEqual(['a', 's']);
      expect((await store.entries.list('c', { limit: 2, beforeId: a.id })).map((e) => e.text)).toEqual(['q']);
      expect((await store.entries.list('c', { beforeId: s.id })).map((e) => e.text)).toEqual(['q', 'a']);
      expect((await store.entries.list('c', { limit: -1 })).map((e) => e.text)).toEqual(['q', 'a', 's']); // negative = all, as SQLite's LIMIT -1
      expect(await store.entries.list('c', { limit: 0 })).toEqual([]);
      expect(await store.entries.get(2 ** 50)).toBeUndefined();
    });

    it('reads ids, times and the cost back as numbers', async () => {
      await store.conversations.ensure({ id: 'c', platform: 'local', channel: 'general' });
      const e = await store.entries.append({
        conversationId: 'c',
        role: 'assistant',
        author: null,
        text: 'a',
        agent: null,
        model: null,
        usage: null,
        costUsd: 1.25,
        createdAt: T,
      });
      const read = (await store.entries.get(e.id))!;
      expect(read).toEqual(e);
      expect(read).toMatchObject({ costUsd: 1.25, createdAt: T });
      for (const n of [read.id, read.createdAt, read.costUsd]) expect(typeof n).toBe('number');
    });

    it('removes the user entries after the last committed turn; authors are distinct, in the order they first wrote', async () => {
      await store.conversations.ensure({ id: 'c', platform: 'local', channel: 'general' });
      const add = (role: 'user' | 'assistant', author: string | null, text: string) =>
        store.entries.append({ conversationId: 'c', role, author, text, agent: null, model: null, usage: null, costUsd: null });
      // No committed turn yet: every user entry is uncommitted.
      await add('user', 'Zoe', 'q0');
      expect(await store.entries.removeUncommitted('c')).toBe(1);
      await add('user', 'Zoe', 'q1');
      await add('user', 'ann', 'q2');
      await add('assistant', null, 'a1');
      await add('user', 'Bob', 'q3');
      await add('user', 'Zoe', 'q4');
      expect(await store.entries.authors('c')).toEqual(['Zoe', 'ann']);
      expect(await store.entries.authors('c', 10)).toEqual(['Zoe', 'ann', 'Bob']);
      expect(await store.entries.authors('other')).toEqual([]);
      const removed = await store.entries.removeUncommitted('c');
      expect(removed).toBe(2);
      expect(typeof removed).toBe('number');
      expect((await store.entries.list('c')).map((e) => e.text)).toEqual(['q1', 'q2', 'a1']);
      expect(await store.entries.removeUncommitted('c')).toBe(0);
    });

    it('refuses an entry for an unknown conversation (foreign key)', async () => {
      await expect(
        store.entries.append({ conversationId: 'nope', role: 'user', author: null, text: 'x', agent: null, model: null, usage: null, costUsd: null }),
      ).rejects.toThrow(/foreign key/i);
    });
  });

  describe('posted messages', () => {
    it('records, gets and lists (all, or of one kind); re-recording a key updates it, its kind too', async () => {
      await store.conversations.ensure({ id: 'c', platform: 'discord', channel: '123' });
      await store.postedMessages.record({
        key: 'discord:123:m1',
        conversationId: 'c',
        sessionEntryId: null,
        platformMessageRef: 'm1',
        assistantText: '⏳ Working…',
        kind: 'progress',
      });
      await store.postedMessages.record({
        key: 'discord:123:m2',
        conversationId: 'c',
        sessionEntryId: null,
        platformMessageRef: 'm2',
        assistantText: 'part 2',
        kind: 'notice',
      });
      const first = (await store.postedMessages.get('discord:123:m1'))!;
      expect(first).toMatchObject({ conversationId: 'c', sessionEntryId: null, platformMessageRef: 'm1', assistantText: '⏳ Working…', kind: 'progress' });
      expect((await store.postedMessages.listForConversation('c', 'progress')).map((c) => c.key)).toEqual(['discord:123:m1']);
      await store.postedMessages.record({
        key: 'discord:123:m1',
        conversationId: 'c',
        sessionEntryId: null,
        platformMessageRef: 'm1',
        assistantText: 'part 1',
        kind: 'answer',
      });
      expect(await store.postedMessages.get('discord:123:m1')).toEqual({ ...first, assistantText: 'part 1', kind: 'answer' });
      expect((await store.postedMessages.listForConversation('c')).map((c) => c.key)).toEqual(['discord:123:m1', 'discord:123:m2']);
      expect(await store.postedMessages.listForConversation('c', 'progress')).toEqual([]);
      expect((await store.postedMessages.listForConversation('c', 'answer')).map((c) => c.key)).toEqual(['discord:123:m1']);
      expect(await store.postedMessages.get('missing')).toBeUndefined();
    });

    it('lists messages of the same millisecond in the order they were first recorded (an upsert keeps the place and createdAt); numbers stay numbers', async () => {
      await store.conversations.ensure({ id: 'c', platform: 'local', channel: 'x' });
      const e = await store.entries.append({
        conversationId: 'c',
        role: 'assistant',
        author: null,
        text: 'a',
        agent: null,
        model: null,
        usage: null,
        costUsd: null,
      });
      const rec = (key: string, kind: 'progress' | 'answer' | 'notice') =>
        store.postedMessages.record({
          key,
          conversationId: 'c',
          sessionEntryId: kind === 'answer' ? e.id : null,
          platformMessageRef: key,
          assistantText: key,
          kind,
        });
      vi.spyOn(Date, 'now').mockReturnValue(T);
      for (const key of ['b', 'a', 'Z', 'c']) await rec(key, 'progress');
      vi.spyOn(Date, 'now').mockReturnValue(T + 5);
      await rec('a', 'answer'); // re-recorded later: keeps its first createdAt and place
      vi.restoreAllMocks();
      const rows = await store.postedMessages.listForConversation('c');
      expect(rows.map((r) => r.key)).toEqual(['b', 'a', 'Z', 'c']);
      expect(rows[1]).toMatchObject({ kind: 'answer', createdAt: T, sessionEntryId: e.id });
      for (const n of [rows[1]!.createdAt, rows[1]!.sessionEntryId]) expect(typeof n).toBe('number');
      expect((await store.postedMessages.listForConversation('c', 'progress')).map((r) => r.key)).toEqual(['b', 'Z', 'c']);
    });

    it('refuses a message of an unknown conversation (foreign key)', async () => {
      await expect(
        store.postedMessages.record({ key: 'k', conversationId: 'nope', sessionEntryId: null, platformMessageRef: 'm', assistantText: 'x', kind: 'notice' }),
      ).rejects.toThrow(/foreign key/i);
    });
  });

  describe('approval rules', () => {
    it('adds a rule once (a repeat keeps the first), lists by creation then tool and key in byte order, covers, clears', async () => {
      vi.spyOn(Date, 'now').mockReturnValue(T);
      for (const tool of [...BYTE_ORDERED].reverse()) await store.approvalRules.add({ conversationId: 'c', tool, ruleKey: '', createdBy: 'ann' });
      await store.approvalRules.add({ conversationId: 'c', tool: 'Bash', ruleKey: 'git status', createdBy: 'ann' });
      await store.approvalRules.add({ conversationId: 'c', tool: 'Bash', ruleKey: 'Git', createdBy: 'ann' });
      vi.spyOn(Date, 'now').mockReturnValue(T + 1);
      await store.approvalRules.add({ conversationId: 'c', tool: 'Bash', ruleKey: 'git status', createdBy: 'bob' });
      await store.approvalRules.add({ conversationId: 'other', tool: 'Read', ruleKey: '/x', createdBy: null });
      vi.restoreAllMocks();
      const rules = await store.approvalRules.list('c');
      expect(rules.map((r) => `${r.tool}|${r.ruleKey}`)).toEqual(['B|', 'Bash|Git', 'Bash|git status', ...BYTE_ORDERED.slice(1).map((t) => `${t}|`)]);
      expect(rules.find((r) => r.ruleKey === 'git status')).toEqual({
        conversationId: 'c',
        tool: 'Bash',
        ruleKey: 'git status',
        createdBy: 'ann',
        createdAt: T,
      });
      expect(typeof rules[0]!.createdAt).toBe('number');

      expect(await store.approvalRules.covers('c', 'Bash', 'git status')).toBe(true);
      expect(await store.approvalRules.covers('c', 'Bash', 'git push')).toBe(false);
      expect(await store.approvalRules.covers('c', 'Bash', 'git')).toBe(false); // exact key, not a prefix or case-insensitive match
      expect(await store.approvalRules.covers('c', 'Bash', undefined)).toBe(false);
      expect(await store.approvalRules.covers('c', 'a', 'anything')).toBe(true); // '' covers every use
      expect(await store.approvalRules.covers('c', 'A', undefined)).toBe(false);
      expect(await store.approvalRules.covers('other', 'Read', '/x')).toBe(true);

      const cleared = await store.approvalRules.clear('c');
      expect(cleared).toBe(BYTE_ORDERED.length + 2);
      expect(typeof cleared).toBe('number');
      expect(await store.approvalRules.list('c')).toEqual([]);
      expect(await store.approvalRules.clear('c')).toBe(0);
      expect(await store.approvalRules.list('other')).toHaveLength(1);
    });
  });

  describe('local messages', () => {
    it('inserts, updates, lists threads and channels', async () => {
      const m = (id: string, channel: string, thread: string, ts: number, text = `text ${id}`, bot = false) =>
        store.localMessages.insert({ id, channel, thread, user: bot ? 'agentbridge' : 'ann', text, bot, ts });
      const t1 = await m('01', 'general', '01', 100, 'x'.repeat(300));
      await m('02', 'general', '01', 200, 'reply', true);
      await m('03', 'general', '03', 150);
      await m('04', 'random', '04', 50);
      expect(t1).toMatchObject({ bot: false, ts: 100 });
      expect(await store.localMessages.get('02')).toMatchObject({ bot: true, user: 'agentbridge', thread: '01' });
      expect((await store.localMessages.list('general', '01')).map((r) => r.id)).toEqual(['01', '02']);

      const updated = (await store.localMessages.update('02', 'reply, edited'))!;
      expect(updated.text).toBe('reply, edited');
      expect(updated.updatedAt).toBeGreaterThanOrEqual(t1.updatedAt);
      expect(await store.localMessages.update('nope', 'x')).toBeUndefined();

      const threads = await store.localMessages.threads('general');
      expect(threads).toEqual([
        { thread: '01', user: 'ann', text: 'x'.repeat(200), ts: 100, replies: 1, lastTs: 200 },
        { thread: '03', user: 'ann', text: 'text 03', ts: 150, replies: 0, lastTs: 150 },
      ]);
      expect((await store.localMessages.threads('general', 1)).map((t) => t.thread)).toEqual(['01']);
      expect(await store.localMessages.channels()).toEqual(['general', 'random']);
      await expect(m('01', 'general', '01', 1)).rejects.toThrow(/UNIQUE|PRIMARY|duplicate key/);
    });

    it('orders threads, messages and channels by byte order; titles are cut at 200 characters (code points); numbers stay numbers', async () => {
      const ins = (id: string, channel: string, thread: string, ts: number, text = id) =>
        store.localMessages.insert({ id, channel, thread, user: 'ann', text, bot: false, ts });
      for (const ch of [...BYTE_ORDERED].reverse()) await ins(`ch-${ch}`, ch, `ch-${ch}`, 1);
      expect(await store.localMessages.channels()).toEqual(BYTE_ORDERED);
      // Threads whose last message has the same ts: by thread id, descending.
      for (const t of BYTE_ORDERED) await ins(t, 'main', t, T);
      expect((await store.localMessages.threads('main')).map((t) => t.thread)).toEqual([...BYTE_ORDERED].reverse());
      // Messages of a thread with the same ts: by id; the first of them is the thread's summary.
      for (const id of [...BYTE_ORDERED].reverse()) await ins(`t-${id}`, 'one', 't', T + 1);
      expect((await store.localMessages.list('one', 't')).map((r) => r.id)).toEqual(BYTE_ORDERED.map((id) => `t-${id}`));
      const title = 'é😀'.repeat(150);
      await ins('long', 'titles', 'long', T + 2, title);
      await ins('long-reply', 'titles', 'long', T + 3);
      const [summary] = await store.localMessages.threads('titles');
      expect(summary).toEqual({ thread: 'long', user: 'ann', text: [...title].slice(0, 200).join(''), ts: T + 2, replies: 1, lastTs: T + 3 });
      for (const n of [summary!.ts, summary!.replies, summary!.lastTs]) expect(typeof n).toBe('number');
      const [oneThread] = await store.localMessages.threads('one');
      expect(oneThread).toMatchObject({ thread: 't', text: 't-B', replies: BYTE_ORDERED.length - 1 });
      const row = (await store.localMessages.get('long'))!;
      for (const n of [row.ts, row.updatedAt]) expect(typeof n).toBe('number');
      expect(await store.localMessages.threads('none')).toEqual([]);
    });

    it('stores the files of a user message (migration 013); none is no key; a hand-edited value counts as none', async () => {
      const files = [
        { id: 'up-1', name: 'a.txt', size: 3, type: 'text/plain' },
        { id: 'up-2', name: 'b.png', size: 9, type: 'image/png' },
      ];
      expect((await store.localMessages.insert({ id: 'f1', channel: 'general', thread: 'f1', user: 'ada', text: '', bot: false, ts: 1, files })).files).toEqual(
        files,
      );
      expect((await store.localMessages.get('f1'))!.files).toEqual(files);
      expect((await store.localMessages.update('f1', 'edited'))!.files).toEqual(files);
      expect(
        'files' in (await store.localMessages.insert({ id: 'f2', channel: 'general', thread: 'f1', user: 'ada', text: 'x', bot: false, ts: 2, files: [] })),
      ).toBe(false);
      await raw(`UPDATE local_messages SET files_json = '[{"id": 1}]' WHERE id = 'f1'`);
      expect('files' in (await store.localMessages.get('f1'))!).toBe(false);
    });

    it('stores the file of a bot message (migration 012)', async () => {
      const file = { name: 'report.pdf', size: 2 ** 33, type: 'application/pdf' };
      expect(
        (await store.localMessages.insert({ id: 'b1', channel: 'general', thread: 'b1', user: 'agentbridge', text: '', bot: true, ts: 1, file })).file,
      ).toEqual(file);
      expect((await store.localMessages.get('b1'))!.file).toEqual(file);
      expect(
        'file' in (await store.localMessages.insert({ id: 'b2', channel: 'general', thread: 'b1', user: 'agentbridge', text: '', bot: true, ts: 2 })),
      ).toBe(false);
    });

    it('stores a message mark (migration 010): the latest state, updatedAt moved on; unknown ids and hand-edited values', async () => {
      const m = await store.localMessages.insert({ id: 'r1', channel: 'general', thread: 'r1', user: 'ada', text: 'hi', bot: false, ts: 1 });
      expect('reaction' in m).toBe(false);
      const working = (await store.localMessages.setReaction('r1', 'working'))!;
      expect(working).toMatchObject({ id: 'r1', text: 'hi', reaction: 'working' });
      expect(working.updatedAt).toBeGreaterThan(m.updatedAt - 1);
      const done = (await store.localMessages.setReaction('r1', 'done'))!;
      expect(done.reaction).toBe('done');
      expect(done.updatedAt).toBeGreaterThan(working.updatedAt);
      expect((await store.localMessages.list('general', 'r1'))[0]!.reaction).toBe('done');
      expect((await store.localMessages.update('r1', 'hi'))!.reaction).toBe('done'); // an edit keeps it
      expect(await store.localMessages.setReaction('missing', 'done')).toBeUndefined();
      await raw(`UPDATE local_messages SET reaction = 'party' WHERE id = 'r1'`);
      expect('reaction' in (await store.localMessages.get('r1'))!).toBe(false);
    });

    it('setReaction moves updatedAt to now, or 1 ms past the previous value when that is later', async () => {
      vi.spyOn(Date, 'now').mockReturnValue(T);
      await store.localMessages.insert({ id: 'r', channel: 'general', thread: 'r', user: 'ada', text: 'hi', bot: false, ts: 1 });
      expect((await store.localMessages.setReaction('r', 'working'))!.updatedAt).toBe(T + 1);
      expect((await store.localMessages.setReaction('r', 'done'))!.updatedAt).toBe(T + 2);
      vi.spyOn(Date, 'now').mockReturnValue(T + 100);
      const later = (await store.localMessages.setReaction('r', 'steered'))!;
      expect(later.updatedAt).toBe(T + 100);
      expect(typeof later.updatedAt).toBe('number');
    });

    it('stores card buttons as JSON (migration 009): kept by a text-only update, replaced or cleared by one with actions', async () => {
      const buttons = [
        { id: 'ab:i1:allow', label: 'Allow', style: 'primary' as const },
        { id: 'ab:i1:deny', label: 'Deny' },
      ];
      const card = await store.localMessages.insert({
        id: 'c1',
        channel: 'general',
        thread: 'c1',
        user: 'agentbridge',
        text: 'ok?',
        bot: true,
        ts: 1,
        actions: buttons,
      });
      expect(card.actions).toEqual(buttons);
      // None: the key is absent, also for an empty list.
      const plain = await store.localMessages.insert({
        id: 'c2',
        channel: 'general',
        thread: 'c1',
        user: 'agentbridge',
        text: 'x',
        bot: true,
        ts: 2,
        actions: [],
      });
      expect('actions' in plain).toBe(false);
      expect(await store.localMessages.update('c1', 'ok? (waiting)')).toMatchObject({ text: 'ok? (waiting)', actions: buttons });
      expect((await store.localMessages.update('c1', 'again?', [buttons[1]!]))!.actions).toEqual([buttons[1]]);
      const cleared = (await store.localMessages.update('c1', 'allowed', []))!;
      expect('actions' in cleared).toBe(false);
      expect(await raw(`SELECT actions_json FROM local_messages WHERE id = 'c1'`)).toEqual([{ actions_json: null }]);
      expect((await store.localMessages.list('general', 'c1')).map((r) => r.actions)).toEqual([undefined, undefined]);
      // A hand-edited, malformed value reads as no buttons instead of failing the thread.
      await raw(`UPDATE local_messages SET actions_json = '{not json' WHERE id = 'c1'`);
      expect((await store.localMessages.get('c1'))!.actions).toBeUndefined();
    });
  });
});
