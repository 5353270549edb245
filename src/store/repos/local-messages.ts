/** The `local_messages` table: the message history of the built-in local web chat. */
import type { SyncRepo } from '../sync-repo.js';
import type { Db } from '../db.js';
import type { LocalMessagesRepo, LocalThreadSummary } from '../types.js';
import { filesJson, actionsJson, toLocalMessage, THREAD_TITLE_CHARS, type LocalMessageSql } from '../sql/repos/local-messages.js';

/**
 * Creates the local messages repository on `db` (statements prepared once).
 * - `insert` sets `updatedAt` to now; a known id throws `SqliteError` SQLITE_CONSTRAINT_PRIMARYKEY.
 * - `actions` are stored as JSON in `actions_json` (NULL for none); `update` changes them only
 *   when given (`[]` clears them).
 * - `files` (a user's attachments, migration 013) are stored as JSON in `files_json` (NULL for none).
 * - `setReaction` stores the mark of a message (migration 010) and moves `updated_at` forward.
 * - `list` orders by `ts`, then id. `threads` summarises each thread from its earliest message
 *   (`replies` = the other messages), newest `lastTs` first.
 */
export function createLocalMessagesRepo(db: Db): SyncRepo<LocalMessagesRepo> {
  const insert = db.prepare<[Record<string, string | number | null>], LocalMessageSql>(
    `INSERT INTO local_messages (id, channel, thread, "user", text, bot, ts, updated_at, actions_json, file_json, files_json)
     VALUES (@id, @channel, @thread, @user, @text, @bot, @ts, @now, @actions, @file, @files)
     RETURNING *`,
  );
  const update = db.prepare<[string, number, string], LocalMessageSql>('UPDATE local_messages SET text = ?, updated_at = ? WHERE id = ? RETURNING *');
  const updateWithActions = db.prepare<[string, number, string | null, string], LocalMessageSql>(
    'UPDATE local_messages SET text = ?, updated_at = ?, actions_json = ? WHERE id = ? RETURNING *',
  );
  const setReaction = db.prepare<[string, number, string], LocalMessageSql>(
    'UPDATE local_messages SET reaction = ?, updated_at = MAX(?, updated_at + 1) WHERE id = ? RETURNING *',
  );
  const get = db.prepare<[string], LocalMessageSql>('SELECT * FROM local_messages WHERE id = ?');
  const list = db.prepare<[string, string], LocalMessageSql>('SELECT * FROM local_messages WHERE channel = ? AND thread = ? ORDER BY ts, id');
  const threads = db.prepare<[string, number], { thread: string; user: string; text: string; ts: number; replies: number; last_ts: number }>(
    `SELECT t.thread, f."user" AS user, substr(f.text, 1, ${THREAD_TITLE_CHARS}) AS text, f.ts,
            t.n - 1 AS replies, t.last_ts
     FROM (SELECT channel, thread, COUNT(*) AS n, MAX(ts) AS last_ts
           FROM local_messages WHERE channel = ? GROUP BY thread) AS t
     JOIN local_messages AS f ON f.id = (
       SELECT id FROM local_messages
       WHERE channel = t.channel AND thread = t.thread ORDER BY ts, id LIMIT 1)
     ORDER BY t.last_ts DESC, t.thread DESC
     LIMIT ?`,
  );
  const channels = db.prepare<[], { channel: string }>('SELECT DISTINCT channel FROM local_messages ORDER BY channel');

  return {
    insert(row) {
      const r = insert.all({
        id: row.id,
        channel: row.channel,
        thread: row.thread,
        user: row.user,
        text: row.text,
        bot: row.bot ? 1 : 0,
        ts: row.ts,
        now: Date.now(),
        actions: actionsJson(row.actions),
        file: row.file ? JSON.stringify({ name: row.file.name, size: row.file.size, type: row.file.type }) : null,
        files: filesJson(row.files),
      })[0];
      return toLocalMessage(r!);
    },
    update(id, text, actions) {
      const r = (actions === undefined ? update.all(text, Date.now(), id) : updateWithActions.all(text, Date.now(), actionsJson(actions), id))[0];
      return r && toLocalMessage(r);
    },
    setReaction(id, reaction) {
      const r = setReaction.all(reaction, Date.now(), id)[0];
      return r && toLocalMessage(r);
    },
    get(id) {
      const r = get.get(id);
      return r && toLocalMessage(r);
    },
    list(channel, thread) {
      return list.all(channel, thread).map(toLocalMessage);
    },
    threads(channel, limit = 100): LocalThreadSummary[] {
      return threads.all(channel, limit).map((r) => ({
        thread: r.thread,
        user: r.user,
        text: r.text,
        ts: r.ts,
        replies: r.replies,
        lastTs: r.last_ts,
      }));
    },
    channels() {
      return channels.all().map((r) => r.channel);
    },
  };
}
