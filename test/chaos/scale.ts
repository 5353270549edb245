/**
 * The chaos suite's knobs, read once from the environment (zod-checked):
 *
 * - `CHAOS_SCALE`: `full` (default; the full sizes, docs/ARCHITECTURE.md §6 chaos suite) or `ci` (reduced so the whole suite
 *   finishes in under 4 minutes on a loaded 2-core machine).
 * - `CHAOS_SEED`: an unsigned 32-bit integer; default a fresh random one. Printed at the start of
 *   every scenario and stored in its results file, so a failing run can be replayed with
 *   `CHAOS_SEED=<seed> npm run chaos`. The seed fixes every choice the suite makes (thread of each
 *   message, gaps, kill and fault moments, model delays); timing of the processes themselves is
 *   not replayable, so a replay reproduces the schedule, not the exact interleaving.
 *
 * @throws Error naming the bad variable when a value is invalid.
 */
import { randomInt } from 'node:crypto';
import { z } from 'zod';

export type ChaosScale = 'full' | 'ci';

const envSchema = z.object({
  CHAOS_SCALE: z.enum(['full', 'ci'], { error: 'CHAOS_SCALE must be "full" or "ci"' }).default('full'),
  CHAOS_SEED: z
    .string()
    .regex(/^\d{1,10}$/, 'CHAOS_SEED must be an unsigned 32-bit integer')
    .transform(Number)
    .refine((n) => n <= 0xffff_ffff, 'CHAOS_SEED must be an unsigned 32-bit integer')
    .optional(),
});

function read(): { scale: ChaosScale; seed: number } {
  const parsed = envSchema.safeParse({ CHAOS_SCALE: process.env.CHAOS_SCALE || undefined, CHAOS_SEED: process.env.CHAOS_SEED || undefined });
  if (!parsed.success) throw new Error(`chaos suite: ${parsed.error.issues.map((i) => i.message).join('; ')}`);
  return { scale: parsed.data.CHAOS_SCALE, seed: parsed.data.CHAOS_SEED ?? randomInt(0, 0xffff_ffff) };
}

const knobs = read();

/** `full` or `ci` (see the module doc). */
export const SCALE: ChaosScale = knobs.scale;
/** The run's seed (see the module doc). */
export const SEED: number = knobs.seed;

/** Picks the value for the current scale. */
export function bySize<T>(sizes: { full: T; ci: T }): T {
  return sizes[SCALE];
}
