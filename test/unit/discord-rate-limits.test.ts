/**
 * The Discord twin's rate limits (test/twins/discord/rate-limits.ts) with an injected clock, and
 * the twin answering over-limit calls with Discord's 429 (not carried out, recorded), its switch,
 * its `X-RateLimit-*` headers on calls let through, and discord.js pacing itself by them.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { Client, Events, GatewayIntentBits } from 'discord.js';
import {
  DISCORD_GLOBAL_LIMIT,
  DISCORD_ROUTE_LIMITS,
  exemptFromGlobal,
  limitHeaders,
  RateLimits,
  routeOf,
  tooManyRequests,
  type LimitState,
  type RateLimitsOptions,
} from '../twins/discord/rate-limits.js';
import { startDiscordTwin, type DiscordTwin } from '../twins/discord/index.js';

const CREATE = 'POST /channels/:c/messages';
const EDIT = 'PATCH /channels/:c/messages/:m';
const REACT = 'PUT /channels/:c/messages/:m/reactions/:e/@me';
const UNREACT = 'DELETE /channels/:c/messages/:m/reactions/:e/@me';

function clocked(o: Omit<RateLimitsOptions, 'now'> = {}) {
  const clock = { t: 1_000_000 };
  const limits = new RateLimits({ now: () => clock.t, ...o });
  return { clock, limits };
}

describe('RateLimits (sliding windows, injected clock)', () => {
  it('5 creates per 5 s per channel: the 6th is refused until the oldest leaves; headers count down truthfully', () => {
    const { clock, limits } = clocked();
    const states: Array<LimitState | undefined> = [];
    for (let i = 0; i < 5; i++) {
      const d = limits.take(CREATE, 'C1');
      if (!d.allowed) throw new Error(`call ${i} refused`);
      states.push(d.state);
      clock.t += 500; // 5 calls over 2 s
    }
    // Remaining counts down; Reset-After is until the first call (t0) leaves the window.
    expect(states.map((s) => s && [s.remaining, s.resetAfterMs])).toEqual([
      [4, 5_000],
      [3, 4_500],
      [2, 4_000],
      [1, 3_500],
      [0, 3_000],
    ]);
    expect(states[0]).toMatchObject({ bucket: 'twin-messages-create', limit: 5 });
    // now = t0 + 2.5 s: 2.5 s until the first call leaves.
    expect(limits.take(CREATE, 'C1')).toEqual({
      allowed: false,
      retryAfterMs: 2_500,
      global: false,
      state: { bucket: 'twin-messages-create', limit: 5, remaining: 0, resetAfterMs: 2_500 },
    });
    // Another channel (a thread is a channel of its own) and another route have windows of their own.
    expect(limits.take(CREATE, 'C2').allowed).toBe(true);
    expect(limits.take(EDIT, 'C1').allowed).toBe(true);
    // Refused calls do not count: 1 ms before the oldest leaves still refused …
    clock.t += 2_499;
    expect(limits.take(CREATE, 'C1')).toMatchObject({ allowed: false, retryAfterMs: 1 });
    // … and exactly when it leaves, one call fits again (Remaining 0, until the second leaves 0.5 s later).
    clock.t += 1;
    expect(limits.take(CREATE, 'C1')).toMatchObject({ allowed: true, state: { remaining: 0, resetAfterMs: 500 } });
    expect(limits.take(CREATE, 'C1')).toMatchObject({ allowed: false, retryAfterMs: 500 });
  });

  it('edits: 5 per 5 s per channel; sustained one per second is never refused, two per second half of the time', () => {
    const { clock, limits } = clocked();
    for (let i = 0; i < 120; i++) {
      expect(limits.take(EDIT, 'C1').allowed).toBe(true);
      clock.t += 1_000;
    }
    let refused = 0;
    for (let i = 0; i < 120; i++) {
      if (!limits.take(EDIT, 'C1').allowed) refused++;
      clock.t += 500;
    }
    expect(refused).toBeGreaterThanOrEqual(55);
    expect(refused).toBeLessThanOrEqual(65);
  });

  it("reactions: 1 per 0.25 s per channel, adding and removing the bot's own share the bucket", () => {
    const { clock, limits } = clocked();
    expect(limits.take(REACT, 'C1')).toEqual({
      allowed: true,
      state: { bucket: 'twin-reactions', limit: 1, remaining: 0, resetAfterMs: 250 },
    });
    clock.t += 100;
    expect(limits.take(UNREACT, 'C1')).toMatchObject({ allowed: false, retryAfterMs: 150, global: false });
    expect(limits.take(REACT, 'C2').allowed).toBe(true);
    clock.t += 150;
    expect(limits.take(UNREACT, 'C1').allowed).toBe(true);
  });

  it('deletes: 5 per 1 s per channel', () => {
    const { clock, limits } = clocked();
    for (let i = 0; i < 5; i++) expect(limits.take('DELETE /channels/:c/messages/:m', 'C1').allowed).toBe(true);
    expect(limits.take('DELETE /channels/:c/messages/:m', 'C1')).toMatchObject({ allowed: false, retryAfterMs: 1_000 });
    clock.t += 1_000;
    expect(limits.take('DELETE /channels/:c/messages/:m', 'C1').allowed).toBe(true);
  });

  it('global: 50 per second over every route and channel, interactions and webhooks exempt', () => {
    const { clock, limits } = clocked();
    // 50 calls over 0.49 s, on unlimited routes and limited ones in many channels.
    for (let i = 0; i < 50; i++) {
      const route = i % 2 ? 'GET /channels/C1' : CREATE;
      expect(limits.take(route, `C${i}`).allowed).toBe(true);
      clock.t += 10;
    }
    // now = t0 + 500 ms: 500 ms until the first leaves; the route's own window (empty in C99) is not the reason.
    expect(limits.take(CREATE, 'C99')).toEqual({ allowed: false, retryAfterMs: 500, global: true });
    expect(limits.take('GET /users/@me', '')).toEqual({ allowed: false, retryAfterMs: 500, global: true });
    // Interaction callbacks and webhooks do not count and are not refused.
    expect(limits.take('POST /interactions/1/tok/callback', '').allowed).toBe(true);
    expect(limits.take('PATCH /webhooks/1/tok/messages/@original', '').allowed).toBe(true);
    clock.t += 500;
    expect(limits.take('GET /users/@me', '').allowed).toBe(true);
    expect(DISCORD_GLOBAL_LIMIT).toEqual({ max: 50, windowMs: 1_000 });
  });

  it('a route refusal that would also be a global one waits for the later of the two and is not global', () => {
    const { clock, limits } = clocked({ limits: { r: { max: 1, windowMs: 10_000, bucket: 'b' } }, global: { max: 2, windowMs: 1_000 } });
    expect(limits.take('r', 'C').allowed).toBe(true);
    clock.t += 900;
    expect(limits.take('other', '').allowed).toBe(true);
    // Global full until t0 + 1 s (100 ms), the route until t0 + 10 s (9.1 s).
    expect(limits.take('r', 'C')).toMatchObject({ allowed: false, retryAfterMs: 9_100, global: false });
  });

  it('routeOf names the limited route and its channel (the major parameter); others count as called', () => {
    expect(routeOf('POST', '/channels/123/messages')).toEqual({ route: CREATE, channel: '123' });
    expect(routeOf('PATCH', '/channels/123/messages/456')).toEqual({ route: EDIT, channel: '123' });
    expect(routeOf('PUT', '/channels/123/messages/456/reactions/👀/@me')).toEqual({ route: REACT, channel: '123' });
    expect(routeOf('GET', '/channels/123/messages/456')).toEqual({ route: 'GET /channels/123/messages/456', channel: '123' });
    expect(routeOf('POST', '/channels/123/typing')).toEqual({ route: 'POST /channels/123/typing', channel: '123' });
    expect(routeOf('GET', '/users/@me')).toEqual({ route: 'GET /users/@me', channel: '' });
    expect(exemptFromGlobal('POST /interactions/9/t/callback')).toBe(true);
    expect(exemptFromGlobal('POST /channels/1/messages')).toBe(false);
    expect(Object.keys(DISCORD_ROUTE_LIMITS).sort()).toEqual(['DELETE /channels/:c/messages/:m', UNREACT, EDIT, CREATE, REACT]);
  });

  it("headers and 429 in Discord's format", () => {
    const state = { bucket: 'b', limit: 5, remaining: 0, resetAfterMs: 1_234 };
    expect(limitHeaders(state, 1_700_000_000_000)).toEqual({
      'x-ratelimit-limit': '5',
      'x-ratelimit-remaining': '0',
      'x-ratelimit-reset': '1700000001.234',
      'x-ratelimit-reset-after': '1.234',
      'x-ratelimit-bucket': 'b',
    });
    expect(tooManyRequests({ allowed: false, retryAfterMs: 1_234, global: false, state }, 1_700_000_000_000)).toEqual({
      body: { message: 'You are being rate limited.', retry_after: 1.234, global: false },
      headers: { 'retry-after': '2', ...limitHeaders(state, 1_700_000_000_000), 'x-ratelimit-scope': 'user' },
    });
    expect(tooManyRequests({ allowed: false, retryAfterMs: 120, global: true }, 0)).toEqual({
      body: { message: 'You are being rate limited.', retry_after: 0.12, global: true },
      headers: { 'retry-after': '1', 'x-ratelimit-global': 'true', 'x-ratelimit-scope': 'global' },
    });
  });

  it('reset() forgets the calls counted', () => {
    const { limits } = clocked();
    expect(limits.take(REACT, 'C').allowed).toBe(true);
    expect(limits.take(REACT, 'C').allowed).toBe(false);
    limits.reset();
    expect(limits.take(REACT, 'C').allowed).toBe(true);
  });
});

describe('the Discord twin enforcing the limits', () => {
  let twin: DiscordTwin | undefined;
  let client: Client | undefined;
  afterEach(async () => {
    await client?.destroy();
    await twin?.close();
    [twin, client] = [undefined, undefined];
  });

  async function call(t: DiscordTwin, method: string, path: string, body?: unknown) {
    const res = await fetch(`${t.apiUrl}/v10${path}`, {
      method,
      headers: { authorization: `Bot ${t.token}`, ...(body ? { 'content-type': 'application/json' } : {}) },
      ...(body ? { body: JSON.stringify(body) } : {}),
    });
    const text = await res.text();
    return { status: res.status, headers: Object.fromEntries(res.headers), body: (text ? JSON.parse(text) : undefined) as Record<string, unknown> | undefined };
  }

  it('answers the 6th edit within 5 s in a channel with a 429, does not carry it out, records it; headers on the calls let through', async () => {
    twin = await startDiscordTwin();
    const ch = twin.channels['agent-chat']!;
    const posted = await call(twin, 'POST', `/channels/${ch}/messages`, { content: 'v0' });
    expect(posted.headers).toMatchObject({ 'x-ratelimit-limit': '5', 'x-ratelimit-remaining': '4', 'x-ratelimit-bucket': 'twin-messages-create' });
    expect(Number(posted.headers['x-ratelimit-reset-after'])).toBeGreaterThan(4.5);
    expect(Number(posted.headers['x-ratelimit-reset-after'])).toBeLessThanOrEqual(5);
    const id = String(posted.body!.id);
    const remaining = [];
    for (let i = 1; i <= 5; i++) {
      const r = await call(twin, 'PATCH', `/channels/${ch}/messages/${id}`, { content: `v${i}` });
      expect(r.status).toBe(200);
      remaining.push(r.headers['x-ratelimit-remaining']);
    }
    expect(remaining).toEqual(['4', '3', '2', '1', '0']);
    const over = await call(twin, 'PATCH', `/channels/${ch}/messages/${id}`, { content: 'v6' });
    expect(over.status).toBe(429);
    expect(over.body).toEqual({ message: 'You are being rate limited.', retry_after: expect.any(Number), global: false });
    const retryAfter = over.body!.retry_after as number;
    expect(retryAfter).toBeGreaterThan(3);
    expect(retryAfter).toBeLessThanOrEqual(5);
    expect(over.headers).toMatchObject({
      'retry-after': String(Math.ceil(retryAfter)),
      'x-ratelimit-limit': '5',
      'x-ratelimit-remaining': '0',
      'x-ratelimit-reset-after': retryAfter.toFixed(3),
      'x-ratelimit-bucket': 'twin-messages-edit',
      'x-ratelimit-scope': 'user',
    });
    expect(twin.channelMessages(ch).at(-1)!.content).toBe('v5');
    expect(twin.rateLimited).toEqual([
      { route: 'PATCH /channels/:c/messages/:m', channel: ch, retryAfterS: retryAfter, global: false, at: expect.any(Number) },
    ]);
    expect(twin.calls.filter((c) => c.outcome === 'rate-limited').map((c) => [c.method, c.status])).toEqual([['PATCH', 429]]);
    expect(twin.rateLimitedSummary()).toEqual([`PATCH /channels/:c/messages/:m ${ch} ×1`]);
    // Unlimited routes carry no bucket headers.
    expect((await call(twin, 'GET', `/channels/${ch}`)).headers['x-ratelimit-bucket']).toBeUndefined();

    // Turned off: the call goes through; injected faults still apply.
    twin.enforceRateLimits = false;
    expect((await call(twin, 'PATCH', `/channels/${ch}/messages/${id}`, { content: 'v7' })).status).toBe(200);
    twin.failNext('PATCH /channels/:c/messages/:m', { status: 429, retryAfter: 7 });
    const injected = await call(twin, 'PATCH', `/channels/${ch}/messages/${id}`, { content: 'v8' });
    expect([injected.status, injected.headers['retry-after']]).toEqual([429, '7']);
    expect(twin.rateLimited).toHaveLength(1);
    expect(twin.calls.at(-1)!.outcome).toBeUndefined();
  });

  it('a refused reaction is not added; enforceRateLimits: false at start lets a burst through', async () => {
    twin = await startDiscordTwin();
    const ch = twin.channels['agent-chat']!;
    const said = twin.userSays({ user: 'Alice', channel: ch, content: 'hi' });
    expect((await call(twin, 'PUT', `/channels/${ch}/messages/${said.id}/reactions/${encodeURIComponent('👀')}/@me`)).status).toBe(204);
    const over = await call(twin, 'PUT', `/channels/${ch}/messages/${said.id}/reactions/${encodeURIComponent('✅')}/@me`);
    expect(over.status).toBe(429);
    expect(twin.botReactions(said.id)).toEqual(['👀']);
    await twin.close();

    twin = await startDiscordTwin({ enforceRateLimits: false });
    const ch2 = twin.channels['agent-chat']!;
    for (let i = 0; i < 8; i++) expect((await call(twin, 'POST', `/channels/${ch2}/messages`, { content: `m${i}` })).status).toBe(200);
    expect(twin.rateLimited).toEqual([]);
  });

  it('over 50 calls in a second: the global limit answers a global 429; interaction callbacks are not counted', async () => {
    twin = await startDiscordTwin();
    const t = twin;
    // 60 at once (a loaded machine still sends them within a second: the twin answers at once).
    const answers = await Promise.all(Array.from({ length: 60 }, () => call(t, 'GET', '/users/@me')));
    const refused = answers.filter((a) => a.status === 429);
    expect(refused.length).toBeGreaterThanOrEqual(1);
    expect(answers.filter((a) => a.status === 200).length).toBeLessThanOrEqual(50);
    expect(refused[0]!.body).toEqual({ message: 'You are being rate limited.', retry_after: expect.any(Number), global: true });
    expect(refused[0]!.headers).toMatchObject({ 'x-ratelimit-global': 'true', 'x-ratelimit-scope': 'global' });
    expect(t.rateLimited.every((r) => r.global && r.route === 'GET /users/@me')).toBe(true);
    expect(t.rateLimitedSummary()).toEqual([`global: GET /users/@me ×${refused.length}`]);
    // An interaction callback is answered (here: 404, no such interaction), not refused.
    expect((await call(t, 'POST', '/interactions/1/none/callback', { type: 4, data: { content: 'x' } })).status).not.toBe(429);
  });

  it('discord.js paces itself by the headers: 8 creates and 4 reactions asked at once, no 429, none stalled', async () => {
    twin = await startDiscordTwin();
    const t = twin;
    client = new Client({ intents: [GatewayIntentBits.Guilds, GatewayIntentBits.GuildMessages], rest: { api: t.apiUrl } });
    const ready = new Promise<void>((r) => client!.once(Events.ClientReady, () => r()));
    await client.login(t.token);
    await ready;
    const ch = t.channels['agent-chat']!;
    const said = t.userSays({ user: 'Alice', channel: ch, content: 'hi' });
    const channel = client.channels.cache.get(ch);
    if (!channel?.isSendable()) throw new Error('not sendable');
    const t0 = Date.now();
    await Promise.all([
      ...Array.from({ length: 8 }, (_, i) => channel.send(`burst ${i}`)),
      ...['👀', '✅', '❌', '↪️'].map((e) => channel.messages.react(said.id, e)),
    ]);
    const took = Date.now() - t0;
    expect(t.rateLimited).toEqual([]);
    expect(t.calls.filter((c) => c.status === 429)).toEqual([]);
    expect(t.botMessages(ch).map((m) => m.content)).toEqual(Array.from({ length: 8 }, (_, i) => `burst ${i}`));
    expect(t.botReactions(said.id)).toHaveLength(4);
    // It waited for the window (the 6th create only once the first left, 5 s on) but no longer than needed.
    const creates = t.callsTo('POST /channels/:c/messages');
    expect(creates[5]!.at - creates[0]!.at).toBeGreaterThanOrEqual(5_000);
    expect(took).toBeLessThan(15_000);
  }, 30_000);
});
