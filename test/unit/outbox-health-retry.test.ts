/**
 * When the store becomes writable again, the outbox retries every pending delivery at once —
 * also those a storage fault made fail like a platform error (the local chat stores every bot
 * message), whose platform backoff would otherwise hold them for up to minutes.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { InboundMessage } from '../../src/core/messages.js';
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

describe('outbox after a storage fault', () => {
  it('delivers a row held by a long platform backoff as soon as the store is healthy again', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'outbox-health-'));
    cleanups.push(() => fs.rmSync(dir, { recursive: true, force: true }));
    // A one-hour platform backoff: without the health-triggered retry the answer would wait that long.
    const w = startCore({ dbPath: path.join(dir, 'agentbridge.db'), retryDelaysMs: [3_600_000], health: true });
    cleanups.push(() => w.close());
    await w.router.accept(msg('q'));
    await w.runner.waitRuns(1);
    w.adapter.failEdits = 1_000;
    w.adapter.failPosts = 1_000; // the answer cannot be posted: held by the platform backoff
    w.runner.runs[0]!.finish({ text: 'the answer' });
    await waitFor(async () => (await w.store.outbox.pending()).some((r) => r.attempts > 0) || undefined, 5_000, 'a failed delivery');
    w.adapter.failPosts = 0;
    // A storage fault and its recovery: the probe's first write succeeds.
    const full = Object.assign(new Error('database or disk is full'), { code: 'SQLITE_FULL' });
    expect(w.health!.report(full, 'test')).toBe(true);
    await waitFor(() => w.health!.healthy || undefined, 5_000, 'the store healthy again');
    await waitFor(async () => (await w.store.outbox.pending()).length === 0 || undefined, 5_000, 'the held answer delivered');
    expect(w.adapter.texts('h1')).toContain('the answer');
  });
});
