/**
 * The Slack adapter in-process against the Slack twin (real @slack/bolt, Socket Mode and the
 * Events API over HTTP), with a recording sink instead of the core: normalisation on the wire,
 * ack only after the sink, output calls. Fast; the end-to-end tests cover the whole service.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createHttpServer, type HttpServer } from '../../src/http/server.js';
import { createLogger } from '../../src/logger.js';
import { SlackAdapter } from '../../src/platforms/slack/adapter.js';
import type { InboundMessage } from '../../src/core/messages.js';
import type { AdapterContext } from '../../src/platforms/types.js';
import { waitFor } from '../helpers/sandbox.js';
import { SlackTwin } from '../twins/slack/twin.js';

const logger = createLogger(process.env.TEST_LOG_LEVEL ?? 'silent');

let twin: SlackTwin;
let adapter: SlackAdapter | undefined;
let server: HttpServer | undefined;
let received: InboundMessage[];
let sinkError: Error | undefined;
let sinkDelayMs: number;
let sinkDoneAt: Map<string, number>;
const conversations = new Set<string>();
const postedKeys = new Set<string>();

const context: AdapterContext = {
  hasConversation: async (id) => conversations.has(id),
  isBotMessage: async (key) => postedKeys.has(key),
  state: { get: async () => undefined, set: async () => {} },
};

async function sink(m: InboundMessage) {
  if (sinkDelayMs) await new Promise((r) => setTimeout(r, sinkDelayMs));
  if (sinkError) throw sinkError;
  const dup = received.some((r) => r.eventKey === m.eventKey);
  if (!dup) {
    received.push(m);
    conversations.add(m.conversationId);
  }
  sinkDoneAt.set(m.eventKey, Date.now());
  return dup ? ('duplicate' as const) : ('accepted' as const);
}

async function startSocketAdapter(): Promise<SlackAdapter> {
  adapter = new SlackAdapter({ config: { botToken: twin.botToken, appToken: twin.appToken, apiUrl: twin.apiUrl, allowBots: false }, logger });
  await adapter.start(sink, context);
  return adapter;
}

beforeAll(async () => {
  twin = await SlackTwin.start({
    users: [
      { id: 'U0ALICE', name: 'alice', display_name: 'Alice' },
      { id: 'U0BOB', name: 'bob', real_name: 'Bob Builder' },
    ],
  });
});

afterEach(async () => {
  await adapter?.stop();
  adapter = undefined;
  await server?.close();
  server = undefined;
  twin.eventsUrl = undefined;
});

afterAll(async () => {
  await twin?.close();
});

/** True when every event first sent after envelope number `mark` has an acked delivery. */
function allAcked(mark: number): boolean {
  const events = new Set(twin.socket.envelopes.slice(mark).map((e) => e.event_id));
  return [...events].every((id) => twin.socket.envelopes.some((e) => e.event_id === id && e.acked));
}

function reset(): number {
  received = [];
  sinkError = undefined;
  sinkDelayMs = 0;
  sinkDoneAt = new Map();
  return twin.socket.envelopes.length;
}

describe('Slack adapter over Socket Mode (in-process, twin)', () => {
  it('turns a mention into a threaded conversation message, acked only after the sink resolved', async () => {
    reset();
    sinkDelayMs = 300;
    await startSocketAdapter();
    const post = await twin.userPosts({ user: 'U0ALICE', channel: 'C0GEN', text: 'please ask <@U0BOB> about ci.yml &amp; fix it', mention: true });
    const m = await waitFor(() => received.find((r) => r.messageRef === post.ts), 10_000, 'the mention');
    expect(m).toMatchObject({
      platform: 'slack',
      conversationId: `slack:T0TWIN:C0GEN:${post.ts}`,
      channel: 'C0GEN',
      thread: post.ts,
      author: { id: 'U0ALICE', name: 'Alice' },
      text: 'please ask @Bob Builder about ci.yml & fix it',
      eventKey: `slack:T0TWIN:C0GEN:${post.ts}`,
      replyTarget: { platform: 'slack', channel: 'C0GEN', thread: post.ts },
    });
    expect(m.seedFrom).toBeUndefined();
    const env = await waitFor(() => twin.socket.envelopes.find((e) => e.event_id === post.eventIds[0] && e.acked), 5_000, 'the ack');
    const ack = twin.socket.acks.find((a) => a.envelope_id === env.envelope_id)!;
    expect(ack.at).toBeGreaterThanOrEqual(sinkDoneAt.get(m.eventKey)!);
  });

  it('does not ack when the sink fails; the redelivery is accepted once', async () => {
    reset();
    await startSocketAdapter();
    sinkError = new Error('database is locked');
    const post = await twin.userPosts({ user: 'U0ALICE', channel: 'C0GEN', text: 'first try fails', mention: true });
    await waitFor(() => sinkDoneAt.size === 0 && twin.socket.envelopes.some((e) => e.event_id === post.eventIds[0]), 5_000);
    await new Promise((r) => setTimeout(r, 300)); // give a wrong ack the chance to arrive
    expect(twin.socket.envelopes.filter((e) => e.event_id === post.eventIds[0]).every((e) => !e.acked)).toBe(true);
    expect(received).toHaveLength(0);
    sinkError = undefined;
    twin.socket.redeliver(post.eventIds[0]!);
    await waitFor(() => received.length === 1, 5_000, 'the redelivered message');
    await waitFor(
      () => twin.socket.envelopes.filter((e) => e.event_id === post.eventIds[0]).some((e) => e.acked && e.retry_attempt === 1),
      5_000,
      'the ack of the retry',
    );
  });

  it('follows threads it is part of, ignores the rest, seeds threads under its own messages', async () => {
    const mark = reset();
    await startSocketAdapter();
    const root = await twin.userPosts({ user: 'U0ALICE', channel: 'C0GEN', text: 'start', mention: true });
    await waitFor(() => received.length === 1, 5_000);
    const other = await twin.userPosts({ user: 'U0BOB', channel: 'C0GEN', text: 'unrelated top-level message' });
    const stray = await twin.userPosts({ user: 'U0BOB', channel: 'C0GEN', text: 'reply in a thread without the bot', thread_ts: other.ts });
    const follow = await twin.userPosts({ user: 'U0BOB', channel: 'C0GEN', text: 'follow-up without mention', thread_ts: root.ts });
    await waitFor(() => received.length === 2, 5_000, 'the follow-up');
    expect(received[1]).toMatchObject({
      conversationId: `slack:T0TWIN:C0GEN:${root.ts}`,
      text: 'follow-up without mention',
      author: { name: 'Bob Builder' },
      messageRef: follow.ts,
    });
    // The bot's own post is echoed as an event; a reply under it is a seeded conversation.
    const own = await adapter!.post({ platform: 'slack', channel: 'C0GEN' }, 'a cron post by the bot');
    postedKeys.add(`slack:C0GEN:${own.ref}`);
    const seeded = await twin.userPosts({ user: 'U0ALICE', channel: 'C0GEN', text: 'replying to the cron post', thread_ts: own.ref });
    await waitFor(() => received.length === 3, 5_000, 'the seeded reply');
    expect(received[2]).toMatchObject({ conversationId: `slack:T0TWIN:C0GEN:${own.ref}`, seedFrom: `slack:C0GEN:${own.ref}`, messageRef: seeded.ts });
    // Every envelope (ignored ones included) is acked; nothing else reached the sink.
    await waitFor(() => allAcked(mark), 5_000, 'all acks');
    expect(received.map((r) => r.messageRef)).not.toContain(other.ts);
    expect(received.map((r) => r.messageRef)).not.toContain(stray.ts);
  });

  it('keeps the order of a burst and dedups app_mention + message of one ts', async () => {
    const mark = reset();
    await startSocketAdapter();
    twin.addUser({ id: 'U0CAROL', name: 'carol', display_name: 'Carol' }); // first lookup is slow-ish: not cached
    const root = await twin.userPosts({ user: 'U0CAROL', channel: 'C0BURST', text: 'go', mention: true, also_as_message: true });
    const texts = ['one', 'two', 'three'];
    for (const t of texts) await twin.userPosts({ user: t === 'two' ? 'U0ALICE' : 'U0CAROL', channel: 'C0BURST', text: t, thread_ts: root.ts });
    await waitFor(() => received.length === 4, 5_000, 'the burst');
    expect(received.map((r) => r.text)).toEqual(['go', 'one', 'two', 'three']);
    await waitFor(() => sinkDoneAt.size === 4 && allAcked(mark), 5_000, 'all acks');
  });

  it('posts in the thread, edits, adds reactions (never removes), tolerates setStatus errors; rendered text pings no one', async () => {
    reset();
    const a = await startSocketAdapter();
    const root = await twin.userPosts({ user: 'U0ALICE', channel: 'C0OUT', text: 'hi', mention: true });
    const target = { platform: 'slack' as const, channel: 'C0OUT', thread: root.ts };
    // render() is the one mention pass (the outbound path calls it); post sends what it is given.
    const rendered = a.render('hello <!channel> and @here, <@U0ALICE>, <!here|here>, <!everyone>, <!subteam^S1|@devs> and `<@U0BOB>`');
    const posted = await a.post(target, rendered);
    expect(twin.message('C0OUT', posted.ref)).toMatchObject({ thread_ts: root.ts, bot_id: twin.botId });
    expect(twin.message('C0OUT', posted.ref)!.text).toBe(rendered);
    expect(rendered).not.toMatch(/<[!@]|(^|\s)@(here|channel|everyone)\b/);
    expect(rendered).toContain('hello');
    await a.edit(target, posted.ref, 'edited');
    expect(twin.message('C0OUT', posted.ref)!.text).toBe('edited');
    await a.react(target, root.ts, 'working');
    expect(Object.keys(twin.message('C0OUT', root.ts)!.reactions)).toEqual(['eyes']);
    await a.react(target, root.ts, 'done');
    // ✅ is added, 👀 stays: a removal would be one more Tier 3 call per answer.
    expect(Object.keys(twin.message('C0OUT', root.ts)!.reactions)).toEqual(['eyes', 'white_check_mark']);
    expect(twin.callsOf('reactions.remove')).toEqual([]);
    await a.react(target, root.ts, 'done'); // the same state again: no call
    expect(twin.callsOf('reactions.add')).toHaveLength(2);
    await a.setStatus(target, 'is working…');
    expect(twin.store.statuses.at(-1)).toMatchObject({ channel: 'C0OUT', thread_ts: root.ts, status: 'is working…' });
    const statusCalls = twin.callsOf('assistant.threads.setStatus').length;
    await a.setStatus(target, null); // Slack clears the status with the reply: no call
    expect(twin.callsOf('assistant.threads.setStatus')).toHaveLength(statusCalls);
    twin.failNext('assistant.threads.setStatus', { error: 'missing_scope' });
    await a.setStatus(target, 'once more'); // no throw
    const before = twin.callsOf('assistant.threads.setStatus').length;
    await a.setStatus(target, 'again');
    expect(twin.callsOf('assistant.threads.setStatus')).toHaveLength(before); // disabled after missing_scope
    await a.delete(target, posted.ref);
    expect(twin.botTexts('C0OUT', root.ts)).toEqual([]);
  });

  it('waits out a 429 with Retry-After and posts once', async () => {
    reset();
    const a = await startSocketAdapter();
    const root = await twin.userPosts({ user: 'U0ALICE', channel: 'C0RATE', text: 'hi', mention: true });
    twin.failNext('chat.postMessage', { status: 429, retryAfter: 1 });
    const t0 = Date.now();
    await a.post({ platform: 'slack', channel: 'C0RATE', thread: root.ts }, 'after the rate limit');
    expect(Date.now() - t0).toBeGreaterThanOrEqual(1_000);
    expect(
      twin
        .callsOf('chat.postMessage')
        .filter((c) => c.params.channel === 'C0RATE')
        .map((c) => c.status),
    ).toEqual([429, 200]);
    expect(twin.botTexts('C0RATE', root.ts)).toEqual(['after the rate limit']);
  });
});

describe('Socket Mode liveness', () => {
  it('replaces a connection that stays open but goes silent (no pongs, pings or events); an event sent afterwards arrives', async () => {
    reset();
    twin.socket.pingIntervalMs = 200;
    try {
      adapter = new SlackAdapter({
        config: { botToken: twin.botToken, appToken: twin.appToken, apiUrl: twin.apiUrl, allowBots: false, socketIdleMs: 1_000 },
        logger,
      });
      await adapter.start(sink, context);
      const opened = twin.socket.connectionsOpened;
      const opens = twin.callsOf('apps.connections.open').length;
      await waitFor(() => twin.socket.pingsReceived > 0 || undefined, 10_000, 'the heartbeat');
      twin.socket.silence();
      await waitFor(
        () => (twin.callsOf('apps.connections.open').length > opens && twin.socket.connectionsOpened > opened) || undefined,
        30_000,
        'a new connection',
      );
      const post = await twin.userPosts({ user: 'U0ALICE', channel: 'C0LIVE', text: 'still there?', mention: true });
      await waitFor(() => received.find((r) => r.messageRef === post.ts), 15_000, 'the event after the reconnect');
    } finally {
      twin.socket.pingIntervalMs = undefined;
    }
  }, 60_000);
});

describe('Slack posts land once (metadata key, lookup after ambiguous failures)', () => {
  const postsIn = (channel: string) => twin.callsOf('chat.postMessage').filter((c) => c.params.channel === channel);

  it('a reply created but answered 500 is found by its key in the thread: one message, no second post', async () => {
    reset();
    const a = await startSocketAdapter();
    const root = await twin.userPosts({ user: 'U0ALICE', channel: 'C0IDEM', text: 'hi', mention: true });
    twin.failNext('chat.postMessage', { status: 500, applied: true });
    const posted = await a.post({ platform: 'slack', channel: 'C0IDEM', thread: root.ts }, 'the answer', { idempotencyKey: 'ab-o7-abc' });
    expect(twin.botTexts('C0IDEM', root.ts)).toEqual(['the answer']);
    expect(postsIn('C0IDEM').map((c) => c.status)).toEqual([500]);
    const stored = twin.message('C0IDEM', posted.ref)!;
    expect(stored.text).toBe('the answer');
    expect(stored.metadata).toEqual({ event_type: 'agentbridge_post', event_payload: { key: 'ab-o7-abc' } });
    const lookup = twin.callsOf('conversations.replies').at(-1)!;
    expect(lookup.params).toMatchObject({ channel: 'C0IDEM', ts: root.ts, include_all_metadata: 'true' });
  });

  it('a 500 that created nothing is posted again once', async () => {
    reset();
    const a = await startSocketAdapter();
    const root = await twin.userPosts({ user: 'U0ALICE', channel: 'C0IDEM2', text: 'hi', mention: true });
    twin.failNext('chat.postMessage', { status: 503 });
    await a.post({ platform: 'slack', channel: 'C0IDEM2', thread: root.ts }, 'answer two', { idempotencyKey: 'ab-o8-abc' });
    expect(postsIn('C0IDEM2').map((c) => c.status)).toEqual([503, 200]);
    expect(twin.botTexts('C0IDEM2', root.ts)).toEqual(['answer two']);
  });

  it('a top-level post (a cron post) is looked up with conversations.history', async () => {
    reset();
    const a = await startSocketAdapter();
    twin.failNext('chat.postMessage', { status: 500, applied: true });
    const posted = await a.post({ platform: 'slack', channel: 'C0CRONIDEM' }, 'cron output', { idempotencyKey: 'ab-o9-abc' });
    const top = twin.store.channelMessages('C0CRONIDEM').filter((m) => m.bot_id === twin.botId);
    expect(top.map((m) => m.ts)).toEqual([posted.ref]);
    expect(twin.callsOf('conversations.history').at(-1)!.params).toMatchObject({ channel: 'C0CRONIDEM', include_all_metadata: 'true' });
  });

  it('with maybePostedSince a post already made (before a restart) is returned instead of posted again', async () => {
    reset();
    const a = await startSocketAdapter();
    const root = await twin.userPosts({ user: 'U0ALICE', channel: 'C0IDEM3', text: 'hi', mention: true });
    const target = { platform: 'slack' as const, channel: 'C0IDEM3', thread: root.ts };
    const since = Date.now();
    const first = await a.post(target, 'posted before the crash', { idempotencyKey: 'ab-o10-abc' });
    const again = await a.post(target, 'posted before the crash', { idempotencyKey: 'ab-o10-abc', maybePostedSince: since });
    expect(again.ref).toBe(first.ref);
    expect(postsIn('C0IDEM3')).toHaveLength(1);
    // another key is posted
    await a.post(target, 'a different message', { idempotencyKey: 'ab-o11-abc', maybePostedSince: since });
    expect(twin.botTexts('C0IDEM3', root.ts)).toEqual(['posted before the crash', 'a different message']);
  });

  it('a definite error (4xx, ok:false) is thrown at once, without a lookup', async () => {
    reset();
    const a = await startSocketAdapter();
    const lookups = twin.callsOf('conversations.replies').length;
    twin.failNext('chat.postMessage', { error: 'not_in_channel' });
    await expect(a.post({ platform: 'slack', channel: 'C0NOPE', thread: '1.000001' }, 'x', { idempotencyKey: 'ab-o12-abc' })).rejects.toThrow(/not_in_channel/);
    expect(postsIn('C0NOPE')).toHaveLength(1);
    expect(twin.callsOf('conversations.replies')).toHaveLength(lookups);
  });

  it('the twin returns metadata only with include_all_metadata', async () => {
    reset();
    const a = await startSocketAdapter();
    const root = await twin.userPosts({ user: 'U0ALICE', channel: 'C0META', text: 'hi', mention: true });
    await a.post({ platform: 'slack', channel: 'C0META', thread: root.ts }, 'with metadata', { idempotencyKey: 'ab-o13-abc' });
    const call = (extra: Record<string, string>) =>
      fetch(`${twin.apiUrl}conversations.replies`, {
        method: 'POST',
        headers: { authorization: `Bearer ${twin.botToken}`, 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({ channel: 'C0META', ts: root.ts, ...extra }),
      }).then((r) => r.json() as Promise<{ messages: Array<Record<string, unknown>> }>);
    expect((await call({})).messages.some((m) => 'metadata' in m)).toBe(false);
    expect((await call({ include_all_metadata: 'true' })).messages.find((m) => m.text === 'with metadata')?.metadata).toEqual({
      event_type: 'agentbridge_post',
      event_payload: { key: 'ab-o13-abc' },
    });
  });
});

describe('Slack adapter over the Events API (HTTP, in-process)', () => {
  it('accepts signed events, answers url_verification, rejects forged, stale and malformed requests', async () => {
    reset();
    server = createHttpServer({ host: '127.0.0.1', port: 0, logger });
    adapter = new SlackAdapter({
      config: { botToken: twin.botToken, signingSecret: twin.signingSecret, apiUrl: twin.apiUrl, allowBots: false },
      http: server,
      logger,
    });
    const { url } = await server.listen();
    twin.eventsUrl = `${url}/slack/events`;
    const early = await twin.sendHttp(twin.envelope({ type: 'app_mention', user: 'U0ALICE', text: 'x', ts: '1.000001', channel: 'C0H' }));
    expect(early.status).toBe(503); // not started yet: Slack retries later
    await adapter.start(sink, context);

    const challenge = await twin.sendHttp({ token: 't', challenge: 'abc123', type: 'url_verification' });
    expect(challenge).toEqual({ status: 200, body: JSON.stringify({ challenge: 'abc123' }) });

    const post = await twin.userPosts({ user: 'U0ALICE', channel: 'C0HTTP', text: 'over http', mention: true });
    expect(post.http.map((h) => h.status)).toEqual([200]);
    expect(received).toHaveLength(1);
    expect(received[0]).toMatchObject({ text: 'over http', conversationId: `slack:T0TWIN:C0HTTP:${post.ts}` });

    const forged = twin.envelope({ type: 'app_mention', user: 'U0ALICE', text: `<@${twin.botUserId}> forged`, ts: '1700009999.000001', channel: 'C0HTTP' });
    expect((await twin.sendHttp(forged, 'bad')).status).toBe(401);
    expect((await twin.sendHttp(forged, 'stale')).status).toBe(401);
    expect((await twin.sendHttp(forged, 'none')).status).toBe(401);
    expect((await twin.sendHttp('{"type":"event_callback", "event": ', 'valid')).status).toBe(400);
    expect((await twin.sendHttp('[1,2]', 'valid')).status).toBe(400);
    expect(received).toHaveLength(1);

    // A retry of the same event is answered 200 and stays one message.
    const retry = await twin.redeliver(post.eventIds[0]!);
    expect(retry?.status).toBe(200);
    expect(received).toHaveLength(1);

    // The sink failing → 500, so Slack retries.
    sinkError = new Error('disk full');
    const failing = await twin.userPosts({ user: 'U0ALICE', channel: 'C0HTTP', text: 'will fail', mention: true });
    expect(failing.http.map((h) => h.status)).toEqual([500]);
  });
});
