/**
 * A small seeded pseudo-random generator (mulberry32: 32-bit state, period 2^32) for the chaos
 * suite, so every random choice of a run follows from its printed seed. Pure; not for
 * cryptography.
 */

export interface Prng {
  /** A float in [0, 1). */
  next(): number;
  /** An integer in [min, max] (both inclusive). */
  int(min: number, max: number): number;
  /** One element of a non-empty array. @throws Error on an empty array. */
  pick<T>(items: readonly T[]): T;
  /** true with probability `p` (0–1). */
  chance(p: number): boolean;
  /** `count` distinct integers from [min, max], ascending. @throws Error when the range is too small. */
  distinct(count: number, min: number, max: number): number[];
}

/** FNV-1a hash of a string to 32 bits (to derive one generator per scenario from the run's seed). */
export function hash32(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

/** A generator seeded with `seed` (an unsigned 32-bit integer) mixed with `stream` (e.g. the scenario name). */
export function makePrng(seed: number, stream = ''): Prng {
  let state = (seed ^ hash32(stream)) >>> 0;
  const next = (): number => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const int = (min: number, max: number): number => min + Math.floor(next() * (max - min + 1));
  return {
    next,
    int,
    pick: (items) => {
      if (!items.length) throw new Error('pick from an empty array');
      return items[int(0, items.length - 1)]!;
    },
    chance: (p) => next() < p,
    distinct: (count, min, max) => {
      if (max - min + 1 < count) throw new Error(`cannot pick ${count} distinct integers from [${min}, ${max}]`);
      const chosen = new Set<number>();
      while (chosen.size < count) chosen.add(int(min, max));
      return [...chosen].sort((a, b) => a - b);
    },
  };
}
