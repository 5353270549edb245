/**
 * PostgreSQL for tests: each call of {@link freshPostgresDatabase} creates a new, empty database
 * on the test server (`AGENTBRIDGE_TEST_DATABASE_URL`, set by CI or by ./pg-global-setup.ts) and
 * gives its URL and a `drop` that removes it.
 */
import crypto from 'node:crypto';
import pg from 'pg';

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
