/**
 * Single owner per PostgreSQL database — the counterpart of the data directory's lock file
 * (lock.ts): a session-level advisory lock (`pg_try_advisory_lock`) on a fixed key, held by a
 * dedicated connection (not one of the store's pool) for as long as the service runs. The server
 * frees it when that connection ends, also when the process dies. The connection's
 * `application_name` names the process (`agentbridge pid <pid> on <host>`), so that a refused
 * second instance can say who holds the database (read from `pg_locks` ⋈ `pg_stat_activity`).
 * Messages name the database by its redacted URL only (no password).
 */
import crypto from 'node:crypto';
import os from 'node:os';
import pg from 'pg';
import type { Logger } from '../logger.js';
import { redactUrl } from './postgres.js';

/** What the owner lock's key is derived from. */
export const PG_OWNER_LOCK_NAME = 'agentbridge:owner';

/** The advisory lock key: the first 8 bytes of SHA-256 of {@link PG_OWNER_LOCK_NAME}, as a signed 64-bit integer. */
export const PG_OWNER_LOCK_KEY: bigint = crypto.createHash('sha256').update(PG_OWNER_LOCK_NAME).digest().readBigInt64BE(0);

/** How `pg_locks` shows a bigint advisory key: `classid` its high 32 bits, `objid` its low 32 bits (unsigned), `objsubid` 1. */
const KEY_U64 = BigInt.asUintN(64, PG_OWNER_LOCK_KEY);
const KEY_CLASSID = (KEY_U64 >> 32n).toString();
const KEY_OBJID = (KEY_U64 & 0xffff_ffffn).toString();

/** PostgreSQL keeps at most 63 bytes of `application_name` (printable ASCII only). */
const APPLICATION_NAME_MAX_BYTES = 63;

/** Another agentbridge holds the owner lock of the database. */
export class DatabaseLockedError extends Error {
  override readonly name = 'DatabaseLockedError';
  constructor(
    /** The database's URL without its password. */
    readonly redactedUrl: string,
    /** Who holds it (see {@link readPostgresOwner}); undefined when it could not be read (e.g. released meanwhile). */
    readonly holder: string | undefined,
  ) {
    super(
      `another agentbridge${holder === undefined ? '' : ` (${holder})`} is using the database at ${redactedUrl}; ` +
        'stop it first or use a different AGENTBRIDGE_DATABASE_URL',
    );
  }
}

/** Options of {@link acquirePostgresOwnerLock}. */
export interface AcquirePostgresOwnerLockOptions {
  /** `postgres://…` connection string of the store's database. */
  url: string;
  logger: Logger;
  /**
   * Called once when the held lock is lost: its connection failed or ended (server restart,
   * `pg_terminate_backend`, network), or the heartbeat failed. The server frees the lock with the
   * connection, so another process may take it; the caller decides (the service calls
   * {@link PostgresOwnerLock.reacquire}). Not called after {@link PostgresOwnerLock.release}.
   */
  onLost?: (err: Error) => void;
  /** Every this many ms a `SELECT 1` checks the connection (a silent network loss shows up); default 30,000; 0 turns it off. */
  heartbeatMs?: number;
  /** The connection's `application_name` (non-ASCII characters become `?`, cut to 63); default {@link ownerApplicationName}. */
  applicationName?: string;
  /**
   * Cluster mode (docs/ARCHITECTURE.md §10): take the lock shared (`pg_try_advisory_lock_shared`),
   * so any number of cluster instances hold it together while one agentbridge in single-instance
   * mode (exclusive) is refused, and the other way round. Default false.
   */
  shared?: boolean;
}

/** A held (or lost) owner lock of a PostgreSQL database. */
export interface PostgresOwnerLock {
  /** The database's URL without its password. */
  readonly redactedUrl: string;
  /** 'held'; 'lost' after its connection went away (until {@link reacquire}); 'released' after {@link release}. */
  readonly state: 'held' | 'lost' | 'released';
  /** Unlocks and closes the dedicated connection. Idempotent; never throws (a gone connection has freed the lock already). */
  release(): Promise<void>;
  /**
   * After a loss: one attempt to take the lock again on a new connection. No-op while held.
   * Throws {@link DatabaseLockedError} when another process took it meanwhile, an `Error` naming
   * the redacted URL when the server cannot be reached (try again later), and an `Error` after
   * {@link release}.
   */
  reacquire(): Promise<void>;
}

/** `agentbridge pid <pid> on <hostname>`, as PostgreSQL keeps it (printable ASCII, at most 63 characters). */
export function ownerApplicationName(): string {
  return applicationNameOf(`agentbridge pid ${process.pid} on ${os.hostname()}`, APPLICATION_NAME_MAX_BYTES);
}

/**
 * Takes the owner lock of the database at `opts.url` on a dedicated connection.
 * Throws {@link DatabaseLockedError} (naming the holder) when another session holds it — also one
 * of this process —, and an `Error` naming the redacted URL (pg's error as `cause`) when the
 * server cannot be reached or refuses the connection.
 */
export async function acquirePostgresOwnerLock(opts: AcquirePostgresOwnerLockOptions): Promise<PostgresOwnerLock> {
  const redactedUrl = redactUrl(opts.url);
  const applicationName = applicationNameOf(opts.applicationName ?? ownerApplicationName(), APPLICATION_NAME_MAX_BYTES);
  const heartbeatMs = opts.heartbeatMs ?? 30_000;

  let state: PostgresOwnerLock['state'] = 'held';
  const shared = opts.shared ?? false;
  const unlockSql = shared ? 'SELECT pg_advisory_unlock_shared($1::bigint)' : 'SELECT pg_advisory_unlock($1::bigint)';
  let client = await connectAndLock(opts.url, redactedUrl, applicationName, heartbeatMs, shared);
  let heartbeat: NodeJS.Timeout | undefined;
  let releasing: Promise<void> | undefined;
  let reacquiring: Promise<void> | undefined;

  const lost = (from: pg.Client, err: Error): void => {
    if (state !== 'held' || from !== client) return;
    state = 'lost';
    stopHeartbeat();
    from.end().catch(() => {});
    opts.logger.warn({ err, url: redactedUrl }, `lost the owner lock of the PostgreSQL database at ${redactedUrl}: its connection failed`);
    opts.onLost?.(err);
  };
  const watch = (c: pg.Client): void => {
    c.on('error', (err) => lost(c, err));
    c.on('end', () => lost(c, new Error(`the connection holding the owner lock of ${redactedUrl} closed`)));
    if (heartbeatMs > 0) {
      heartbeat = setInterval(() => {
        c.query('SELECT 1').catch((err: unknown) => lost(c, err instanceof Error ? err : new Error(String(err))));
      }, heartbeatMs);
      heartbeat.unref();
    }
  };
  const stopHeartbeat = (): void => {
    if (heartbeat) clearInterval(heartbeat);
    heartbeat = undefined;
  };
  watch(client);

  return {
    redactedUrl,
    get state() {
      return state;
    },
    release() {
      releasing ??= (async () => {
        const wasHeld = state === 'held';
        state = 'released';
        stopHeartbeat();
        await reacquiring?.catch(() => {});
        if (wasHeld) await client.query(unlockSql, [PG_OWNER_LOCK_KEY.toString()]).catch(() => {});
        await client.end().catch(() => {});
      })();
      return releasing;
    },
    reacquire() {
      if (state === 'released') return Promise.reject(new Error(`the owner lock of ${redactedUrl} was released; acquire a new one`));
      if (state === 'held') return Promise.resolve();
      reacquiring ??= (async () => {
        try {
          const next = await connectAndLock(opts.url, redactedUrl, applicationName, heartbeatMs, shared);
          if ((state as PostgresOwnerLock['state']) === 'released') {
            // released while connecting: give it back
            await next.query(unlockSql, [PG_OWNER_LOCK_KEY.toString()]).catch(() => {});
            await next.end().catch(() => {});
            return;
          }
          client = next;
          state = 'held';
          watch(next);
          opts.logger.info({ url: redactedUrl }, `took the owner lock of the PostgreSQL database at ${redactedUrl} again`);
        } finally {
          reacquiring = undefined;
        }
      })();
      return reacquiring;
    },
  };
}

/**
 * Who holds the owner lock of the database at `url` (e.g. `agentbridge pid 42 on host-a (server
 * pid 1234), connected from 10.0.0.5 since 2026-…Z`), or undefined when nobody does. Read-only,
 * on a short-lived connection; for CLI commands that must refuse while the service runs. Throws an
 * `Error` naming the redacted URL when the server cannot be reached.
 */
export async function readPostgresOwner(url: string): Promise<string | undefined> {
  const client = await connect(url, redactUrl(url), 'agentbridge owner check', 0);
  try {
    return await readHolder(client);
  } finally {
    await client.end().catch(() => {});
  }
}

/** A connected client; an `Error` naming `redactedUrl` (pg's error as `cause`) when it cannot connect. */
async function connect(url: string, redactedUrl: string, applicationName: string, heartbeatMs: number): Promise<pg.Client> {
  const client = new pg.Client({
    connectionString: url,
    application_name: applicationName,
    connectionTimeoutMillis: 5000,
    keepAlive: true,
    // a heartbeat that gets no answer in this time counts as a lost connection
    ...(heartbeatMs > 0 ? { query_timeout: Math.max(heartbeatMs, 10_000) } : {}),
  });
  client.on('error', () => {}); // until the caller watches it: an error event must not crash the process
  try {
    await client.connect();
  } catch (err) {
    await client.end().catch(() => {});
    throw new Error(`cannot connect to PostgreSQL at ${redactedUrl}: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
  }
  return client;
}

/** A connected client holding the lock; {@link DatabaseLockedError} (client closed) when another session holds it. */
async function connectAndLock(url: string, redactedUrl: string, applicationName: string, heartbeatMs: number, shared = false): Promise<pg.Client> {
  const client = await connect(url, redactedUrl, applicationName, heartbeatMs);
  let holder: string | undefined;
  try {
    const lockSql = shared ? 'SELECT pg_try_advisory_lock_shared($1::bigint) AS granted' : 'SELECT pg_try_advisory_lock($1::bigint) AS granted';
    const { rows } = await client.query<{ granted: boolean }>(lockSql, [PG_OWNER_LOCK_KEY.toString()]);
    if (rows[0]?.granted) return client;
    holder = await readHolder(client).catch(() => undefined);
  } catch (err) {
    await client.end().catch(() => {});
    throw err;
  }
  await client.end().catch(() => {});
  throw new DatabaseLockedError(redactedUrl, holder);
}

/** The holder of the owner lock in `client`'s database, described for a person; undefined when nobody holds it. */
async function readHolder(client: pg.Client): Promise<string | undefined> {
  const { rows } = await client.query<{ pid: number; application_name: string | null; client_addr: string | null; backend_start: Date | null }>(
    `SELECT l.pid, a.application_name, host(a.client_addr) AS client_addr, a.backend_start
       FROM pg_locks l LEFT JOIN pg_stat_activity a ON a.pid = l.pid
      WHERE l.locktype = 'advisory' AND l.granted
        AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
        AND l.classid = $1::oid AND l.objid = $2::oid AND l.objsubid = 1
      LIMIT 1`,
    [KEY_CLASSID, KEY_OBJID],
  );
  const row = rows[0];
  if (!row) return undefined;
  const who = row.application_name ? row.application_name : 'a session without application_name';
  // backend_start and client_addr are null for a session of a role whose activity this one may not see
  if (!row.backend_start) return `${who} (server pid ${row.pid})`;
  const from = row.client_addr ? `connected from ${row.client_addr}` : 'connected through a local socket';
  return `${who} (server pid ${row.pid}), ${from} since ${row.backend_start.toISOString()}`;
}

/**
 * `s` as PostgreSQL keeps an `application_name`: printable ASCII (it shows any other byte as `?`;
 * here each other character becomes one `?`), at most `max` characters.
 */
function applicationNameOf(s: string, max: number): string {
  return s.replace(/[^\x20-\x7e]/gu, '?').slice(0, max);
}
