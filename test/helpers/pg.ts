/**
 * PostgreSQL for tests: each call of {@link freshPostgresDatabase} creates a new, empty database
 * on the test server (`AGENTBRIDGE_TEST_DATABASE_URL`, set by CI or by ./pg-global-setup.ts) and
 * gives its URL and a `drop` that removes it.
 */
import crypto from 'node:crypto';
import pg from 'pg';
import { PG_OWNER_LOCK_KEY } from '../../src/store/pg-owner-lock.js';

/** The test server's URL; throws when neither CI nor the global setup provided one. */
export function testServerUrl(): string {
  const url = process.env.AGENTBRIDGE_TEST_DATABASE_URL;
  if (!url) throw new Error('AGENTBRIDGE_TEST_DATABASE_URL is not set (the vitest global setup test/helpers/pg-global-setup.ts sets it)');
  return url;
}

/** A new empty database on the test server. `drop()` ends its other connections and removes it. */
export async function freshPostgresDatabase(): Promise<{ url: string; name: string; drop: () => Promise<void> }> {
  const admin = new URL(testServerUrl());
  const name = `agentbridge_test_${crypto.randomBytes(6).toString('hex')}`;
  const run = async (text: string): Promise<void> => {
    const client = new pg.Client({ connectionString: admin.toString() });
    await client.connect();
    try {
      await client.query(text);
    } finally {
      await client.end();
    }
  };
  await run(`CREATE DATABASE ${name}`);
  const url = new URL(admin.toString());
  url.pathname = `/${name}`;
  return {
    url: url.toString(),
    name,
    drop: () => run(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`),
  };
}

/**
 * Ends the server session holding agentbridge's owner lock of `url`'s database (what a server
 * restart does to it). Throws when no session (or more than one) held it.
 */
export async function killLockHolder(url: string): Promise<void> {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  try {
    const key = BigInt.asUintN(64, PG_OWNER_LOCK_KEY);
    const r = await c.query(
      `SELECT pg_terminate_backend(pid) FROM pg_locks WHERE locktype = 'advisory' AND granted AND objsubid = 1
         AND classid = $1::oid AND objid = $2::oid AND database = (SELECT oid FROM pg_database WHERE datname = current_database())`,
      [(key >> 32n).toString(), (key & 0xffff_ffffn).toString()],
    );
    if (r.rowCount !== 1) throw new Error(`expected one session holding the owner lock, found ${r.rowCount}`);
  } finally {
    await c.end();
  }
}
