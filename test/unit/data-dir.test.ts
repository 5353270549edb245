/**
 * The data directory: file modes (dir 0700; database, -wal, -shm, marker and lock 0600, existing
 * ones tightened, the umask untouched) and the database marker (a vanished database is refused,
 * `initDatabase` starts an empty one deliberately, old databases get a marker, the corrupt
 * move-aside writes a new one).
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { acquireOwnerLock } from '../../src/store/lock.js';
import { DatabaseMissingError, markerPath, readMarker } from '../../src/store/marker.js';
import { initDatabase, openStore } from '../../src/store/store.js';
import { collectingLogger } from '../helpers/core.js';

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) fs.rmSync(d, { recursive: true, force: true });
});

function tmp(): string {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), 'data-dir-test-'));
  dirs.push(d);
  return d;
}

const mode = (p: string) => (fs.statSync(p).mode & 0o777).toString(8);
const logger = collectingLogger('silent').logger;

describe('file modes', () => {
  it('creates the data directory 0700 and the database, -wal, -shm, marker and lock 0600, without touching the umask', async () => {
    const umask = process.umask();
    const dataDir = path.join(tmp(), 'nested', 'data');
    const lock = acquireOwnerLock(dataDir);
    const dbPath = path.join(dataDir, 'agentbridge.db');
    const store = openStore({ dbPath, logger });
    await store.probeWrite(); // the WAL and -shm exist once something was written
    try {
      expect(mode(dataDir)).toBe('700');
      for (const f of [dbPath, `${dbPath}-wal`, `${dbPath}-shm`, markerPath(dbPath), lock.path]) expect([f, mode(f)]).toEqual([f, '600']);
      expect(process.umask()).toBe(umask);
    } finally {
      await store.close();
      lock.release();
    }
  });

  it('tightens an existing data directory and database files', async () => {
    const dataDir = tmp();
    const dbPath = path.join(dataDir, 'agentbridge.db');
    await openStore({ dbPath, logger }).close();
    fs.chmodSync(dataDir, 0o755);
    for (const f of [dbPath, markerPath(dbPath)]) fs.chmodSync(f, 0o644);
    fs.writeFileSync(`${dbPath}-shm`, Buffer.alloc(0), { mode: 0o644 });
    fs.chmodSync(`${dbPath}-shm`, 0o644);
    const { logger: l, lines } = collectingLogger('info');
    const store = openStore({ dbPath, logger: l });
    await store.close();
    expect(mode(dataDir)).toBe('700');
    expect(mode(dbPath)).toBe('600');
    expect(lines.filter((x) => x.msg === 'tightened file mode (data directory is private to this user)').map((x) => path.basename(x.path as string))).toEqual([
      path.basename(dataDir),
      'agentbridge.db',
      'agentbridge.db-shm',
    ]);
  });
});

describe('database marker', () => {
  it('is written with a new database; a vanished database is refused; initDatabase(force) starts an empty one', async () => {
    const dbPath = path.join(tmp(), 'agentbridge.db');
    const store = openStore({ dbPath, logger });
    await store.conversations.ensure({ id: 'c1', platform: 'local', channel: 'general' });
    await store.close();
    const marker = readMarker(dbPath)!;
    expect(marker.id).toMatch(/^[0-9a-f-]{36}$/);
    expect(Date.parse(marker.createdAt)).not.toBeNaN();

    for (const suffix of ['', '-wal', '-shm']) fs.rmSync(dbPath + suffix, { force: true });
    expect(() => openStore({ dbPath, logger })).toThrow(DatabaseMissingError);
    expect(() => openStore({ dbPath, logger })).toThrow(/has disappeared.*restore.*db init --force/is);
    expect(fs.existsSync(dbPath)).toBe(false); // nothing was created
    // An empty file counts as missing (e.g. truncated).
    fs.writeFileSync(dbPath, '');
    expect(() => openStore({ dbPath, logger })).toThrow(DatabaseMissingError);
    expect(() => initDatabase(dbPath, { force: false, logger })).toThrow(DatabaseMissingError);

    const r = initDatabase(dbPath, { force: true, logger });
    expect(r.marker.id).not.toBe(marker.id);
    expect(readMarker(dbPath)).toEqual(r.marker);
    const fresh = openStore({ dbPath, logger });
    expect(await fresh.conversations.list()).toEqual([]);
    await fresh.close();
  });

  it('initDatabase refuses to replace an existing database without force, and moves it aside with force', async () => {
    const dir = tmp();
    const dbPath = path.join(dir, 'agentbridge.db');
    const store = openStore({ dbPath, logger });
    await store.conversations.ensure({ id: 'keep', platform: 'local', channel: 'general' });
    await store.close();
    expect(() => initDatabase(dbPath, { force: false, logger })).toThrow(/already exists/);
    const r = initDatabase(dbPath, { force: true, logger });
    expect(path.basename(r.movedTo!)).toMatch(/^agentbridge\.db\.replaced-/);
    const old = openStore({ dbPath: r.movedTo!, logger, readonly: true });
    expect((await old.conversations.list()).map((c) => c.id)).toEqual(['keep']);
    await old.close();
  });

  it('an existing database without a marker (upgrade) gets one; the corrupt move-aside writes a new one naming the old file', async () => {
    const dir = tmp();
    const dbPath = path.join(dir, 'agentbridge.db');
    await openStore({ dbPath, logger }).close();
    fs.rmSync(markerPath(dbPath));
    await openStore({ dbPath, logger }).close();
    const upgraded = readMarker(dbPath)!;
    expect(upgraded.id).toMatch(/^[0-9a-f-]{36}$/);

    fs.writeFileSync(dbPath, 'this is not a database, just text long enough to matter');
    await openStore({ dbPath, logger }).close();
    const replaced = readMarker(dbPath)!;
    expect(replaced.id).not.toBe(upgraded.id);
    expect(path.basename(replaced.replaces!)).toMatch(/^agentbridge\.db\.corrupt-/);
    expect(fs.existsSync(replaced.replaces!)).toBe(true);
    expect(mode(markerPath(dbPath))).toBe('600');
  });
});
