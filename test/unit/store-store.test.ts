import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { pino } from 'pino';
import type { Logger } from '../../src/logger.js';
import type { InboundMessage } from '../../src/core/messages.js';
import { openDatabase } from '../../src/store/db.js';
import { vacuum, walCheckpoint } from '../../src/store/maintenance.js';
import { openStore, type SqliteStore } from '../../src/store/store.js';
import { localMessage } from '../helpers/fakes.js';

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

/** An inbound message with these keys (the local chat's `general` channel; see `localMessage`). */
function message(eventKey: string, conversationId: string, receivedAt: number): InboundMessage {
  return localMessage('t', 'hi', { eventKey, conversationId, receivedAt });
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
