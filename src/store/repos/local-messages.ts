/** The `local_messages` table: the message history of the built-in local web chat. */
import type { Db } from '../db.js';
import type { LocalMessageRow, LocalMessagesRepo, LocalThreadSummary } from '../types.js';

interface LocalMessageSql {
  id: string;
  channel: string;
  thread: string;
  user: string;
  text: string;
  bot: number;
  ts: number;
  updated_at: number;
}

function toLocalMessage(r: LocalMessageSql): LocalMessageRow {
  return {
    id: r.id,
    channel: r.channel,
    thread: r.thread,
    user: r.user,
    text: r.text,
    bot: r.bot === 1,
    ts: r.ts,
    updatedAt: r.updated_at,
  };
}

/** Maximum length of a thread summary's text, in characters (code points). */
export const THREAD_TITLE_CHARS = 200;

/**
 * Creates the local messages repository on `db` (statements prepared once).
 * - `insert` sets `updatedAt` to now; a known id throws `SqliteError` SQLITE_CONSTRAINT_PRIMARYKEY.
 * - `list` orders by `ts`, then id. `threads` summarises each thread from its earliest message
 *   (`replies` = the other messages), newest `lastTs` first.
 */
export function createLocalMessagesRepo(db: Db): LocalMessagesRepo {
  const insert = db.prepare<[Record<string, string | number>], LocalMessageSql>(
    `INSERT INTO local_messages (id, channel, thread, "user", text, bot, ts, updated_at)
     VALUES (@id, @channel, @thread, @user, @text, @bot, @ts, @now)
     RETURNING *`,
  );
  const update = db.prepare<[string, number, string], LocalMessageSql>('UPDATE local_messages SET text = ?, updated_at = ? WHERE id = ? RETURNING *');
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
      const r = insert.get({
        id: row.id,
        channel: row.channel,
        thread: row.thread,
        user: row.user,
        text: row.text,
        bot: row.bot ? 1 : 0,
        ts: row.ts,
        now: Date.now(),
      });
      return toLocalMessage(r!);
    },
    update(id, text) {
      const r = update.get(text, Date.now(), id);
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
