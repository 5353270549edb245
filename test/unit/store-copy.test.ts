/**
 * `db copy` (src/store/copy.ts): a SQLite store filled through its repositories, with rows in
 * every table, copied into a new PostgreSQL database and read back through the PostgreSQL store's
 * repositories; sequences continue after the copied ids; refusals (running source, old schema,
 * non-empty or foreign target) change nothing; a check failure rolls everything back.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import pg from 'pg';
import type { InboundMessage } from '../../src/core/messages.js';
import { newCronRun } from '../../src/core/schedule.js';
import { createLogger } from '../../src/logger.js';
import { CopyCheckError, CopyRefusedError, copyDatabase, rowLine } from '../../src/store/copy.js';
import { openDatabase } from '../../src/store/db.js';
import { acquireOwnerLock } from '../../src/store/lock.js';
import { loadMigrations, migrate, migrationsDir } from '../../src/store/migrate.js';
import { openPostgresStore } from '../../src/store/postgres.js';
import { openStore } from '../../src/store/store.js';
import type { Store } from '../../src/store/types.js';
import { freshPostgresDatabase } from '../helpers/pg.js';

const logger = createLogger('silent');
let dir: string;
let dbPath: string;
const drops: Array<() => Promise<void>> = [];

/** A fresh PostgreSQL database, dropped after the test. */
async function target(): Promise<string> {
  const db = await freshPostgresDatabase();
  drops.push(db.drop);
  return db.url;
}

function message(eventKey: string, text: string, receivedAt: number, conversationId = 'local:general:t1'): InboundMessage {
  return {
    platform: 'local',
    conversationId,
    channel: 'general',
    thread: 't1',
    author: { id: 'ann', name: 'Ann "the admin"' },
    text,
    eventKey,
    replyTarget: { platform: 'local', channel: 'general', thread: 't1' },
    receivedAt,
  };
}

/** Fills every table of `store` through its repositories (some rows more than a batch: 1,200 entries). */
async function fill(store: Store): Promise<{ deletedEntryId: number }> {
  const conv = 'local:general:t1';
  await store.conversations.ensure({ id: conv, platform: 'local', channel: 'general', thread: 't1', workdir: '/w/é' });
  await store.conversations.ensure({ id: 'slack:T:C1', platform: 'slack', channel: 'C1' });
  await store.conversations.setAgentSession(conv, 'claude', 'sess-1', 'uuid-9');
  await store.conversations.update(conv, { model: 'opus', permissionMode: 'edit', seededFrom: 'slack:C1:17.1', seededAt: 1234 });
  let lastEntry = 0;
  for (let i = 0; i < 1200; i++) {
    const e = await store.entries.append({
      conversationId: conv,
      role: i % 2 ? 'assistant' : 'user',
      author: i % 2 ? null : 'Ann',
      text: `entry ${i} ✓ 'quoted' "double" \\ back`,
      agent: i % 2 ? 'claude' : null,
      model: null,
      usage: i % 2 ? { inputTokens: i, outputTokens: 2 * i } : null,
      costUsd: i % 2 ? i / 1000 + 0.1 : null,
      createdAt: 1_700_000_000_000 + i,
    });
    lastEntry = e.id;
  }
  // The highest id deleted: AUTOINCREMENT never hands it out again; neither may PostgreSQL after the copy.
  const extra = await store.entries.append({
    conversationId: conv,
    role: 'user',
    author: 'Bob',
    text: 'cut',
    agent: null,
    model: null,
    usage: null,
    costUsd: null,
  });
  expect(await store.entries.removeUncommitted(conv)).toBe(1);
  await store.postedMessages.record({
    key: 'local:general:m1',
    conversationId: conv,
    sessionEntryId: lastEntry,
    platformMessageRef: 'm1',
    assistantText: 'hi',
    kind: 'answer',
  });
  await store.postedMessages.record({
    key: 'local:general:m0',
    conversationId: conv,
    sessionEntryId: null,
    platformMessageRef: 'm0',
    assistantText: '⏳ Working…',
    kind: 'progress',
  });
  await store.inbox.accept(message('local:1', 'first', 1000));
  await store.inbox.accept(message('local:2', 'second', 1000));
  await store.inbox.markRunning(['local:1']);
  await store.inbox.markDone(['local:1']);
  const o1 = await store.outbox.enqueue({
    conversationId: conv,
    target: { platform: 'local', channel: 'general', thread: 't1', kind: 'answer' },
    text: 'answer',
    sessionEntryId: lastEntry,
  });
  await store.outbox.markPosted(o1.id, 'm1');
  const card = await store.outbox.enqueue({
    conversationId: conv,
    target: { platform: 'local', channel: 'general', actions: [{ id: 'ab:x:allow', label: 'Allow', style: 'primary' }] },
    text: 'May I?',
  });
  await store.localMessages.insert({
    id: 'm1',
    channel: 'general',
    thread: 't1',
    user: 'agentbridge',
    text: 'hi',
    bot: true,
    ts: 5,
    actions: [{ id: 'ab:x:deny', label: 'Deny' }],
    file: { name: 'a.txt', size: 3, type: 'text/plain' },
  });
  await store.localMessages.insert({
    id: 't1',
    channel: 'general',
    thread: 't1',
    user: 'ann',
    text: 'question',
    bot: false,
    ts: 4,
    files: [{ id: 'up1', name: 'b.png', size: 10, type: 'image/png' }],
  });
  await store.localMessages.setReaction('t1', 'done');
  await store.platformState.set('discord:last:C1', '123456789012345678');
  await store.cronJobs.insert({
    id: 'job1',
    name: 'daily',
    schedule: { kind: 'cron', expr: '0 9 * * *', tz: 'Europe/Berlin' },
    scheduleText: 'every day at 9',
    target: { platform: 'slack', channel: 'C1' },
    prompt: 'summarise',
    sessionMode: 'isolated',
    enabled: true,
    createdBy: 'slack:U1',
    consecutiveFailures: 1,
    nextRunAt: 2_000_000_000_000,
    lastRunAt: null,
  });
  const run = await store.cronRuns.insert(newCronRun({ jobId: 'job1', scheduledFor: 1000, attempt: 1, status: 'queued', dueAt: 1000 }));
  await store.cronRuns.update(run!.id, { status: 'ok', startedAt: 1001, endedAt: 1002, conversationId: 'slack:T:C1', eventKey: 'cron:job1:1000:1' });
  await store.scheduledMessages.insert({ id: 's1', conversationId: conv, text: 'remind me', dueAt: 3000, everyMs: 60_000, createdBy: 'agent', createdAt: 1 });
  await store.localUsers.add('ann', true, 10);
  await store.localUsers.addToken({ hash: 'a'.repeat(64), user: 'ann', kind: 'session', expiresAt: 9_999_999_999_999, now: 11 });
  await store.localUploads.insert({ id: 'up1', owner: 'ann', name: 'b.png', type: 'image/png', size: 10, createdAt: 12 });
  await store.localUploads.insert({ id: 'up2', owner: null, name: 'c.txt', type: 'text/plain', size: 1, createdAt: 13 });
  expect(await store.localUploads.markSent(['up1'], 'ann', 't1')).toBe(true);
  await store.interactions.create({
    id: 'x',
    conversationId: conv,
    request: { kind: 'approval', tool: 'Bash', preview: { format: 'command', text: 'ls' }, ruleKey: 'ls' },
    requester: { id: 'local:ann', name: 'Ann' },
    expiresAt: 99,
  });
  await store.interactions.setCard('x', card.id);
  await store.interactions.finish('x', 'decided', { kind: 'allow', always: true }, { id: 'local:ann', name: 'Ann' }, 50);
  await store.interactions.create({ id: 'y', conversationId: conv, request: { kind: 'plan', plan: 'do it' }, requester: null, expiresAt: 100 });
  await store.approvalRules.add({ conversationId: conv, tool: 'Bash', ruleKey: 'ls', createdBy: 'local:ann' });
  await store.approvalRules.add({ conversationId: conv, tool: 'Edit', ruleKey: '', createdBy: null });
  await store.projects.add({ name: 'web', path: '/ws/web', gitUrl: 'https://example.com/web.git', branch: 'main', worktrees: true }, 20);
  await store.projects.bind({ platform: 'slack', channel: 'C1', project: 'web', boundBy: 'slack:U1' }, 21);
  await store.projects.setWorktree({ conversationId: conv, project: 'web', path: '/ws/web/.worktrees/t1', branch: 'agentbridge/t1', base: 'abc123' }, 22);
  await store.clusterInstances.beat({
    id: 'node-a',
    host: 'host-a',
    pid: 4242,
    roles: ['ingress', 'worker'],
    url: 'http://10.0.0.5:8787',
    startedAt: 1_760_000_000_000,
    heartbeatAt: 1_760_000_005_000,
    turnsRunning: 2,
  });
  await store.clusterInstances.beat({ id: 'node-b', host: 'host-b', pid: 7, roles: ['leader'], url: null, startedAt: 30, heartbeatAt: 31, turnsRunning: 0 });
  await store.clusterInstances.markStopped('node-b', 32);
  await store.deliveryLeases.take(conv, 'node-a', 30_000, 1_760_000_000_000);
  await store.sessionFiles.save(conv, 'claude', 'sess-1', [
    { root: 'claude-config', path: 'projects/-w--/sess-1.jsonl', content: '{"type":"user","text":"é ✓"}\n' },
    { root: 'claude-config', path: 'projects/-w--/sess-1/tool-results/a.txt', content: 'tool output' },
  ]);
  return { deletedEntryId: extra.id };
}

/** Everything the repositories return for the filled data (the comparison of both stores). */
async function snapshot(store: Store): Promise<unknown> {
  const conversations = await store.conversations.list({ limit: 100 });
  const per = await Promise.all(
    conversations.map(async (c) => ({
      entries: await store.entries.list(c.id, { limit: 5000 }),
      posted: await store.postedMessages.listForConversation(c.id),
      scheduled: await store.scheduledMessages.listForConversation(c.id),
      rules: await store.approvalRules.list(c.id),
      worktree: await store.projects.worktree(c.id),
      sessionFiles: await store.sessionFiles.load(c.id, 'claude'),
      pending: await store.outbox.pendingFor(c.id),
    })),
  );
  return {
    conversations,
    per,
    inbox: [await store.inbox.get('local:1'), await store.inbox.get('local:2'), await store.inbox.countByState()],
    outbox: [await store.outbox.get(1), await store.outbox.get(2), await store.outbox.pending()],
    local: [await store.localMessages.list('general', 't1'), await store.localMessages.threads('general'), await store.localMessages.channels()],
    state: await store.platformState.list(''),
    cron: [await store.cronJobs.list(), await store.cronRuns.listForJob('job1')],
    users: [await store.localUsers.list(100), await store.localUsers.findToken('a'.repeat(64), ['session'], 100)],
    uploads: [await store.localUploads.get('up1'), await store.localUploads.get('up2')],
    interactions: [await store.interactions.get('x'), await store.interactions.get('y'), await store.interactions.pending()],
    projects: [await store.projects.list(), await store.projects.bindingsOf('web'), await store.projects.worktrees()],
    cluster: await store.clusterInstances.list(),
  };
}

/** Tables of the SQLite schema the copy must cover (read here independently of the copy). */
function sqliteTables(file: string): string[] {
  const db = openDatabase(file, { readonly: true });
  try {
    return (
      db.prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' AND name <> 'schema_migrations' ORDER BY name").all() as {
        name: string;
      }[]
    ).map((r) => r.name);
  } finally {
    db.close();
  }
}

/** Rows of every agentbridge table of the PostgreSQL database at `url`, by table (raw SQL: the test's own check). */
async function pgRowCounts(url: string): Promise<Record<string, number>> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    const tables = await client.query<{ t: string }>(
      "SELECT table_name AS t FROM information_schema.tables WHERE table_schema = current_schema() AND table_name <> 'schema_migrations'",
    );
    const counts: Record<string, number> = {};
    for (const { t } of tables.rows) counts[t] = Number((await client.query<{ n: string }>(`SELECT COUNT(*) AS n FROM ${t}`)).rows[0]!.n);
    return counts;
  } finally {
    await client.end();
  }
}

let filled: { deletedEntryId: number; expected: unknown; tables: string[] };

beforeAll(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'agentbridge-copy-'));
  dbPath = path.join(dir, 'agentbridge.db');
  const store = openStore({ dbPath, logger });
  try {
    const { deletedEntryId } = await fill(store);
    filled = { deletedEntryId, expected: await snapshot(store), tables: sqliteTables(dbPath) };
  } finally {
    await store.close();
  }
}, 120_000);

afterEach(async () => {
  for (const drop of drops.splice(0)) await drop();
});

afterAll(() => {
  fs.rmSync(dir, { recursive: true, force: true });
});

describe('copyDatabase', () => {
  it('copies every table; the PostgreSQL store reads back what the SQLite store held; new rows continue after the copied ids', async () => {
    const url = await target();
    const progress: Array<{ table: string; copied: number; total: number }> = [];
    const report = await copyDatabase({ fromPath: dbPath, toUrl: url, logger, onProgress: (p) => progress.push(p) });

    // Every table of the SQLite schema is in the report, each with rows (the fill covers every table:
    // a new table fails here until fill() writes to it and the copy carries it).
    expect(report.tables.map((t) => t.table).sort()).toEqual(filled.tables);
    for (const t of report.tables) expect(t.rows, t.table).toBeGreaterThan(0);
    expect(report.tables.find((t) => t.table === 'session_entries')!.rows).toBe(1200);
    expect(report.rows).toBe(report.tables.reduce((n, t) => n + t.rows, 0));
    expect(report.schemaVersion).toBe(loadMigrations(migrationsDir('sqlite')).at(-1)!.version);
    expect(report.to).not.toContain(new URL(url).password || '\0');
    // Parents before children (foreign keys).
    const order = report.tables.map((t) => t.table);
    for (const [child, parent] of [
      ['session_entries', 'conversations'],
      ['posted_messages', 'session_entries'],
      ['cron_runs', 'cron_jobs'],
      ['local_user_tokens', 'local_users'],
      ['channel_projects', 'projects'],
    ]) {
      expect(order.indexOf(child!), `${child} after ${parent}`).toBeGreaterThan(order.indexOf(parent!));
    }
    expect(progress.filter((p) => p.table === 'session_entries').map((p) => p.copied)).toEqual([500, 1000, 1200]);
    expect(await pgRowCounts(url)).toEqual(Object.fromEntries(report.tables.map((t) => [t.table, t.rows])));

    const store = await openPostgresStore({ url, logger });
    try {
      expect(await snapshot(store)).toEqual(filled.expected);

      // Sequences: ids continue after the copied ones (and after SQLite's deleted highest entry id).
      const entry = await store.entries.append({
        conversationId: 'local:general:t1',
        role: 'user',
        author: 'Ann',
        text: 'after',
        agent: null,
        model: null,
        usage: null,
        costUsd: null,
      });
      expect(entry.id).toBe(filled.deletedEntryId + 1);
      const out = await store.outbox.enqueue({ conversationId: 'local:general:t1', target: { platform: 'local', channel: 'general' }, text: 'next' });
      expect(out.id).toBe(3);
      const run = await store.cronRuns.insert(newCronRun({ jobId: 'job1', scheduledFor: 2000, attempt: 1, status: 'queued' }));
      expect(run!.id).toBe(2);
      expect(await store.inbox.accept(message('local:3', 'third', 500))).toBe(true);
      expect((await store.inbox.unfinished()).map((r) => r.eventKey)).toEqual(['local:3', 'local:2']);
      // posted_messages.rowid continues too: a new message of the same ms sorts after the copied ones.
      await store.postedMessages.record({
        key: 'local:general:m2',
        conversationId: 'local:general:t1',
        sessionEntryId: null,
        platformMessageRef: 'm2',
        assistantText: 'x',
        kind: 'notice',
      });
      const rowids = (await store.pool.query<{ key: string; rowid: number }>('SELECT key, rowid FROM posted_messages ORDER BY rowid')).rows;
      expect(rowids.map((r) => r.key)).toEqual(['local:general:m1', 'local:general:m0', 'local:general:m2']);
      expect(report.sequences).toEqual(
        expect.arrayContaining([
          { table: 'session_entries', column: 'id', next: filled.deletedEntryId + 1 },
          { table: 'posted_messages', column: 'rowid', next: 3 },
        ]),
      );
    } finally {
      await store.close();
    }
  });

  it('refuses a target with rows, naming the tables, and changes nothing', async () => {
    const url = await target();
    const store = await openPostgresStore({ url, logger });
    await store.platformState.set('k', 'v');
    await store.localUsers.add('zed', false);
    await store.close();
    const err = await copyDatabase({ fromPath: dbPath, toUrl: url, logger }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(CopyRefusedError);
    expect((err as Error).message).toMatch(/is not empty: local_users, platform_state have rows/);
    expect((err as Error).message).not.toContain(new URL(url).password || '\0');
    expect(Object.values(await pgRowCounts(url)).reduce((a, b) => a + b, 0)).toBe(2);
  });

  it('refuses a second copy into the same database (it is no longer empty)', async () => {
    const url = await target();
    await copyDatabase({ fromPath: dbPath, toUrl: url, logger });
    await expect(copyDatabase({ fromPath: dbPath, toUrl: url, logger })).rejects.toThrow(/is not empty: .*conversations.*session_entries/);
  });

  it("refuses a target holding tables that are not agentbridge's, before writing anything", async () => {
    const url = await target();
    const client = new pg.Client({ connectionString: url });
    await client.connect();
    await client.query('CREATE TABLE invoices (id int)');
    await client.end();
    await expect(copyDatabase({ fromPath: dbPath, toUrl: url, logger })).rejects.toThrow(/tables that are not agentbridge's \(invoices\)/);
    expect(Object.keys(await pgRowCounts(url))).toEqual(['invoices']); // no schema_migrations, no agentbridge table
  });

  it('refuses while an agentbridge owns the source data directory', async () => {
    const lock = acquireOwnerLock(dir);
    try {
      const err = await copyDatabase({ fromPath: dbPath, toUrl: 'postgres://nobody:secret@127.0.0.1:1/none', logger }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(CopyRefusedError);
      expect((err as Error).message).toContain(`pid ${process.pid}`);
      expect((err as Error).message).toContain('stop it first');
    } finally {
      lock.release();
    }
  });

  it('refuses a source that is not at the newest schema version: migrate it by starting agentbridge once', async () => {
    const old = path.join(dir, 'old');
    fs.mkdirSync(old);
    const migrations = path.join(old, 'migrations');
    fs.mkdirSync(migrations);
    const all = loadMigrations(migrationsDir('sqlite'));
    for (const m of all.slice(0, -1)) fs.copyFileSync(m.file, path.join(migrations, path.basename(m.file)));
    const db = openDatabase(path.join(old, 'agentbridge.db'));
    migrate(db, { dir: migrations });
    db.close();
    await expect(copyDatabase({ fromPath: path.join(old, 'agentbridge.db'), toUrl: 'postgres://x@127.0.0.1:1/none', logger })).rejects.toThrow(
      new RegExp(`schema version ${all.at(-2)!.version}, this agentbridge's is ${all.at(-1)!.version}: start this agentbridge once`),
    );
    await expect(copyDatabase({ fromPath: path.join(old, 'missing.db'), toUrl: 'postgres://x@127.0.0.1:1/none', logger })).rejects.toThrow(CopyRefusedError);
  });

  it('rolls everything back and names the table when the check finds rows that differ', async () => {
    const url = await target();
    const store = await openPostgresStore({ url, logger }); // migrated: the trigger needs the table
    await store.pool.query(`
      CREATE FUNCTION garble() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN NEW.text := NEW.text || '!'; RETURN NEW; END $$;
      CREATE TRIGGER garble BEFORE INSERT ON local_messages FOR EACH ROW EXECUTE FUNCTION garble();`);
    await store.close();
    const err = await copyDatabase({ fromPath: dbPath, toUrl: url, logger }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(CopyCheckError);
    expect((err as CopyCheckError).table).toBe('local_messages');
    expect((err as Error).message).toMatch(/check failed for table local_messages: .*rolled back/);
    expect(Object.values(await pgRowCounts(url)).every((n) => n === 0)).toBe(true);
  });
});

describe('rowLine', () => {
  it('is the JSON of the values: numbers, text and null kept apart', () => {
    expect(rowLine([1, '1', null, 0.5, 'a"b'], 't')).toBe('[1,"1",null,0.5,"a\\"b"]\n');
    expect(() => rowLine([Buffer.from('x')], 't')).toThrow(/table t has a value of type binary/);
  });
});
