/**
 * `agentbridge db copy`: copies every table of a stopped SQLite database into an empty PostgreSQL
 * database and checks the copy — the path from a single host (SQLite in the data directory) to a
 * shared PostgreSQL database.
 *
 * - The table list comes from the SQLite schema (`sqlite_master`, minus SQLite's own tables and
 *   `schema_migrations`, which the target's migrations fill), in foreign-key order (parents
 *   first, from `PRAGMA foreign_key_list`): a table added by a migration is copied without a change
 *   here. The PostgreSQL schema must have exactly these tables and columns (plus `rowid` where
 *   SQLite's implicit rowid was made explicit: `posted_messages`); a difference is an error.
 * - Everything happens in one PostgreSQL transaction that first locks every table: the emptiness
 *   check, the inserts (batches of {@link COPY_BATCH_ROWS} rows), the identity sequences moved past
 *   the copied ids (`setval` on `pg_get_serial_sequence`, at least SQLite's AUTOINCREMENT high-water
 *   mark), and the check: per table the row count and a SHA-256 over every row (ordered by primary
 *   key; see {@link rowLine}) computed on both sides. A difference rolls everything back.
 * - The source is read in one read transaction of a read-only connection (a consistent snapshot).
 * The target's URL appears in messages only in {@link redactUrl}'s form (no password).
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { sql } from 'kysely';
import pg from 'pg';
import type { Logger } from '../logger.js';
import { openDatabase, type Db } from './db.js';
import { readOwner } from './lock.js';
import { loadMigrations, migrationsDir, schemaVersion, schemaVersionPostgres } from './migrate.js';
import { acquirePostgresOwnerLock, DatabaseLockedError, type PostgresOwnerLock } from './pg-owner-lock.js';
import { openPostgresStore, redactUrl, type PostgresStore } from './postgres.js';
import { all, type Sql } from './sql/kysely.js';

/** Rows per INSERT (and per page of the check): 500 rows × at most ~20 columns stays far below PostgreSQL's 65,535 parameters. */
export const COPY_BATCH_ROWS = 500;

/** Tables the copy never copies: SQLite's own (`sqlite_%`) and the migration record (the target's migrations write it). */
const SKIPPED_TABLE = /^(sqlite_.*|schema_migrations)$/;

/** The copy cannot start: the source is running or not migrated, the target is in use or not empty. Nothing was written. */
export class CopyRefusedError extends Error {
  override readonly name = 'CopyRefusedError';
}

/** The check after the copy found a table whose rows differ between the two databases; the copy was rolled back. */
export class CopyCheckError extends Error {
  override readonly name = 'CopyCheckError';
  constructor(
    readonly table: string,
    message: string,
  ) {
    super(message);
  }
}

/** Progress of {@link copyDatabase}: after each batch of a table. */
export interface CopyProgress {
  table: string;
  /** Rows of `table` copied so far. */
  copied: number;
  /** Rows of `table` in the source. */
  total: number;
}

/** Options of {@link copyDatabase}. */
export interface CopyOptions {
  /** Path of the SQLite database file (`<data dir>/agentbridge.db`); its agentbridge must be stopped. */
  fromPath: string;
  /** `postgres://user:password@host:port/database` of an empty database (migrated here if needed). */
  toUrl: string;
  logger: Logger;
  onProgress?: (p: CopyProgress) => void;
}

/** One copied table. */
export interface CopiedTable {
  table: string;
  /** Rows copied (equal on both sides: checked). */
  rows: number;
  /** Hex SHA-256 of the table's rows (see {@link rowLine}), equal on both sides. */
  checksum: string;
}

/** What {@link copyDatabase} did. */
export interface CopyReport {
  /** Absolute path of the source. */
  from: string;
  /** The target URL without its password. */
  to: string;
  /** Schema version of both databases. */
  schemaVersion: number;
  /** Every copied table, in the order copied (foreign-key order). */
  tables: CopiedTable[];
  /** Sum of `tables[].rows`. */
  rows: number;
  /** The identity columns whose sequence was moved: the next id they hand out. */
  sequences: { table: string; column: string; next: number }[];
}

/** A table of the source, as the copy needs it. */
interface SourceTable {
  name: string;
  /** Columns in the source's order; `rowid` last when the target has it as a column of its own. */
  columns: string[];
  /** The ordering key (primary-key columns; `rowid` for a table without one). */
  key: string[];
  /** Tables it references (foreign keys). */
  parents: string[];
}

/**
 * Copies every table of the SQLite database at `opts.fromPath` into the PostgreSQL database at
 * `opts.toUrl` and checks the copy (see the module doc). The target is migrated to the newest
 * schema first; its owner lock is held throughout, so no agentbridge can start on it meanwhile.
 *
 * Throws {@link CopyRefusedError} (nothing copied) when the source is missing, owned by a running
 * agentbridge, or not at the newest schema version; when the target is in use by an agentbridge or
 * holds rows in any of its tables (named). Throws {@link CopyCheckError} (rolled back) when the
 * check finds a table that differs. Otherwise rethrows: an `Error` naming the redacted URL when
 * PostgreSQL cannot be reached; `SchemaTooNewError` for a newer target; an `Error` naming the table
 * when a row cannot be inserted (its `cause` is pg's error) or when the two schemas differ.
 */
export async function copyDatabase(opts: CopyOptions): Promise<CopyReport> {
  const from = path.resolve(opts.fromPath);
  const to = redactUrl(opts.toUrl);
  if (!fs.existsSync(from)) throw new CopyRefusedError(`no SQLite database at ${from}; give --from sqlite:<data directory>/agentbridge.db`);
  const owner = readOwner(path.dirname(from));
  if (owner) {
    throw new CopyRefusedError(
      `an agentbridge (pid ${owner.pid}) is using ${path.dirname(from)}; stop it first (the copy needs the SQLite database unchanged while it runs)`,
    );
  }
  const db = openDatabase(from, { readonly: true });
  let lock: PostgresOwnerLock | undefined;
  let store: PostgresStore | undefined;
  try {
    const version = sourceVersion(db, from);
    db.exec('BEGIN'); // one snapshot for the copy and the check
    const tables = sourceTables(db);
    try {
      lock = await acquirePostgresOwnerLock({ url: opts.toUrl, logger: opts.logger, heartbeatMs: 0, applicationName: 'agentbridge db copy' });
    } catch (err) {
      if (err instanceof DatabaseLockedError) throw new CopyRefusedError(`${err.message.replace(/; stop it first.*$/, '')}; stop it first, then copy`);
      throw err;
    }
    await assertNoForeignTables(opts.toUrl, tables, to);
    store = await openPostgresStore({ url: opts.toUrl, logger: opts.logger });
    const targetVersion = await schemaVersionPostgres(store.pool);
    if (targetVersion !== version) {
      throw new Error(
        `the PostgreSQL database at ${to} has schema version ${targetVersion} after migrating, the SQLite database ${version}: this agentbridge's migrations disagree`,
      );
    }
    const identities = await matchTargetSchema(store.sql.q, tables, to);
    const result = await store.sql.q.transaction().execute(async (trx) => {
      await sql`LOCK TABLE ${sql.join(tables.map((t) => sql.table(t.name)))} IN EXCLUSIVE MODE`.execute(trx);
      await assertEmpty(trx, tables, to);
      const copied: CopiedTable[] = [];
      for (const t of tables) copied.push(await copyTable(db, trx, t, opts.onProgress));
      const sequences = await advanceSequences(db, trx, identities);
      for (const c of copied)
        await checkTable(
          db,
          trx,
          tables.find((t) => t.name === c.table)!,
          c,
        );
      return { copied, sequences };
    });
    const report: CopyReport = {
      from,
      to,
      schemaVersion: version,
      tables: result.copied,
      rows: result.copied.reduce((n, t) => n + t.rows, 0),
      sequences: result.sequences,
    };
    opts.logger.info(
      { from, to, tables: report.tables.length, rows: report.rows },
      `copied ${report.rows} rows of ${report.tables.length} tables from ${from} to ${to}`,
    );
    return report;
  } finally {
    if (db.inTransaction) db.exec('COMMIT');
    db.close();
    await store?.close().catch(() => {});
    await lock?.release();
  }
}

/** The source's schema version; {@link CopyRefusedError} unless it is the newest migration. */
function sourceVersion(db: Db, from: string): number {
  const newest = loadMigrations(migrationsDir('sqlite')).at(-1)?.version ?? 0;
  const version = schemaVersion(db);
  if (version > newest) {
    throw new CopyRefusedError(
      `${from} has schema version ${version}, newer than this agentbridge (up to ${newest}): copy it with the agentbridge that wrote it`,
    );
  }
  if (version < newest) {
    throw new CopyRefusedError(
      `${from} has schema version ${version}, this agentbridge's is ${newest}: start this agentbridge once on the SQLite database to migrate it, stop it, then copy`,
    );
  }
  return version;
}

/** `"name"` with inner quotes doubled: an SQLite identifier. */
function quote(name: string): string {
  return `"${name.replaceAll('"', '""')}"`;
}

/** The source's tables (see {@link SourceTable}), parents before children. Throws for a foreign-key cycle. */
export function sourceTables(db: Db): SourceTable[] {
  const names = (db.prepare("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name").all() as { name: string }[])
    .map((r) => r.name)
    .filter((n) => !SKIPPED_TABLE.test(n));
  const byName = new Map<string, SourceTable>();
  for (const name of names) {
    const info = db.prepare(`PRAGMA table_info(${quote(name)})`).all() as { name: string; pk: number }[];
    const key = info
      .filter((c) => c.pk > 0)
      .sort((a, b) => a.pk - b.pk)
      .map((c) => c.name);
    const fks = db.prepare(`PRAGMA foreign_key_list(${quote(name)})`).all() as { table: string }[];
    byName.set(name, {
      name,
      columns: info.map((c) => c.name),
      key: key.length > 0 ? key : ['rowid'],
      parents: [...new Set(fks.map((f) => f.table).filter((p) => p !== name))],
    });
  }
  const ordered: SourceTable[] = [];
  const state = new Map<string, 'visiting' | 'done'>();
  const visit = (t: SourceTable, trail: string[]): void => {
    if (state.get(t.name) === 'done') return;
    if (state.get(t.name) === 'visiting') throw new Error(`foreign keys form a cycle: ${[...trail, t.name].join(' → ')}`);
    state.set(t.name, 'visiting');
    for (const p of t.parents) {
      const parent = byName.get(p);
      if (parent) visit(parent, [...trail, t.name]);
    }
    state.set(t.name, 'done');
    ordered.push(t);
  };
  for (const t of byName.values()) visit(t, []);
  return ordered;
}

/**
 * Checks that the target has exactly the source's tables, each with the source's columns (a
 * target column `rowid` the source lacks is filled from SQLite's implicit rowid: added to
 * `columns`), and returns the target's identity columns. Throws an `Error` naming the difference.
 */
async function matchTargetSchema(q: Sql, tables: SourceTable[], to: string): Promise<{ table: string; column: string }[]> {
  const rows = await all(
    q,
    sql<{ table_name: string; column_name: string; is_identity: string }>`
      SELECT table_name, column_name, is_identity FROM information_schema.columns
       WHERE table_schema = current_schema() ORDER BY table_name, ordinal_position`,
  );
  const target = new Map<string, string[]>();
  for (const r of rows) target.set(r.table_name, [...(target.get(r.table_name) ?? []), r.column_name]);
  const extraTables = [...target.keys()].filter((n) => !SKIPPED_TABLE.test(n) && !tables.some((t) => t.name === n));
  if (extraTables.length > 0) throw new Error(`the PostgreSQL database at ${to} has tables the SQLite schema lacks: ${extraTables.join(', ')}`);
  for (const t of tables) {
    const columns = target.get(t.name);
    if (!columns) throw new Error(`the PostgreSQL database at ${to} has no table ${t.name}`);
    const missing = t.columns.filter((c) => !columns.includes(c));
    const extra = columns.filter((c) => !t.columns.includes(c));
    if (missing.length > 0 || extra.some((c) => c !== 'rowid')) {
      throw new Error(
        `table ${t.name} differs between SQLite and PostgreSQL: only in SQLite ${missing.join(', ') || '-'}; only in PostgreSQL ${extra.join(', ') || '-'}`,
      );
    }
    if (extra.includes('rowid')) t.columns.push('rowid');
    if (t.key.includes('rowid') && !t.columns.includes('rowid'))
      throw new Error(`table ${t.name} has no primary key, and PostgreSQL no rowid column to order it by`);
  }
  return rows.filter((r) => r.is_identity === 'YES').map((r) => ({ table: r.table_name, column: r.column_name }));
}

/**
 * Before anything is written (the store's open migrates): {@link CopyRefusedError} when the
 * target's schema holds tables that are not agentbridge's — the URL names someone else's database.
 */
async function assertNoForeignTables(url: string, tables: SourceTable[], to: string): Promise<void> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 5000 });
  client.on('error', () => {}); // a failure shows up as the query's rejection
  try {
    try {
      await client.connect();
    } catch (err) {
      throw new Error(`cannot connect to PostgreSQL at ${to}: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
    }
    const { rows } = await client.query<{ name: string }>(
      'SELECT table_name AS name FROM information_schema.tables WHERE table_schema = current_schema() ORDER BY 1',
    );
    const foreign = rows.map((r) => r.name).filter((n) => n !== 'schema_migrations' && !tables.some((t) => t.name === n));
    if (foreign.length > 0) {
      throw new CopyRefusedError(
        `the PostgreSQL database at ${to} holds tables that are not agentbridge's (${foreign.join(', ')}); copy into a new, empty database (e.g. createdb agentbridge)`,
      );
    }
  } finally {
    await client.end().catch(() => {});
  }
}

/** {@link CopyRefusedError} naming every table of `tables` that has a row in the target. */
async function assertEmpty(q: Sql, tables: SourceTable[], to: string): Promise<void> {
  const nonEmpty: string[] = [];
  for (const t of tables) {
    const [row] = await all(q, sql<{ present: boolean }>`SELECT EXISTS (SELECT 1 FROM ${sql.table(t.name)}) AS present`);
    if (row?.present) nonEmpty.push(t.name);
  }
  if (nonEmpty.length > 0) {
    throw new CopyRefusedError(
      `the PostgreSQL database at ${to} is not empty: ${nonEmpty.join(', ')} ${nonEmpty.length === 1 ? 'has' : 'have'} rows. ` +
        'Copy into a new, empty database (e.g. createdb), or drop and re-create this one if its data is not needed',
    );
  }
}

/** `SELECT <columns> FROM <table> ORDER BY <key>` on the source. */
function sourceSelect(db: Db, t: SourceTable) {
  return db.prepare(`SELECT ${t.columns.map(quote).join(', ')} FROM ${quote(t.name)} ORDER BY ${t.key.map(quote).join(', ')}`);
}

/** Inserts the rows of `t` into the target in batches; returns its count and checksum (of the rows as read from the source). */
async function copyTable(db: Db, q: Sql, t: SourceTable, onProgress?: (p: CopyProgress) => void): Promise<CopiedTable> {
  const total = (db.prepare(`SELECT COUNT(*) AS n FROM ${quote(t.name)}`).get() as { n: number }).n;
  const hash = crypto.createHash('sha256');
  let batch: Record<string, unknown>[] = [];
  let copied = 0;
  const flush = async (): Promise<void> => {
    if (batch.length === 0) return;
    try {
      await q.insertInto(t.name).values(batch).execute();
    } catch (err) {
      throw new Error(`copying table ${t.name} failed: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
    }
    copied += batch.length;
    batch = [];
    onProgress?.({ table: t.name, copied, total });
  };
  for (const row of sourceSelect(db, t).raw().iterate() as IterableIterator<unknown[]>) {
    hash.update(rowLine(row, t.name));
    batch.push(Object.fromEntries(t.columns.map((c, i) => [c, row[i]])));
    if (batch.length >= COPY_BATCH_ROWS) await flush();
  }
  await flush();
  if (total === 0) onProgress?.({ table: t.name, copied: 0, total: 0 });
  return { table: t.name, rows: copied, checksum: hash.digest('hex') };
}

/**
 * One row as a line of the checksum: the JSON array of its values in column order, numbers as
 * numbers, text as text, null as null, then a newline. Throws for any other value (a BLOB: the
 * schema has none).
 */
export function rowLine(values: readonly unknown[], table: string): string {
  for (const v of values) {
    if (v !== null && typeof v !== 'number' && typeof v !== 'string') {
      throw new Error(`table ${table} has a value of type ${typeof v === 'object' ? 'binary' : typeof v} that the copy does not handle`);
    }
  }
  return `${JSON.stringify(values)}\n`;
}

/**
 * Moves each identity column's sequence past the copied ids: to the largest id in the table, or
 * SQLite's AUTOINCREMENT high-water mark (`sqlite_sequence`) when higher, so ids of deleted rows are
 * not handed out again. A table without rows keeps its sequence (it starts at 1).
 */
async function advanceSequences(db: Db, q: Sql, identities: { table: string; column: string }[]): Promise<CopyReport['sequences']> {
  const hasSequenceTable = db.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'sqlite_sequence'").get() !== undefined;
  const highWater = (table: string): number =>
    hasSequenceTable ? ((db.prepare('SELECT seq FROM sqlite_sequence WHERE name = ?').get(table) as { seq: number } | undefined)?.seq ?? 0) : 0;
  const moved: CopyReport['sequences'] = [];
  for (const { table, column } of identities) {
    const [row] = await all(q, sql<{ max: number | null }>`SELECT MAX(${sql.ref(column)}) AS max FROM ${sql.table(table)}`);
    const last = Math.max(row?.max ?? 0, highWater(table));
    if (last < 1) continue;
    await sql`SELECT setval(pg_get_serial_sequence(${`${quote(table)}`}, ${column}), ${last}, true)`.execute(q);
    moved.push({ table, column, next: last + 1 });
  }
  return moved;
}

/** Recomputes the count and checksum of `t` from the target (in key order, page by page) and compares them with `copied`. */
async function checkTable(db: Db, q: Sql, t: SourceTable, copied: CopiedTable): Promise<void> {
  const hash = crypto.createHash('sha256');
  const cols = sql.join(t.columns.map((c) => sql.ref(c)));
  const key = sql.join(t.key.map((c) => sql.ref(c)));
  let rows = 0;
  let after: unknown[] | undefined;
  for (;;) {
    const where = after ? sql`WHERE (${key}) > (${sql.join(after.map((v) => sql`${v}`))})` : sql``;
    const page = await all(q, sql<Record<string, unknown>>`SELECT ${cols} FROM ${sql.table(t.name)} ${where} ORDER BY ${key} LIMIT ${COPY_BATCH_ROWS}`);
    for (const r of page)
      hash.update(
        rowLine(
          t.columns.map((c) => r[c]),
          t.name,
        ),
      );
    rows += page.length;
    if (page.length < COPY_BATCH_ROWS) break;
    const last = page.at(-1)!;
    after = t.key.map((c) => last[c]);
  }
  const checksum = hash.digest('hex');
  const sourceRows = (db.prepare(`SELECT COUNT(*) AS n FROM ${quote(t.name)}`).get() as { n: number }).n;
  if (rows !== copied.rows || rows !== sourceRows) {
    throw new CopyCheckError(t.name, `check failed for table ${t.name}: ${sourceRows} rows in SQLite, ${rows} in PostgreSQL; nothing was copied (rolled back)`);
  }
  if (checksum !== copied.checksum) {
    throw new CopyCheckError(
      t.name,
      `check failed for table ${t.name}: its rows differ between SQLite and PostgreSQL (checksums); nothing was copied (rolled back)`,
    );
  }
}
