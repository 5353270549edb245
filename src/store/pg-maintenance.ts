/**
 * PostgreSQL's side of the `agentbridge db` maintenance commands and of `doctor`: a checkpoint
 * (rarely needed: the server checkpoints by itself), `VACUUM (ANALYZE)` of agentbridge's own
 * tables, and what server, database and role the store uses. Pruning is shared with SQLite
 * (maintenance.ts `prune`).
 */
import pg from 'pg';

/**
 * agentbridge's tables on PostgreSQL (those migrations/postgres creates, `response_checkpoints`
 * under its later name `posted_messages`, and the runner's `schema_migrations`). A test checks
 * this list against a migrated database.
 */
export const PG_TABLES = [
  'conversations',
  'session_entries',
  'posted_messages',
  'inbox',
  'outbox',
  'local_messages',
  'platform_state',
  'cron_jobs',
  'cron_runs',
  'scheduled_messages',
  'local_users',
  'local_user_tokens',
  'interactions',
  'approval_rules',
  'projects',
  'channel_projects',
  'conversation_worktrees',
  'local_uploads',
  'cluster_instances',
  'agent_session_files',
  'delivery_leases',
  'schema_migrations',
] as const;

/** Something to run queries on: a pool or a client. */
type Queryable = Pick<pg.Pool, 'query'>;

/**
 * `CHECKPOINT` when the connection's role may run it (a superuser, or from PostgreSQL 15 a member
 * of `pg_checkpoint`); otherwise nothing. Resolves to a sentence for the user saying which.
 * SQLite's checkpoint folds agentbridge's WAL file into the database; PostgreSQL's WAL belongs to
 * the server, which checkpoints on its own (`checkpoint_timeout`, `max_wal_size`), so this is never
 * required. Throws pg's error when the server cannot be reached or the checkpoint fails.
 */
export async function checkpointPostgres(pool: Queryable): Promise<string> {
  const { rows } = await pool.query<{ allowed: boolean }>(
    `SELECT (SELECT rolsuper FROM pg_roles WHERE rolname = current_user)
            OR (current_setting('server_version_num')::int >= 150000
                AND pg_has_role(current_user, 'pg_checkpoint', 'MEMBER')) AS allowed`,
  );
  if (!rows[0]?.allowed) {
    return 'checkpoint: not needed on PostgreSQL (the server checkpoints by itself); this role may not run CHECKPOINT, so nothing was done';
  }
  await pool.query('CHECKPOINT');
  return 'checkpoint: done (CHECKPOINT); on PostgreSQL it is not needed, the server also checkpoints by itself';
}

/**
 * `VACUUM (ANALYZE)` of agentbridge's tables ({@link PG_TABLES}) that exist in the connection's
 * current schema: frees dead rows' space for reuse inside the tables and refreshes the planner's
 * statistics (it does not shrink files; that would need `VACUUM FULL`, which locks the tables).
 * Runs outside a transaction (VACUUM cannot run in one). Resolves to a sentence for the user
 * (tables vacuumed, seconds taken). Throws pg's error, e.g. when the server cannot be reached;
 * a table the role does not own is skipped by the server with a warning.
 */
export async function vacuumPostgres(pool: Queryable): Promise<string> {
  const { rows } = await pool.query<{ name: string }>(
    `SELECT tablename AS name FROM pg_tables WHERE schemaname = current_schema() AND tablename = ANY($1::text[]) ORDER BY tablename`,
    [[...PG_TABLES]],
  );
  if (rows.length === 0) return 'vacuum: no agentbridge tables in this database; nothing to do';
  const started = Date.now();
  await pool.query(`VACUUM (ANALYZE) ${rows.map((r) => pg.escapeIdentifier(r.name)).join(', ')}`);
  const seconds = ((Date.now() - started) / 1000).toFixed(1);
  return `vacuum: VACUUM (ANALYZE) of ${rows.length} agentbridge tables in ${seconds} s (space of deleted rows is reused; the files do not shrink)`;
}

/** What {@link describePostgres} reports. */
export interface PostgresDescription {
  /** `SHOW server_version`, e.g. `15.8 (Debian 15.8-0+deb12u1)`. */
  version: string;
  /** `current_database()`. */
  database: string;
  /** `current_user`. */
  user: string;
}

/** The server version, database and role of the connection (for `doctor`). Throws pg's error when the server cannot be reached. */
export async function describePostgres(pool: Queryable): Promise<PostgresDescription> {
  const version = (await pool.query<{ server_version: string }>('SHOW server_version')).rows[0]?.server_version ?? 'unknown';
  const { rows } = await pool.query<{ database: string; user: string }>('SELECT current_database() AS database, current_user AS "user"');
  return { version, database: rows[0]?.database ?? 'unknown', user: rows[0]?.user ?? 'unknown' };
}
