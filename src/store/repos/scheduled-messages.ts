/** The `scheduled_messages` table: prompts that run later as turns of a conversation (migration 003). */
import type { ScheduledMessage } from '../../core/schedule.js';
import type { SyncRepo } from '../sync-repo.js';
import type { Db } from '../db.js';
import type { ScheduledMessagesRepo } from '../types.js';
import { lazy } from './cron-jobs.js';
import { toMessage, type ScheduledMessageSql } from '../sql/repos/scheduled-messages.js';

/**
 * Creates the scheduled messages repository on `db` (statements prepared on first use).
 * Every conversation-scoped method matches on the conversation id too, so an id of another
 * conversation changes nothing.
 */
export function createScheduledMessagesRepo(db: Db): SyncRepo<ScheduledMessagesRepo> {
  const s = {
    insert: lazy(() =>
      db.prepare<[ScheduledMessage]>(
        `INSERT INTO scheduled_messages (id, conversation_id, text, due_at, every_ms, created_by, created_at)
         VALUES (@id, @conversationId, @text, @dueAt, @everyMs, @createdBy, @createdAt)`,
      ),
    ),
    get: lazy(() => db.prepare<[string], ScheduledMessageSql>('SELECT * FROM scheduled_messages WHERE id = ?')),
    list: lazy(() => db.prepare<[string], ScheduledMessageSql>('SELECT * FROM scheduled_messages WHERE conversation_id = ? ORDER BY due_at, id')),
    count: lazy(() => db.prepare<[string], { n: number }>('SELECT COUNT(*) AS n FROM scheduled_messages WHERE conversation_id = ?')),
    delete: lazy(() => db.prepare<[string, string]>('DELETE FROM scheduled_messages WHERE conversation_id = ? AND id = ?')),
    deleteAll: lazy(() => db.prepare<[string]>('DELETE FROM scheduled_messages WHERE conversation_id = ?')),
    deleteIfDue: lazy(() => db.prepare<[string, number]>('DELETE FROM scheduled_messages WHERE id = ? AND due_at = ?')),
    reschedule: lazy(() => db.prepare<[number, string, number]>('UPDATE scheduled_messages SET due_at = ? WHERE id = ? AND due_at = ?')),
    due: lazy(() => db.prepare<[number], ScheduledMessageSql>('SELECT * FROM scheduled_messages WHERE due_at <= ? ORDER BY due_at, id')),
    nextDue: lazy(() => db.prepare<[], { t: number | null }>('SELECT MIN(due_at) AS t FROM scheduled_messages')),
  };

  return {
    insert(m) {
      s.insert().run(m);
      return toMessage(s.get().get(m.id)!);
    },
    get(id) {
      const r = s.get().get(id);
      return r && toMessage(r);
    },
    listForConversation(conversationId) {
      return s.list().all(conversationId).map(toMessage);
    },
    countForConversation(conversationId) {
      return s.count().get(conversationId)?.n ?? 0;
    },
    delete(conversationId, id) {
      return s.delete().run(conversationId, id).changes > 0;
    },
    deleteForConversation(conversationId) {
      return s.deleteAll().run(conversationId).changes;
    },
    deleteIfDue(id, dueAt) {
      return s.deleteIfDue().run(id, dueAt).changes > 0;
    },
    reschedule(id, from, to) {
      return s.reschedule().run(to, id, from).changes > 0;
    },
    due(now) {
      return s.due().all(now).map(toMessage);
    },
    nextDue() {
      return s.nextDue().get()?.t ?? null;
    },
  };
}
