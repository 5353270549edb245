/**
 * Where the chaos scenarios put their figures: `chaos-results/<scenario>.json` at the repository
 * root (gitignored), plus one summary line on stdout, so the README's reliability section can
 * quote them. Written before the assertions run, so a failing scenario leaves its figures too.
 */
import fs from 'node:fs';
import path from 'node:path';
import { SCALE, SEED } from './scale.js';

/** The results directory (repository root `chaos-results/`). */
export const RESULTS_DIR = path.resolve(import.meta.dirname, '../../chaos-results');

/**
 * Writes `{scenario, scale, seed, finishedAt, ...figures}` to `chaos-results/<scenario>.json`
 * and prints `chaos <scenario> [<scale> seed=<seed>]: <summary>`.
 * @param figures counts and durations (ms unless the key says otherwise)
 */
export function writeResults(scenario: string, summary: string, figures: Record<string, unknown>): void {
  fs.mkdirSync(RESULTS_DIR, { recursive: true });
  const file = path.join(RESULTS_DIR, `${scenario}.json`);
  const body = { scenario, scale: SCALE, seed: SEED, finishedAt: new Date().toISOString(), summary, ...figures };
  fs.writeFileSync(file, JSON.stringify(body, null, 2) + '\n');
  process.stdout.write(`chaos ${scenario} [${SCALE} seed=${SEED}]: ${summary}\n`);
}

/** Prints the scenario's start line with the seed (for replaying a failure). */
export function announce(scenario: string, what: string): void {
  process.stdout.write(`chaos ${scenario} [${SCALE} seed=${SEED}] starting: ${what} (replay with CHAOS_SEED=${SEED} CHAOS_SCALE=${SCALE})\n`);
}
