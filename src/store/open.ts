/**
 * One way to open and to own the configured session store (AGENTBRIDGE_DATABASE_URL; see
 * `DatabaseConfig`), for the service (src/app.ts) and every CLI command (src/cli/store-access.ts):
 * {@link openAppStore} opens SQLite (`openStore`) or PostgreSQL (`openPostgresStore`);
 * {@link acquireOwner} takes the data directory's lock file (the data directory still holds agent
 * homes and files) and, on PostgreSQL, the database's advisory lock too, so one agentbridge owns
 * a data directory and one owns a database. {@link describeDatabase} names the database for logs
 * and messages — never with its password.
 */
import type { DatabaseConfig } from '../core/config.js';
import type { Logger } from '../logger.js';
import { acquireOwnerLock } from './lock.js';
import { acquirePostgresOwnerLock, DatabaseLockedError, type PostgresOwnerLock } from './pg-owner-lock.js';
import { openPostgresStore, redactUrl, type PostgresStore } from './postgres.js';
import { openStore, type SqliteStore } from './store.js';

/** The store of either backend; both have `backend`, `sql`, `probeWrite` and `readonly`. */
export type AppStore = SqliteStore | PostgresStore;

/** Options of {@link openAppStore}. */
export interface OpenAppStoreOptions {
  database: DatabaseConfig;
  logger: Logger;
  /**
   * Inspection mode (CLI while the service runs): no migrations, writes fail (SQLite: the file
   * must exist, SQLITE_READONLY; PostgreSQL: the schema must exist, read-only transactions).
   * Default false.
   */
  readonly?: boolean;
}

/**
 * Opens the configured store: SQLite at `database.path` (created and migrated unless readonly) or
 * PostgreSQL at `database.url` (migrated unless readonly).
 * Throws what `openStore` / `openPostgresStore` throw: e.g. `DatabaseMissingError`,
 * `SchemaTooNewError`, an `Error` naming the redacted URL when PostgreSQL cannot be reached.
 */
export async function openAppStore(opts: OpenAppStoreOptions): Promise<AppStore> {
  const { database, logger } = opts;
  const readonly = opts.readonly ?? false;
  if (database.backend === 'sqlite') return openStore({ dbPath: database.path, logger, readonly });
  return openPostgresStore({ url: database.url, logger, readonly });
}

/** `SQLite at /path/agentbridge.db` or `PostgreSQL at postgres://user:***@host:5432/db` (the password redacted). */
export function describeDatabase(database: DatabaseConfig): string {
  return database.backend === 'sqlite' ? `SQLite at ${database.path}` : `PostgreSQL at ${redactUrl(database.url)}`;
}

/** What {@link acquireOwner} holds. */
export interface AppOwner {
  /** Releases the PostgreSQL advisory lock (if any) and the data directory's lock file; stops re-taking a lost lock. Idempotent. */
  release(): Promise<void>;
}

/** Options of {@link acquireOwner}. */
export interface AcquireOwnerOptions {
  /**
   * PostgreSQL only: the advisory lock was lost (its connection ended) and, when it could be taken
   * again, another agentbridge held it — two owners must never run, so the caller stops the service.
   * Called at most once, with the `DatabaseLockedError` naming the other holder.
   */
  onLost?: (err: DatabaseLockedError) => void;
  /** Delays between attempts to take a lost lock again, ms: `initialMs` doubling up to `maxMs` (default 500 → 5,000). */
  retry?: { initialMs: number; maxMs: number };
  /**
   * Cluster mode: the database's lock is taken shared (every cluster instance holds it; an
   * agentbridge in single-instance mode is refused, and refuses them), with this connection name
   * (`agentbridge:<instance id>`).
   */
  cluster?: { instanceId: string };
}

/**
 * Takes ownership for the service or an exclusive CLI command: the lock file of
 * `config.dataDir` (`acquireOwnerLock`) and, when the store is PostgreSQL, the database's
 * advisory lock (`acquirePostgresOwnerLock`, on a connection of its own).
 *
 * While held, a lost advisory-lock connection (server restart, network) is logged and the lock is
 * taken again — retried with backoff ({@link AcquireOwnerOptions.retry}, unref'd timers) while the
 * database cannot be reached; if another agentbridge took it meanwhile, the error is logged and
 * `opts.onLost` is called.
 *
 * Throws `StoreLockedError` (the data directory is owned by a live process), `DatabaseLockedError`
 * (another agentbridge holds the database; the lock file is released again), an `Error` naming
 * the redacted URL when PostgreSQL cannot be reached, or the `fs` error of the lock file.
 */
export async function acquireOwner(config: { dataDir: string; database: DatabaseConfig }, logger: Logger, opts: AcquireOwnerOptions = {}): Promise<AppOwner> {
  const fileLock = acquireOwnerLock(config.dataDir);
  if (config.database.backend === 'sqlite') {
    return {
      release: async () => {
        fileLock.release();
      },
    };
  }
  const url = config.database.url;
  const where = redactUrl(url);
  const retry = opts.retry ?? { initialMs: 500, maxMs: 5000 };
  let released = false;
  let timer: NodeJS.Timeout | undefined;
  let lostReported = false;

  /** Takes the lost lock again: retried while the database is down; another holder ends it. */
  const retake = (delayMs: number): void => {
    timer = setTimeout(() => {
      timer = undefined;
      if (released) return;
      pgLock.reacquire().then(
        () => {}, // logged by pg-owner-lock.ts
        (err: unknown) => {
          if (released) return;
          if (err instanceof DatabaseLockedError) {
            if (lostReported) return;
            lostReported = true;
            logger.error({ database: where, err: err.message }, `lost the PostgreSQL owner lock: ${err.message}; stopping this agentbridge`);
            opts.onLost?.(err);
            return;
          }
          const next = Math.min(delayMs * 2, retry.maxMs);
          logger.warn(
            { database: where, err: err instanceof Error ? err.message : String(err), retryInMs: next },
            `could not take the PostgreSQL owner lock of ${where} again; retrying`,
          );
          retake(next);
        },
      );
    }, delayMs);
    timer.unref();
  };

  let pgLock: PostgresOwnerLock;
  try {
    pgLock = await acquirePostgresOwnerLock({
      url,
      logger,
      ...(opts.cluster ? { shared: true, applicationName: `agentbridge:${opts.cluster.instanceId} pid ${process.pid}` } : {}),
      // Logged there; taken again here, with backoff while the database is down.
      onLost: () => {
        if (!released) retake(retry.initialMs);
      },
    });
  } catch (err) {
    fileLock.release();
    throw err;
  }
  return {
    release: async () => {
      if (released) return;
      released = true;
      if (timer) clearTimeout(timer);
      try {
        await pgLock.release();
      } finally {
        fileLock.release();
      }
    },
  };
}
