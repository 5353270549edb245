/**
 * Storage faults heal in process (docs/ARCHITECTURE.md §3 invariant 10), on a real full disk: the core's database on a
 * small tmpfs that a filler file fills up. While full, new messages are refused with nothing
 * stored and the store is unhealthy with the reason; a turn (and an outbox delivery) that fails on
 * SQLITE_FULL is retried once space returns — answered exactly once, without a restart, and the
 * agent is not run again for it.
 */
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHttpServer } from '../../src/http/server.js';
import { LocalAdapter } from '../../src/platforms/local/adapter.js';
import { StoreUnavailableError } from '../../src/store/health.js';
import { walCheckpoint } from '../../src/store/maintenance.js';
import { collectingLogger, startCore, type Core } from '../helpers/core.js';
import { waitFor } from '../helpers/sandbox.js';
import { mountTmpfs, type Tmpfs } from '../helpers/tmpfs.js';
import { localMessage } from '../helpers/fakes.js';

let fs_: Tmpfs;
const cores: Core[] = [];

beforeAll(() => {
  fs_ = mountTmpfs(8 * 1024 * 1024);
});

afterAll(async () => {
  try {
    for (const c of cores) await c.close();
  } finally {
    fs_?.unmount();
  }
});

const msg = localMessage;

/** Fills the disk so that the next write fails: the WAL is emptied first (else writes reuse its space). */
function diskFull(core: Core): void {
  walCheckpoint(core.store.db, 'TRUNCATE');
  fs_.fill();
  expect(fs_.free()).toBe(0);
}

describe('a full disk, in process', () => {
  it('refuses new messages while full, retries the failed turn after space returns, and answers every accepted message once', async () => {
    const { logger, lines } = collectingLogger('info');
    const core = startCore({ dbPath: path.join(fs_.dir, 'turns', 'agentbridge.db'), health: true, logger });
    cores.push(core);
    const { router, runner, adapter, store, health } = core;

    // Accepted before the fault: a running turn (t1) and a message queued behind it (t1), another conversation (t2).
    const a = msg('t1', 'first');
    await router.accept(a);
    await runner.waitRuns(1);
    const b = msg('t1', 'second');
    await router.accept(b);

    diskFull(core);
    // A new message while full: refused, nothing stored, the store is unhealthy with the reason.
    const refused = msg('t2', 'refused while full');
    await expect(router.accept(refused)).rejects.toBeInstanceOf(StoreUnavailableError);
    expect(health!.healthy).toBe(false);
    expect(health!.reason).toMatch(/SQLITE_FULL/);
    // Refused at once while unhealthy (access control, commands and the inbox are not even tried).
    await expect(router.accept(msg('t2', 'also refused'))).rejects.toThrow(/cannot write its database/);

    // The agent answers the running turn: its commit fails on the full disk and is kept for retry.
    runner.runs[0]!.finish({ text: 'answer to first' });
    await waitFor(
      () => lines.some((l) => l.msg === 'turn failed on a storage fault; it runs again once the database can be written'),
      10_000,
      'the turn to fail on the full disk',
    );
    expect(adapter.texts('t1').filter((t) => t === 'answer to first')).toHaveLength(0);
    expect(core.bridges.status(a.conversationId).queued).toBe(2); // the failed batch and the message behind it

    runner.auto = (req) => ({ text: `answer to ${req.prompt.includes('second') ? 'second' : '?'}` });
    fs_.unfill();
    await waitFor(() => health!.healthy, 10_000, 'the store to be healthy again');
    await waitFor(() => adapter.texts('t1').includes('answer to second'), 10_000, 'the queued message to be answered');

    // Each accepted message answered once, in order; the agent ran once per turn (not again for the retry).
    const answers = adapter.texts('t1').filter((t) => t.startsWith('answer'));
    expect(answers).toEqual(['answer to first', 'answer to second']);
    expect(runner.runs).toHaveLength(2);
    expect(runner.runs[0]!.req.prompt).toContain('first');
    expect((await store.inbox.get(a.eventKey))!.state).toBe('done');
    expect((await store.inbox.get(b.eventKey))!.state).toBe('done');
    // The refused messages left no trace.
    expect(await store.inbox.get(refused.eventKey)).toBeUndefined();
    expect(await store.conversations.get(refused.conversationId)).toBeUndefined();
    expect(await store.inbox.countByState()).toMatchObject({ queued: 0, running: 0, done: 2 });
    // Accepted again once healthy.
    await expect(router.accept(msg('t2', 'after'))).resolves.toBe('accepted');
    await waitFor(() => adapter.texts('t2').length > 0, 10_000, 'the new conversation to be answered');
  });

  it('the store stays unhealthy while only a little space is free, even if a tiny write would fit', async () => {
    const core = startCore({ dbPath: path.join(fs_.dir, 'probe', 'agentbridge.db'), health: true });
    cores.push(core);
    const health = core.health!;
    diskFull(core);
    await expect(core.store.probeWrite()).rejects.toThrow(/SQLITE_FULL|bytes free/);
    health.report(Object.assign(new Error('database or disk is full'), { code: 'SQLITE_FULL' }));
    fs_.release(64 * 1024); // room for a tiny write, not for a turn's commit
    expect(await health.probeNow()).toBe(false);
    expect(health.reason).toMatch(/^ENOSPC: only \d+ bytes free/);
    fs_.unfill();
    expect(await health.probeNow()).toBe(true);
    expect(health.healthy).toBe(true);
  });

  it('an answer posted while the disk is full is recorded after space returns and not posted twice', async () => {
    const core = startCore({ dbPath: path.join(fs_.dir, 'outbox', 'agentbridge.db'), health: true });
    cores.push(core);
    const { outbox, adapter, store, health } = core;
    const target = { platform: 'local' as const, channel: 'general', thread: 'o1' };
    await store.conversations.ensure({ id: 'local:general:o1', platform: 'local', channel: 'general', thread: 'o1' });
    const [row] = await outbox.enqueue('local:general:o1', target, ['stored answer'], null);

    diskFull(core);
    await outbox.deliver('local:general:o1'); // posts, then cannot mark it posted
    expect(adapter.postAttempts).toHaveLength(1);
    expect(health!.healthy).toBe(false);
    expect(await store.outbox.pendingCount()).toBe(1);

    fs_.unfill();
    await waitFor(async () => (await store.outbox.pendingCount()) === 0, 10_000, 'the outbox row to be marked posted');
    expect(adapter.postAttempts).toHaveLength(1);
    expect((await store.postedMessages.listForConversation('local:general:o1')).map((c) => c.assistantText)).toEqual(['stored answer']);
    expect(row!.text).toBe('stored answer');
  });

  it('the local chat answers 503 while full and stores nothing: no history row, no inbox row, no event', async () => {
    const core = startCore({ dbPath: path.join(fs_.dir, 'local', 'agentbridge.db'), health: true });
    cores.push(core);
    const http = createHttpServer({ host: '127.0.0.1', port: 0, logger: collectingLogger('silent').logger });
    const local = new LocalAdapter({ repo: core.store.localMessages, http, logger: collectingLogger('silent').logger });
    const events: string[] = [];
    const emit = local.events.emit.bind(local.events);
    local.events.emit = (event, channel, data) => {
      events.push(event);
      emit(event, channel, data);
    };
    await local.start(core.router.accept);
    const { url } = await http.listen();
    try {
      const post = (text: string) =>
        fetch(`${url}/api/local/messages`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ channel: 'general', text }),
        });
      const ok = await post('before the fault');
      expect(ok.status).toBe(202);
      expect(events).toEqual(['message.created']);

      diskFull(core);
      const r = await post('while full');
      expect(r.status).toBe(503);
      expect(((await r.json()) as { error: string }).error).toMatch(/cannot write its database.*SQLITE_FULL.*nothing was stored/);
      const again = await post('still full');
      expect(again.status).toBe(503);
      expect(events).toEqual(['message.created']);

      fs_.unfill();
      await waitFor(() => core.health!.healthy, 10_000, 'healthy again');
      // Checked after space returned: only the accepted message is in the history and the inbox.
      const threads = await core.store.localMessages.threads('general');
      expect(threads.map((t) => t.text)).toEqual(['before the fault']);
      expect((await core.store.localMessages.list('general', threads[0]!.thread)).filter((m) => !m.bot).map((m) => m.text)).toEqual(['before the fault']);
      expect(Object.values(await core.store.inbox.countByState()).reduce((x, y) => x + y, 0)).toBe(1);
      expect((await core.store.conversations.list()).map((c) => c.thread)).toEqual([threads[0]!.thread]);
    } finally {
      await local.stop();
      await http.close();
    }
  });

  it('a command taken just before the fault is still answered: its reply is stored once the store is healthy', async () => {
    const { logger } = collectingLogger('silent');
    const core = startCore({ dbPath: path.join(fs_.dir, 'command', 'agentbridge.db'), health: true, logger });
    cores.push(core);
    const { store, outbox, adapter, router, health } = core;
    (adapter.limits as { maxMessageChars: number }).maxMessageChars = 4000; // the reply in one message
    // The fault starts between taking the command and storing its reply.
    const enqueue = outbox.enqueue.bind(outbox);
    let failNext = true;
    outbox.enqueue = async (...args: Parameters<typeof enqueue>) => {
      if (failNext) {
        failNext = false;
        throw Object.assign(new Error('database or disk is full'), { code: 'SQLITE_FULL' });
      }
      return enqueue(...args);
    };
    const m = { ...msg('c1', '/agent help'), addressed: true };
    await expect(router.accept(m)).resolves.toBe('accepted');
    expect(health!.healthy).toBe(false);
    await waitFor(() => health!.healthy, 10_000, 'healthy again');
    await waitFor(() => adapter.texts('c1').some((t) => t.includes('status')), 10_000, 'the help reply');
    expect(adapter.texts('c1')).toHaveLength(1);
    expect((await store.inbox.get(m.eventKey))!.state).toBe('done');
  });
});
