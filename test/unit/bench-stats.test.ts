import { describe, expect, it } from 'vitest';
import { maxInWindow, median, ms, percentile, summarize } from '../../bench/stats.js';

describe('bench statistics', () => {
  it('percentile uses the nearest rank', () => {
    const v = [5, 1, 4, 2, 3, 6, 7, 8, 9, 10];
    expect(percentile(v, 50)).toBe(5);
    expect(percentile(v, 90)).toBe(9);
    expect(percentile(v, 99)).toBe(10);
    expect(percentile(v, 100)).toBe(10);
    expect(percentile(v, 0)).toBe(1);
    expect(percentile([42], 90)).toBe(42);
    expect(percentile([], 50)).toBeNaN();
    expect(v[0]).toBe(5); // not sorted in place
  });

  it('summarize and median', () => {
    expect(summarize([3, 1, 2])).toEqual({ n: 3, p50: 2, p90: 3, p99: 3, max: 3 });
    expect(summarize(Array.from({ length: 100 }, (_, i) => i + 1)).p99).toBe(99);
    expect(summarize([]).max).toBeNaN();
    expect(median([4, 1, 3, 2])).toBe(2);
  });

  it('maxInWindow counts events in any sliding window, end exclusive', () => {
    expect(maxInWindow([], 60_000)).toBe(0);
    expect(maxInWindow([0], 60_000)).toBe(1);
    // 59.999 s apart: same window; exactly 60 s apart: not.
    expect(maxInWindow([0, 59_999], 60_000)).toBe(2);
    expect(maxInWindow([0, 60_000], 60_000)).toBe(1);
    // Unsorted input; the busiest window (50–110 s) straddles a clock minute (aligned minutes hold 2 and 3).
    expect(maxInWindow([70_000, 50_000, 55_000, 65_000, 200_000, 115_000], 60_000)).toBe(4);
  });

  it('ms formats for tables', () => {
    expect(ms(3.14159)).toBe('3.1');
    expect(ms(123.6)).toBe('124');
    expect(ms(NaN)).toBe('–');
  });
});
