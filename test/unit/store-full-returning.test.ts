/**
 * Writes that return their row (`… RETURNING *`) on a full disk. better-sqlite3 12's `.get()` on
 * such a statement in autocommit mode returns the new row and swallows the failed commit (the
 * change is rolled back, no error) — verified on this machine; `.all()` reports SQLITE_FULL. The
 * repositories use `.all()`, so a write that did not land always throws (a local chat answer
 * edit was seen "done" while the database kept the progress text). Real tmpfs, full.
 */
import path from 'node:path';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { walCheckpoint } from '../../src/store/maintenance.js';
import { openStore, type SqliteStore } from '../../src/store/store.js';
import { mountTmpfs, type Tmpfs } from '../helpers/tmpfs.js';

let disk: Tmpfs;
let store: SqliteStore;

beforeAll(() => {
  disk = mountTmpfs(4 * 1024 * 1024);
  store = openStore({ dbPath: path.join(disk.dir, 'agentbridge.db'), logger: pino({ level: 'silent' }) });
});

afterAll(async () => {
  try {
    await store?.close();
  } finally {
    disk?.unmount();
  }
});

describe('RETURNING writes on a full disk', () => {
  it('throw SQLITE_FULL and leave the row as it was (no silent rollback)', async () => {
    const now = Date.now();
    await store.localMessages.insert({ id: 'm1', channel: 'general', thread: 'm1', user: 'agentbridge', text: '⏳ Working…', bot: true, ts: now });
    walCheckpoint(store.db, 'TRUNCATE');
    disk.fill();
    const big = 'final answer '.repeat(20_000);
    await expect(store.localMessages.update('m1', big)).rejects.toThrow(/full/i);
    expect((await store.localMessages.get('m1'))?.text).toBe('⏳ Working…');
    await expect(
      store.outbox.enqueue({ conversationId: 'c', target: { platform: 'local', channel: 'general' }, text: big, sessionEntryId: null }),
    ).rejects.toThrow(/full/i);
    expect(await store.outbox.pendingCount()).toBe(0);
    disk.unfill();
    expect((await store.localMessages.update('m1', 'final answer'))?.text).toBe('final answer');
    expect((await store.localMessages.get('m1'))?.text).toBe('final answer');
  });
});
