/**
 * Schema migrations: numbered SQL files `migrations/NNN_name.sql`, applied in order, each in its
 * own transaction, and recorded in `schema_migrations(version, name, applied_at)`.
 * A migration file must not contain BEGIN/COMMIT (the runner supplies the transaction).
 */
import fs from 'node:fs';
import path from 'node:path';
import type { Db } from './db.js';

/** The migrations folder; resolves the same from `src/store` and the compiled `dist/store`. */
export const MIGRATIONS_DIR = path.resolve(import.meta.dirname, '../../migrations');

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

/** Result of {@link migrate}. */
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
export function loadMigrations(dir: string = MIGRATIONS_DIR): Migration[] {
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
 * Applies every migration of `dir` whose version is not yet recorded, in version order, each in
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
