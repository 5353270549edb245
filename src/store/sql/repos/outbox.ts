/**
 * The `outbox` table: final answers recorded before posting and marked after (docs/ARCHITECTURE.md §3, invariant 2), so a
 * restart neither drops nor repeats an answer.
 */
import { sql } from 'kysely';
import { all, first, run, type SqlContext } from '../kysely.js';
import type { OutboxRepo, OutboxRow, OutboxState, OutboxTarget } from '../../types.js';

export interface OutboxSql {
  id: number;
  conversation_id: string;
  target_json: string;
  text: string;
  session_entry_id: number | null;
  state: string;
  attempts: number;
  posted_ref: string | null;
  last_error: string | null;
  created_at: number;
}

export function toOutbox(r: OutboxSql): OutboxRow {
  return {
    id: r.id,
    conversationId: r.conversation_id,
    target: JSON.parse(r.target_json) as OutboxTarget,
    text: r.text,
    sessionEntryId: r.session_entry_id,
    state: r.state as OutboxState,
    attempts: r.attempts,
    postedRef: r.posted_ref,
    lastError: r.last_error,
    createdAt: r.created_at,
  };
}

/**
 * Creates the outbox repository.
 * - `enqueue` returns the row with `INSERT … RETURNING` (rows come back through better-sqlite3's
 *   `.all()`, which surfaces a failed commit; see db.ts).
 * - `attempts` counts failed attempts only (`markPosted` leaves it unchanged).
 * - `markAttemptFailed(id, error, final)` keeps the row pending unless `final` (then `failed`);
 *   it does not touch a row that is no longer pending (one compare-and-set `UPDATE … WHERE state =
 *   'pending'`). `markPosted` records the post in any state (the message is out, whatever was
 *   decided before).
 * - `pending` is ordered by `createdAt`, then id.
 */
export function createOutboxRepo({ q }: SqlContext): OutboxRepo {
  return {
    async enqueue(o) {
      const rows = await all(
        q,
        sql<OutboxSql>`INSERT INTO outbox (conversation_id, target_json, text, session_entry_id, state, attempts, created_at)
                       VALUES (${o.conversationId}, ${JSON.stringify(o.target)}, ${o.text}, ${o.sessionEntryId ?? null}, 'pending', 0, ${Date.now()})
                       RETURNING *`,
      );
      return toOutbox(rows[0]!);
    },
    async markPosted(id, postedRef) {
      await run(q, sql`UPDATE outbox SET state = 'posted', posted_ref = ${postedRef} WHERE id = ${id}`);
    },
    async markAttemptFailed(id, error, final = false) {
      await run(
        q,
        sql`UPDATE outbox SET attempts = attempts + 1, last_error = ${error},
              state = CASE WHEN ${final ? 1 : 0} = 1 THEN 'failed' ELSE state END
            WHERE id = ${id} AND state = 'pending'`,
      );
    },
    async pending() {
      return (await all(q, sql<OutboxSql>`SELECT * FROM outbox WHERE state = 'pending' ORDER BY created_at, id`)).map(toOutbox);
    },
    async pendingFor(conversationId) {
      return (await all(q, sql<OutboxSql>`SELECT * FROM outbox WHERE conversation_id = ${conversationId} AND state = 'pending' ORDER BY id`)).map(toOutbox);
    },
    async pendingCount() {
      return (await first(q, sql<{ n: number }>`SELECT COUNT(*) AS n FROM outbox WHERE state = 'pending'`))!.n;
    },
    async get(id) {
      const r = await first(q, sql<OutboxSql>`SELECT * FROM outbox WHERE id = ${id}`);
      return r && toOutbox(r);
    },
  };
}
