/**
 * Pure statistics for the benches (bench/e2e-bench.ts, bench/bridge-bench.ts); unit-tested in
 * test/unit/bench-stats.test.ts.
 */

/**
 * The `p`-th percentile (0–100) of `values` by the nearest-rank method: the smallest value with
 * at least p % of the values at or below it (p 0 → the minimum, p 100 → the maximum).
 * @returns NaN for an empty list. `values` is not changed.
 */
export function percentile(values: readonly number[], p: number): number {
  if (!values.length) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length - 1, Math.max(0, rank - 1))]!;
}

/** p50, p90, p99 and max of a list (NaN each when empty), and its length. */
export interface Summary {
  n: number;
  p50: number;
  p90: number;
  p99: number;
  max: number;
}

/** {@link Summary} of `values`. */
export function summarize(values: readonly number[]): Summary {
  return {
    n: values.length,
    p50: percentile(values, 50),
    p90: percentile(values, 90),
    p99: percentile(values, 99),
    max: values.length ? Math.max(...values) : NaN,
  };
}

/** The median of a list (the lower middle value for an even length; NaN when empty). */
export function median(values: readonly number[]): number {
  return percentile(values, 50);
}

/**
 * The most events in any window of `windowMs` (ms): the largest number of timestamps `t` with
 * `start ≤ t < start + windowMs` over every `start` (sliding, not aligned to the clock's minutes).
 * 0 for an empty list; `times` (ms) need not be sorted and is not changed.
 */
export function maxInWindow(times: readonly number[], windowMs: number): number {
  const sorted = [...times].sort((a, b) => a - b);
  let best = 0;
  let from = 0;
  for (let to = 0; to < sorted.length; to++) {
    while (sorted[to]! - sorted[from]! >= windowMs) from++;
    best = Math.max(best, to - from + 1);
  }
  return best;
}

/** Formats ms for a table: one decimal under 10, whole numbers above, "–" for NaN. */
export function ms(value: number): string {
  if (!Number.isFinite(value)) return '–';
  return value < 10 ? value.toFixed(1) : Math.round(value).toString();
}
