/**
 * The `local_users` and `local_user_tokens` tables (migration 006): people who log in to the
 * local web chat and their tokens. Only hashes of tokens are stored (hex SHA-256, computed by
 * `src/platforms/local/login-tokens.ts`); a token itself never reaches the database.
 *
 * Token kinds: `link` (one-time login link, expires; consumed on use), `session` (the browser's
 * cookie, expires), `api` (an `Authorization: Bearer` token for scripts, no expiry). Removing a
 * user removes their tokens (foreign key with ON DELETE CASCADE; `foreign_keys` is on in
 * `src/store/db.ts`). All times are ms since the epoch.
 */
import type { Db } from '../db.js';
import type { SyncRepo } from '../sync-repo.js';

/** A person who can log in to the local chat; their chat id is `local:<name>`. */
export interface LocalUserRow {
  name: string;
  /** Admin for the chat commands (in addition to AGENTBRIDGE_ADMINS). */
  admin: boolean;
  createdAt: number;
}

/** A user with how many live tokens of each kind they hold (for `agentbridge users list`). */
export interface LocalUserSummary extends LocalUserRow {
  sessions: number;
  apiTokens: number;
  /** Unused, unexpired login links. */
  links: number;
}

export type LocalTokenKind = 'link' | 'session' | 'api';

export interface LocalUsersRepo {
  /** Adds a user; returns false (and changes nothing) when the name is taken. */
  add(name: string, admin: boolean, now?: number): Promise<boolean>;
  get(name: string): Promise<LocalUserRow | undefined>;
  /** Every user by name, with live token counts at `now`. */
  list(now?: number): Promise<LocalUserSummary[]>;
  /** Removes the user and all their tokens; false when unknown. */
  remove(name: string): Promise<boolean>;
  /** Number of users. */
  count(): Promise<number>;
  /**
   * Stores a token hash for `user`. `expiresAt` null = never.
   * @throws SqliteError SQLITE_CONSTRAINT_FOREIGNKEY for an unknown user.
   */
  addToken(t: { hash: string; user: string; kind: LocalTokenKind; expiresAt: number | null; now?: number }): Promise<void>;
  /**
   * Consumes a login link: deletes the unexpired `link` token with this hash in one statement
   * (`DELETE … RETURNING`, so two concurrent uses cannot both succeed) and returns its user, or
   * undefined when it is unknown, used or expired.
   */
  consumeLink(hash: string, now?: number): Promise<LocalUserRow | undefined>;
  /** The user of an unexpired token of one of `kinds`, or undefined. */
  findToken(hash: string, kinds: LocalTokenKind[], now?: number): Promise<LocalUserRow | undefined>;
  /** Deletes one token (logout); false when unknown. */
  deleteToken(hash: string): Promise<boolean>;
  /** Deletes a user's tokens of `kinds`; returns how many. */
  revoke(user: string, kinds: LocalTokenKind[]): Promise<number>;
  /** Deletes expired tokens; returns how many. */
  purgeExpired(now?: number): Promise<number>;
}

interface UserSql {
  name: string;
  admin: number;
  created_at: number;
}

const toUser = (r: UserSql): LocalUserRow => ({ name: r.name, admin: r.admin === 1, createdAt: r.created_at });

/** Creates the repository on `db` (statements prepared once, on first use). */
export function createLocalUsersRepo(db: Db): SyncRepo<LocalUsersRepo> {
  // Prepared on first use: a read-only CLI may open a database of an older schema without these tables.
  let prepared: ReturnType<typeof prepare> | undefined;
  const prepare = () => ({
    insertUser: db.prepare<[string, number, number]>('INSERT OR IGNORE INTO local_users (name, admin, created_at) VALUES (?, ?, ?)'),
    getUser: db.prepare<[string], UserSql>('SELECT name, admin, created_at FROM local_users WHERE name = ?'),
    listUsers: db.prepare<[{ now: number }], UserSql & { sessions: number; api: number; links: number }>(
      `SELECT u.name, u.admin, u.created_at,
       (SELECT COUNT(*) FROM local_user_tokens t WHERE t.user_name = u.name AND t.kind = 'session' AND (t.expires_at IS NULL OR t.expires_at > $now)) AS sessions,
       (SELECT COUNT(*) FROM local_user_tokens t WHERE t.user_name = u.name AND t.kind = 'api') AS api,
       (SELECT COUNT(*) FROM local_user_tokens t WHERE t.user_name = u.name AND t.kind = 'link' AND t.expires_at > $now) AS links
       FROM local_users u ORDER BY u.name`,
    ),
    deleteUser: db.prepare<[string]>('DELETE FROM local_users WHERE name = ?'),
    countUsers: db.prepare<[], { n: number }>('SELECT COUNT(*) AS n FROM local_users'),
    insertToken: db.prepare<[string, string, string, number, number | null]>(
      'INSERT INTO local_user_tokens (hash, user_name, kind, created_at, expires_at) VALUES (?, ?, ?, ?, ?)',
    ),
    consume: db.prepare<[string, number], { user_name: string }>(
      "DELETE FROM local_user_tokens WHERE hash = ? AND kind = 'link' AND expires_at > ? RETURNING user_name",
    ),
    find: db.prepare<[string, number], UserSql & { kind: LocalTokenKind }>(
      `SELECT u.name, u.admin, u.created_at, t.kind FROM local_user_tokens t JOIN local_users u ON u.name = t.user_name
       WHERE t.hash = ? AND (t.expires_at IS NULL OR t.expires_at > ?)`,
    ),
    deleteToken: db.prepare<[string]>('DELETE FROM local_user_tokens WHERE hash = ?'),
    revokeKind: db.prepare<[string, string]>('DELETE FROM local_user_tokens WHERE user_name = ? AND kind = ?'),
    purge: db.prepare<[number]>('DELETE FROM local_user_tokens WHERE expires_at IS NOT NULL AND expires_at <= ?'),
  });
  const st = () => (prepared ??= prepare());

  return {
    add: (name, admin, now = Date.now()) => st().insertUser.run(name, admin ? 1 : 0, now).changes === 1,
    get: (name) => {
      const r = st().getUser.get(name);
      return r ? toUser(r) : undefined;
    },
    list: (now = Date.now()) =>
      st()
        .listUsers.all({ now })
        .map((r) => ({ ...toUser(r), sessions: r.sessions, apiTokens: r.api, links: r.links })),
    remove: (name) => st().deleteUser.run(name).changes === 1,
    count: () => st().countUsers.get()!.n,
    addToken: ({ hash, user, kind, expiresAt, now = Date.now() }) => void st().insertToken.run(hash, user, kind, now, expiresAt),
    consumeLink: (hash, now = Date.now()) => {
      const r = st().consume.all(hash, now)[0];
      if (!r) return undefined;
      const u = st().getUser.get(r.user_name);
      return u ? toUser(u) : undefined;
    },
    findToken: (hash, kinds, now = Date.now()) => {
      const r = st().find.get(hash, now);
      return r && kinds.includes(r.kind) ? toUser(r) : undefined;
    },
    deleteToken: (hash) => st().deleteToken.run(hash).changes === 1,
    revoke: (user, kinds) => db.transaction(() => kinds.reduce((n, k) => n + st().revokeKind.run(user, k).changes, 0))(),
    purgeExpired: (now = Date.now()) => st().purge.run(now).changes,
  };
}
