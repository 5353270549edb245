/**
 * `agentbridge db copy` as a user runs it (the built CLI, dist/cli.js): a stopped instance's SQLite
 * database copied into a new PostgreSQL database, which agentbridge then uses
 * (AGENTBRIDGE_DATABASE_URL); a second copy into it refused (exit 1); usage errors (exit 2) that
 * never echo a password.
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../../src/logger.js';
import { redactUrl } from '../../src/store/postgres.js';
import { openStore } from '../../src/store/store.js';
import { runCli } from '../helpers/agentbridge.js';
import { freshPostgresDatabase } from '../helpers/pg.js';
import { processesMentioning } from '../helpers/procs.js';
import { makeSandbox, type Sandbox } from '../helpers/sandbox.js';

let sb: Sandbox;
let dataDir: string;
let target: { url: string; drop: () => Promise<void> };

/** The CLI's environment; `database` sets AGENTBRIDGE_DATABASE_URL (else SQLite in the data directory). */
function env(database?: string): NodeJS.ProcessEnv {
  return { ...sb.env, AGENTBRIDGE_DATA_DIR: dataDir, AGENTBRIDGE_WORKDIR: sb.workdir, AGENTBRIDGE_DATABASE_URL: database ?? '' };
}

beforeAll(async () => {
  sb = makeSandbox();
  dataDir = path.join(sb.root, 'data');
  // A stopped instance's database: written through the store, then closed.
  const store = openStore({ dbPath: path.join(dataDir, 'agentbridge.db'), logger: createLogger('silent') });
  await store.localUsers.add('ann', true);
  await store.conversations.ensure({ id: 'local:general:t1', platform: 'local', channel: 'general', thread: 't1' });
  await store.entries.append({
    conversationId: 'local:general:t1',
    role: 'user',
    author: 'ann',
    text: 'hello',
    agent: null,
    model: null,
    usage: null,
    costUsd: null,
  });
  await store.close();
  target = await freshPostgresDatabase();
});

afterAll(async () => {
  await target?.drop();
  expect(processesMentioning(sb.root)).toEqual([]);
  sb.cleanup();
});

describe('agentbridge db copy', () => {
  it('copies a stopped SQLite database into an empty PostgreSQL database that agentbridge then uses; a second copy is refused', async () => {
    const dbPath = path.join(dataDir, 'agentbridge.db');
    const r = await runCli(['db', 'copy', '--from', `sqlite:${dbPath}`, '--to', target.url], env(target.url), sb.root, 120_000);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toContain(`db copy: ${dbPath} → ${redactUrl(target.url)}`);
    expect(r.stdout).toMatch(/^ {2}local_users\s+1 row$/m);
    expect(r.stdout).toMatch(/^ {2}session_entries\s+1 row$/m);
    expect(r.stdout).toMatch(/^checked: \d+ tables, 3 rows identical$/m);
    expect(r.stdout).toContain('AGENTBRIDGE_DATABASE_URL=');
    const password = new URL(target.url).password;
    if (password) expect(r.stdout + r.stderr).not.toContain(password);
    expect(fs.existsSync(dbPath)).toBe(true); // the source stays

    // The next step: agentbridge on the copy sees the copied data.
    const users = await runCli(['users', 'list'], env(target.url), sb.root, 60_000);
    expect(users.code).toBe(0);
    expect(users.stdout).toMatch(/\bann\b/);

    const again = await runCli(['db', 'copy', '--from', `sqlite:${dbPath}`, '--to', target.url], env(target.url), sb.root, 120_000);
    expect(again.code).toBe(1);
    expect(again.stderr).toMatch(/is not empty: .*local_users.*have rows/);
  });

  it('exits 2 for options not of their form, without echoing a password', async () => {
    const dbPath = path.join(dataDir, 'agentbridge.db');
    const mysql = await runCli(['db', 'copy', '--from', `sqlite:${dbPath}`, '--to', 'mysql://u:hunter2secret@db/x'], env(), sb.root);
    expect(mysql.code).toBe(2);
    expect(mysql.stderr).toContain('--to must be a PostgreSQL URL');
    expect(mysql.stderr).not.toContain('hunter2secret');

    const notSqlite = await runCli(['db', 'copy', '--from', dbPath, '--to', 'postgres://u:hunter2secret@db/x'], env(), sb.root);
    expect(notSqlite.code).toBe(2);
    expect(notSqlite.stderr).toContain('--from must be sqlite:PATH');
    expect(notSqlite.stderr).not.toContain('hunter2secret');

    const missing = await runCli(['db', 'copy', '--from', `sqlite:${dbPath}`], env(), sb.root);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toMatch(/--to/);
  });
});
