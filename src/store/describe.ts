/**
 * What `agentbridge doctor` says about the configured database: for SQLite its path, the SQLite
 * library's version, the schema version and the size of its files; for PostgreSQL the redacted
 * URL, the server's version, the database, the user and the schema version — or why it could not
 * be reached (redacted). Never a password.
 */
import fs from 'node:fs';
import type { DatabaseConfig } from '../core/config.js';
import type { Logger } from '../logger.js';
import { migrationsDir, loadMigrations, schemaVersion, schemaVersionPostgres } from './migrate.js';
import { describePostgres } from './pg-maintenance.js';
import { redactUrl } from './postgres.js';
import { openPostgresKysely } from './sql/kysely.js';
import { openStore, type SqliteStore } from './store.js';

/** Facts of a SQLite store. */
export interface SqliteFacts {
  /** Absolute path of the database file. */
  path: string;
  /** `sqlite_version()` of the library agentbridge uses, e.g. `3.50.4`. */
  version: string;
  /** Highest migration applied (0: none). */
  schemaVersion: number;
  /** Size of the database file plus its `-wal` file, bytes. */
  bytes: number;
}

/** The SQLite facts of an open store (reads only; safe on a readonly store). */
export async function describeSqlite(store: SqliteStore): Promise<SqliteFacts> {
  const row = store.db.prepare('SELECT sqlite_version() AS v').get() as { v: string };
  const size = (p: string): number => {
    try {
      return fs.statSync(p).size;
    } catch {
      return 0;
    }
  };
  return { path: store.dbPath, version: row.v, schemaVersion: schemaVersion(store.db), bytes: size(store.dbPath) + size(`${store.dbPath}-wal`) };
}

/** What {@link inspectDatabase} found: `state` is `ok`, `missing` (SQLite: no file yet) or `error` (it cannot be opened or reached). */
export type DatabaseReport =
  | ({ backend: 'sqlite'; state: 'ok' } & SqliteFacts)
  | { backend: 'sqlite'; state: 'missing'; path: string }
  | { backend: 'sqlite'; state: 'error'; path: string; error: string }
  | {
      backend: 'postgres';
      state: 'ok';
      /** The URL with its password replaced by `***`. */
      url: string;
      version: string;
      database: string;
      user: string;
      /** Highest migration applied (0: agentbridge has not created its schema there yet). */
      schemaVersion: number;
      /** The newest migration this agentbridge knows. */
      knownVersion: number;
    }
  | { backend: 'postgres'; state: 'error'; url: string; /** Why not, without the password. */ error: string };

/**
 * Looks at the configured database without changing it: SQLite is opened read-only (only when its
 * file exists); PostgreSQL through one short-lived connection (5 s connect timeout), no migrations.
 * Never throws: a database that cannot be opened or reached is a report of state `error`.
 */
export async function inspectDatabase(database: DatabaseConfig, logger: Logger): Promise<DatabaseReport> {
  if (database.backend === 'sqlite') {
    const path = database.path;
    if (!fs.existsSync(path)) return { backend: 'sqlite', state: 'missing', path };
    try {
      const store = openStore({ dbPath: path, logger, readonly: true });
      try {
        return { backend: 'sqlite', state: 'ok', ...(await describeSqlite(store)) };
      } finally {
        await store.close();
      }
    } catch (err) {
      return { backend: 'sqlite', state: 'error', path, error: err instanceof Error ? err.message : String(err) };
    }
  }
  const url = redactUrl(database.url);
  const { q, pool } = openPostgresKysely({ url: database.url, maxConnections: 1 });
  try {
    const facts = await describePostgres(pool);
    const version = await schemaVersionPostgres(pool);
    const knownVersion = loadMigrations(migrationsDir('postgres')).at(-1)?.version ?? 0;
    return { backend: 'postgres', state: 'ok', url, ...facts, schemaVersion: version, knownVersion };
  } catch (err) {
    return { backend: 'postgres', state: 'error', url, error: withoutPassword(err instanceof Error ? err.message : String(err), database.url) };
  } finally {
    await q.destroy().catch(() => {});
  }
}

/** `message` with the password of `url` (if any, and if it appears) replaced by `***`. */
export function withoutPassword(message: string, url: string): string {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    return message;
  }
  const password = u.password ? decodeURIComponent(u.password) : (u.searchParams.get('password') ?? '');
  if (!password) return message;
  return message.split(password).join('***').split(encodeURIComponent(password)).join('***');
}
