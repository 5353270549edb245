/**
 * How every CLI command reaches the configured store (AGENTBRIDGE_DATABASE_URL: SQLite in the
 * data directory, or PostgreSQL), in one of three modes:
 * - `inspect`: read-only (SQLite: a readonly connection; PostgreSQL: read-only transactions, no
 *   migrations) — safe while agentbridge runs;
 * - `beside`: writable without the owner lock — for commands that run beside the service (users,
 *   projects, `db checkpoint`): SQLite in WAL mode and PostgreSQL both take a second writer;
 * - `exclusive`: writable after taking the owner lock (the data directory's lock file and, on
 *   PostgreSQL, the database's advisory lock: src/store/open.ts `acquireOwner`) — refused while
 *   agentbridge runs, with `whyExclusive` saying why the command needs it stopped.
 * The "no database at …" check is SQLite's alone: a PostgreSQL database gets agentbridge's schema
 * when a writable store opens it.
 */
import fs from 'node:fs';
import type { Config } from '../core/config.js';
import { createLogger, type Logger } from '../logger.js';
import { DirectoryError } from '../store/files.js';
import { StoreLockedError } from '../store/lock.js';
import { DatabaseMissingError } from '../store/marker.js';
import { acquireOwner, openAppStore, type AppOwner, type AppStore } from '../store/open.js';
import { DatabaseLockedError } from '../store/pg-owner-lock.js';
import { configOrExit, fail } from './env.js';

/** See the module doc. */
export type StoreMode = 'inspect' | 'beside' | 'exclusive';

/** Options of {@link withStore}. */
export interface StoreAccessOptions {
  mode: StoreMode;
  /**
   * SQLite without a database file: create it (`beside`, `exclusive`). Default false: the command
   * fails with "no database at <path>" (see {@link noDatabase}).
   */
  create?: boolean;
  /** SQLite without a database file (and not {@link create}): what to add to "no database at <path> (AGENTBRIDGE_DATA_DIR=…)", e.g. "; add a user first: …". */
  noDatabase?: string;
  /** Exit code of "no database at …" (default 1). */
  noDatabaseCode?: number;
  /** `exclusive`: the sentence after the lock error, e.g. "Deleting changes the database, so it runs only while agentbridge is stopped." */
  whyExclusive?: string;
}

/** The logger of CLI commands: warnings and errors on stderr (stdout is the command's output). */
export function cliLogger(): Logger {
  return createLogger('warn', process.stderr);
}

/** Whether the configured store has nothing to read yet: SQLite without its file (PostgreSQL: never; its schema is checked at open). */
export function noDatabaseYet(config: Config): boolean {
  return config.database.backend === 'sqlite' && !fs.existsSync(config.database.path);
}

/**
 * Takes the owner lock for an exclusive command; exits 1 with the holder and `why` when a running
 * agentbridge (or another command) holds it.
 */
export async function ownerOrExit(config: Config, logger: Logger, why: string): Promise<AppOwner> {
  try {
    return await acquireOwner(config, logger);
  } catch (err) {
    if (err instanceof StoreLockedError || err instanceof DatabaseLockedError) fail(`${err.message}\n${why}`);
    if (err instanceof DirectoryError) throw err;
    fail(err instanceof Error ? err.message : String(err));
  }
}

/**
 * Opens the configured store in `opts.mode`, runs `fn(store, config)`, closes the store, then
 * releases the owner lock (`exclusive`). Exits (never returns) for invalid configuration (2), a
 * missing SQLite database (see {@link StoreAccessOptions}), a held owner lock (1), a store that
 * cannot be opened (1: e.g. PostgreSQL unreachable, named by its redacted URL; 2: a database that
 * disappeared, its marker present). Rethrows a `DirectoryError` (the CLI exits 2 with it) and
 * whatever `fn` throws.
 */
export async function withStore<T>(opts: StoreAccessOptions, fn: (store: AppStore, config: Config) => T | Promise<T>): Promise<T> {
  const config = configOrExit();
  const logger = cliLogger();
  if (!opts.create && noDatabaseYet(config)) {
    fail(`no database at ${config.dbPath} (AGENTBRIDGE_DATA_DIR=${config.dataDir})${opts.noDatabase ?? ''}`, opts.noDatabaseCode ?? 1);
  }
  const owner =
    opts.mode === 'exclusive'
      ? await ownerOrExit(config, logger, opts.whyExclusive ?? 'This command changes the database, so it runs only while agentbridge is stopped.')
      : undefined;
  try {
    const store = await openOrExit(config, logger, opts.mode === 'inspect');
    try {
      return await fn(store, config);
    } finally {
      await store.close();
    }
  } finally {
    await owner?.release();
  }
}

/** {@link openAppStore} for a command; exits with the reason when the store cannot be opened (see {@link withStore}). */
async function openOrExit(config: Config, logger: Logger, readonly: boolean): Promise<AppStore> {
  try {
    return await openAppStore({ database: config.database, logger, readonly });
  } catch (err) {
    if (err instanceof DirectoryError) throw err;
    if (err instanceof DatabaseMissingError)
      fail(
        `${err.dbPath} is missing but its marker says a database was created there; restore it from a backup, or run \`agentbridge db init --force\` to start with an empty one`,
        2,
      );
    fail(err instanceof Error ? err.message : String(err));
  }
}
