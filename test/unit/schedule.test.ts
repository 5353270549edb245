/**
 * Schedule parsing and due-time computation (src/scheduler/schedule.ts) on a fixed clock:
 * cron expressions in time zones across DST change days, intervals, one-time schedules, errors.
 */
import { describe, expect, it } from 'vitest';
import { describeSchedule, missedRuns, nextRun, parseInterval, parseSchedule } from '../../src/scheduler/schedule.js';
import type { Schedule } from '../../src/core/schedule.js';
import { ScheduleError } from '../../src/scheduler/types.js';

const T = (iso: string) => Date.parse(iso);
const utc = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());

/** The next `n` due times after `from`. */
function runs(s: Schedule, from: string, n: number): Array<string | null> {
  const out: Array<string | null> = [];
  let t: number | null = T(from);
  for (let i = 0; i < n && t !== null; i++) out.push(utc((t = nextRun(s, t))));
  return out;
}

/** Due times within [from, to). */
function between(s: Schedule, from: string, to: string): string[] {
  const out: string[] = [];
  for (let t = nextRun(s, T(from) - 1); t !== null && t < T(to); t = nextRun(s, t)) out.push(utc(t)!);
  return out;
}

function errorOf(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(ScheduleError);
    return (err as Error).message;
  }
  throw new Error('expected a ScheduleError');
}

const NOW = T('2026-01-15T12:00:00Z');

describe('cron expressions in time zones', () => {
  it('5 fields in Europe/Berlin: 02:30 on the spring-forward day (2026-03-29) runs at 03:00 CEST, once', () => {
    const s = parseSchedule('30 2 * * *', 'Europe/Berlin', { now: NOW });
    expect(s).toEqual({ kind: 'cron', expr: '30 2 * * *', tz: 'Europe/Berlin' });
    expect(runs(s, '2026-03-27T12:00:00Z', 4)).toEqual([
      '2026-03-28T01:30:00.000Z', // 02:30 CET
      '2026-03-29T01:00:00.000Z', // 02:30 does not exist: first valid time after the gap, 03:00 CEST
      '2026-03-30T00:30:00.000Z', // 02:30 CEST
      '2026-03-31T00:30:00.000Z',
    ]);
    expect(between(s, '2026-03-28T22:00:00Z', '2026-03-29T22:00:00Z')).toHaveLength(1);
  });

  it('5 and 6 fields in Europe/Berlin: 02:30 on the fall-back day (2026-10-25) runs once, at the first occurrence', () => {
    for (const expr of ['30 2 * * *', '0 30 2 * * *']) {
      const s = parseSchedule(expr, 'Europe/Berlin', { now: NOW });
      // Berlin's 2026-10-25 runs from 2026-10-24T22:00Z (CEST) to 2026-10-25T23:00Z (CET).
      expect(between(s, '2026-10-24T22:00:00Z', '2026-10-25T23:00:00Z')).toEqual(['2026-10-25T00:30:00.000Z']);
      expect(runs(s, '2026-10-24T12:00:00Z', 2)).toEqual(['2026-10-25T00:30:00.000Z', '2026-10-26T01:30:00.000Z']);
    }
  });

  it('an interval-like cron runs on both occurrences of the repeated hour and skips the gap', () => {
    const s = parseSchedule('*/30 * * * *', 'Europe/Berlin', { now: NOW });
    expect(between(s, '2026-10-25T00:00:00Z', '2026-10-25T02:00:00Z')).toEqual([
      '2026-10-25T00:00:00.000Z', // 02:00 CEST
      '2026-10-25T00:30:00.000Z', // 02:30 CEST
      '2026-10-25T01:00:00.000Z', // 02:00 CET
      '2026-10-25T01:30:00.000Z', // 02:30 CET
    ]);
    // Spring forward: 02:00–03:00 local does not exist; 01:30 CET is followed by 03:00 CEST.
    expect(between(s, '2026-03-29T00:30:00Z', '2026-03-29T01:30:00Z')).toEqual(['2026-03-29T00:30:00.000Z', '2026-03-29T01:00:00.000Z']);
  });

  it('weekdays at 9:00 Europe/Berlin keeps 9:00 local time across the DST change', () => {
    const s = parseSchedule('0 9 * * MON-FRI', 'Europe/Berlin', { now: NOW });
    expect(runs(s, '2026-03-26T12:00:00Z', 3)).toEqual([
      '2026-03-27T08:00:00.000Z', // Fri, CET
      '2026-03-30T07:00:00.000Z', // Mon, CEST (weekend skipped)
      '2026-03-31T07:00:00.000Z',
    ]);
    expect(runs(parseSchedule('0 9 * * 1-5', 'Europe/Berlin', { now: NOW }), '2026-10-23T12:00:00Z', 1)).toEqual(['2026-10-26T08:00:00.000Z']);
  });

  it('America/New_York across its DST days (2026-03-08 and 2026-11-01), 5 and 6 fields', () => {
    const spring = parseSchedule('30 2 * * *', 'America/New_York', { now: NOW });
    expect(runs(spring, '2026-03-07T12:00:00Z', 2)).toEqual(['2026-03-08T07:00:00.000Z', '2026-03-09T06:30:00.000Z']);
    const fall = parseSchedule('0 30 1 * * *', 'America/New_York', { now: NOW });
    expect(between(fall, '2026-11-01T04:00:00Z', '2026-11-02T05:00:00Z')).toEqual(['2026-11-01T05:30:00.000Z']);
    expect(runs(fall, '2026-11-01T06:00:00Z', 1)).toEqual(['2026-11-02T06:30:00.000Z']);
  });

  it('defaults to UTC and canonicalises the zone name', () => {
    expect(parseSchedule('0 0 * * *', undefined, { now: NOW })).toEqual({ kind: 'cron', expr: '0 0 * * *', tz: 'UTC' });
    expect(parseSchedule('0  0 * *  *', 'europe/berlin', { now: NOW })).toEqual({ kind: 'cron', expr: '0 0 * * *', tz: 'Europe/Berlin' });
    expect(runs(parseSchedule('0 0 * * *', undefined, { now: NOW }), '2026-01-01T00:00:00Z', 1)).toEqual(['2026-01-02T00:00:00.000Z']);
  });
});

describe('intervals and one-time schedules', () => {
  it('parses every 15m / 2h / 90s / 1d and steps by the interval', () => {
    expect(parseSchedule('every 15m', undefined, { now: NOW })).toEqual({ kind: 'every', everyMs: 900_000 });
    expect(parseSchedule('every 2h', undefined, { now: NOW })).toEqual({ kind: 'every', everyMs: 7_200_000 });
    expect(parseSchedule('every 90s', undefined, { now: NOW })).toEqual({ kind: 'every', everyMs: 90_000 });
    expect(parseSchedule('EVERY 1d', undefined, { now: NOW })).toEqual({ kind: 'every', everyMs: 86_400_000 });
    expect(parseInterval('10 minutes')).toBe(600_000);
    const s: Schedule = { kind: 'every', everyMs: 900_000 };
    expect(nextRun(s, NOW)).toBe(NOW + 900_000);
    expect(describeSchedule(s)).toBe('every 15m');
  });

  it('parses at with an offset, or local time with a zone; nextRun gives it once', () => {
    const s = parseSchedule('at 2026-12-01T09:00:00+01:00', undefined, { now: NOW });
    expect(s).toEqual({ kind: 'at', at: T('2026-12-01T08:00:00Z') });
    expect(nextRun(s, NOW)).toBe(T('2026-12-01T08:00:00Z'));
    expect(nextRun(s, T('2026-12-01T08:00:00Z'))).toBeNull();
    expect(parseSchedule('at 2026-07-01T09:00', 'Europe/Berlin', { now: NOW })).toEqual({ kind: 'at', at: T('2026-07-01T07:00:00Z') });
    expect(parseSchedule('at 2026-02-01T00:00:00Z', undefined, { now: NOW })).toEqual({ kind: 'at', at: T('2026-02-01T00:00:00Z') });
  });

  it('missedRuns counts missed due times and finds the latest one', () => {
    expect(missedRuns({ kind: 'every', everyMs: 60_000 }, NOW, NOW + 150_000)).toEqual({ count: 3, latest: NOW + 120_000, previous: NOW + 60_000 });
    const daily = parseSchedule('0 9 * * *', 'Europe/Berlin', { now: NOW });
    expect(missedRuns(daily, T('2026-03-27T08:00:00Z'), T('2026-03-30T07:05:00Z'))).toEqual({
      count: 4,
      latest: T('2026-03-30T07:00:00Z'),
      previous: T('2026-03-29T07:00:00Z'),
    });
    expect(missedRuns(daily, T('2026-03-27T08:00:00Z'), T('2026-03-27T08:00:00Z'))).toEqual({ count: 1, latest: T('2026-03-27T08:00:00Z'), previous: null });
  });
});

describe('invalid schedules are refused with a message saying what is wrong', () => {
  it.each([
    ['61 * * * *', undefined, /invalid cron expression "61 \* \* \* \*": .*minute/i],
    ['* * *', undefined, /invalid cron expression "\* \* \*"/],
    ['0 0 0 1 1 * 2030', undefined, /invalid cron expression .*5 or 6 parts/],
    ['0 9 * * FOO', undefined, /invalid cron expression/],
    ['0 9 * * *', 'Mars/Base', /unknown time zone "Mars\/Base": use an IANA name/],
    ['0 0 30 2 *', undefined, /never runs/],
    ['*/10 * * * * *', undefined, /runs more often than the shortest allowed interval of 1m/],
    ['every 30s', undefined, /"every 30s" is too frequent: the shortest interval is 1m/],
    ['every 0m', undefined, /longer than 0/],
    ['every 5 parsecs', undefined, /"every 5 parsecs" is not an interval: write e\.g\. "every 15m"/],
    ['at 2025-12-01T09:00:00+01:00', undefined, /is in the past/],
    ['at 2026-12-01T09:00:00', undefined, /has no UTC offset/],
    ['at tomorrow', undefined, /is not a time: use ISO 8601 with an offset/],
    ['   ', undefined, /the schedule is empty/],
  ])('%s (tz %s)', (text, tz, message) => {
    expect(errorOf(() => parseSchedule(text, tz, { now: NOW }))).toMatch(message);
  });

  it('a smaller minimum interval can be configured (for tests)', () => {
    expect(parseSchedule('every 5s', undefined, { now: NOW, minIntervalMs: 1_000 })).toEqual({ kind: 'every', everyMs: 5_000 });
  });
});
