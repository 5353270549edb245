/**
 * The `local_users` and `local_user_tokens` tables (migration 006): people who log in to the
 * local web chat and their tokens. Only hashes of tokens are stored (hex SHA-256, computed by
 * `src/platforms/local/login-tokens.ts`); a token itself never reaches the database.
 *
 * Token kinds: `link` (one-time login link, expires; consumed on use), `session` (the browser's
 * cookie, expires), `api` (an `Authorization: Bearer` token for scripts, no expiry). Removing a
 * user removes their tokens (foreign key with ON DELETE CASCADE; on SQLite `foreign_keys` is on in
 * `src/store/db.ts`). All times are ms since the epoch; `admin` is stored as 0/1 on both backends.
 */
import { sql } from 'kysely';
import { all, first, run, type SqlContext } from '../kysely.js';
import type { LocalTokenKind, LocalUserRow, LocalUsersRepo } from '../../types.js';

interface UserSql {
  name: string;
  admin: number;
  created_at: number;
}

const toUser = (r: UserSql): LocalUserRow => ({ name: r.name, admin: r.admin === 1, createdAt: r.created_at });

/** Creates the repository (nothing is prepared when the store opens: a read-only CLI may open an older schema without these tables). */
export function createLocalUsersRepo({ q }: SqlContext): LocalUsersRepo {
  const getUser = (name: string): Promise<UserSql | undefined> => first(q, sql<UserSql>`SELECT name, admin, created_at FROM local_users WHERE name = ${name}`);

  return {
    add: async (name, admin, now = Date.now()) =>
      (await run(q, sql`INSERT INTO local_users (name, admin, created_at) VALUES (${name}, ${admin ? 1 : 0}, ${now}) ON CONFLICT (name) DO NOTHING`)) === 1,
    get: async (name) => {
      const r = await getUser(name);
      return r ? toUser(r) : undefined;
    },
    list: async (now = Date.now()) =>
      (
        await all(
          q,
          sql<UserSql & { sessions: number; api: number; links: number }>`SELECT u.name, u.admin, u.created_at,
            (SELECT COUNT(*) FROM local_user_tokens t WHERE t.user_name = u.name AND t.kind = 'session' AND (t.expires_at IS NULL OR t.expires_at > ${now})) AS sessions,
            (SELECT COUNT(*) FROM local_user_tokens t WHERE t.user_name = u.name AND t.kind = 'api') AS api,
            (SELECT COUNT(*) FROM local_user_tokens t WHERE t.user_name = u.name AND t.kind = 'link' AND t.expires_at > ${now}) AS links
            FROM local_users u ORDER BY u.name`,
        )
      ).map((r) => ({ ...toUser(r), sessions: r.sessions, apiTokens: r.api, links: r.links })),
    remove: async (name) => (await run(q, sql`DELETE FROM local_users WHERE name = ${name}`)) === 1,
    count: async () => (await first(q, sql<{ n: number }>`SELECT COUNT(*) AS n FROM local_users`))?.n ?? 0,
    addToken: async ({ hash, user, kind, expiresAt, now = Date.now() }) => {
      await run(q, sql`INSERT INTO local_user_tokens (hash, user_name, kind, created_at, expires_at) VALUES (${hash}, ${user}, ${kind}, ${now}, ${expiresAt})`);
    },
    consumeLink: async (hash, now = Date.now()) => {
      // The compare-and-set: one DELETE … RETURNING (a concurrent second use waits for the row
      // lock on PostgreSQL, then finds no row). The user is read afterwards.
      const r = await first(
        q,
        sql<{ user_name: string }>`DELETE FROM local_user_tokens WHERE hash = ${hash} AND kind = 'link' AND expires_at > ${now} RETURNING user_name`,
      );
      if (!r) return undefined;
      const u = await getUser(r.user_name);
      return u ? toUser(u) : undefined;
    },
    findToken: async (hash, kinds, now = Date.now()) => {
      const r = await first(
        q,
        sql<UserSql & { kind: LocalTokenKind }>`SELECT u.name, u.admin, u.created_at, t.kind FROM local_user_tokens t JOIN local_users u ON u.name = t.user_name
            WHERE t.hash = ${hash} AND (t.expires_at IS NULL OR t.expires_at > ${now})`,
      );
      return r && kinds.includes(r.kind) ? toUser(r) : undefined;
    },
    deleteToken: async (hash) => (await run(q, sql`DELETE FROM local_user_tokens WHERE hash = ${hash}`)) === 1,
    // One statement (an empty `IN ()` is SQLite only: no kinds deletes nothing).
    revoke: async (user, kinds) =>
      kinds.length === 0 ? 0 : run(q, sql`DELETE FROM local_user_tokens WHERE user_name = ${user} AND kind IN (${sql.join([...new Set(kinds)])})`),
    purgeExpired: (now = Date.now()) => run(q, sql`DELETE FROM local_user_tokens WHERE expires_at IS NOT NULL AND expires_at <= ${now}`),
  };
}
