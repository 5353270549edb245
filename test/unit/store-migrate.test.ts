import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { pino } from 'pino';
import { openDatabase, type Db } from '../../src/store/db.js';
import { loadMigrations, migrate, migrationsDir, SchemaTooNewError, schemaVersion } from '../../src/store/migrate.js';
import { openStore } from '../../src/store/store.js';

let dir: string;
let db: Db | undefined;
const silent = pino({ level: 'silent' });

beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'agentbridge-migrate-'));
});
afterEach(() => {
  db?.close();
  db = undefined;
  fs.rmSync(dir, { recursive: true, force: true });
});

function writeMigrations(files: Record<string, string>): string {
  const mdir = path.join(dir, 'migrations');
  fs.mkdirSync(mdir, { recursive: true });
  for (const [name, sql] of Object.entries(files)) fs.writeFileSync(path.join(mdir, name), sql);
  return mdir;
}

function recorded(d: Db): Array<{ version: number; name: string; applied_at: number }> {
  return d.prepare('SELECT version, name, applied_at FROM schema_migrations ORDER BY version').all() as never;
}

describe('migrations', () => {
  it("finds the project's SQLite migrations folder and its 001_init", () => {
    expect(fs.existsSync(path.join(migrationsDir('sqlite'), '001_init.sql'))).toBe(true);
    expect(loadMigrations()[0]).toMatchObject({ version: 1, name: 'init' });
  });

  it('applies migrations in version order and records each', () => {
    // 002 depends on 001 and 010 on 002: applying out of order would fail.
    const mdir = writeMigrations({
      '010_three.sql': 'INSERT INTO a (x, y) VALUES (1, 2);',
      '001_one.sql': 'CREATE TABLE a (x INTEGER);',
      '002_two.sql': 'ALTER TABLE a ADD COLUMN y INTEGER;',
      'README.md': 'not a migration',
    });
    db = openDatabase(path.join(dir, 'x.db'));
    const result = migrate(db, { dir: mdir });
    expect(result.applied.map((m) => m.version)).toEqual([1, 2, 10]);
    expect(result.version).toBe(10);
    expect(recorded(db).map((r) => [r.version, r.name])).toEqual([
      [1, 'one'],
      [2, 'two'],
      [10, 'three'],
    ]);
    expect(recorded(db)[0]!.applied_at).toBeGreaterThan(Date.now() - 60_000);
    expect(db.prepare('SELECT x, y FROM a').all()).toEqual([{ x: 1, y: 2 }]);
  });

  it('applies nothing on re-open, and only new files later', () => {
    const mdir = writeMigrations({ '001_one.sql': 'CREATE TABLE a (x INTEGER);' });
    const file = path.join(dir, 'x.db');
    db = openDatabase(file);
    expect(migrate(db, { dir: mdir }).applied).toHaveLength(1);
    db.close();
    db = openDatabase(file);
    expect(migrate(db, { dir: mdir })).toEqual({ applied: [], version: 1 });
    fs.writeFileSync(path.join(mdir, '002_two.sql'), 'CREATE TABLE b (y INTEGER);');
    expect(migrate(db, { dir: mdir }).applied.map((m) => m.name)).toEqual(['two']);
    expect(recorded(db)).toHaveLength(2);
  });

  it('rolls back a failing migration completely', () => {
    const mdir = writeMigrations({
      '001_one.sql': 'CREATE TABLE a (x INTEGER);',
      '002_bad.sql': 'CREATE TABLE b (y INTEGER); INSERT INTO nope VALUES (1);',
    });
    db = openDatabase(path.join(dir, 'x.db'));
    expect(() => migrate(db!, { dir: mdir })).toThrow(/002_bad\.sql failed: no such table: nope/);
    expect(schemaVersion(db)).toBe(1);
    expect(db.prepare("SELECT name FROM sqlite_master WHERE name = 'b'").get()).toBeUndefined();
  });

  it('refuses a database with a newer schema version, changing nothing', () => {
    const mdir = writeMigrations({
      '001_one.sql': 'CREATE TABLE a (x INTEGER);',
      '002_two.sql': 'CREATE TABLE b (x INTEGER);',
      '003_three.sql': 'CREATE TABLE c (x INTEGER);',
    });
    db = openDatabase(path.join(dir, 'x.db'));
    db.exec(`CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at INTEGER NOT NULL);
             INSERT INTO schema_migrations VALUES (7, 'future', 0);`);
    let error: unknown;
    try {
      migrate(db, { dir: mdir });
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(SchemaTooNewError);
    expect((error as Error).message).toBe('database schema version 7 is newer than this agentbridge (knows up to 3): upgrade agentbridge or restore a backup');
    expect(db.prepare("SELECT name FROM sqlite_master WHERE name = 'a'").get()).toBeUndefined();
  });

  it('openStore refuses a too-new database in both modes and leaves the file in place', async () => {
    const file = path.join(dir, 'agentbridge.db');
    await openStore({ dbPath: file, logger: silent }).close();
    db = openDatabase(file);
    db.prepare("INSERT INTO schema_migrations VALUES (999, 'future', 0)").run();
    db.close();
    db = undefined;
    expect(() => openStore({ dbPath: file, logger: silent })).toThrow(SchemaTooNewError);
    expect(() => openStore({ dbPath: file, logger: silent, readonly: true })).toThrow(SchemaTooNewError);
    expect(fs.readdirSync(dir).filter((f) => f.includes('corrupt'))).toEqual([]);
  });
});

describe('openDatabase', () => {
  it('creates the data dir and sets WAL, synchronous=NORMAL, foreign keys and busy timeout', () => {
    const file = path.join(dir, 'nested', 'data', 'agentbridge.db');
    db = openDatabase(file);
    expect(fs.existsSync(file)).toBe(true);
    expect(db.pragma('journal_mode', { simple: true })).toBe('wal');
    expect(db.pragma('synchronous', { simple: true })).toBe(1); // NORMAL
    expect(db.pragma('foreign_keys', { simple: true })).toBe(1);
    expect(db.pragma('busy_timeout', { simple: true })).toBe(5000);
  });

  it('a store opened on a new path is migrated and in WAL mode', async () => {
    const store = openStore({ dbPath: path.join(dir, 'agentbridge.db'), logger: silent });
    try {
      expect(store.db.pragma('journal_mode', { simple: true })).toBe('wal');
      expect(schemaVersion(store.db)).toBe(loadMigrations().at(-1)!.version);
    } finally {
      await store.close();
    }
  });
});
