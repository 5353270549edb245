/**
 * Storage faults on PostgreSQL (src/store/health.ts), checked against what node-postgres really
 * throws: a throwaway server of this test's own (test/helpers/pg-server.ts — never the shared
 * one) is stopped under a pooled query, in the middle of a transaction and between queries, and
 * started again. Each of these errors is a storage fault whose reason names no password; a bug
 * (syntax error, constraint violation), a wrong password and the same socket error code from
 * something else (a platform's HTTP call) are not. The store health recovers on the same pool once
 * the server is back.
 */
import net from 'node:net';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { faultReason, isStorageFault, markPostgresError, StoreHealth, watchPostgresPool } from '../../src/store/health.js';
import { openPostgresStore, type PostgresStore } from '../../src/store/postgres.js';
import { createLogger } from '../../src/logger.js';
import { collectingLogger } from '../helpers/core.js';
import { startPgServer, type PgServer } from '../helpers/pg-server.js';

const PASSWORD = 'h5-secret-pw';

let server: PgServer;
let store: PostgresStore;

/** What `fn` rejects with (fails the test when it resolves). */
async function rejection(fn: () => Promise<unknown>): Promise<unknown> {
  try {
    await fn();
  } catch (err) {
    return err;
  }
  throw new Error('expected a rejection');
}

function expectFault(err: unknown): string {
  expect(isStorageFault(err), String(err)).toBe(true);
  const reason = faultReason(err);
  expect(reason).not.toContain(PASSWORD);
  return reason;
}

beforeAll(async () => {
  server = await startPgServer({ password: PASSWORD });
  store = await openPostgresStore({ url: server.url, logger: createLogger('silent') });
  watchPostgresPool(store.pool); // idempotent in effect: marks errors, keeps a lost checked-out connection from crashing
}, 180_000);

afterAll(async () => {
  await store?.close().catch(() => {});
  await server?.destroy();
}, 60_000);

describe('PostgreSQL connection loss is a storage fault (real errors of a stopped server)', () => {
  it('stopped under a running query, inside a transaction and between queries; healthy again on the same pool after the restart', async () => {
    await store.probeWrite();

    // A query running when the server stops: the server ends the session with 57P01 (admin shutdown).
    const running = rejection(() => store.pool.query('SELECT pg_sleep(30)'));
    await expect
      .poll(
        async () => (await store.pool.query<{ n: number }>(`SELECT count(*)::int AS n FROM pg_stat_activity WHERE query LIKE 'SELECT pg_sleep%'`)).rows[0]!.n,
      )
      .toBe(1);
    // A transaction that has written and waits for something else (its connection is checked out, idle).
    let inside!: () => void;
    const insideTx = new Promise<void>((r) => (inside = r));
    let goOn!: () => void;
    const resume = new Promise<void>((r) => (goOn = r));
    const tx = rejection(() =>
      store.transaction(async (t) => {
        await t.platformState.set('h5:a', '1');
        inside();
        await resume;
        await t.platformState.set('h5:b', '2');
      }),
    );
    await insideTx;
    await server.stop();
    goOn();

    const midQuery = await running;
    expect(midQuery).toMatchObject({ code: '57P01', severity: 'FATAL' });
    expect(expectFault(midQuery)).toBe('57P01: terminating connection due to administrator command');

    const midTx = await tx;
    expect((midTx as Error).message).toMatch(/Client has encountered a connection error and is not queryable|Connection terminated|terminating connection/);
    expectFault(midTx);

    // Any store call while the server is down: the pool cannot connect.
    const refused = await rejection(() => store.probeWrite());
    expect(refused).toMatchObject({ code: 'ECONNREFUSED' });
    expect(expectFault(refused)).toMatch(new RegExp(`^ECONNREFUSED: connect ECONNREFUSED 127\\.0\\.0\\.1:${server.port}$`));
    expectFault(await rejection(() => store.transaction(async (t) => t.platformState.set('h5:c', '1'))));
    expectFault(await rejection(() => store.inbox.countByState()));

    // The store health: unhealthy with a reason naming the database (no password), recovers when the server is back.
    const { logger } = collectingLogger('silent');
    const health = new StoreHealth({
      probe: () => store.probeWrite(),
      logger,
      initialDelayMs: 50,
      maxDelayMs: 200,
      database: `PostgreSQL at ${store.redactedUrl}`,
    });
    expect(health.report(refused, 'test')).toBe(true);
    expect(health.reason).toBe(
      `ECONNREFUSED: connect ECONNREFUSED 127.0.0.1:${server.port} (PostgreSQL at postgres://postgres:***@127.0.0.1:${server.port}/postgres)`,
    );
    await new Promise((r) => setTimeout(r, 300)); // a few failing probes
    expect(health.healthy).toBe(false);
    await server.start();
    await health.whenHealthy();
    expect(health.healthy).toBe(true);
    health.stop();
    expect(await store.platformState.get('h5:a')).toBeUndefined(); // the interrupted transaction left nothing
    await store.platformState.set('h5:after', 'ok');
    expect(await store.platformState.get('h5:after')).toBe('ok');
  }, 120_000);

  it('a connection that does not complete in time is a fault; the pool’s messages name no password', async () => {
    const blackHole = net.createServer(() => {}); // accepts, never answers
    await new Promise<void>((r) => blackHole.listen(0, '127.0.0.1', r));
    const { port } = blackHole.address() as net.AddressInfo;
    const pool = new pg.Pool({ connectionString: `postgres://u:${PASSWORD}@127.0.0.1:${port}/x`, connectionTimeoutMillis: 300 });
    watchPostgresPool(pool);
    try {
      const err = await rejection(() => pool.query('SELECT 1'));
      expect((err as Error).message).toBe('Connection terminated due to connection timeout');
      expectFault(err);
    } finally {
      await pool.end().catch(() => {});
      blackHole.close();
    }
  });

  it('a read-only transaction (a failover to a standby) is a fault', async () => {
    const client = new pg.Client({ connectionString: server.url, options: '-c default_transaction_read_only=on' });
    await client.connect();
    try {
      const err = await rejection(() => client.query('CREATE TABLE h5_ro (x int)'));
      expect(err).toMatchObject({ code: '25006' });
      expectFault(err);
    } finally {
      await client.end();
    }
  });
});

describe('what is not a storage fault', () => {
  it('a syntax error, a constraint violation, a wrong password', async () => {
    const syntax = await rejection(() => store.pool.query('SELEC 1'));
    expect(syntax).toMatchObject({ code: '42601' });
    expect(isStorageFault(syntax)).toBe(false);

    await store.pool.query('CREATE TABLE IF NOT EXISTS h5_unique (x int PRIMARY KEY)');
    await store.pool.query('INSERT INTO h5_unique VALUES (1) ON CONFLICT DO NOTHING');
    const unique = await rejection(() => store.pool.query('INSERT INTO h5_unique VALUES (1)'));
    expect(unique).toMatchObject({ code: '23505' });
    expect(isStorageFault(unique)).toBe(false);

    const wrong = new pg.Client({ connectionString: server.url.replace(PASSWORD, 'not-the-password') });
    const auth = await rejection(() => wrong.connect());
    await wrong.end().catch(() => {});
    expect(auth).toMatchObject({ code: '28P01' });
    expect(isStorageFault(auth)).toBe(false);
    expect(faultReason(auth)).not.toContain('not-the-password');
  });

  it('a socket error of something else (a platform call) is not, unless it came from the store’s pool', async () => {
    const refusedPort = await new Promise<number>((resolve) => {
      const s = net.createServer().listen(0, '127.0.0.1', () => {
        const { port } = s.address() as net.AddressInfo;
        s.close(() => resolve(port));
      });
    });
    const fetchErr = await rejection(() => fetch(`http://127.0.0.1:${refusedPort}/`));
    expect((fetchErr as Error & { cause: { code: string } }).cause.code).toBe('ECONNREFUSED');
    expect(isStorageFault(fetchErr)).toBe(false);
    const reset = Object.assign(new Error('read ECONNRESET'), { code: 'ECONNRESET' });
    expect(isStorageFault(reset)).toBe(false);
    expect(isStorageFault(markPostgresError(reset))).toBe(true);
  });
});

describe('SQLSTATE classes', () => {
  const dbError = (code: string) => Object.assign(new pg.DatabaseError(`test ${code}`, 0, 'error'), { code, severity: 'ERROR' });

  it('connection exceptions, shutdowns, insufficient resources and read-only transactions are faults; others are not', () => {
    for (const code of ['08000', '08001', '08003', '08004', '08006', '08P01', '57P01', '57P02', '57P03', '53000', '53100', '53200', '53300', '25006']) {
      expect(isStorageFault(dbError(code)), code).toBe(true);
    }
    for (const code of ['23505', '23503', '42601', '42P01', '40001', '40P01', '57014', '25P02', '22001', '28P01', '3D000']) {
      expect(isStorageFault(dbError(code)), code).toBe(false);
    }
    // A code-shaped string without pg's severity is not taken for a SQLSTATE.
    expect(isStorageFault(Object.assign(new Error('x'), { code: '08006' }))).toBe(false);
  });

  it('pg’s connection-loss messages are faults, also as a cause', () => {
    for (const message of [
      'Connection terminated unexpectedly',
      'Client has encountered a connection error and is not queryable',
      'Connection terminated due to connection timeout',
      'timeout exceeded when trying to connect',
    ]) {
      expect(isStorageFault(new Error(message)), message).toBe(true);
    }
    expect(isStorageFault(new Error('wrapped', { cause: new Error('Connection terminated unexpectedly') }))).toBe(true);
    expect(isStorageFault(new Error('Connection terminated'))).toBe(false); // our own client.end() under a query
  });

  it('faultReason hides a password in a connection string inside a message', () => {
    const err = Object.assign(new Error(`could not reach postgres://ab:${PASSWORD}@db:5432/ab and postgresql://x:y@h/z`), { code: 'ECONNREFUSED' });
    expect(faultReason(err)).toBe('ECONNREFUSED: could not reach postgres://ab:***@db:5432/ab and postgresql://x:***@h/z');
  });
});
