/**
 * The store tests of the SQL store (src/store/sql/: one set of queries for both backends) run
 * against both backends: `describe.each(BACKENDS)('… (%s)', (backend) => …)` with
 * {@link openTestStore} giving an empty, migrated store of that backend.
 */
import { Client as PgClient } from 'pg';
import { afterAll } from 'vitest';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { openPostgresStore, type PostgresStore } from '../../src/store/postgres.js';
import type { Backend } from '../../src/store/sql/kysely.js';
import type { AppStore } from '../../src/store/open.js';
import { openStore, type SqliteStore } from '../../src/store/store.js';
import { createLogger } from '../../src/logger.js';
import { freshPostgresDatabase } from './pg.js';

/** Both backends, for `describe.each`. */
export const BACKENDS: Backend[] = ['sqlite', 'postgres'];

/** A store of either backend, with its connection (SQLite) or pool (PostgreSQL) for raw SQL. */
export type TestStore = SqliteStore | PostgresStore;

/**
 * An empty, migrated store of `backend` (the app's SQLite store, `openStore`, in memory; PostgreSQL in a new database of
 * the test server); `cleanup` closes and removes it. `url`: the PostgreSQL database's (for a
 * second pool on it). With `opts.shared`, see {@link TestStoreOptions}.
 */
export async function openTestStore(backend: Backend, opts: TestStoreOptions = {}): Promise<{ store: TestStore; cleanup: () => Promise<void>; url?: string }> {
  if (backend === 'postgres' && opts.shared) return openSharedPostgresStore();
  if (backend === 'sqlite') {
    const store = openStore({ dbPath: ':memory:', logger: createLogger('silent') });
    return { store, cleanup: () => store.close() };
  }
  const pg = await freshPostgresDatabase();
  const store = await openPostgresStore({ url: pg.url, logger: createLogger('silent') });
  return {
    store,
    url: pg.url,
    cleanup: async () => {
      await store.close();
      await pg.drop();
    },
  };
}

/** Options of {@link openTestStore}. */
export interface TestStoreOptions {
  /**
   * PostgreSQL only (SQLite in memory is new each time anyway): one database per test file,
   * created and migrated at the file's first open and dropped after its last test; each open
   * first ends every other connection to it (a previous test's pool, an abandoned transaction)
   * and empties every table (ids start at 1 again), so a test sees
   * what a new database would give it, about a tenth of the cost. Default false.
   */
  shared?: boolean;
}

/** The test file's shared database (see {@link TestStoreOptions.shared}), once created. */
let shared: Promise<{ url: string; drop: () => Promise<void> }> | undefined;

// Hooks at the top level of a module the test file imports belong to the file's root suite.
afterAll(async () => {
  const db = shared;
  shared = undefined;
  if (db) await (await db).drop();
});

/** The file's shared PostgreSQL database, emptied, and a store on it (a new pool; `cleanup` closes it). */
async function openSharedPostgresStore(): Promise<{ store: PostgresStore; cleanup: () => Promise<void>; url: string }> {
  shared ??= freshPostgresDatabase();
  const { url } = await shared;
  await emptyDatabase(url);
  const store = await openPostgresStore({ url, logger: createLogger('silent') });
  return { store, url, cleanup: () => store.close() };
}

/**
 * Ends the other connections to the database at `url`, empties its tables (not
 * `schema_migrations`) and restarts its sequences (identity columns count from 1 again). `DELETE`
 * with foreign-key triggers off (`session_replication_role = replica`, the test server's role is
 * a superuser), not `TRUNCATE`: on a few rows it is several times faster. No-op on a database
 * without tables.
 */
async function emptyDatabase(url: string): Promise<void> {
  const client = new PgClient({ connectionString: url });
  await client.connect();
  try {
    await client.query('SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()');
    const { rows } = await client.query<{ sql: string }>(
      `SELECT format('DELETE FROM %I', tablename) AS sql FROM pg_tables WHERE schemaname = current_schema() AND tablename <> 'schema_migrations'
       UNION ALL SELECT format('ALTER SEQUENCE %I RESTART', sequencename) FROM pg_sequences WHERE schemaname = current_schema()`,
    );
    if (rows.length > 0) await client.query(['SET session_replication_role = replica', ...rows.map((r) => r.sql)].join(';\n'));
  } finally {
    await client.end();
  }
}

/**
 * A database a test can open more than once (a restart of agentbridge on it), with the app's own
 * store of `backend`: SQLite a file in a new temporary directory (`openStore`), PostgreSQL a new
 * database of the test server (with `opts.shared`: the test file's one database, emptied now; see
 * {@link TestStoreOptions}).
 */
export interface TestDatabase {
  backend: Backend;
  /** Opens a store on the database (migrated, like agentbridge's start); the caller closes it. */
  open(): Promise<AppStore>;
  /** Removes the database (SQLite: its directory; PostgreSQL: drops it, unless it is the shared one). Close its stores first. */
  remove(): Promise<void>;
}

/** See {@link TestDatabase}. */
export async function testDatabase(backend: Backend, opts: TestStoreOptions = {}): Promise<TestDatabase> {
  const logger = createLogger('silent');
  if (backend === 'sqlite') {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'agentbridge-testdb-'));
    const dbPath = path.join(dir, 'agentbridge.db');
    return {
      backend,
      open: async () => openStore({ dbPath, logger }),
      remove: async () => fs.rmSync(dir, { recursive: true, force: true }),
    };
  }
  if (opts.shared) {
    shared ??= freshPostgresDatabase();
    const { url } = await shared;
    await emptyDatabase(url);
    return { backend, open: () => openPostgresStore({ url, logger }), remove: async () => {} };
  }
  const db = await freshPostgresDatabase();
  return { backend, open: () => openPostgresStore({ url: db.url, logger }), remove: () => db.drop() };
}
