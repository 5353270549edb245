/** The `scheduled_messages` table: prompts that run later as turns of a conversation (migration 003). */
import { sql } from 'kysely';
import type { ScheduledMessage } from '../../../core/schedule.js';
import { all, first, run, type SqlContext } from '../kysely.js';
import type { ScheduledMessagesRepo } from '../../types.js';

export interface ScheduledMessageSql {
  id: string;
  conversation_id: string;
  text: string;
  due_at: number;
  every_ms: number | null;
  created_by: string;
  created_at: number;
}

export function toMessage(r: ScheduledMessageSql): ScheduledMessage {
  return {
    id: r.id,
    conversationId: r.conversation_id,
    text: r.text,
    dueAt: r.due_at,
    everyMs: r.every_ms,
    createdBy: r.created_by,
    createdAt: r.created_at,
  };
}

/**
 * Creates the scheduled messages repository.
 * Every conversation-scoped method matches on the conversation id too, so an id of another
 * conversation changes nothing. `insert` of a message of an unknown conversation throws the
 * driver's error (SqliteError / pg DatabaseError: foreign key). `deleteIfDue` and `reschedule`
 * are compare-and-set statements on `due_at` (one `DELETE`/`UPDATE … WHERE id = ? AND due_at = ?`:
 * under PostgreSQL's READ COMMITTED a concurrent second call waits for the first's row lock, then
 * no longer matches).
 */
export function createScheduledMessagesRepo({ q }: SqlContext): ScheduledMessagesRepo {
  return {
    async insert(m) {
      const r = await first(
        q,
        sql<ScheduledMessageSql>`INSERT INTO scheduled_messages (id, conversation_id, text, due_at, every_ms, created_by, created_at)
            VALUES (${m.id}, ${m.conversationId}, ${m.text}, ${m.dueAt}, ${m.everyMs}, ${m.createdBy}, ${m.createdAt})
            RETURNING *`,
      );
      return toMessage(r!);
    },
    async get(id) {
      const r = await first(q, sql<ScheduledMessageSql>`SELECT * FROM scheduled_messages WHERE id = ${id}`);
      return r && toMessage(r);
    },
    async listForConversation(conversationId) {
      return (await all(q, sql<ScheduledMessageSql>`SELECT * FROM scheduled_messages WHERE conversation_id = ${conversationId} ORDER BY due_at, id`)).map(
        toMessage,
      );
    },
    async countForConversation(conversationId) {
      return (await first(q, sql<{ n: number }>`SELECT COUNT(*) AS n FROM scheduled_messages WHERE conversation_id = ${conversationId}`))?.n ?? 0;
    },
    async delete(conversationId, id) {
      return (await run(q, sql`DELETE FROM scheduled_messages WHERE conversation_id = ${conversationId} AND id = ${id}`)) > 0;
    },
    deleteForConversation(conversationId) {
      return run(q, sql`DELETE FROM scheduled_messages WHERE conversation_id = ${conversationId}`);
    },
    async deleteIfDue(id, dueAt) {
      return (await run(q, sql`DELETE FROM scheduled_messages WHERE id = ${id} AND due_at = ${dueAt}`)) > 0;
    },
    async reschedule(id, from, to) {
      return (await run(q, sql`UPDATE scheduled_messages SET due_at = ${to} WHERE id = ${id} AND due_at = ${from}`)) > 0;
    },
    async due(now) {
      return (await all(q, sql<ScheduledMessageSql>`SELECT * FROM scheduled_messages WHERE due_at <= ${now} ORDER BY due_at, id`)).map(toMessage);
    },
    async nextDue() {
      return (await first(q, sql<{ t: number | null }>`SELECT MIN(due_at) AS t FROM scheduled_messages`))?.t ?? null;
    },
  };
}
