/**
 * The channel's busy notice (issue 12, first feedback in a burst): when several conversations of
 * one channel wait for a turn slot, one message in the channel says how many, is kept current,
 * and is retired once nobody waits; a notice left by a stopped process is retired at start. The
 * cases with a store run on both backends (SQLite file, PostgreSQL).
 */
import { afterEach, describe, expect, it } from 'vitest';
import { pino } from 'pino';
import { BUSY_NOTICE_DONE_TEXT, busyNoticeText, retireBusyNotices } from '../../src/conversation/busy-notice.js';
import type { AppStore } from '../../src/store/open.js';
import type { Backend } from '../../src/store/sql/kysely.js';
import { BACKENDS, testDatabase, type TestDatabase } from '../helpers/backends.js';
import { startCore, type Core } from '../helpers/core.js';
import { localMessage } from '../helpers/fakes.js';
import { waitFor } from '../helpers/sandbox.js';

const cores: Array<Core<AppStore>> = [];
const removals: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const c of cores.splice(0)) {
    await c.close();
    c.removeDir();
  }
  for (const r of removals.splice(0)) await r();
});

const isNotice = (text: string | undefined) => text?.startsWith('⏳ Busy') ?? false;

/** A database of `backend` (PostgreSQL: the file's shared one, emptied), removed after the test. */
async function databaseOn(backend: Backend): Promise<TestDatabase> {
  const db = await testDatabase(backend, { shared: true });
  removals.push(() => db.remove());
  return db;
}

/** A core with one turn slot on `db` (a restart when opened before), the adapter's busy notice from `busyNoticeAt` waiting. */
async function core(db: TestDatabase, busyNoticeAt = 3, opts: { recovering?: boolean } = {}): Promise<Core<AppStore>> {
  const c = startCore({ store: await db.open(), concurrency: 1, ...opts });
  c.adapter.limits = { ...c.adapter.limits, busyNoticeAt };
  cores.push(c);
  return c;
}

describe('busy notice text', () => {
  it('says how many wait, singular and plural', () => {
    expect(busyNoticeText(1)).toContain('1 message in this channel is waiting');
    expect(busyNoticeText(7)).toContain('7 messages in this channel are waiting');
  });
});

describe.each(BACKENDS)('the channel busy notice (%s)', (backend) => {
  it('one post in the channel (no thread) counting a burst that arrives together, edits as the line moves, retired when nobody waits', async () => {
    const { adapter, runner, router } = await core(await databaseOn(backend));
    await router.accept(localMessage('b0', 'running'));
    await runner.waitRuns(1);
    for (let i = 1; i <= 4; i++) await router.accept(localMessage(`b${i}`, `waiting ${i}`));
    const notices = () => adapter.calls.filter((c) => c.op === 'post' && isNotice(c.text));
    await waitFor(() => notices().length === 1 || undefined, 5_000, 'the busy notice');
    const [notice] = notices();
    // Posted once, at the channel's top level, counting all four waiting conversations.
    expect(notice!.target).toEqual({ platform: 'local', channel: 'general' });
    expect(notice!.text).toBe(busyNoticeText(4));

    // The running turn ends: the next starts, 3 wait — the notice says so.
    runner.runs[0]!.finish({ text: 'a0' });
    await runner.waitRuns(2);
    await waitFor(() => adapter.messages.get(notice!.ref!) === busyNoticeText(3) || undefined, 5_000, 'count 3');
    for (let i = 1; i <= 4; i++) {
      runner.runs[i]!.finish({ text: `a${i}` });
      if (i < 4) await runner.waitRuns(i + 2);
    }
    // Nobody waits: the notice is deleted (durably through the outbox), and only one was ever posted.
    await waitFor(() => adapter.deleted.has(notice!.ref!) || undefined, 5_000, 'notice deleted');
    expect(notices()).toHaveLength(1);
  });

  it('no notice below the threshold, and none on an adapter without one', async () => {
    const c = await core(await databaseOn(backend), 10);
    await c.router.accept(localMessage('n0', 'running'));
    await c.runner.waitRuns(1);
    for (let i = 1; i <= 4; i++) await c.router.accept(localMessage(`n${i}`, `waiting ${i}`));
    await waitFor(() => c.adapter.calls.filter((x) => x.op === 'post' && x.text?.startsWith('⏳ Queued')).length === 4 || undefined, 5_000, 'queued messages');
    expect(c.adapter.calls.filter((x) => isNotice(x.text))).toEqual([]);
  });

  it('a notice left by a stopped process is retired at start (edited when the adapter cannot delete), once', async () => {
    const db = await databaseOn(backend);
    const first = await core(db);
    await first.router.accept(localMessage('r0', 'running'));
    await first.runner.waitRuns(1);
    for (let i = 1; i <= 3; i++) await first.router.accept(localMessage(`r${i}`, `waiting ${i}`));
    await waitFor(async () => (await first.store.platformState.list('busy-notice:')).length === 1 || undefined, 5_000, 'notice recorded');
    const ref = first.adapter.calls.find((c) => c.op === 'post' && isNotice(c.text))!.ref!;
    // "crash": the store is closed without shutting down (its outbox stopped first, as a killed
    // process's would be; on PostgreSQL it would otherwise go on against the closed pool)
    cores.splice(cores.indexOf(first), 1);
    removals.push(() => first.removeDir());
    await first.outbox.stop();
    await first.store.close();

    const second = await core(db, 3, { recovering: true });
    second.adapter.failDeletes = 1; // the delete fails: the notice is edited instead
    const logger = pino({ level: 'silent' });
    expect(await retireBusyNotices({ store: second.store, outbound: second.outbound, logger })).toBe(1);
    await waitFor(() => second.adapter.messages.get(ref) === BUSY_NOTICE_DONE_TEXT || undefined, 5_000, 'notice retired');
    expect(await second.store.platformState.list('busy-notice:')).toEqual([]);
    expect(await retireBusyNotices({ store: second.store, outbound: second.outbound, logger })).toBe(0);
  });
});
