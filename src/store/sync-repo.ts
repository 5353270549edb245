/**
 * The SQLite repositories are synchronous (better-sqlite3); the store's contract (`types.ts`) is
 * asynchronous. {@link SyncRepo} is the synchronous shape of a repository and {@link asyncRepo}
 * turns one into the contract's shape by running each call through the store's connection gate.
 */

/** The synchronous form of an async repository `R`: each method returns its Promise's value. */
export type SyncRepo<R> = {
  [K in keyof R]: R[K] extends (...args: infer A) => Promise<infer T> ? (...args: A) => T : R[K];
};

/**
 * Runs a synchronous store call when the connection is free for the caller and resolves to its
 * result (rejects with what it threw).
 */
export type RunOnConnection = <T>(call: () => T) => Promise<T>;

/** `sync` with every method returning a Promise through `run`. */
export function asyncRepo<R extends object>(sync: SyncRepo<R>, run: RunOnConnection): R {
  const out: Record<string, unknown> = {};
  for (const [name, value] of Object.entries(sync as Record<string, unknown>)) {
    out[name] = typeof value === 'function' ? (...args: unknown[]) => run(() => (value as (...a: unknown[]) => unknown).apply(sync, args)) : value;
  }
  return out as R;
}
