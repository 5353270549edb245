/**
 * The `local_uploads` table (migration 013): files people upload in the local web chat
 * (`POST /api/local/files`, `src/platforms/local/uploads.ts`) before they send them with a
 * message. The bytes are in `<dataDir>/uploads/<id>`; this table holds who uploaded them, their
 * name, type and size, and the message they were sent with. Times are ms since the epoch.
 *
 * Ownership: `owner` is the logged-in user's name, or null for an anonymous page (login not
 * required). {@link LocalUploadsRepo.markSent} takes an upload only for its owner and only once.
 */
import type { Db } from '../db.js';
import type { SyncRepo } from '../sync-repo.js';

/** One upload. */
export interface LocalUploadRow {
  /** Upload id (random, `src/platforms/local/uploads.ts` → `UPLOAD_ID_PATTERN`). */
  id: string;
  /** The logged-in user who uploaded it; null for an anonymous page. */
  owner: string | null;
  /** File name as the uploader's browser gave it (path parts and control characters removed). */
  name: string;
  /** MIME type (the browser's, or from the name's extension). */
  type: string;
  /** Size, bytes. */
  size: number;
  createdAt: number;
  /** The local message it was sent with; null while unsent. */
  messageId: string | null;
}

export interface LocalUploadsRepo {
  /** Stores a new, unsent upload. @throws SqliteError SQLITE_CONSTRAINT_PRIMARYKEY for a known id. */
  insert(row: Omit<LocalUploadRow, 'messageId' | 'createdAt'> & { createdAt?: number }): Promise<LocalUploadRow>;
  get(id: string): Promise<LocalUploadRow | undefined>;
  /**
   * Marks every upload of `ids` as sent with message `messageId` — all or none (a savepoint, so
   * it can run inside the caller's transaction): each must exist, belong to `owner` (null: an
   * anonymous upload) and be unsent. Returns false, changing nothing, when one does not.
   */
  markSent(ids: readonly string[], owner: string | null, messageId: string): Promise<boolean>;
  /** Deletes unsent uploads created before `before`; returns their ids (their files are the caller's to delete). */
  deleteUnsent(before: number): Promise<string[]>;
}

interface UploadSql {
  id: string;
  owner: string | null;
  name: string;
  type: string;
  size: number;
  created_at: number;
  message_id: string | null;
}

const toUpload = (r: UploadSql): LocalUploadRow => ({
  id: r.id,
  owner: r.owner,
  name: r.name,
  type: r.type,
  size: r.size,
  createdAt: r.created_at,
  messageId: r.message_id,
});

/** Thrown inside the savepoint of `markSent` to roll it back. */
class NotMarked extends Error {}

/** Creates the repository on `db` (statements prepared on first use). */
export function createLocalUploadsRepo(db: Db): SyncRepo<LocalUploadsRepo> {
  // Prepared on first use: a read-only CLI may open a database of an older schema without this table.
  let prepared: ReturnType<typeof prepare> | undefined;
  const prepare = () => ({
    insert: db.prepare<[UploadSql], UploadSql>(
      `INSERT INTO local_uploads (id, owner, name, type, size, created_at, message_id)
       VALUES (@id, @owner, @name, @type, @size, @created_at, NULL) RETURNING *`,
    ),
    get: db.prepare<[string], UploadSql>('SELECT * FROM local_uploads WHERE id = ?'),
    markSent: db.prepare<[string, string, string | null]>('UPDATE local_uploads SET message_id = ? WHERE id = ? AND owner IS ? AND message_id IS NULL'),
    deleteUnsent: db.prepare<[number], { id: string }>('DELETE FROM local_uploads WHERE message_id IS NULL AND created_at < ? RETURNING id'),
  });
  const q = () => (prepared ??= prepare());

  const markAll = db.transaction((ids: readonly string[], owner: string | null, messageId: string) => {
    for (const id of ids) {
      if (q().markSent.run(messageId, id, owner).changes !== 1) throw new NotMarked();
    }
  });

  return {
    insert(row) {
      const r = q().insert.all({
        id: row.id,
        owner: row.owner,
        name: row.name,
        type: row.type,
        size: row.size,
        created_at: row.createdAt ?? Date.now(),
        message_id: null,
      })[0];
      return toUpload(r!);
    },
    get(id) {
      const r = q().get.get(id);
      return r && toUpload(r);
    },
    markSent(ids, owner, messageId) {
      try {
        markAll(ids, owner, messageId);
        return true;
      } catch (err) {
        if (err instanceof NotMarked) return false;
        throw err;
      }
    },
    deleteUnsent(before) {
      return q()
        .deleteUnsent.all(before)
        .map((r) => r.id);
    },
  };
}
