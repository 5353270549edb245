/**
 * The `agentbridge` command on PostgreSQL (AGENTBRIDGE_DATABASE_URL = a new database of the test
 * server, its URL carrying a password the trusting test server never checks): `db init`, reads,
 * `users`, `db prune --dry-run`, `db checkpoint`, `db vacuum` and `doctor` work and never print the
 * password; exclusive commands and a second start are refused while another holds the database's
 * owner lock; a running agentbridge whose lock another took while its connection was gone stops
 * with exit 1.
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../../src/logger.js';
import { acquirePostgresOwnerLock, DatabaseLockedError, type PostgresOwnerLock } from '../../src/store/pg-owner-lock.js';
import { runCli, startAgentbridge, type AgentbridgeProcess } from '../helpers/agentbridge.js';
import { freshPostgresDatabase, killLockHolder } from '../helpers/pg.js';
import { processesMentioning } from '../helpers/procs.js';
import { makeSandbox, type Sandbox } from '../helpers/sandbox.js';

const PASSWORD = 'hunter2-secret';
let sb: Sandbox;
const running: AgentbridgeProcess[] = [];
const cleanups: Array<() => Promise<void>> = [];

/** A new database; its URL with {@link PASSWORD} in it. */
async function database(): Promise<{ url: string; name: string }> {
  const db = await freshPostgresDatabase();
  cleanups.push(db.drop);
  const u = new URL(db.url);
  u.password = PASSWORD;
  return { url: u.toString(), name: db.name };
}

function env(url: string, extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  return {
    ...sb.env,
    AGENTBRIDGE_DATA_DIR: path.join(sb.root, 'data'),
    AGENTBRIDGE_WORKDIR: sb.workdir,
    AGENTBRIDGE_DATABASE_URL: url,
    ANTHROPIC_API_KEY: 'test-key',
    LOG_LEVEL: 'info',
    ...extra,
  };
}

/** Runs the CLI and checks that the password appears nowhere in what it printed. */
async function cli(args: string[], e: NodeJS.ProcessEnv): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const r = await runCli(args, e, sb.root, 60_000);
  expect(r.stdout + r.stderr).not.toContain(PASSWORD);
  return r;
}

/** Takes the owner lock of `url`'s database as `applicationName`, retrying while a terminated holder's session is still going away. */
async function takeLock(url: string, applicationName: string): Promise<PostgresOwnerLock> {
  const deadline = Date.now() + 20_000;
  for (;;) {
    try {
      const lock = await acquirePostgresOwnerLock({ url, logger: createLogger('silent'), heartbeatMs: 0, applicationName });
      cleanups.push(() => lock.release());
      return lock;
    } catch (err) {
      if (!(err instanceof DatabaseLockedError) || Date.now() > deadline) throw err;
      await new Promise((r) => setTimeout(r, 10));
    }
  }
}

beforeAll(() => {
  sb = makeSandbox();
});
afterEach(async () => {
  for (const p of running.splice(0)) await p.stop();
  for (const c of cleanups.splice(0).reverse()) await c();
});
afterAll(() => {
  expect(processesMentioning(sb.root)).toEqual([]);
  sb.cleanup();
});

describe('agentbridge CLI on PostgreSQL', () => {
  it('db init, reads, users, prune --dry-run, checkpoint, vacuum and doctor work; the password is never printed', async () => {
    const { url, name } = await database();
    const e = env(url);
    const shown = `postgres://root:***@${new URL(url).host}/${name}`;

    // Inspection needs the schema: said so, nothing created.
    const early = await cli(['sessions', 'list'], e);
    expect(early.code).toBe(1);
    expect(early.stderr).toContain(`the PostgreSQL database at ${shown} has no agentbridge schema yet`);

    const init = await cli(['db', 'init'], e);
    expect(init.code).toBe(0);
    expect(init.stdout).toMatch(new RegExp(`db init: created agentbridge's schema \\(version \\d+\\) in the empty database PostgreSQL at ${escape(shown)}`));
    const again = await cli(['db', 'init'], e);
    expect(again.code).toBe(1);
    expect(again.stderr).toContain("already holds agentbridge's schema");
    const force = await cli(['db', 'init', '--force'], e);
    expect(force.code).toBe(1);
    expect(force.stderr).toContain('drop and create the database');

    const list = await cli(['sessions', 'list'], e);
    expect(list.code).toBe(0);
    expect(list.stdout).toContain('no conversations yet');
    const add = await cli(['users', 'add', 'alice', '--admin'], e);
    expect(add.code).toBe(0);
    expect((await cli(['users', 'list'], e)).stdout).toMatch(/^alice {2}admin /m);

    const dry = await cli(['db', 'prune', '--before', '30d', '--dry-run'], e);
    expect(dry.code).toBe(0);
    expect(dry.stdout).toMatch(/prune: would remove rows older than .*\n {2}conversations: 0\n/);
    expect(dry.stdout).toContain('Nothing to prune.');
    const cp = await cli(['db', 'checkpoint'], e);
    expect(cp.code).toBe(0);
    expect(cp.stdout).toMatch(/^checkpoint: done \(CHECKPOINT\)/); // the test server's role is a superuser
    const vac = await cli(['db', 'vacuum'], e);
    expect(vac.code).toBe(0);
    expect(vac.stdout).toMatch(/^vacuum: VACUUM \(ANALYZE\) of \d+ agentbridge tables/);

    const doc = await cli(['doctor'], e);
    expect(doc.code).toBe(0);
    expect(doc.stdout).toContain(`Database: PostgreSQL at ${shown}`);
    expect(doc.stdout).toMatch(new RegExp(`PostgreSQL \\d+\\S*.*, database ${name}, user root, schema version \\d+`));
    // Nothing of SQLite in the data directory.
    expect(fs.existsSync(path.join(sb.root, 'data', 'agentbridge.db'))).toBe(false);
  });

  it('doctor with the database unreachable: the reason, exit 1, no password', async () => {
    const doc = await cli(['doctor'], env(`postgres://ab:${PASSWORD}@127.0.0.1:9/agentbridge`));
    expect(doc.code).toBe(1);
    expect(doc.stdout).toContain('Database: PostgreSQL at postgres://ab:***@127.0.0.1:9/agentbridge');
    expect(doc.stdout).toMatch(/NOT reachable: .*ECONNREFUSED/);
  });

  it('refuses a start and exclusive commands while another holds the database; reads still work', async () => {
    const { url } = await database();
    const e = env(url, { AGENTBRIDGE_DATA_DIR: path.join(sb.root, 'data-refused') });
    expect((await cli(['db', 'init'], e)).code).toBe(0);
    await takeLock(url, 'agentbridge pid 4242 on elsewhere');

    const start = await cli(['start'], { ...e, AGENTBRIDGE_AGENT: 'claude', AGENTBRIDGE_HTTP_PORT: '0' });
    expect(start.code).toBe(1);
    expect(start.stderr).toMatch(
      /another agentbridge \(agentbridge pid 4242 on elsewhere \(server pid \d+\).*\) is using the database at postgres:\/\/root:\*\*\*@/,
    );
    expect(start.stderr).toContain('stop it first or use a different AGENTBRIDGE_DATABASE_URL');

    for (const args of [
      ['db', 'prune', '--before', '30d'],
      ['db', 'vacuum'],
      ['sessions', 'delete', 'local:general:1'],
    ]) {
      const r = await cli(args, e);
      expect(r.code, args.join(' ')).toBe(1);
      expect(r.stderr).toContain('is using the database at');
      expect(r.stderr).toContain('only while agentbridge is stopped');
    }
    const list = await cli(['sessions', 'list'], e);
    expect(list.code).toBe(0);
    const cp = await cli(['db', 'checkpoint'], e);
    expect(cp.code).toBe(0);
  });

  it('a running agentbridge whose lock another took while its connection was gone stops with exit 1', async () => {
    const { url } = await database();
    const ab = await startAgentbridge(env(url, { AGENTBRIDGE_AGENT: 'claude', AGENTBRIDGE_DATA_DIR: path.join(sb.root, 'data-lost') }), sb.root);
    running.push(ab);
    expect(ab.logs.find((l) => String(l.msg).startsWith('session store: '))?.msg).toMatch(/^session store: PostgreSQL at postgres:\/\/root:\*\*\*@/);
    // While it runs: reads work; an exclusive command from another data directory is refused by the database's lock.
    const other = env(url, { AGENTBRIDGE_DATA_DIR: path.join(sb.root, 'data-other') });
    expect((await cli(['sessions', 'list'], other)).code).toBe(0);
    const vac = await cli(['db', 'vacuum'], other);
    expect(vac.code).toBe(1);
    expect(vac.stderr).toMatch(/another agentbridge \(agentbridge pid \d+ on .*\) is using the database/);

    await killLockHolder(url);
    await takeLock(url, 'agentbridge rival');
    expect(await ab.exited).toBe(1);
    const error = ab.logs.find((l) => l.level === 50 && String(l.msg).startsWith('lost the PostgreSQL owner lock'));
    expect(String(error?.msg)).toContain('agentbridge rival');
    expect(ab.logs.some((l) => l.msg === 'stopped')).toBe(true);
    expect(JSON.stringify(ab.logs) + ab.stderr()).not.toContain(PASSWORD);
  });
});

/** `s` with the characters special in a regular expression escaped. */
function escape(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}
