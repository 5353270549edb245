/**
 * The data directory as a user meets it: private file modes, and a database that disappears
 * while agentbridge is stopped (the marker beside it) — start refuses with exit 2 and says what
 * to do; `agentbridge db init --force` starts an empty one.
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { LocalChat, runCli, startAgentbridge, type AgentbridgeProcess } from '../helpers/agentbridge.js';
import { processesMentioning } from '../helpers/procs.js';
import { makeSandbox, type Sandbox } from '../helpers/sandbox.js';

let sb: Sandbox;
const running: AgentbridgeProcess[] = [];

function env(extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  return {
    ...sb.env,
    AGENTBRIDGE_DATA_DIR: path.join(sb.root, 'data'),
    AGENTBRIDGE_WORKDIR: sb.workdir,
    // No agent is needed here: messages are not sent to one.
    AGENTBRIDGE_AGENT: 'claude',
    ANTHROPIC_API_KEY: 'test-key',
    LOG_LEVEL: 'info',
    ...extra,
  };
}

async function start(): Promise<AgentbridgeProcess> {
  const p = await startAgentbridge(env(), sb.root);
  running.push(p);
  return p;
}

const mode = (p: string) => (fs.statSync(p).mode & 0o777).toString(8);

beforeAll(() => {
  sb = makeSandbox();
});
afterEach(async () => {
  for (const p of running.splice(0)) await p.stop();
});
afterAll(() => {
  expect(processesMentioning(sb.root)).toEqual([]);
  sb.cleanup();
});

describe('the data directory', () => {
  it('is private: the directory 0700, the database, -wal, -shm, marker and lock 0600', async () => {
    const dataDir = path.join(sb.root, 'data');
    const ab = await start();
    await new LocalChat(ab.url).send('general', '/agent help', { user: 'ann' }); // a write: the WAL is in use
    const db = path.join(dataDir, 'agentbridge.db');
    expect(mode(dataDir)).toBe('700');
    for (const f of [db, `${db}-wal`, `${db}-shm`, `${db}.id`, path.join(dataDir, 'agentbridge.lock'), path.join(dataDir, 'mcp-secret')]) {
      expect([path.basename(f), mode(f)]).toEqual([path.basename(f), '600']);
    }
    expect(await ab.stop()).toBe(0);

    // An existing world-readable directory and database (from an older agentbridge) are tightened at start.
    fs.chmodSync(dataDir, 0o755);
    fs.chmodSync(db, 0o644);
    const again = await start();
    expect(mode(dataDir)).toBe('700');
    expect(mode(db)).toBe('600');
    expect(await again.stop()).toBe(0);
  });

  it('fails fast with exit 2 and the reason when the data directory cannot be created or written', async () => {
    // /proc/nope: Node's recursive mkdir never returns there (the hang of issue 12); a file in the way; /proc itself (not writable).
    const file = path.join(sb.root, 'a-file');
    fs.writeFileSync(file, '');
    const procMode = mode('/proc');
    for (const [dir, reason] of [
      ['/proc/nope', /ENOENT: no such file or directory, mkdir '\/proc\/nope'/],
      [path.join(file, 'data'), /ENOTDIR/],
      ['/proc', /cannot create files in it/],
    ] as const) {
      const t0 = Date.now();
      const r = await runCli(['start'], { ...env({ AGENTBRIDGE_DATA_DIR: dir }), AGENTBRIDGE_HTTP_PORT: '0' }, sb.root, 20_000);
      expect(r.code, r.stderr).toBe(2);
      expect(r.stderr).toContain(`the data directory ${dir} (AGENTBRIDGE_DATA_DIR) cannot be used: `);
      expect(r.stderr).toMatch(reason);
      expect(r.stderr).toContain('Set AGENTBRIDGE_DATA_DIR to a directory this user can create and write.');
      expect(Date.now() - t0).toBeLessThan(15_000); // no hang (only node's start-up time)
    }
    expect(mode('/proc')).toBe(procMode); // never chmod-ed

    const workdir = await runCli(['start'], { ...env({ AGENTBRIDGE_WORKDIR: '/proc/nope' }), AGENTBRIDGE_HTTP_PORT: '0' }, sb.root, 20_000);
    expect(workdir.code, workdir.stderr).toBe(2);
    expect(workdir.stderr).toContain('the working directory /proc/nope (AGENTBRIDGE_WORKDIR) cannot be used');

    const db = await runCli(['db', 'init'], env({ AGENTBRIDGE_DATA_DIR: '/proc/nope' }), sb.root, 20_000);
    expect(db.code, db.stderr).toBe(2);
    expect(db.stderr).toContain('the data directory /proc/nope (AGENTBRIDGE_DATA_DIR) cannot be used');
  });

  it('refuses to start with exit 2 when the database disappeared; db init --force starts an empty one', async () => {
    const db = path.join(sb.root, 'data', 'agentbridge.db');
    const ab = await start();
    const chat = new LocalChat(ab.url);
    await chat.send('general', '/agent help', { user: 'ann' });
    expect((await (await fetch(`${ab.url}/api/local/channels`)).json()) as { channels: string[] }).toMatchObject({ channels: ['general'] });
    expect(await ab.stop()).toBe(0);

    for (const suffix of ['', '-wal', '-shm']) fs.rmSync(db + suffix, { force: true });
    const refused = await runCli(['start'], { ...env(), AGENTBRIDGE_HTTP_PORT: '0' }, sb.root);
    expect(refused.code).toBe(2);
    expect(refused.stderr).toMatch(/database .*agentbridge\.db has disappeared/);
    expect(refused.stderr).toContain('agentbridge db init --force');
    expect(fs.existsSync(db)).toBe(false); // nothing was created

    const plain = await runCli(['db', 'init'], env(), sb.root);
    expect(plain.code).toBe(1);
    expect(plain.stderr).toContain('--force');

    const init = await runCli(['db', 'init', '--force'], env(), sb.root);
    expect(init.code, init.stderr).toBe(0);
    expect(init.stdout).toMatch(/created an empty database .*agentbridge\.db \(id [0-9a-f-]{36}\)/);

    const fresh = await start();
    const threads = (await (await fetch(`${fresh.url}/api/local/threads?channel=general`)).json()) as { threads: unknown[] };
    expect(threads.threads).toEqual([]);
    expect(await fresh.stop()).toBe(0);
  });
});
