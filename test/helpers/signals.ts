/**
 * Cluster signals in tests: one fresh PostgreSQL database per test file with a pool on it, the
 * `ClusterSignals` of several "instances" on a channel of the test's own, and cleanup after each
 * test (in reverse order of registration: what was started last is closed first).
 */
import crypto from 'node:crypto';
import pg from 'pg';
import { afterAll, afterEach, beforeAll } from 'vitest';
import { ClusterSignals } from '../../src/cluster/signals.js';
import type { Logger } from '../../src/logger.js';
import { freshPostgresDatabase } from './pg.js';

/** The database of a signals test file, valid from its `beforeAll` on. */
export interface SignalsDatabase {
  /** `postgres://…` URL of the file's database. */
  readonly url: string;
  /** A pool on it (4 connections at most). */
  readonly pool: pg.Pool;
  /** Runs `close` after the current test (the last registered runs first). */
  afterTest(close: () => Promise<void> | void): void;
  /**
   * A started `ClusterSignals` of instance `id` on `channel`, closed after the test: fast
   * reconnects (100 ms doubling to 500 ms), no heartbeat. `beforeStart` may subscribe first.
   */
  signals(id: string, channel: string, logger: Logger, beforeStart?: (s: ClusterSignals) => void): Promise<ClusterSignals>;
}

/**
 * Registers the hooks of a signals test file (call at the top level of the file or of a
 * `describe`): the database and pool in `beforeAll` (60 s), the registered closes in
 * `afterEach`, the pool's end and the database's drop in `afterAll`.
 */
export function useSignalsDatabase(): SignalsDatabase {
  let db: { url: string; drop: () => Promise<void> } | undefined;
  let pool: pg.Pool | undefined;
  const closers: Array<() => Promise<void> | void> = [];
  beforeAll(async () => {
    db = await freshPostgresDatabase();
    pool = new pg.Pool({ connectionString: db.url, max: 4 });
  }, 60_000);
  afterEach(async () => {
    for (const c of closers.splice(0).reverse()) await c();
  });
  afterAll(async () => {
    await pool?.end();
    await db?.drop();
  }, 60_000);
  const ready = <T>(v: T | undefined): T => {
    if (v === undefined) throw new Error('the signals database is set up in beforeAll');
    return v;
  };
  const self: SignalsDatabase = {
    get url() {
      return ready(db).url;
    },
    get pool() {
      return ready(pool);
    },
    afterTest: (close) => void closers.push(close),
    async signals(id, channel, logger, beforeStart) {
      const s = new ClusterSignals({ url: self.url, pool: self.pool, instanceId: id, logger, channel, initialDelayMs: 100, maxDelayMs: 500, heartbeatMs: 0 });
      beforeStart?.(s);
      await s.start();
      self.afterTest(() => s.close());
      return s;
    },
  };
  return self;
}

/** A NOTIFY channel name of the test's own (`test_<8 hex digits>`). */
export function signalChannel(): string {
  return `test_${crypto.randomBytes(4).toString('hex')}`;
}
