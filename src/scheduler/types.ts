/**
 * Contracts of the scheduler's services: cron jobs (recurring prompts posted to a channel) and
 * scheduled messages (prompts that run later as turns of one conversation). The stored types
 * (schedules, jobs, runs, scheduled messages) are in `src/core/schedule.ts`.
 */
import type { AgentName } from '../core/agents.js';
import type { CronJob, CronRun, CronSessionMode, CronTarget, ScheduledMessage } from '../core/schedule.js';

/** Input of `schedule_message`: exactly one of delaySeconds, at, every. */
export interface ScheduleMessageInput {
  text: string;
  delaySeconds?: number;
  /** ISO 8601 time with offset. */
  at?: string;
  /** Interval text like `15m`, `2h` (or `every 15m`). */
  every?: string;
  createdBy: string;
}

/**
 * Scheduled messages of conversations. Every method is limited to the given conversation.
 * Every method returns a Promise (the store is asynchronous); errors reject it.
 */
export interface ScheduledMessagesService {
  /** Rejects with ScheduleError with a user-facing message when the input is invalid. */
  add(conversationId: string, input: ScheduleMessageInput): Promise<ScheduledMessage>;
  list(conversationId: string): Promise<ScheduledMessage[]>;
  /** False when `id` does not exist in that conversation. */
  cancel(conversationId: string, id: string): Promise<boolean>;
  /** Cancels all; resolves to how many. Also called when a conversation is reset. */
  reset(conversationId: string): Promise<number>;
}

/** Input for creating a cron job; validated by the service. */
export interface CronJobInput {
  name: string;
  /** User text: cron expression, `every …` or `at …`. */
  schedule: string;
  /** IANA time zone for cron expressions (default UTC). */
  tz?: string;
  target: CronTarget;
  prompt: string;
  agent?: AgentName;
  model?: string;
  sessionMode?: CronSessionMode;
  createdBy: string;
}

/**
 * The cron job service, shared by the CLI and the admin chat command. Every method returns a
 * Promise (the store is asynchronous); errors reject it.
 */
export interface CronService {
  /** Rejects with ScheduleError naming what is wrong (schedule, time zone, target). */
  add(input: CronJobInput): Promise<CronJob>;
  list(): Promise<CronJob[]>;
  /** By id or name. */
  get(idOrName: string): Promise<CronJob | undefined>;
  /** Rejects with ScheduleError for an unknown job. */
  pause(idOrName: string): Promise<CronJob>;
  /** Rejects with ScheduleError for an unknown job. */
  resume(idOrName: string): Promise<CronJob>;
  remove(idOrName: string): Promise<boolean>;
  /**
   * Starts a run now: queues a run due now (status `queued`, kind `manual`; a running scheduler
   * submits it at once, else it runs after the next start) and resolves to it.
   * Rejects with ScheduleError for an unknown job, or while a run of the job is running.
   */
  runNow(idOrName: string): Promise<CronRun>;
  /** Rejects with ScheduleError for an unknown job. */
  runs(idOrName: string, limit?: number): Promise<CronRun[]>;
}

/** A user-facing validation error of schedules, targets and scheduled messages. */
export class ScheduleError extends Error {
  override readonly name = 'ScheduleError';
}
