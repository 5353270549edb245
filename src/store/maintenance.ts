/**
 * Database maintenance for the `agentbridge db` commands: WAL checkpoint, VACUUM, pruning old rows.
 * These run synchronously on the connection itself, not through the store's connection gate
 * (connection-gate.ts): use them only on a store that nothing else is using (the CLI's own), never
 * while one of its transactions may be open.
 */
import type { Db } from './db.js';
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
export const PRUNE_TABLES = ['conversations', 'session_entries', 'posted_messages', 'inbox', 'outbox', 'local_messages', 'cron_runs'] as const;

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
 * `target` is a connection or anything holding one (the `SqliteStore` of `openStore`).
 * With `opts.dryRun` the same deletes run and are rolled back: the report is exactly what a real
 * prune at that moment would remove, and nothing changes.
 * Returns rows removed (or, dry run, that would be removed) per table (every table of {@link PRUNE_TABLES}, 0 included).
 */
export function prune(target: Db | { readonly db: Db }, before: Date, opts: { dryRun?: boolean } = {}): PruneReport {
  const db = 'prepare' in target ? target : target.db;
  const t = before.getTime();
  if (!Number.isFinite(t)) throw new RangeError('prune: invalid date');
  const report: PruneReport = Object.fromEntries(PRUNE_TABLES.map((name) => [name, 0]));
  const add = (table: string, n: number): void => {
    report[table] = (report[table] ?? 0) + n;
  };

  const run = db.transaction(() => {
    db.exec('CREATE TEMP TABLE IF NOT EXISTS prune_conversations (id TEXT PRIMARY KEY)');
    db.exec('DELETE FROM temp.prune_conversations');
    db.prepare(
      `INSERT INTO temp.prune_conversations (id)
       SELECT c.id FROM conversations AS c
       WHERE c.updated_at < @t
         AND NOT EXISTS (SELECT 1 FROM session_entries e WHERE e.conversation_id = c.id AND e.created_at >= @t)
         AND NOT EXISTS (SELECT 1 FROM posted_messages r WHERE r.conversation_id = c.id AND r.created_at >= @t)
         AND NOT EXISTS (SELECT 1 FROM inbox i WHERE i.conversation_id = c.id
                         AND (i.received_at >= @t OR i.state IN ('queued', 'running')))
         AND NOT EXISTS (SELECT 1 FROM outbox o WHERE o.conversation_id = c.id
                         AND (o.created_at >= @t OR o.state = 'pending'))
         AND NOT EXISTS (SELECT 1 FROM scheduled_messages s WHERE s.conversation_id = c.id)
         AND NOT EXISTS (SELECT 1 FROM cron_runs r WHERE r.conversation_id = c.id AND r.status IN ('queued', 'running'))`,
    ).run({ t });
    for (const table of ['posted_messages', 'session_entries', 'inbox', 'outbox'] as const) {
      add(table, db.prepare(`DELETE FROM ${table} WHERE conversation_id IN (SELECT id FROM temp.prune_conversations)`).run().changes);
    }
    add('conversations', db.prepare('DELETE FROM conversations WHERE id IN (SELECT id FROM temp.prune_conversations)').run().changes);
    db.exec('DELETE FROM temp.prune_conversations');

    add('inbox', db.prepare("DELETE FROM inbox WHERE state IN ('done', 'failed') AND received_at < ?").run(t).changes);
    add('outbox', db.prepare("DELETE FROM outbox WHERE state IN ('posted', 'failed') AND created_at < ?").run(t).changes);
    add(
      'local_messages',
      db
        .prepare(
          `DELETE FROM local_messages WHERE (channel, thread) IN (
             SELECT channel, thread FROM local_messages GROUP BY channel, thread HAVING MAX(ts) < ?)`,
        )
        .run(t).changes,
    );
    add('cron_runs', db.prepare("DELETE FROM cron_runs WHERE status IN ('ok', 'failed', 'skipped') AND COALESCE(ended_at, scheduled_for) < ?").run(t).changes);
    if (opts.dryRun) throw new DryRunRollback();
  });
  try {
    run.immediate();
  } catch (err) {
    if (!(err instanceof DryRunRollback)) throw err;
  }
  return report;
}

/** Thrown inside a dry run's transaction so better-sqlite3 rolls it back. */
class DryRunRollback extends Error {}
