/**
 * Card buttons in the local chat API, over a real SQLite store (migration 009) and the login:
 * bot messages carry `actions`, `POST /api/local/actions` hands the click to the core with the
 * server's identity and maps its reply to 200/409/403/404, bad input is 400, and an edit with
 * `actions: []` removes the buttons and is announced on the event stream.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { ActionReply, ActionRequest, CardAction } from '../../src/core/interactions.js';
import { createHttpServer } from '../../src/http/server.js';
import { createLogger } from '../../src/logger.js';
import { LocalAdapter } from '../../src/platforms/local/adapter.js';
import { LocalAuth } from '../../src/platforms/local/auth.js';
import { hashToken, newToken, SESSION_COOKIE, SESSION_TTL_MS } from '../../src/platforms/local/login-tokens.js';
import type { AdapterContext } from '../../src/platforms/types.js';
import { openStore, type SqliteStore } from '../../src/store/store.js';
import { waitFor } from '../helpers/sandbox.js';
import { openEvents } from '../helpers/sse.js';

const BUTTONS: CardAction[] = [
  { id: 'ab:i1:allow', label: 'Allow', style: 'primary' },
  { id: 'ab:i1:always', label: 'Always allow' },
  { id: 'ab:i1:deny', label: 'Deny', style: 'danger' },
];

interface World {
  store: SqliteStore;
  adapter: LocalAdapter;
  base: string;
  clicks: ActionRequest[];
  /** The core's next reply (or a function of the click). */
  reply: ActionReply | ((req: ActionRequest) => Promise<ActionReply>);
}

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function world(opts: { onAction?: boolean } = {}): Promise<World> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ab-cards-'));
  cleanups.push(() => fs.rmSync(dir, { recursive: true, force: true }));
  const logger = createLogger('silent');
  const store = openStore({ dbPath: path.join(dir, 'agentbridge.db'), logger });
  cleanups.push(() => store.close());
  const http = createHttpServer({ host: '127.0.0.1', port: 0, logger });
  const auth = new LocalAuth({ users: store.localUsers, requiredByConfig: false, secureCookie: false, logger });
  const adapter = new LocalAdapter({ repo: store.localMessages, http, logger, auth, heartbeatMs: 100 });
  const w: World = { store, adapter, base: '', clicks: [], reply: { status: 'ok', text: '' } };
  const context: AdapterContext = {
    hasConversation: async () => false,
    isBotMessage: async () => false,
    state: { get: async () => undefined, set: async () => {} },
  };
  if (opts.onAction !== false) {
    context.onAction = async (req) => {
      w.clicks.push(req);
      return typeof w.reply === 'function' ? w.reply(req) : w.reply;
    };
  }
  await adapter.start(async () => 'accepted', context);
  w.base = (await http.listen()).url;
  cleanups.push(() => http.close());
  cleanups.push(() => adapter.stop());
  return w;
}

/** A thread started by a user message, with a bot card in it. */
async function card(
  w: World,
  actions: CardAction[] = BUTTONS,
): Promise<{ thread: string; ref: string; target: { platform: 'local'; channel: string; thread: string } }> {
  const r = await fetch(`${w.base}/api/local/messages`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ channel: 'general', text: 'do the thing' }),
  });
  expect(r.status).toBe(202);
  const { thread } = (await r.json()) as { thread: string };
  const target = { platform: 'local' as const, channel: 'general', thread };
  const posted = await w.adapter.post(target, '**Run** `rm -rf build`?', { actions });
  return { thread, ref: posted.ref, target };
}

function click(w: World, body: unknown, headers: Record<string, string> = {}): Promise<Response> {
  return fetch(`${w.base}/api/local/actions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
}

async function messages(w: World, thread: string, headers: Record<string, string> = {}): Promise<Array<Record<string, unknown>>> {
  const r = await fetch(`${w.base}/api/local/messages?channel=general&thread=${thread}`, { headers });
  expect(r.status).toBe(200);
  return ((await r.json()) as { messages: Array<Record<string, unknown>> }).messages;
}

/** A session cookie of a new user `name` (logging in makes login required: a user exists). */
async function sessionCookie(w: World, name: string): Promise<string> {
  await w.store.localUsers.add(name, false);
  const token = newToken();
  await w.store.localUsers.addToken({ hash: hashToken(token), user: name, kind: 'session', expiresAt: Date.now() + SESSION_TTL_MS });
  return `${SESSION_COOKIE}=${token}`;
}

describe('local chat cards: messages carry their buttons', () => {
  it('GET messages shows actions on the bot card only; a text-only edit keeps them', async () => {
    const w = await world();
    const { thread, ref, target } = await card(w);
    const plain = await w.adapter.post(target, 'a plain notice');
    let list = await messages(w, thread);
    expect(list.map((m) => [m.text, m.actions])).toEqual([
      ['do the thing', undefined],
      ['**Run** `rm -rf build`?', BUTTONS],
      ['a plain notice', undefined],
    ]);
    // Omitted (not []) when there are none.
    expect('actions' in list[0]!).toBe(false);
    expect('actions' in list[2]!).toBe(false);
    expect((await w.store.localMessages.get(plain.ref))!.actions).toBeUndefined();

    await w.adapter.edit(target, ref, 'Run `rm -rf build`? (waiting)');
    list = await messages(w, thread);
    expect(list[1]).toMatchObject({ text: 'Run `rm -rf build`? (waiting)', actions: BUTTONS });
  });

  it('post/edit refuse invalid buttons and store nothing for them', async () => {
    const w = await world();
    const { target, ref } = await card(w);
    await expect(w.adapter.post(target, 'x', { actions: [{ id: 'has space', label: 'A' }] })).rejects.toThrow(/invalid card buttons/);
    await expect(w.adapter.post(target, 'x', { actions: [{ id: 'a', label: '' }] })).rejects.toThrow(/label/);
    await expect(w.adapter.post(target, 'x', { actions: [{ id: 'a', label: 'x'.repeat(76) }] })).rejects.toThrow(/label/);
    await expect(
      w.adapter.post(target, 'x', {
        actions: [
          { id: 'a', label: 'A' },
          { id: 'a', label: 'B' },
        ],
      }),
    ).rejects.toThrow(/unique/);
    await expect(w.adapter.edit(target, ref, 'x', { actions: [{ id: 'a'.repeat(101), label: 'A' }] })).rejects.toThrow(/100/);
    expect(await w.store.localMessages.get(ref)).toMatchObject({ text: '**Run** `rm -rf build`?', actions: BUTTONS });
  });
});

describe('POST /api/local/actions', () => {
  it('anonymous (no login required): onAction gets the body user, the message and its thread; ok → 200 {ok:true}', async () => {
    const w = await world();
    const { thread, ref } = await card(w);
    const r = await click(w, { channel: 'general', thread, message: ref, action: 'ab:i1:allow', user: 'ada' });
    expect(r.status).toBe(200);
    expect(await r.json()).toEqual({ ok: true });
    expect(w.clicks).toEqual([{ platform: 'local', userId: 'ada', userName: 'ada', channel: 'general', thread, messageRef: ref, actionId: 'ab:i1:allow' }]);
    // Without a body user (and without `thread`: the message's own thread is used), "you" clicks.
    expect((await click(w, { channel: 'general', message: ref, action: 'ab:i1:deny' })).status).toBe(200);
    expect(w.clicks[1]).toMatchObject({ userId: 'you', userName: 'you', thread, actionId: 'ab:i1:deny' });
  });

  it('logged in: the identity is the login (cookie or bearer), never the body user; no login → 401', async () => {
    const w = await world();
    const { thread, ref } = await card(w);
    const cookie = await sessionCookie(w, 'alice');
    const r = await click(w, { channel: 'general', thread, message: ref, action: 'ab:i1:allow', user: 'mallory' }, { cookie });
    expect(r.status).toBe(200);
    expect(w.clicks).toEqual([expect.objectContaining({ userId: 'alice', userName: 'alice' })]);

    await w.store.localUsers.add('bob', false);
    const api = newToken();
    await w.store.localUsers.addToken({ hash: hashToken(api), user: 'bob', kind: 'api', expiresAt: null });
    expect((await click(w, { channel: 'general', message: ref, action: 'ab:i1:deny', user: 'alice' }, { authorization: `Bearer ${api}` })).status).toBe(200);
    expect(w.clicks[1]).toMatchObject({ userId: 'bob', userName: 'bob' });

    // A user exists, so login is required: an anonymous click (even naming alice) is refused.
    const anon = await click(w, { channel: 'general', message: ref, action: 'ab:i1:allow', user: 'alice' });
    expect(anon.status).toBe(401);
    const bad = await click(w, { channel: 'general', message: ref, action: 'ab:i1:allow' }, { authorization: 'Bearer nope' });
    expect(bad.status).toBe(401);
    expect(w.clicks).toHaveLength(2);
  });

  it('maps the core reply: decided → 409, forbidden → 403, unknown → 404, each {ok:false, error:text}', async () => {
    const w = await world();
    const { thread, ref } = await card(w);
    const body = { channel: 'general', thread, message: ref, action: 'ab:i1:allow' };
    const cases: Array<[ActionReply, number]> = [
      [{ status: 'decided', text: 'Already allowed by ada at 12:01.' }, 409],
      [{ status: 'forbidden', text: 'Only admins can approve tool calls here.' }, 403],
      [{ status: 'unknown', text: 'This request is no longer active.' }, 404],
    ];
    for (const [reply, status] of cases) {
      w.reply = reply;
      const r = await click(w, body);
      expect(r.status, reply.status).toBe(status);
      expect(await r.json()).toEqual({ ok: false, error: reply.text });
    }
    expect(w.clicks).toHaveLength(3);
  });

  it('404 without asking the core: unknown message, another channel or thread, a user message, a button the message does not carry', async () => {
    const w = await world();
    const { thread, ref } = await card(w);
    const other = await card(w);
    const bodies = [
      { channel: 'general', thread, message: '1700000000000-0000-abcd', action: 'ab:i1:allow' },
      { channel: 'dev', message: ref, action: 'ab:i1:allow' },
      { channel: 'general', thread: other.thread, message: ref, action: 'ab:i1:allow' },
      { channel: 'general', thread, message: thread, action: 'ab:i1:allow' },
      { channel: 'general', thread, message: ref, action: 'ab:i2:allow' },
    ];
    for (const b of bodies) {
      const r = await click(w, b);
      expect(r.status, JSON.stringify(b)).toBe(404);
      expect(await r.json()).toEqual({ ok: false, error: expect.stringMatching(/no button/) });
    }
    expect(w.clicks).toEqual([]);
  });

  describe('bad input is 400 {error} and never reaches the core', () => {
    const cases: Array<[string, unknown]> = [
      ['missing channel', { message: 'm', action: 'a' }],
      ['missing message', { channel: 'general', action: 'a' }],
      ['missing action', { channel: 'general', message: 'm' }],
      ['bad channel', { channel: 'General!', message: 'm', action: 'a' }],
      ['bad message id', { channel: 'general', message: '../x', action: 'a' }],
      ['bad thread id', { channel: 'general', thread: 'a:b', message: 'm', action: 'a' }],
      ['action with a space', { channel: 'general', message: 'm', action: 'ab allow' }],
      ['action too long', { channel: 'general', message: 'm', action: 'a'.repeat(101) }],
      ['non-string action', { channel: 'general', message: 'm', action: 7 }],
      ['user too long', { channel: 'general', message: 'm', action: 'a', user: 'u'.repeat(81) }],
      ['body not an object', [1]],
      ['invalid JSON', '{"channel":'],
    ];
    for (const [name, body] of cases) {
      it(name, async () => {
        const w = await world();
        const r = await click(w, body);
        expect(r.status).toBe(400);
        expect(await r.json()).toEqual({ error: expect.any(String) });
        expect(w.clicks).toEqual([]);
      });
    }

    it('names the problem', async () => {
      const w = await world();
      const r = await click(w, { channel: 'general', message: 'm' });
      expect(((await r.json()) as { error: string }).error).toBe('action is required');
    });
  });

  it('the same protections as the other POSTs: 415 for a non-JSON body, 403 for a cross-origin browser', async () => {
    const w = await world();
    const { thread, ref } = await card(w);
    const body = JSON.stringify({ channel: 'general', thread, message: ref, action: 'ab:i1:allow' });
    const plain = await fetch(`${w.base}/api/local/actions`, { method: 'POST', headers: { 'content-type': 'text/plain' }, body });
    expect(plain.status).toBe(415);
    const cross = await click(w, body, { origin: 'http://evil.example' });
    expect(cross.status).toBe(403);
    expect(w.clicks).toEqual([]);
    expect((await click(w, body, { origin: w.base })).status).toBe(200);
    expect(w.clicks).toHaveLength(1);
  });

  it('503 when the core takes no clicks, when onAction fails, and after stop()', async () => {
    const none = await world({ onAction: false });
    const a = await card(none);
    const r = await click(none, { channel: 'general', message: a.ref, action: 'ab:i1:allow' });
    expect(r.status).toBe(503);

    const w = await world();
    const { ref } = await card(w);
    w.reply = () => Promise.reject(new Error('secret internals'));
    const failed = await click(w, { channel: 'general', message: ref, action: 'ab:i1:allow' });
    expect(failed.status).toBe(503);
    expect(((await failed.json()) as { error: string }).error).not.toMatch(/secret/);
    await w.adapter.stop();
    expect((await click(w, { channel: 'general', message: ref, action: 'ab:i1:allow' })).status).toBe(503);
  });
});

describe('edit with actions: [] removes the buttons', () => {
  it('the card loses its actions in GET and the event stream announces the change (message.updated without actions)', async () => {
    const w = await world();
    const sse = await openEvents(`${w.base}/api/local/events`);
    const { thread, ref, target } = await card(w);
    // The core edits the card to its outcome while handling the click.
    w.reply = async (req) => {
      await w.adapter.edit(target, req.messageRef, '✅ Allowed by ' + req.userName, { actions: [] });
      return { status: 'ok', text: '' };
    };
    expect((await click(w, { channel: 'general', thread, message: ref, action: 'ab:i1:allow', user: 'ada' })).status).toBe(200);
    await waitFor(() => sse.events.length >= 3, 5000, 'three events');
    expect(sse.events.map((e) => e.event)).toEqual(['message.created', 'message.created', 'message.updated']);
    expect(sse.events[1]!.data).toMatchObject({ id: ref, actions: BUTTONS });
    expect(sse.events[2]!.data).toMatchObject({ id: ref, text: '✅ Allowed by ada' });
    expect('actions' in (sse.events[2]!.data as object)).toBe(false);
    const list = await messages(w, thread);
    expect(list[1]).toEqual(expect.objectContaining({ id: ref, text: '✅ Allowed by ada' }));
    expect('actions' in list[1]!).toBe(false);
    expect((await w.store.localMessages.get(ref))!.actions).toBeUndefined();
    // The buttons are gone; a second click on the closed card (a stale page, or two clicks at
    // once) is the core's to answer: it says who decided (409).
    w.reply = { status: 'decided', text: 'Already decided by ada at 10:00 UTC.' };
    const again = await click(w, { channel: 'general', thread, message: ref, action: 'ab:i1:allow' });
    expect(again.status).toBe(409);
    expect(await again.json()).toEqual({ ok: false, error: 'Already decided by ada at 10:00 UTC.' });
    expect(w.clicks).toHaveLength(2);
    // Not a card action id: 404 without asking the core.
    expect((await click(w, { channel: 'general', thread, message: ref, action: 'something-else' })).status).toBe(404);
    expect(w.clicks).toHaveLength(2);

    // Buttons can come back with an edit (a new question on the same card).
    await w.adapter.edit(target, ref, 'Again?', { actions: [BUTTONS[0]!] });
    await waitFor(() => sse.events.length >= 4, 5000, 'the fourth event');
    expect(sse.events[3]!.data).toMatchObject({ id: ref, text: 'Again?', actions: [BUTTONS[0]] });
    sse.close();
  });
});
