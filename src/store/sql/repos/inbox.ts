/**
 * The `inbox` table: every accepted inbound message, durable before the platform is acknowledged
 * (docs/ARCHITECTURE.md §3, invariant 1); the unique event key recognises duplicate deliveries (docs/ARCHITECTURE.md §3, invariant 2).
 */
import { sql } from 'kysely';
import type { InboundMessage } from '../../../core/messages.js';
import { all, atomically, first, run, type Sql, type SqlContext } from '../kysely.js';
import type { InboxRepo, InboxRow, InboxState } from '../../types.js';

interface InboxSql {
  seq: number;
  event_key: string;
  conversation_id: string;
  payload_json: string;
  state: string;
  attempts: number;
  received_at: number;
  updated_at: number;
}

function toInbox(r: InboxSql): InboxRow {
  return {
    eventKey: r.event_key,
    conversationId: r.conversation_id,
    message: JSON.parse(r.payload_json) as InboundMessage,
    state: r.state as InboxState,
    attempts: r.attempts,
    receivedAt: r.received_at,
    updatedAt: r.updated_at,
  };
}

/** Event keys per statement of the mark* methods (well below both backends' limits of bound parameters). */
const KEYS_PER_STATEMENT = 500;

/** Runs `update(t, chunk)` for the keys in chunks, all in one transaction (or the caller's); resolves to the sum of rows changed. */
async function forKeys(q: Sql, keys: string[], update: (t: Sql, chunk: string[]) => Promise<number>): Promise<number> {
  if (keys.length === 0) return 0;
  return atomically(q, async (t) => {
    let n = 0;
    for (let i = 0; i < keys.length; i += KEYS_PER_STATEMENT) n += await update(t, keys.slice(i, i + KEYS_PER_STATEMENT));
    return n;
  });
}

/**
 * Creates the inbox repository.
 * - `accept` is one `INSERT … ON CONFLICT (event_key) DO NOTHING`; `receivedAt` comes from the message
 *   (now if missing). The message is stored as JSON and returned parsed.
 * - `markRunning` only affects rows still queued or running (a finished row is never restarted;
 *   use `requeue` first): one compare-and-set `UPDATE … WHERE state IN (…)`. The mark* methods and
 *   `requeue` take several keys in one transaction; unknown keys are ignored.
 */
export function createInboxRepo({ q }: SqlContext): InboxRepo {
  const setState = (state: InboxState, keys: string[], claim?: string): Promise<number> => {
    const now = Date.now();
    return forKeys(q, keys, (t, chunk) =>
      claim === undefined
        ? run(t, sql`UPDATE inbox SET state = ${state}, updated_at = ${now} WHERE event_key IN (${sql.join(chunk)})`)
        : run(t, sql`UPDATE inbox SET state = ${state}, updated_at = ${now} WHERE event_key IN (${sql.join(chunk)}) AND claim = ${claim}`),
    );
  };

  return {
    async accept(message) {
      const now = Date.now();
      const receivedAt = Number.isFinite(message.receivedAt) ? message.receivedAt : now;
      // RETURNING: the inserted row, none for a known key (rows come back through better-sqlite3's
      // `.all()`, which surfaces a failed commit; see db.ts).
      const rows = await all(
        q,
        sql<{ seq: number }>`INSERT INTO inbox (event_key, conversation_id, payload_json, state, attempts, received_at, updated_at)
                             VALUES (${message.eventKey}, ${message.conversationId}, ${JSON.stringify(message)}, 'queued', 0, ${receivedAt}, ${now})
                             ON CONFLICT (event_key) DO NOTHING
                             RETURNING seq`,
      );
      return rows.length === 1;
    },
    markRunning(eventKeys, claim) {
      const now = Date.now();
      return forKeys(q, eventKeys, (t, chunk) =>
        claim === undefined
          ? run(
              t,
              sql`UPDATE inbox SET state = 'running', attempts = attempts + 1, updated_at = ${now}
                  WHERE event_key IN (${sql.join(chunk)}) AND state IN ('queued', 'running')`,
            )
          : run(
              t,
              sql`UPDATE inbox SET state = 'running', attempts = attempts + 1, updated_at = ${now}, claim = ${claim}
                  WHERE event_key IN (${sql.join(chunk)}) AND (state = 'queued' OR (state = 'running' AND claim = ${claim}))`,
            ),
      );
    },
    markDone: (eventKeys, claim) => setState('done', eventKeys, claim),
    markFailed: (eventKeys, claim) => setState('failed', eventKeys, claim),
    requeue: async (eventKeys) => {
      await setState('queued', eventKeys);
    },
    async unfinishedFor(conversationId) {
      return (
        await all(q, sql<InboxSql>`SELECT * FROM inbox WHERE conversation_id = ${conversationId} AND state IN ('queued', 'running') ORDER BY received_at, seq`)
      ).map(toInbox);
    },
    async unfinished() {
      return (await all(q, sql<InboxSql>`SELECT * FROM inbox WHERE state IN ('queued', 'running') ORDER BY received_at, seq`)).map(toInbox);
    },
    async staleConversations(before) {
      const rows = await all(
        q,
        sql<{
          conversation_id: string;
        }>`SELECT DISTINCT conversation_id FROM inbox WHERE state IN ('queued', 'running') AND updated_at < ${before} ORDER BY conversation_id`,
      );
      return rows.map((r) => r.conversation_id);
    },
    async get(eventKey) {
      const r = await first(q, sql<InboxSql>`SELECT * FROM inbox WHERE event_key = ${eventKey}`);
      return r && toInbox(r);
    },
    async countByState() {
      const result: Record<InboxState, number> = { queued: 0, running: 0, done: 0, failed: 0 };
      const rows = await all(q, sql<{ state: string; n: number }>`SELECT state, COUNT(*) AS n FROM inbox GROUP BY state`);
      for (const { state, n } of rows) result[state as InboxState] = n;
      return result;
    },
    async failUnfinished(conversationId) {
      const rows = await all(
        q,
        sql<{ event_key: string; received_at: number; seq: number }>`UPDATE inbox SET state = 'failed', updated_at = ${Date.now()}
            WHERE conversation_id = ${conversationId} AND state IN ('queued', 'running')
            RETURNING event_key, received_at, seq`,
      );
      return rows.sort((a, b) => a.received_at - b.received_at || a.seq - b.seq).map((r) => r.event_key);
    },
  };
}
