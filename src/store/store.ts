/**
 * The session store: opens the database (creating, migrating and — if corrupt — replacing it)
 * and wires up one repository per table.
 */
import fs from 'node:fs';
import path from 'node:path';
import type { Logger } from '../logger.js';
import { openDatabase, type Db } from './db.js';
import { createPrivateFile, ensurePrivateDir, tightenFile } from './files.js';
import { checkMarker, databaseExists, DatabaseMissingError, markerPath, readMarker, writeMarker, type DatabaseMarker } from './marker.js';
import { assertSchemaNotTooNew, migrate } from './migrate.js';
import type { Store } from './types.js';
import { openSqliteKysely, type SqlContext } from './sql/kysely.js';
import { createSqlStore } from './sql/store.js';

/** Options of {@link openStore}. */
export interface OpenStoreOptions {
  /** Path of the database file (its directory is created), or `':memory:'` for tests. */
  dbPath: string;
  logger: Logger;
  /**
   * Inspection mode (CLI while the service runs): the file must exist; no migrations, no
   * corruption handling; writes reject with `SqliteError` (SQLITE_READONLY); a transaction starts
   * with a plain `BEGIN` (no write lock). Default false.
   */
  readonly?: boolean;
}

/** A {@link Store} backed by SQLite, with access to the connection for maintenance (`src/store`, the CLI's `db` commands, tests). */
export interface SqliteStore extends Store {
  readonly backend: 'sqlite';
  /**
   * Kysely over the same connection (the store's own; sql/sqlite-driver.ts), for the store's own
   * portable SQL (maintenance, copy). Its queries take turns with the store's on the connection
   * but not in the store's call order: use it only where no transaction of the store can be open.
   * Never destroyed separately (closing the store closes the connection).
   */
  readonly sql: SqlContext;
  /**
   * The connection; for `maintenance.ts`, the checkpointer and tests — SQL stays inside
   * `src/store/`. Used directly it bypasses the store's turns (sql/store.ts): only where no
   * transaction of the store can be open.
   */
  readonly db: Db;
  readonly dbPath: string;
  readonly readonly: boolean;
  /**
   * The store-health probe (see health.ts): the database's file system has at least
   * {@link PROBE_MIN_FREE_BYTES} free (statfs), then one tiny real write — an upsert of the
   * `platform_state` row `agentbridge:store-probe`; waits while a transaction is open. Rejects with
   * `SqliteError` (e.g. SQLITE_FULL) when the database cannot be written, and with an `Error` with
   * code `ENOSPC` when too little space is free (on a nearly full disk a tiny write can succeed in
   * space SQLite already holds while larger ones still fail).
   */
  probeWrite(): Promise<void>;
}

/** Free space the store probe asks for on the database's file system, in bytes (256 KiB). */
export const PROBE_MIN_FREE_BYTES = 256 * 1024;

/** Throws an `Error` with code `ENOSPC` when `dir`'s file system has fewer than `minBytes` available to this user. */
function assertFreeSpace(dir: string, minBytes: number): void {
  const st = fs.statfsSync(dir);
  const free = st.bavail * st.bsize;
  if (free < minBytes) {
    throw Object.assign(new Error(`only ${free} bytes free on the file system of ${dir} (at least ${minBytes} wanted)`), { code: 'ENOSPC' });
  }
}

/** `PRAGMA quick_check` did not report "ok". */
export class CorruptDatabaseError extends Error {
  override readonly name = 'CorruptDatabaseError';
  /** SQLite-like code so that it is treated like SQLITE_CORRUPT. */
  readonly code = 'SQLITE_CORRUPT';
}

/**
 * Opens the store at `opts.dbPath`.
 *
 * Writable mode: creates the file (and directory), applies pending migrations, and checks integrity
 * (`PRAGMA quick_check`). A corrupt file (SQLITE_NOTADB, SQLITE_CORRUPT*, or a failing quick check)
 * is moved aside with its -wal/-shm to `<dbPath>.corrupt-<ISO time, ':' → '-'>`, a fresh database is
 * created (with a new marker naming the old path in `replaces`), and `logger.error` names both paths.
 * File modes (files.ts): the directory is created 0700 (an existing one tightened), the database
 * file is created 0600 before SQLite opens it (so its -wal/-shm get 0600 too), existing ones are
 * tightened. The marker (marker.ts): a new database gets `<dbPath>.id`; a marker whose database is
 * missing or empty throws `DatabaseMissingError`; an existing database without one gets one.
 *
 * Readonly mode: see {@link OpenStoreOptions.readonly}.
 *
 * Throws `SchemaTooNewError` (both modes) when the database is newer than this agentbridge; in readonly
 * mode the `SqliteError` of a missing or unreadable file; in writable mode `DatabaseMissingError`
 * and any non-corruption error.
 */
export function openStore(opts: OpenStoreOptions): SqliteStore {
  const db = opts.readonly ? openReadonly(opts.dbPath) : openWritable(opts.dbPath, opts.logger);
  try {
    const q = openSqliteKysely(db);
    const memory = opts.dbPath === ':memory:';
    // Closing the store destroys `q` (which closes `db`, once it has run a query) and then this.
    const base = createSqlStore(q, 'sqlite', async () => {
      if (db.open) db.close();
    });
    return {
      ...base,
      backend: 'sqlite',
      sql: { q, backend: 'sqlite' },
      db,
      dbPath: opts.dbPath,
      readonly: opts.readonly ?? false,
      async probeWrite() {
        if (!memory) assertFreeSpace(path.dirname(path.resolve(opts.dbPath)), PROBE_MIN_FREE_BYTES);
        await base.platformState.set('agentbridge:store-probe', String(Date.now()));
      },
    };
  } catch (err) {
    db.close();
    throw err;
  }
}

function openReadonly(dbPath: string): Db {
  const db = openDatabase(dbPath, { readonly: true });
  try {
    assertSchemaNotTooNew(db);
    return db;
  } catch (err) {
    db.close();
    throw err;
  }
}

function openWritable(dbPath: string, logger: Logger): Db {
  if (dbPath === ':memory:') return openChecked(dbPath);
  ensurePrivateDir(path.dirname(path.resolve(dbPath)), logger);
  const { needsMarker } = checkMarker(dbPath);
  const replace = (err: unknown): Db => {
    const movedTo = moveAside(dbPath);
    logger.error({ err, dbPath, movedTo }, `database ${dbPath} is corrupt; moved it to ${movedTo} and created a fresh one`);
    createPrivateFile(dbPath, logger);
    const fresh = openChecked(dbPath);
    try {
      writeMarker(dbPath, { replaces: movedTo });
    } catch (e) {
      fresh.close();
      throw e;
    }
    return fresh;
  };
  // Checked before SQLite touches the file: opening a non-database deletes its -wal/-shm on close,
  // and those must be kept for inspection.
  if (!hasSqliteHeader(dbPath)) {
    return replace(new CorruptDatabaseError(`${dbPath} does not start with the SQLite header`));
  }
  createPrivateFile(dbPath, logger);
  for (const suffix of ['-wal', '-shm']) tightenFile(dbPath + suffix, logger);
  let db: Db;
  try {
    db = openChecked(dbPath);
  } catch (err) {
    if (!isCorruption(err)) throw err;
    return replace(err);
  }
  if (needsMarker) {
    try {
      writeMarker(dbPath);
    } catch (err) {
      db.close();
      throw err;
    }
  }
  return db;
}

const SQLITE_HEADER = Buffer.from('SQLite format 3\0', 'latin1');

/** False when `dbPath` exists, is not empty, and does not start with the SQLite header (missing/empty files are fine). */
function hasSqliteHeader(dbPath: string): boolean {
  let fd: number;
  try {
    fd = fs.openSync(dbPath, 'r');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return true;
    throw err;
  }
  try {
    const head = Buffer.alloc(SQLITE_HEADER.length);
    const n = fs.readSync(fd, head, 0, head.length, 0);
    return n === 0 || (n === head.length && head.equals(SQLITE_HEADER));
  } finally {
    fs.closeSync(fd);
  }
}

function openChecked(dbPath: string): Db {
  const db = openDatabase(dbPath);
  try {
    const rows = db.pragma('quick_check') as Array<{ quick_check: string }>;
    if (rows.length !== 1 || rows[0]?.quick_check !== 'ok') {
      throw new CorruptDatabaseError(`quick_check of ${dbPath} failed: ${rows.map((r) => r.quick_check).join('; ')}`);
    }
    migrate(db);
    return db;
  } catch (err) {
    db.close();
    throw err;
  }
}

/** True for errors that mean "this file is not a usable database". */
function isCorruption(err: unknown): boolean {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' && (code === 'SQLITE_NOTADB' || code.startsWith('SQLITE_CORRUPT'));
}

/** Renames the database and its -wal/-shm to `<dbPath>.<label>-<time>[-wal|-shm]`; returns the new main path. */
function moveAside(dbPath: string, label = 'corrupt'): string {
  const stamp = new Date().toISOString().replace(/:/g, '-');
  let target = `${dbPath}.${label}-${stamp}`;
  for (let n = 1; fs.existsSync(target); n++) target = `${dbPath}.${label}-${stamp}-${n}`;
  for (const suffix of ['', '-wal', '-shm']) {
    if (fs.existsSync(dbPath + suffix)) fs.renameSync(dbPath + suffix, target + suffix);
  }
  return target;
}

/** Result of {@link initDatabase}. */
export interface InitDatabaseResult {
  /** The new database's marker. */
  marker: DatabaseMarker;
  /** Where an existing database (or leftover -wal/-shm files) was moved, if any. */
  movedTo?: string;
}

/**
 * `agentbridge db init [--force]`: creates a new, empty database at `dbPath` with a new marker.
 * Without `force` it refuses (throws `Error`) when a database exists, and throws
 * {@link DatabaseMissingError} when the marker says one disappeared. With `force`, an existing
 * database and any leftover -wal/-shm are moved aside to `<dbPath>.replaced-<time>` (never
 * deleted), and a stale marker is replaced. The caller holds the owner lock.
 */
export function initDatabase(dbPath: string, opts: { force: boolean; logger: Logger }): InitDatabaseResult {
  const exists = databaseExists(dbPath);
  if (exists && !opts.force) {
    throw new Error(`a database already exists at ${dbPath}; use --force to move it aside and start with an empty one`);
  }
  const marker = readMarker(dbPath);
  if (!exists && marker && !opts.force) throw new DatabaseMissingError(dbPath, marker);
  let movedTo: string | undefined;
  if (['', '-wal', '-shm'].some((suffix) => fs.existsSync(dbPath + suffix))) movedTo = moveAside(dbPath, 'replaced');
  fs.rmSync(markerPath(dbPath), { force: true });
  const store = openStore({ dbPath, logger: opts.logger });
  store.db.close(); // nobody else has this store: no transaction can be open
  return { marker: readMarker(dbPath)!, movedTo };
}
