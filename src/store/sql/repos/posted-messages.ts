/**
 * The `posted_messages` table: every message the bot posted, keyed by platform message
 * (`postedMessageKey`), with its kind — for thread seeding, recognising the bot's own messages
 * and finding a cut turn's progress message at recovery.
 */
import { sql } from 'kysely';
import type { PostedMessageKind } from '../../../core/ids.js';
import { all, first, run, type SqlContext } from '../kysely.js';
import type { PostedMessageRow, PostedMessagesRepo } from '../../types.js';

export interface PostedMessageSql {
  key: string;
  conversation_id: string;
  session_entry_id: number | null;
  platform_message_ref: string;
  assistant_text: string;
  kind: PostedMessageKind;
  created_at: number;
}

export function toPostedMessage(r: PostedMessageSql): PostedMessageRow {
  return {
    key: r.key,
    conversationId: r.conversation_id,
    sessionEntryId: r.session_entry_id,
    platformMessageRef: r.platform_message_ref,
    assistantText: r.assistant_text,
    kind: r.kind,
    createdAt: r.created_at,
  };
}

/**
 * Creates the posted-messages repository.
 * - `record` upserts: recording a known key replaces its fields (a progress message edited into
 *   the answer becomes an `answer`) but keeps the first `createdAt` and its place in the order.
 *   The conversation must exist (foreign key; throws the driver's error — SqliteError
 *   SQLITE_CONSTRAINT_FOREIGNKEY / pg DatabaseError 23503).
 * - `listForConversation` returns oldest first (rows of the same millisecond in the order they
 *   were first recorded).
 */
export function createPostedMessagesRepo({ q }: SqlContext): PostedMessagesRepo {
  return {
    async record(c) {
      await run(
        q,
        sql`INSERT INTO posted_messages (key, conversation_id, session_entry_id, platform_message_ref, assistant_text, kind, created_at)
            VALUES (${c.key}, ${c.conversationId}, ${c.sessionEntryId}, ${c.platformMessageRef}, ${c.assistantText}, ${c.kind}, ${Date.now()})
            ON CONFLICT (key) DO UPDATE SET
              conversation_id = excluded.conversation_id,
              session_entry_id = excluded.session_entry_id,
              platform_message_ref = excluded.platform_message_ref,
              assistant_text = excluded.assistant_text,
              kind = excluded.kind`,
      );
    },
    async get(key) {
      const r = await first(q, sql<PostedMessageSql>`SELECT * FROM posted_messages WHERE key = ${key}`);
      return r && toPostedMessage(r);
    },
    async listForConversation(conversationId, kind) {
      const ofKind = kind === undefined ? sql`` : sql`AND kind = ${kind}`;
      // `rowid`: the insertion order of rows of the same millisecond (SQLite's implicit rowid; in
      // PostgreSQL an identity column of that name). An upsert keeps it on both.
      const rows = await all(
        q,
        sql<PostedMessageSql>`SELECT * FROM posted_messages WHERE conversation_id = ${conversationId} ${ofKind} ORDER BY created_at, rowid`,
      );
      return rows.map(toPostedMessage);
    },
  };
}
