/**
 * PostgreSQL migrations (`migrations/postgres`, `migratePostgres`) and `openPostgresStore`: a fresh
 * database gets every migration once (also with two processes starting together), a newer one is
 * refused, and the schema ends where SQLite's does — same tables, columns (types, nullability,
 * defaults), primary keys, indexes, foreign keys and CHECK constraints.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import pg from 'pg';
import { afterEach, describe, expect, it } from 'vitest';
import { createLogger } from '../../src/logger.js';
import { openDatabase, type Db } from '../../src/store/db.js';
import {
  assertSchemaNotTooNewPostgres,
  loadMigrations,
  migrate,
  migratePostgres,
  migrationsDir,
  SchemaTooNewError,
  schemaVersionPostgres,
} from '../../src/store/migrate.js';
import { openPostgresStore, redactUrl } from '../../src/store/postgres.js';
import { freshPostgresDatabase } from '../helpers/pg.js';

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

/** A new empty database and a plain pg pool on it (ends and drops both after the test). */
async function freshPool(): Promise<{ url: string; pool: pg.Pool; newPool: () => pg.Pool }> {
  const db = await freshPostgresDatabase();
  cleanups.push(() => db.drop());
  const newPool = (): pg.Pool => {
    const pool = new pg.Pool({ connectionString: db.url, max: 3 });
    cleanups.push(() => pool.end());
    return pool;
  };
  return { url: db.url, pool: newPool(), newPool };
}

async function rows<R>(pool: pg.Pool, text: string, values: unknown[] = []): Promise<R[]> {
  return (await pool.query(text, values)).rows as R[];
}

async function recorded(pool: pg.Pool): Promise<Array<{ version: number; name: string }>> {
  const r = await rows<{ version: string; name: string }>(pool, 'SELECT version, name FROM schema_migrations ORDER BY version');
  return r.map((x) => ({ version: Number(x.version), name: x.name }));
}

async function userTables(pool: pg.Pool): Promise<string[]> {
  const r = await rows<{ table_name: string }>(
    pool,
    "SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema() AND table_type = 'BASE TABLE' ORDER BY table_name",
  );
  return r.map((x) => x.table_name);
}

function tempDir(): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'agentbridge-migrate-pg-'));
  cleanups.push(() => fs.rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** A folder with copies of the PostgreSQL migrations up to (and including) `version`. */
function postgresMigrationsUpTo(version: number): string {
  const dir = tempDir();
  for (const m of loadMigrations(migrationsDir('postgres'))) {
    if (m.version <= version) fs.copyFileSync(m.file, path.join(dir, path.basename(m.file)));
  }
  return dir;
}

describe('the PostgreSQL migration files', () => {
  it('have the same numbers and names as the SQLite ones, and no BEGIN/COMMIT', () => {
    const sqlite = loadMigrations(migrationsDir('sqlite'));
    const postgres = loadMigrations(migrationsDir('postgres'));
    expect(postgres.map((m) => [m.version, m.name])).toEqual(sqlite.map((m) => [m.version, m.name]));
    expect(postgres.length).toBeGreaterThan(0);
    for (const m of postgres) {
      const code = m.sql.replace(/--.*$/gm, '');
      expect(code, m.file).not.toMatch(/\b(BEGIN|COMMIT|ROLLBACK)\b/i);
      expect(code, m.file).not.toMatch(/\b(INTEGER|REAL|AUTOINCREMENT)\b/);
    }
  });
});

describe('migratePostgres', () => {
  it('applies every migration to a fresh database, records each once, and a second run applies none', async () => {
    const { pool } = await freshPool();
    const files = loadMigrations(migrationsDir('postgres'));
    const first = await migratePostgres(pool, { now: () => 1234 });
    expect(first.applied.map((m) => m.version)).toEqual(files.map((m) => m.version));
    expect(first.version).toBe(files.at(-1)!.version);
    expect(await recorded(pool)).toEqual(files.map((m) => ({ version: m.version, name: m.name })));
    expect(await rows(pool, 'SELECT DISTINCT applied_at FROM schema_migrations')).toEqual([{ applied_at: '1234' }]);

    const second = await migratePostgres(pool);
    expect(second).toEqual({ applied: [], version: files.at(-1)!.version });
    expect(await recorded(pool)).toHaveLength(files.length);
    expect(await schemaVersionPostgres(pool)).toBe(files.at(-1)!.version);
  });

  it('refuses a database whose recorded version is newer than the files, changing nothing', async () => {
    const { pool } = await freshPool();
    await pool.query('CREATE TABLE schema_migrations (version BIGINT PRIMARY KEY, name TEXT NOT NULL, applied_at BIGINT NOT NULL)');
    await pool.query("INSERT INTO schema_migrations VALUES (999, 'future', 0)");
    const known = loadMigrations(migrationsDir('postgres')).at(-1)!.version;

    const err = await migratePostgres(pool).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(SchemaTooNewError);
    expect(err).toMatchObject({ dbVersion: 999, knownVersion: known });
    await expect(assertSchemaNotTooNewPostgres(pool)).rejects.toBeInstanceOf(SchemaTooNewError);
    expect(await userTables(pool)).toEqual(['schema_migrations']);
  });

  it('two processes migrating the same empty database at once: both succeed, each migration is applied once', async () => {
    const { newPool } = await freshPool();
    const a = newPool();
    const b = newPool();
    const files = loadMigrations(migrationsDir('postgres'));
    const [ra, rb] = await Promise.all([migratePostgres(a), migratePostgres(b)]);
    const versions = [...ra.applied, ...rb.applied].map((m) => m.version).sort((x, y) => x - y);
    expect(versions).toEqual(files.map((m) => m.version));
    expect(ra.version).toBe(files.at(-1)!.version);
    expect(rb.version).toBe(files.at(-1)!.version);
    expect(await recorded(a)).toEqual(files.map((m) => ({ version: m.version, name: m.name })));
  });

  it('a failing migration leaves no trace and names its file', async () => {
    const { pool } = await freshPool();
    const dir = tempDir();
    fs.writeFileSync(path.join(dir, '001_one.sql'), 'CREATE TABLE a (x BIGINT);');
    fs.writeFileSync(path.join(dir, '002_two.sql'), 'CREATE TABLE b (y BIGINT); INSERT INTO nowhere VALUES (1);');
    await expect(migratePostgres(pool, { dir })).rejects.toThrow(/^migration 002_two\.sql failed: relation "nowhere" does not exist/);
    expect(await recorded(pool)).toEqual([{ version: 1, name: 'one' }]);
    expect(await userTables(pool)).toEqual(['a', 'schema_migrations']);
  });

  it('migration 007 rewrites stored scheduler messages and gives each posted message its kind (as in SQLite)', async () => {
    const { pool } = await freshPool();
    await migratePostgres(pool, { dir: postgresMigrationsUpTo(6) });
    const now = Date.now();
    const legacy = { platform: 'scheduler', conversationId: 'c1', text: 'x', replyTarget: { platform: 'local', channel: 'general', thread: 't1' } };
    const plain = { platform: 'slack', conversationId: 'c1', text: 'y' };
    await pool.query("INSERT INTO conversations (id, platform, channel, created_at, updated_at) VALUES ('c1', 'local', 'general', $1, $1)", [now]);
    for (const [key, payload] of [
      ['e1', legacy],
      ['e2', plain],
    ] as const) {
      await pool.query("INSERT INTO inbox (event_key, conversation_id, payload_json, received_at, updated_at) VALUES ($1, 'c1', $2, $3, $3)", [
        key,
        JSON.stringify(payload),
        now,
      ]);
    }
    const entry = await rows<{ id: string }>(
      pool,
      "INSERT INTO session_entries (conversation_id, role, text, created_at) VALUES ('c1', 'assistant', 'a', $1) RETURNING id",
      [now],
    );
    const checkpoint = (key: string, entryId: string | null, text: string) =>
      pool.query(
        "INSERT INTO response_checkpoints (key, conversation_id, session_entry_id, platform_message_ref, assistant_text, created_at) VALUES ($1, 'c1', $2, $1, $3, $4)",
        [key, entryId, text, now],
      );
    await checkpoint('m1', entry[0]!.id, 'the answer');
    await checkpoint('m2', null, '⏳ Working… (3s)');
    await checkpoint('m3', null, '🔄 restarted');

    await migratePostgres(pool);
    const inbox = await rows<{ event_key: string; payload_json: string }>(pool, 'SELECT event_key, payload_json FROM inbox ORDER BY event_key');
    expect(JSON.parse(inbox[0]!.payload_json)).toEqual({ ...legacy, platform: 'local', origin: 'scheduler' });
    expect(inbox[1]!.payload_json).toBe(JSON.stringify(plain)); // untouched, byte for byte
    expect(await rows(pool, 'SELECT key, kind FROM posted_messages ORDER BY key')).toEqual([
      { key: 'm1', kind: 'answer' },
      { key: 'm2', kind: 'progress' },
      { key: 'm3', kind: 'notice' },
    ]);
    expect(await rows(pool, "SELECT relname FROM pg_class WHERE relname LIKE 'response_checkpoints%'")).toEqual([]);
  });
});

/** One column, as both backends can describe it. */
interface Column {
  name: string;
  type: string;
  notNull: boolean;
  default: string | null;
  pk: number;
}

/** An index other than a primary key's: `origin` `u` (a UNIQUE constraint) or `c` (CREATE INDEX, with its name). */
interface Index {
  name: string | null;
  unique: boolean;
  partial: boolean;
  columns: string[];
}

interface ForeignKey {
  from: string;
  table: string;
  to: string;
  onDelete: string;
}

interface TableShape {
  columns: Column[];
  indexes: Index[];
  foreignKeys: ForeignKey[];
  checks: number;
}

const SQLITE_TYPES: Record<string, string> = { INTEGER: 'bigint', TEXT: 'text', REAL: 'double precision' };

function sortIndexes(indexes: Index[]): Index[] {
  return indexes.sort((a, b) => JSON.stringify(a).localeCompare(JSON.stringify(b)));
}

function sqliteSchema(db: Db): Record<string, TableShape> {
  const out: Record<string, TableShape> = {};
  const tables = db.prepare("SELECT name, sql FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name").all() as Array<{
    name: string;
    sql: string;
  }>;
  for (const { name, sql } of tables) {
    const info = db.prepare(`PRAGMA table_info("${name}")`).all() as Array<{
      name: string;
      type: string;
      notnull: number;
      dflt_value: string | null;
      pk: number;
    }>;
    const columns = info.map((c) => ({
      name: c.name,
      type: SQLITE_TYPES[c.type] ?? `? ${c.type}`,
      // A primary key column is NOT NULL in PostgreSQL (SQLite's pragma reports notnull 0 for it).
      notNull: c.notnull === 1 || c.pk > 0,
      default: c.dflt_value,
      pk: c.pk,
    }));
    const indexList = db.prepare(`PRAGMA index_list("${name}")`).all() as Array<{ name: string; unique: number; origin: string; partial: number }>;
    const indexes = indexList
      .filter((i) => i.origin !== 'pk')
      .map((i) => ({
        name: i.origin === 'c' ? i.name : null,
        unique: i.unique === 1,
        partial: i.partial === 1,
        columns: (db.prepare(`PRAGMA index_info("${i.name}")`).all() as Array<{ name: string }>).map((c) => c.name),
      }));
    const fks = db.prepare(`PRAGMA foreign_key_list("${name}")`).all() as Array<{ from: string; table: string; to: string; on_delete: string }>;
    out[name] = {
      columns: columns.sort((a, b) => a.name.localeCompare(b.name)),
      indexes: sortIndexes(indexes),
      foreignKeys: fks.map((f) => ({ from: f.from, table: f.table, to: f.to, onDelete: f.on_delete })).sort((a, b) => a.from.localeCompare(b.from)),
      checks: (sql.match(/\bCHECK\s*\(/gi) ?? []).length,
    };
  }
  return out;
}

async function postgresSchema(pool: pg.Pool): Promise<Record<string, TableShape>> {
  const out: Record<string, TableShape> = {};
  for (const table of await userTables(pool)) {
    const cols = await rows<{ column_name: string; data_type: string; is_nullable: string; column_default: string | null }>(
      pool,
      'SELECT column_name, data_type, is_nullable, column_default FROM information_schema.columns WHERE table_schema = current_schema() AND table_name = $1',
      [table],
    );
    const pk = await rows<{ column_name: string; ordinal_position: number }>(
      pool,
      `SELECT k.column_name, k.ordinal_position FROM information_schema.table_constraints t
         JOIN information_schema.key_column_usage k ON k.constraint_name = t.constraint_name AND k.table_schema = t.table_schema
        WHERE t.table_schema = current_schema() AND t.table_name = $1 AND t.constraint_type = 'PRIMARY KEY'`,
      [table],
    );
    // posted_messages.rowid is SQLite's implicit rowid made explicit (migrations/postgres/007).
    const explicitRowid = (c: { column_name: string }): boolean => table === 'posted_messages' && c.column_name === 'rowid';
    const columns = cols
      .filter((c) => !explicitRowid(c))
      .map((c) => ({
        name: c.column_name,
        type: c.data_type,
        notNull: c.is_nullable === 'NO',
        default: c.column_default?.replace(/::(text|bigint)$/, '') ?? null,
        pk: pk.find((p) => p.column_name === c.column_name)?.ordinal_position ?? 0,
      }));
    const idx = await rows<{ name: string; unique: boolean; partial: boolean; primary: boolean; constraint: string | null; columns: string[] }>(
      pool,
      `SELECT ic.relname AS name, i.indisunique AS unique, i.indpred IS NOT NULL AS partial, i.indisprimary AS primary,
              (SELECT contype FROM pg_constraint WHERE conindid = i.indexrelid AND conrelid = i.indrelid LIMIT 1)::text AS constraint,
              ARRAY(SELECT a.attname FROM unnest(i.indkey) WITH ORDINALITY AS k(attnum, n)
                      JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum ORDER BY k.n)::text[] AS columns
         FROM pg_index i JOIN pg_class ic ON ic.oid = i.indexrelid
        WHERE i.indrelid = $1::regclass`,
      [table],
    );
    const indexes = idx
      .filter((i) => !i.primary)
      .map((i) => ({ name: i.constraint === 'u' ? null : i.name, unique: i.unique, partial: i.partial, columns: i.columns }));
    const fks = await rows<{ from: string; table: string; to: string; del: string }>(
      pool,
      `SELECT a.attname AS from, c.confrelid::regclass::text AS table, af.attname AS to, c.confdeltype::text AS del
         FROM pg_constraint c
         CROSS JOIN LATERAL unnest(c.conkey, c.confkey) AS k(col, fcol)
         JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = k.col
         JOIN pg_attribute af ON af.attrelid = c.confrelid AND af.attnum = k.fcol
        WHERE c.contype = 'f' AND c.conrelid = $1::regclass`,
      [table],
    );
    const onDelete: Record<string, string> = { a: 'NO ACTION', c: 'CASCADE', n: 'SET NULL', d: 'SET DEFAULT', r: 'RESTRICT' };
    const checks = await rows<{ n: string }>(pool, "SELECT count(*) AS n FROM pg_constraint WHERE contype = 'c' AND conrelid = $1::regclass", [table]);
    out[table] = {
      columns: columns.sort((a, b) => a.name.localeCompare(b.name)),
      indexes: sortIndexes(indexes),
      foreignKeys: fks
        .map((f) => ({ from: f.from, table: f.table, to: f.to, onDelete: onDelete[f.del] ?? f.del }))
        .sort((a, b) => a.from.localeCompare(b.from)),
      checks: Number(checks[0]!.n),
    };
  }
  return out;
}

describe('the PostgreSQL schema', () => {
  it('matches SQLiteʼs: tables, columns (type, NOT NULL, default, primary key), indexes, foreign keys, CHECKs', async () => {
    const sqlite = openDatabase(':memory:');
    cleanups.push(() => {
      sqlite.close();
    });
    migrate(sqlite);
    const { pool } = await freshPool();
    await migratePostgres(pool);

    const want = sqliteSchema(sqlite);
    const got = await postgresSchema(pool);
    expect(Object.keys(got).sort()).toEqual(Object.keys(want).sort());
    expect(Object.keys(want)).toContain('posted_messages');
    for (const table of Object.keys(want)) {
      expect({ table, ...got[table] }).toEqual({ table, ...want[table] });
    }
  });

  it('declares every text column COLLATE "C" (byte order, like SQLiteʼs BINARY) and numbers as bigint', async () => {
    const { pool } = await freshPool();
    await migratePostgres(pool);
    const cols = await rows<{ table_name: string; column_name: string; data_type: string; collation_name: string | null }>(
      pool,
      'SELECT table_name, column_name, data_type, collation_name FROM information_schema.columns WHERE table_schema = current_schema()',
    );
    expect(cols.filter((c) => c.data_type === 'text' && c.collation_name !== 'C')).toEqual([]);
    expect(cols.filter((c) => !['text', 'bigint', 'double precision'].includes(c.data_type))).toEqual([]);
  });
});

/** A logger writing JSON lines into `lines`. */
function capturingLogger(level = 'debug'): { logger: ReturnType<typeof createLogger>; text: () => string } {
  const chunks: string[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _enc, cb) {
      chunks.push(chunk.toString());
      cb();
    },
  });
  return { logger: createLogger(level, stream), text: () => chunks.join('') };
}

describe('openPostgresStore', () => {
  it('migrates a fresh database, works as a store, probes with a real write, and never logs the password', async () => {
    const db = await freshPostgresDatabase();
    cleanups.push(() => db.drop());
    const url = new URL(db.url);
    if (!url.password) url.password = 'unused-test-password'; // a trust-auth server never asks for it
    const password = decodeURIComponent(url.password);
    const { logger, text } = capturingLogger();

    const store = await openPostgresStore({ url: url.toString(), logger });
    cleanups.push(() => store.close());
    expect(store.backend).toBe('postgres');
    expect(store.readonly).toBe(false);
    expect(store.redactedUrl).toContain(':***@');
    expect(store.redactedUrl).not.toContain(password);
    expect(await schemaVersionPostgres(store.pool)).toBe(loadMigrations(migrationsDir('postgres')).at(-1)!.version);

    await store.probeWrite();
    expect(await store.platformState.get('agentbridge:store-probe')).toMatch(/^\d+$/);
    await store.transaction(async (tx) => tx.platformState.set('k', 'v'));
    expect(await store.platformState.list('k')).toEqual([{ key: 'k', value: 'v' }]);

    expect(text()).toContain('applied');
    expect(text()).not.toContain(password);
  });

  it('an unreachable server: a clear error naming the redacted URL, without the password', async () => {
    const { logger, text } = capturingLogger();
    const err = await openPostgresStore({ url: 'postgres://someone:s3cret-pw@127.0.0.1:1/nothing', logger }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(Error);
    expect((err as Error).message).toMatch(/^cannot connect to PostgreSQL at postgres:\/\/someone:\*\*\*@127\.0\.0\.1:1\/nothing: /);
    expect((err as Error).message).not.toContain('s3cret-pw');
    expect((err as Error).cause).toBeInstanceOf(Error);
    expect(text()).not.toContain('s3cret-pw');
  });

  it('refuses a too-new database in both modes', async () => {
    const db = await freshPostgresDatabase();
    cleanups.push(() => db.drop());
    const logger = createLogger('silent');
    await (await openPostgresStore({ url: db.url, logger })).close();
    const pool = new pg.Pool({ connectionString: db.url });
    await pool.query("INSERT INTO schema_migrations VALUES (999, 'future', 0)");
    await pool.end();
    await expect(openPostgresStore({ url: db.url, logger })).rejects.toBeInstanceOf(SchemaTooNewError);
    await expect(openPostgresStore({ url: db.url, logger, readonly: true })).rejects.toBeInstanceOf(SchemaTooNewError);
  });

  it('readonly: no migrations (an empty database is refused), reads work, writes fail', async () => {
    const db = await freshPostgresDatabase();
    cleanups.push(() => db.drop());
    const logger = createLogger('silent');
    await expect(openPostgresStore({ url: db.url, logger, readonly: true })).rejects.toThrow(/has no agentbridge schema yet/);

    const writable = await openPostgresStore({ url: db.url, logger });
    await writable.platformState.set('k', 'v');
    await writable.close();

    const ro = await openPostgresStore({ url: db.url, logger, readonly: true });
    cleanups.push(() => ro.close());
    expect(ro.readonly).toBe(true);
    expect(await ro.platformState.get('k')).toBe('v');
    await expect(ro.platformState.set('k', 'w')).rejects.toMatchObject({ code: '25006' });
    await expect(ro.probeWrite()).rejects.toMatchObject({ code: '25006' });
  });
});

describe('redactUrl', () => {
  it('replaces the password of the user info and of a password parameter, and hides what is not a URL', () => {
    expect(redactUrl('postgres://u:p%40ss@h:5432/db')).toBe('postgres://u:***@h:5432/db');
    expect(redactUrl('postgres://u@h/db')).toBe('postgres://u@h/db');
    expect(redactUrl('postgres://h/db?sslmode=require&password=x')).toBe('postgres://h/db?sslmode=require&password=***');
    expect(redactUrl('host=h password=x')).toBe('(unparsable database URL)');
  });
});
