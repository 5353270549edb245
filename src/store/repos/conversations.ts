/** The `conversations` table: one row per conversation (channel or thread) with its agent settings and session id. */
import type { PlatformName } from '../../core/messages.js';
import type { SyncRepo } from '../sync-repo.js';
import type { AgentName, PermissionMode } from '../../core/agents.js';
import type { Db } from '../db.js';
import type { ConversationRow, ConversationsRepo } from '../types.js';

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
export const CONVERSATION_CHILD_TABLES = ['posted_messages', 'session_entries', 'inbox', 'outbox', 'interactions', 'approval_rules'] as const;

/**
 * Creates the conversations repository on `db` (statements prepared once).
 * `list` orders by most recently updated first; `limit` omitted = all rows.
 * `update`/`setAgentSession` on an unknown id change nothing.
 */
export function createConversationsRepo(db: Db): SyncRepo<ConversationsRepo> {
  const get = db.prepare<[string], ConversationSql>('SELECT * FROM conversations WHERE id = ?');
  const insert = db.prepare<[{ id: string; platform: string; channel: string; thread: string | null; workdir: string | null; now: number }]>(
    `INSERT OR IGNORE INTO conversations (id, platform, channel, thread, workdir, created_at, updated_at)
     VALUES (@id, @platform, @channel, @thread, @workdir, @now, @now)`,
  );
  const setSession = db.prepare<[string | null, string | null, string | null, number, string]>(
    'UPDATE conversations SET agent_session_agent = ?, agent_session_id = ?, agent_session_at = ?, updated_at = ? WHERE id = ?',
  );
  // One statement for every patch shape: each column changes only when its flag is set.
  const update = db.prepare<[Record<string, string | number | null>]>(
    `UPDATE conversations SET
       agent       = CASE WHEN @setAgent THEN @agent ELSE agent END,
       model       = CASE WHEN @setModel THEN @model ELSE model END,
       workdir     = CASE WHEN @setWorkdir THEN @workdir ELSE workdir END,
       seeded_from = CASE WHEN @setSeededFrom THEN @seededFrom ELSE seeded_from END,
       seeded_at   = CASE WHEN @setSeededAt THEN @seededAt ELSE seeded_at END,
       permission_mode = CASE WHEN @setPermissionMode THEN @permissionMode ELSE permission_mode END,
       updated_at  = @now
     WHERE id = @id`,
  );
  const list = db.prepare<[number], ConversationSql>('SELECT * FROM conversations ORDER BY updated_at DESC, id LIMIT ?');
  const deleteChildren = CONVERSATION_CHILD_TABLES.map((t) => db.prepare<[string]>(`DELETE FROM ${t} WHERE conversation_id = ?`));
  const deleteOne = db.prepare<[string]>('DELETE FROM conversations WHERE id = ?');
  const remove = db.transaction((id: string): boolean => {
    for (const stmt of deleteChildren) stmt.run(id);
    return deleteOne.run(id).changes > 0;
  });

  return {
    get(id) {
      const r = get.get(id);
      return r && toConversation(r);
    },
    ensure(init) {
      insert.run({
        id: init.id,
        platform: init.platform,
        channel: init.channel,
        thread: init.thread ?? null,
        workdir: init.workdir ?? null,
        now: Date.now(),
      });
      return toConversation(get.get(init.id)!);
    },
    setAgentSession(id, agent, agentSessionId, at = null) {
      setSession.run(agent, agentSessionId, agentSessionId === null ? null : at, Date.now(), id);
    },
    update(id, patch) {
      const has = (k: keyof typeof patch): number => (Object.hasOwn(patch, k) && patch[k] !== undefined ? 1 : 0);
      update.run({
        id,
        now: Date.now(),
        setAgent: has('agent'),
        agent: patch.agent ?? null,
        setModel: has('model'),
        model: patch.model ?? null,
        setWorkdir: has('workdir'),
        workdir: patch.workdir ?? null,
        setSeededFrom: has('seededFrom'),
        seededFrom: patch.seededFrom ?? null,
        setSeededAt: has('seededAt'),
        seededAt: patch.seededAt ?? null,
        setPermissionMode: Object.hasOwn(patch, 'permissionMode') ? 1 : 0,
        permissionMode: patch.permissionMode ?? null,
      });
    },
    list(opts = {}) {
      return list.all(opts.limit ?? -1).map(toConversation);
    },
    delete(id) {
      return remove(id);
    },
  };
}
