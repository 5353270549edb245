/**
 * Access control: the policy, and the router refusing people who are not allowed — once per
 * conversation (remembered across restarts), never reaching the agent, every decision logged.
 * The router cases run on both backends (SQLite file, PostgreSQL).
 */
import os from 'node:os';
import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { AccessPolicy, refusalText } from '../../src/conversation/access.js';
import type { AccessConfig } from '../../src/core/config.js';
import { ConfigError, loadConfig } from '../../src/config.js';
import type { InboundMessage } from '../../src/core/messages.js';
import type { Backend } from '../../src/store/sql/kysely.js';
import { BACKENDS, testDatabase, type TestDatabase } from '../helpers/backends.js';
import { collectingLogger, startCore } from '../helpers/core.js';
import { waitFor } from '../helpers/sandbox.js';

const silent = pino({ level: 'silent' });
const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

const policy = (c: Partial<AccessConfig>) => new AccessPolicy({ admins: [], allowedUsers: [], allowedChannels: [], ...c }, silent);

describe('configuration of access and operations', () => {
  it('reads platform-qualified id lists, the workspaces root, the shutdown grace and the restart mode', () => {
    const c = loadConfig(
      {
        AGENTBRIDGE_ADMINS: 'slack:U123, discord:456,local:alice',
        AGENTBRIDGE_ALLOWED_USERS: 'local:bob',
        AGENTBRIDGE_ALLOWED_CHANNELS: 'slack:C1',
        AGENTBRIDGE_WORKSPACES_ROOT: 'ws',
        AGENTBRIDGE_SHUTDOWN_GRACE_S: '0',
        AGENTBRIDGE_RESTART_MODE: 'exit',
      },
      '/srv',
    );
    expect(c.access).toEqual({ admins: ['slack:U123', 'discord:456', 'local:alice'], allowedUsers: ['local:bob'], allowedChannels: ['slack:C1'] });
    expect(c.workspacesRoot).toBe('/srv/ws');
    expect(c.shutdownGraceMs).toBe(0);
    expect(c.restartMode).toBe('exit');
    const d = loadConfig({ AGENTBRIDGE_WORKDIR: '/w' }, '/srv');
    expect(d.access).toEqual({ admins: [], allowedUsers: [], allowedChannels: [] });
    expect(d.workspacesRoot).toBe('/w');
    expect(d.shutdownGraceMs).toBe(60_000);
    expect(d.restartMode).toBe('auto');
  });

  it('rejects unqualified ids and bad values, naming the variable', () => {
    expect(() => loadConfig({ AGENTBRIDGE_ADMINS: 'U123' })).toThrow(ConfigError);
    expect(() => loadConfig({ AGENTBRIDGE_ADMINS: 'U123' })).toThrow(/AGENTBRIDGE_ADMINS: "U123" is not a platform-qualified id/);
    expect(() => loadConfig({ AGENTBRIDGE_ALLOWED_CHANNELS: 'teams:x' })).toThrow(/AGENTBRIDGE_ALLOWED_CHANNELS/);
    expect(() => loadConfig({ AGENTBRIDGE_SHUTDOWN_GRACE_S: '-1' })).toThrow(/AGENTBRIDGE_SHUTDOWN_GRACE_S: '-1' must be a whole number ≥ 0/);
    expect(() => loadConfig({ AGENTBRIDGE_RESTART_MODE: 'reboot' })).toThrow(/AGENTBRIDGE_RESTART_MODE/);
  });
});

describe('access policy', () => {
  it('empty lists allow everyone everywhere', async () => {
    expect(await policy({}).decide({ platform: 'slack', userId: 'U1', channel: 'C1' })).toEqual({ allowed: true, admin: false });
  });

  it('allowed users are platform-qualified; admins are always allowed as users', async () => {
    const p = policy({ admins: ['discord:9'], allowedUsers: ['slack:U1', 'local:alice'] });
    expect((await p.decide({ platform: 'slack', userId: 'U1', channel: 'C' })).allowed).toBe(true);
    expect(await p.decide({ platform: 'discord', userId: 'U1', channel: 'C' })).toEqual({ allowed: false, admin: false, reason: 'user' });
    expect((await p.decide({ platform: 'local', userId: 'alice', channel: 'general' })).allowed).toBe(true);
    expect((await p.decide({ platform: 'local', userId: 'mallory', channel: 'general' })).allowed).toBe(false);
    expect(await p.decide({ platform: 'discord', userId: '9', channel: 'C' })).toEqual({ allowed: true, admin: true });
    expect(await p.isAdmin('slack', '9')).toBe(false);
  });

  it('allowed channels apply to everyone; a thread matches by its parent or its own id', async () => {
    const p = policy({ admins: ['slack:UA'], allowedChannels: ['slack:C1', 'discord:T5'] });
    expect((await p.decide({ platform: 'slack', userId: 'U1', channel: 'C1' })).allowed).toBe(true);
    expect(await p.decide({ platform: 'slack', userId: 'UA', channel: 'C2' })).toEqual({ allowed: false, admin: true, reason: 'channel' });
    expect((await p.decide({ platform: 'discord', userId: 'x', channel: 'C9', alsoChannels: ['T5'] })).allowed).toBe(true);
    expect((await p.decide({ platform: 'discord', userId: 'x', channel: 'C1' })).allowed).toBe(false);
  });
});

/** A database of `backend` (PostgreSQL: the file's shared one, emptied), removed after the test. */
async function databaseOn(backend: Backend): Promise<TestDatabase> {
  const db = await testDatabase(backend, { shared: true });
  cleanups.push(() => db.remove());
  return db;
}

/** The core on `db` (a restart when opened before) with these access lists; `close` shuts it down (also done after the test). */
async function world(db: TestDatabase, access: Partial<AccessConfig>) {
  const { logger, lines: logs } = collectingLogger();
  const core = startCore({
    store: await db.open(),
    concurrency: 2,
    logger,
    config: { access: { admins: [], allowedUsers: [], allowedChannels: [], ...access }, workdir: os.tmpdir(), workspacesRoot: os.tmpdir() },
  });
  const { store, adapter, runner, router } = core;
  runner.auto = (req) => ({ text: `echo: ${req.prompt}` });
  cleanups.push(
    () => core.removeDir(),
    () => core.close(),
  );
  return { store, adapter, runner, router, outbox: core.outbox, logs, close: () => core.close() };
}

let n = 0;
function msg(thread: string, user: string, text: string, channel = 'general'): InboundMessage {
  const key = `a${++n}`;
  return {
    platform: 'local',
    conversationId: `local:${channel}:${thread}`,
    channel,
    thread,
    author: { id: user, name: user },
    text,
    eventKey: `local:${key}`,
    replyTarget: { platform: 'local', channel, thread },
    messageRef: key,
    receivedAt: Date.now(),
  };
}

describe.each(BACKENDS)('refusing people who are not allowed (%s)', (backend) => {
  it('trusts scheduler messages (origin scheduler): run as turns whatever the lists say', async () => {
    const w = await world(await databaseOn(backend), { allowedUsers: ['local:alice'], allowedChannels: ['local:other'] });
    const cron = { ...msg('ts', 'scheduler', 'nightly summary'), origin: 'scheduler' as const, author: { id: 'scheduler', name: 'cron job "nightly"' } };
    expect(await w.router.accept(cron)).toBe('accepted');
    await waitFor(() => w.adapter.texts('ts').includes('echo: nightly summary'));
    expect(w.adapter.texts('ts')).not.toContain(refusalText('channel'));
    // the same text from a person there is refused
    await w.router.accept(msg('tp', 'mallory', 'nightly summary'));
    // the refusal is an outbox notice, delivered in the background
    await waitFor(() => w.adapter.texts('tp').length > 0);
    expect(w.adapter.texts('tp')).toEqual([refusalText('channel')]);
  });

  it('tells a disallowed writer once per conversation, across restarts; nothing reaches the agent', async () => {
    const db = await databaseOn(backend);
    const w = await world(db, { allowedUsers: ['local:alice'] });
    expect(await w.router.accept(msg('t1', 'mallory', 'run rm -rf /'))).toBe('accepted');
    expect(await w.router.accept({ ...msg('t1', 'mallory', '/agent status'), addressed: true })).toBe('accepted');
    await waitFor(() => w.adapter.texts('t1').length > 0);
    expect(w.adapter.texts('t1')).toEqual([refusalText('user')]);
    await w.router.accept(msg('t2', 'mallory', 'another thread'));
    await waitFor(() => w.adapter.texts('t2').length > 0);
    expect(w.adapter.texts('t2')).toEqual([refusalText('user')]);
    expect(w.runner.runs).toHaveLength(0);
    // nothing was queued for the agent, no conversation was created
    expect(await w.store.inbox.unfinished()).toHaveLength(0);
    expect(await w.store.conversations.get('local:general:t1')).toBeUndefined();
    // the allowed user in the same thread is answered
    await w.router.accept(msg('t1', 'alice', 'hello'));
    await waitFor(() => w.adapter.texts('t1').includes('echo: hello'));
    expect(w.runner.runs).toHaveLength(1);

    const refusals = w.logs.filter((l) => l.msg === 'access refused: user not allowed');
    expect(refusals).toHaveLength(3);
    expect(refusals[0]).toMatchObject({ level: 30, platform: 'local', userId: 'mallory', channel: 'general', conversationId: 'local:general:t1' });
    expect(w.logs.find((l) => l.msg === 'access allowed')).toMatchObject({ level: 20, userId: 'alice', channel: 'general' });

    // after a restart the refusal is still remembered
    await w.close();
    const w2 = await world(db, { allowedUsers: ['local:alice'] });
    await w2.router.accept(msg('t1', 'mallory', 'still me'));
    // a notice would be in the outbox by now (it commits with the refusal record): deliver what is there
    await w2.outbox.deliverAll();
    expect(w2.adapter.texts('t1')).toEqual([]);
    expect(w2.runner.runs).toHaveLength(0);
  });

  it('the refusal is a durable outbox notice: a failed post is retried and shows once', async () => {
    const w = await world(await databaseOn(backend), { allowedUsers: ['local:alice'] });
    w.adapter.failPosts = 1;
    expect(await w.router.accept(msg('f1', 'mallory', 'hello?'))).toBe('accepted');
    await waitFor(() => w.adapter.texts('f1').length === 1, 5_000, 'the refusal after the retry');
    expect(w.adapter.texts('f1')).toEqual([refusalText('user')]);
    expect(w.adapter.postAttempts.filter((p) => p.text === refusalText('user'))).toHaveLength(2);
    // Recorded as delivered after the post (PostgreSQL: a round trip later): wait for that.
    await waitFor(async () => (await w.store.outbox.pendingCount()) === 0, 5_000, 'the refusal recorded as delivered');
    expect(await w.store.outbox.pendingCount()).toBe(0);
    await w.router.accept(msg('f1', 'mallory', 'hello again'));
    await w.outbox.deliverAll(); // a second notice would be in the outbox by now
    expect(w.adapter.texts('f1')).toEqual([refusalText('user')]);
  });

  it('refuses in channels that are not allowed, with the channel wording', async () => {
    const w = await world(await databaseOn(backend), { allowedChannels: ['local:general'] });
    await w.router.accept(msg('x', 'alice', 'hi', 'random'));
    await waitFor(() => w.adapter.texts('x').length > 0);
    expect(w.adapter.texts('x')).toEqual([refusalText('channel')]);
    await w.router.accept(msg('y', 'alice', 'hi'));
    await waitFor(() => w.adapter.texts('y').includes('echo: hi'));
    expect(w.runner.runs).toHaveLength(1);
  });
});
