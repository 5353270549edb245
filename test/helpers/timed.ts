/**
 * Tests that record how long they took, for e2e files that print their per-test durations after
 * the run (`durations`, one line per test: seconds and name; a test may push notes of its own).
 */
import { it } from 'vitest';

/** `timed(name, fn, timeoutMs?)` declares a test like `it`, and records its duration in `durations`. */
export function timedTests(defaultTimeoutMs: number) {
  const durations: string[] = [];
  function timed(name: string, fn: () => Promise<void>, timeout = defaultTimeoutMs): void {
    it(
      name,
      async () => {
        const t0 = Date.now();
        try {
          await fn();
        } finally {
          durations.push(`${((Date.now() - t0) / 1000).toFixed(1)} s  ${name}`);
        }
      },
      timeout,
    );
  }
  return { timed, durations };
}
