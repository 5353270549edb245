/**
 * Store health: whether the session database can be written right now.
 *
 * Any part that meets a storage fault (see {@link isStorageFault}) reports it with
 * {@link StoreHealth.report}; the store is then unhealthy with that reason. While unhealthy, a
 * cheap probe (a tiny real write through the store) runs with backoff — 0.5 s, doubling to at
 * most 5 s — until it succeeds; then the store is healthy again and listeners are told. Turns,
 * outbox deliveries and the inbox wait for {@link StoreHealth.whenHealthy} instead of needing a
 * restart; `/healthz` answers 503 with {@link StoreHealth.reason} meanwhile.
 *
 * On PostgreSQL the same holds for a server that is stopped, restarted or unreachable: the pool's
 * errors count as faults once the pool is watched ({@link watchPostgresPool}), the probe fails
 * until the server is back, and pg's pool opens new connections then (no restart).
 *
 * On a nearly full disk a tiny probe can succeed while larger writes still fail (SQLite reuses
 * space inside its WAL file), so the state may flap while the fault starts. A fault reported
 * within 10 s of the last recovery therefore continues the backoff where it was instead of
 * starting again at 0.5 s.
 */
import { maskSecrets, type Logger } from '../logger.js';

/**
 * SQLite result codes (better-sqlite3's `SqliteError.code`, extended codes included by prefix)
 * that mean "the database cannot be written or read right now", as opposed to a bug or bad data:
 * - `SQLITE_FULL` — the disk (or a quota) is full;
 * - `SQLITE_IOERR*` — an I/O error (also `SQLITE_IOERR_SHMSIZE` when the -shm file cannot grow);
 * - `SQLITE_READONLY*` — the file or file system became read-only;
 * - `SQLITE_CANTOPEN` — the file (or its -wal/-shm) cannot be opened;
 * - `SQLITE_BUSY*` / `SQLITE_LOCKED*` — another connection held the lock beyond the busy timeout;
 * - `SQLITE_CORRUPT*` / `SQLITE_NOTADB` — the file is damaged. Reported too: the service cannot
 *   write safely, `/healthz` must say so; the probe may never succeed (then a restart moves the
 *   file aside, see store.ts).
 * Source: https://www.sqlite.org/rescode.html
 */
const SQLITE_FAULT_PREFIXES = [
  'SQLITE_FULL',
  'SQLITE_IOERR',
  'SQLITE_READONLY',
  'SQLITE_CANTOPEN',
  'SQLITE_BUSY',
  'SQLITE_LOCKED',
  'SQLITE_CORRUPT',
  'SQLITE_NOTADB',
];

/** Node `fs` error codes of the same kind (e.g. writing the marker or lock file): no space, quota, I/O, read-only. */
const FS_FAULT_CODES = new Set(['ENOSPC', 'EDQUOT', 'EIO', 'EROFS']);

/**
 * PostgreSQL SQLSTATEs (pg's `DatabaseError.code`, which also has a `severity`) that mean "the
 * server cannot be reached or cannot write right now", as opposed to a bug or bad data (a
 * constraint violation 23xxx, a syntax error 42601 are not faults):
 * - class `08` — connection exception (e.g. 08006 connection failure, 08001 cannot connect);
 * - `57P01` admin shutdown (the server was stopped: open sessions end with it), `57P02` crash
 *   shutdown, `57P03` cannot connect now (starting up, shutting down, recovering);
 * - class `53` — insufficient resources (53100 disk full, 53200 out of memory, 53300 too many connections);
 * - `25006` read-only SQL transaction — the primary became a standby (failover). Also what a
 *   readonly store (CLI inspection mode) throws on a write; such a store has no health to report to.
 * Source: https://www.postgresql.org/docs/current/errcodes-appendix.html
 */
function isPostgresFaultSqlstate(code: string): boolean {
  return code.startsWith('08') || code.startsWith('53') || code === '57P01' || code === '57P02' || code === '57P03' || code === '25006';
}

/**
 * The plain `Error` messages (no code) with which node-postgres (pg 8, pg-pool 3) reports a lost or
 * unreachable server — checked against a stopped server (test/unit/store-health-pg.test.ts):
 * - `Connection terminated unexpectedly` — the socket closed under a query;
 * - `Client has encountered a connection error and is not queryable` — the next query on a
 *   connection that failed (e.g. inside a transaction when the server stopped);
 * - `Connection terminated due to connection timeout` — a new pooled connection did not complete in time;
 * - `timeout exceeded when trying to connect` — no pooled connection became free in time.
 */
const PG_FAULT_MESSAGES = new Set([
  'Connection terminated unexpectedly',
  'Client has encountered a connection error and is not queryable',
  'Connection terminated due to connection timeout',
  'timeout exceeded when trying to connect',
]);

/**
 * Node socket error codes of a lost or unreachable database server. They count only on errors
 * marked with {@link markPostgresError} (done by {@link watchPostgresPool} for the store's pool):
 * the same codes from a platform's HTTP call (Slack, Discord) are not storage faults.
 * `EAI_AGAIN`/`ENOTFOUND`: the server's host name does not resolve right now (e.g. a stopped
 * compose service).
 */
const NET_FAULT_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'EHOSTUNREACH', 'ENETUNREACH', 'EAI_AGAIN', 'ENOTFOUND']);

/** Errors that came from the store's PostgreSQL connections (see {@link markPostgresError}). */
const fromPostgres = new WeakSet<object>();

/**
 * Marks `err` as raised by the store's PostgreSQL connection, so that a Node socket error in it
 * (ECONNREFUSED, ECONNRESET, …) counts as a storage fault. Returns `err`. Non-objects are ignored.
 */
export function markPostgresError<T>(err: T): T {
  if (typeof err === 'object' && err !== null) fromPostgres.add(err);
  return err;
}

/** The slice of a `pg.Pool` that {@link watchPostgresPool} uses. */
export interface WatchablePgPool {
  connect(): Promise<unknown>;
  on(event: 'connect', listener: (client: { on(event: 'error', listener: (err: Error) => void): unknown }) => void): unknown;
}

/**
 * Makes the errors of a `pg` pool recognisable as storage faults, and keeps a lost connection from
 * crashing the process:
 * - every pooled client gets a lasting `error` listener that marks the error
 *   ({@link markPostgresError}). pg rejects the running query with that same error object, and a
 *   client checked out of the pool (e.g. inside a transaction between two statements) has no other
 *   `error` listener — without this one, the server stopping would throw an unhandled `error` event;
 * - a failing `pool.connect()` (the promise form, which Kysely uses) marks its error — that is
 *   the `ECONNREFUSED` of a stopped server.
 * Call once, right after creating the pool.
 */
export function watchPostgresPool(pool: WatchablePgPool): void {
  pool.on('connect', (client) => {
    client.on('error', (err) => void markPostgresError(err));
  });
  const connect = pool.connect.bind(pool) as (...args: unknown[]) => unknown;
  (pool as { connect: (...args: unknown[]) => unknown }).connect = (...args: unknown[]) => {
    if (args.length > 0) return connect(...args); // the callback form: left as it is
    return (connect() as Promise<unknown>).catch((err: unknown) => {
      throw markPostgresError(err);
    });
  };
}

/** True when `err` (or its `cause`) is a storage fault as listed above. */
export function isStorageFault(err: unknown): boolean {
  for (let e: unknown = err, depth = 0; e && depth < 4; e = (e as { cause?: unknown }).cause, depth++) {
    if (typeof e !== 'object') continue;
    const { code, message, severity } = e as { code?: unknown; message?: unknown; severity?: unknown };
    if (typeof message === 'string' && PG_FAULT_MESSAGES.has(message)) return true;
    if (typeof code !== 'string') continue;
    if (FS_FAULT_CODES.has(code)) return true;
    if (SQLITE_FAULT_PREFIXES.some((p) => code === p || code.startsWith(`${p}_`))) return true;
    if (typeof severity === 'string' && /^[0-9A-Z]{5}$/.test(code) && isPostgresFaultSqlstate(code)) return true;
    if (NET_FAULT_CODES.has(code) && fromPostgres.has(e)) return true;
  }
  return false;
}

/**
 * A short, loggable reason for a storage fault, e.g. `SQLITE_FULL: database or disk is full`,
 * `ECONNREFUSED: connect ECONNREFUSED 127.0.0.1:5432`, `57P01: terminating connection due to
 * administrator command`, `error: Connection terminated unexpectedly`. At most 300 characters.
 * pg's messages name host, port, user and database but no password (checked in the tests); a
 * password in a connection string inside the message is replaced by `***` all the same, and
 * token-shaped strings are masked (`maskSecrets`).
 */
export function faultReason(err: unknown): string {
  const e = err as { code?: unknown; message?: unknown } | null;
  const code = typeof e?.code === 'string' ? e.code : 'error';
  const message = typeof e?.message === 'string' ? e.message : String(err);
  return `${code}: ${maskSecrets(message)}`.slice(0, 300);
}

/** Refusal while the store cannot be written: callers must not acknowledge the platform (it redelivers). */
export class StoreUnavailableError extends Error {
  override readonly name = 'StoreUnavailableError';
  constructor(readonly reason: string) {
    super(`agentbridge cannot write its database right now (${reason}); nothing was stored — please send it again later`);
  }
}

export interface StoreHealthOptions {
  /** A tiny real write (e.g. `SqliteStore.probeWrite`); rejects when the store cannot be written. */
  probe: () => Promise<void>;
  /**
   * The database, appended to every {@link StoreHealth.reason} in parentheses — e.g.
   * `PostgreSQL at postgres://agentbridge:***@db:5432/agentbridge` (never with a password: pass
   * `PostgresStore.redactedUrl`). Default: nothing appended.
   */
  database?: string;
  logger: Logger;
  /** First probe delay after a fault, ms (default 500). */
  initialDelayMs?: number;
  /** Longest probe delay, ms (default 5,000). */
  maxDelayMs?: number;
}

/** A fault within this long after a recovery continues the earlier backoff, ms. */
const FLAP_WINDOW_MS = 10_000;

/** Backoff delay before retry number `attempt` (0-based): `initialMs · 2^attempt`, at most `maxMs`. */
export function backoffDelay(attempt: number, initialMs = 500, maxMs = 5_000): number {
  return Math.min(maxMs, initialMs * 2 ** Math.min(attempt, 20));
}

/** Whether the store can be written; see the module comment. */
export class StoreHealth {
  private fault?: string;
  private since?: number;
  private attempt = 0;
  private clearedAt = 0;
  private timer?: NodeJS.Timeout;
  private stopped = false;
  private waiters: Array<() => void> = [];
  /** The probe running now, if any (concurrent {@link probeNow} calls share it). */
  private probing?: Promise<boolean>;
  private readonly listeners = new Set<(healthy: boolean, reason?: string) => void>();

  constructor(private readonly o: StoreHealthOptions) {}

  /** True unless a storage fault was reported and no probe has succeeded since. */
  get healthy(): boolean {
    return this.fault === undefined;
  }

  /**
   * Why the store is unhealthy (e.g. `SQLITE_FULL: database or disk is full`, or
   * `ECONNREFUSED: connect ECONNREFUSED 10.0.0.5:5432 (PostgreSQL at postgres://u:***@db:5432/ab)`
   * with {@link StoreHealthOptions.database}); undefined when healthy.
   */
  get reason(): string | undefined {
    return this.fault;
  }

  /** When the current fault was first reported, ms since the epoch. */
  get unhealthySince(): number | undefined {
    return this.since;
  }

  /**
   * Reports an error met anywhere. A storage fault marks the store unhealthy (and starts the
   * probe); anything else is ignored. Returns true for a storage fault.
   */
  report(err: unknown, where = 'store'): boolean {
    if (!isStorageFault(err)) return false;
    const reason = this.reasonOf(err);
    if (this.fault === undefined) {
      this.fault = reason;
      this.since = Date.now();
      if (Date.now() - this.clearedAt > FLAP_WINDOW_MS) this.attempt = 0; // else: keep backing off
      this.o.logger.error({ reason, where }, 'storage fault: the database cannot be written; retrying until it can (no restart needed)');
      this.emit(false, reason);
      this.scheduleProbe();
    } else {
      this.fault = reason;
    }
    return true;
  }

  /** Resolves at once when healthy, else when a probe succeeded (never rejects; pending after {@link stop}). */
  whenHealthy(): Promise<void> {
    if (this.healthy) return Promise.resolve();
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  /** Calls `fn(healthy, reason)` on every change; returns the unsubscribe function. */
  onChange(fn: (healthy: boolean, reason?: string) => void): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  /**
   * Runs the probe now (when unhealthy); resolves to whether the store is healthy afterwards
   * (never rejects). A call while a probe runs gets that probe's outcome.
   */
  probeNow(): Promise<boolean> {
    if (this.healthy) return Promise.resolve(true);
    this.probing ??= this.probe().finally(() => (this.probing = undefined));
    return this.probing;
  }

  private async probe(): Promise<boolean> {
    try {
      await this.o.probe();
    } catch (err) {
      if (isStorageFault(err)) this.fault = this.reasonOf(err);
      else this.o.logger.warn({ err: faultReason(err) }, 'store probe failed with an unexpected error');
      return false;
    }
    const downMs = Date.now() - (this.since ?? Date.now());
    this.o.logger.info({ downMs, reason: this.fault }, 'storage fault cleared: the database can be written again');
    this.fault = undefined;
    this.since = undefined;
    this.clearedAt = Date.now();
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    const waiters = this.waiters.splice(0);
    for (const w of waiters) w();
    this.emit(true);
    return true;
  }

  /** {@link faultReason} of `err`, with the database named when {@link StoreHealthOptions.database} is set. */
  private reasonOf(err: unknown): string {
    const reason = faultReason(err);
    return this.o.database ? `${reason} (${this.o.database})` : reason;
  }

  /** Stops probing (shutdown). */
  stop(): void {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
  }

  private scheduleProbe(): void {
    if (this.stopped || this.timer || this.healthy) return;
    const delay = backoffDelay(this.attempt++, this.o.initialDelayMs ?? 500, this.o.maxDelayMs ?? 5_000);
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.probeNow()
        .then((healthy) => {
          if (!healthy) this.scheduleProbe();
        })
        .catch((err: unknown) => this.o.logger.error({ err }, 'store probe: scheduling the next probe failed'));
    }, delay);
    this.timer.unref();
  }

  private emit(healthy: boolean, reason?: string): void {
    for (const l of this.listeners) {
      try {
        l(healthy, reason);
      } catch (err) {
        this.o.logger.warn({ err: String(err) }, 'store health listener failed');
      }
    }
  }
}
