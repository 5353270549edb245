/** The `platform_state` table: durable key-value state of platform adapters. */
import type { Db } from '../db.js';
import type { SyncRepo } from '../sync-repo.js';
import type { PlatformStateRepo } from '../types.js';

/** Creates the repository (statements prepared once). Keys are namespaced by the caller, e.g. `discord:cursor:<channel>`. */
export function createPlatformStateRepo(db: Db): SyncRepo<PlatformStateRepo> {
  const get = db.prepare<[string], { value: string }>('SELECT value FROM platform_state WHERE key = ?');
  const set = db.prepare<[string, string, number]>(
    `INSERT INTO platform_state (key, value, updated_at) VALUES (?, ?, ?)
     ON CONFLICT(key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at`,
  );
  const del = db.prepare<[string]>('DELETE FROM platform_state WHERE key = ?');
  // Keys are compared by range (the primary key's index): [prefix, prefix + U+FFFF).
  const list = db.prepare<[string, string], { key: string; value: string }>('SELECT key, value FROM platform_state WHERE key >= ? AND key < ? ORDER BY key');
  return {
    get: (key) => get.get(key)?.value,
    set: (key, value) => void set.run(key, value, Date.now()),
    delete: (key) => void del.run(key),
    list: (prefix) => list.all(prefix, `${prefix}\uffff`),
  };
}
