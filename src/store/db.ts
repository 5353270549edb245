/**
 * Opening the SQLite database (better-sqlite3) with agentbridge's connection settings:
 * WAL journal, synchronous=NORMAL, foreign keys on, 5 s busy timeout.
 *
 * Rule for every statement on the connection (the store's driver, sql/sqlite-driver.ts, follows it
 * for all statements that return rows): a write that returns its row (`INSERT/UPDATE/DELETE …
 * RETURNING`) runs with `.all()`, never `.get()`. Verified with better-sqlite3 12.11.1 on a full disk: `.get()`
 * in autocommit mode returns the new row and swallows the failed commit (the change is rolled
 * back without an error), while `.all()` throws SQLITE_FULL (test/unit/store-full-returning.test.ts).
 */
import fs from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';

/** A better-sqlite3 connection. */
export type Db = Database.Database;

/** Options of {@link openDatabase}. */
export interface OpenDatabaseOptions {
  /**
   * Open read-only (for CLI inspection while the service runs): the file must exist, nothing is
   * created or changed (no journal-mode switch), `query_only` is on. Default false.
   */
  readonly?: boolean;
}

/** Busy timeout for every connection, in ms: how long a statement waits for another connection's lock. */
export const BUSY_TIMEOUT_MS = 5000;

/**
 * Opens (and, unless readonly, creates with its parent directory) the database at `dbPath`.
 * `':memory:'` is accepted for tests (its journal mode stays "memory").
 *
 * Throws better-sqlite3's `SqliteError` — e.g. code `SQLITE_NOTADB` when the file is not a
 * database, `SQLITE_CANTOPEN` when a readonly open finds no file — and `Error` when a file
 * database cannot be switched to WAL. The connection is closed before anything is thrown.
 */
export function openDatabase(dbPath: string, opts: OpenDatabaseOptions = {}): Db {
  const memory = dbPath === ':memory:';
  if (!opts.readonly && !memory) fs.mkdirSync(path.dirname(path.resolve(dbPath)), { recursive: true });
  const db = opts.readonly ? new Database(dbPath, { readonly: true, fileMustExist: true }) : new Database(dbPath);
  try {
    // First, so that the statements below wait for other connections instead of failing.
    db.pragma(`busy_timeout = ${BUSY_TIMEOUT_MS}`);
    if (opts.readonly) {
      db.pragma('query_only = ON');
      // Touch the schema now so that a file that is not a database fails here, not on first use.
      db.pragma('schema_version', { simple: true });
      return db;
    }
    const mode = db.pragma('journal_mode = WAL', { simple: true });
    if (!memory && mode !== 'wal') throw new Error(`could not switch ${dbPath} to WAL mode (journal_mode is ${String(mode)})`);
    db.pragma('synchronous = NORMAL');
    db.pragma('foreign_keys = ON');
    return db;
  } catch (err) {
    db.close();
    throw err;
  }
}
