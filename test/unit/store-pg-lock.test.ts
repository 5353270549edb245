/**
 * PostgreSQL: the owner lock (src/store/pg-owner-lock.ts) between two acquirers on one database,
 * its loss when the server ends its connection, and the maintenance helpers of
 * src/store/pg-maintenance.ts.
 */
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import crypto from 'node:crypto';
import os from 'node:os';
import pg from 'pg';
import { createLogger } from '../../src/logger.js';
import {
  DatabaseLockedError,
  PG_OWNER_LOCK_KEY,
  acquirePostgresOwnerLock,
  ownerApplicationName,
  readPostgresOwner,
  type PostgresOwnerLock,
} from '../../src/store/pg-owner-lock.js';
import { PG_TABLES, checkpointPostgres, describePostgres, vacuumPostgres } from '../../src/store/pg-maintenance.js';
import { migratePostgres } from '../../src/store/migrate.js';
import { freshPostgresDatabase } from '../helpers/pg.js';

const logger = createLogger('silent');
const SECRET = 's3cret-pw';
/** Roles are per server, shared by parallel test runs: unique names. */
const RUN = crypto.randomBytes(4).toString('hex');
const LOCK_ROLE = `agentbridge_lock_test_${RUN}`;
const PLAIN_ROLE = `agentbridge_plain_test_${RUN}`;

let db: { url: string; name: string; drop: () => Promise<void> };
let admin: pg.Client;
const locks: PostgresOwnerLock[] = [];

/** `url` with user {@link LOCK_ROLE} and a password (the role exists only in this file's tests). */
function withPassword(url: string): string {
  const u = new URL(url);
  u.username = LOCK_ROLE;
  u.password = SECRET;
  return u.toString();
}

beforeEach(async () => {
  db = await freshPostgresDatabase();
  admin = new pg.Client({ connectionString: db.url });
  await admin.connect();
});
afterEach(async () => {
  for (const l of locks.splice(0)) await l.release();
  await admin.end();
  await db.drop();
});

async function acquire(opts: { applicationName?: string; onLost?: (err: Error) => void; url?: string } = {}): Promise<PostgresOwnerLock> {
  const lock = await acquirePostgresOwnerLock({ url: opts.url ?? db.url, logger, heartbeatMs: 0, ...opts });
  locks.push(lock);
  return lock;
}

/** Server pid of the session holding the owner lock in the test database, or undefined. */
async function holderPid(): Promise<number | undefined> {
  const { rows } = await admin.query<{ pid: number }>(
    `SELECT l.pid FROM pg_locks l
      WHERE l.locktype = 'advisory' AND l.granted AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
        AND ((l.classid::text::bigint << 32) | l.objid::text::bigint) = $1::bigint`,
    [PG_OWNER_LOCK_KEY.toString()],
  );
  return rows[0]?.pid;
}

describe('PostgreSQL owner lock', () => {
  it('refuses a second acquirer, naming the holder; release lets the next in', async () => {
    const first = await acquire({ applicationName: 'agentbridge pid 111 on host-a' });
    expect(first.state).toBe('held');
    expect(await holderPid()).toBeDefined();

    const err = await acquire({ applicationName: 'agentbridge pid 222 on host-b' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(DatabaseLockedError);
    const e = err as DatabaseLockedError;
    expect(e.holder).toMatch(/^agentbridge pid 111 on host-a \(server pid \d+\), connected (from [\d.:a-f]+|through a local socket) since \d{4}-\d\d-\d\dT/);
    expect(e.message).toContain('another agentbridge (agentbridge pid 111 on host-a');
    expect(e.message).toContain(`is using the database at ${new URL(db.url).toString()}`);
    expect(e.message).toContain('stop it first or use a different AGENTBRIDGE_DATABASE_URL');
    // the refused acquirer closed its connection
    const sessions = await admin.query(`SELECT 1 FROM pg_stat_activity WHERE application_name = 'agentbridge pid 222 on host-b'`);
    expect(sessions.rowCount).toBe(0);

    expect(await readPostgresOwner(db.url)).toBe(e.holder);
    await first.release();
    expect(first.state).toBe('released');
    await first.release(); // idempotent
    expect(await holderPid()).toBeUndefined();
    expect(await readPostgresOwner(db.url)).toBeUndefined();

    const second = await acquire({ applicationName: 'agentbridge pid 222 on host-b' });
    expect(second.state).toBe('held');
    expect(await readPostgresOwner(db.url)).toMatch(/^agentbridge pid 222 on host-b /);
    await expect(first.reacquire()).rejects.toThrow(/was released/);
  });

  it('names the holder by default as agentbridge pid <pid> on <host>, in ASCII cut to 63 characters', async () => {
    expect(ownerApplicationName()).toBe(`agentbridge pid ${process.pid} on ${os.hostname()}`.slice(0, 63));
    const lock = await acquire({ applicationName: undefined });
    expect(await readPostgresOwner(db.url)).toMatch(new RegExp(`^agentbridge pid ${process.pid} on `));
    await lock.release();
    await acquire({ applicationName: `agentbridge pid 1 on ${'ü'.repeat(50)}` });
    const holder = (await readPostgresOwner(db.url))!;
    const name = holder.slice(0, holder.indexOf(' (server pid'));
    expect(Buffer.byteLength(name)).toBeLessThanOrEqual(63);
    expect(name).toBe(`agentbridge pid 1 on ${'?'.repeat(42)}`);
  });

  it('never shows the password of the URL', async () => {
    await admin.query(`CREATE ROLE ${LOCK_ROLE} LOGIN PASSWORD '${SECRET}'`);
    try {
      await acquire();
      const err = (await acquire({ url: withPassword(db.url) }).catch((e: unknown) => e)) as Error;
      expect(err).toBeInstanceOf(DatabaseLockedError);
      expect(err.message).toContain(`${LOCK_ROLE}:***@`);
      expect(err.message).not.toContain(SECRET);
      expect((err as DatabaseLockedError).redactedUrl).not.toContain(SECRET);
      // a connection failure names the redacted URL too
      const bad = new URL(withPassword(db.url));
      bad.port = '1';
      const connErr = (await acquire({ url: bad.toString() }).catch((e: unknown) => e)) as Error;
      expect(connErr.message).toMatch(new RegExp(`^cannot connect to PostgreSQL at postgres://${LOCK_ROLE}:\\*\\*\\*@`));
      expect(connErr.message).not.toContain(SECRET);
    } finally {
      await admin.query(`SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = $1`, [LOCK_ROLE]);
      await admin.query(`DROP ROLE IF EXISTS ${LOCK_ROLE}`).catch(() => {});
    }
  });

  it('a terminated holder connection calls onLost once and frees the lock; reacquire takes it again', async () => {
    const onLost = vi.fn<(err: Error) => void>();
    const lost = new Promise<Error>((resolve) => onLost.mockImplementation(resolve));
    const lock = await acquire({ applicationName: 'agentbridge pid 333 on host-c', onLost });
    const pid = await holderPid();
    expect(pid).toBeDefined();

    await admin.query('SELECT pg_terminate_backend($1)', [pid]);
    const err = await lost;
    expect(err).toBeInstanceOf(Error);
    expect(lock.state).toBe('lost');
    // pg_terminate_backend returns before the backend has exited and released its locks.
    await expect.poll(holderPid, { timeout: 10_000 }).toBeUndefined();
    expect(onLost).toHaveBeenCalledTimes(1);

    await lock.reacquire();
    expect(lock.state).toBe('held');
    const newPid = await holderPid();
    expect(newPid).toBeDefined();
    expect(newPid).not.toBe(pid);
    expect(onLost).toHaveBeenCalledTimes(1);
    await lock.release();
    expect(onLost).toHaveBeenCalledTimes(1); // a release is no loss
    expect(await holderPid()).toBeUndefined();
  });

  it('reacquire after a loss refuses when another process took the lock meanwhile', async () => {
    let signalLost!: (err: Error) => void;
    const lost = new Promise<Error>((resolve) => (signalLost = resolve));
    const lock = await acquire({ applicationName: 'agentbridge pid 444 on host-d', onLost: (err) => signalLost(err) });
    await admin.query('SELECT pg_terminate_backend($1)', [await holderPid()]);
    expect(await lost).toBeInstanceOf(Error);
    await acquire({ applicationName: 'agentbridge pid 555 on host-e' });
    const err = await lock.reacquire().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(DatabaseLockedError);
    expect((err as Error).message).toContain('another agentbridge (agentbridge pid 555 on host-e');
    expect(lock.state).toBe('lost');
  });
});

describe('PostgreSQL maintenance', () => {
  let pool: pg.Pool;
  beforeEach(async () => {
    pool = new pg.Pool({ connectionString: db.url, max: 2 });
    await migratePostgres(pool);
  });
  afterEach(async () => {
    await pool.end();
  });

  it('PG_TABLES are exactly the tables of the migrated database', async () => {
    const { rows } = await pool.query<{ name: string }>(`SELECT tablename AS name FROM pg_tables WHERE schemaname = current_schema() ORDER BY 1`);
    expect(rows.map((r) => r.name)).toEqual([...PG_TABLES].sort());
  });

  it('checkpoint runs for a superuser and says it is not needed otherwise', async () => {
    expect(await checkpointPostgres(pool)).toMatch(/^checkpoint: done \(CHECKPOINT\)/); // the test server's role is a superuser
    await pool.query(`CREATE ROLE ${PLAIN_ROLE} LOGIN`);
    const u = new URL(db.url);
    u.username = PLAIN_ROLE;
    const plain = new pg.Pool({ connectionString: u.toString(), max: 1 });
    try {
      expect(await checkpointPostgres(plain)).toMatch(/^checkpoint: not needed on PostgreSQL \(the server checkpoints by itself\)/);
    } finally {
      await plain.end();
      await pool.query(`DROP ROLE ${PLAIN_ROLE}`);
    }
  });

  it('vacuum analyzes every agentbridge table', async () => {
    await pool.query(`INSERT INTO platform_state (key, value, updated_at) VALUES ('a', 'b', 1)`);
    await pool.query(`DELETE FROM platform_state`);
    const text = await vacuumPostgres(pool);
    expect(text).toMatch(new RegExp(`^vacuum: VACUUM \\(ANALYZE\\) of ${PG_TABLES.length} agentbridge tables in \\d+\\.\\d s`));
    const { rows } = await pool.query<{ n: number }>(
      `SELECT COUNT(*)::int AS n FROM pg_stat_user_tables WHERE relname = ANY($1::text[]) AND last_vacuum IS NOT NULL AND last_analyze IS NOT NULL`,
      [[...PG_TABLES]],
    );
    expect(rows[0]!.n).toBe(PG_TABLES.length);
  });

  it('vacuum of a database without agentbridge tables does nothing', async () => {
    const empty = await freshPostgresDatabase();
    const p = new pg.Pool({ connectionString: empty.url, max: 1 });
    try {
      expect(await vacuumPostgres(p)).toBe('vacuum: no agentbridge tables in this database; nothing to do');
    } finally {
      await p.end();
      await empty.drop();
    }
  });

  it('describe names the server version, database and role', async () => {
    const d = await describePostgres(pool);
    expect(d.version).toMatch(/^\d+(\.\d+)?/);
    expect(d.database).toBe(db.name);
    expect(d.user).toBe(new URL(db.url).username || expect.any(String));
  });
});
