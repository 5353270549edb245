import { describe, it, expect, vi, afterEach, beforeEach } from 'vitest';
import { EditThrottle, type SetTimer } from '../../src/conversation/throttle.js';

/** A send that records calls with their (fake) time and can be held open. */
function recorder() {
  const calls: { text: string; at: number }[] = [];
  let active = 0;
  let maxActive = 0;
  let hold: Promise<void> | null = null;
  let release = () => {};
  const send = vi.fn(async (text: string) => {
    calls.push({ text, at: Date.now() });
    active++;
    maxActive = Math.max(maxActive, active);
    try {
      if (hold) await hold;
    } finally {
      active--;
    }
  });
  return {
    send,
    calls,
    texts: () => calls.map((c) => c.text),
    maxActive: () => maxActive,
    holdSends: () => {
      hold = new Promise((r) => (release = r));
    },
    releaseSends: () => {
      hold = null;
      release();
    },
  };
}

describe('EditThrottle (vitest fake timers, default clock and timer)', () => {
  beforeEach(() => {
    vi.useFakeTimers();
    vi.setSystemTime(0);
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it('sends the first edit at once, then coalesces to the latest text per interval', async () => {
    const r = recorder();
    const th = new EditThrottle({ minIntervalMs: 1000, send: r.send });
    th.update('a');
    expect(r.texts()).toEqual(['a']); // synchronously
    th.update('b');
    th.update('c');
    await vi.advanceTimersByTimeAsync(999);
    expect(r.texts()).toEqual(['a']);
    await vi.advanceTimersByTimeAsync(1);
    expect(r.texts()).toEqual(['a', 'c']);
    expect(r.calls[1]!.at).toBe(1000);
  });

  it('never starts two edits within the interval, and always delivers the last text', async () => {
    const r = recorder();
    const th = new EditThrottle({ minIntervalMs: 1000, send: r.send });
    for (let i = 0; i < 100; i++) {
      th.update(`t${i}`);
      await vi.advanceTimersByTimeAsync(70);
    }
    await vi.advanceTimersByTimeAsync(5000);
    const at = r.calls.map((c) => c.at);
    for (let i = 1; i < at.length; i++) expect(at[i]! - at[i - 1]!).toBeGreaterThanOrEqual(1000);
    expect(r.texts().at(-1)).toBe('t99');
    expect(r.calls.length).toBeLessThanOrEqual(8);
  });

  it('sends one edit at a time, even when an edit takes longer than the interval', async () => {
    const r = recorder();
    const th = new EditThrottle({ minIntervalMs: 100, send: r.send });
    r.holdSends();
    th.update('a');
    th.update('b');
    await vi.advanceTimersByTimeAsync(1000);
    expect(r.texts()).toEqual(['a']); // 'b' waits for 'a' to finish
    th.update('c');
    r.releaseSends();
    await vi.advanceTimersByTimeAsync(0);
    expect(r.texts()).toEqual(['a', 'c']); // interval long over: sent as soon as 'a' finished
    expect(r.maxActive()).toBe(1);
  });

  it('reports a failing edit to onError and carries on', async () => {
    const errors: unknown[] = [];
    const sent: string[] = [];
    let n = 0;
    const send = async (text: string) => {
      n++;
      if (n === 1) throw new Error('rate limited');
      if (n === 2) return Promise.reject(new Error('boom'));
      sent.push(text);
    };
    const th = new EditThrottle({ minIntervalMs: 500, send, onError: (e) => errors.push(e) });
    th.update('a');
    await vi.advanceTimersByTimeAsync(0);
    th.update('b');
    await vi.advanceTimersByTimeAsync(500);
    th.update('c');
    const flushed = th.flush();
    await vi.advanceTimersByTimeAsync(500);
    await flushed;
    expect(errors.map((e) => (e as Error).message)).toEqual(['rate limited', 'boom']);
    expect(sent).toEqual(['c']);
  });

  it('survives a send that throws synchronously and an onError that throws', async () => {
    let n = 0;
    const send = (text: string): Promise<void> => {
      if (++n === 1) throw new Error('sync');
      return Promise.resolve(void text);
    };
    const th = new EditThrottle({
      minIntervalMs: 10,
      send,
      onError: () => {
        throw new Error('logger broke');
      },
    });
    th.update('a');
    th.update('b');
    const done = th.flush();
    await vi.advanceTimersByTimeAsync(10);
    await done;
    expect(n).toBe(2);
  });

  it('flush resolves once the pending edit has been sent, and at once when idle', async () => {
    const r = recorder();
    const th = new EditThrottle({ minIntervalMs: 1000, send: r.send });
    await th.flush(); // idle
    th.update('a');
    th.update('b');
    let flushed = false;
    const f = th.flush().then(() => (flushed = true));
    await vi.advanceTimersByTimeAsync(999);
    expect(flushed).toBe(false);
    await vi.advanceTimersByTimeAsync(1);
    await f;
    expect(r.texts()).toEqual(['a', 'b']);
    // A later update does not hold back an earlier flush.
    th.update('c');
    const f2 = th.flush();
    th.update('d');
    await vi.advanceTimersByTimeAsync(1000);
    await f2;
    expect(r.texts().at(-1)).toBe('d');
  });

  it('skips a text equal to the last one delivered (or to initialText)', async () => {
    const r = recorder();
    const th = new EditThrottle({ minIntervalMs: 100, send: r.send, initialText: 'start' });
    th.update('start');
    await th.flush();
    expect(r.texts()).toEqual([]);
    th.update('x');
    th.update('y');
    th.update('x'); // latest wins, but it is what the message already shows
    await vi.advanceTimersByTimeAsync(100);
    await th.flush();
    expect(r.texts()).toEqual(['x']);
  });

  it('close drops the pending edit, waits for the one in flight, and ignores later updates', async () => {
    const r = recorder();
    const th = new EditThrottle({ minIntervalMs: 1000, send: r.send });
    r.holdSends();
    th.update('a');
    th.update('b');
    let closed = false;
    const c = th.close().then(() => (closed = true));
    const f = th.flush();
    await vi.advanceTimersByTimeAsync(0);
    expect(closed).toBe(false); // 'a' still in flight
    r.releaseSends();
    await c;
    await f;
    th.update('c');
    await vi.advanceTimersByTimeAsync(10_000);
    expect(r.texts()).toEqual(['a']);
    await th.flush();
    await th.close();
  });
});

describe('EditThrottle (injected clock and timer)', () => {
  /** A hand-driven scheduler: nothing happens until `advance`. */
  function manualTime() {
    let t = 0;
    let timers: { at: number; fn: () => void }[] = [];
    const setTimer: SetTimer = (fn, ms) => {
      const timer = { at: t + ms, fn };
      timers.push(timer);
      return () => {
        timers = timers.filter((x) => x !== timer);
      };
    };
    const settle = async () => {
      for (let i = 0; i < 10; i++) await Promise.resolve();
    };
    const advance = async (ms: number) => {
      const end = t + ms;
      for (;;) {
        const next = timers.filter((x) => x.at <= end).sort((a, b) => a.at - b.at)[0];
        if (!next) break;
        timers = timers.filter((x) => x !== next);
        t = next.at;
        next.fn();
        await settle();
      }
      t = end;
      await settle();
    };
    return { now: () => t, setTimer, advance, pendingTimers: () => timers.length };
  }

  it('waits exactly the rest of the interval, measured from the previous start', async () => {
    const time = manualTime();
    const sent: { text: string; at: number }[] = [];
    const th = new EditThrottle({
      minIntervalMs: 1000,
      now: time.now,
      setTimer: time.setTimer,
      send: async (text) => void sent.push({ text, at: time.now() }),
    });
    th.update('a');
    await time.advance(400);
    th.update('b');
    expect(time.pendingTimers()).toBe(1);
    await time.advance(599);
    expect(sent.map((s) => s.text)).toEqual(['a']);
    await time.advance(1);
    expect(sent).toEqual([
      { text: 'a', at: 0 },
      { text: 'b', at: 1000 },
    ]);
    await time.advance(5000);
    th.update('c'); // long after: immediate
    expect(sent.at(-1)).toEqual({ text: 'c', at: 6000 });
  });

  it('cancels its timer on close', async () => {
    const time = manualTime();
    const sent: string[] = [];
    const th = new EditThrottle({ minIntervalMs: 1000, now: time.now, setTimer: time.setTimer, send: async (t) => void sent.push(t) });
    th.update('a');
    th.update('b');
    await time.advance(0); // 'a' done; 'b' waits for the timer
    expect(time.pendingTimers()).toBe(1);
    await th.close();
    expect(time.pendingTimers()).toBe(0);
    await time.advance(5000);
    expect(sent).toEqual(['a']);
  });

  it('rejects a negative interval', () => {
    expect(() => new EditThrottle({ minIntervalMs: -1, send: async () => {} })).toThrow(RangeError);
  });
});

describe('EditThrottle lastSentAt', () => {
  it('counts the post as a write: the first edit waits out the interval from it', async () => {
    let t = 1_000;
    const sent: string[] = [];
    const timers: { at: number; fn: () => void }[] = [];
    const th = new EditThrottle({
      minIntervalMs: 1_000,
      now: () => t,
      setTimer: (fn, ms) => {
        timers.push({ at: t + ms, fn });
        return () => {};
      },
      send: async (x) => void sent.push(x),
      lastSentAt: 900,
    });
    th.update('soon after the post');
    await Promise.resolve();
    expect(sent).toEqual([]);
    expect(timers.map((x) => x.at)).toEqual([1_900]);
    t = 1_900;
    timers[0]!.fn();
    await Promise.resolve();
    expect(sent).toEqual(['soon after the post']);
  });
});
