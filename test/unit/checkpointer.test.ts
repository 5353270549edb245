import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { startCheckpointer } from '../../src/store/checkpointer.js';
import { openStore } from '../../src/store/store.js';
import { waitFor } from '../helpers/sandbox.js';

const logger = pino({ level: 'silent' });
let dir: string;
afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

describe('background WAL checkpoints', () => {
  it('takes checkpoints off the writing connection and leaves an empty WAL on stop', async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ckpt-'));
    const dbPath = path.join(dir, 'agentbridge.db');
    const store = openStore({ dbPath, logger });
    const cp = startCheckpointer(store, logger, 50);
    expect(store.db.pragma('wal_autocheckpoint', { simple: true })).toBe(0);
    await store.conversations.ensure({ id: 'c', platform: 'local', channel: 'x' });
    for (let i = 0; i < 300; i++)
      await store.entries.append({
        conversationId: 'c',
        role: 'user',
        author: 'a',
        text: 'x'.repeat(2000),
        agent: null,
        model: null,
        usage: null,
        costUsd: null,
      });
    // The worker copies the WAL into the database file without this connection doing it.
    const mainFileSize = () => fs.statSync(dbPath).size;
    await waitFor(() => mainFileSize() > 300 * 2000, 10_000, 'the worker to checkpoint the WAL into the database');
    await cp.stop();
    expect(fs.statSync(`${dbPath}-wal`).size).toBe(0);
    expect(await store.entries.list('c')).toHaveLength(300);
    await store.close();
  });
});
