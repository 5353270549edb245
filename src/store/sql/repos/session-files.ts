/**
 * The `agent_session_files` table (migration 014): an agent CLI's own session files, saved after a
 * turn so that a turn on another worker can resume the agent session (src/cluster/session-files.ts).
 * Rows carry the runner's symbolic root name and a path relative to it, never a host path.
 */
import { sql } from 'kysely';
import { all, atomically, run, type SqlContext } from '../kysely.js';
import type { SessionFileRow, SessionFilesRepo } from '../../types.js';

interface FileSql {
  conversation_id: string;
  agent: string;
  session_id: string;
  root: string;
  path: string;
  content: string;
  size: number;
  updated_at: number;
}

/**
 * Creates the repository. `save` deletes the conversation+agent's rows and inserts the new set in
 * one transaction (the caller's when it runs in one); an insert that meets a row written by a
 * concurrent save updates it (`ON CONFLICT … DO UPDATE`), so two saves never fail each other.
 */
export function createSessionFilesRepo({ q }: SqlContext): SessionFilesRepo {
  return {
    async save(conversationId, agent, sessionId, files) {
      const now = Date.now();
      await atomically(q, async (t) => {
        await run(t, sql`DELETE FROM agent_session_files WHERE conversation_id = ${conversationId} AND agent = ${agent}`);
        for (const f of files) {
          await run(
            t,
            sql`INSERT INTO agent_session_files (conversation_id, agent, session_id, root, path, content, size, updated_at)
                VALUES (${conversationId}, ${agent}, ${sessionId}, ${f.root}, ${f.path}, ${f.content}, ${Buffer.byteLength(f.content, 'utf8')}, ${now})
                ON CONFLICT (conversation_id, agent, root, path) DO UPDATE SET
                  session_id = excluded.session_id, content = excluded.content, size = excluded.size, updated_at = excluded.updated_at`,
          );
        }
      });
    },
    async load(conversationId, agent): Promise<SessionFileRow[]> {
      const rows = await all(
        q,
        sql<FileSql>`SELECT * FROM agent_session_files WHERE conversation_id = ${conversationId} AND agent = ${agent} ORDER BY root, path`,
      );
      return rows.map((r) => ({
        conversationId: r.conversation_id,
        agent: r.agent,
        sessionId: r.session_id,
        root: r.root,
        path: r.path,
        content: r.content,
        size: r.size,
        updatedAt: r.updated_at,
      }));
    },
    deleteFor: (conversationId) => run(q, sql`DELETE FROM agent_session_files WHERE conversation_id = ${conversationId}`),
  };
}
