/** The `cron_jobs` table: recurring prompts of the scheduler (migration 003). */
import { sql, type RawBuilder } from 'kysely';
import type { AgentName } from '../../../core/agents.js';
import type { CronJob, CronSessionMode, CronTarget, Schedule } from '../../../core/schedule.js';
import { all, first, run, type SqlContext } from '../kysely.js';
import type { CronJobsRepo } from '../../types.js';

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

/**
 * Creates the cron jobs repository. Nothing is prepared when the store opens (a readonly store of
 * a database from before migration 003 still opens; using this repo then throws). `enabled` is
 * stored as 0/1 on both backends; names are ordered by bytes (the PostgreSQL column is COLLATE "C").
 */
export function createCronJobsRepo({ q }: SqlContext): CronJobsRepo {
  const get = (id: string): Promise<CronJobSql | undefined> => first(q, sql<CronJobSql>`SELECT * FROM cron_jobs WHERE id = ${id}`);

  return {
    async insert(job) {
      const now = Date.now();
      const r = await first(
        q,
        sql<CronJobSql>`INSERT INTO cron_jobs (id, name, schedule_json, schedule_text, target_json, prompt, agent, model, session_mode,
              enabled, created_by, consecutive_failures, next_run_at, last_run_at, created_at, updated_at)
            VALUES (${job.id}, ${job.name}, ${JSON.stringify(job.schedule)}, ${job.scheduleText}, ${JSON.stringify(job.target)}, ${job.prompt},
              ${job.agent ?? null}, ${job.model ?? null}, ${job.sessionMode}, ${job.enabled ? 1 : 0}, ${job.createdBy},
              ${job.consecutiveFailures}, ${job.nextRunAt}, ${job.lastRunAt}, ${now}, ${now})
            RETURNING *`,
      );
      return toJob(r!);
    },
    async get(id) {
      const r = await get(id);
      return r && toJob(r);
    },
    async getByName(name) {
      const r = await first(q, sql<CronJobSql>`SELECT * FROM cron_jobs WHERE name = ${name}`);
      return r && toJob(r);
    },
    async list() {
      return (await all(q, sql<CronJobSql>`SELECT * FROM cron_jobs ORDER BY name`)).map(toJob);
    },
    async update(id, patch) {
      // A field is set when present and not undefined (null clears nextRunAt/lastRunAt).
      const has = (k: keyof typeof patch): boolean => Object.hasOwn(patch, k) && patch[k] !== undefined;
      const sets: RawBuilder<unknown>[] = [];
      if (has('enabled')) sets.push(sql`enabled = ${patch.enabled ? 1 : 0}`);
      if (has('consecutiveFailures')) sets.push(sql`consecutive_failures = ${patch.consecutiveFailures ?? 0}`);
      if (has('nextRunAt')) sets.push(sql`next_run_at = ${patch.nextRunAt ?? null}`);
      if (has('lastRunAt')) sets.push(sql`last_run_at = ${patch.lastRunAt ?? null}`);
      sets.push(sql`updated_at = ${Date.now()}`);
      const r = await first(q, sql<CronJobSql>`UPDATE cron_jobs SET ${sql.join(sets)} WHERE id = ${id} RETURNING *`);
      return r && toJob(r);
    },
    async delete(id) {
      return (await run(q, sql`DELETE FROM cron_jobs WHERE id = ${id}`)) > 0;
    },
    async due(now) {
      return (
        await all(q, sql<CronJobSql>`SELECT * FROM cron_jobs WHERE enabled = 1 AND next_run_at IS NOT NULL AND next_run_at <= ${now} ORDER BY next_run_at, id`)
      ).map(toJob);
    },
    async nextDue() {
      const r = await first(q, sql<{ t: number | null }>`SELECT MIN(next_run_at) AS t FROM cron_jobs WHERE enabled = 1 AND next_run_at IS NOT NULL`);
      return r?.t ?? null;
    },
  };
}
