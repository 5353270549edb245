/**
 * The `outbox` table: final answers recorded before posting and marked after (docs/ARCHITECTURE.md §3, invariant 2), so a
 * restart neither drops nor repeats an answer.
 */
import type { Db } from '../db.js';
import type { SyncRepo } from '../sync-repo.js';
import type { OutboxRepo } from '../types.js';
import { toOutbox, type OutboxSql } from '../sql/repos/outbox.js';

/**
 * Creates the outbox repository on `db` (statements prepared once).
 * - `attempts` counts failed attempts only (`markPosted` leaves it unchanged).
 * - `markAttemptFailed(id, error, final)` keeps the row pending unless `final` (then `failed`);
 *   it does not touch a row that is no longer pending. `markPosted` records the post in any state
 *   (the message is out, whatever was decided before).
 * - `pending` is ordered by `createdAt`, then id.
 */
export function createOutboxRepo(db: Db): SyncRepo<OutboxRepo> {
  const insert = db.prepare<[string, string, string, number | null, number], OutboxSql>(
    `INSERT INTO outbox (conversation_id, target_json, text, session_entry_id, state, attempts, created_at)
     VALUES (?, ?, ?, ?, 'pending', 0, ?)
     RETURNING *`,
  );
  const posted = db.prepare<[string, number]>("UPDATE outbox SET state = 'posted', posted_ref = ? WHERE id = ?");
  const failed = db.prepare<[string, number, number]>(
    `UPDATE outbox SET attempts = attempts + 1, last_error = ?,
       state = CASE WHEN ? THEN 'failed' ELSE state END
     WHERE id = ? AND state = 'pending'`,
  );
  const pending = db.prepare<[], OutboxSql>("SELECT * FROM outbox WHERE state = 'pending' ORDER BY created_at, id");
  const pendingFor = db.prepare<[string], OutboxSql>("SELECT * FROM outbox WHERE conversation_id = ? AND state = 'pending' ORDER BY id");
  const pendingCount = db.prepare<[], { n: number }>("SELECT count(*) AS n FROM outbox WHERE state = 'pending'");
  const getOne = db.prepare<[number], OutboxSql>('SELECT * FROM outbox WHERE id = ?');

  return {
    enqueue(o) {
      return toOutbox(insert.all(o.conversationId, JSON.stringify(o.target), o.text, o.sessionEntryId ?? null, Date.now())[0]!);
    },
    markPosted(id, postedRef) {
      posted.run(postedRef, id);
    },
    markAttemptFailed(id, error, final = false) {
      failed.run(error, final ? 1 : 0, id);
    },
    pending() {
      return pending.all().map(toOutbox);
    },
    pendingFor(conversationId) {
      return pendingFor.all(conversationId).map(toOutbox);
    },
    pendingCount() {
      return pendingCount.get()!.n;
    },
    get(id) {
      const r = getOne.get(id);
      return r && toOutbox(r);
    },
  };
}
