/**
 * The part of pg-boss (12.38) that cluster visibility uses on the turn queue: a structural type
 * so that status, retry and skip take a `PgBoss` (started or not — see {@link openQueueReader})
 * and tests a real one on a test database.
 *
 * Facts (node_modules/pg-boss/dist, 12.38.0):
 * - `getQueue(name)` returns the queue's counts as of pg-boss's last monitor pass (`updatedOn`;
 *   every `monitorIntervalSeconds`, default 60 s, on an instance with `supervise` on), null when
 *   the queue does not exist.
 * - `getBlockedKeys(name)` (key_strict_fifo queues only) lists the distinct `singleton_key`s that
 *   have a job in state `failed`: a failed job holds back the later jobs of its key until it is
 *   retried or deleted (it stays until the queue's deletion policy removes it).
 * - `retry(name, ids)` moves `failed` jobs to `retry` (retry limit + 1, start now); `deleteJob`
 *   removes jobs in any state. Both resolve to `{ affected }` (typed as an empty interface).
 * - A failed job's `output` is what its worker failed it with (a thrown error: `{ message, stack }`).
 */
import { PgBoss } from 'pg-boss';
import { PGBOSS_SCHEMA } from './constants.js';

/** The pg-boss calls of cluster visibility (a `PgBoss` satisfies it). */
export type TurnQueue = Pick<PgBoss, 'getQueue' | 'getBlockedKeys' | 'findJobs' | 'retry' | 'deleteJob'>;

/** How many jobs a pg-boss command changed (its `affected`; the type declares no field). */
export function affected(response: unknown): number {
  const n = (response as { affected?: unknown } | null)?.affected;
  return typeof n === 'number' ? n : 0;
}

/** pg-boss has not been installed in the database (no instance in cluster mode ever started on it). */
export class QueueNotInstalledError extends Error {
  override readonly name = 'QueueNotInstalledError';
}

/**
 * A started pg-boss on `url` for a command beside the running instances (the CLI): no
 * maintenance, no cron, no migration, not registered as an instance, at most 2 connections.
 * `close()` stops it. Throws {@link QueueNotInstalledError} when pg-boss's schema is not in the
 * database (or needs a migration), else what `start` threw (e.g. the database is unreachable).
 */
export async function openQueueReader(url: string): Promise<{ boss: PgBoss; close: () => Promise<void> }> {
  const boss = new PgBoss({ connectionString: url, schema: PGBOSS_SCHEMA, supervise: false, schedule: false, migrate: false, registerInstance: false, max: 2 });
  // An error of an idle pooled connection is emitted as 'error': without a listener it would end the process.
  boss.on('error', () => {});
  try {
    await boss.start();
  } catch (err) {
    await boss.stop({ graceful: false }).catch(() => {});
    const message = err instanceof Error ? err.message : String(err);
    if (/pg-boss is not installed|requires migrations/.test(message)) throw new QueueNotInstalledError(message);
    throw err;
  }
  return { boss, close: () => boss.stop({ graceful: false, timeout: 1000 }) };
}
