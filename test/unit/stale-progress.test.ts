/**
 * No stale progress message: when the answer cannot be edited into the progress message and is
 * posted as a new message, the progress message is deleted (or edited to a final text) by an
 * outbox delivery once the platform recovers — retried with backoff, also after a restart.
 * Every case runs on both backends (SQLite file, PostgreSQL).
 */
import { afterEach, describe, expect, it } from 'vitest';
import { PROGRESS_RETIRED_TEXT } from '../../src/conversation/outbox.js';
import type { AppStore } from '../../src/store/open.js';
import type { Backend } from '../../src/store/sql/kysely.js';
import { BACKENDS, testDatabase, type TestDatabase } from '../helpers/backends.js';
import { startCore } from '../helpers/core.js';
import { waitFor } from '../helpers/sandbox.js';
import { localMessage } from '../helpers/fakes.js';

const removals: Array<() => Promise<void> | void> = [];
const stores: AppStore[] = [];
afterEach(async () => {
  for (const s of stores.splice(0)) await s.close();
  for (const r of removals.splice(0)) await r();
});

/** A database of `backend` (PostgreSQL: the file's shared one, emptied), removed after the test. */
async function databaseOn(backend: Backend): Promise<TestDatabase> {
  const db = await testDatabase(backend, { shared: true });
  removals.push(() => db.remove());
  return db;
}

async function worldOn(db: TestDatabase) {
  const core = startCore({ store: await db.open(), retryDelaysMs: [20] });
  stores.push(core.store);
  removals.push(() => core.removeDir());
  return core;
}

const msg = localMessage;

/** Starts a turn, waits for its progress message, returns its ref. */
async function progressOf(w: Awaited<ReturnType<typeof worldOn>>, thread: string): Promise<string> {
  const runs = w.runner.runs.length;
  await w.router.accept(msg(thread, 'hello'));
  await w.runner.waitRuns(runs + 1);
  return waitFor(
    () => w.adapter.calls.find((c) => c.op === 'post' && c.target.thread === thread && c.text?.startsWith('⏳'))?.ref,
    5_000,
    'the progress message',
  );
}

describe.each(BACKENDS)('%s', (backend) => {
  const database = () => databaseOn(backend);
  const world = async (db?: TestDatabase) => worldOn(db ?? (await database()));

  describe('stale progress messages', () => {
    it('edits fail, the answer is posted; the progress message is deleted once the platform recovers', async () => {
      const w = await world();
      const ref = await progressOf(w, 's1');
      w.adapter.failEdits = 1_000; // the progress message cannot become the answer
      w.adapter.failDeletes = 3; // nor be deleted, at first
      w.runner.runs.at(-1)!.finish({ text: 'the answer' });
      await waitFor(() => w.adapter.deleted.has(ref) || undefined, 10_000, 'the progress message deleted');
      expect(w.adapter.texts('s1')).toEqual(['the answer']);
      expect(w.adapter.messages.has(ref)).toBe(false);
      await waitFor(async () => (await w.store.outbox.pending()).length === 0 || undefined, 5_000, 'an empty outbox');
      await w.close();
    });

    it('an adapter that cannot delete edits the progress message to a final text when edits recover', async () => {
      const w = await world();
      (w.adapter as { delete?: unknown }).delete = undefined;
      const ref = await progressOf(w, 's2');
      w.adapter.failEdits = 4; // the final edit (with the client's retries) fails; later edits work
      w.runner.runs.at(-1)!.finish({ text: 'answer two' });
      await waitFor(() => (w.adapter.messages.get(ref) === PROGRESS_RETIRED_TEXT ? true : undefined), 10_000, 'the progress message retired');
      expect(w.adapter.texts('s2')).toEqual([PROGRESS_RETIRED_TEXT, 'answer two']);
      expect(w.adapter.texts('s2').filter((t) => t.startsWith('⏳'))).toEqual([]);
      await w.close();
    });

    it('the clean-up is durable: after a restart it still happens', async () => {
      const db = await database();
      const w = await world(db);
      const ref = await progressOf(w, 's3');
      w.adapter.failEdits = 1_000;
      w.adapter.failDeletes = 1_000;
      w.runner.runs.at(-1)!.finish({ text: 'answer three' });
      await waitFor(async () => (await w.store.outbox.pending()).find((r) => r.target.retireRef === ref && r.attempts > 0), 5_000, 'a failed retire attempt');
      await w.outbox.stop();
      await w.bridges.shutdown();
      await w.store.close();
      stores.splice(stores.indexOf(w.store), 1);

      const w2 = await world(db);
      await w2.outbox.deliverAll();
      expect(w2.adapter.deleted.has(ref)).toBe(true);
      expect(await w2.store.outbox.pending()).toHaveLength(0);
      expect(w2.adapter.calls.filter((c) => c.op === 'post')).toHaveLength(0); // the answer is not posted again
      await w2.close();
    });

    it('a progress message that cannot be retired does not hold up later answers, and is given up in the end', async () => {
      const w = await world();
      const ref = await progressOf(w, 's4');
      w.adapter.failEdits = 1_000;
      w.adapter.failDeletes = 1_000;
      w.runner.runs.at(-1)!.finish({ text: 'first answer' });
      await waitFor(async () => (await w.store.outbox.pending()).find((r) => r.target.retireRef === ref), 5_000, 'the retire row');
      await w.router.accept(msg('s4', 'next'));
      await w.runner.waitRuns(2);
      w.runner.runs.at(-1)!.finish({ text: 'second answer' });
      await waitFor(() => (w.adapter.texts('s4').includes('second answer') ? true : undefined), 5_000, 'the second answer');
      // retried with backoff until given up: then the outbox is empty (the row is `failed`)
      await waitFor(
        async () => ((await w.store.outbox.pending()).some((r) => r.target.retireRef === ref) ? undefined : true),
        10_000,
        'the retire row given up',
      );
      await w.close();
    });
  });
});
