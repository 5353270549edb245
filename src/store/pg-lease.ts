/**
 * Leases of cluster mode's leader (docs/ARCHITECTURE.md §10): a lease named `name` is the
 * session-level advisory lock `pg_try_advisory_lock(LEASE_NAMESPACE, hashtext(name))` held by a
 * dedicated connection (not one of the store's pool) whose `application_name` is
 * `agentbridge:<instanceId>`. PostgreSQL frees it when that connection ends — also when the
 * process dies (on loopback the backend notices the closed socket at once: the lock was free
 * about 10 ms after a SIGKILL of the holder; across a network a silent cut is noticed by the
 * server's TCP keep-alive, set to about 6 s on each lease connection).
 *
 * The holder side notices a lost lease within a few seconds: the connection's `error`/`end`
 * events, and a keep-alive `SELECT 1` every {@link LEASE_KEEPALIVE_MS} that must answer within
 * {@link LEASE_KEEPALIVE_TIMEOUT_MS}.
 *
 * pg_locks facts (PostgreSQL docs, "pg_locks"): an advisory lock taken with two int4 keys shows
 * `classid` = the first key, `objid` = the second (both as oid, i.e. unsigned 32-bit) and
 * `objsubid` = 2; advisory locks are per database (`pg_locks.database`).
 */
import pg from 'pg';
import { redactUrl } from './postgres.js';

/** The first key of every lease's advisory lock (two-key form: distinct from the owner lock's one bigint key, objsubid 1). */
export const LEASE_NAMESPACE = 0x41424c53; // 'ABLS'

/** Interval of the keep-alive query on a held lease's connection, ms. */
export const LEASE_KEEPALIVE_MS = 2_000;
/** A keep-alive answered later than this counts as a lost connection, ms. */
export const LEASE_KEEPALIVE_TIMEOUT_MS = 2_000;
/** PostgreSQL keeps at most 63 bytes of `application_name`. */
const APPLICATION_NAME_MAX = 63;
/** Prefix of a lease connection's `application_name`, followed by the instance id. */
export const LEASE_APPLICATION_PREFIX = 'agentbridge:';

/** A lease this process holds. */
export interface HeldLease {
  /** The lease's name (e.g. `scheduler`). */
  readonly name: string;
  /** The server pid of the connection holding it. */
  readonly serverPid: number;
  /**
   * Resolves (never rejects) with the reason once the lease is lost: its connection errored or
   * ended (server restart, `pg_terminate_backend`, network), or a keep-alive failed or took
   * longer than {@link LEASE_KEEPALIVE_TIMEOUT_MS}. Another instance may hold it from then on.
   * Stays pending after {@link release}.
   */
  readonly lost: Promise<Error>;
  /** Unlocks and closes the connection. Idempotent; never throws (a gone connection has freed the lock already). */
  release(): Promise<void>;
}

/** Who holds a lease, as the server reports it ({@link readLeaseHolders}). */
export interface LeaseHolder {
  lease: string;
  /** The holder's instance id (its connection's `application_name` without the `agentbridge:` prefix; '' when unreadable). */
  instanceId: string;
  /** When the holder's connection started (about when it took the lease), ms since the epoch; undefined when the server does not show it. */
  since: number | undefined;
  /** The server pid of the holding connection. */
  serverPid: number;
}

/** Options of {@link tryLease} (tests shorten the keep-alive). */
export interface TryLeaseOptions {
  /** Keep-alive interval, ms (default {@link LEASE_KEEPALIVE_MS}). */
  keepAliveMs?: number;
  /** Keep-alive answer timeout, ms (default {@link LEASE_KEEPALIVE_TIMEOUT_MS}). */
  keepAliveTimeoutMs?: number;
}

/** `agentbridge:<instanceId>` as PostgreSQL keeps it (printable ASCII, other characters `?`, at most 63 characters). */
export function leaseApplicationName(instanceId: string): string {
  return `${LEASE_APPLICATION_PREFIX}${instanceId}`.replace(/[^\x20-\x7e]/gu, '?').slice(0, APPLICATION_NAME_MAX);
}

/**
 * One attempt to take lease `name` for `instanceId` on a new dedicated connection to `url`.
 * Resolves to the held lease, or undefined when another session holds it (the connection is
 * closed again). Rejects with an `Error` naming the redacted URL (pg's error as `cause`) when the
 * server cannot be reached or the query fails.
 */
export async function tryLease(url: string, name: string, instanceId: string, opts: TryLeaseOptions = {}): Promise<HeldLease | undefined> {
  const redacted = redactUrl(url);
  const client = new pg.Client({
    connectionString: url,
    application_name: leaseApplicationName(instanceId),
    connectionTimeoutMillis: 5_000,
    keepAlive: true,
    keepAliveInitialDelayMillis: 1_000,
  });
  client.on('error', () => {}); // until watched below: an error event must not crash the process
  let serverPid: number;
  try {
    await client.connect();
    // The server's side of a silent cut: probe the idle client connection after 3 s, every 1 s, 3 times
    // (PostgreSQL docs, "Connections and Authentication": per-session settings, ignored on Unix sockets),
    // so the server frees the lock about 6 s after the link died — after the holder noticed (≤ 4 s).
    await client.query('SET tcp_keepalives_idle = 3; SET tcp_keepalives_interval = 1; SET tcp_keepalives_count = 3');
    const { rows } = await client.query<{ granted: boolean; pid: number }>(
      'SELECT pg_try_advisory_lock($1::int4, hashtext($2)) AS granted, pg_backend_pid() AS pid',
      [LEASE_NAMESPACE, name],
    );
    if (!rows[0]?.granted) {
      await client.end().catch(() => {});
      return undefined;
    }
    serverPid = rows[0].pid;
  } catch (err) {
    await client.end().catch(() => {});
    throw new Error(`cannot try the lease ${name} at ${redacted}: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
  }
  return holdLease(client, name, serverPid, redacted, opts);
}

/** Watches a connection that holds lease `name`. */
function holdLease(client: pg.Client, name: string, serverPid: number, redacted: string, opts: TryLeaseOptions): HeldLease {
  const keepAliveMs = opts.keepAliveMs ?? LEASE_KEEPALIVE_MS;
  const timeoutMs = opts.keepAliveTimeoutMs ?? LEASE_KEEPALIVE_TIMEOUT_MS;
  let state: 'held' | 'lost' | 'released' = 'held';
  let resolveLost!: (err: Error) => void;
  const lost = new Promise<Error>((resolve) => (resolveLost = resolve));
  let releasing: Promise<void> | undefined;

  const lose = (err: Error): void => {
    if (state !== 'held') return;
    state = 'lost';
    clearInterval(keepAlive);
    resolveLost(err);
    hardClose(client);
  };
  client.on('error', (err) => lose(err));
  client.on('end', () => lose(new Error(`the connection holding the lease ${name} at ${redacted} closed`)));

  let pending = false;
  const keepAlive = setInterval(() => {
    if (pending) return; // the previous one is still out: its timeout decides
    pending = true;
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`the keep-alive of the lease ${name} at ${redacted} took longer than ${timeoutMs} ms`)), timeoutMs);
    });
    Promise.race([client.query('SELECT 1'), timeout])
      .catch((err: unknown) => lose(err instanceof Error ? err : new Error(String(err))))
      .finally(() => {
        clearTimeout(timer);
        pending = false;
      });
  }, keepAliveMs);
  keepAlive.unref();

  return {
    name,
    serverPid,
    lost,
    release() {
      releasing ??= (async () => {
        const wasHeld = state === 'held';
        state = 'released';
        clearInterval(keepAlive);
        if (wasHeld) {
          await withTimeout(client.query('SELECT pg_advisory_unlock($1::int4, hashtext($2))', [LEASE_NAMESPACE, name]), timeoutMs).catch(() => {});
          await withTimeout(client.end(), timeoutMs).catch(() => hardClose(client));
        }
      })();
      return releasing;
    },
  };
}

/**
 * Who holds which lease in the database of `db` (a URL: read on a short-lived connection; or a
 * pool/client: one query). Only leases named in `names` are reported (hashtext is not
 * reversible), each at most once. Rejects when the server cannot be reached or the query fails.
 */
export async function readLeaseHolders(db: string | Pick<pg.Pool, 'query'>, names: readonly string[]): Promise<LeaseHolder[]> {
  if (typeof db === 'string') {
    const client = new pg.Client({ connectionString: db, application_name: 'agentbridge lease check', connectionTimeoutMillis: 5_000 });
    client.on('error', () => {});
    try {
      await client.connect();
      return await readLeaseHolders(client, names);
    } catch (err) {
      throw new Error(`cannot read the lease holders at ${redactUrl(db)}: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
    } finally {
      await client.end().catch(() => {});
    }
  }
  const { rows } = await db.query<{ lease: string; pid: number; application_name: string | null; backend_start: Date | null }>(
    `SELECT n.name AS lease, l.pid, a.application_name, a.backend_start
       FROM unnest($2::text[]) AS n(name)
       JOIN pg_locks l ON l.locktype = 'advisory' AND l.granted AND l.objsubid = 2
                      AND l.classid = $1::int4::oid AND l.objid = hashtext(n.name)::oid
                      AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
       LEFT JOIN pg_stat_activity a ON a.pid = l.pid
      ORDER BY n.name`,
    [LEASE_NAMESPACE, [...names]],
  );
  return rows.map((r) => ({
    lease: r.lease,
    instanceId: r.application_name?.startsWith(LEASE_APPLICATION_PREFIX) ? r.application_name.slice(LEASE_APPLICATION_PREFIX.length) : '',
    since: r.backend_start ? r.backend_start.getTime() : undefined,
    serverPid: r.pid,
  }));
}

/** Closes a connection without waiting for the server (a cut network would make `end()` wait). */
function hardClose(client: pg.Client): void {
  client.end().catch(() => {});
  // `end()` waits for the server's goodbye; the socket is dropped here so a dead link cannot keep it open
  (client as unknown as { connection?: { stream?: { destroy?: () => void } } }).connection?.stream?.destroy?.();
}

function withTimeout<T>(p: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([p, new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error('timed out')), ms)))]).finally(() =>
    clearTimeout(timer),
  );
}
