import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { pino } from 'pino';
import type { Logger } from '../../src/logger.js';
import type { InboundMessage } from '../../src/core/messages.js';
import { openDatabase } from '../../src/store/db.js';
import { prune, vacuum, walCheckpoint } from '../../src/store/maintenance.js';
import { openStore, type SqliteStore } from '../../src/store/store.js';

let dir: string;
let dbPath: string;
const open: SqliteStore[] = [];

beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'agentbridge-store-'));
  dbPath = path.join(dir, 'agentbridge.db');
});
afterEach(async () => {
  vi.useRealTimers();
  for (const s of open.splice(0)) await s.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

/** A pino logger collecting parsed JSON lines. */
function collectingLogger(): { logger: Logger; lines: Array<Record<string, unknown>> } {
  const lines: Array<Record<string, unknown>> = [];
  const stream = new Writable({
    write(chunk, _enc, cb) {
      lines.push(JSON.parse(String(chunk)) as Record<string, unknown>);
      cb();
    },
  });
  return { logger: pino({ level: 'info' }, stream), lines };
}

function openS(opts: { readonly?: boolean; logger?: Logger } = {}): SqliteStore {
  const s = openStore({ dbPath, logger: opts.logger ?? pino({ level: 'silent' }), readonly: opts.readonly });
  open.push(s);
  return s;
}

function message(eventKey: string, conversationId: string, receivedAt: number): InboundMessage {
  return {
    platform: 'local',
    conversationId,
    channel: 'general',
    author: { id: 'ann', name: 'Ann' },
    text: 'hi',
    eventKey,
    replyTarget: { platform: 'local', channel: 'general' },
    receivedAt,
  };
}

const CORRUPT_NAME = /^agentbridge\.db\.corrupt-\d{4}-\d{2}-\d{2}T\d{2}-\d{2}-\d{2}\.\d{3}Z$/;

describe('corruption at open', () => {
  it('moves a garbage file (and its -wal/-shm) aside, starts fresh, and logs both paths', async () => {
    const garbage = Buffer.from('this is not a sqlite database at all. '.repeat(200));
    fs.writeFileSync(dbPath, garbage);
    fs.writeFileSync(`${dbPath}-wal`, 'old wal');
    fs.writeFileSync(`${dbPath}-shm`, 'old shm');
    const { logger, lines } = collectingLogger();
    const store = openS({ logger });

    const aside = fs.readdirSync(dir).filter((f) => f.includes('.corrupt-'));
    const main = aside.find((f) => CORRUPT_NAME.test(f));
    expect(main, aside.join(',')).toBeDefined();
    expect(aside.sort()).toEqual([main, `${main}-shm`, `${main}-wal`]);
    expect(fs.readFileSync(path.join(dir, main!))).toEqual(garbage);
    expect(fs.readFileSync(path.join(dir, `${main}-wal`), 'utf8')).toBe('old wal');

    await store.conversations.ensure({ id: 'c', platform: 'local', channel: 'general' });
    expect(await store.conversations.get('c')).toBeDefined();

    await new Promise((r) => setImmediate(r));
    const errors = lines.filter((l) => l.level === 50);
    expect(errors).toHaveLength(1);
    expect(errors[0]).toMatchObject({ dbPath, movedTo: path.join(dir, main!) });
    expect(String(errors[0]!.msg)).toContain(dbPath);
    expect(String(errors[0]!.msg)).toContain(path.join(dir, main!));
  });

  it('moves aside a database with damaged pages (SQLITE_CORRUPT)', async () => {
    const s = openS();
    await s.conversations.ensure({ id: 'c', platform: 'local', channel: 'general' });
    await s.transaction(async (tx) => {
      for (let i = 0; i < 500; i++)
        await tx.localMessages.insert({ id: `m${i}`, channel: 'general', thread: 't', user: 'ann', text: `message ${i}`, bot: false, ts: i });
    });
    walCheckpoint(s.db);
    await s.close();
    const size = fs.statSync(dbPath).size;
    const fd = fs.openSync(dbPath, 'r+');
    fs.writeSync(fd, Buffer.alloc(8192, 0x41), 0, 8192, size - 3 * 4096);
    fs.closeSync(fd);

    const error = vi.fn();
    const fake = { error, warn: vi.fn(), info: vi.fn(), debug: vi.fn() } as unknown as Logger;
    const fresh = openS({ logger: fake });
    expect(error).toHaveBeenCalledTimes(1);
    expect(fs.readdirSync(dir).some((f) => CORRUPT_NAME.test(f))).toBe(true);
    expect(await fresh.localMessages.channels()).toEqual([]);
    expect(await fresh.conversations.get('c')).toBeUndefined();
  });

  it('leaves a healthy database alone', async () => {
    await openS().conversations.ensure({ id: 'c', platform: 'local', channel: 'general' });
    await open.pop()!.close();
    const error = vi.fn();
    const s = openS({ logger: { error } as unknown as Logger });
    expect(error).not.toHaveBeenCalled();
    expect(await s.conversations.get('c')).toBeDefined();
  });
});

describe('readonly', () => {
  it('sees data committed by a writer that keeps the WAL database open, and cannot write', async () => {
    const writer = openS();
    await writer.conversations.ensure({ id: 'c1', platform: 'local', channel: 'general' });
    await writer.inbox.accept(message('e1', 'c1', 1));
    expect(fs.existsSync(`${dbPath}-wal`)).toBe(true);

    const reader = openS({ readonly: true });
    expect(reader.readonly).toBe(true);
    expect(await reader.conversations.get('c1')).toBeDefined();
    expect((await reader.inbox.countByState()).queued).toBe(1);

    await writer.conversations.ensure({ id: 'c2', platform: 'local', channel: 'general' });
    expect((await reader.conversations.list()).map((c) => c.id).sort()).toEqual(['c1', 'c2']);
    await expect(reader.conversations.ensure({ id: 'c3', platform: 'local', channel: 'x' })).rejects.toThrow(/readonly/i);
  });

  it('does not create a missing database', () => {
    expect(() => openS({ readonly: true })).toThrow();
    expect(fs.existsSync(dbPath)).toBe(false);
  });

  it('does not move a garbage file aside', () => {
    fs.writeFileSync(dbPath, 'garbage '.repeat(100));
    expect(() => openS({ readonly: true })).toThrow(/not a database/);
    expect(fs.readdirSync(dir)).toEqual(['agentbridge.db']);
  });
});

describe('maintenance', () => {
  it('prune removes old finished rows and idle conversations, keeps the rest, reports counts', async () => {
    const s = openS();
    const DAY = 86_400_000;
    const now = Date.UTC(2025, 5, 1);
    const cutoff = new Date(now - 30 * DAY);
    vi.useFakeTimers({ toFake: ['Date'] });
    vi.setSystemTime(now - 60 * DAY);

    // Old and idle: removed with everything of it.
    await s.conversations.ensure({ id: 'idle', platform: 'local', channel: 'x' });
    const e = await s.entries.append({
      conversationId: 'idle',
      role: 'assistant',
      author: null,
      text: 'a',
      agent: null,
      model: null,
      usage: null,
      costUsd: null,
    });
    await s.entries.append({ conversationId: 'idle', role: 'user', author: 'Ann', text: 'q', agent: null, model: null, usage: null, costUsd: null });
    await s.postedMessages.record({ key: 'k-idle', conversationId: 'idle', sessionEntryId: e.id, platformMessageRef: 'r', assistantText: 'a', kind: 'answer' });
    await s.inbox.accept(message('idle-1', 'idle', now - 60 * DAY));
    await s.inbox.markDone(['idle-1']);
    await s.outbox.markPosted((await s.outbox.enqueue({ conversationId: 'idle', target: { platform: 'local', channel: 'x' }, text: 'a' })).id, 'r');
    // Old but with a queued message: kept (never lose an accepted message).
    await s.conversations.ensure({ id: 'waiting', platform: 'local', channel: 'x' });
    await s.inbox.accept(message('waiting-1', 'waiting', now - 60 * DAY));
    // Old and idle, but with a scheduled message still to run: kept (it would be lost with it).
    await s.conversations.ensure({ id: 'scheduled', platform: 'local', channel: 'x' });
    await s.scheduledMessages.insert({
      id: 'sm1',
      conversationId: 'scheduled',
      text: 'check again',
      dueAt: now + DAY,
      everyMs: null,
      createdBy: 'agent',
      createdAt: now - 60 * DAY,
    });
    // Old conversation row but recent entries: kept.
    await s.conversations.ensure({ id: 'chatty', platform: 'local', channel: 'x' });
    // Old finished inbox/outbox rows of a live conversation: removed; old pending outbox: kept.
    await s.conversations.ensure({ id: 'live', platform: 'local', channel: 'x' });
    await s.inbox.accept(message('live-old-done', 'live', now - 60 * DAY));
    await s.inbox.markFailed(['live-old-done']);
    await s.outbox.markAttemptFailed(
      (await s.outbox.enqueue({ conversationId: 'live', target: { platform: 'local', channel: 'x' }, text: 'f' })).id,
      'x',
      true,
    );
    await s.outbox.enqueue({ conversationId: 'live', target: { platform: 'local', channel: 'x' }, text: 'pending' });
    // Local chat: an old thread (removed whole) and a thread that started old but is active (kept whole).
    await s.localMessages.insert({ id: 'o1', channel: 'general', thread: 'o1', user: 'ann', text: 'old', bot: false, ts: now - 60 * DAY });
    await s.localMessages.insert({ id: 'o2', channel: 'general', thread: 'o1', user: 'agentbridge', text: 'old', bot: true, ts: now - 59 * DAY });
    await s.localMessages.insert({ id: 'a1', channel: 'general', thread: 'a1', user: 'ann', text: 'start', bot: false, ts: now - 60 * DAY });

    vi.setSystemTime(now);
    await s.conversations.update('live', { model: 'm' });
    await s.entries.append({ conversationId: 'chatty', role: 'user', author: 'Ann', text: 'new', agent: null, model: null, usage: null, costUsd: null });
    await s.inbox.accept(message('live-new', 'live', now));
    await s.inbox.markDone(['live-new']);
    await s.localMessages.insert({ id: 'a2', channel: 'general', thread: 'a1', user: 'ann', text: 'recent', bot: false, ts: now });

    const expected = { conversations: 1, session_entries: 2, posted_messages: 1, inbox: 2, outbox: 2, local_messages: 2, cron_runs: 0 };
    // A dry run reports the same counts and removes nothing.
    expect(await prune(s.sql, cutoff, { dryRun: true })).toEqual(expected);
    expect(await s.conversations.list()).toHaveLength(5);
    expect(await s.inbox.get('live-old-done')).toBeDefined();
    const report = await prune(s.sql, cutoff);
    expect(report).toEqual({ conversations: 1, session_entries: 2, posted_messages: 1, inbox: 2, outbox: 2, local_messages: 2, cron_runs: 0 });
    expect((await s.conversations.list()).map((c) => c.id).sort()).toEqual(['chatty', 'live', 'scheduled', 'waiting']);
    expect(await s.scheduledMessages.get('sm1')).toBeDefined();
    expect((await s.inbox.get('waiting-1'))?.state).toBe('queued');
    expect(await s.inbox.get('live-old-done')).toBeUndefined();
    expect(await s.inbox.get('live-new')).toBeDefined();
    expect((await s.outbox.pending()).map((o) => o.text)).toEqual(['pending']);
    expect((await s.localMessages.list('general', 'a1')).map((m) => m.id)).toEqual(['a1', 'a2']);
    expect((await s.localMessages.threads('general')).map((t) => t.thread)).toEqual(['a1']);

    // Nothing left to prune.
    expect(Object.values(await prune(s.sql, cutoff)).every((n) => n === 0)).toBe(true);
  });

  it('walCheckpoint returns the pragma result and vacuum runs', async () => {
    const s = openS();
    await s.conversations.ensure({ id: 'c', platform: 'local', channel: 'x' });
    const r = walCheckpoint(s.db);
    expect(r).toEqual({ busy: 0, log: expect.any(Number), checkpointed: expect.any(Number) });
    expect(fs.statSync(`${dbPath}-wal`).size).toBe(0); // TRUNCATE emptied the WAL
    vacuum(s.db);
    expect(await s.conversations.get('c')).toBeDefined();
  });

  it('a second connection can read while the WAL is in use (WAL mode on a reopened file)', async () => {
    await openS().close();
    const db = openDatabase(dbPath);
    try {
      expect(db.pragma('journal_mode', { simple: true })).toBe('wal');
    } finally {
      db.close();
    }
  });
});
