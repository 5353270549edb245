/**
 * `prune` (src/store/maintenance.ts) on both backends: what each rule removes and keeps, that a
 * dry run reports the same numbers and changes nothing, ids in chunks, and the write lock.
 */
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { sql } from 'kysely';
import pg from 'pg';
import { newCronRun, type CronJob } from '../../src/core/schedule.js';
import type { InboundMessage } from '../../src/core/messages.js';
import { PRUNE_CHUNK, PRUNE_TABLES, prune } from '../../src/store/maintenance.js';
import { openSqliteKysely, type Backend, type SqlContext } from '../../src/store/sql/kysely.js';
import { BACKENDS, openTestStore, type TestStore } from '../helpers/backends.js';
import { freshPostgresDatabase } from '../helpers/pg.js';
import { openPostgresStore } from '../../src/store/postgres.js';
import { createLogger } from '../../src/logger.js';
import { localMessage } from '../helpers/fakes.js';

const DAY = 86_400_000;
const NOW = Date.UTC(2025, 5, 1);
const CUTOFF = new Date(NOW - 30 * DAY);
const ZERO = Object.fromEntries(PRUNE_TABLES.map((t) => [t, 0]));

/** An inbound message with these keys (the local chat's `general` channel; see `localMessage`). */
function message(eventKey: string, conversationId: string, receivedAt: number): InboundMessage {
  return localMessage('t', 'hi', { eventKey, conversationId, receivedAt });
}

function job(id: string): Omit<CronJob, 'createdAt' | 'updatedAt'> {
  return {
    id,
    name: id,
    schedule: { kind: 'cron', expr: '0 9 * * *', tz: 'Europe/Berlin' },
    scheduleText: 'every day at 9',
    target: { platform: 'local', channel: 'general' },
    prompt: 'report',
    sessionMode: 'isolated',
    enabled: true,
    createdBy: 'cli',
    consecutiveFailures: 0,
    nextRunAt: null,
    lastRunAt: null,
  };
}

/** The store's SQL context (the SQLite test store has only its connection: a Kysely over it, never destroyed). */
function sqlOf(store: TestStore): SqlContext {
  return store.backend === 'postgres' ? store.sql : { q: openSqliteKysely(store.db), backend: 'sqlite' };
}

async function count(ctx: SqlContext, table: string): Promise<number> {
  const { rows } = await sql<{ n: number }>`SELECT COUNT(*) AS n FROM ${sql.table(table)}`.execute(ctx.q);
  return Number(rows[0]!.n);
}

/** Row counts of every table prune touches, plus scheduled_messages. */
async function counts(ctx: SqlContext): Promise<Record<string, number>> {
  const out: Record<string, number> = {};
  for (const t of [...PRUNE_TABLES, 'scheduled_messages']) out[t] = await count(ctx, t);
  return out;
}

describe.each(BACKENDS)('prune (%s)', (backend: Backend) => {
  let store: TestStore;
  let ctx: SqlContext;
  let cleanup: () => Promise<void>;

  beforeEach(async () => {
    ({ store, cleanup } = await openTestStore(backend));
    ctx = sqlOf(store);
  });
  afterEach(async () => {
    vi.useRealTimers();
    await cleanup();
  });

  /** Fills the store (Date faked: 60 days ago, then now); returns nothing, the cases assert on ids. */
  async function fill(): Promise<void> {
    const s = store;
    vi.useFakeTimers({ toFake: ['Date'] });
    vi.setSystemTime(NOW - 60 * DAY);

    // Old and idle: removed with its entries, posted message, inbox and outbox rows.
    await s.conversations.ensure({ id: 'idle', platform: 'local', channel: 'x' });
    const e = await s.entries.append({
      conversationId: 'idle',
      role: 'assistant',
      author: null,
      text: 'a',
      agent: null,
      model: null,
      usage: null,
      costUsd: null,
    });
    await s.entries.append({ conversationId: 'idle', role: 'user', author: 'Ann', text: 'q', agent: null, model: null, usage: null, costUsd: null });
    await s.postedMessages.record({ key: 'k-idle', conversationId: 'idle', sessionEntryId: e.id, platformMessageRef: 'r', assistantText: 'a', kind: 'answer' });
    await s.inbox.accept(message('idle-1', 'idle', NOW - 60 * DAY));
    await s.inbox.markDone(['idle-1']);
    await s.outbox.markPosted((await s.outbox.enqueue({ conversationId: 'idle', target: { platform: 'local', channel: 'x' }, text: 'a' })).id, 'r');
    // Cluster mode: the idle conversation's saved agent session files go with it; a live one's stay.
    await s.sessionFiles.save('idle', 'claude', 's1', [{ root: 'claude-config', path: 'projects/x/s1.jsonl', content: '{}\n' }]);
    await s.sessionFiles.save('live', 'claude', 's2', [{ root: 'claude-config', path: 'projects/x/s2.jsonl', content: '{}\n' }]);
    // A delivery lease that lapsed long ago: removed; one held now: kept.
    await s.deliveryLeases.take('idle', 'node-a', 30_000, NOW - 60 * DAY);
    await s.deliveryLeases.take('live', 'node-a', 30_000, NOW);
    // Old but with a queued message: kept (never lose an accepted message).
    await s.conversations.ensure({ id: 'waiting', platform: 'local', channel: 'x' });
    await s.inbox.accept(message('waiting-1', 'waiting', NOW - 60 * DAY));
    // Old, with a running message: kept.
    await s.conversations.ensure({ id: 'busy', platform: 'local', channel: 'x' });
    await s.inbox.accept(message('busy-1', 'busy', NOW - 60 * DAY));
    await s.inbox.markRunning(['busy-1']);
    // Old, with a pending outbox row: kept (the row too).
    await s.conversations.ensure({ id: 'sending', platform: 'local', channel: 'x' });
    await s.outbox.enqueue({ conversationId: 'sending', target: { platform: 'local', channel: 'x' }, text: 'pending' });
    // Old and idle, but with a scheduled message still to run: kept.
    await s.conversations.ensure({ id: 'scheduled', platform: 'local', channel: 'x' });
    await s.scheduledMessages.insert({
      id: 'sm1',
      conversationId: 'scheduled',
      text: 'check again',
      dueAt: NOW + DAY,
      everyMs: null,
      createdBy: 'agent',
      createdAt: NOW - 60 * DAY,
    });
    // Old, with a cron run in flight: kept; the finished runs of the job ended long ago: removed.
    await s.conversations.ensure({ id: 'cron', platform: 'local', channel: 'x' });
    await s.cronJobs.insert(job('j1'));
    await s.cronRuns.insert(
      newCronRun({ jobId: 'j1', scheduledFor: NOW - 60 * DAY, attempt: 1, status: 'running', conversationId: 'cron', startedAt: NOW - 60 * DAY }),
    );
    for (const [i, status] of (['ok', 'failed', 'skipped'] as const).entries()) {
      await s.cronRuns.insert(newCronRun({ jobId: 'j1', scheduledFor: NOW - 59 * DAY + i, attempt: 1, status, endedAt: NOW - 59 * DAY }));
    }
    // A finished run due long ago that never started (skipped, no ended_at): removed by its due time.
    await s.cronRuns.insert(newCronRun({ jobId: 'j1', scheduledFor: NOW - 58 * DAY, attempt: 1, status: 'skipped' }));
    // A finished run due long ago but ended recently: kept; a queued retry: kept.
    await s.cronRuns.insert(newCronRun({ jobId: 'j1', scheduledFor: NOW - 57 * DAY, attempt: 1, status: 'ok', endedAt: NOW }));
    await s.cronRuns.insert(newCronRun({ jobId: 'j1', scheduledFor: NOW - 56 * DAY, attempt: 2, status: 'queued', dueAt: NOW - 56 * DAY }));
    // Old conversation row but recent entries: kept.
    await s.conversations.ensure({ id: 'chatty', platform: 'local', channel: 'x' });
    // Old finished inbox/outbox rows of a live conversation: removed; its recent ones kept.
    await s.conversations.ensure({ id: 'live', platform: 'local', channel: 'x' });
    await s.inbox.accept(message('live-old-done', 'live', NOW - 60 * DAY));
    await s.inbox.markFailed(['live-old-done']);
    await s.outbox.markAttemptFailed(
      (await s.outbox.enqueue({ conversationId: 'live', target: { platform: 'local', channel: 'x' }, text: 'f' })).id,
      'x',
      true,
    );
    // Local chat: an old thread (removed whole) and a thread that started old but is active (kept whole).
    await s.localMessages.insert({ id: 'o1', channel: 'general', thread: 'o1', user: 'ann', text: 'old', bot: false, ts: NOW - 60 * DAY });
    await s.localMessages.insert({ id: 'o2', channel: 'general', thread: 'o1', user: 'agentbridge', text: 'old', bot: true, ts: NOW - 59 * DAY });
    await s.localMessages.insert({ id: 'a1', channel: 'general', thread: 'a1', user: 'ann', text: 'start', bot: false, ts: NOW - 60 * DAY });

    vi.setSystemTime(NOW);
    await s.conversations.update('live', { model: 'm' });
    await s.entries.append({ conversationId: 'chatty', role: 'user', author: 'Ann', text: 'new', agent: null, model: null, usage: null, costUsd: null });
    await s.inbox.accept(message('live-new', 'live', NOW));
    await s.inbox.markDone(['live-new']);
    await s.outbox.markPosted((await s.outbox.enqueue({ conversationId: 'live', target: { platform: 'local', channel: 'x' }, text: 'new' })).id, 'r2');
    await s.localMessages.insert({ id: 'a2', channel: 'general', thread: 'a1', user: 'ann', text: 'recent', bot: false, ts: NOW });
    vi.useRealTimers();
  }

  const EXPECTED = {
    conversations: 1,
    session_entries: 2,
    posted_messages: 1,
    inbox: 2,
    outbox: 2,
    local_messages: 2,
    cron_runs: 4,
    agent_session_files: 1,
    delivery_leases: 1,
  };

  it('a dry run reports what would go and changes nothing', async () => {
    await fill();
    const before = await counts(ctx);
    expect(await prune(ctx, CUTOFF, { dryRun: true })).toEqual(EXPECTED);
    expect(await counts(ctx)).toEqual(before);
    expect(await store.conversations.get('idle')).toBeDefined();
    expect(await store.inbox.get('live-old-done')).toBeDefined();
    // and again: the same report (nothing was committed)
    expect(await prune(ctx, CUTOFF, { dryRun: true })).toEqual(EXPECTED);
  });

  it('removes per rule exactly what the dry run reported, keeps the rest', async () => {
    await fill();
    const before = await counts(ctx);
    const report = await prune(ctx, CUTOFF);
    expect(report).toEqual(EXPECTED);
    const after = await counts(ctx);
    for (const t of PRUNE_TABLES) expect(after[t], t).toBe(before[t]! - EXPECTED[t]);
    expect(after.scheduled_messages).toBe(before.scheduled_messages);

    // conversations: only the idle one went
    expect((await store.conversations.list()).map((c) => c.id).sort()).toEqual(['busy', 'chatty', 'cron', 'live', 'scheduled', 'sending', 'waiting']);
    expect(await store.entries.list('idle')).toEqual([]);
    expect(await store.postedMessages.get('k-idle')).toBeUndefined();
    expect(await store.scheduledMessages.get('sm1')).toBeDefined();
    // inbox: queued/running never removed; old finished removed; recent kept
    expect((await store.inbox.get('waiting-1'))?.state).toBe('queued');
    expect((await store.inbox.get('busy-1'))?.state).toBe('running');
    expect(await store.inbox.get('idle-1')).toBeUndefined();
    expect(await store.inbox.get('live-old-done')).toBeUndefined();
    expect(await store.inbox.get('live-new')).toBeDefined();
    // outbox: pending never removed
    expect((await store.outbox.pending()).map((o) => o.text)).toEqual(['pending']);
    // local chat: whole threads
    expect((await store.localMessages.list('general', 'a1')).map((m) => m.id)).toEqual(['a1', 'a2']);
    expect((await store.localMessages.threads('general')).map((t) => t.thread)).toEqual(['a1']);
    // cron runs: in flight and queued kept, recently ended kept, old finished gone
    expect((await store.cronRuns.listForJob('j1')).map((r) => `${r.status}@${(r.scheduledFor - NOW) / DAY}`).sort()).toEqual([
      'ok@-57',
      'queued@-56',
      'running@-60',
    ]);

    // nothing left
    expect(await prune(ctx, CUTOFF)).toEqual(ZERO);
  });

  it('prunes more conversations than one chunk of ids, with their children', async () => {
    const n = PRUNE_CHUNK * 2 + 7;
    vi.useFakeTimers({ toFake: ['Date'] });
    vi.setSystemTime(NOW - 60 * DAY);
    await store.transaction(async (tx) => {
      for (let i = 0; i < n; i++) {
        const id = `c${String(i).padStart(4, '0')}`;
        await tx.conversations.ensure({ id, platform: 'local', channel: 'x' });
        await tx.entries.append({ conversationId: id, role: 'user', author: 'Ann', text: 'q', agent: null, model: null, usage: null, costUsd: null });
      }
      await tx.conversations.ensure({ id: 'keep', platform: 'local', channel: 'x' });
      await tx.inbox.accept(message('keep-1', 'keep', NOW - 60 * DAY));
    });
    vi.useRealTimers();
    expect(await prune(ctx, CUTOFF, { dryRun: true })).toEqual({ ...ZERO, conversations: n, session_entries: n });
    expect(await count(ctx, 'conversations')).toBe(n + 1);
    expect(await prune(ctx, CUTOFF)).toEqual({ ...ZERO, conversations: n, session_entries: n });
    expect((await store.conversations.list()).map((c) => c.id)).toEqual(['keep']);
    expect(await count(ctx, 'session_entries')).toBe(0);
  });

  it('rejects an invalid date and a transaction context', async () => {
    await expect(prune(ctx, new Date(Number.NaN))).rejects.toThrow(RangeError);
    await ctx.q.transaction().execute(async (t) => {
      await expect(prune({ q: t, backend }, CUTOFF)).rejects.toThrow(/transaction of its own/);
    });
  });
});

describe('prune on PostgreSQL holds off writers', () => {
  it('a message accepted by another session while prune starts keeps its conversation', async () => {
    const db = await freshPostgresDatabase();
    const store = await openPostgresStore({ url: db.url, logger: createLogger('silent') });
    const writer = new pg.Client({ connectionString: db.url, application_name: 'prune-race-writer' });
    await writer.connect();
    try {
      vi.useFakeTimers({ toFake: ['Date'] });
      vi.setSystemTime(NOW - 60 * DAY);
      await store.conversations.ensure({ id: 'idle', platform: 'local', channel: 'x' });
      vi.useRealTimers();

      // Another session accepts a message for the idle conversation and has not committed yet.
      await writer.query('BEGIN');
      await writer.query(
        `INSERT INTO inbox (event_key, conversation_id, payload_json, state, received_at, updated_at) VALUES ('late-1', 'idle', $1, 'queued', $2, $2)`,
        [JSON.stringify(message('late-1', 'idle', NOW - 60 * DAY)), NOW - 60 * DAY],
      );
      const pruned = prune(store.sql, CUTOFF);
      let settled = false;
      void pruned.then(
        () => (settled = true),
        () => (settled = true),
      );
      // Wait (at most 20 s) until prune waits for the writer's lock — or is done, which is the bug.
      const deadline = Date.now() + 20_000;
      for (;;) {
        const { rows } = await store.pool.query<{ n: number }>(
          `SELECT COUNT(*)::int AS n FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock' AND application_name <> 'prune-race-writer'`,
        );
        if (rows[0]!.n > 0 || settled || Date.now() > deadline) break;
        await new Promise((r) => setTimeout(r, 20));
      }
      expect(settled).toBe(false);
      await writer.query('COMMIT');
      expect(await pruned).toEqual(ZERO);
      expect(await store.conversations.get('idle')).toBeDefined();
      expect((await store.inbox.get('late-1'))?.state).toBe('queued');
    } finally {
      vi.useRealTimers();
      await writer.end();
      await store.close();
      await db.drop();
    }
  });
});
