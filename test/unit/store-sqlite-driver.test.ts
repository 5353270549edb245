/**
 * The SQLite store's Kysely driver (src/store/sql/sqlite-driver.ts): a transaction takes the
 * write lock at BEGIN (`BEGIN IMMEDIATE`), statements are prepared once per SQL string, and
 * RETURNING statements run with `.all()`.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { pino } from 'pino';
import { openStore, type SqliteStore } from '../../src/store/store.js';

let dir: string;
let dbPath: string;
let store: SqliteStore;
const logger = pino({ level: 'silent' });

beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'agentbridge-driver-'));
  dbPath = path.join(dir, 'agentbridge.db');
  store = openStore({ dbPath, logger });
});
afterEach(async () => {
  await store.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

describe('SQLite driver', () => {
  it('takes the write lock when a transaction begins, before its first write (BEGIN IMMEDIATE)', async () => {
    const other = new Database(dbPath);
    other.pragma('busy_timeout = 0');
    try {
      await store.transaction(async (tx) => {
        await tx.platformState.get('k'); // a read only: a plain BEGIN would hold no write lock yet
        expect(() => other.prepare(`INSERT INTO platform_state (key, value, updated_at) VALUES ('x', 'y', 1)`).run()).toThrow(
          expect.objectContaining({ code: 'SQLITE_BUSY' }),
        );
      });
      other.prepare(`INSERT INTO platform_state (key, value, updated_at) VALUES ('x', 'y', 1)`).run();
      expect(await store.platformState.get('x')).toBe('y');
    } finally {
      other.close();
    }
  });

  it('prepares a statement once per SQL string', async () => {
    await store.platformState.set('warm', 'up');
    await store.platformState.get('warm');
    const prepare = vi.spyOn(store.db, 'prepare');
    try {
      for (let i = 0; i < 5; i++) {
        await store.platformState.set(`k${i}`, 'v');
        await store.platformState.get(`k${i}`);
      }
      expect(prepare).not.toHaveBeenCalled();
      await store.platformState.list('k');
      expect(prepare).toHaveBeenCalledTimes(1);
    } finally {
      prepare.mockRestore();
    }
  });

  it('runs RETURNING statements with .all() (never .get(), which can swallow a failed commit)', async () => {
    const prepare = vi.spyOn(store.db, 'prepare');
    const used: string[] = [];
    prepare.mockImplementation(function (this: Database.Database, text: string) {
      const stmt = Database.prototype.prepare.call(this, text);
      if (/RETURNING/i.test(text)) {
        for (const m of ['get', 'all', 'run'] as const) {
          const orig = stmt[m].bind(stmt) as (...a: unknown[]) => unknown;
          (stmt as unknown as Record<string, unknown>)[m] = (...a: unknown[]) => {
            used.push(m);
            return orig(...a);
          };
        }
      }
      return stmt;
    } as typeof store.db.prepare);
    try {
      await store.localUsers.add('ann', false, 1000);
      await store.localUsers.addToken({ hash: 'h', user: 'ann', kind: 'link', expiresAt: 10_000, now: 1000 });
      expect(await store.localUsers.consumeLink('h', 2000)).toMatchObject({ name: 'ann' }); // DELETE … RETURNING
      expect(used.length).toBeGreaterThan(0);
      expect(new Set(used)).toEqual(new Set(['all']));
    } finally {
      prepare.mockRestore();
    }
  });
});
