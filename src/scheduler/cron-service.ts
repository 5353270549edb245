/**
 * The cron job service (CRUD, pause/resume, run-now, run history), shared by the CLI, the admin
 * chat command and the {@link Scheduler}. Validates input into user-facing {@link ScheduleError}s
 * and persists through `store.cronJobs` / `store.cronRuns`. It never runs anything itself: it
 * writes due times and queued runs, and calls `onChange` so a running scheduler re-arms its timer
 * (without one — the CLI while agentbridge is stopped — they run after the next start).
 */
import { randomBytes } from 'node:crypto';
import type { PlatformName } from '../core/messages.js';
import { PLATFORMS, platformModule, type PlatformRegistry } from '../platforms/registry.js';
import { agentNames, isAgentName } from '../runners/registry.js';
import type { Store } from '../store/types.js';
import { nextRun, parseSchedule } from './schedule.js';
import { newCronRun, type CronJob, type CronRun, type CronTarget } from '../core/schedule.js';
import { ScheduleError, type CronJobInput, type CronService } from './types.js';

export interface CronServiceOptions {
  store: Pick<Store, 'cronJobs' | 'cronRuns' | 'transaction'> & { conversations: Pick<Store['conversations'], 'get'> };
  /** Clock, ms since the epoch (default `Date.now`). */
  now?: () => number;
  /** Called (and awaited) after every change of jobs or queued runs; should not reject (the change is made already). */
  onChange?: () => void | Promise<void>;
  /** Platforms that run in this agentbridge; a target on another one is refused. Default: any registered. */
  platforms?: readonly PlatformName[];
  /** The platform modules whose names and channel-id patterns targets are checked against (default: the registry). */
  registry?: PlatformRegistry;
  /** Shortest interval of a schedule, ms (default 60 s). */
  minIntervalMs?: number;
}

/** Longest prompt of a cron job, in characters. */
export const MAX_PROMPT_CHARS = 8_000;
const NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/;

/** The store parts one call of the service uses (the outer store, or a transaction's `tx`). */
type ServiceStore = Pick<Store, 'cronJobs' | 'cronRuns'> & { conversations: Pick<Store['conversations'], 'get'> };

/**
 * {@link CronService} over the session store. Every method is async; a check and the write that
 * depends on it (a free name, an existing job, no run in progress) run in one store transaction.
 */
export class CronJobService implements CronService {
  private readonly now: () => number;

  constructor(private readonly o: CronServiceOptions) {
    this.now = o.now ?? Date.now;
  }

  /**
   * Creates an enabled job; its first due time is the schedule's next time after now.
   * Rejects with ScheduleError for an invalid or taken name, schedule, time zone, target, prompt, agent.
   */
  async add(input: CronJobInput): Promise<CronJob> {
    const now = this.now();
    const name = (input.name ?? '').trim();
    if (!NAME.test(name)) {
      throw new ScheduleError(`invalid job name "${input.name}": use 1–64 letters, digits, ".", "_" or "-", starting with a letter or digit`);
    }
    // One transaction: the name (and the id) cannot be taken between the check and the insert.
    const job = await this.o.store.transaction((tx) => this.insertJob(tx, input, name, now));
    await this.o.onChange?.();
    return job;
  }

  private async insertJob(store: ServiceStore, input: CronJobInput, name: string, now: number): Promise<CronJob> {
    if ((await store.cronJobs.getByName(name)) || (await store.cronJobs.get(name))) throw new ScheduleError(`a cron job named "${name}" exists already`);
    const schedule = parseSchedule(input.schedule ?? '', input.tz, { now, minIntervalMs: this.o.minIntervalMs });
    const target = await this.checkTarget(store, input.target);
    const prompt = (input.prompt ?? '').trim();
    if (!prompt) throw new ScheduleError('the prompt is empty: say what the agent should do on each run');
    if (prompt.length > MAX_PROMPT_CHARS) throw new ScheduleError(`the prompt is ${prompt.length} characters; at most ${MAX_PROMPT_CHARS} are allowed`);
    if (input.agent !== undefined && !isAgentName(input.agent)) {
      throw new ScheduleError(`unknown agent "${String(input.agent)}": use one of ${agentNames().join(', ')}`);
    }
    const mode = input.sessionMode ?? 'isolated';
    if (mode !== 'isolated' && mode !== 'persistent') throw new ScheduleError(`unknown session mode "${String(mode)}": use isolated or persistent`);
    if (!input.createdBy) throw new ScheduleError('createdBy is required');

    let id: string;
    do id = randomBytes(5).toString('hex');
    while ((await store.cronJobs.get(id)) || (await store.cronJobs.getByName(id)));
    const model = input.model?.trim();
    return store.cronJobs.insert({
      id,
      name,
      schedule,
      scheduleText: input.schedule.trim(),
      target,
      prompt,
      ...(input.agent ? { agent: input.agent } : {}),
      ...(model ? { model } : {}),
      sessionMode: mode,
      enabled: true,
      createdBy: input.createdBy,
      consecutiveFailures: 0,
      nextRunAt: nextRun(schedule, now),
      lastRunAt: null,
    });
  }

  async list(): Promise<CronJob[]> {
    return this.o.store.cronJobs.list();
  }

  /** By id, else by name. */
  async get(idOrName: string): Promise<CronJob | undefined> {
    return getJob(this.o.store, idOrName);
  }

  /** Disables the job (no due time) and drops its queued runs. Rejects with ScheduleError for an unknown job. */
  async pause(idOrName: string): Promise<CronJob> {
    const out = await this.o.store.transaction(async (tx) => {
      const job = await findJob(tx, idOrName);
      for (const r of await tx.cronRuns.withStatus('queued', job.id)) {
        await tx.cronRuns.transition(r.id, 'queued', { status: 'skipped', dueAt: null, error: 'the job was paused' });
      }
      return (await tx.cronJobs.update(job.id, { enabled: false, nextRunAt: null }))!;
    });
    await this.o.onChange?.();
    return out;
  }

  /**
   * Enables the job with a clean failure count; the next due time is the schedule's next time
   * after now (none for a one-time job whose time has passed — it can still `runNow`).
   * Rejects with ScheduleError for an unknown job.
   */
  async resume(idOrName: string): Promise<CronJob> {
    const now = this.now();
    const out = await this.o.store.transaction(async (tx) => {
      const job = await findJob(tx, idOrName);
      return (await tx.cronJobs.update(job.id, { enabled: true, consecutiveFailures: 0, nextRunAt: nextRun(job.schedule, now) }))!;
    });
    await this.o.onChange?.();
    return out;
  }

  /** Deletes the job and its run history; false for an unknown job. A run in progress finishes unrecorded. */
  async remove(idOrName: string): Promise<boolean> {
    const job = await this.get(idOrName);
    if (!job) return false;
    const removed = await this.o.store.cronJobs.delete(job.id);
    await this.o.onChange?.();
    return removed;
  }

  /**
   * Queues a run due now (kind `manual`; also for a paused job) and returns it with status
   * `queued`; a running scheduler starts it at once, else it runs after the next start. A run
   * already queued (e.g. a retry) is moved to now instead.
   * Rejects with ScheduleError for an unknown job, or while a run of the job is running.
   */
  async runNow(idOrName: string): Promise<CronRun> {
    const now = this.now();
    const run = await this.o.store.transaction(async (tx) => {
      const job = await findJob(tx, idOrName);
      const running = (await tx.cronRuns.withStatus('running', job.id))[0];
      if (running) {
        const since = running.startedAt ? ` since ${new Date(running.startedAt).toISOString()}` : '';
        throw new ScheduleError(`cron job "${job.name}" is running right now (run #${running.id}${since}); try again when it has finished`);
      }
      const queued = (await tx.cronRuns.withStatus('queued', job.id))[0];
      if (queued) return (await tx.cronRuns.update(queued.id, { dueAt: now }))!;
      for (let t = now; ; t++) {
        const inserted = await tx.cronRuns.insert(newCronRun({ jobId: job.id, scheduledFor: t, attempt: 1, kind: 'manual', status: 'queued', dueAt: now }));
        if (inserted) return inserted;
      }
    });
    await this.o.onChange?.();
    return run;
  }

  /** Runs of the job, newest first (default 20). Rejects with ScheduleError for an unknown job. */
  async runs(idOrName: string, limit = 20): Promise<CronRun[]> {
    const job = await findJob(this.o.store, idOrName);
    return this.o.store.cronRuns.listForJob(job.id, limit);
  }

  /** Validates a target; with a conversation, fills platform/channel from it. */
  private async checkTarget(store: ServiceStore, t: CronTarget | undefined): Promise<CronTarget> {
    if (!t) throw new ScheduleError('a target is required: a platform and channel, or a conversation');
    let { platform, channel } = t;
    const conversationId = t.conversationId?.trim() || undefined;
    if (conversationId) {
      const conv = await store.conversations.get(conversationId);
      if (!conv) throw new ScheduleError(`unknown conversation "${conversationId}" (see: agentbridge sessions list)`);
      if (platform && platform !== conv.platform) throw new ScheduleError(`conversation "${conversationId}" is on ${conv.platform}, not ${platform}`);
      if (channel && channel !== conv.channel) throw new ScheduleError(`conversation "${conversationId}" is in channel ${conv.channel}, not ${channel}`);
      platform = conv.platform as CronTarget['platform'];
      channel = conv.channel;
    }
    const registry = this.o.registry ?? PLATFORMS;
    const module = platformModule(String(platform), registry);
    if (!module) {
      throw new ScheduleError(`unknown platform "${String(platform)}": use ${registry.map((m) => m.name).join(', ')}`);
    }
    if (this.o.platforms && !this.o.platforms.includes(platform)) {
      throw new ScheduleError(`platform ${platform} is not enabled in this agentbridge (enabled: ${this.o.platforms.join(', ') || 'none'})`);
    }
    channel = (channel ?? '').trim();
    if (!channel) throw new ScheduleError(`a channel is required for platform ${platform}`);
    if (!module.channel.pattern.test(channel)) throw new ScheduleError(`invalid channel "${channel}" for ${platform}: expected ${module.channel.description}`);
    return conversationId ? { platform, channel, conversationId } : { platform, channel };
  }
}

/** The job by id, else by name. */
async function getJob(store: Pick<Store, 'cronJobs'>, idOrName: string): Promise<CronJob | undefined> {
  return (await store.cronJobs.get(idOrName)) ?? (await store.cronJobs.getByName(idOrName));
}

/** The job by id or name. Rejects with ScheduleError for an unknown job. */
async function findJob(store: Pick<Store, 'cronJobs'>, idOrName: string): Promise<CronJob> {
  const job = await getJob(store, idOrName);
  if (!job) throw new ScheduleError(`no cron job "${idOrName}" (see: agentbridge cron list)`);
  return job;
}
