/** The `session_entries` table: the transcript of a conversation (user, assistant and system rows). */
import { sql } from 'kysely';
import type { AgentName, Usage } from '../../../core/agents.js';
import { all, first, run, type SqlContext } from '../kysely.js';
import type { EntriesRepo, EntryRole, SessionEntryRow } from '../../types.js';

export interface EntrySql {
  id: number;
  conversation_id: string;
  role: string;
  author: string | null;
  text: string;
  agent: string | null;
  model: string | null;
  usage_json: string | null;
  cost_usd: number | null;
  created_at: number;
}

export function toEntry(r: EntrySql): SessionEntryRow {
  return {
    id: r.id,
    conversationId: r.conversation_id,
    role: r.role as EntryRole,
    author: r.author,
    text: r.text,
    agent: r.agent as AgentName | null,
    model: r.model,
    usage: r.usage_json === null ? null : (JSON.parse(r.usage_json) as Usage),
    costUsd: r.cost_usd,
    createdAt: r.created_at,
  };
}

/**
 * Creates the entries repository.
 * - `append` requires the conversation row to exist (foreign key; throws the driver's error —
 *   SqliteError SQLITE_CONSTRAINT_FOREIGNKEY / pg DatabaseError 23503 — otherwise: call
 *   `conversations.ensure` first). `createdAt` defaults to now.
 * - `list` returns entries oldest first; with `limit`, the newest `limit` entries (below `beforeId`
 *   if given), still oldest first — page backwards by passing the first returned id as `beforeId`.
 *   A negative `limit` means none (all entries).
 * - `authors` returns the names in the order they first wrote.
 */
export function createEntriesRepo({ q }: SqlContext): EntriesRepo {
  return {
    async append(e) {
      const usageJson = e.usage === null || e.usage === undefined ? null : JSON.stringify(e.usage);
      const rows = await all(
        q,
        sql<EntrySql>`INSERT INTO session_entries (conversation_id, role, author, text, agent, model, usage_json, cost_usd, created_at)
                      VALUES (${e.conversationId}, ${e.role}, ${e.author}, ${e.text}, ${e.agent}, ${e.model}, ${usageJson}, ${e.costUsd},
                              ${e.createdAt ?? Date.now()})
                      RETURNING *`,
      );
      return toEntry(rows[0]!);
    },
    async list(conversationId, opts = {}) {
      const before = opts.beforeId === undefined ? sql`` : sql`AND id < ${opts.beforeId}`;
      const rows =
        // Without a limit (or a negative one, "all" as in SQLite): no LIMIT clause (PostgreSQL refuses `LIMIT -1`).
        opts.limit === undefined || opts.limit < 0
          ? await all(q, sql<EntrySql>`SELECT * FROM session_entries WHERE conversation_id = ${conversationId} ${before} ORDER BY id`)
          : await all(
              q,
              sql<EntrySql>`SELECT * FROM (
                              SELECT * FROM session_entries WHERE conversation_id = ${conversationId} ${before} ORDER BY id DESC LIMIT ${opts.limit}
                            ) AS newest ORDER BY id`,
            );
      return rows.map(toEntry);
    },
    removeUncommitted: (conversationId) =>
      run(
        q,
        sql`DELETE FROM session_entries WHERE conversation_id = ${conversationId} AND role = 'user' AND id > COALESCE(
              (SELECT MAX(id) FROM session_entries WHERE conversation_id = ${conversationId} AND role <> 'user'), 0)`,
      ),
    async authors(conversationId, limit = 2) {
      const rows = await all(
        q,
        sql<{ author: string }>`SELECT author FROM session_entries
                                WHERE conversation_id = ${conversationId} AND role = 'user' AND author IS NOT NULL
                                GROUP BY author ORDER BY MIN(id) LIMIT ${limit}`,
      );
      return rows.map((r) => r.author);
    },
    async get(id) {
      const r = await first(q, sql<EntrySql>`SELECT * FROM session_entries WHERE id = ${id}`);
      return r && toEntry(r);
    },
  };
}
