import { describe, expect, it } from 'vitest';
import { DroppedCall, isDroppedCall, WebApiBudget, type BucketSpec } from '../../src/platforms/budget.js';

/** A manual clock and timer queue. */
function clock() {
  let t = 0;
  let timers: { at: number; fn: () => void; live: boolean }[] = [];
  return {
    now: () => t,
    setTimer: (fn: () => void, ms: number) => {
      const timer = { at: t + ms, fn, live: true };
      timers.push(timer);
      return () => (timer.live = false);
    },
    /** Advances time by `ms`, firing due timers in order. */
    async advance(ms: number) {
      const end = t + ms;
      for (;;) {
        const due = timers.filter((x) => x.live && x.at <= end).sort((a, b) => a.at - b.at)[0];
        if (!due) break;
        t = due.at;
        due.live = false;
        timers = timers.filter((x) => x.live);
        due.fn();
        await Promise.resolve();
      }
      t = end;
      await new Promise((r) => setImmediate(r));
    },
  };
}

const spec = (s: BucketSpec) => () => s;
const flush = () => new Promise((r) => setImmediate(r));

describe('WebApiBudget', () => {
  it('starts at most burst calls at once, then one per 60/perMinute s', async () => {
    const c = clock();
    const b = new WebApiBudget({ spec: spec({ burst: 2, perMinute: 60 }), now: c.now, setTimer: c.setTimer });
    const started: number[] = [];
    const calls = [1, 2, 3, 4].map((i) => b.urgent('m', 'C1', async () => started.push(i)));
    await flush();
    expect(started).toEqual([1, 2]);
    await c.advance(999);
    expect(started).toEqual([1, 2]);
    await c.advance(1);
    expect(started).toEqual([1, 2, 3]);
    await c.advance(1000);
    await Promise.all(calls);
    expect(started).toEqual([1, 2, 3, 4]);
  });

  it('keeps buckets per method and channel', async () => {
    const c = clock();
    const b = new WebApiBudget({ spec: spec({ burst: 1, perMinute: 1 }), now: c.now, setTimer: c.setTimer });
    const started: string[] = [];
    for (const [m, ch] of [
      ['a', 'C1'],
      ['a', 'C2'],
      ['b', 'C1'],
      ['a', 'C1'],
    ])
      void b.urgent(m!, ch!, async () => started.push(`${m}:${ch}`));
    await flush();
    expect(started).toEqual(['a:C1', 'a:C2', 'b:C1']);
    expect(b.waiting).toBe(1);
  });

  it('keeps one bucket per method for every channel when the spec says scope: method (Slack tiers, workspace-wide)', async () => {
    const c = clock();
    const b = new WebApiBudget({
      spec: (m) => (m === 'tier' ? { burst: 1, perMinute: 1, scope: 'method' } : { burst: 1, perMinute: 1 }),
      now: c.now,
      setTimer: c.setTimer,
    });
    const started: string[] = [];
    for (const [m, ch] of [
      ['tier', 'C1'],
      ['tier', 'C2'],
      ['post', 'C1'],
      ['post', 'C2'],
    ])
      void b.urgent(m!, ch!, async () => started.push(`${m}:${ch}`));
    await flush();
    expect(started).toEqual(['tier:C1', 'post:C1', 'post:C2']);
    await c.advance(60_000);
    expect(started).toEqual(['tier:C1', 'post:C1', 'post:C2', 'tier:C2']);
  });

  it('decoration leaves the reserve for urgent calls: a notice after a decoration burst starts at once', async () => {
    const c = clock();
    const b = new WebApiBudget({ spec: spec({ burst: 3, perMinute: 60, reserve: 1 }), now: c.now, setTimer: c.setTimer });
    const started: string[] = [];
    for (const d of ['d1', 'd2', 'd3']) void b.decoration('m', 'C', async () => started.push(d)).catch(() => {});
    await flush();
    expect(started).toEqual(['d1', 'd2']); // the third token is kept
    void b.urgent('m', 'C', async () => started.push('answer'));
    await flush();
    expect(started).toEqual(['d1', 'd2', 'answer']);
    // d3 needs 1 + reserve tokens: two refills (1 s each at 60 a minute).
    await c.advance(1_000);
    expect(started).toEqual(['d1', 'd2', 'answer']);
    await c.advance(1_000);
    expect(started).toEqual(['d1', 'd2', 'answer', 'd3']);
  });

  it('serves urgent calls before decoration, whatever the order they came in', async () => {
    const c = clock();
    const b = new WebApiBudget({ spec: spec({ burst: 1, perMinute: 60 }), now: c.now, setTimer: c.setTimer });
    const started: string[] = [];
    void b.urgent('m', 'C', async () => started.push('first'));
    void b.decoration('m', 'C', async () => started.push('decoration')).catch(() => {});
    void b.urgent('m', 'C', async () => started.push('answer'));
    await flush();
    await c.advance(1000);
    await c.advance(1000);
    expect(started).toEqual(['first', 'answer', 'decoration']);
  });

  it('a decoration with the same slot replaces the waiting one (which is dropped), keeping its place', async () => {
    const c = clock();
    const b = new WebApiBudget({ spec: spec({ burst: 1, perMinute: 60 }), now: c.now, setTimer: c.setTimer });
    const sent: string[] = [];
    void b.urgent('m', 'C', async () => sent.push('u'));
    const old = b.decoration('m', 'C', async () => sent.push('edit-1 of A'), { slot: 'A' });
    void b.decoration('m', 'C', async () => sent.push('B'), { slot: 'B' });
    const latest = b.decoration('m', 'C', async () => sent.push('edit-2 of A'), { slot: 'A' });
    await expect(old).rejects.toSatisfy((e: unknown) => isDroppedCall(e) && (e as DroppedCall).why === 'superseded');
    await c.advance(1000);
    await c.advance(1000);
    await latest;
    expect(sent).toEqual(['u', 'edit-2 of A', 'B']);
  });

  it('an aborted decoration is dropped while it waits; one already started runs to the end', async () => {
    const c = clock();
    const b = new WebApiBudget({ spec: spec({ burst: 1, perMinute: 60 }), now: c.now, setTimer: c.setTimer });
    const ac = new AbortController();
    let release!: () => void;
    const started = b.decoration('m', 'C', () => new Promise<string>((r) => (release = () => r('done'))), { signal: ac.signal });
    const waiting = b.decoration('m', 'C', async () => 'never', { signal: ac.signal });
    await flush();
    ac.abort();
    await expect(waiting).rejects.toBeInstanceOf(DroppedCall);
    release();
    await expect(started).resolves.toBe('done');
    await expect(b.decoration('m', 'C', async () => 'x', { signal: ac.signal })).rejects.toBeInstanceOf(DroppedCall);
    expect(b.waiting).toBe(0);
  });

  it('never starts more than burst + perMinute calls in any 60 s window', async () => {
    const c = clock();
    const s = { burst: 5, perMinute: 40 };
    const b = new WebApiBudget({ spec: spec(s), now: c.now, setTimer: c.setTimer });
    const starts: number[] = [];
    for (let i = 0; i < 200; i++) void b.urgent('m', 'C', async () => starts.push(c.now()));
    for (let i = 0; i < 300; i++) await c.advance(1000);
    expect(starts).toHaveLength(200);
    let worst = 0;
    for (let i = 0; i < starts.length; i++) worst = Math.max(worst, starts.filter((x) => x >= starts[i]! && x < starts[i]! + 60_000).length);
    expect(worst).toBeLessThanOrEqual(s.burst + s.perMinute);
  });

  it('runs methods without a bucket at once and passes results and errors through', async () => {
    const b = new WebApiBudget({ spec: () => undefined });
    await expect(b.urgent('x', 'C', async () => 7)).resolves.toBe(7);
    await expect(b.decoration('x', 'C', async () => Promise.reject(new Error('boom')))).rejects.toThrow('boom');
  });
});

describe('WebApiBudget, a call that throws at once', () => {
  it('rejects that call only, also when it starts from the timer', async () => {
    const c = clock();
    const b = new WebApiBudget({ spec: spec({ burst: 1, perMinute: 60 }), now: c.now, setTimer: c.setTimer });
    const first = b.urgent('m', 'C', () => {
      throw new Error('not started');
    });
    await expect(first).rejects.toThrow('not started');
    const later = b.urgent('m', 'C', () => {
      throw new Error('still not started');
    });
    const after = b.urgent('m', 'C', async () => 'fine');
    const laterRejects = expect(later).rejects.toThrow('still not started'); // handled before it rejects
    await c.advance(1000);
    await laterRejects;
    await c.advance(1000);
    await expect(after).resolves.toBe('fine');
  });
});
