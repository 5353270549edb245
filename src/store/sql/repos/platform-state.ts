/** The `platform_state` table: durable key-value state of platform adapters. */
import { sql } from 'kysely';
import { all, first, run, type SqlContext } from '../kysely.js';
import type { PlatformStateRepo } from '../../types.js';

/** Creates the repository. Keys are namespaced by the caller, e.g. `discord:cursor:<channel>`. */
export function createPlatformStateRepo({ q }: SqlContext): PlatformStateRepo {
  return {
    get: async (key) => (await first(q, sql<{ value: string }>`SELECT value FROM platform_state WHERE key = ${key}`))?.value,
    async set(key, value) {
      await run(
        q,
        sql`INSERT INTO platform_state (key, value, updated_at) VALUES (${key}, ${value}, ${Date.now()})
            ON CONFLICT (key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at`,
      );
    },
    async delete(key) {
      await run(q, sql`DELETE FROM platform_state WHERE key = ${key}`);
    },
    // Keys are compared by range (the primary key's index; byte order on both backends: the
    // PostgreSQL column is COLLATE "C"): [prefix, prefix + U+FFFF).
    list: (prefix) =>
      all(q, sql<{ key: string; value: string }>`SELECT key, value FROM platform_state WHERE key >= ${prefix} AND key < ${`${prefix}\uffff`} ORDER BY key`),
  };
}
