import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { pino } from 'pino';
import type { InboundMessage } from '../../src/core/messages.js';
import { openStore, type SqliteStore } from '../../src/store/store.js';

let dir: string;
let store: SqliteStore;

beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'agentbridge-repos-'));
  store = openStore({ dbPath: path.join(dir, 'agentbridge.db'), logger: pino({ level: 'silent' }) });
});
afterEach(async () => {
  await store.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

function message(eventKey: string, text: string, receivedAt: number, conversationId = 'local:general'): InboundMessage {
  return {
    platform: 'local',
    conversationId,
    channel: 'general',
    author: { id: 'ann', name: 'Ann' },
    text,
    eventKey,
    replyTarget: { platform: 'local', channel: 'general' },
    receivedAt,
  };
}

describe('inbox', () => {
  it('accepts a message once: a duplicate returns false and keeps the first payload', async () => {
    expect(await store.inbox.accept(message('local:1', 'first', 1000))).toBe(true);
    expect(await store.inbox.accept(message('local:1', 'second', 2000))).toBe(false);
    const row = (await store.inbox.get('local:1'))!;
    expect(row.message.text).toBe('first');
    expect(row).toMatchObject({ state: 'queued', attempts: 0, receivedAt: 1000, conversationId: 'local:general' });
    expect(row.message).toEqual(message('local:1', 'first', 1000));
    expect(await store.inbox.countByState()).toEqual({ queued: 1, running: 0, done: 0, failed: 0 });
  });

  it('lists unfinished rows by receivedAt then insertion order, through state transitions', async () => {
    await store.inbox.accept(message('c', 'c', 2000));
    await store.inbox.accept(message('a', 'a', 1000));
    await store.inbox.accept(message('b2', 'b2', 1500));
    await store.inbox.accept(message('b1', 'b1', 1500)); // same time, inserted later
    expect((await store.inbox.unfinished()).map((r) => r.eventKey)).toEqual(['a', 'b2', 'b1', 'c']);

    await store.inbox.markRunning(['a', 'b2']);
    expect(await store.inbox.get('a')).toMatchObject({ state: 'running', attempts: 1 });
    await store.inbox.markDone(['a']);
    await store.inbox.markFailed(['b2']);
    expect((await store.inbox.unfinished()).map((r) => r.eventKey)).toEqual(['b1', 'c']);
    expect(await store.inbox.countByState()).toEqual({ queued: 2, running: 0, done: 1, failed: 1 });

    // a finished row is not restarted by markRunning
    await store.inbox.markRunning(['a']);
    expect(await store.inbox.get('a')).toMatchObject({ state: 'done', attempts: 1 });
    expect(await store.inbox.get('unknown')).toBeUndefined();
  });

  it('requeue puts running rows back to queued and keeps attempts', async () => {
    await store.inbox.accept(message('x', 'x', 1));
    await store.inbox.markRunning(['x']);
    await store.inbox.requeue(['x']);
    expect(await store.inbox.get('x')).toMatchObject({ state: 'queued', attempts: 1 });
    await store.inbox.markRunning(['x']);
    expect(await store.inbox.get('x')).toMatchObject({ state: 'running', attempts: 2 });
    expect((await store.inbox.unfinished()).map((r) => r.eventKey)).toEqual(['x']);
  });
});

describe('outbox', () => {
  const target = { platform: 'slack' as const, channel: 'C1', thread: '17.1' };

  it('enqueues pending rows, marks posted and failed attempts', async () => {
    const a = await store.outbox.enqueue({ conversationId: 'c1', target, text: 'answer A', sessionEntryId: 5 });
    const b = await store.outbox.enqueue({ conversationId: 'c1', target, text: 'answer B' });
    expect(a).toMatchObject({ state: 'pending', attempts: 0, target, sessionEntryId: 5, postedRef: null, lastError: null });
    expect(b.sessionEntryId).toBeNull();
    const edit = await store.outbox.enqueue({ conversationId: 'c2', target: { ...target, editRef: '17.9' }, text: 'final' });
    expect((await store.outbox.pending()).find((r) => r.id === edit.id)?.target).toEqual({ ...target, editRef: '17.9' });
    await store.outbox.markPosted(edit.id, '17.9');
    expect((await store.outbox.pending()).map((r) => r.id)).toEqual([a.id, b.id]);

    await store.outbox.markAttemptFailed(a.id, 'HTTP 429');
    expect((await store.outbox.pending())[0]).toMatchObject({ id: a.id, state: 'pending', attempts: 1, lastError: 'HTTP 429' });
    await store.outbox.markPosted(a.id, '17.2');
    await store.outbox.markAttemptFailed(b.id, 'channel_not_found', true);
    expect(await store.outbox.pending()).toEqual([]);
    // a posted row is not turned into a failure later
    await store.outbox.markAttemptFailed(a.id, 'late', true);
    const rows = store.db.prepare('SELECT id, state, attempts, posted_ref, last_error FROM outbox WHERE id IN (?, ?) ORDER BY id').all(a.id, b.id);
    expect(rows).toEqual([
      { id: a.id, state: 'posted', attempts: 1, posted_ref: '17.2', last_error: 'HTTP 429' },
      { id: b.id, state: 'failed', attempts: 1, posted_ref: null, last_error: 'channel_not_found' },
    ]);
  });
});

describe('conversations', () => {
  it('ensure is idempotent and keeps the first values', async () => {
    const c = await store.conversations.ensure({ id: 'slack:T:C1', platform: 'slack', channel: 'C1', workdir: '/w' });
    expect(c).toMatchObject({ id: 'slack:T:C1', thread: null, agent: null, agentSessionId: null, workdir: '/w' });
    const again = await store.conversations.ensure({ id: 'slack:T:C1', platform: 'slack', channel: 'C1', workdir: '/other' });
    expect(again).toEqual(c);
    expect(await store.conversations.list()).toHaveLength(1);
  });

  it('setAgentSession and update change only the given fields and bump updatedAt', async () => {
    const c = await store.conversations.ensure({ id: 'c', platform: 'local', channel: 'general', thread: 't1' });
    await new Promise((r) => setTimeout(r, 5));
    await store.conversations.setAgentSession('c', 'codex', 'sess-1');
    const s = (await store.conversations.get('c'))!;
    expect(s).toMatchObject({ agentSessionAgent: 'codex', agentSessionId: 'sess-1', thread: 't1' });
    expect(s.updatedAt).toBeGreaterThan(c.updatedAt);

    await store.conversations.update('c', { agent: 'claude', model: 'opus' });
    await store.conversations.update('c', { workdir: '/tmp/w' });
    expect(await store.conversations.get('c')).toMatchObject({ agent: 'claude', model: 'opus', workdir: '/tmp/w', seededFrom: null });
    await store.conversations.update('c', { model: null, seededFrom: 'slack:C1:17.1' });
    expect(await store.conversations.get('c')).toMatchObject({ agent: 'claude', model: null, seededFrom: 'slack:C1:17.1' });
    await store.conversations.setAgentSession('c', null, null);
    expect(await store.conversations.get('c')).toMatchObject({ agentSessionAgent: null, agentSessionId: null, createdAt: c.createdAt });
  });

  it('list orders by most recent update and honours limit', async () => {
    await store.conversations.ensure({ id: 'a', platform: 'local', channel: 'x' });
    await store.conversations.ensure({ id: 'b', platform: 'local', channel: 'x' });
    await new Promise((r) => setTimeout(r, 5));
    await store.conversations.update('a', { model: 'm' });
    expect((await store.conversations.list()).map((c) => c.id)).toEqual(['a', 'b']);
    expect((await store.conversations.list({ limit: 1 })).map((c) => c.id)).toEqual(['a']);
  });

  it('delete removes the conversation with its entries, posted messages, inbox and outbox rows only', async () => {
    for (const id of ['gone', 'kept']) {
      await store.conversations.ensure({ id, platform: 'local', channel: id });
      const e = await store.entries.append({
        conversationId: id,
        role: 'assistant',
        author: null,
        text: 'hi',
        agent: null,
        model: null,
        usage: null,
        costUsd: null,
      });
      await store.postedMessages.record({
        key: `k-${id}`,
        conversationId: id,
        sessionEntryId: e.id,
        platformMessageRef: 'm',
        assistantText: 'hi',
        kind: 'answer',
      });
      await store.inbox.accept(message(`ev-${id}`, 'x', 1, id));
      await store.outbox.enqueue({ conversationId: id, target: { platform: 'local', channel: id }, text: 'hi' });
    }
    expect(await store.conversations.delete('gone')).toBe(true);
    expect(await store.conversations.delete('gone')).toBe(false);
    expect(await store.conversations.get('gone')).toBeUndefined();
    expect(await store.entries.list('gone')).toEqual([]);
    expect(await store.postedMessages.get('k-gone')).toBeUndefined();
    expect(await store.inbox.get('ev-gone')).toBeUndefined();
    expect((await store.outbox.pending()).map((o) => o.conversationId)).toEqual(['kept']);
    expect(await store.entries.list('kept')).toHaveLength(1);
    expect(await store.postedMessages.get('k-kept')).toBeDefined();
    expect(await store.inbox.get('ev-kept')).toBeDefined();
  });
});

describe('entries', () => {
  it('appends and lists oldest first, round-tripping usage JSON; paging with limit/beforeId', async () => {
    await store.conversations.ensure({ id: 'c', platform: 'local', channel: 'general' });
    const usage = { inputTokens: 1200, outputTokens: 85, costUsd: 0.0123 };
    const u = await store.entries.append({
      conversationId: 'c',
      role: 'user',
      author: 'Ann',
      text: 'q',
      agent: null,
      model: null,
      usage: null,
      costUsd: null,
      createdAt: 42,
    });
    const a = await store.entries.append({
      conversationId: 'c',
      role: 'assistant',
      author: null,
      text: 'a',
      agent: 'gemini',
      model: 'g-2',
      usage,
      costUsd: 0.0123,
    });
    const s = await store.entries.append({
      conversationId: 'c',
      role: 'system',
      author: null,
      text: 's',
      agent: null,
      model: null,
      usage: null,
      costUsd: null,
    });
    expect(u.createdAt).toBe(42);
    expect(s.role).toBe('system');
    expect(a.createdAt).toBeGreaterThan(Date.now() - 60_000);
    expect(await store.entries.get(a.id)).toEqual({ ...a, usage });
    expect((await store.entries.get(a.id))!.usage).toEqual(usage);
    expect((await store.entries.list('c')).map((e) => e.text)).toEqual(['q', 'a', 's']);
    expect((await store.entries.list('c', { limit: 2 })).map((e) => e.text)).toEqual(['a', 's']);
    expect((await store.entries.list('c', { limit: 2, beforeId: a.id })).map((e) => e.text)).toEqual(['q']);
    expect(await store.entries.get(9999)).toBeUndefined();
  });

  it('refuses an entry for an unknown conversation (foreign key)', async () => {
    await expect(
      store.entries.append({ conversationId: 'nope', role: 'user', author: null, text: 'x', agent: null, model: null, usage: null, costUsd: null }),
    ).rejects.toThrow(/FOREIGN KEY/);
  });
});

describe('posted messages', () => {
  it('records, gets and lists (all, or of one kind); re-recording a key updates it, its kind too', async () => {
    await store.conversations.ensure({ id: 'c', platform: 'discord', channel: '123' });
    await store.postedMessages.record({
      key: 'discord:123:m1',
      conversationId: 'c',
      sessionEntryId: null,
      platformMessageRef: 'm1',
      assistantText: '⏳ Working…',
      kind: 'progress',
    });
    await store.postedMessages.record({
      key: 'discord:123:m2',
      conversationId: 'c',
      sessionEntryId: null,
      platformMessageRef: 'm2',
      assistantText: 'part 2',
      kind: 'notice',
    });
    const first = (await store.postedMessages.get('discord:123:m1'))!;
    expect(first).toMatchObject({ conversationId: 'c', sessionEntryId: null, platformMessageRef: 'm1', assistantText: '⏳ Working…', kind: 'progress' });
    expect((await store.postedMessages.listForConversation('c', 'progress')).map((c) => c.key)).toEqual(['discord:123:m1']);
    await store.postedMessages.record({
      key: 'discord:123:m1',
      conversationId: 'c',
      sessionEntryId: null,
      platformMessageRef: 'm1',
      assistantText: 'part 1',
      kind: 'answer',
    });
    expect(await store.postedMessages.get('discord:123:m1')).toEqual({ ...first, assistantText: 'part 1', kind: 'answer' });
    expect((await store.postedMessages.listForConversation('c')).map((c) => c.key)).toEqual(['discord:123:m1', 'discord:123:m2']);
    expect(await store.postedMessages.listForConversation('c', 'progress')).toEqual([]);
    expect((await store.postedMessages.listForConversation('c', 'answer')).map((c) => c.key)).toEqual(['discord:123:m1']);
    expect(await store.postedMessages.get('missing')).toBeUndefined();
  });
});

describe('local messages', () => {
  it('inserts, updates, lists threads and channels', async () => {
    const m = (id: string, channel: string, thread: string, ts: number, text = `text ${id}`, bot = false) =>
      store.localMessages.insert({ id, channel, thread, user: bot ? 'agentbridge' : 'ann', text, bot, ts });
    const t1 = await m('01', 'general', '01', 100, 'x'.repeat(300));
    await m('02', 'general', '01', 200, 'reply', true);
    await m('03', 'general', '03', 150);
    await m('04', 'random', '04', 50);
    expect(t1).toMatchObject({ bot: false, ts: 100 });
    expect(await store.localMessages.get('02')).toMatchObject({ bot: true, user: 'agentbridge', thread: '01' });
    expect((await store.localMessages.list('general', '01')).map((r) => r.id)).toEqual(['01', '02']);

    const updated = (await store.localMessages.update('02', 'reply, edited'))!;
    expect(updated.text).toBe('reply, edited');
    expect(updated.updatedAt).toBeGreaterThanOrEqual(t1.updatedAt);
    expect(await store.localMessages.update('nope', 'x')).toBeUndefined();

    const threads = await store.localMessages.threads('general');
    expect(threads).toEqual([
      { thread: '01', user: 'ann', text: 'x'.repeat(200), ts: 100, replies: 1, lastTs: 200 },
      { thread: '03', user: 'ann', text: 'text 03', ts: 150, replies: 0, lastTs: 150 },
    ]);
    expect((await store.localMessages.threads('general', 1)).map((t) => t.thread)).toEqual(['01']);
    expect(await store.localMessages.channels()).toEqual(['general', 'random']);
    await expect(m('01', 'general', '01', 1)).rejects.toThrow(/UNIQUE|PRIMARY/);
  });

  it('stores the files of a user message (migration 013); none is no key; a hand-edited value counts as none', async () => {
    const files = [
      { id: 'up-1', name: 'a.txt', size: 3, type: 'text/plain' },
      { id: 'up-2', name: 'b.png', size: 9, type: 'image/png' },
    ];
    expect((await store.localMessages.insert({ id: 'f1', channel: 'general', thread: 'f1', user: 'ada', text: '', bot: false, ts: 1, files })).files).toEqual(
      files,
    );
    expect((await store.localMessages.get('f1'))!.files).toEqual(files);
    expect((await store.localMessages.update('f1', 'edited'))!.files).toEqual(files);
    expect(
      'files' in (await store.localMessages.insert({ id: 'f2', channel: 'general', thread: 'f1', user: 'ada', text: 'x', bot: false, ts: 2, files: [] })),
    ).toBe(false);
    store.db.prepare("UPDATE local_messages SET files_json = '[{\"id\": 1}]' WHERE id = 'f1'").run();
    expect('files' in (await store.localMessages.get('f1'))!).toBe(false);
  });

  it('stores a message mark (migration 010): the latest state, updatedAt moved on; unknown ids and hand-edited values', async () => {
    const m = await store.localMessages.insert({ id: 'r1', channel: 'general', thread: 'r1', user: 'ada', text: 'hi', bot: false, ts: 1 });
    expect('reaction' in m).toBe(false);
    const working = (await store.localMessages.setReaction('r1', 'working'))!;
    expect(working).toMatchObject({ id: 'r1', text: 'hi', reaction: 'working' });
    expect(working.updatedAt).toBeGreaterThan(m.updatedAt - 1);
    const done = (await store.localMessages.setReaction('r1', 'done'))!;
    expect(done.reaction).toBe('done');
    expect(done.updatedAt).toBeGreaterThan(working.updatedAt);
    expect((await store.localMessages.list('general', 'r1'))[0]!.reaction).toBe('done');
    expect((await store.localMessages.update('r1', 'hi'))!.reaction).toBe('done'); // an edit keeps it
    expect(await store.localMessages.setReaction('missing', 'done')).toBeUndefined();
    store.db.prepare("UPDATE local_messages SET reaction = 'party' WHERE id = 'r1'").run();
    expect('reaction' in (await store.localMessages.get('r1'))!).toBe(false);
  });

  it('stores card buttons as JSON (migration 009): kept by a text-only update, replaced or cleared by one with actions', async () => {
    const buttons = [
      { id: 'ab:i1:allow', label: 'Allow', style: 'primary' as const },
      { id: 'ab:i1:deny', label: 'Deny' },
    ];
    const card = await store.localMessages.insert({
      id: 'c1',
      channel: 'general',
      thread: 'c1',
      user: 'agentbridge',
      text: 'ok?',
      bot: true,
      ts: 1,
      actions: buttons,
    });
    expect(card.actions).toEqual(buttons);
    // None: the key is absent, also for an empty list.
    const plain = await store.localMessages.insert({
      id: 'c2',
      channel: 'general',
      thread: 'c1',
      user: 'agentbridge',
      text: 'x',
      bot: true,
      ts: 2,
      actions: [],
    });
    expect('actions' in plain).toBe(false);
    expect(await store.localMessages.update('c1', 'ok? (waiting)')).toMatchObject({ text: 'ok? (waiting)', actions: buttons });
    expect((await store.localMessages.update('c1', 'again?', [buttons[1]!]))!.actions).toEqual([buttons[1]]);
    const cleared = (await store.localMessages.update('c1', 'allowed', []))!;
    expect('actions' in cleared).toBe(false);
    expect(store.db.prepare("SELECT actions_json FROM local_messages WHERE id = 'c1'").get()).toEqual({ actions_json: null });
    expect((await store.localMessages.list('general', 'c1')).map((r) => r.actions)).toEqual([undefined, undefined]);
    // A hand-edited, malformed value reads as no buttons instead of failing the thread.
    store.db.prepare("UPDATE local_messages SET actions_json = '{not json' WHERE id = 'c1'").run();
    expect((await store.localMessages.get('c1'))!.actions).toBeUndefined();
  });
});

describe('transaction', () => {
  it('rolls back every write when fn throws', async () => {
    await expect(
      store.transaction(async (tx) => {
        await tx.conversations.ensure({ id: 'c', platform: 'local', channel: 'x' });
        await tx.inbox.accept(message('e', 'x', 1));
        throw new Error('boom');
      }),
    ).rejects.toThrow('boom');
    expect(await store.conversations.get('c')).toBeUndefined();
    expect(await store.inbox.get('e')).toBeUndefined();
    expect(await store.transaction(async () => 7)).toBe(7);
  });
});

describe('local uploads (migration 013)', () => {
  const up = (id: string, owner: string | null, createdAt = 1000) =>
    store.localUploads.insert({ id, owner, name: `${id}.txt`, type: 'text/plain', size: 5, createdAt });

  it('inserts unsent uploads and reads them back', async () => {
    expect(await up('up-a', 'alice')).toEqual({ id: 'up-a', owner: 'alice', name: 'up-a.txt', type: 'text/plain', size: 5, createdAt: 1000, messageId: null });
    expect(await store.localUploads.get('up-a')).toEqual({
      id: 'up-a',
      owner: 'alice',
      name: 'up-a.txt',
      type: 'text/plain',
      size: 5,
      createdAt: 1000,
      messageId: null,
    });
    expect(await store.localUploads.get('nope')).toBeUndefined();
    await expect(up('up-a', null)).rejects.toThrow(/UNIQUE|PRIMARY/);
  });

  it('markSent takes all or none: only the owner’s (null = anonymous) unsent uploads, once', async () => {
    await up('up-a', 'alice');
    await up('up-b', 'alice');
    await up('up-c', 'bob');
    await up('up-n', null);
    expect(await store.localUploads.markSent(['up-a', 'up-c'], 'alice', 'm1')).toBe(false);
    expect((await store.localUploads.get('up-a'))!.messageId).toBeNull();
    expect(await store.localUploads.markSent(['up-n'], 'alice', 'm1')).toBe(false);
    expect(await store.localUploads.markSent(['up-a'], null, 'm1')).toBe(false);
    expect(await store.localUploads.markSent(['up-a', 'up-b'], 'alice', 'm1')).toBe(true);
    expect((await store.localUploads.get('up-b'))!.messageId).toBe('m1');
    expect(await store.localUploads.markSent(['up-a'], 'alice', 'm2')).toBe(false);
    expect(await store.localUploads.markSent(['up-n'], null, 'm3')).toBe(true);
    // Inside an outer transaction that rolls back, nothing stays marked.
    await up('up-d', 'bob');
    await expect(
      store.transaction(async (tx) => {
        expect(await tx.localUploads.markSent(['up-d'], 'bob', 'm4')).toBe(true);
        throw new Error('rolled back');
      }),
    ).rejects.toThrow('rolled back');
    expect((await store.localUploads.get('up-d'))!.messageId).toBeNull();
  });

  it('deleteUnsent removes only unsent uploads created before the time', async () => {
    await up('up-old', null, 100);
    await up('up-new', null, 5000);
    await up('up-sent', null, 100);
    await store.localUploads.markSent(['up-sent'], null, 'm');
    expect(await store.localUploads.deleteUnsent(1000)).toEqual(['up-old']);
    expect(await store.localUploads.get('up-new')).toBeDefined();
    expect(await store.localUploads.get('up-sent')).toBeDefined();
  });
});
