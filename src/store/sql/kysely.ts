/**
 * The SQL layer shared by both backends: one Kysely instance per store, over better-sqlite3
 * (SQLite, embedded default) or a `pg` pool (PostgreSQL). Repositories write their queries once
 * with Kysely's `sql` template (placeholders are compiled per dialect) and run them through the
 * helpers below; the few statements whose SQL differs ask {@link SqlContext.backend}.
 *
 * Kysely: https://kysely.dev (0.29). PostgreSQL's `bigint`/`numeric` come back from `pg` as
 * strings by default (https://node-postgres.com/features/types): {@link openPostgresKysely}
 * parses them as numbers, so millisecond timestamps and counts are numbers on both backends.
 */
import { Kysely, PostgresDialect, type CompiledQuery, type QueryResult, type RawBuilder } from 'kysely';
import pg from 'pg';
import type { Db } from '../db.js';
import { SqliteStoreDialect, type SqliteStoreDriver } from './sqlite-driver.js';

/** Which database a store runs on. */
export type Backend = 'sqlite' | 'postgres';

/** A Kysely instance or transaction; the schema is untyped here (the repositories type their rows). */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type Sql = Kysely<any>;

/** What a repository is created with. */
export interface SqlContext {
  /** Where its queries run: the store's Kysely instance, or a transaction of it. */
  q: Sql;
  backend: Backend;
}

/**
 * Kysely over an open better-sqlite3 connection (sqlite-driver.ts: `BEGIN IMMEDIATE`, SQLite's own
 * rollbacks detected, prepared statements cached). Destroying the Kysely instance closes `db`.
 */
export function openSqliteKysely(db: Db): Sql {
  const dialect = new SqliteStoreDialect(db);
  const q = new Kysely({ dialect });
  drivers.set(q, dialect.driver);
  direct.set(q, (c) => dialect.driver.runIfFree(c));
  return q;
}

/** The SQLite driver of each SQLite store's Kysely instance. */
const drivers = new WeakMap<Sql, SqliteStoreDriver>();
/**
 * The direct path of the SQLite store (speed: better-sqlite3 is synchronous, and Kysely's
 * executor adds several promise hops per query): Kysely instances and transactions whose queries
 * the helpers below compile and run at once on the connection. Undefined from the runner means
 * "not now" (the connection is held): the query then goes through Kysely as usual.
 */
const direct = new WeakMap<Sql, (query: CompiledQuery) => QueryResult<unknown> | undefined>();

/**
 * Lets the helpers below run the queries of `trx`, a transaction of the SQLite store's `q` that
 * holds the connection, at once on it. Only for a transaction whose calls the caller runs one at
 * a time (sql/store.ts). No-op for PostgreSQL.
 */
export function runDirectlyIn(trx: Sql, q: Sql): void {
  const driver = drivers.get(q);
  if (driver) direct.set(trx, (c) => driver.runHeld(c));
}

/** Runs `query` on `q`: on the direct path when it has one and it is free, else through Kysely. */
async function execute<R>(q: Sql, query: RawBuilder<R>): Promise<QueryResult<R>> {
  const run = direct.get(q);
  const result = run?.(query.compile(q)) as QueryResult<R> | undefined;
  return result ?? query.execute(q);
}

/** pg type ids parsed as numbers: int8 (20) and numeric (1700). Values stay below 2^53 (ms timestamps, counts, ids). */
const NUMERIC_TYPE_IDS = new Set([20, 1700]);

/** Options of {@link openPostgresKysely}. */
export interface PostgresOptions {
  /** `postgres://…` connection string. */
  url: string;
  /** Most connections of the pool (default 10). */
  maxConnections?: number;
  /** Called for an error of an idle pooled connection (the server went away); the pool replaces it. */
  onIdleError?: (err: Error) => void;
}

/** Kysely over a `pg` pool for `url`, and the pool (for health checks and the owner lock). */
export function openPostgresKysely(opts: PostgresOptions): { q: Sql; pool: pg.Pool } {
  const pool = new pg.Pool({
    connectionString: opts.url,
    max: opts.maxConnections ?? 10,
    connectionTimeoutMillis: 5000,
    types: {
      getTypeParser: ((id: number, format?: 'text' | 'binary') =>
        NUMERIC_TYPE_IDS.has(id) ? (v: string) => Number(v) : pg.types.getTypeParser(id, format)) as typeof pg.types.getTypeParser,
    },
  });
  pool.on('error', (err) => opts.onIdleError?.(err));
  return { q: new Kysely({ dialect: new PostgresDialect({ pool }) }), pool };
}

/** The rows of `query`. */
export async function all<R>(q: Sql, query: RawBuilder<R>): Promise<R[]> {
  return (await execute(q, query)).rows;
}

/** The first row of `query`, or undefined. */
export async function first<R>(q: Sql, query: RawBuilder<R>): Promise<R | undefined> {
  return (await execute(q, query)).rows[0];
}

/** Runs a statement without RETURNING and resolves to the number of rows it changed. */
export async function run(q: Sql, query: RawBuilder<unknown>): Promise<number> {
  return Number((await execute(q, query)).numAffectedRows ?? 0);
}

/**
 * Runs `fn` in a transaction of `q`, or directly in `q` when `q` already is one (a repository
 * method that needs several statements to be atomic, called inside the caller's transaction).
 */
export function atomically<T>(q: Sql, fn: (t: Sql) => Promise<T>): Promise<T> {
  return q.isTransaction ? fn(q) : q.transaction().execute(fn);
}
