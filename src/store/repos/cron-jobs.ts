/** The `cron_jobs` table: recurring prompts of the scheduler (migration 003). */
import type { AgentName } from '../../core/agents.js';
import type { SyncRepo } from '../sync-repo.js';
import type { CronJob, CronSessionMode, CronTarget, Schedule } from '../../core/schedule.js';
import type { Db } from '../db.js';
import type { CronJobsRepo } from '../types.js';

interface CronJobSql {
  id: string;
  name: string;
  schedule_json: string;
  schedule_text: string;
  target_json: string;
  prompt: string;
  agent: string | null;
  model: string | null;
  session_mode: string;
  enabled: number;
  created_by: string;
  consecutive_failures: number;
  next_run_at: number | null;
  last_run_at: number | null;
  created_at: number;
  updated_at: number;
}

function toJob(r: CronJobSql): CronJob {
  return {
    id: r.id,
    name: r.name,
    schedule: JSON.parse(r.schedule_json) as Schedule,
    scheduleText: r.schedule_text,
    target: JSON.parse(r.target_json) as CronTarget,
    prompt: r.prompt,
    ...(r.agent ? { agent: r.agent as AgentName } : {}),
    ...(r.model ? { model: r.model } : {}),
    sessionMode: r.session_mode as CronSessionMode,
    enabled: r.enabled === 1,
    createdBy: r.created_by,
    consecutiveFailures: r.consecutive_failures,
    nextRunAt: r.next_run_at,
    lastRunAt: r.last_run_at,
    createdAt: r.created_at,
    updatedAt: r.updated_at,
  };
}

/** Memoises a statement factory: statements are prepared on first use, so opening a store never fails on these tables. */
export function lazy<T>(make: () => T): () => T {
  let value: T | undefined;
  return () => (value ??= make());
}

/**
 * Creates the cron jobs repository on `db`. Statements are prepared on first use (a readonly
 * store of a database from before migration 003 still opens; using this repo then throws).
 */
export function createCronJobsRepo(db: Db): SyncRepo<CronJobsRepo> {
  const s = {
    insert: lazy(() =>
      db.prepare<[Record<string, string | number | null>]>(
        `INSERT INTO cron_jobs (id, name, schedule_json, schedule_text, target_json, prompt, agent, model, session_mode,
           enabled, created_by, consecutive_failures, next_run_at, last_run_at, created_at, updated_at)
         VALUES (@id, @name, @scheduleJson, @scheduleText, @targetJson, @prompt, @agent, @model, @sessionMode,
           @enabled, @createdBy, @consecutiveFailures, @nextRunAt, @lastRunAt, @now, @now)`,
      ),
    ),
    get: lazy(() => db.prepare<[string], CronJobSql>('SELECT * FROM cron_jobs WHERE id = ?')),
    byName: lazy(() => db.prepare<[string], CronJobSql>('SELECT * FROM cron_jobs WHERE name = ?')),
    list: lazy(() => db.prepare<[], CronJobSql>('SELECT * FROM cron_jobs ORDER BY name')),
    update: lazy(() =>
      db.prepare<[Record<string, number | null | string>]>(
        `UPDATE cron_jobs SET
           enabled              = CASE WHEN @setEnabled THEN @enabled ELSE enabled END,
           consecutive_failures = CASE WHEN @setFailures THEN @failures ELSE consecutive_failures END,
           next_run_at          = CASE WHEN @setNext THEN @next ELSE next_run_at END,
           last_run_at          = CASE WHEN @setLast THEN @last ELSE last_run_at END,
           updated_at           = @now
         WHERE id = @id`,
      ),
    ),
    delete: lazy(() => db.prepare<[string]>('DELETE FROM cron_jobs WHERE id = ?')),
    due: lazy(() =>
      db.prepare<[number], CronJobSql>('SELECT * FROM cron_jobs WHERE enabled = 1 AND next_run_at IS NOT NULL AND next_run_at <= ? ORDER BY next_run_at, id'),
    ),
    nextDue: lazy(() => db.prepare<[], { t: number | null }>('SELECT MIN(next_run_at) AS t FROM cron_jobs WHERE enabled = 1 AND next_run_at IS NOT NULL')),
  };

  return {
    insert(job) {
      s.insert().run({
        id: job.id,
        name: job.name,
        scheduleJson: JSON.stringify(job.schedule),
        scheduleText: job.scheduleText,
        targetJson: JSON.stringify(job.target),
        prompt: job.prompt,
        agent: job.agent ?? null,
        model: job.model ?? null,
        sessionMode: job.sessionMode,
        enabled: job.enabled ? 1 : 0,
        createdBy: job.createdBy,
        consecutiveFailures: job.consecutiveFailures,
        nextRunAt: job.nextRunAt,
        lastRunAt: job.lastRunAt,
        now: Date.now(),
      });
      return toJob(s.get().get(job.id)!);
    },
    get(id) {
      const r = s.get().get(id);
      return r && toJob(r);
    },
    getByName(name) {
      const r = s.byName().get(name);
      return r && toJob(r);
    },
    list() {
      return s.list().all().map(toJob);
    },
    update(id, patch) {
      // A field is set when present and not undefined (null clears nextRunAt/lastRunAt).
      const has = (k: keyof typeof patch): number => (Object.hasOwn(patch, k) && patch[k] !== undefined ? 1 : 0);
      s.update().run({
        id,
        now: Date.now(),
        setEnabled: has('enabled'),
        enabled: patch.enabled ? 1 : 0,
        setFailures: has('consecutiveFailures'),
        failures: patch.consecutiveFailures ?? 0,
        setNext: has('nextRunAt'),
        next: patch.nextRunAt ?? null,
        setLast: has('lastRunAt'),
        last: patch.lastRunAt ?? null,
      });
      const r = s.get().get(id);
      return r && toJob(r);
    },
    delete(id) {
      return s.delete().run(id).changes > 0;
    },
    due(now) {
      return s.due().all(now).map(toJob);
    },
    nextDue() {
      return s.nextDue().get()?.t ?? null;
    },
  };
}
