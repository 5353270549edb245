/**
 * The database marker: `<dbPath>.id` (e.g. `agentbridge.db.id`), written beside the database when
 * agentbridge creates it — JSON `{"id": "<random UUID>", "createdAt": "<ISO time>"}` (plus
 * `replaces` after a corrupt database was moved aside), mode 0600.
 *
 * A data directory whose marker exists but whose database does not (or is an empty file) lost its
 * database: agentbridge refuses to start instead of silently starting empty
 * ({@link DatabaseMissingError}); `agentbridge db init --force` starts a new one deliberately.
 * An existing database without a marker (created before markers existed) gets one.
 */
import { randomUUID } from 'node:crypto';
import fs from 'node:fs';
import { FILE_MODE } from './files.js';

/** Contents of the marker file. */
export interface DatabaseMarker {
  /** Random UUID of this database. */
  id: string;
  /** When the database was created (ISO 8601). */
  createdAt: string;
  /** The path a corrupt predecessor was moved to, when this database replaced one. */
  replaces?: string;
}

/** Path of the marker of `dbPath`. */
export function markerPath(dbPath: string): string {
  return `${dbPath}.id`;
}

/** The data directory had a database (its marker says so) but the file is gone or empty. */
export class DatabaseMissingError extends Error {
  override readonly name = 'DatabaseMissingError';
  constructor(
    readonly dbPath: string,
    readonly marker: DatabaseMarker | undefined,
  ) {
    super(
      `the database ${dbPath} has disappeared: its marker ${markerPath(dbPath)} says a database was created there` +
        `${marker?.createdAt ? ` on ${marker.createdAt}` : ''}, but the file is missing or empty. ` +
        'agentbridge will not silently start with an empty one. Restore agentbridge.db (with its -wal file, if any) from a backup, ' +
        'or run `agentbridge db init --force` to start with an empty database.',
    );
  }
}

/** Reads the marker; undefined when there is none. A garbled marker reads as `{id: "", createdAt: ""}` (it still exists). */
export function readMarker(dbPath: string): DatabaseMarker | undefined {
  let text: string;
  try {
    text = fs.readFileSync(markerPath(dbPath), 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
  try {
    const v = JSON.parse(text) as Partial<DatabaseMarker>;
    return { id: String(v.id ?? ''), createdAt: String(v.createdAt ?? ''), ...(v.replaces ? { replaces: String(v.replaces) } : {}) };
  } catch {
    return { id: '', createdAt: '' };
  }
}

/** Writes a new marker (mode 0600) atomically (temp file + rename); returns it. Throws the `fs` error. */
export function writeMarker(dbPath: string, extra: { replaces?: string } = {}): DatabaseMarker {
  const marker: DatabaseMarker = { id: randomUUID(), createdAt: new Date().toISOString(), ...extra };
  const file = markerPath(dbPath);
  const tmp = `${file}.tmp-${process.pid}`;
  fs.writeFileSync(tmp, `${JSON.stringify(marker)}\n`, { mode: FILE_MODE });
  fs.chmodSync(tmp, FILE_MODE);
  fs.renameSync(tmp, file);
  return marker;
}

/** True when the database file exists and is not empty. */
export function databaseExists(dbPath: string): boolean {
  try {
    return fs.statSync(dbPath).size > 0;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw err;
  }
}

/**
 * Before opening a writable database: throws {@link DatabaseMissingError} when the marker exists
 * but the database is missing or empty. Returns whether a marker must be written once the
 * database is open (none exists yet).
 */
export function checkMarker(dbPath: string): { needsMarker: boolean } {
  const marker = readMarker(dbPath);
  if (marker && !databaseExists(dbPath)) throw new DatabaseMissingError(dbPath, marker);
  return { needsMarker: marker === undefined };
}
