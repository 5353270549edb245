/** The `cron_runs` table: run history of cron jobs, queued retries and run-now requests (migration 003). */
import type { CronRun, CronRunKind, CronRunStatus } from '../../core/schedule.js';
import type { SyncRepo } from '../sync-repo.js';
import type { Db } from '../db.js';
import type { CronRunPatch, CronRunsRepo } from '../types.js';
import { lazy } from './cron-jobs.js';

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

/**
 * Creates the cron runs repository on `db` (statements prepared on first use).
 * `insert` ignores a second run with the same (job, scheduledFor, attempt) and returns undefined;
 * the job must exist (foreign key; throws `SqliteError`).
 */
export function createCronRunsRepo(db: Db): SyncRepo<CronRunsRepo> {
  const s = {
    insert: lazy(() =>
      db.prepare<[Record<string, string | number | null>]>(
        `INSERT OR IGNORE INTO cron_runs (job_id, scheduled_for, attempt, kind, status, due_at, conversation_id, event_key,
           started_at, ended_at, error, posted_key, created_at)
         VALUES (@jobId, @scheduledFor, @attempt, @kind, @status, @dueAt, @conversationId, @eventKey,
           @startedAt, @endedAt, @error, @postedKey, @now)`,
      ),
    ),
    get: lazy(() => db.prepare<[number], CronRunSql>('SELECT * FROM cron_runs WHERE id = ?')),
    listForJob: lazy(() => db.prepare<[string, number], CronRunSql>('SELECT * FROM cron_runs WHERE job_id = ? ORDER BY id DESC LIMIT ?')),
    withStatus: lazy(() => db.prepare<[string], CronRunSql>('SELECT * FROM cron_runs WHERE status = ? ORDER BY id')),
    withStatusOfJob: lazy(() => db.prepare<[string, string], CronRunSql>('SELECT * FROM cron_runs WHERE status = ? AND job_id = ? ORDER BY id')),
    runningIn: lazy(() => db.prepare<[string], CronRunSql>("SELECT * FROM cron_runs WHERE conversation_id = ? AND status = 'running' ORDER BY id")),
    dueQueued: lazy(() => db.prepare<[number], CronRunSql>("SELECT * FROM cron_runs WHERE status = 'queued' AND due_at <= ? ORDER BY due_at, id")),
    nextQueued: lazy(() => db.prepare<[], { t: number | null }>("SELECT MIN(due_at) AS t FROM cron_runs WHERE status = 'queued'")),
  };
  /** One UPDATE per patch shape, cached by its column list. */
  const updates = new Map<string, ReturnType<Db['prepare']>>();
  const runUpdate = (id: number, patch: CronRunPatch, fromStatus?: CronRunStatus): number => {
    const keys = (Object.keys(patch) as Array<keyof CronRunPatch>).filter((k) => patch[k] !== undefined && k in COLUMNS);
    if (keys.length === 0) {
      const r = s.get().get(id);
      return r && (!fromStatus || r.status === fromStatus) ? 1 : 0;
    }
    const sig = `${keys.join(',')}|${fromStatus ? 1 : 0}`;
    let stmt = updates.get(sig);
    if (!stmt) {
      const sets = keys.map((k) => `${COLUMNS[k]} = @${k}`).join(', ');
      stmt = db.prepare(`UPDATE cron_runs SET ${sets} WHERE id = @id${fromStatus ? ' AND status = @fromStatus' : ''}`);
      updates.set(sig, stmt);
    }
    const params: Record<string, unknown> = { id };
    for (const k of keys) params[k] = patch[k];
    if (fromStatus) params.fromStatus = fromStatus;
    return stmt.run(params).changes;
  };

  return {
    insert(run) {
      const info = s.insert().run({
        jobId: run.jobId,
        scheduledFor: run.scheduledFor,
        attempt: run.attempt,
        kind: run.kind ?? 'schedule',
        status: run.status,
        dueAt: run.dueAt ?? null,
        conversationId: run.conversationId ?? null,
        eventKey: run.eventKey ?? null,
        startedAt: run.startedAt,
        endedAt: run.endedAt,
        error: run.error,
        postedKey: run.postedKey,
        now: Date.now(),
      });
      if (info.changes === 0) return undefined;
      return toRun(s.get().get(Number(info.lastInsertRowid))!);
    },
    get(id) {
      const r = s.get().get(id);
      return r && toRun(r);
    },
    listForJob(jobId, limit = 50) {
      return s.listForJob().all(jobId, limit).map(toRun);
    },
    update(id, patch) {
      runUpdate(id, patch);
      const r = s.get().get(id);
      return r && toRun(r);
    },
    transition(id, from, patch) {
      return runUpdate(id, patch, from) > 0;
    },
    withStatus(status, jobId) {
      return (jobId === undefined ? s.withStatus().all(status) : s.withStatusOfJob().all(status, jobId)).map(toRun);
    },
    runningIn(conversationId) {
      return s.runningIn().all(conversationId).map(toRun);
    },
    dueQueued(now) {
      return s.dueQueued().all(now).map(toRun);
    },
    nextQueuedDue() {
      return s.nextQueued().get()?.t ?? null;
    },
  };
}
