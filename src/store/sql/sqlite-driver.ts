/**
 * Kysely's dialect for the app's SQLite store: one better-sqlite3 connection (opened, migrated and
 * closed by `src/store/store.ts`), shared by every query.
 *
 * Differences from Kysely's own `SqliteDialect` (https://kysely.dev, 0.29):
 * - a transaction starts with `BEGIN IMMEDIATE` (the write lock is taken at once, so no later
 *   write of it fails with SQLITE_BUSY because another connection wrote in between); a readonly
 *   connection uses a plain `BEGIN`;
 * - when SQLite rolled a transaction back on its own after an error of one of its statements (it
 *   may, e.g. on SQLITE_FULL while spilling pages, or SQLITE_IOERR: `db.inTransaction` turns
 *   false), every later statement of it and its `COMMIT` reject with
 *   {@link TransactionRolledBackError} instead of running in autocommit mode;
 * - a statement is prepared once per SQL string (a bounded cache); a statement that returns rows
 *   (`stmt.reader`, RETURNING included) runs with `.all()`, never `.get()` (see db.ts);
 * - the connection is handed out by a FIFO mutex ({@link FifoMutex}): one query or transaction
 *   at a time, in the order they asked; `destroy` waits for the current holder.
 * - a direct path for the store's query helpers (kysely.ts): {@link SqliteStoreDriver.runIfFree}
 *   and {@link SqliteStoreDriver.runHeld} run a compiled query synchronously, with the same
 *   checks, skipping Kysely's connection hand-out.
 */
import {
  type CompiledQuery,
  SqliteAdapter,
  SqliteIntrospector,
  SqliteQueryCompiler,
  type DatabaseConnection,
  type DatabaseIntrospector,
  type Dialect,
  type DialectAdapter,
  type Driver,
  type Kysely,
  type QueryCompiler,
  type QueryResult,
} from 'kysely';
import type Database from 'better-sqlite3';
import type { Db } from '../db.js';
import { FifoMutex } from './fifo-mutex.js';

/** Most prepared statements kept per connection (the store's queries are far fewer). */
const STATEMENT_CACHE_SIZE = 500;

/**
 * A statement (or the end) of a transaction that SQLite rolled back on its own after one of its
 * statements failed (e.g. SQLITE_FULL while spilling pages): nothing of the transaction was
 * stored. `cause` is that statement's error, `code` its code (so that `isStorageFault` counts it
 * as the same storage fault); both undefined when the rollback had no failed statement.
 */
export class TransactionRolledBackError extends Error {
  override readonly name = 'TransactionRolledBackError';
  readonly code: string | undefined;

  constructor(cause: unknown) {
    const code = (cause as { code?: unknown } | undefined)?.code;
    const why = cause instanceof Error ? ` (${typeof code === 'string' ? `${code}: ` : ''}${cause.message})` : '';
    super(`the transaction was rolled back by SQLite after an error of one of its statements${why}; nothing of it was stored`, { cause });
    this.code = typeof code === 'string' ? code : undefined;
  }
}

/** The one connection: runs compiled queries on `db` and tracks the transaction it began. */
class SqliteStoreConnection implements DatabaseConnection {
  private readonly statements = new Map<string, Database.Statement>();
  /** Between this connection's BEGIN and its COMMIT/ROLLBACK. */
  inTransaction = false;
  /** The last error a statement of the open transaction threw (the cause when SQLite rolled it back). */
  lastError: unknown;
  /** Set when a ROLLBACK failed and the connection is still inside that transaction. */
  stuck: Error | undefined;

  constructor(readonly db: Db) {}

  async executeQuery<R>(query: CompiledQuery): Promise<QueryResult<R>> {
    return this.execute<R>(query.sql, query.parameters);
  }

  // eslint-disable-next-line require-yield
  async *streamQuery<R>(): AsyncIterableIterator<QueryResult<R>> {
    throw new Error('the SQLite store does not stream queries');
  }

  /** Runs one statement (synchronously; see the file comment for the transaction checks). */
  execute<R>(text: string, parameters: readonly unknown[] = []): QueryResult<R> {
    this.assertUsable();
    try {
      const stmt = this.statement(text);
      if (stmt.reader) return { rows: stmt.all(parameters) as R[] };
      const { changes, lastInsertRowid } = stmt.run(parameters);
      return { numAffectedRows: BigInt(changes), insertId: BigInt(lastInsertRowid), rows: [] };
    } catch (err) {
      if (this.inTransaction) this.lastError = err;
      throw err;
    }
  }

  /** Throws when SQLite rolled back this connection's transaction, or when a failed ROLLBACK left one open. */
  private assertUsable(): void {
    if (!this.db.open) return; // better-sqlite3 throws its own "not open" error
    if (this.inTransaction) {
      if (!this.db.inTransaction) throw new TransactionRolledBackError(this.lastError);
    } else if (this.stuck) {
      if (this.db.inTransaction) throw this.stuck;
      this.stuck = undefined;
    }
  }

  private statement(text: string): Database.Statement {
    let stmt = this.statements.get(text);
    if (!stmt) {
      stmt = this.db.prepare(text);
      if (this.statements.size >= STATEMENT_CACHE_SIZE) this.statements.delete(this.statements.keys().next().value!);
      this.statements.set(text, stmt);
    }
    return stmt;
  }
}

/** The driver of {@link SqliteStoreDialect}. */
export class SqliteStoreDriver implements Driver {
  private readonly mutex = new FifoMutex();
  private readonly connection: SqliteStoreConnection;

  constructor(db: Db) {
    this.connection = new SqliteStoreConnection(db);
  }

  async init(): Promise<void> {}

  /**
   * Runs `query` at once (synchronously, skipping Kysely's connection hand-out) when nobody holds
   * the connection; undefined when someone does (the caller then goes through Kysely).
   */
  runIfFree<R>(query: CompiledQuery): QueryResult<R> | undefined {
    return this.mutex.isHeld ? undefined : this.connection.execute<R>(query.sql, query.parameters);
  }

  /** Runs `query` at once inside the transaction that holds the connection (its caller runs that transaction's calls one at a time). */
  runHeld<R>(query: CompiledQuery): QueryResult<R> {
    return this.connection.execute<R>(query.sql, query.parameters);
  }

  async acquireConnection(): Promise<DatabaseConnection> {
    await this.mutex.lock();
    return this.connection;
  }

  async releaseConnection(): Promise<void> {
    this.mutex.unlock();
  }

  async beginTransaction(): Promise<void> {
    const c = this.connection;
    c.execute(c.db.readonly ? 'BEGIN' : 'BEGIN IMMEDIATE');
    c.inTransaction = true;
    c.lastError = undefined;
  }

  /** Commits; throws {@link TransactionRolledBackError} when SQLite had rolled the transaction back (Kysely then calls rollbackTransaction). */
  async commitTransaction(): Promise<void> {
    this.connection.execute('COMMIT');
    this.connection.inTransaction = false;
  }

  /**
   * Rolls back when a transaction is still open. A failing ROLLBACK is not thrown (the caller's
   * error is the one that matters) but keeps every later statement from running inside that
   * transaction until it has ended.
   */
  async rollbackTransaction(): Promise<void> {
    const c = this.connection;
    c.inTransaction = false;
    if (!c.db.open || !c.db.inTransaction) return;
    try {
      c.execute('ROLLBACK');
    } catch (err) {
      if (c.db.inTransaction) c.stuck = new Error('the database connection is stuck in a transaction that could not be rolled back', { cause: err });
    }
  }

  /** Waits for the connection's current holder, then closes it. */
  async destroy(): Promise<void> {
    await this.mutex.lock();
    try {
      if (this.connection.db.open) this.connection.db.close();
    } finally {
      this.mutex.unlock();
    }
  }
}

/** Kysely's SQLite adapter, except that the driver serializes its one connection itself (RuntimeDriver must not add a second mutex). */
class SqliteStoreAdapter extends SqliteAdapter {
  override get supportsMultipleConnections(): boolean {
    return true;
  }
}

/** The dialect over one open better-sqlite3 connection (see the file comment); Kysely's `destroy` closes it. */
export class SqliteStoreDialect implements Dialect {
  /** The dialect's one driver (for the store's direct path, kysely.ts). */
  readonly driver: SqliteStoreDriver;

  constructor(db: Db) {
    this.driver = new SqliteStoreDriver(db);
  }

  createDriver(): Driver {
    return this.driver;
  }

  createQueryCompiler(): QueryCompiler {
    return new SqliteQueryCompiler();
  }

  createAdapter(): DialectAdapter {
    return new SqliteStoreAdapter();
  }

  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  createIntrospector(db: Kysely<any>): DatabaseIntrospector {
    return new SqliteIntrospector(db);
  }
}
