/** The `conversations` table: one row per conversation (channel or thread) with its agent settings and session id. */
import { sql, type RawBuilder } from 'kysely';
import type { PlatformName } from '../../../core/messages.js';
import type { AgentName, PermissionMode } from '../../../core/agents.js';
import { all, atomically, first, run, type SqlContext } from '../kysely.js';
import type { ConversationRow, ConversationsRepo } from '../../types.js';

interface ConversationSql {
  id: string;
  platform: string;
  channel: string;
  thread: string | null;
  agent: string | null;
  model: string | null;
  agent_session_id: string | null;
  agent_session_agent: string | null;
  agent_session_at: string | null;
  workdir: string | null;
  seeded_from: string | null;
  seeded_at: number | null;
  permission_mode: string | null;
  created_at: number;
  updated_at: number;
}

/** Maps a `conversations` row to its TS shape. */
export function toConversation(r: ConversationSql): ConversationRow {
  return {
    id: r.id,
    platform: r.platform as PlatformName,
    channel: r.channel,
    thread: r.thread,
    agent: r.agent as AgentName | null,
    model: r.model,
    agentSessionId: r.agent_session_id,
    agentSessionAgent: r.agent_session_agent as AgentName | null,
    agentSessionAt: r.agent_session_at ?? null,
    workdir: r.workdir,
    seededFrom: r.seeded_from,
    seededAt: r.seeded_at,
    permissionMode: (r.permission_mode ?? null) as PermissionMode | null,
    createdAt: r.created_at,
    updatedAt: r.updated_at,
  };
}

/** Tables holding rows of a conversation, deleted with it (children before the parent). */
export const CONVERSATION_CHILD_TABLES = [
  'posted_messages',
  'session_entries',
  'inbox',
  'outbox',
  'interactions',
  'approval_rules',
  'agent_session_files',
] as const;

/** Columns `update` can change, by patch field. */
const UPDATE_COLUMNS = {
  agent: 'agent',
  model: 'model',
  workdir: 'workdir',
  seededFrom: 'seeded_from',
  seededAt: 'seeded_at',
  permissionMode: 'permission_mode',
} as const;

/**
 * Creates the conversations repository.
 * `list` orders by most recently updated first (then by id, byte order on both backends);
 * `limit` omitted (or negative) = all rows. `update`/`setAgentSession` on an unknown id change nothing.
 * `update` changes the fields given with a value other than undefined (`permissionMode: undefined`
 * given explicitly clears it: null = the configured default), and always `updatedAt`.
 */
export function createConversationsRepo({ q }: SqlContext): ConversationsRepo {
  const get = (id: string): Promise<ConversationSql | undefined> => first(q, sql<ConversationSql>`SELECT * FROM conversations WHERE id = ${id}`);

  return {
    async get(id) {
      const r = await get(id);
      return r && toConversation(r);
    },
    async ensure(init) {
      const now = Date.now();
      await run(
        q,
        sql`INSERT INTO conversations (id, platform, channel, thread, workdir, created_at, updated_at)
            VALUES (${init.id}, ${init.platform}, ${init.channel}, ${init.thread ?? null}, ${init.workdir ?? null}, ${now}, ${now})
            ON CONFLICT (id) DO NOTHING`,
      );
      const r = await get(init.id);
      if (!r) throw new Error(`conversation ${init.id} was deleted while it was being created`);
      return toConversation(r);
    },
    async setAgentSession(id, agent, agentSessionId, at = null) {
      await run(
        q,
        sql`UPDATE conversations
            SET agent_session_agent = ${agent}, agent_session_id = ${agentSessionId},
                agent_session_at = ${agentSessionId === null ? null : at}, updated_at = ${Date.now()}
            WHERE id = ${id}`,
      );
    },
    async update(id, patch) {
      const sets: RawBuilder<unknown>[] = [];
      for (const [field, column] of Object.entries(UPDATE_COLUMNS) as [keyof typeof UPDATE_COLUMNS, string][]) {
        if (!Object.hasOwn(patch, field)) continue;
        const value = patch[field];
        if (value === undefined && field !== 'permissionMode') continue;
        sets.push(sql`${sql.ref(column)} = ${value ?? null}`);
      }
      sets.push(sql`updated_at = ${Date.now()}`);
      await run(q, sql`UPDATE conversations SET ${sql.join(sets)} WHERE id = ${id}`);
    },
    async list(opts = {}) {
      // No LIMIT for "all" (SQLite's `LIMIT -1` is an error in PostgreSQL); a negative limit also means all, as it did in SQLite.
      const limit = opts.limit === undefined || opts.limit < 0 ? sql`` : sql`LIMIT ${opts.limit}`;
      return (await all(q, sql<ConversationSql>`SELECT * FROM conversations ORDER BY updated_at DESC, id ${limit}`)).map(toConversation);
    },
    delete(id) {
      return atomically(q, async (t) => {
        for (const table of CONVERSATION_CHILD_TABLES) await run(t, sql`DELETE FROM ${sql.table(table)} WHERE conversation_id = ${id}`);
        return (await run(t, sql`DELETE FROM conversations WHERE id = ${id}`)) > 0;
      });
    },
  };
}
