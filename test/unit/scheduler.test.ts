/**
 * Cron jobs in the Scheduler on a fake clock: what a due run submits, no overlap, retry backoff,
 * pause + notice after repeated failures, catch-up after a restart (within / beyond the grace
 * window), and no due time submitted twice across two schedulers on the same database. Every
 * case runs on both backends (SQLite file, PostgreSQL database): the runs are claimed by
 * compare-and-set updates, which must hold under PostgreSQL's READ COMMITTED too.
 */
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { CronJobService } from '../../src/scheduler/cron-service.js';
import { ScheduleError, type CronJobInput } from '../../src/scheduler/types.js';
import { BACKENDS } from '../helpers/backends.js';
import { job, makeHarness, type Harness } from './scheduler-harness.js';

const T = (iso: string) => Date.parse(iso);
const MIN = 60_000;
const HOUR = 3_600_000;
let h: Harness;

describe.each(BACKENDS)('cron jobs in the scheduler (%s)', (backend) => {
  afterEach(() => h.cleanup());

  describe('a due cron job', () => {
    beforeEach(async () => {
      h = await makeHarness(T('2026-03-02T07:59:00Z'), backend); // Monday 08:59 in Berlin
    });

    it('submits once, with the InboundMessage of its run; the run completes with the posted key', async () => {
      const s = h.scheduler();
      const j = await s.cron.add(job({ schedule: '0 9 * * MON-FRI', tz: 'Europe/Berlin' }));
      expect(j.nextRunAt).toBe(T('2026-03-02T08:00:00Z'));
      await s.start();
      await h.advance(59_999);
      expect(h.submitted).toHaveLength(0);
      await h.advance(1);
      expect(h.submitted).toHaveLength(1);
      const [run] = await s.cron.runs(j.id);
      expect(run).toMatchObject({
        status: 'running',
        attempt: 1,
        kind: 'schedule',
        scheduledFor: T('2026-03-02T08:00:00Z'),
        startedAt: T('2026-03-02T08:00:00Z'),
      });
      expect(h.submitted[0]).toEqual({
        platform: 'local',
        origin: 'scheduler',
        conversationId: `cron:${j.id}:${run!.id}`,
        channel: 'ops',
        author: { id: 'scheduler', name: 'cron job "standup"' },
        text: 'summarise the failed CI runs',
        eventKey: `cron:${j.id}:${T('2026-03-02T08:00:00Z')}:1`,
        replyTarget: { platform: 'local', channel: 'ops' },
        receivedAt: T('2026-03-02T08:00:00Z'),
      });
      await h.advance(30 * MIN);
      expect(h.submitted).toHaveLength(1);

      const key = await h.finishTurn(s, `cron:${j.id}:${run!.id}`, 'ok');
      expect((await s.cron.runs(j.id))[0]).toMatchObject({ status: 'ok', error: null, postedKey: key, endedAt: T('2026-03-02T08:30:00Z') });
      expect(key).toMatch(/^local:ops:m\d+$/);
      expect(await s.cron.get('standup')).toMatchObject({ nextRunAt: T('2026-03-03T08:00:00Z'), consecutiveFailures: 0, lastRunAt: T('2026-03-02T08:00:00Z') });
    });

    it('persistent mode uses one conversation with the job agent/model; a conversation target posts in its thread', async () => {
      const s = h.scheduler();
      const p = await s.cron.add(job({ name: 'persist', schedule: 'every 1h', sessionMode: 'persistent', agent: 'codex', model: 'gpt-x' }));
      await h.store.conversations.ensure({ id: 'local:general:t1', platform: 'local', channel: 'general', thread: 't1' });
      const c = await s.cron.add(
        job({ name: 'in-thread', schedule: 'every 1h', target: { platform: 'local', channel: 'general', conversationId: 'local:general:t1' } }),
      );
      await s.start();
      await h.advance(HOUR + MIN);
      const byConv = Object.fromEntries(h.submitted.map((m) => [m.conversationId, m]));
      expect(byConv[`cron:${p.id}`]).toMatchObject({
        replyTarget: { platform: 'local', channel: 'ops' },
        eventKey: `cron:${p.id}:${T('2026-03-02T08:59:00Z')}:1`,
      });
      expect(await h.store.conversations.get(`cron:${p.id}`)).toMatchObject({ agent: 'codex', model: 'gpt-x' });
      expect(byConv['local:general:t1']).toMatchObject({
        channel: 'general',
        thread: 't1',
        replyTarget: { platform: 'local', channel: 'general', thread: 't1' },
      });
      expect(c.target).toEqual({ platform: 'local', channel: 'general', conversationId: 'local:general:t1' });

      await h.finishTurn(s, `cron:${p.id}`, 'ok');
      await h.advance(HOUR);
      expect(h.submitted.filter((m) => m.conversationId === `cron:${p.id}`)).toHaveLength(2); // the same conversation again
    });

    it('does not overlap: a due time while the previous run is running is recorded as skipped', async () => {
      const s = h.scheduler();
      const j = await s.cron.add(job({ schedule: 'every 1m' }));
      await s.start();
      await h.advance(MIN);
      expect(h.submitted).toHaveLength(1);
      await h.advance(2 * MIN);
      expect(h.submitted).toHaveLength(1);
      const runs = await s.cron.runs(j.id);
      expect(runs.map((r) => r.status)).toEqual(['skipped', 'skipped', 'running']);
      expect(runs[0]!.error).toMatch(/the previous run \(#\d+\) was still running/);
      await expect(s.cron.runNow(j.id)).rejects.toThrow(/is running right now/);

      await h.finishTurn(s, h.submitted[0]!.conversationId, 'ok');
      await h.advance(MIN);
      expect(h.submitted).toHaveLength(2);
    });
  });

  describe('failures', () => {
    beforeEach(async () => {
      h = await makeHarness(T('2026-05-04T10:00:00Z'), backend);
    });

    /** Fails every run as soon as it is submitted; returns the gaps between submissions (ms). */
    async function failEveryRun(maxFailures?: number): Promise<number[]> {
      const s = h.scheduler(maxFailures ? { maxFailures } : {});
      await s.cron.add(job({ name: 'flaky', schedule: 'every 1d' }));
      await s.start();
      const times: number[] = [];
      let seen = 0;
      for (let i = 0; i < 40 * 24 * 60 && times.length < 10; i++) {
        await h.advance(MIN / 2);
        if (seen === h.submitted.length) continue; // only a failed run can pause the job
        while (seen < h.submitted.length) {
          const m = h.submitted[seen++]!;
          times.push(Date.now());
          await h.finishTurn(s, m.conversationId, 'timeout');
        }
        if (!(await s.cron.get('flaky'))!.enabled) break;
      }
      return times.slice(1).map((t, i) => t - times[i]!);
    }

    it('retries with backoff 30 s, 1 m, 5 m, 15 m; after 5 failures in a row the job is paused and the channel told', async () => {
      expect(await failEveryRun()).toEqual([30_000, MIN, 5 * MIN, 15 * MIN]);
      const j = (await h.store.cronJobs.getByName('flaky'))!;
      expect(j).toMatchObject({ enabled: false, nextRunAt: null, consecutiveFailures: 5 });
      const runs = await h.store.cronRuns.listForJob(j.id);
      expect(runs.map((r) => [r.status, r.attempt, r.kind, r.error])).toEqual([
        ['failed', 5, 'retry', 'timeout'],
        ['failed', 4, 'retry', 'timeout'],
        ['failed', 3, 'retry', 'timeout'],
        ['failed', 2, 'retry', 'timeout'],
        ['failed', 1, 'schedule', 'timeout'],
      ]);
      expect(new Set(h.submitted.map((m) => m.eventKey)).size).toBe(5);
      expect(h.notices).toHaveLength(1);
      expect(h.notices[0]!.target).toEqual({ platform: 'local', channel: 'ops' });
      expect(h.notices[0]!.text).toContain('Cron job "flaky" failed 5 times in a row and is now paused');
      expect(h.notices[0]!.text).toContain('timeout');
      expect(h.notices[0]!.text).toContain('/agent cron resume flaky');
      expect(h.notices[0]!.text).toContain('agentbridge cron resume flaky');

      await h.advance(3 * 24 * HOUR);
      expect(h.submitted).toHaveLength(5);
    });

    it('the fifth retry waits 60 m (when the pause threshold allows a fifth retry)', async () => {
      expect(await failEveryRun(6)).toEqual([30_000, MIN, 5 * MIN, 15 * MIN, 60 * MIN]);
    });

    it('a success resets the failure count; resume re-enables with a clean count', async () => {
      const s = h.scheduler();
      const j = await s.cron.add(job({ name: 'once-bad', schedule: 'every 1h' }));
      await s.start();
      await h.advance(HOUR);
      await h.finishTurn(s, h.submitted[0]!.conversationId, 'failed');
      expect((await s.cron.get(j.id))!.consecutiveFailures).toBe(1);
      await h.advance(30_000);
      expect(h.submitted[1]!.eventKey).toBe(`cron:${j.id}:${T('2026-05-04T11:00:00Z')}:2`);
      await h.finishTurn(s, h.submitted[1]!.conversationId, 'ok');
      expect((await s.cron.get(j.id))!.consecutiveFailures).toBe(0);

      await s.cron.pause(j.id);
      await h.advance(3 * HOUR);
      expect(h.submitted).toHaveLength(2);
      expect(await s.cron.resume('once-bad')).toMatchObject({ enabled: true, consecutiveFailures: 0, nextRunAt: Date.now() + HOUR });
      await h.advance(HOUR);
      expect(h.submitted).toHaveLength(3);
    });

    it('a refused submission fails the run and is retried', async () => {
      let refuse = true;
      const s = h.scheduler({
        submit: async (m) => {
          h.submitted.push(m);
          if (refuse) throw new Error('agentbridge is shutting down');
          return 'accepted';
        },
      });
      const j = await s.cron.add(job({ schedule: 'every 1h' }));
      await s.start();
      await h.advance(HOUR);
      const [retry, failed] = await s.cron.runs(j.id);
      expect(failed).toMatchObject({ status: 'failed', attempt: 1, error: 'not accepted: agentbridge is shutting down' });
      expect(retry).toMatchObject({ status: 'queued', attempt: 2, kind: 'retry', dueAt: T('2026-05-04T11:00:30Z') });
      refuse = false;
      await h.advance(30_000);
      expect((await s.cron.runs(j.id))[0]).toMatchObject({ id: retry!.id, status: 'running', attempt: 2, kind: 'retry' });
      expect(h.submitted.map((m) => m.eventKey)).toEqual([`cron:${j.id}:${T('2026-05-04T11:00:00Z')}:1`, `cron:${j.id}:${T('2026-05-04T11:00:00Z')}:2`]);
    });
  });

  describe('after a restart', () => {
    const T0 = T('2026-06-01T12:00:00Z');
    beforeEach(async () => {
      h = await makeHarness(T0, backend);
    });

    it('a due time missed by less than the grace window runs once', async () => {
      const j = await h.scheduler().cron.add(job({ schedule: 'every 1h' })); // due 13:00; nothing running
      setTime(T0 + HOUR + 9 * MIN);
      const s = h.scheduler();
      await s.start();
      expect(h.submitted.map((m) => m.eventKey)).toEqual([`cron:${j.id}:${T0 + HOUR}:1`]);
      expect((await s.cron.get(j.id))!.nextRunAt).toBe(T0 + 2 * HOUR);
      await h.advance(10 * MIN);
      expect(h.submitted).toHaveLength(1);
    });

    it('older ones are skipped, recorded and logged; the next future time is scheduled', async () => {
      const j = await h.scheduler().cron.add(job({ schedule: 'every 1h' }));
      setTime(T0 + HOUR + 11 * MIN);
      const s = h.scheduler();
      await s.start();
      expect(h.submitted).toHaveLength(0);
      const [run] = await s.cron.runs(j.id);
      expect(run).toMatchObject({ status: 'skipped', scheduledFor: T0 + HOUR });
      expect(run!.error).toMatch(/missed: 1 due time from .* passed more than 10 min ago/);
      expect(h.logs.some((l) => l.msg === 'cron: missed due times beyond the grace window were skipped' && l.skipped === 1)).toBe(true);
      expect((await s.cron.get(j.id))!.nextRunAt).toBe(T0 + 2 * HOUR);
      await h.advance(49 * MIN);
      expect(h.submitted.map((m) => m.eventKey)).toEqual([`cron:${j.id}:${T0 + 2 * HOUR}:1`]);
    });

    it('after days away a daily job runs the latest due time within grace once and skips the earlier ones', async () => {
      const j = await h.scheduler().cron.add(job({ schedule: '0 9 * * *', tz: 'Europe/Berlin' })); // 07:00Z in summer
      setTime(T('2026-06-04T07:05:00Z'));
      const s = h.scheduler({ graceMs: 10 * MIN });
      await s.start();
      expect(h.submitted.map((m) => m.eventKey)).toEqual([`cron:${j.id}:${T('2026-06-04T07:00:00Z')}:1`]);
      const skipped = (await s.cron.runs(j.id)).find((r) => r.status === 'skipped')!;
      expect(skipped.scheduledFor).toBe(T('2026-06-02T07:00:00Z'));
      expect(skipped.error).toContain('2 due times from 2026-06-02T07:00:00Z to 2026-06-03T07:00:00Z');
      expect((await s.cron.get(j.id))!.nextRunAt).toBe(T('2026-06-05T07:00:00Z'));
    });

    it('never submits the same due time twice across two schedulers on the same database', async () => {
      const a = h.scheduler();
      const j = await a.cron.add(job({ schedule: 'every 1h' }));
      await a.start();
      // A second process on the same database, started at the same time (its own connection or pool).
      const other = await h.openSecond();
      const b = h.scheduler({ store: other });
      await b.start();
      await h.advance(HOUR);
      expect(h.submitted.map((m) => m.eventKey)).toEqual([`cron:${j.id}:${T0 + HOUR}:1`]);

      // "Restart" while the run is in flight: a new scheduler neither resubmits nor loses it.
      await a.stop();
      const c = h.scheduler();
      await c.start();
      await h.advance(MIN);
      expect(h.submitted).toHaveLength(1);
      await h.finishTurn(c, h.submitted[0]!.conversationId, 'ok');
      expect((await c.cron.runs(j.id))[0]).toMatchObject({ status: 'ok' });
      await b.stop();
    });

    it('a run claimed but not submitted before a crash is submitted once at the next start', async () => {
      const a = h.scheduler({ submit: () => new Promise(() => {}) }); // the process "dies" inside submit
      const j = await a.cron.add(job({ schedule: 'every 1h' }));
      await a.start();
      void h.advance(HOUR);
      await settleUntil(async () => (await a.cron.runs(j.id))[0]?.status === 'running');
      // `a` is abandoned here, as if its process had died: the run is claimed, nothing is in the inbox.
      expect(await h.store.inbox.unfinished()).toHaveLength(0);
      const b = h.scheduler();
      await b.start();
      const c = h.scheduler();
      await c.start();
      expect(h.submitted.map((m) => m.eventKey)).toEqual([`cron:${j.id}:${T0 + HOUR}:1`]);
    });

    it('run-now from a stopped agentbridge (the CLI) runs after the next start', async () => {
      const cli = new CronJobService({ store: h.store });
      const j = await cli.add(job({ schedule: 'every 1d' }));
      expect(await cli.runNow('standup')).toMatchObject({ status: 'queued', kind: 'manual', dueAt: T0 });
      expect(h.submitted).toHaveLength(0);
      setTime(T0 + 3 * HOUR); // started later; a manual run is not subject to the grace window
      const s = h.scheduler();
      await s.start();
      expect(h.submitted.map((m) => m.eventKey)).toEqual([`cron:${j.id}:${T0}:1`]);
      expect((await s.cron.runs(j.id))[0]).toMatchObject({ status: 'running', kind: 'manual' });
    });
  });

  describe('the cron service refuses invalid jobs', () => {
    beforeEach(async () => {
      h = await makeHarness(T('2026-01-01T00:00:00Z'), backend);
    });

    it.each<[Partial<CronJobInput>, RegExp]>([
      [{ schedule: 'every 10s' }, /too frequent/],
      [{ schedule: '0 9 * * *', tz: 'Berlin/Mitte' }, /unknown time zone "Berlin\/Mitte"/],
      [{ name: 'bad name!' }, /invalid job name/],
      [{ target: { platform: 'irc' as never, channel: 'x' } }, /unknown platform "irc"/],
      [{ target: { platform: 'local', channel: 'Ops Room' } }, /invalid channel "Ops Room" for local/],
      [{ target: { platform: 'slack', channel: 'general' } }, /platform slack is not enabled/],
      [{ target: { platform: 'local', channel: 'ops', conversationId: 'local:ops:nope' } }, /unknown conversation "local:ops:nope"/],
      [{ prompt: '  ' }, /the prompt is empty/],
      [{ agent: 'gpt' as never }, /unknown agent "gpt"/],
    ])('%o', async (over, message) => {
      const s = h.scheduler({ platforms: ['local'] });
      await expect(s.cron.add(job(over))).rejects.toThrow(ScheduleError);
      await expect(s.cron.add(job(over))).rejects.toThrow(message);
    });

    it('refuses a second job with the same name', async () => {
      const s = h.scheduler();
      await s.cron.add(job());
      await expect(s.cron.add(job())).rejects.toThrow(/a cron job named "standup" exists already/);
    });
  });
});

/** Moves the fake clock without running timers (time passing while agentbridge is stopped). */
function setTime(ms: number): void {
  vi.setSystemTime(ms);
}

/** Waits (real time: the harness fakes only `Date`) until `check()` holds; at most 10 s. */
async function settleUntil(check: () => Promise<boolean>): Promise<void> {
  for (let i = 0; i < 1000 && !(await check()); i++) await new Promise((r) => setTimeout(r, 10));
  if (!(await check())) throw new Error('condition not reached');
}
