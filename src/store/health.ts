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
 * On a nearly full disk a tiny probe can succeed while larger writes still fail (SQLite reuses
 * space inside its WAL file), so the state may flap while the fault starts. A fault reported
 * within 10 s of the last recovery therefore continues the backoff where it was instead of
 * starting again at 0.5 s.
 */
import type { Logger } from '../logger.js';

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

/** True when `err` (or its `cause`) is a storage fault as listed above. */
export function isStorageFault(err: unknown): boolean {
  for (let e: unknown = err, depth = 0; e && depth < 4; e = (e as { cause?: unknown }).cause, depth++) {
    const code = (e as { code?: unknown }).code;
    if (typeof code !== 'string') continue;
    if (FS_FAULT_CODES.has(code)) return true;
    if (SQLITE_FAULT_PREFIXES.some((p) => code === p || code.startsWith(`${p}_`))) return true;
  }
  return false;
}

/** A short, loggable reason for a storage fault, e.g. `SQLITE_FULL: database or disk is full`. */
export function faultReason(err: unknown): string {
  const e = err as { code?: unknown; message?: unknown } | null;
  const code = typeof e?.code === 'string' ? e.code : 'error';
  const message = typeof e?.message === 'string' ? e.message : String(err);
  return `${code}: ${message}`.slice(0, 300);
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

  /** Why the store is unhealthy (e.g. `SQLITE_FULL: database or disk is full`); undefined when healthy. */
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
    const reason = faultReason(err);
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
      if (isStorageFault(err)) this.fault = faultReason(err);
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
