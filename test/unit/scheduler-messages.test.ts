/**
 * Scheduled messages in the Scheduler on a fake clock: delay, at, every (incl. missed intervals
 * after a restart), validation, and that list/cancel/reset act on one conversation only. Every
 * case runs on both backends (SQLite file, PostgreSQL database).
 */
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { MESSAGE_LIMITS } from '../../src/scheduler/messages.js';
import { ScheduleError, type ScheduleMessageInput } from '../../src/scheduler/types.js';
import { BACKENDS } from '../helpers/backends.js';
import { makeHarness, type Harness } from './scheduler-harness.js';

const T0 = Date.parse('2026-04-10T10:00:00Z');
const MIN = 60_000;
const A = 'local:general:ta';
const B = 'local:general:tb';
let h: Harness;

describe.each(BACKENDS)('scheduled messages (%s)', (backend) => {
  beforeEach(async () => {
    h = await makeHarness(T0, backend);
    await h.store.conversations.ensure({ id: A, platform: 'local', channel: 'general', thread: 'ta' });
    await h.store.conversations.ensure({ id: B, platform: 'local', channel: 'general', thread: 'tb' });
  });
  afterEach(() => h.cleanup());

  const input = (over: Partial<ScheduleMessageInput>): ScheduleMessageInput => ({ text: 'check the deploy again', createdBy: 'agent', ...over });

  describe('scheduled messages run as turns of their conversation', () => {
    it("after a delay: submitted once when due, as the conversation's message; then gone", async () => {
      const s = h.scheduler();
      await s.start();
      const m = await s.messages.add(A, input({ delaySeconds: 90 }));
      expect(m).toMatchObject({ conversationId: A, dueAt: T0 + 90_000, everyMs: null, createdBy: 'agent' });
      await h.advance(89_999);
      expect(h.submitted).toHaveLength(0);
      await h.advance(1);
      expect(h.submitted).toEqual([
        {
          platform: 'local',
          origin: 'scheduler',
          conversationId: A,
          channel: 'general',
          thread: 'ta',
          author: { id: 'scheduler', name: 'scheduled message' },
          text: 'check the deploy again',
          eventKey: `sched:${m.id}:${T0 + 90_000}`,
          replyTarget: { platform: 'local', channel: 'general', thread: 'ta' },
          receivedAt: T0 + 90_000,
        },
      ]);
      expect(await s.messages.list(A)).toEqual([]);
      await h.advance(60 * MIN);
      expect(h.submitted).toHaveLength(1);
    });

    it('at a time', async () => {
      const s = h.scheduler();
      await s.start();
      const m = await s.messages.add(A, input({ at: '2026-04-10T12:30:00+02:00' })); // 10:30Z
      expect(m.dueAt).toBe(T0 + 30 * MIN);
      await h.advance(30 * MIN - 1);
      expect(h.submitted).toHaveLength(0);
      await h.advance(1);
      expect(h.submitted.map((x) => x.eventKey)).toEqual([`sched:${m.id}:${T0 + 30 * MIN}`]);
    });

    it('every interval: runs each interval and stays scheduled', async () => {
      const s = h.scheduler();
      await s.start();
      const m = await s.messages.add(A, input({ every: '15m' }));
      await h.advance(45 * MIN);
      expect(h.submitted.map((x) => x.eventKey)).toEqual([15, 30, 45].map((n) => `sched:${m.id}:${T0 + n * MIN}`));
      expect(await s.messages.list(A)).toEqual([{ ...m, dueAt: T0 + 60 * MIN }]);
    });

    it('after a restart: a one-shot still runs; a recurring one runs its latest interval within grace, else skips to the next', async () => {
      const s1 = h.scheduler();
      const once = await s1.messages.add(A, input({ delaySeconds: 60 }));
      const every = await s1.messages.add(B, input({ every: 'every 1h' }));
      vi.setSystemTime(T0 + 3 * 60 * MIN + 5 * MIN); // stopped for 3 h 5 min
      const s2 = h.scheduler();
      await s2.start();
      expect(h.submitted.map((x) => x.eventKey).sort()).toEqual([`sched:${every.id}:${T0 + 3 * 60 * MIN}`, `sched:${once.id}:${T0 + MIN}`].sort());
      expect((await s2.messages.list(B))[0]!.dueAt).toBe(T0 + 4 * 60 * MIN);

      vi.setSystemTime(T0 + 6 * 60 * MIN + 30 * MIN); // 30 min past the 6 h due time: beyond grace
      const s3 = h.scheduler();
      await s3.start();
      expect(h.submitted).toHaveLength(2);
      expect((await s3.messages.list(B))[0]!.dueAt).toBe(T0 + 7 * 60 * MIN);
      expect(h.logs.some((l) => l.msg === 'scheduled message: missed intervals beyond the grace window were skipped')).toBe(true);
    });

    it('a refused submission is tried again 30 s later', async () => {
      let refuse = true;
      const s = h.scheduler({
        submit: async (m) => {
          h.submitted.push(m);
          if (refuse) throw new Error('agentbridge is shutting down');
          return 'accepted';
        },
      });
      await s.start();
      const m = await s.messages.add(A, input({ delaySeconds: 10 }));
      await h.advance(10_000);
      expect(h.submitted).toHaveLength(1);
      expect(await s.messages.list(A)).toEqual([{ ...m, dueAt: T0 + 40_000 }]);
      refuse = false;
      await h.advance(30_000);
      expect(h.submitted.map((x) => x.eventKey)).toEqual([`sched:${m.id}:${T0 + 10_000}`, `sched:${m.id}:${T0 + 40_000}`]);
      expect(await s.messages.list(A)).toEqual([]);
    });

    it('a due message reaches the inbox once even when two schedulers fire it', async () => {
      const a = h.scheduler();
      const m = await a.messages.add(A, input({ delaySeconds: 5 }));
      const b = h.scheduler();
      await Promise.all([a.start(), b.start()]);
      await h.advance(5 * MIN);
      // Both may submit; the event key is the same, so the inbox keeps one and the turn runs once.
      expect(new Set(h.submitted.map((x) => x.eventKey))).toEqual(new Set([`sched:${m.id}:${T0 + 5_000}`]));
      expect((await h.store.inbox.unfinished()).filter((r) => r.eventKey.startsWith('sched:'))).toHaveLength(1);
      expect(await a.messages.list(A)).toEqual([]);
    });
  });

  describe('scope and limits', () => {
    it('list, cancel and reset act on their own conversation only', async () => {
      const s = h.scheduler();
      const a1 = await s.messages.add(A, input({ delaySeconds: 60 }));
      const a2 = await s.messages.add(A, input({ every: '2h' }));
      const b1 = await s.messages.add(B, input({ delaySeconds: 30 }));
      expect((await s.messages.list(A)).map((m) => m.id)).toEqual([a1.id, a2.id]);
      expect((await s.messages.list(B)).map((m) => m.id)).toEqual([b1.id]);

      expect(await s.messages.cancel(B, a1.id)).toBe(false); // another conversation's id
      expect(await s.messages.list(A)).toHaveLength(2);
      expect(await s.messages.cancel(A, a1.id)).toBe(true);
      expect(await s.messages.cancel(A, a1.id)).toBe(false);

      expect(await s.messages.reset(B)).toBe(1);
      expect((await s.messages.list(A)).map((m) => m.id)).toEqual([a2.id]);
      expect(await s.messages.reset(A)).toBe(1);
      expect(await s.messages.reset(A)).toBe(0);
    });

    it.each<[Partial<ScheduleMessageInput>, RegExp]>([
      [{}, /exactly one of delay_seconds, at or every/],
      [{ delaySeconds: 10, every: '1h' }, /exactly one of delay_seconds, at or every/],
      [{ delaySeconds: 0.5 }, /delay_seconds must be a number ≥ 1/],
      [{ every: '30s' }, /too frequent: the shortest interval is 1m/],
      [{ every: 'often' }, /"often" is not an interval/],
      [{ at: '2026-04-10T09:00:00Z' }, /is in the past/],
      [{ at: '2026-04-10T19:00:00' }, /ISO 8601 time with an offset/],
      [{ delaySeconds: 60, text: 'x'.repeat(4_001) }, /4001 characters; at most 4000/],
      [{ delaySeconds: 60, text: '  ' }, /the message text is empty/],
    ])('refuses %o', async (over, message) => {
      const s = h.scheduler();
      await expect(s.messages.add(A, input(over))).rejects.toThrow(ScheduleError);
      await expect(s.messages.add(A, input(over))).rejects.toThrow(message);
    });

    it(`holds at most ${MESSAGE_LIMITS.perConversation} per conversation, and none for an unknown conversation`, async () => {
      const s = h.scheduler();
      for (let i = 0; i < 50; i++) await s.messages.add(A, input({ delaySeconds: 60 + i }));
      await expect(s.messages.add(A, input({ delaySeconds: 60 }))).rejects.toThrow(/has 50 scheduled messages already/);
      expect(await s.messages.add(B, input({ delaySeconds: 60 }))).toBeDefined();
      await expect(s.messages.add('local:general:nope', input({ delaySeconds: 60 }))).rejects.toThrow(/unknown conversation/);
    });

    it('deleting the conversation deletes its scheduled messages', async () => {
      const s = h.scheduler();
      await s.messages.add(A, input({ delaySeconds: 60 }));
      await h.store.conversations.delete(A);
      expect(await s.messages.list(A)).toEqual([]);
    });
  });
});
