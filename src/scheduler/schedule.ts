/**
 * Schedules: parsing user text into a {@link Schedule} and computing due times. Pure functions
 * (the clock is a parameter); cron expressions and time zones (DST included) through croner.
 *
 * Accepted text:
 * - a cron expression of 5 fields (`minute hour day-of-month month day-of-week`) or 6 (seconds
 *   first), croner syntax incl. names (`MON-FRI`) and nicknames (`@daily`), in the IANA time zone
 *   `tz` (default UTC);
 * - `every <n><unit>`: an interval; units s, m, h, d (also sec/min/hour/day words), e.g.
 *   `every 15m`, `every 2h`, `every 90s`, `every 1d`;
 * - `at <ISO 8601 time>`: once; with an offset (`at 2026-12-01T09:00:00+01:00`, `…Z`), or
 *   without one when `tz` names the zone it is in.
 *
 * DST (croner, Vixie-cron rules): a fixed-time job (single values in seconds/minutes/hours, e.g.
 * `30 2 * * *`) whose time falls into the spring-forward gap runs at the first valid time after
 * the gap, on that day; on the fall-back day a time that occurs twice runs once, at its first
 * occurrence. Jobs with wildcards/steps/lists in those fields skip gap times and run on both
 * occurrences of a repeated hour.
 */
import { Cron } from 'croner';
import type { Schedule } from '../core/schedule.js';
import { ScheduleError } from './types.js';

/** Shortest interval (and shortest gap between two cron times) of a cron job, in ms. */
export const MIN_CRON_INTERVAL_MS = 60_000;

export interface ParseScheduleOptions {
  /** The current time (ms), for refusing `at` times in the past. Default `Date.now()`. */
  now?: number;
  /** Shortest allowed interval, ms (default {@link MIN_CRON_INTERVAL_MS}). */
  minIntervalMs?: number;
}

const UNIT_MS: Record<string, number> = { s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 };
const INTERVAL = /^(?:every\s+)?(\d{1,9})\s*(s|secs?|seconds?|m|mins?|minutes?|h|hrs?|hours?|d|days?)$/i;

/**
 * Parses an interval such as `15m`, `every 2h`, `90s`, `1d`, `10 minutes` into ms.
 * @throws ScheduleError when the text is not an interval or is 0.
 */
export function parseInterval(text: string): number {
  const m = INTERVAL.exec(text.trim());
  if (!m) throw new ScheduleError(`"${text}" is not an interval: write e.g. "every 15m", "every 2h", "every 90s" or "every 1d"`);
  const ms = Number(m[1]) * UNIT_MS[m[2]!.toLowerCase()[0]!]!;
  if (ms <= 0) throw new ScheduleError(`"${text}": the interval must be longer than 0`);
  return ms;
}

/** `90_000` → `90s`, `900_000` → `15m`, `7_200_000` → `2h`, `86_400_000` → `1d` (largest whole unit). */
export function formatInterval(ms: number): string {
  for (const unit of ['d', 'h', 'm'] as const) if (ms % UNIT_MS[unit]! === 0) return `${ms / UNIT_MS[unit]!}${unit}`;
  return `${Math.round(ms / 1000)}s`;
}

/**
 * Checks an IANA time zone name; returns its canonical spelling (`europe/berlin` → `Europe/Berlin`).
 * @throws ScheduleError for an unknown zone.
 */
export function validateTimeZone(tz: string): string {
  try {
    return new Intl.DateTimeFormat('en-US', { timeZone: tz.trim() }).resolvedOptions().timeZone;
  } catch {
    throw new ScheduleError(`unknown time zone "${tz}": use an IANA name such as Europe/Berlin, America/New_York or UTC`);
  }
}

/**
 * Parses schedule text (see the module doc) into a {@link Schedule}.
 * @param tz IANA zone for cron expressions and offset-less `at` times (default UTC).
 * @throws ScheduleError saying what is wrong: invalid cron expression (croner's reason), a cron
 *   expression that never runs or runs more often than `minIntervalMs`, unknown time zone,
 *   invalid or too short interval, `at` time invalid, without offset or zone, or not in the future.
 */
export function parseSchedule(text: string, tz?: string, opts: ParseScheduleOptions = {}): Schedule {
  const now = opts.now ?? Date.now();
  const minMs = opts.minIntervalMs ?? MIN_CRON_INTERVAL_MS;
  const trimmed = text.trim();
  if (!trimmed) throw new ScheduleError('the schedule is empty: give a cron expression, "every 15m" or "at 2026-12-01T09:00:00+01:00"');
  const zone = tz !== undefined && tz.trim() !== '' ? validateTimeZone(tz) : undefined;

  if (/^every\b/i.test(trimmed)) {
    const everyMs = parseInterval(trimmed);
    if (everyMs < minMs) {
      throw new ScheduleError(`"${trimmed}" is too frequent: the shortest interval is ${formatInterval(minMs)}`);
    }
    return { kind: 'every', everyMs };
  }

  if (/^at\b/i.test(trimmed)) {
    const at = parseAtTime(trimmed.slice(2).trim(), zone);
    if (at <= now) throw new ScheduleError(`"${trimmed}" is in the past (now is ${new Date(now).toISOString()})`);
    return { kind: 'at', at };
  }

  const expr = trimmed.replace(/\s+/g, ' ');
  const zoneName = zone ?? 'UTC';
  let cron: Cron;
  try {
    cron = cronFor(expr, zoneName);
  } catch (err) {
    const why = (err instanceof Error ? err.message : String(err)).replace(/^CronPattern:\s*/, '');
    throw new ScheduleError(
      `invalid cron expression "${expr}": ${why}. Use 5 fields "minute hour day-of-month month day-of-week" ` +
        '(e.g. "0 9 * * MON-FRI"), 6 with seconds first, "every 15m" or "at <ISO time with offset>"',
    );
  }
  const runs: number[] = [];
  let t = now;
  for (let i = 0; i < 6; i++) {
    const next = cron.nextRun(new Date(t));
    if (!next) break;
    runs.push((t = next.getTime()));
  }
  if (runs.length === 0) throw new ScheduleError(`the cron expression "${expr}" never runs (no matching date in the future)`);
  for (let i = 1; i < runs.length; i++) {
    if (runs[i]! - runs[i - 1]! < minMs) {
      throw new ScheduleError(`the cron expression "${expr}" runs more often than the shortest allowed interval of ${formatInterval(minMs)}`);
    }
  }
  return { kind: 'cron', expr, tz: zoneName };
}

/** Parses the time of `at …`: ISO 8601 with an offset, or local time in `zone`. */
function parseAtTime(text: string, zone: string | undefined): number {
  const withOffset = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,3})?)?(Z|[+-]\d{2}:?\d{2})$/i;
  const local = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2})?$/;
  if (withOffset.test(text)) {
    const ms = Date.parse(text);
    if (Number.isNaN(ms)) throw new ScheduleError(`"at ${text}" is not a valid date and time`);
    return ms;
  }
  if (local.test(text)) {
    if (!zone) {
      throw new ScheduleError(`"at ${text}" has no UTC offset: write e.g. "at ${text}+01:00" or "at ${text}Z", or give a time zone`);
    }
    try {
      const next = new Cron(text.length === 16 ? `${text}:00` : text, { timezone: zone, paused: true }).nextRun(new Date(0));
      if (next) return next.getTime();
    } catch {
      // reported below
    }
  }
  throw new ScheduleError(`"at ${text}" is not a time: use ISO 8601 with an offset, e.g. "at 2026-12-01T09:00:00+01:00"`);
}

const cronCache = new Map<string, Cron>();

/** A parsed (paused, callback-less) croner job for `expr` in `tz`; cached. Throws croner's error for an invalid pattern. */
function cronFor(expr: string, tz: string): Cron {
  const key = `${tz}\n${expr}`;
  let cron = cronCache.get(key);
  if (!cron) {
    cron = new Cron(expr, { timezone: tz, mode: '5-or-6-parts', paused: true });
    if (cronCache.size >= 500) cronCache.clear();
    cronCache.set(key, cron);
  }
  return cron;
}

/**
 * The first due time strictly after `afterMs` (ms), or null when there is none.
 * - `cron`: the next matching time in the schedule's zone (croner; DST rules in the module doc);
 * - `every`: `afterMs + everyMs` — callers pass the previous due time (or the creation time), so
 *   due times stay on a fixed grid and do not drift with run durations;
 * - `at`: the time if it is after `afterMs`, else null.
 */
export function nextRun(schedule: Schedule, afterMs: number): number | null {
  switch (schedule.kind) {
    case 'cron':
      return cronFor(schedule.expr, schedule.tz).nextRun(new Date(afterMs))?.getTime() ?? null;
    case 'every':
      return afterMs + schedule.everyMs;
    case 'at':
      return schedule.at > afterMs ? schedule.at : null;
  }
}

/**
 * Due times missed up to `now` (ms), starting with `firstDue` (≤ now): how many there were, the
 * latest of them, and the one before it (null when there was one). Intervals are computed
 * arithmetically; cron times are walked, at most `cap` of them — beyond that (a frequent job
 * missed for weeks) the walk resumes one day before `now` and `count` is a lower bound.
 */
export function missedRuns(schedule: Schedule, firstDue: number, now: number, cap = 10_000): { count: number; latest: number; previous: number | null } {
  if (schedule.kind === 'every') {
    const k = Math.max(0, Math.floor((now - firstDue) / schedule.everyMs));
    const latest = firstDue + k * schedule.everyMs;
    return { count: k + 1, latest, previous: k > 0 ? latest - schedule.everyMs : null };
  }
  let latest = firstDue;
  let previous: number | null = null;
  let count = 1;
  let cursor = firstDue;
  for (;;) {
    const n = nextRun(schedule, cursor);
    if (n === null || n > now) return { count, latest, previous };
    previous = latest;
    latest = cursor = n;
    if (++count === cap) cursor = Math.max(cursor, now - 86_400_000);
  }
}

/** Human text of a schedule: `0 9 * * 1-5 (Europe/Berlin)`, `every 15m`, `at 2026-12-01T08:00:00Z`. */
export function describeSchedule(schedule: Schedule): string {
  switch (schedule.kind) {
    case 'cron':
      return `${schedule.expr} (${schedule.tz})`;
    case 'every':
      return `every ${formatInterval(schedule.everyMs)}`;
    case 'at':
      return `at ${new Date(schedule.at).toISOString().replace('.000Z', 'Z')}`;
  }
}
