/** The `cron_runs` table: run history of cron jobs, queued retries and run-now requests (migration 003). */
import { sql } from 'kysely';
import type { CronRun, CronRunKind, CronRunStatus } from '../../../core/schedule.js';
import { all, first, run, type SqlContext } from '../kysely.js';
import type { CronRunPatch, CronRunsRepo } from '../../types.js';

interface CronRunSql {
  id: number;
  job_id: string;
  scheduled_for: number;
  attempt: number;
  kind: string;
  status: string;
  due_at: number | null;
  conversation_id: string | null;
  event_key: string | null;
  started_at: number | null;
  ended_at: number | null;
  error: string | null;
  posted_key: string | null;
  created_at: number;
}

function toRun(r: CronRunSql): CronRun {
  return {
    id: r.id,
    jobId: r.job_id,
    scheduledFor: r.scheduled_for,
    attempt: r.attempt,
    kind: r.kind as CronRunKind,
    status: r.status as CronRunStatus,
    dueAt: r.due_at,
    conversationId: r.conversation_id,
    eventKey: r.event_key,
    startedAt: r.started_at,
    endedAt: r.ended_at,
    error: r.error,
    postedKey: r.posted_key,
  };
}

/** Patchable fields → column names. */
const COLUMNS: Record<keyof CronRunPatch, string> = {
  status: 'status',
  dueAt: 'due_at',
  conversationId: 'conversation_id',
  eventKey: 'event_key',
  startedAt: 'started_at',
  endedAt: 'ended_at',
  error: 'error',
  postedKey: 'posted_key',
};

/** `col = value` for each field of `patch` given with a value other than undefined. */
function setsOf(patch: CronRunPatch) {
  return (Object.keys(patch) as Array<keyof CronRunPatch>)
    .filter((k) => patch[k] !== undefined && Object.hasOwn(COLUMNS, k))
    .map((k) => sql`${sql.ref(COLUMNS[k])} = ${patch[k]}`);
}

/**
 * Creates the cron runs repository.
 * `insert` ignores a second run with the same (job, scheduledFor, attempt) and returns undefined
 * (`ON CONFLICT (job_id, scheduled_for, attempt) DO NOTHING`); the job must exist (foreign key;
 * throws the driver's error: SqliteError / pg DatabaseError). `transition` is one
 * `UPDATE … WHERE id = ? AND status = ?` (a compare-and-set, also under PostgreSQL's READ
 * COMMITTED: a concurrent second call waits for the first's row lock, then no longer matches).
 * `listForJob` with a negative `limit` returns every run (as SQLite's `LIMIT -1` did).
 */
export function createCronRunsRepo({ q }: SqlContext): CronRunsRepo {
  const get = (id: number): Promise<CronRunSql | undefined> => first(q, sql<CronRunSql>`SELECT * FROM cron_runs WHERE id = ${id}`);

  return {
    async insert(r) {
      const row = await first(
        q,
        sql<CronRunSql>`INSERT INTO cron_runs (job_id, scheduled_for, attempt, kind, status, due_at, conversation_id, event_key,
              started_at, ended_at, error, posted_key, created_at)
            VALUES (${r.jobId}, ${r.scheduledFor}, ${r.attempt}, ${r.kind ?? 'schedule'}, ${r.status}, ${r.dueAt ?? null},
              ${r.conversationId ?? null}, ${r.eventKey ?? null}, ${r.startedAt}, ${r.endedAt}, ${r.error}, ${r.postedKey}, ${Date.now()})
            ON CONFLICT (job_id, scheduled_for, attempt) DO NOTHING
            RETURNING *`,
      );
      return row && toRun(row);
    },
    async get(id) {
      const r = await get(id);
      return r && toRun(r);
    },
    async listForJob(jobId, limit = 50) {
      const cap = limit < 0 ? sql`` : sql`LIMIT ${limit}`;
      return (await all(q, sql<CronRunSql>`SELECT * FROM cron_runs WHERE job_id = ${jobId} ORDER BY id DESC ${cap}`)).map(toRun);
    },
    async update(id, patch) {
      const sets = setsOf(patch);
      const r = sets.length === 0 ? await get(id) : await first(q, sql<CronRunSql>`UPDATE cron_runs SET ${sql.join(sets)} WHERE id = ${id} RETURNING *`);
      return r && toRun(r);
    },
    async transition(id, from, patch) {
      const sets = setsOf(patch);
      if (sets.length === 0) return (await get(id))?.status === from;
      return (await run(q, sql`UPDATE cron_runs SET ${sql.join(sets)} WHERE id = ${id} AND status = ${from}`)) > 0;
    },
    async withStatus(status, jobId) {
      const rows =
        jobId === undefined
          ? await all(q, sql<CronRunSql>`SELECT * FROM cron_runs WHERE status = ${status} ORDER BY id`)
          : await all(q, sql<CronRunSql>`SELECT * FROM cron_runs WHERE status = ${status} AND job_id = ${jobId} ORDER BY id`);
      return rows.map(toRun);
    },
    async runningIn(conversationId) {
      return (await all(q, sql<CronRunSql>`SELECT * FROM cron_runs WHERE conversation_id = ${conversationId} AND status = 'running' ORDER BY id`)).map(toRun);
    },
    async dueQueued(now) {
      return (await all(q, sql<CronRunSql>`SELECT * FROM cron_runs WHERE status = 'queued' AND due_at <= ${now} ORDER BY due_at, id`)).map(toRun);
    },
    async nextQueuedDue() {
      return (await first(q, sql<{ t: number | null }>`SELECT MIN(due_at) AS t FROM cron_runs WHERE status = 'queued'`))?.t ?? null;
    },
  };
}
