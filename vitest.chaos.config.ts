/**
 * The chaos suite (`npm run chaos`): test/chaos/*.chaos.ts, one file at a time in one worker,
 * long timeouts. Not part of `npm test` (vitest.config.ts only includes *.test.ts).
 * `CHAOS_SCALE=full` (default) runs the sizes of docs/ARCHITECTURE.md §6 (chaos suite); `CHAOS_SCALE=ci` a reduced run that
 * finishes in under 4 minutes; `CHAOS_SEED=<n>` replays a run's schedule. One seed serves every
 * scenario of a run (drawn here when not given; checked by test/chaos/scale.ts).
 */
import { randomInt } from 'node:crypto';
import { defineConfig } from 'vitest/config';

const scale = process.env.CHAOS_SCALE || 'full';
const seed = process.env.CHAOS_SEED || String(randomInt(0, 0xffff_ffff));

export default defineConfig({
  test: {
    include: ['test/chaos/**/*.chaos.ts'],
    env: { CHAOS_SCALE: scale, CHAOS_SEED: seed },
    testTimeout: scale === 'ci' ? 240_000 : 45 * 60_000,
    hookTimeout: 120_000,
    pool: 'forks',
    setupFiles: ['./test/helpers/reap-setup.ts'],
    maxWorkers: 1,
    fileParallelism: false,
    reporters: ['default', './test/helpers/summary-reporter.ts'],
  },
});
