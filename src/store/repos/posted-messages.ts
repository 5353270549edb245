/**
 * The `posted_messages` table: every message the bot posted, keyed by platform message
 * (`postedMessageKey`), with its kind — for thread seeding, recognising the bot's own messages
 * and finding a cut turn's progress message at recovery.
 */
import type { PostedMessageKind } from '../../core/ids.js';
import type { SyncRepo } from '../sync-repo.js';
import type { Db } from '../db.js';
import type { PostedMessagesRepo } from '../types.js';
import { toPostedMessage, type PostedMessageSql } from '../sql/repos/posted-messages.js';

/**
 * Creates the posted-messages repository on `db` (statements prepared once).
 * - `record` upserts: recording a known key replaces its fields (a progress message edited into
 *   the answer becomes an `answer`) but keeps the first `createdAt`. The conversation must exist
 *   (foreign key; throws `SqliteError` SQLITE_CONSTRAINT_FOREIGNKEY).
 * - `listForConversation` returns oldest first.
 */
export function createPostedMessagesRepo(db: Db): SyncRepo<PostedMessagesRepo> {
  const record = db.prepare<[Record<string, string | number | null>]>(
    `INSERT INTO posted_messages (key, conversation_id, session_entry_id, platform_message_ref, assistant_text, kind, created_at)
     VALUES (@key, @conversationId, @sessionEntryId, @platformMessageRef, @assistantText, @kind, @now)
     ON CONFLICT(key) DO UPDATE SET
       conversation_id = excluded.conversation_id,
       session_entry_id = excluded.session_entry_id,
       platform_message_ref = excluded.platform_message_ref,
       assistant_text = excluded.assistant_text,
       kind = excluded.kind`,
  );
  const get = db.prepare<[string], PostedMessageSql>('SELECT * FROM posted_messages WHERE key = ?');
  const list = db.prepare<[string], PostedMessageSql>('SELECT * FROM posted_messages WHERE conversation_id = ? ORDER BY created_at, rowid');
  const listKind = db.prepare<[string, PostedMessageKind], PostedMessageSql>(
    'SELECT * FROM posted_messages WHERE conversation_id = ? AND kind = ? ORDER BY created_at, rowid',
  );

  return {
    record(c) {
      record.run({
        key: c.key,
        conversationId: c.conversationId,
        sessionEntryId: c.sessionEntryId,
        platformMessageRef: c.platformMessageRef,
        assistantText: c.assistantText,
        kind: c.kind,
        now: Date.now(),
      });
    },
    get(key) {
      const r = get.get(key);
      return r && toPostedMessage(r);
    },
    listForConversation(conversationId, kind) {
      return (kind === undefined ? list.all(conversationId) : listKind.all(conversationId, kind)).map(toPostedMessage);
    },
  };
}
