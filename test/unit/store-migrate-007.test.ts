/**
 * Migration 007 on a database written before it: inbox rows of scheduler messages stored as
 * `platform: "scheduler"` still run (as `origin: "scheduler"` on the conversation's platform).
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { recoverInbox } from '../../src/conversation/recovery.js';
import { openDatabase } from '../../src/store/db.js';
import { migrate, MIGRATIONS_DIR } from '../../src/store/migrate.js';
import { startCore, type Core } from '../helpers/core.js';
import { waitFor } from '../helpers/sandbox.js';

const logger = pino({ level: 'silent' });
const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

/** A database migrated up to (and including) `version`, as an older agentbridge left it. */
function databaseAt(version: number): { dbPath: string; exec: (sql: string, ...params: unknown[]) => void; close: () => void } {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'migrate-007-'));
  cleanups.push(() => fs.rmSync(dir, { recursive: true, force: true }));
  const mdir = path.join(dir, 'migrations');
  fs.mkdirSync(mdir);
  for (const f of fs.readdirSync(MIGRATIONS_DIR)) {
    const v = Number(/^(\d+)_/.exec(f)?.[1]);
    if (v && v <= version) fs.copyFileSync(path.join(MIGRATIONS_DIR, f), path.join(mdir, f));
  }
  const dbPath = path.join(dir, 'data', 'agentbridge.db');
  const db = openDatabase(dbPath);
  migrate(db, { dir: mdir });
  return { dbPath, exec: (sql, ...params) => void db.prepare(sql).run(...params), close: () => db.close() };
}

describe('migration 007', () => {
  it('rewrites stored scheduler messages (platform "scheduler" → origin), and they still run after the upgrade', async () => {
    const old = databaseAt(6);
    const now = Date.now();
    const legacy = {
      platform: 'scheduler',
      conversationId: 'local:general:t1',
      channel: 'general',
      thread: 't1',
      author: { id: 'scheduler', name: 'scheduled message' },
      text: 'check the deploy again',
      eventKey: 'sched:s1:1',
      replyTarget: { platform: 'local', channel: 'general', thread: 't1' },
      receivedAt: now,
    };
    old.exec(
      `INSERT INTO conversations (id, platform, channel, thread, created_at, updated_at) VALUES ('local:general:t1', 'local', 'general', 't1', ?, ?)`,
      now,
      now,
    );
    old.exec(
      `INSERT INTO inbox (event_key, conversation_id, payload_json, state, attempts, received_at, updated_at) VALUES ('sched:s1:1', 'local:general:t1', ?, 'queued', 0, ?, ?)`,
      JSON.stringify(legacy),
      now,
      now,
    );
    old.close();

    const core: Core = startCore({ dbPath: old.dbPath, recovering: true });
    cleanups.push(() => core.close());
    const [row] = core.store.inbox.unfinished();
    expect(row?.message).toEqual({ ...legacy, platform: 'local', origin: 'scheduler' });

    core.runner.auto = (req) => ({ text: `answer to ${req.prompt}` });
    await recoverInbox(core.store, core.router, core.outbox, logger);
    await waitFor(() => core.store.inbox.unfinished().length === 0);
    await waitFor(() => core.adapter.texts('t1').includes('answer to check the deploy again'));
    expect(core.store.inbox.get('sched:s1:1')?.state).toBe('done');
  });
});
