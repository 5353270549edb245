/**
 * The store tests of the SQL store (src/store/sql/: one set of queries for both backends) run
 * against both backends: `describe.each(BACKENDS)('… (%s)', (backend) => …)` with
 * {@link openTestStore} giving an empty, migrated store of that backend.
 */
import { openDatabase, type Db } from '../../src/store/db.js';
import { migrate } from '../../src/store/migrate.js';
import { openPostgresStore, type PostgresStore } from '../../src/store/postgres.js';
import { openSqliteKysely, type Backend } from '../../src/store/sql/kysely.js';
import { createSqlStore } from '../../src/store/sql/store.js';
import type { Store } from '../../src/store/types.js';
import { createLogger } from '../../src/logger.js';
import { freshPostgresDatabase } from './pg.js';

/** Both backends, for `describe.each`. */
export const BACKENDS: Backend[] = ['sqlite', 'postgres'];

/** The SQL store on SQLite, with its connection for raw SQL in tests. */
export interface SqliteTestStore extends Store {
  readonly backend: 'sqlite';
  readonly db: Db;
}

/** A store of either backend, with its connection (SQLite) or pool (PostgreSQL) for raw SQL. */
export type TestStore = SqliteTestStore | PostgresStore;

/**
 * An empty, migrated SQL store of `backend` (SQLite in memory; PostgreSQL in a new database of
 * the test server); `cleanup` closes and removes it.
 */
export async function openTestStore(backend: Backend): Promise<{ store: TestStore; cleanup: () => Promise<void> }> {
  if (backend === 'sqlite') {
    const db = openDatabase(':memory:');
    migrate(db);
    const store: SqliteTestStore = { ...createSqlStore(openSqliteKysely(db), 'sqlite'), backend: 'sqlite', db };
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
