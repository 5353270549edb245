/**
 * When the store becomes writable again, the outbox retries every pending delivery at once —
 * also those a storage fault made fail like a platform error (the local chat stores every bot
 * message), whose platform backoff would otherwise hold them for up to minutes. On both backends
 * (SQLite file, PostgreSQL), each with a storage fault of its own kind.
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { InboundMessage } from '../../src/core/messages.js';
import { BACKENDS, testDatabase } from '../helpers/backends.js';
import { startCore } from '../helpers/core.js';
import { waitFor } from '../helpers/sandbox.js';

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

function msg(text: string): InboundMessage {
  return {
    platform: 'local',
    conversationId: 'local:general:h1',
    channel: 'general',
    thread: 'h1',
    author: { id: 'ann', name: 'ann' },
    text,
    eventKey: `local:h-${text}`,
    replyTarget: { platform: 'local', channel: 'general', thread: 'h1' },
    messageRef: `h-${text}`,
    receivedAt: Date.now(),
  };
}

/** A storage fault as each backend reports it: SQLite's full disk, PostgreSQL's disk full (SQLSTATE 53100). */
const FAULTS = {
  sqlite: () => Object.assign(new Error('database or disk is full'), { code: 'SQLITE_FULL' }),
  postgres: () => Object.assign(new Error('could not extend file: No space left on device'), { code: '53100', severity: 'ERROR' }), // pg's DatabaseError fields
};

describe.each(BACKENDS)('outbox after a storage fault (%s)', (backend) => {
  it('delivers a row held by a long platform backoff as soon as the store is healthy again', async () => {
    const db = await testDatabase(backend);
    cleanups.push(() => db.remove());
    // A one-hour platform backoff: without the health-triggered retry the answer would wait that long.
    const w = startCore({ store: await db.open(), retryDelaysMs: [3_600_000], health: true });
    cleanups.push(
      () => w.removeDir(),
      () => w.close(),
    );
    await w.router.accept(msg('q'));
    await w.runner.waitRuns(1);
    w.adapter.failEdits = 1_000;
    w.adapter.failPosts = 1_000; // the answer cannot be posted: held by the platform backoff
    w.runner.runs[0]!.finish({ text: 'the answer' });
    await waitFor(async () => (await w.store.outbox.pending()).some((r) => r.attempts > 0) || undefined, 5_000, 'a failed delivery');
    w.adapter.failPosts = 0;
    // A storage fault and its recovery: the probe's first write succeeds.
    const full = FAULTS[backend]();
    expect(w.health!.report(full, 'test')).toBe(true);
    await waitFor(() => w.health!.healthy || undefined, 5_000, 'the store healthy again');
    await waitFor(async () => (await w.store.outbox.pending()).length === 0 || undefined, 5_000, 'the held answer delivered');
    expect(w.adapter.texts('h1')).toContain('the answer');
  });
});
