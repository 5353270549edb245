import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createLogger } from '../../src/logger.js';
import { createHttpServer, type HttpServer } from '../../src/http/server.js';
import { LocalAdapter } from '../../src/platforms/local/adapter.js';
import { MESSAGE_ID_PATTERN } from '../../src/platforms/local/ids.js';
import type { InboundMessage } from '../../src/core/messages.js';
import { MemoryLocalMessages } from '../helpers/memory-local-messages.js';
import { waitFor } from '../helpers/sandbox.js';
import { openEvents } from '../helpers/sse.js';

let http: HttpServer;
let repo: MemoryLocalMessages;
let adapter: LocalAdapter;
let base: string;
let received: InboundMessage[];
let sinkError: Error | undefined;

beforeEach(async () => {
  const logger = createLogger('silent');
  http = createHttpServer({ host: '127.0.0.1', port: 0, logger });
  repo = new MemoryLocalMessages();
  adapter = new LocalAdapter({ repo, http, logger, heartbeatMs: 100 });
  received = [];
  sinkError = undefined;
  await adapter.start(async (m) => {
    if (sinkError) throw sinkError;
    received.push(m);
    return 'accepted';
  });
  base = (await http.listen()).url;
});

afterEach(async () => {
  await adapter.stop();
  await http.close();
});

const postJson = (body: unknown, headers: Record<string, string> = {}) =>
  fetch(`${base}/api/local/messages`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });

const getJson = async (path: string) => {
  const r = await fetch(`${base}${path}`);
  return { status: r.status, body: (await r.json()) as Record<string, unknown> };
};

describe('local chat API', () => {
  it('POST stores the message, hands a correct InboundMessage to the sink, and answers 202', async () => {
    const r = await postJson({ channel: 'general', text: 'hello agent', user: 'ada' });
    expect(r.status).toBe(202);
    const { message, thread } = (await r.json()) as { message: string; thread: string };
    expect(message).toMatch(MESSAGE_ID_PATTERN);
    expect(thread).toBe(message);
    expect(received).toEqual([
      {
        platform: 'local',
        conversationId: `local:general:${thread}`,
        channel: 'general',
        thread,
        author: { id: 'ada', name: 'ada' },
        text: 'hello agent',
        eventKey: `local:${message}`,
        replyTarget: { platform: 'local', channel: 'general', thread },
        messageRef: message,
        addressed: false,
        receivedAt: expect.any(Number),
      },
    ]);
    expect(await repo.get(message)).toMatchObject({ channel: 'general', thread, user: 'ada', text: 'hello agent', bot: false });
  });

  it('a message starting with /agent addresses the bot (read as a command by the core)', async () => {
    const r = await postJson({ channel: 'general', text: '/agent status', user: 'ada' });
    expect(r.status).toBe(202);
    expect(received.at(-1)).toMatchObject({ text: '/agent status', addressed: true });
  });

  it('a reply in a thread keeps the conversation id; user defaults to "you"', async () => {
    const first = (await (await postJson({ channel: 'dev-ops', text: 'start' })).json()) as { message: string; thread: string };
    const r = await postJson({ channel: 'dev-ops', text: 'more', thread: first.thread });
    expect(r.status).toBe(202);
    const second = (await r.json()) as { message: string; thread: string };
    expect(second.thread).toBe(first.thread);
    expect(second.message > first.message).toBe(true);
    expect(received.map((m) => m.conversationId)).toEqual([`local:dev-ops:${first.thread}`, `local:dev-ops:${first.thread}`]);
    expect(received[1]!.author).toEqual({ id: 'you', name: 'you' });
    expect(received[1]!.eventKey).toBe(`local:${second.message}`);
  });

  it('GET messages lists a thread oldest first, with bot messages edited in place', async () => {
    const { thread, message } = (await (await postJson({ channel: 'general', text: 'q1' })).json()) as { message: string; thread: string };
    const target = { platform: 'local' as const, channel: 'general', thread };
    const posted = await adapter.post(target, 'thinking…');
    expect(posted.channel).toBe('general');
    await adapter.edit(target, posted.ref, 'answer 1');
    await postJson({ channel: 'general', text: 'q2', thread });
    // A message in another thread does not show up.
    await postJson({ channel: 'general', text: 'other thread' });

    const { status, body } = await getJson(`/api/local/messages?channel=general&thread=${thread}`);
    expect(status).toBe(200);
    const messages = body.messages as Array<Record<string, unknown>>;
    expect(messages.map((m) => [m.user, m.text, m.bot])).toEqual([
      ['you', 'q1', false],
      ['agentbridge', 'answer 1', true],
      ['you', 'q2', false],
    ]);
    expect(messages[0]).toMatchObject({ id: message, thread, ts: expect.any(Number) });

    const threads = await getJson('/api/local/threads?channel=general');
    expect((threads.body.threads as Array<Record<string, unknown>>).map((t) => [t.text, t.replies])).toEqual([
      ['other thread', 0],
      ['q1', 2],
    ]);
    const channels = await getJson('/api/local/channels');
    expect(channels.body.channels).toEqual(['general']);
  });

  it('channels always include general, first', async () => {
    await postJson({ channel: 'alpha', text: 'x' });
    await postJson({ channel: 'zeta', text: 'y' });
    expect((await getJson('/api/local/channels')).body.channels).toEqual(['general', 'alpha', 'zeta']);
  });

  it('GET with missing or invalid params answers 400; an unknown thread 404', async () => {
    for (const q of ['', '?channel=general', '?thread=x', '?channel=Bad!&thread=x', '?channel=general&thread=a:b']) {
      const r = await getJson(`/api/local/messages${q}`);
      expect(r.status, q).toBe(400);
      expect(r.body.error).toEqual(expect.any(String));
    }
    expect((await getJson('/api/local/messages?channel=general&thread=1700000000000-0000-abcd')).status).toBe(404);
    expect((await getJson('/api/local/threads')).status).toBe(400);
    expect((await getJson('/api/local/threads?channel=general&limit=0')).status).toBe(400);
    expect((await fetch(`${base}/api/local/events?channel=NO`)).status).toBe(400);
  });

  it('a display name: trimmed, 1–40 characters (emoji count once), the bad one named in the error', async () => {
    const ok = await postJson({ channel: 'general', text: 'x', user: '  Ada Lovelace 🚀 ' });
    expect(ok.status).toBe(202);
    expect(received.at(-1)!.author).toEqual({ id: 'Ada Lovelace 🚀', name: 'Ada Lovelace 🚀' });
    expect((await postJson({ channel: 'general', text: 'x', user: '🙂'.repeat(40) })).status).toBe(202);
    const bad = await postJson({ channel: 'general', text: 'x', user: 'bad\u0001name' });
    expect(bad.status).toBe(400);
    expect(await bad.json()).toEqual({ error: 'user "bad\\u0001name" is not a display name: use 1–40 characters without control characters' });
    const long = await postJson({ channel: 'general', text: 'x', user: 'n'.repeat(41) });
    expect(((await long.json()) as { error: string }).error).toContain(`user "${'n'.repeat(41)}" is not a display name`);
  });

  it('react stores the mark with the message and announces it; a reload (GET) shows it; unknown messages are skipped', async () => {
    const sse = await openEvents(`${base}/api/local/events`);
    const { thread, message } = (await (await postJson({ channel: 'general', text: 'hi', user: 'ada' })).json()) as { message: string; thread: string };
    const target = { platform: 'local' as const, channel: 'general', thread };
    const before = (await repo.get(message))!.updatedAt;
    await adapter.react(target, message, 'working');
    await adapter.react(target, message, 'working'); // unchanged: no second event
    await adapter.react(target, message, 'done');
    await waitFor(() => sse.events.length >= 3, 5000, 'three events');
    expect(sse.events.map((e) => [e.event, (e.data as { reaction?: string }).reaction])).toEqual([
      ['message.created', undefined],
      ['message.updated', 'working'],
      ['message.updated', 'done'],
    ]);
    expect((sse.events[2]!.data as { updatedAt: number }).updatedAt).toBeGreaterThan(before);
    const { body } = await getJson(`/api/local/messages?channel=general&thread=${thread}`);
    expect(body.messages).toEqual([expect.objectContaining({ id: message, reaction: 'done', text: 'hi' })]);
    await adapter.react(target, 'missing', 'failed');
    await adapter.react({ ...target, channel: 'other' }, message, 'failed');
    expect((await repo.get(message))!.reaction).toBe('done');
    await expect(adapter.react({ platform: 'slack', channel: 'C1' } as never, message, 'done')).rejects.toThrow(/cannot deliver to platform slack/);
    sse.close();
  });

  it('SSE delivers message.created, message.updated and thread.status events', async () => {
    const sse = await openEvents(`${base}/api/local/events`);
    const { thread, message } = (await (await postJson({ channel: 'general', text: 'hi' })).json()) as { message: string; thread: string };
    const target = { platform: 'local' as const, channel: 'general', thread };
    await adapter.setStatus(target, 'working…');
    const posted = await adapter.post(target, 'thinking…');
    await adapter.edit(target, posted.ref, 'done');
    await adapter.setStatus(target, null);
    await waitFor(() => sse.events.length >= 5, 5000, 'five events');
    expect(sse.events.map((e) => e.event)).toEqual(['message.created', 'thread.status', 'message.created', 'message.updated', 'thread.status']);
    expect(sse.events[0]!.data).toMatchObject({ id: message, channel: 'general', thread, user: 'you', text: 'hi', bot: false });
    expect(sse.events[1]!.data).toEqual({ channel: 'general', thread, status: 'working…' });
    expect(sse.events[2]!.data).toMatchObject({ id: posted.ref, thread, user: 'agentbridge', text: 'thinking…', bot: true });
    expect(sse.events[3]!.data).toMatchObject({ id: posted.ref, text: 'done', bot: true });
    expect(sse.events[4]!.data).toEqual({ channel: 'general', thread, status: null });
    await waitFor(() => sse.comments.includes('ping'), 5000, 'a heartbeat comment');
    sse.close();
  });

  it('SSE ?channel= only delivers that channel', async () => {
    const sse = await openEvents(`${base}/api/local/events?channel=dev`);
    await postJson({ channel: 'general', text: 'not for dev' });
    await postJson({ channel: 'dev', text: 'for dev' });
    await waitFor(() => sse.events.length >= 1, 5000, 'an event');
    await new Promise((r) => setTimeout(r, 50));
    expect(sse.events.map((e) => (e.data as { text: string }).text)).toEqual(['for dev']);
    sse.close();
  });

  it('thread summaries carry the current status', async () => {
    const { thread } = (await (await postJson({ channel: 'general', text: 'hi' })).json()) as { thread: string };
    await adapter.setStatus({ platform: 'local', channel: 'general', thread }, 'working…');
    const { body } = await getJson('/api/local/threads?channel=general');
    expect(body.threads).toEqual([expect.objectContaining({ thread, status: 'working…' })]);
  });

  describe('bad requests get 400 JSON, store nothing and do not reach the sink', () => {
    const cases: Array<[string, unknown]> = [
      ['missing channel', { text: 'x' }],
      ['missing text', { channel: 'general' }],
      ['empty text', { channel: 'general', text: '   ' }],
      ['text too long', { channel: 'general', text: 'x'.repeat(262_145) }],
      ['bad channel format', { channel: 'General Chat', text: 'x' }],
      ['channel starting with "-"', { channel: '-x', text: 'x' }],
      ['channel too long', { channel: 'a'.repeat(81), text: 'x' }],
      ['non-string text', { channel: 'general', text: 42 }],
      ['user too long', { channel: 'general', text: 'x', user: 'u'.repeat(41) }],
      ['user empty', { channel: 'general', text: 'x', user: '  ' }],
      ['user with a control character', { channel: 'general', text: 'x', user: 'ada\u0007' }],
      ['user with a C1 control character', { channel: 'general', text: 'x', user: 'ada\u0085x' }],
      ['user not a string', { channel: 'general', text: 'x', user: 7 }],
      ['unknown thread', { channel: 'general', text: 'x', thread: '1700000000000-0000-abcd' }],
      ['body not an object', [1, 2]],
      ['invalid JSON', '{"channel": "general", "text": '],
      ['body over 1 MiB', { channel: 'general', text: 'x'.repeat(1024 * 1024 + 10) }],
    ];
    for (const [name, body] of cases) {
      it(name, async () => {
        const r = await postJson(body);
        expect(r.status).toBe(400);
        expect(r.headers.get('content-type')).toMatch(/application\/json/);
        expect(await r.json()).toEqual({ error: expect.any(String) });
        expect(repo.rows.size).toBe(0);
        expect(received).toEqual([]);
      });
    }

    it('a thread of another channel is unknown', async () => {
      const { thread } = (await (await postJson({ channel: 'general', text: 'root' })).json()) as { thread: string };
      const r = await postJson({ channel: 'other', text: 'x', thread });
      expect(r.status).toBe(400);
      expect(((await r.json()) as { error: string }).error).toMatch(/unknown thread/);
      expect(repo.rows.size).toBe(1);
      expect(received).toHaveLength(1);
    });

    it('a reply (not a thread start) is not a thread', async () => {
      const first = (await (await postJson({ channel: 'general', text: 'root' })).json()) as { thread: string };
      const reply = (await (await postJson({ channel: 'general', text: 'r', thread: first.thread })).json()) as { message: string };
      expect((await postJson({ channel: 'general', text: 'x', thread: reply.message })).status).toBe(400);
      expect(repo.rows.size).toBe(2);
    });

    it('a non-JSON content type gets 415 and a cross-origin browser POST 403', async () => {
      const plain = await fetch(`${base}/api/local/messages`, {
        method: 'POST',
        headers: { 'content-type': 'text/plain' },
        body: '{"channel":"general","text":"x"}',
      });
      expect(plain.status).toBe(415);
      const cross = await postJson({ channel: 'general', text: 'x' }, { origin: 'http://evil.example' });
      expect(cross.status).toBe(403);
      expect(repo.rows.size).toBe(0);
      const same = await postJson({ channel: 'general', text: 'x' }, { origin: base });
      expect(same.status).toBe(202);
    });
  });

  it('answers 503 when the sink throws; nothing is stored or announced, and the error says so', async () => {
    const sse = await openEvents(`${base}/api/local/events`);
    await waitFor(() => adapter.events.size === 1, 5000, 'subscription');
    sinkError = new Error('inbox is on fire');
    const r = await postJson({ channel: 'general', text: 'lost?' });
    expect(r.status).toBe(503);
    const { error } = (await r.json()) as { error: string };
    expect(error).toMatch(/nothing was stored.*send it again/);
    expect(error).not.toMatch(/fire/);
    expect(repo.rows.size).toBe(0);
    // The next message is announced; the refused one never was.
    sinkError = undefined;
    expect((await postJson({ channel: 'general', text: 'second' })).status).toBe(202);
    await waitFor(() => sse.events.length === 1, 5000, 'the accepted message event');
    expect(sse.events.map((e) => (e.data as { text: string }).text)).toEqual(['second']);
    sse.close();
  });

  it('answers 503 after stop() and ends open event streams', async () => {
    const sse = await openEvents(`${base}/api/local/events`);
    await waitFor(() => adapter.events.size === 1, 5000, 'subscription');
    await adapter.stop();
    expect(adapter.events.size).toBe(0);
    const r = await postJson({ channel: 'general', text: 'late' });
    expect(r.status).toBe(503);
    expect(repo.rows.size).toBe(0);
    sse.close();
  });

  it('started post-only (a cluster instance without the ingress role): 503 naming the missing role, nothing stored or handed on; posting still works', async () => {
    await adapter.stop();
    await adapter.start(
      async (m) => {
        received.push(m);
        return 'accepted';
      },
      { hasConversation: async () => false, isBotMessage: async () => false, state: { get: async () => undefined, set: async () => {} }, inbound: false },
    );
    const r = await postJson({ channel: 'general', text: 'to a worker' });
    expect(r.status).toBe(503);
    const { error } = (await r.json()) as { error: string };
    expect(error).toMatch(/roles do not include ingress.*nothing was stored/);
    expect(received).toEqual([]);
    expect(repo.rows.size).toBe(0);
    const posted = await adapter.post({ platform: 'local', channel: 'general' }, 'a bot post');
    expect(await repo.get(posted.ref)).toMatchObject({ bot: true, text: 'a bot post' });
    // Stopped afterwards: the ordinary "not started" reason again.
    await adapter.stop();
    const late = await postJson({ channel: 'general', text: 'late' });
    expect(late.status).toBe(503);
    expect(((await late.json()) as { error: string }).error).toMatch(/not started or shutting down/);
  });

  it('post/edit/setStatus validate their targets', async () => {
    const t = { platform: 'local' as const, channel: 'general' };
    const started = await adapter.post(t, 'a bot-started thread');
    expect(await repo.get(started.ref)).toMatchObject({ thread: started.ref, bot: true, user: 'agentbridge' });
    await expect(adapter.post({ ...t, thread: 'nope' }, 'x')).rejects.toThrow(/unknown thread/);
    await expect(adapter.post({ ...t, platform: 'slack' }, 'x')).rejects.toThrow(/platform slack/);
    await expect(adapter.edit(t, 'missing', 'x')).rejects.toThrow(/unknown message/);
    await expect(adapter.edit({ ...t, channel: 'other' }, started.ref, 'x')).rejects.toThrow(/unknown message/);
    const user = (await (await postJson({ channel: 'general', text: 'mine' })).json()) as { message: string };
    await expect(adapter.edit(t, user.message, 'hijack')).rejects.toThrow(/not a bot message/);
    expect((await repo.get(user.message))!.text).toBe('mine');
    await expect(adapter.setStatus({ ...t, channel: 'Bad Name' }, 'x')).rejects.toThrow(/invalid channel/);
  });

  it('serves the page with a strict content security policy', async () => {
    const r = await fetch(`${base}/`);
    expect(r.status).toBe(200);
    expect(r.headers.get('content-type')).toMatch(/text\/html/);
    expect(r.headers.get('content-security-policy')).toMatch(/script-src 'self'(;|$)/);
    const html = await r.text();
    expect(html).toContain('data-testid="composer"');
    expect(html).not.toMatch(/<(script|link|img)[^>]+(src|href)="https?:/);
  });
});
