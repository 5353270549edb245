/**
 * The `local_uploads` table (migration 013): files people upload in the local web chat
 * (`POST /api/local/files`, `src/platforms/local/uploads.ts`) before they send them with a
 * message. The bytes are in `<dataDir>/uploads/<id>`; this table holds who uploaded them, their
 * name, type and size, and the message they were sent with. Times are ms since the epoch.
 *
 * Ownership: `owner` is the logged-in user's name, or null for an anonymous page (login not
 * required). {@link LocalUploadsRepo.markSent} takes an upload only for its owner and only once.
 */
import { sql } from 'kysely';
import { all, first, run, type Sql, type SqlContext } from '../kysely.js';
import type { LocalUploadRow, LocalUploadsRepo } from '../../types.js';

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

/** Thrown inside the transaction of `markSent` to roll it back. */
class NotMarked extends Error {}

/** Savepoint of `markSent` inside the caller's transaction. */
const SAVEPOINT = sql.raw('local_uploads_mark_sent');

/**
 * Runs `fn` atomically and keeps its changes only when it resolves to true: in a transaction of
 * `q`, or in a savepoint when `q` already is one (so a false result, or an error, undoes only
 * `fn`'s changes, not the caller's).
 */
async function keepIf(q: Sql, fn: (t: Sql) => Promise<boolean>): Promise<boolean> {
  if (!q.isTransaction) {
    try {
      return await q.transaction().execute(async (t) => {
        if (!(await fn(t))) throw new NotMarked();
        return true;
      });
    } catch (err) {
      if (err instanceof NotMarked) return false;
      throw err;
    }
  }
  await run(q, sql`SAVEPOINT ${SAVEPOINT}`);
  let ok = false;
  try {
    ok = await fn(q);
  } finally {
    if (!ok) await run(q, sql`ROLLBACK TO SAVEPOINT ${SAVEPOINT}`);
    await run(q, sql`RELEASE SAVEPOINT ${SAVEPOINT}`);
  }
  return ok;
}

/** Creates the repository (nothing is prepared when the store opens: a read-only CLI may open an older schema without this table). */
export function createLocalUploadsRepo({ q }: SqlContext): LocalUploadsRepo {
  return {
    async insert(row) {
      const r = await first(
        q,
        sql<UploadSql>`INSERT INTO local_uploads (id, owner, name, type, size, created_at, message_id)
            VALUES (${row.id}, ${row.owner}, ${row.name}, ${row.type}, ${row.size}, ${row.createdAt ?? Date.now()}, NULL)
            RETURNING *`,
      );
      return toUpload(r!);
    },
    async get(id) {
      const r = await first(q, sql<UploadSql>`SELECT * FROM local_uploads WHERE id = ${id}`);
      return r && toUpload(r);
    },
    markSent(ids, owner, messageId) {
      if (ids.length === 0) return Promise.resolve(true);
      const ownerIs = owner === null ? sql`owner IS NULL` : sql`owner = ${owner}`;
      return keepIf(q, async (t) => {
        const marked = await all(
          t,
          sql<{ id: string }>`UPDATE local_uploads SET message_id = ${messageId}
              WHERE id IN (${sql.join([...ids])}) AND ${ownerIs} AND message_id IS NULL
              RETURNING id`,
        );
        return marked.length === ids.length;
      });
    },
    async deleteUnsent(before) {
      const rows = await all(q, sql<{ id: string }>`DELETE FROM local_uploads WHERE message_id IS NULL AND created_at < ${before} RETURNING id`);
      // RETURNING's order is unspecified on both backends: sorted by id (ASCII ids) to be the same on both.
      return rows.map((r) => r.id).sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
    },
  };
}
