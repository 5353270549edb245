/** The `session_entries` table: the transcript of a conversation (user, assistant and system rows). */
import type { SyncRepo } from '../sync-repo.js';
import type { Db } from '../db.js';
import type { EntriesRepo } from '../types.js';
import { toEntry, type EntrySql } from '../sql/repos/entries.js';

/**
 * Creates the entries repository on `db` (statements prepared once).
 * - `append` requires the conversation row to exist (foreign key; throws `SqliteError`
 *   SQLITE_CONSTRAINT_FOREIGNKEY otherwise — call `conversations.ensure` first). `createdAt` defaults to now.
 * - `list` returns entries oldest first; with `limit`, the newest `limit` entries (below `beforeId`
 *   if given), still oldest first — page backwards by passing the first returned id as `beforeId`.
 */
export function createEntriesRepo(db: Db): SyncRepo<EntriesRepo> {
  const insert = db.prepare<[Record<string, string | number | null>], EntrySql>(
    `INSERT INTO session_entries (conversation_id, role, author, text, agent, model, usage_json, cost_usd, created_at)
     VALUES (@conversationId, @role, @author, @text, @agent, @model, @usageJson, @costUsd, @createdAt)
     RETURNING *`,
  );
  const list = db.prepare<[string, number, number], EntrySql>(
    `SELECT * FROM (
       SELECT * FROM session_entries WHERE conversation_id = ? AND id < ? ORDER BY id DESC LIMIT ?
     ) ORDER BY id`,
  );
  const get = db.prepare<[number], EntrySql>('SELECT * FROM session_entries WHERE id = ?');
  const removeUncommitted = db.prepare<[string, string]>(
    `DELETE FROM session_entries WHERE conversation_id = ? AND role = 'user' AND id > COALESCE(
       (SELECT MAX(id) FROM session_entries WHERE conversation_id = ? AND role <> 'user'), 0)`,
  );
  const authors = db.prepare<[string, number], { author: string }>(
    "SELECT DISTINCT author FROM session_entries WHERE conversation_id = ? AND role = 'user' AND author IS NOT NULL LIMIT ?",
  );

  return {
    append(e) {
      const row = insert.all({
        conversationId: e.conversationId,
        role: e.role,
        author: e.author,
        text: e.text,
        agent: e.agent,
        model: e.model,
        usageJson: e.usage === null || e.usage === undefined ? null : JSON.stringify(e.usage),
        costUsd: e.costUsd,
        createdAt: e.createdAt ?? Date.now(),
      })[0];
      return toEntry(row!);
    },
    list(conversationId, opts = {}) {
      return list.all(conversationId, opts.beforeId ?? Number.MAX_SAFE_INTEGER, opts.limit ?? -1).map(toEntry);
    },
    removeUncommitted(conversationId) {
      return removeUncommitted.run(conversationId, conversationId).changes;
    },
    authors(conversationId, limit = 2) {
      return authors.all(conversationId, limit).map((r) => r.author);
    },
    get(id) {
      const r = get.get(id);
      return r && toEntry(r);
    },
  };
}
