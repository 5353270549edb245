/**
 * Core scheduler types the store persists: schedules, cron jobs and their runs, and scheduled
 * messages. Times are ms since the epoch unless a name says otherwise. The services over them
 * are in `src/scheduler/types.ts`.
 */
import type { AgentName } from './agents.js';
import type { PlatformName } from './messages.js';

/**
 * When something runs. Parsed from user text by `parseSchedule`:
 * - `cron`: 5 or 6 fields (croner syntax), with an IANA time zone (default UTC);
 * - `every`: an interval such as `every 15m`, `every 2h`, `every 90s`, `every 1d`;
 * - `at`: one time, ISO 8601 with an offset (`at 2026-12-01T09:00:00+01:00`).
 */
export type Schedule = { kind: 'cron'; expr: string; tz: string } | { kind: 'every'; everyMs: number } | { kind: 'at'; at: number };

/** Where a cron job posts: a channel, or an existing conversation (its thread). */
export interface CronTarget {
  platform: PlatformName;
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

/**
 * A new cron run as the store inserts it: `fields` plus every other field null (not started,
 * not due, not submitted, nothing posted); `kind` defaults to `schedule`. Pure.
 */
export function newCronRun(fields: Pick<CronRun, 'jobId' | 'scheduledFor' | 'attempt' | 'status'> & Partial<Omit<CronRun, 'id'>>): Omit<CronRun, 'id'> {
  return {
    dueAt: null,
    conversationId: null,
    eventKey: null,
    startedAt: null,
    endedAt: null,
    error: null,
    postedKey: null,
    ...fields,
    kind: fields.kind ?? 'schedule',
  };
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
