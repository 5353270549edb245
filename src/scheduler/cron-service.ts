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
  /** Called after every change of jobs or queued runs. */
  onChange?: () => void;
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

/** {@link CronService} over the session store. Methods are synchronous (SQLite). */
export class CronJobService implements CronService {
  private readonly now: () => number;

  constructor(private readonly o: CronServiceOptions) {
    this.now = o.now ?? Date.now;
  }

  /**
   * Creates an enabled job; its first due time is the schedule's next time after now.
   * @throws ScheduleError for an invalid or taken name, schedule, time zone, target, prompt, agent.
   */
  add(input: CronJobInput): CronJob {
    const { store } = this.o;
    const now = this.now();
    const name = (input.name ?? '').trim();
    if (!NAME.test(name)) {
      throw new ScheduleError(`invalid job name "${input.name}": use 1–64 letters, digits, ".", "_" or "-", starting with a letter or digit`);
    }
    if (store.cronJobs.getByName(name) || store.cronJobs.get(name)) throw new ScheduleError(`a cron job named "${name}" exists already`);
    const schedule = parseSchedule(input.schedule ?? '', input.tz, { now, minIntervalMs: this.o.minIntervalMs });
    const target = this.checkTarget(input.target);
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
    while (store.cronJobs.get(id) || store.cronJobs.getByName(id));
    const model = input.model?.trim();
    const job = store.cronJobs.insert({
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
    this.o.onChange?.();
    return job;
  }

  list(): CronJob[] {
    return this.o.store.cronJobs.list();
  }

  /** By id, else by name. */
  get(idOrName: string): CronJob | undefined {
    return this.o.store.cronJobs.get(idOrName) ?? this.o.store.cronJobs.getByName(idOrName);
  }

  /** Disables the job (no due time) and drops its queued runs. @throws ScheduleError for an unknown job. */
  pause(idOrName: string): CronJob {
    const { store } = this.o;
    const job = this.find(idOrName);
    const out = store.transaction(() => {
      for (const r of store.cronRuns.withStatus('queued', job.id)) {
        store.cronRuns.transition(r.id, 'queued', { status: 'skipped', dueAt: null, error: 'the job was paused' });
      }
      return store.cronJobs.update(job.id, { enabled: false, nextRunAt: null })!;
    });
    this.o.onChange?.();
    return out;
  }

  /**
   * Enables the job with a clean failure count; the next due time is the schedule's next time
   * after now (none for a one-time job whose time has passed — it can still `runNow`).
   * @throws ScheduleError for an unknown job.
   */
  resume(idOrName: string): CronJob {
    const job = this.find(idOrName);
    const out = this.o.store.cronJobs.update(job.id, { enabled: true, consecutiveFailures: 0, nextRunAt: nextRun(job.schedule, this.now()) })!;
    this.o.onChange?.();
    return out;
  }

  /** Deletes the job and its run history; false for an unknown job. A run in progress finishes unrecorded. */
  remove(idOrName: string): boolean {
    const job = this.get(idOrName);
    if (!job) return false;
    const removed = this.o.store.cronJobs.delete(job.id);
    this.o.onChange?.();
    return removed;
  }

  /**
   * Queues a run due now (kind `manual`; also for a paused job) and returns it with status
   * `queued`; a running scheduler starts it at once, else it runs after the next start. A run
   * already queued (e.g. a retry) is moved to now instead.
   * @throws ScheduleError for an unknown job, or while a run of the job is running.
   */
  runNow(idOrName: string): CronRun {
    const { store } = this.o;
    const job = this.find(idOrName);
    const now = this.now();
    const run = store.transaction(() => {
      const running = store.cronRuns.withStatus('running', job.id)[0];
      if (running) {
        const since = running.startedAt ? ` since ${new Date(running.startedAt).toISOString()}` : '';
        throw new ScheduleError(`cron job "${job.name}" is running right now (run #${running.id}${since}); try again when it has finished`);
      }
      const queued = store.cronRuns.withStatus('queued', job.id)[0];
      if (queued) return store.cronRuns.update(queued.id, { dueAt: now })!;
      for (let t = now; ; t++) {
        const inserted = store.cronRuns.insert(newCronRun({ jobId: job.id, scheduledFor: t, attempt: 1, kind: 'manual', status: 'queued', dueAt: now }));
        if (inserted) return inserted;
      }
    });
    this.o.onChange?.();
    return run;
  }

  /** Runs of the job, newest first (default 20). @throws ScheduleError for an unknown job. */
  runs(idOrName: string, limit = 20): CronRun[] {
    return this.o.store.cronRuns.listForJob(this.find(idOrName).id, limit);
  }

  private find(idOrName: string): CronJob {
    const job = this.get(idOrName);
    if (!job) throw new ScheduleError(`no cron job "${idOrName}" (see: agentbridge cron list)`);
    return job;
  }

  /** Validates a target; with a conversation, fills platform/channel from it. */
  private checkTarget(t: CronTarget | undefined): CronTarget {
    if (!t) throw new ScheduleError('a target is required: a platform and channel, or a conversation');
    let { platform, channel } = t;
    const conversationId = t.conversationId?.trim() || undefined;
    if (conversationId) {
      const conv = this.o.store.conversations.get(conversationId);
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
