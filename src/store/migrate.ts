/**
 * Schema migrations: numbered SQL files `migrations/<backend>/NNN_name.sql`, applied in order, each
 * in its own transaction, and recorded in `schema_migrations(version, name, applied_at)`.
 * A migration file must not contain BEGIN/COMMIT (the runner supplies the transaction).
 *
 * Each backend has its own folder (`migrations/sqlite`, `migrations/postgres`) with the same
 * numbers and names: the PostgreSQL files are translations of the SQLite ones, ending at the same
 * tables, columns, indexes and constraints. A new migration gets a file in both folders.
 */
import fs from 'node:fs';
import path from 'node:path';
import type pg from 'pg';
import type { Db } from './db.js';
import type { Backend } from './sql/kysely.js';

/** The folder holding one folder of migrations per backend; resolves the same from `src/store` and the compiled `dist/store`. */
export const MIGRATIONS_ROOT = path.resolve(import.meta.dirname, '../../migrations');

/** The migrations folder of `backend` (`migrations/sqlite`, `migrations/postgres`). */
export function migrationsDir(backend: Backend): string {
  return path.join(MIGRATIONS_ROOT, backend);
}

/** One migration file. */
export interface Migration {
  /** The number in the file name (`007_add_x.sql` → 7). */
  version: number;
  /** The rest of the file name without extension (`add_x`). */
  name: string;
  /** Absolute path of the file. */
  file: string;
  sql: string;
}

/** Result of {@link migrate} and {@link migratePostgres}. */
export interface MigrateResult {
  /** Migrations applied by this call, in order (empty when the schema was current). */
  applied: Migration[];
  /** Highest recorded version after the call (0 for an empty database without migrations). */
  version: number;
}

/** The database was written by a newer agentbridge: its schema version is above the newest migration file. */
export class SchemaTooNewError extends Error {
  override readonly name = 'SchemaTooNewError';
  constructor(
    /** Highest version recorded in the database. */
    readonly dbVersion: number,
    /** Newest migration version this agentbridge knows. */
    readonly knownVersion: number,
  ) {
    super(`database schema version ${dbVersion} is newer than this agentbridge (knows up to ${knownVersion}): ` + 'upgrade agentbridge or restore a backup');
  }
}

const FILE_PATTERN = /^(\d+)_([\w.-]+)\.sql$/;

/**
 * Reads the migration files of `dir`, sorted by version. Files not matching `NNN_name.sql` are ignored.
 * Throws `Error` if two files share a version, or if the folder cannot be read.
 */
export function loadMigrations(dir: string = migrationsDir('sqlite')): Migration[] {
  const migrations: Migration[] = [];
  for (const entry of fs.readdirSync(dir)) {
    const m = FILE_PATTERN.exec(entry);
    if (!m) continue;
    const file = path.join(dir, entry);
    migrations.push({ version: Number(m[1]), name: m[2]!, file, sql: fs.readFileSync(file, 'utf8') });
  }
  migrations.sort((a, b) => a.version - b.version);
  for (let i = 1; i < migrations.length; i++) {
    if (migrations[i]!.version === migrations[i - 1]!.version) {
      throw new Error(`two migrations with version ${migrations[i]!.version}: ${migrations[i - 1]!.file} and ${migrations[i]!.file}`);
    }
  }
  return migrations;
}

/** Highest version recorded in `schema_migrations`; 0 when the table is missing or empty. Read-only. */
export function schemaVersion(db: Db): number {
  const table = db.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'schema_migrations'").get();
  if (!table) return 0;
  const row = db.prepare('SELECT MAX(version) AS v FROM schema_migrations').get() as { v: number | null };
  return row.v ?? 0;
}

/**
 * Throws {@link SchemaTooNewError} when the database's recorded version is newer than the newest
 * of `migrations`. Read-only; safe on a readonly connection.
 */
export function assertSchemaNotTooNew(db: Db, migrations: Migration[] = loadMigrations()): void {
  const known = migrations.at(-1)?.version ?? 0;
  const current = schemaVersion(db);
  if (current > known) throw new SchemaTooNewError(current, known);
}

/**
 * SQLite: applies every migration of `dir` (default `migrations/sqlite`) whose version is not yet recorded, in version order, each in
 * one immediate transaction together with its `schema_migrations` row (so a failed migration
 * leaves no trace). Throws {@link SchemaTooNewError} before changing anything if the database is
 * newer than the files; rethrows the SQLite error of a failing migration (wrapped with its file name).
 */
export function migrate(db: Db, opts: { dir?: string; now?: () => number } = {}): MigrateResult {
  const migrations = loadMigrations(opts.dir);
  const now = opts.now ?? Date.now;
  db.exec(`CREATE TABLE IF NOT EXISTS schema_migrations (
    version    INTEGER PRIMARY KEY,
    name       TEXT NOT NULL,
    applied_at INTEGER NOT NULL
  )`);
  assertSchemaNotTooNew(db, migrations);

  const isApplied = db.prepare<[number], { one: number }>('SELECT 1 AS one FROM schema_migrations WHERE version = ?');
  const record = db.prepare<[number, string, number]>('INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)');
  const applied: Migration[] = [];
  for (const m of migrations) {
    const apply = db.transaction(() => {
      if (isApplied.get(m.version)) return false; // applied meanwhile by another connection
      db.exec(m.sql);
      record.run(m.version, m.name, now());
      return true;
    });
    try {
      if (apply.immediate()) applied.push(m);
    } catch (err) {
      if (err instanceof Error) err.message = `migration ${path.basename(m.file)} failed: ${err.message}`;
      throw err;
    }
  }
  return { applied, version: schemaVersion(db) };
}

/** Something to run PostgreSQL queries on: a pool or one of its clients. */
type PgQueryable = Pick<pg.Pool, 'query'> | Pick<pg.PoolClient, 'query'>;

/**
 * Key of the transaction-level advisory lock (`pg_advisory_xact_lock`) every PostgreSQL migration
 * step holds, so that two agentbridge processes starting together on one database apply each
 * migration once (the second waits, then finds it recorded). Fixed: "agbrmg" in ASCII (below 2^53).
 */
export const PG_MIGRATE_LOCK_KEY = 0x61_67_62_72_6d_67;

/**
 * PostgreSQL: highest version recorded in `schema_migrations` (in the connection's current
 * schema); 0 when the table is missing or empty. Read-only.
 */
export async function schemaVersionPostgres(q: PgQueryable): Promise<number> {
  const table = await q.query<{ t: string | null }>("SELECT to_regclass('schema_migrations')::text AS t");
  if (table.rows[0]?.t == null) return 0;
  const row = await q.query<{ v: string | number | null }>('SELECT MAX(version) AS v FROM schema_migrations');
  return Number(row.rows[0]?.v ?? 0);
}

/**
 * PostgreSQL: throws {@link SchemaTooNewError} when the database's recorded version is newer than
 * the newest of `migrations` (default: the files of `migrations/postgres`). Read-only.
 */
export async function assertSchemaNotTooNewPostgres(q: PgQueryable, migrations: Migration[] = loadMigrations(migrationsDir('postgres'))): Promise<void> {
  const known = migrations.at(-1)?.version ?? 0;
  const current = await schemaVersionPostgres(q);
  if (current > known) throw new SchemaTooNewError(current, known);
}

/**
 * Runs `fn` in a transaction of `client` holding the migration lock ({@link PG_MIGRATE_LOCK_KEY});
 * rolls back and rethrows when it throws.
 */
async function lockedTransaction<T>(client: pg.PoolClient, fn: () => Promise<T>): Promise<T> {
  await client.query('BEGIN');
  try {
    await client.query('SELECT pg_advisory_xact_lock($1::bigint)', [PG_MIGRATE_LOCK_KEY]);
    const result = await fn();
    await client.query('COMMIT');
    return result;
  } catch (err) {
    await client.query('ROLLBACK').catch(() => {}); // the connection may be gone: the original error matters
    throw err;
  }
}

/**
 * PostgreSQL: applies every migration of `dir` (default `migrations/postgres`) whose version is
 * not yet recorded, in version order, on one connection of `pool`. Each migration runs in its own
 * transaction together with its `schema_migrations` row (a failed migration leaves no trace —
 * PostgreSQL's DDL is transactional), and holds the advisory lock {@link PG_MIGRATE_LOCK_KEY}: a
 * second process migrating at the same time waits and then skips what the first applied.
 * Throws {@link SchemaTooNewError} before changing anything but the (empty) `schema_migrations`
 * table if the database is newer than the files; rethrows the pg error of a failing migration
 * (wrapped with its file name), or of the connection.
 */
export async function migratePostgres(pool: pg.Pool, opts: { dir?: string; now?: () => number } = {}): Promise<MigrateResult> {
  const migrations = loadMigrations(opts.dir ?? migrationsDir('postgres'));
  const now = opts.now ?? Date.now;
  const client = await pool.connect();
  let failed = false;
  try {
    // Under the lock: CREATE TABLE IF NOT EXISTS of two sessions at once can fail on the catalog's unique index.
    await lockedTransaction(client, async () => {
      await client.query(`CREATE TABLE IF NOT EXISTS schema_migrations (
        version    BIGINT PRIMARY KEY,
        name       TEXT COLLATE "C" NOT NULL,
        applied_at BIGINT NOT NULL
      )`);
      await assertSchemaNotTooNewPostgres(client, migrations);
    });

    const applied: Migration[] = [];
    for (const m of migrations) {
      try {
        const done = await lockedTransaction(client, async () => {
          const seen = await client.query('SELECT 1 FROM schema_migrations WHERE version = $1', [m.version]);
          if (seen.rowCount) return false; // applied meanwhile by another process
          await client.query(m.sql); // no parameters: the simple query protocol, several statements allowed
          await client.query('INSERT INTO schema_migrations (version, name, applied_at) VALUES ($1, $2, $3)', [m.version, m.name, now()]);
          return true;
        });
        if (done) applied.push(m);
      } catch (err) {
        if (err instanceof Error) err.message = `migration ${path.basename(m.file)} failed: ${err.message}`;
        throw err;
      }
    }
    return { applied, version: await schemaVersionPostgres(client) };
  } catch (err) {
    failed = true;
    throw err;
  } finally {
    // After a failure the connection is dropped, not given back (it may be closed or mid-transaction).
    client.release(failed);
  }
}
