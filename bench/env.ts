/**
 * The benches' settings from the environment: `BENCH_QUICK=1` (a smoke run), integers and
 * comma-separated integer lists with defaults.
 */

/** True for a smoke run (`BENCH_QUICK=1`). */
export const QUICK = process.env.BENCH_QUICK === '1';

/** The integer in `name`, else `def`. */
export const intEnv = (name: string, def: number): number => (process.env[name] ? Number(process.env[name]) : def);

/** The comma-separated integers in `name` (empty items skipped), else `def`. */
export const listEnv = (name: string, def: number[]): number[] =>
  process.env[name] !== undefined
    ? process.env[name]!.split(',')
        .map((s) => s.trim())
        .filter(Boolean)
        .map(Number)
    : def;
