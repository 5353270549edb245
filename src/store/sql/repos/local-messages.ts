/** The `local_messages` table: the message history of the built-in local web chat. */
import { sql } from 'kysely';
import { z } from 'zod';
import type { CardAction } from '../../../core/interactions.js';
import { all, first, type SqlContext } from '../kysely.js';
import type { LocalMessageFile, LocalMessageRow, LocalMessagesRepo, LocalMessageUpload, LocalReaction, LocalThreadSummary } from '../../types.js';

export interface LocalMessageSql {
  id: string;
  channel: string;
  thread: string;
  user: string;
  text: string;
  bot: number;
  ts: number;
  updated_at: number;
  /** JSON array of {@link CardAction}s, or NULL (migration 009). */
  actions_json: string | null;
  /** {@link LocalReaction} or NULL (migration 010). */
  reaction: string | null;
  /** JSON {@link LocalMessageFile}, or NULL (migration 012). */
  file_json: string | null;
  /** JSON array of {@link LocalMessageUpload}s, or NULL (migration 013). */
  files_json: string | null;
}

/**
 * The value of a JSON column this repository wrote, checked against `schema`; undefined for NULL
 * or a value that does not fit (a hand-edited database: read as none rather than failing every
 * read of the thread).
 */
function parseColumn<T>(json: string | null, schema: z.ZodType<T>): T | undefined {
  if (json === null) return undefined;
  let value: unknown;
  try {
    value = JSON.parse(json);
  } catch {
    return undefined;
  }
  const parsed = schema.safeParse(value);
  return parsed.success ? parsed.data : undefined;
}

const FileSchema = z.object({ name: z.string(), size: z.number(), type: z.string() });
const UploadsSchema = z.array(FileSchema.extend({ id: z.string() }));
const ActionsSchema = z.array(
  // An unknown style is dropped, not refused.
  z.object({ id: z.string(), label: z.string(), style: z.enum(['primary', 'danger']).optional().catch(undefined) }),
);

/** The stored file of a message, or undefined (NULL, or a value this repository did not write). */
function parseFile(json: string | null): LocalMessageFile | undefined {
  const f = parseColumn(json, FileSchema);
  return f && { name: f.name, size: f.size, type: f.type };
}

/** The files of a user's message, or undefined (NULL, empty, or a value this repository did not write). */
function parseFiles(json: string | null): LocalMessageUpload[] | undefined {
  const files = parseColumn(json, UploadsSchema)?.map(({ id, name, size, type }) => ({ id, name, size, type }));
  return files?.length ? files : undefined;
}

/** The column value for `files`: NULL for none, else the JSON array. */
export function filesJson(files: readonly LocalMessageUpload[] | undefined): string | null {
  return files && files.length > 0 ? JSON.stringify(files.map(({ id, name, size, type }) => ({ id, name, size, type }))) : null;
}

const REACTIONS: ReadonlySet<string> = new Set<LocalReaction>(['working', 'done', 'failed', 'steered']);

/** The column value for `actions`: NULL for none (absent or `[]`), else the JSON array. */
export function actionsJson(actions: readonly CardAction[] | undefined): string | null {
  return actions && actions.length > 0 ? JSON.stringify(actions.map(({ id, label, style }) => (style ? { id, label, style } : { id, label }))) : null;
}

/**
 * The buttons stored in `actions_json` (written only by this repository), or undefined for
 * none. A value that is not a JSON array of `{id, label}` objects (a hand-edited database)
 * counts as none rather than failing every read of the thread.
 */
function parseActions(json: string | null): CardAction[] | undefined {
  const actions = parseColumn(json, ActionsSchema)?.map(({ id, label, style }): CardAction => (style ? { id, label, style } : { id, label }));
  return actions?.length ? actions : undefined;
}

export function toLocalMessage(r: LocalMessageSql): LocalMessageRow {
  const row: LocalMessageRow = {
    id: r.id,
    channel: r.channel,
    thread: r.thread,
    user: r.user,
    text: r.text,
    bot: r.bot === 1,
    ts: r.ts,
    updatedAt: r.updated_at,
  };
  const actions = parseActions(r.actions_json);
  if (actions) row.actions = actions;
  // A value this repository did not write (a hand-edited database) counts as none.
  if (r.reaction !== null && REACTIONS.has(r.reaction)) row.reaction = r.reaction as LocalReaction;
  const file = parseFile(r.file_json ?? null);
  if (file) row.file = file;
  const files = parseFiles(r.files_json ?? null);
  if (files) row.files = files;
  return row;
}

/** Maximum length of a thread summary's text, in characters (code points). */
export const THREAD_TITLE_CHARS = 200;

/**
 * Creates the local messages repository.
 * - `insert` sets `updatedAt` to now; a known id throws the driver's error (SqliteError
 *   SQLITE_CONSTRAINT_PRIMARYKEY / pg DatabaseError 23505).
 * - `actions` are stored as JSON in `actions_json` (NULL for none); `update` changes them only
 *   when given (`[]` clears them).
 * - `files` (a user's attachments, migration 013) are stored as JSON in `files_json` (NULL for none).
 * - `setReaction` stores the mark of a message (migration 010) and moves `updated_at` forward.
 * - `list` orders by `ts`, then id. `threads` summarises each thread from its earliest message
 *   (`replies` = the other messages), newest `lastTs` first (then thread id, descending).
 *   `channels` and ids are ordered by byte order on both backends.
 * - Writes return their row with `… RETURNING *` (rows come back through better-sqlite3's
 *   `.all()`, which surfaces a failed commit; see db.ts).
 */
export function createLocalMessagesRepo({ q }: SqlContext): LocalMessagesRepo {
  return {
    async insert(row) {
      const file = row.file ? JSON.stringify({ name: row.file.name, size: row.file.size, type: row.file.type }) : null;
      const rows = await all(
        q,
        sql<LocalMessageSql>`INSERT INTO local_messages (id, channel, thread, "user", text, bot, ts, updated_at, actions_json, file_json, files_json)
                             VALUES (${row.id}, ${row.channel}, ${row.thread}, ${row.user}, ${row.text}, ${row.bot ? 1 : 0}, ${row.ts}, ${Date.now()},
                                     ${actionsJson(row.actions)}, ${file}, ${filesJson(row.files)})
                             RETURNING *`,
      );
      return toLocalMessage(rows[0]!);
    },
    async update(id, text, actions) {
      const setActions = actions === undefined ? sql`` : sql`, actions_json = ${actionsJson(actions)}`;
      const r = await first(
        q,
        sql<LocalMessageSql>`UPDATE local_messages SET text = ${text}, updated_at = ${Date.now()} ${setActions} WHERE id = ${id} RETURNING *`,
      );
      return r && toLocalMessage(r);
    },
    async setReaction(id, reaction) {
      // updated_at = max(now, updated_at + 1), written without SQLite's two-argument max().
      const now = Date.now();
      const r = await first(
        q,
        sql<LocalMessageSql>`UPDATE local_messages
                             SET reaction = ${reaction},
                                 updated_at = CASE WHEN updated_at + 1 > CAST(${now} AS BIGINT) THEN updated_at + 1 ELSE CAST(${now} AS BIGINT) END
                             WHERE id = ${id}
                             RETURNING *`,
      );
      return r && toLocalMessage(r);
    },
    async get(id) {
      const r = await first(q, sql<LocalMessageSql>`SELECT * FROM local_messages WHERE id = ${id}`);
      return r && toLocalMessage(r);
    },
    async list(channel, thread) {
      return (await all(q, sql<LocalMessageSql>`SELECT * FROM local_messages WHERE channel = ${channel} AND thread = ${thread} ORDER BY ts, id`)).map(
        toLocalMessage,
      );
    },
    async threads(channel, limit = 100): Promise<LocalThreadSummary[]> {
      const rows = await all(
        q,
        sql<{ thread: string; user: string; text: string; ts: number; replies: number; last_ts: number }>`
          SELECT t.thread, f."user" AS "user", substr(f.text, 1, ${sql.lit(THREAD_TITLE_CHARS)}) AS text, f.ts,
                 t.n - 1 AS replies, t.last_ts
          FROM (SELECT channel, thread, COUNT(*) AS n, MAX(ts) AS last_ts
                FROM local_messages WHERE channel = ${channel} GROUP BY channel, thread) AS t
          JOIN local_messages AS f ON f.id = (
            SELECT id FROM local_messages
            WHERE channel = t.channel AND thread = t.thread ORDER BY ts, id LIMIT 1)
          ORDER BY t.last_ts DESC, t.thread DESC
          LIMIT ${limit}`,
      );
      return rows.map((r) => ({
        thread: r.thread,
        user: r.user,
        text: r.text,
        ts: r.ts,
        replies: r.replies,
        lastTs: r.last_ts,
      }));
    },
    async channels() {
      return (await all(q, sql<{ channel: string }>`SELECT DISTINCT channel FROM local_messages ORDER BY channel`)).map((r) => r.channel);
    },
  };
}
