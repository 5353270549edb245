/**
 * The inbox owner (src/conversation/inbox.ts) and the router's pipeline order: access control →
 * commands → inbox → bridge. Inbox rows move queued → running → done | failed (and running →
 * queued on requeue); a refused writer leaves no inbox row; conversation rows are created once.
 * Every case runs on both backends (SQLite file, PostgreSQL).
 */
import { afterEach, describe, expect, it } from 'vitest';
import { Inbox } from '../../src/conversation/inbox.js';
import { StoreUnavailableError } from '../../src/store/health.js';
import type { Backend } from '../../src/store/sql/kysely.js';
import { BACKENDS, testDatabase } from '../helpers/backends.js';
import { startCore, type CoreOptions } from '../helpers/core.js';
import { waitFor } from '../helpers/sandbox.js';
import { localMessage } from '../helpers/fakes.js';

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

/** The core on a store of `backend` (PostgreSQL: the file's shared database, emptied). */
async function worldOn(backend: Backend, opts: CoreOptions = {}) {
  const db = await testDatabase(backend, { shared: true });
  cleanups.push(() => db.remove());
  const core = startCore({ ...opts, store: await db.open() });
  cleanups.push(
    () => core.removeDir(),
    () => core.close(),
  );
  return core;
}

const msg = localMessage;

describe.each(BACKENDS)('%s', (backend) => {
  const world = (opts: CoreOptions = {}) => worldOn(backend, opts);

  describe('the Inbox', () => {
    it('accept → start → finish, requeue; a duplicate event key changes nothing; the conversation row is created with the first message', async () => {
      const { store } = await world({ recovering: true });
      const inbox = new Inbox(store);
      const m = msg('a', 'hello', { seedFrom: 'local:general:root' });
      const hooks: string[] = [];
      const hook = (name: string) => async () => {
        hooks.push(name);
      };
      expect(await inbox.accept(m, { inTransaction: hook('in'), afterCommit: () => hooks.push('after') })).toBe(true);
      expect(await inbox.accept(m, { inTransaction: hook('in again') })).toBe(false);
      expect(hooks).toEqual(['in', 'after']);
      expect(await store.conversations.get(m.conversationId)).toMatchObject({
        platform: 'local',
        channel: 'general',
        thread: 'a',
        seededFrom: 'local:general:root',
      });
      expect(await store.inbox.get(m.eventKey)).toMatchObject({ state: 'queued', attempts: 0 });

      expect(await inbox.start([m.eventKey])).toBe(false); // first start: not a re-run
      expect(await store.inbox.get(m.eventKey)).toMatchObject({ state: 'running', attempts: 1 });
      await inbox.requeue([m.eventKey]);
      expect((await store.inbox.get(m.eventKey))!.state).toBe('queued');
      expect(await inbox.start([m.eventKey])).toBe(true); // started before: a re-run
      await inbox.finish([m.eventKey], 'done');
      expect((await store.inbox.get(m.eventKey))!.state).toBe('done');
      expect(await inbox.unfinished()).toEqual([]);
    });

    it('refuse keeps no inbox row and runs the hooks with its record', async () => {
      const { store } = await world({ recovering: true });
      const inbox = new Inbox(store);
      const order: string[] = [];
      const record = async () => (order.push('record'), true);
      const inTransaction = async () => {
        order.push('in');
      };
      expect(await inbox.refuse(record, { inTransaction, afterCommit: () => order.push('after') })).toBe(true);
      expect(order).toEqual(['in', 'record', 'after']);
      expect(await inbox.countByState()).toMatchObject({ queued: 0, running: 0, done: 0, failed: 0 });
    });

    it('guard refuses at once while the store is unhealthy, and reports a storage fault of the intake', async () => {
      const { store, health } = await world({ health: true });
      const inbox = new Inbox(store, health);
      await expect(
        inbox.guard(async () => Promise.reject(Object.assign(new Error('database or disk is full'), { code: 'SQLITE_FULL' }))),
      ).rejects.toBeInstanceOf(StoreUnavailableError);
      expect(health!.healthy).toBe(false);
      let ran = false;
      await expect(inbox.guard(async () => (ran = true))).rejects.toBeInstanceOf(StoreUnavailableError);
      expect(ran).toBe(false);
    });
  });

  describe('the router pipeline', () => {
    it('access control first: a refused writer is told once, nothing is stored in the inbox, nothing reaches the agent', async () => {
      const w = await world({ config: { access: { admins: [], allowedUsers: ['local:bob'], allowedChannels: [] } } });
      expect(await w.router.accept(msg('r', '/agent help', { addressed: true }))).toBe('accepted');
      expect(await w.router.accept(msg('r', 'hello'))).toBe('accepted');
      await waitFor(() => w.adapter.texts('r').length === 1);
      expect(await w.store.inbox.countByState()).toMatchObject({ queued: 0, running: 0, done: 0, failed: 0 });
      expect(w.runner.runs).toHaveLength(0);
    });

    it('commands before the inbox: a command is taken (row done with its reply), never run as a turn; a prompt becomes a turn', async () => {
      const w = await world();
      w.runner.auto = (req) => ({ text: `echo: ${req.prompt}` });
      const command = msg('c', 'status', { addressed: true });
      expect(await w.router.accept(command)).toBe('accepted');
      expect(await w.router.accept(command)).toBe('duplicate');
      await waitFor(async () => (await w.store.inbox.get(command.eventKey))?.state === 'done');
      const prompt = msg('c', 'what is up');
      await w.router.accept(prompt);
      await waitFor(() => w.adapter.texts('c').includes('echo: what is up'));
      expect(w.runner.runs).toHaveLength(1);
      expect((await w.store.inbox.get(prompt.eventKey))!.state).toBe('done');
    });

    it('the bridges announce every turn end as a turnEnded event', async () => {
      const w = await world();
      w.runner.auto = () => ({ text: 'ok' });
      const ended: string[] = [];
      w.bridges.on('turnEnded', (e) => ended.push(`${e.conversationId} ${e.outcome} ${e.info.platform}`));
      await w.router.accept(msg('e', 'go'));
      await waitFor(() => ended.length === 1);
      expect(ended).toEqual(['local:general:e ok local']);
    });
  });
});
