/**
 * The store tests of the SQL store (src/store/sql/: one set of queries for both backends) run
 * against both backends: `describe.each(BACKENDS)('… (%s)', (backend) => …)` with
 * {@link openTestStore} giving an empty, migrated store of that backend.
 */
import { openPostgresStore, type PostgresStore } from '../../src/store/postgres.js';
import type { Backend } from '../../src/store/sql/kysely.js';
import { openStore, type SqliteStore } from '../../src/store/store.js';
import { createLogger } from '../../src/logger.js';
import { freshPostgresDatabase } from './pg.js';

/** Both backends, for `describe.each`. */
export const BACKENDS: Backend[] = ['sqlite', 'postgres'];

/** A store of either backend, with its connection (SQLite) or pool (PostgreSQL) for raw SQL. */
export type TestStore = SqliteStore | PostgresStore;

/**
 * An empty, migrated store of `backend` (the app's SQLite store, `openStore`, in memory; PostgreSQL in a new database of
 * the test server); `cleanup` closes and removes it.
 */
export async function openTestStore(backend: Backend): Promise<{ store: TestStore; cleanup: () => Promise<void> }> {
  if (backend === 'sqlite') {
    const store = openStore({ dbPath: ':memory:', logger: createLogger('silent') });
    return { store, cleanup: () => store.close() };
  }
  const pg = await freshPostgresDatabase();
  const store = await openPostgresStore({ url: pg.url, logger: createLogger('silent') });
  return {
    store,
    cleanup: async () => {
      await store.close();
      await pg.drop();
    },
  };
}
