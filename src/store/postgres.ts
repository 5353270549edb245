/**
 * The session store on PostgreSQL (`AGENTBRIDGE_DATABASE_URL=postgres://…`): a `pg` pool under
 * Kysely, migrated from `migrations/postgres` at open, with the same repositories as SQLite
 * (sql/store.ts). The connection URL's password never reaches a log or an error message: they
 * name {@link redactUrl}'s form of it.
 */
import type pg from 'pg';
import type { Logger } from '../logger.js';
import { watchPostgresPool } from './health.js';
import { assertSchemaNotTooNewPostgres, migratePostgres, schemaVersionPostgres } from './migrate.js';
import { createSqlStore } from './sql/store.js';
import type { TurnJobsHolder } from './sql/repos/turn-jobs.js';
import { openPostgresKysely, type SqlContext } from './sql/kysely.js';
import type { Store } from './types.js';

/** Options of {@link openPostgresStore}. */
export interface OpenPostgresStoreOptions {
  /** `postgres://user:password@host:port/database?…` */
  url: string;
  logger: Logger;
  /**
   * Inspection mode (CLI while the service runs): no migrations; the database must already hold
   * agentbridge's schema; every connection is `default_transaction_read_only`, so a write throws
   * pg's `DatabaseError` (code 25006, read_only_sql_transaction). Default false.
   */
  readonly?: boolean;
  /** Most connections of the pool (default 10, see openPostgresKysely). */
  maxConnections?: number;
}

/** A {@link Store} backed by PostgreSQL. */
export interface PostgresStore extends Store {
  readonly backend: 'postgres';
  /** The pool (health checks, the owner lock); SQL stays inside `src/store/`. */
  readonly pool: pg.Pool;
  /** The store's Kysely instance, for its own portable SQL (maintenance, copy); SQL stays inside `src/store/`. */
  readonly sql: SqlContext;
  /** The connection URL with its password replaced by `***`: for logs and messages. */
  readonly redactedUrl: string;
  /** Cluster mode attaches its wake-up job sender here (src/cluster/queue.ts); `turnJobs.wake` uses it. */
  readonly jobs: TurnJobsHolder;
  readonly readonly: boolean;
  /**
   * The store-health probe (see health.ts): one tiny real write — an upsert of the
   * `platform_state` row `agentbridge:store-probe`, through the store (like SQLite's probe).
   * Throws pg's error when the database cannot be written (server gone, disk full, read-only).
   */
  probeWrite(): Promise<void>;
}

/**
 * `url` with its password (in the user info, or a `password` query parameter) replaced by `***`.
 * A string that is not a URL is replaced as a whole (it could hold a password anywhere).
 */
export function redactUrl(url: string): string {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    return '(unparsable database URL)';
  }
  if (u.password) u.password = '***';
  for (const key of [...u.searchParams.keys()]) {
    if (key.toLowerCase() === 'password') u.searchParams.set(key, '***');
  }
  return u.toString();
}

/**
 * `url` asking the server to make every transaction of the connection read-only: the startup
 * option `-c default_transaction_read_only=on` (the `options` parameter, appended to one the URL
 * already has). A URL that does not parse is returned as it is (the connection then fails).
 */
function withReadOnlyOption(url: string): string {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    return url;
  }
  const options = [u.searchParams.get('options'), '-c default_transaction_read_only=on'].filter(Boolean).join(' ');
  u.searchParams.set('options', options);
  return u.toString();
}

/**
 * Opens the store on the PostgreSQL database at `opts.url`.
 *
 * Writable mode: applies pending migrations (`migratePostgres`: each in its own transaction, under
 * an advisory lock, so processes starting together migrate once). Readonly mode: see
 * {@link OpenPostgresStoreOptions.readonly}.
 *
 * Throws (the pool closed again): an `Error` naming the redacted URL when the server cannot be
 * reached or refuses the connection (its `cause` is pg's error); `SchemaTooNewError` (both modes)
 * when the database is newer than this agentbridge; in readonly mode an `Error` when the database
 * has no agentbridge schema; in writable mode the error of a failing migration.
 */
export async function openPostgresStore(opts: OpenPostgresStoreOptions): Promise<PostgresStore> {
  const redactedUrl = redactUrl(opts.url);
  const readonly = opts.readonly ?? false;
  const { q, pool } = openPostgresKysely({
    url: readonly ? withReadOnlyOption(opts.url) : opts.url,
    maxConnections: opts.maxConnections,
    // The message and code only: pg's error carries its whole Client object.
    onIdleError: (err) =>
      opts.logger.warn(
        { err: err.message, code: (err as { code?: unknown }).code, url: redactedUrl },
        `an idle PostgreSQL connection to ${redactedUrl} failed; the pool replaces it`,
      ),
  });
  // Errors of the pool become storage faults (health.ts), and a connection lost while checked out
  // (a transaction between two statements) cannot crash the process with an unhandled 'error'.
  watchPostgresPool(pool);
  try {
    try {
      await pool.query('SELECT 1');
    } catch (err) {
      throw new Error(`cannot connect to PostgreSQL at ${redactedUrl}: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
    }
    if (readonly) {
      await assertSchemaNotTooNewPostgres(pool);
      if ((await schemaVersionPostgres(pool)) === 0) {
        throw new Error(`the PostgreSQL database at ${redactedUrl} has no agentbridge schema yet (start agentbridge once to create it)`);
      }
    } else {
      const result = await migratePostgres(pool);
      if (result.applied.length > 0) {
        opts.logger.info(
          { url: redactedUrl, applied: result.applied.map((m) => `${String(m.version).padStart(3, '0')}_${m.name}`), version: result.version },
          `applied ${result.applied.length} migration(s) to the PostgreSQL database at ${redactedUrl}`,
        );
      }
    }
  } catch (err) {
    await q.destroy().catch(() => {}); // ends the pool; the open error is the one to report
    throw err;
  }

  const jobs: TurnJobsHolder = {};
  const base = createSqlStore(q, 'postgres', undefined, jobs);
  return {
    ...base,
    backend: 'postgres',
    pool,
    jobs,
    sql: { q, backend: 'postgres' },
    redactedUrl,
    readonly,
    async probeWrite() {
      await base.platformState.set('agentbridge:store-probe', String(Date.now()));
    },
  };
}
