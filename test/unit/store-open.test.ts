/**
 * One way to open and own the configured store (src/store/open.ts) and what `doctor` reads of it
 * (src/store/describe.ts), on both backends: `openAppStore` gives the backend's store,
 * `describeDatabase` and `inspectDatabase` never show a password, `acquireOwner` refuses a second
 * owner of a PostgreSQL database (another data directory) and takes a lost lock again — or reports
 * that another agentbridge took it.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import type { DatabaseConfig } from '../../src/core/config.js';
import { createLogger } from '../../src/logger.js';
import { inspectDatabase, withoutPassword } from '../../src/store/describe.js';
import { LOCK_FILE, StoreLockedError } from '../../src/store/lock.js';
import { acquireOwner, describeDatabase, openAppStore, type AppOwner } from '../../src/store/open.js';
import { acquirePostgresOwnerLock, DatabaseLockedError, readPostgresOwner } from '../../src/store/pg-owner-lock.js';
import { freshPostgresDatabase, killLockHolder } from '../helpers/pg.js';
import { waitFor } from '../helpers/sandbox.js';

const logger = createLogger('silent');
const dirs: string[] = [];
const cleanups: Array<() => Promise<void>> = [];

function tmpDir(): string {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), 'ab-open-'));
  dirs.push(d);
  return d;
}

/** A fresh PostgreSQL database whose URL carries a password (the test server trusts every connection, so it is never checked). */
async function pgDatabase(): Promise<{ url: string; database: DatabaseConfig }> {
  const db = await freshPostgresDatabase();
  cleanups.push(db.drop);
  const u = new URL(db.url);
  u.password = 'hunter2-secret';
  return { url: u.toString(), database: { backend: 'postgres', url: u.toString() } };
}

/** The error `p` rejects with; fails the test when it resolves. */
async function rejection(p: Promise<unknown>): Promise<Error> {
  const r = await p.then(
    () => undefined,
    (e: unknown) => e as Error,
  );
  if (!r) throw new Error('expected a rejection');
  return r;
}

afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});
afterAll(() => {
  for (const d of dirs) fs.rmSync(d, { recursive: true, force: true });
});

describe('openAppStore / describeDatabase', () => {
  it('SQLite: the SQLite store at the path, migrated; read-only when asked', async () => {
    const file = path.join(tmpDir(), 'agentbridge.db');
    const database: DatabaseConfig = { backend: 'sqlite', path: file };
    expect(describeDatabase(database)).toBe(`SQLite at ${file}`);
    const store = await openAppStore({ database, logger });
    expect(store.backend).toBe('sqlite');
    expect(store.readonly).toBe(false);
    await store.probeWrite();
    await store.close();
    const ro = await openAppStore({ database, logger, readonly: true });
    expect(ro.readonly).toBe(true);
    await expect(ro.probeWrite()).rejects.toThrow(/readonly/i);
    await ro.close();
  });

  it('PostgreSQL: the PostgreSQL store, migrated; read-only when asked; the password never shown', async () => {
    const { database } = await pgDatabase();
    expect(describeDatabase(database)).toMatch(/^PostgreSQL at postgres:\/\/root:\*\*\*@127\.0\.0\.1:\d+\/agentbridge_test_/);
    expect(describeDatabase(database)).not.toContain('hunter2');
    const store = await openAppStore({ database, logger });
    expect(store.backend).toBe('postgres');
    await store.probeWrite();
    await store.close();
    const ro = await openAppStore({ database, logger, readonly: true });
    expect(ro.readonly).toBe(true);
    await expect(ro.probeWrite()).rejects.toThrow(/read-only/);
    await ro.close();
  });

  it('PostgreSQL unreachable: the error names the redacted URL', async () => {
    const database: DatabaseConfig = { backend: 'postgres', url: 'postgres://ab:hunter2-secret@127.0.0.1:9/agentbridge' };
    const err = await rejection(openAppStore({ database, logger }));
    expect(err).toBeInstanceOf(Error);
    expect(err.message).toContain('postgres://ab:***@127.0.0.1:9/agentbridge');
    expect(err.message).not.toContain('hunter2');
  });
});

describe('inspectDatabase (doctor)', () => {
  it('SQLite: missing, then path, version, schema version and size', async () => {
    const file = path.join(tmpDir(), 'agentbridge.db');
    expect(await inspectDatabase({ backend: 'sqlite', path: file }, logger)).toEqual({ backend: 'sqlite', state: 'missing', path: file });
    const store = await openAppStore({ database: { backend: 'sqlite', path: file }, logger });
    await store.close();
    const r = await inspectDatabase({ backend: 'sqlite', path: file }, logger);
    expect(r).toMatchObject({ backend: 'sqlite', state: 'ok', path: file, version: expect.stringMatching(/^3\.\d+\.\d+$/) });
    if (r.backend !== 'sqlite' || r.state !== 'ok') throw new Error('unreachable');
    expect(r.schemaVersion).toBeGreaterThanOrEqual(13);
    expect(r.bytes).toBeGreaterThan(0);
  });

  it('PostgreSQL: version, database, user, schema version (0 before the first start); unreachable: the reason, no password', async () => {
    const { database } = await pgDatabase();
    const before = await inspectDatabase(database, logger);
    expect(before).toMatchObject({ backend: 'postgres', state: 'ok', user: 'root', schemaVersion: 0, version: expect.stringMatching(/^\d+/) });
    await (await openAppStore({ database, logger })).close();
    const after = await inspectDatabase(database, logger);
    if (after.backend !== 'postgres' || after.state !== 'ok') throw new Error(`not ok: ${JSON.stringify(after)}`);
    expect(after.schemaVersion).toBe(after.knownVersion);
    expect(JSON.stringify(after)).not.toContain('hunter2');

    const down = await inspectDatabase({ backend: 'postgres', url: 'postgres://ab:hunter2-secret@127.0.0.1:9/x' }, logger);
    expect(down).toMatchObject({ backend: 'postgres', state: 'error', url: 'postgres://ab:***@127.0.0.1:9/x' });
    expect(JSON.stringify(down)).not.toContain('hunter2');
    expect(withoutPassword('auth failed for hunter2-secret', 'postgres://ab:hunter2-secret@h/x')).toBe('auth failed for ***');
  });
});

describe('acquireOwner', () => {
  it('SQLite: the data directory lock only; a second owner is refused until release', async () => {
    const dataDir = tmpDir();
    const config = { dataDir, database: { backend: 'sqlite', path: path.join(dataDir, 'agentbridge.db') } as DatabaseConfig };
    const owner = await acquireOwner(config, logger);
    expect(fs.existsSync(path.join(dataDir, LOCK_FILE))).toBe(true);
    await expect(acquireOwner(config, logger)).rejects.toBeInstanceOf(StoreLockedError);
    await owner.release();
    await owner.release(); // idempotent
    expect(fs.existsSync(path.join(dataDir, LOCK_FILE))).toBe(false);
  });

  it('PostgreSQL: a second owner with another data directory is refused (holder named, no password); its lock file is released', async () => {
    const { database } = await pgDatabase();
    const first = await acquireOwner({ dataDir: tmpDir(), database }, logger);
    cleanups.push(() => first.release());
    const otherDir = tmpDir();
    const err = await rejection(acquireOwner({ dataDir: otherDir, database }, logger));
    expect(err).toBeInstanceOf(DatabaseLockedError);
    expect(err.message).toMatch(/another agentbridge \(agentbridge pid \d+ on .*\) is using the database at postgres:\/\/root:\*\*\*@/);
    expect(err.message).not.toContain('hunter2');
    expect(fs.existsSync(path.join(otherDir, LOCK_FILE))).toBe(false);
    await first.release();
    const next = await acquireOwner({ dataDir: otherDir, database }, logger);
    await next.release();
  });

  it('PostgreSQL, cluster mode: instances hold the lock together; a single-instance agentbridge is refused while they run, and refuses them', async () => {
    const { database } = await pgDatabase();
    const a = await acquireOwner({ dataDir: tmpDir(), database }, logger, { cluster: { instanceId: 'node-a' } });
    cleanups.push(() => a.release());
    const b = await acquireOwner({ dataDir: tmpDir(), database }, logger, { cluster: { instanceId: 'node-b' } });
    cleanups.push(() => b.release());
    const single = await rejection(acquireOwner({ dataDir: tmpDir(), database }, logger));
    expect(single).toBeInstanceOf(DatabaseLockedError);
    expect(single.message).toMatch(/agentbridge:node-[ab] pid \d+/);
    await a.release();
    await b.release();
    const alone = await acquireOwner({ dataDir: tmpDir(), database }, logger);
    cleanups.push(() => alone.release());
    await expect(acquireOwner({ dataDir: tmpDir(), database }, logger, { cluster: { instanceId: 'node-c' } })).rejects.toBeInstanceOf(DatabaseLockedError);
    await alone.release();
  });

  it('PostgreSQL: a lost lock is taken again; when another agentbridge took it meanwhile, onLost names it', async () => {
    const { url, database } = await pgDatabase();
    let lost: Error | undefined;
    const owner: AppOwner = await acquireOwner({ dataDir: tmpDir(), database }, logger, {
      onLost: (e) => (lost = e),
      retry: { initialMs: 1000, maxMs: 2000 },
    });
    cleanups.push(() => owner.release());

    // Lost and nobody else wants it: taken again, on a new server session of this process.
    const before = await readPostgresOwner(url);
    expect(before).toContain(`agentbridge pid ${process.pid} `);
    await killLockHolder(url);
    await expect
      .poll(
        async () => {
          const now = await readPostgresOwner(url);
          return now !== undefined && now !== before && now.includes(`agentbridge pid ${process.pid} `);
        },
        { timeout: 20_000 },
      )
      .toBe(true);
    expect(lost).toBeUndefined();

    // Lost, and another agentbridge takes it first: reported once, naming the holder.
    await killLockHolder(url);
    // (the terminated session lets go of the lock a moment later; the owner retries only after 1 s)
    const rival = await waitFor(
      () => acquirePostgresOwnerLock({ url, logger, heartbeatMs: 0, applicationName: 'agentbridge rival' }).catch(() => undefined),
      10_000,
      'the rival to take the lock',
    );
    cleanups.push(() => rival.release());
    await expect.poll(() => lost, { timeout: 20_000 }).toBeInstanceOf(DatabaseLockedError);
    expect(lost!.message).toContain('agentbridge rival');
    expect(lost!.message).not.toContain('hunter2');
  });
});
