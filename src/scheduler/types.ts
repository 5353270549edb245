/**
 * Contracts of the scheduler: cron jobs (recurring prompts posted to a channel) and scheduled
 * messages (prompts that run later as turns of one conversation). Times are ms since the epoch
 * unless a name says otherwise.
 */
import type { PlatformName } from '../platforms/types.js';
import type { AgentName } from '../runners/types.js';

/**
 * When something runs. Parsed from user text by `parseSchedule`:
 * - `cron`: 5 or 6 fields (croner syntax), with an IANA time zone (default UTC);
 * - `every`: an interval such as `every 15m`, `every 2h`, `every 90s`, `every 1d`;
 * - `at`: one time, ISO 8601 with an offset (`at 2026-12-01T09:00:00+01:00`).
 */
export type Schedule =
  | { kind: 'cron'; expr: string; tz: string }
  | { kind: 'every'; everyMs: number }
  | { kind: 'at'; at: number };

/** Where a cron job posts: a channel, or an existing conversation (its thread). */
export interface CronTarget {
  platform: Exclude<PlatformName, 'scheduler'>;
  channel: string;
  /** Post into this existing conversation (Slack thread / Discord thread) instead of top-level. */
  conversationId?: string;
}

export type CronSessionMode = 'isolated' | 'persistent';

export interface CronJob {
  id: string;
  name: string;
  schedule: Schedule;
  /** The schedule as the user wrote it (shown back to people). */
  scheduleText: string;
  target: CronTarget;
  prompt: string;
  agent?: AgentName;
  model?: string;
  sessionMode: CronSessionMode;
  enabled: boolean;
  /** Platform-qualified user id, e.g. `slack:U123`, or `cli`. */
  createdBy: string;
  /** Consecutive failed runs; 5 pauses the job. */
  consecutiveFailures: number;
  /** Next due time, or null when paused/finished. */
  nextRunAt: number | null;
  lastRunAt: number | null;
  createdAt: number;
  updatedAt: number;
}

/**
 * `queued`: waiting for its `dueAt` (a retry, or a run-now request — also one made with the CLI
 * while agentbridge is stopped); `running`: submitted, its turn has not ended; `skipped`: a due
 * time that did not run (missed beyond the grace window, the previous run still running, or a
 * queued retry superseded by the next scheduled run).
 */
export type CronRunStatus = 'queued' | 'running' | 'ok' | 'failed' | 'skipped';

/** Why a run exists: its schedule, a retry after a failure, or a run-now request. */
export type CronRunKind = 'schedule' | 'retry' | 'manual';

export interface CronRun {
  id: number;
  jobId: string;
  /** The due time this run is for (unique per job: a due time never runs twice). */
  scheduledFor: number;
  startedAt: number | null;
  endedAt: number | null;
  status: CronRunStatus;
  error: string | null;
  /** Posted-message key of the message the run posted (the start of its thread). */
  postedKey: string | null;
  /** 1 for the first attempt, then retries. */
  attempt: number;
  // The fields below are always present on runs read from the store (optional for older fakes).
  /** Why the run exists (default `schedule`). */
  kind?: CronRunKind;
  /** When a `queued` run becomes due; null otherwise. */
  dueAt?: number | null;
  /** The conversation the run was submitted to (null until submitted). */
  conversationId?: string | null;
  /** The inbox event key of the submitted message: `cron:<jobId>:<scheduledFor>:<attempt>`. */
  eventKey?: string | null;
}

/** A prompt that runs later as a turn of one conversation. */
export interface ScheduledMessage {
  id: string;
  conversationId: string;
  text: string;
  /** Next due time. */
  dueAt: number;
  /** Repeat interval in ms, for recurring ones. */
  everyMs: number | null;
  /** Who scheduled it: `agent` (via MCP), or a platform-qualified user id. */
  createdBy: string;
  createdAt: number;
}

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

/** Scheduled messages of conversations. Every method is limited to the given conversation. */
export interface ScheduledMessagesService {
  /** @throws ScheduleError with a user-facing message when the input is invalid. */
  add(conversationId: string, input: ScheduleMessageInput): ScheduledMessage;
  list(conversationId: string): ScheduledMessage[];
  /** False when `id` does not exist in that conversation. */
  cancel(conversationId: string, id: string): boolean;
  /** Cancels all; returns how many. Also called when a conversation is reset. */
  reset(conversationId: string): number;
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

/** The cron job service, shared by the CLI and the admin chat command. */
export interface CronService {
  /** @throws ScheduleError naming what is wrong (schedule, time zone, target). */
  add(input: CronJobInput): CronJob;
  list(): CronJob[];
  /** By id or name. */
  get(idOrName: string): CronJob | undefined;
  pause(idOrName: string): CronJob;
  resume(idOrName: string): CronJob;
  remove(idOrName: string): boolean;
  /**
   * Starts a run now: queues a run due now (status `queued`, kind `manual`; a running scheduler
   * submits it at once, else it runs after the next start) and returns it.
   * @throws ScheduleError for an unknown job, or while a run of the job is running.
   */
  runNow(idOrName: string): CronRun;
  runs(idOrName: string, limit?: number): CronRun[];
}

/** A user-facing validation error of schedules, targets and scheduled messages. */
export class ScheduleError extends Error {
  override readonly name = 'ScheduleError';
}
