/**
 * Database maintenance for the `agentbridge db` commands: pruning old rows (both backends, see
 * {@link prune}) and SQLite's WAL checkpoint and VACUUM (PostgreSQL's are in pg-maintenance.ts).
 * These run on the connection (or the store's Kysely instance) directly, outside the store's
 * call order (src/store/sql/store.ts): use them only on a store that nothing else is using (the
 * CLI's own), never while one of its transactions may be open.
 */
import { sql } from 'kysely';
import { BUSY_TIMEOUT_MS, type Db } from './db.js';
import { all, run, type Sql, type SqlContext } from './sql/kysely.js';
import type { PruneReport } from './types.js';

/** Result row of `PRAGMA wal_checkpoint`: `busy` 1 if blocked by readers/writers, `log` frames in the WAL, `checkpointed` frames copied. */
export interface WalCheckpointResult {
  busy: number;
  log: number;
  checkpointed: number;
}

/** Checkpoint modes of `PRAGMA wal_checkpoint`. */
export type WalCheckpointMode = 'PASSIVE' | 'FULL' | 'RESTART' | 'TRUNCATE';

/**
 * Runs `PRAGMA wal_checkpoint(<mode>)` (default TRUNCATE: copy the WAL into the database and empty it)
 * and returns its result. On a non-WAL database the pragma reports `log`/`checkpointed` = -1.
 */
export function walCheckpoint(db: Db, mode: WalCheckpointMode = 'TRUNCATE'): WalCheckpointResult {
  const rows = db.pragma(`wal_checkpoint(${mode})`) as WalCheckpointResult[];
  return rows[0]!;
}

/** Rebuilds the database file (`VACUUM`) to return free pages to the OS. Throws `SqliteError` inside a transaction or when busy. */
export function vacuum(db: Db): void {
  db.exec('VACUUM');
}

/** Tables `prune` reports on, in this order. */
export const PRUNE_TABLES = [
  'conversations',
  'session_entries',
  'posted_messages',
  'inbox',
  'outbox',
  'local_messages',
  'cron_runs',
  'agent_session_files',
  'delivery_leases',
] as const;

/** Tables whose writers a prune on PostgreSQL holds off until it ends (what its decisions read or delete). */
const PG_PRUNE_LOCKED_TABLES = [...PRUNE_TABLES, 'scheduled_messages'] as const;

/** Most ids bound in one `IN (…)` list (SQLite allows 32,766 parameters, PostgreSQL 65,535). */
export const PRUNE_CHUNK = 500;

/**
 * Removes, in one transaction, everything older than `before`:
 * - conversations whose `updated_at` is before it and that have no activity since (no session entry,
 *   posted message, inbox or outbox row at or after it) and no unfinished work (no queued/running inbox
 *   row, no pending outbox row, no scheduled message still to run, no cron run in flight) — together
 *   with their entries, posted messages, inbox and outbox rows;
 * - inbox rows `done`/`failed` received before it (queued/running rows are never removed);
 * - outbox rows `posted`/`failed` created before it (pending rows are never removed);
 * - local chat threads whose every message is older than it (whole threads, so none loses its first message);
 * - finished cron runs (ok/failed/skipped) that ended (or were due) before it.
 *
 * `ctx` is a store's own SQL context (`store.sql` of `SqliteStore` or `PostgresStore`); the same
 * SQL runs on both backends. The transaction first takes the write lock (SQLite: a write that
 * changes nothing, like `BEGIN IMMEDIATE`; PostgreSQL: `LOCK TABLE … IN SHARE ROW EXCLUSIVE MODE`
 * on the tables above and `scheduled_messages`, so no writer can add work to a conversation
 * between its selection and its deletion), waiting at most `BUSY_TIMEOUT_MS` (5 s) for writers.
 * The ids of the conversations to prune are selected first, then their rows deleted by id in
 * chunks of {@link PRUNE_CHUNK}.
 *
 * With `opts.dryRun` the same deletes run and are rolled back: the report is exactly what a real
 * prune at that moment would remove, and nothing changes.
 * Returns rows removed (or, dry run, that would be removed) per table (every table of {@link PRUNE_TABLES}, 0 included).
 * Throws `RangeError` for an invalid date, `Error` when `ctx.q` is a transaction (prune needs its
 * own, to roll a dry run back), and the driver's error when the database is busy or fails
 * (nothing is removed then).
 */
export async function prune(ctx: SqlContext, before: Date, opts: { dryRun?: boolean } = {}): Promise<PruneReport> {
  const t = before.getTime();
  if (!Number.isFinite(t)) throw new RangeError('prune: invalid date');
  if (ctx.q.isTransaction) throw new Error("prune runs in a transaction of its own: pass the store's SQL context (store.sql), not a transaction");
  const report: PruneReport = Object.fromEntries(PRUNE_TABLES.map((name) => [name, 0]));
  const add = (table: string, n: number): void => {
    report[table] = (report[table] ?? 0) + n;
  };

  try {
    await ctx.q.transaction().execute(async (q) => {
      await takeWriteLock(q, ctx.backend);
      const ids = (
        await all<{ id: string }>(
          q,
          sql`SELECT c.id FROM conversations AS c
              WHERE c.updated_at < ${t}
                AND NOT EXISTS (SELECT 1 FROM session_entries e WHERE e.conversation_id = c.id AND e.created_at >= ${t})
                AND NOT EXISTS (SELECT 1 FROM posted_messages r WHERE r.conversation_id = c.id AND r.created_at >= ${t})
                AND NOT EXISTS (SELECT 1 FROM inbox i WHERE i.conversation_id = c.id
                                AND (i.received_at >= ${t} OR i.state IN ('queued', 'running')))
                AND NOT EXISTS (SELECT 1 FROM outbox o WHERE o.conversation_id = c.id
                                AND (o.created_at >= ${t} OR o.state = 'pending'))
                AND NOT EXISTS (SELECT 1 FROM scheduled_messages s WHERE s.conversation_id = c.id)
                AND NOT EXISTS (SELECT 1 FROM cron_runs r WHERE r.conversation_id = c.id AND r.status IN ('queued', 'running'))
              ORDER BY c.id`,
        )
      ).map((r) => r.id);
      for (let i = 0; i < ids.length; i += PRUNE_CHUNK) {
        const list = sql.join(ids.slice(i, i + PRUNE_CHUNK));
        for (const table of ['posted_messages', 'session_entries', 'inbox', 'outbox', 'agent_session_files'] as const) {
          add(table, await run(q, sql`DELETE FROM ${sql.table(table)} WHERE conversation_id IN (${list})`));
        }
        add('conversations', await run(q, sql`DELETE FROM conversations WHERE id IN (${list})`));
      }

      add('inbox', await run(q, sql`DELETE FROM inbox WHERE state IN ('done', 'failed') AND received_at < ${t}`));
      add('outbox', await run(q, sql`DELETE FROM outbox WHERE state IN ('posted', 'failed') AND created_at < ${t}`));
      add(
        'local_messages',
        await run(
          q,
          sql`DELETE FROM local_messages WHERE (channel, thread) IN (
                SELECT channel, thread FROM local_messages GROUP BY channel, thread HAVING MAX(ts) < ${t})`,
        ),
      );
      add('cron_runs', await run(q, sql`DELETE FROM cron_runs WHERE status IN ('ok', 'failed', 'skipped') AND COALESCE(ended_at, scheduled_for) < ${t}`));
      // Cluster mode's delivery leases that lapsed before the cut-off (a lease is held for seconds).
      add('delivery_leases', await run(q, sql`DELETE FROM delivery_leases WHERE expires_at < ${t}`));
      if (opts.dryRun) throw new DryRunRollback();
    });
  } catch (err) {
    if (!(err instanceof DryRunRollback)) throw err;
  }
  return report;
}

/** Thrown inside a dry run's transaction so that it is rolled back. */
class DryRunRollback extends Error {}

/**
 * Takes the write lock at the start of prune's transaction `q`, waiting at most `BUSY_TIMEOUT_MS`.
 * SQLite: a delete that matches nothing still starts the write transaction (the connection's
 * `busy_timeout` applies). PostgreSQL: blocks writers of the tables prune reads and deletes.
 */
async function takeWriteLock(q: Sql, backend: SqlContext['backend']): Promise<void> {
  if (backend === 'sqlite') {
    await run(q, sql`DELETE FROM conversations WHERE 0 = 1`);
    return;
  }
  await sql`SET LOCAL lock_timeout = ${sql.lit(`${BUSY_TIMEOUT_MS}ms`)}`.execute(q);
  await sql`LOCK TABLE ${sql.join(PG_PRUNE_LOCKED_TABLES.map((name) => sql.table(name)))} IN SHARE ROW EXCLUSIVE MODE`.execute(q);
}
