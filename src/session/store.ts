/**
 * The session store: opens the database (creating, migrating and — if corrupt — replacing it)
 * and wires up one repository per table.
 */
import fs from 'node:fs';
import type { Logger } from '../logger.js';
import { openDatabase, type Db } from './db.js';
import { assertSchemaNotTooNew, migrate } from './migrate.js';
import { createCheckpointsRepo } from './repos/checkpoints.js';
import { createConversationsRepo } from './repos/conversations.js';
import { createEntriesRepo } from './repos/entries.js';
import { createInboxRepo } from './repos/inbox.js';
import { createPlatformStateRepo } from './repos/platform-state.js';
import { createLocalMessagesRepo } from './repos/local-messages.js';
import { createLocalUsersRepo } from './repos/local-users.js';
import { createOutboxRepo } from './repos/outbox.js';
import { createCronJobsRepo } from './repos/cron-jobs.js';
import { createCronRunsRepo } from './repos/cron-runs.js';
import { createScheduledMessagesRepo } from './repos/scheduled-messages.js';
import type { Store } from './types.js';

/** Options of {@link openStore}. */
export interface OpenStoreOptions {
  /** Path of the database file (its directory is created), or `':memory:'` for tests. */
  dbPath: string;
  logger: Logger;
  /**
   * Inspection mode (CLI while the service runs): the file must exist; no migrations, no
   * corruption handling; writes throw `SqliteError` (SQLITE_READONLY). Default false.
   */
  readonly?: boolean;
}

/** A {@link Store} backed by SQLite, with access to the connection for maintenance (`src/session` only). */
export interface SqliteStore extends Store {
  /** The connection; for `maintenance.ts` and tests — SQL stays inside `src/session/`. */
  readonly db: Db;
  readonly dbPath: string;
  readonly readonly: boolean;
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
 * created, and `logger.error` names both paths.
 *
 * Readonly mode: see {@link OpenStoreOptions.readonly}.
 *
 * Throws `SchemaTooNewError` (both modes) when the database is newer than this agentbridge; in readonly
 * mode the `SqliteError` of a missing or unreadable file; in writable mode any non-corruption error.
 */
export function openStore(opts: OpenStoreOptions): SqliteStore {
  const db = opts.readonly ? openReadonly(opts.dbPath) : openWritable(opts.dbPath, opts.logger);
  try {
    return {
      db,
      dbPath: opts.dbPath,
      readonly: opts.readonly ?? false,
      conversations: createConversationsRepo(db),
      entries: createEntriesRepo(db),
      checkpoints: createCheckpointsRepo(db),
      inbox: createInboxRepo(db),
      outbox: createOutboxRepo(db),
      localMessages: createLocalMessagesRepo(db),
      platformState: createPlatformStateRepo(db),
      cronJobs: createCronJobsRepo(db),
      cronRuns: createCronRunsRepo(db),
      scheduledMessages: createScheduledMessagesRepo(db),
      localUsers: createLocalUsersRepo(db),
      transaction<T>(fn: () => T): T {
        return db.transaction(fn)();
      },
      close() {
        if (db.open) db.close();
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
  const replace = (err: unknown): Db => {
    const movedTo = moveAside(dbPath);
    logger.error(
      { err, dbPath, movedTo },
      `database ${dbPath} is corrupt; moved it to ${movedTo} and created a fresh one`,
    );
    return openChecked(dbPath);
  };
  if (dbPath === ':memory:') return openChecked(dbPath);
  // Checked before SQLite touches the file: opening a non-database deletes its -wal/-shm on close,
  // and those must be kept for inspection.
  if (!hasSqliteHeader(dbPath)) {
    return replace(new CorruptDatabaseError(`${dbPath} does not start with the SQLite header`));
  }
  try {
    return openChecked(dbPath);
  } catch (err) {
    if (!isCorruption(err)) throw err;
    return replace(err);
  }
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

/** Renames the database and its -wal/-shm to `<dbPath>.corrupt-<time>[-wal|-shm]`; returns the new main path. */
function moveAside(dbPath: string): string {
  const stamp = new Date().toISOString().replace(/:/g, '-');
  let target = `${dbPath}.corrupt-${stamp}`;
  for (let n = 1; fs.existsSync(target); n++) target = `${dbPath}.corrupt-${stamp}-${n}`;
  for (const suffix of ['', '-wal', '-shm']) {
    if (fs.existsSync(dbPath + suffix)) fs.renameSync(dbPath + suffix, target + suffix);
  }
  return target;
}
