/**
 * Migration 007 on a database written before it: inbox rows of scheduler messages stored as
 * `platform: "scheduler"` still run (as `origin: "scheduler"` on the conversation's platform);
 * `response_checkpoints` becomes `posted_messages` with its data, each row given its kind.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { recoverInbox, STALE_PROGRESS_TEXT } from '../../src/conversation/recovery.js';
import { openDatabase } from '../../src/store/db.js';
import { migrate, migrationsDir } from '../../src/store/migrate.js';
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
  for (const f of fs.readdirSync(migrationsDir('sqlite'))) {
    const v = Number(/^(\d+)_/.exec(f)?.[1]);
    if (v && v <= version) fs.copyFileSync(path.join(migrationsDir('sqlite'), f), path.join(mdir, f));
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
    const [row] = await core.store.inbox.unfinished();
    expect(row?.message).toEqual({ ...legacy, platform: 'local', origin: 'scheduler' });

    core.runner.auto = (req) => ({ text: `answer to ${req.prompt}` });
    await recoverInbox(core.store, core.router, core.outbound, logger);
    await waitFor(async () => (await core.store.inbox.unfinished()).length === 0);
    await waitFor(() => core.adapter.texts('t1').includes('answer to check the deploy again'));
    expect((await core.store.inbox.get('sched:s1:1'))?.state).toBe('done');
  });

  it('renames response_checkpoints to posted_messages keeping every row, infers each kind, and recovery finds the progress message by it', async () => {
    const old = databaseAt(6);
    const now = Date.now();
    const conv = 'local:general:t2';
    old.exec(`INSERT INTO conversations (id, platform, channel, thread, created_at, updated_at) VALUES (?, 'local', 'general', 't2', ?, ?)`, conv, now, now);
    old.exec(`INSERT INTO session_entries (conversation_id, role, text, created_at) VALUES (?, 'assistant', 'the answer', ?)`, conv, now);
    const checkpoint = (ref: string, entry: number | null, text: string) =>
      old.exec(
        `INSERT INTO response_checkpoints (key, conversation_id, session_entry_id, platform_message_ref, assistant_text, created_at) VALUES (?, ?, ?, ?, ?, ?)`,
        `local:general:${ref}`,
        conv,
        entry,
        ref,
        text,
        now,
      );
    checkpoint('m1', 1, 'the answer');
    checkpoint('m2', null, '⏳ Working… (3s)');
    checkpoint('m3', null, '🔄 agentbridge restarted while working on your message.');
    // a turn was running when the old agentbridge stopped
    const msg = {
      platform: 'local',
      conversationId: conv,
      channel: 'general',
      thread: 't2',
      author: { id: 'ann', name: 'ann' },
      text: 'again please',
      eventKey: 'local:e2',
      replyTarget: { platform: 'local', channel: 'general', thread: 't2' },
      receivedAt: now,
    };
    old.exec(
      `INSERT INTO inbox (event_key, conversation_id, payload_json, state, attempts, received_at, updated_at) VALUES ('local:e2', ?, ?, 'running', 1, ?, ?)`,
      conv,
      JSON.stringify(msg),
      now,
      now,
    );
    old.close();

    const core: Core = startCore({ dbPath: old.dbPath, recovering: true });
    cleanups.push(() => core.close());
    const rows = await core.store.postedMessages.listForConversation(conv);
    expect(rows.map((r) => [r.platformMessageRef, r.kind])).toEqual([
      ['m1', 'answer'],
      ['m2', 'progress'],
      ['m3', 'notice'],
    ]);
    expect(rows[0]).toMatchObject({ key: 'local:general:m1', sessionEntryId: 1, assistantText: 'the answer' });
    expect(core.store.db.prepare("SELECT name FROM sqlite_master WHERE name LIKE 'response_checkpoints%'").all()).toEqual([]);

    core.runner.auto = () => ({ text: 'done now' });
    await recoverInbox(core.store, core.router, core.outbound, logger);
    await waitFor(() => core.adapter.texts('t2').includes('done now'));
    expect(core.adapter.calls).toContainEqual(expect.objectContaining({ op: 'edit', ref: 'm2', text: STALE_PROGRESS_TEXT }));
    expect(core.adapter.calls.filter((c) => c.op === 'edit' && (c.ref === 'm1' || c.ref === 'm3'))).toEqual([]);
  });
});

describe('recovery finds progress messages by kind', () => {
  it("edits the cut turn's progress message whatever its text, and never a notice that looks like one", async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'progress-kind-'));
    cleanups.push(() => fs.rmSync(dir, { recursive: true, force: true }));
    const core: Core = startCore({ dbPath: path.join(dir, 'agentbridge.db'), recovering: true });
    cleanups.push(() => core.close());
    const conv = 'local:general:t3';
    const message = {
      platform: 'local' as const,
      conversationId: conv,
      channel: 'general',
      thread: 't3',
      author: { id: 'ann', name: 'ann' },
      text: 'go',
      eventKey: 'local:e3',
      replyTarget: { platform: 'local' as const, channel: 'general', thread: 't3' },
      receivedAt: Date.now(),
    };
    await core.store.inbox.accept(message);
    await core.store.inbox.markRunning(['local:e3']);
    await core.store.conversations.ensure({ id: conv, platform: 'local', channel: 'general', thread: 't3' });
    const record = (ref: string, text: string, kind: 'progress' | 'notice') =>
      core.store.postedMessages.record({
        key: `local:general:${ref}`,
        conversationId: conv,
        sessionEntryId: null,
        platformMessageRef: ref,
        assistantText: text,
        kind,
      });
    await record('p1', 'Working (a platform that shows no hourglass)', 'progress');
    await record('n1', '⏳ a notice that happens to start like a progress message', 'notice');

    core.runner.auto = () => ({ text: 'answered' });
    await recoverInbox(core.store, core.router, core.outbound, logger);
    await waitFor(() => core.adapter.texts('t3').includes('answered'));
    expect(core.adapter.calls).toContainEqual(expect.objectContaining({ op: 'edit', ref: 'p1', text: STALE_PROGRESS_TEXT }));
    expect(core.adapter.calls.filter((c) => c.op === 'edit' && c.ref === 'n1')).toEqual([]);
  });
});
