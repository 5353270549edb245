/**
 * The `inbox` table: every accepted inbound message, durable before the platform is acknowledged
 * (docs/ARCHITECTURE.md §3, invariant 1); the unique event key recognises duplicate deliveries (docs/ARCHITECTURE.md §3, invariant 2).
 */
import type { InboundMessage } from '../../core/messages.js';
import type { SyncRepo } from '../sync-repo.js';
import type { Db } from '../db.js';
import type { InboxRepo, InboxRow, InboxState } from '../types.js';

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

/**
 * Creates the inbox repository on `db` (statements prepared once).
 * - `accept` is one `INSERT … ON CONFLICT(event_key) DO NOTHING`; `receivedAt` comes from the message
 *   (now if missing). The message is stored as JSON and returned parsed.
 * - `markRunning` only affects rows still queued or running (a finished row is never restarted;
 *   use `requeue` first). The mark* methods and `requeue` take several keys in one transaction;
 *   unknown keys are ignored.
 */
export function createInboxRepo(db: Db): SyncRepo<InboxRepo> {
  const accept = db.prepare<[string, string, string, number, number]>(
    `INSERT INTO inbox (event_key, conversation_id, payload_json, state, attempts, received_at, updated_at)
     VALUES (?, ?, ?, 'queued', 0, ?, ?)
     ON CONFLICT(event_key) DO NOTHING`,
  );
  const running = db.prepare<[number, string]>(
    `UPDATE inbox SET state = 'running', attempts = attempts + 1, updated_at = ?
     WHERE event_key = ? AND state IN ('queued', 'running')`,
  );
  const setState = db.prepare<[string, number, string]>('UPDATE inbox SET state = ?, updated_at = ? WHERE event_key = ?');
  const unfinished = db.prepare<[], InboxSql>("SELECT * FROM inbox WHERE state IN ('queued', 'running') ORDER BY received_at, seq");
  const get = db.prepare<[string], InboxSql>('SELECT * FROM inbox WHERE event_key = ?');
  const counts = db.prepare<[], { state: string; n: number }>('SELECT state, COUNT(*) AS n FROM inbox GROUP BY state');

  const markRunning = db.transaction((keys: string[]) => {
    const now = Date.now();
    for (const k of keys) running.run(now, k);
  });
  const markState = db.transaction((state: InboxState, keys: string[]) => {
    const now = Date.now();
    for (const k of keys) setState.run(state, now, k);
  });

  return {
    accept(message) {
      const now = Date.now();
      const receivedAt = Number.isFinite(message.receivedAt) ? message.receivedAt : now;
      return accept.run(message.eventKey, message.conversationId, JSON.stringify(message), receivedAt, now).changes === 1;
    },
    markRunning(eventKeys) {
      markRunning(eventKeys);
    },
    markDone(eventKeys) {
      markState('done', eventKeys);
    },
    markFailed(eventKeys) {
      markState('failed', eventKeys);
    },
    requeue(eventKeys) {
      markState('queued', eventKeys);
    },
    unfinished() {
      return unfinished.all().map(toInbox);
    },
    get(eventKey) {
      const r = get.get(eventKey);
      return r && toInbox(r);
    },
    countByState() {
      const result: Record<InboxState, number> = { queued: 0, running: 0, done: 0, failed: 0 };
      for (const { state, n } of counts.all()) result[state as InboxState] = n;
      return result;
    },
  };
}
