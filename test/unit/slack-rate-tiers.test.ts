/**
 * The Slack twin's rate tiers (test/twins/slack/rate-tiers.ts) with an injected clock, and the
 * twin answering over-limit calls with Slack's 429 (not carried out, recorded), its switch, and
 * its injectable Web API latency.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { RateTiers, SLACK_TIER_LIMITS, tierChannel, type RateTiersOptions } from '../twins/slack/rate-tiers.js';
import { SlackTwin } from '../twins/slack/twin.js';

function clocked(limits?: RateTiersOptions['limits']) {
  const clock = { t: 1_000_000 };
  const tiers = new RateTiers({ now: () => clock.t, ...(limits ? { limits } : {}) });
  return { clock, tiers };
}

describe('RateTiers (sliding windows, injected clock)', () => {
  it('lets 50 chat.update calls a minute through per channel, refuses the 51st until the oldest leaves the window', () => {
    const { clock, tiers } = clocked();
    for (let i = 0; i < 50; i++) {
      expect(tiers.take('chat.update', 'C1')).toEqual({ allowed: true });
      clock.t += 100; // 50 calls over 5 s
    }
    // The first call was at t0; now is t0 + 5 s: 55 s until it leaves.
    expect(tiers.take('chat.update', 'C1')).toEqual({ allowed: false, retryAfterS: 55 });
    // Another channel and another method have windows of their own.
    expect(tiers.take('chat.update', 'C2')).toEqual({ allowed: true });
    expect(tiers.take('reactions.add', 'C1')).toEqual({ allowed: true });
    // Refused calls do not count: just before the oldest leaves still refused (rounded up, ≥ 1) …
    clock.t += 54_950;
    expect(tiers.take('chat.update', 'C1')).toEqual({ allowed: false, retryAfterS: 1 });
    // … and exactly when it leaves, one call fits again, then the next oldest must leave.
    clock.t += 50;
    expect(tiers.take('chat.update', 'C1')).toEqual({ allowed: true });
    expect(tiers.take('chat.update', 'C1')).toEqual({ allowed: false, retryAfterS: 1 });
  });

  it('chat.postMessage: a burst of 10 per channel, then about one a second', () => {
    const { clock, tiers } = clocked();
    for (let i = 0; i < 10; i++) expect(tiers.take('chat.postMessage', 'C1').allowed).toBe(true);
    expect(tiers.take('chat.postMessage', 'C1')).toEqual({ allowed: false, retryAfterS: 10 });
    expect(tiers.take('chat.postMessage', 'C2').allowed).toBe(true);
    clock.t += 2_500;
    expect(tiers.take('chat.postMessage', 'C1')).toEqual({ allowed: false, retryAfterS: 8 }); // 7.5 s, rounded up
    // Once the burst has left the window: one a second for two minutes is never refused …
    clock.t += 7_500;
    for (let i = 0; i < 120; i++) {
      expect(tiers.take('chat.postMessage', 'C1').allowed).toBe(true);
      clock.t += 1_000;
    }
    // … but two a second are, half of the time.
    let refused = 0;
    for (let i = 0; i < 120; i++) {
      if (!tiers.take('chat.postMessage', 'C1').allowed) refused++;
      clock.t += 500;
    }
    expect(refused).toBeGreaterThanOrEqual(55);
    expect(refused).toBeLessThanOrEqual(65);
  });

  it('the later of two full windows decides Retry-After', () => {
    const { clock, tiers } = clocked({
      m: [
        { max: 2, windowMs: 10_000 },
        { max: 3, windowMs: 60_000 },
      ],
    });
    tiers.take('m', '');
    clock.t += 20_000;
    tiers.take('m', '');
    tiers.take('m', '');
    // Both full: the 10-s window frees in 10 s, the minute window when the first call (20 s ago) leaves: 40 s.
    expect(tiers.take('m', '')).toEqual({ allowed: false, retryAfterS: 40 });
  });

  it('calls without a channel count per method; unlisted methods and auth.test are not limited', () => {
    const { tiers } = clocked();
    for (let i = 0; i < 100; i++) expect(tiers.take('users.info', '').allowed).toBe(true);
    expect(tiers.take('users.info', '').allowed).toBe(false);
    for (let i = 0; i < 500; i++) {
      expect(tiers.take('auth.test', '').allowed).toBe(true);
      expect(tiers.take('apps.connections.open', '').allowed).toBe(true);
    }
    expect(SLACK_TIER_LIMITS['auth.test']).toBeUndefined();
    // Posting counts per channel; a tiered method per workspace, whatever its channel.
    expect(tierChannel('chat.postMessage', { channel: 'C1' })).toBe('C1');
    expect(tierChannel('chat.postMessage', { channel_id: 'C2', thread_ts: '1.2' })).toBe('C2');
    expect(tierChannel('chat.postMessage', { user: 'U1' })).toBe('');
    expect(tierChannel('reactions.add', { channel: 'C1' })).toBe('');
    expect(tierChannel('assistant.threads.setStatus', { channel_id: 'C2' })).toBe('');
  });

  it('reset() forgets the calls counted', () => {
    const { tiers } = clocked({ m: [{ max: 1, windowMs: 60_000 }] });
    expect(tiers.take('m', 'C').allowed).toBe(true);
    expect(tiers.take('m', 'C').allowed).toBe(false);
    tiers.reset();
    expect(tiers.take('m', 'C').allowed).toBe(true);
  });
});

describe('the Slack twin enforcing the tiers', () => {
  let twin: SlackTwin | undefined;
  afterEach(async () => {
    await twin?.close();
    twin = undefined;
  });

  async function call(t: SlackTwin, method: string, params: Record<string, string>) {
    const res = await fetch(`${t.apiUrl}${method}`, {
      method: 'POST',
      headers: { authorization: `Bearer ${t.botToken}`, 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams(params).toString(),
    });
    return { status: res.status, retryAfter: res.headers.get('retry-after'), body: (await res.json()) as Record<string, unknown> };
  }

  it('answers the 51st chat.update of a minute in the workspace with 429 + Retry-After, does not carry it out, records it', async () => {
    twin = await SlackTwin.start({ echoBotMessages: false });
    const posted = await call(twin, 'chat.postMessage', { channel: 'C1', text: 'v0' });
    const ts = String(posted.body.ts);
    for (let i = 1; i <= 50; i++) expect((await call(twin, 'chat.update', { channel: 'C1', ts, text: `v${i}` })).body.ok).toBe(true);
    const over = await call(twin, 'chat.update', { channel: 'C1', ts, text: 'v51' });
    expect(over.status).toBe(429);
    expect(over.body).toEqual({ ok: false, error: 'ratelimited' });
    expect(Number(over.retryAfter)).toBeGreaterThanOrEqual(55);
    expect(Number(over.retryAfter)).toBeLessThanOrEqual(60);
    expect(twin.message('C1', ts)!.text).toBe('v50');
    expect(twin.rateLimited).toEqual([{ method: 'chat.update', channel: '', retryAfterS: Number(over.retryAfter), at: expect.any(Number) }]);
    expect(twin.calls.filter((c) => c.rateLimited).map((c) => [c.method, c.status])).toEqual([['chat.update', 429]]);
    // The tier is workspace-wide: another channel's chat.update is refused too; posting there is counted on its own.
    const other = await call(twin, 'chat.postMessage', { channel: 'C2', text: 'w0' });
    expect(other.status).toBe(200);
    expect((await call(twin, 'chat.update', { channel: 'C2', ts: String(other.body.ts), text: 'w1' })).status).toBe(429);

    // Turned off: the call goes through; injected faults still apply.
    twin.enforceTiers = false;
    expect((await call(twin, 'chat.update', { channel: 'C1', ts, text: 'v52' })).body.ok).toBe(true);
    twin.failNext('chat.update', { status: 429, retryAfter: 7 });
    const injected = await call(twin, 'chat.update', { channel: 'C1', ts, text: 'v53' });
    expect([injected.status, injected.retryAfter]).toEqual([429, '7']);
    expect(twin.rateLimited).toHaveLength(2);
    expect(twin.calls.at(-1)!.rateLimited).toBeUndefined();
  });

  it('enforceTiers: false at start lets a burst over the tier through', async () => {
    twin = await SlackTwin.start({ enforceTiers: false, echoBotMessages: false });
    for (let i = 0; i < 12; i++) expect((await call(twin, 'chat.postMessage', { channel: 'C1', text: `m${i}` })).status).toBe(200);
    expect(twin.rateLimited).toEqual([]);
  });

  it('the 11th chat.postMessage within 10 s in a channel gets 429 and no message is created', async () => {
    twin = await SlackTwin.start({ echoBotMessages: false });
    for (let i = 0; i < 10; i++) expect((await call(twin, 'chat.postMessage', { channel: 'C1', text: `m${i}` })).status).toBe(200);
    const over = await call(twin, 'chat.postMessage', { channel: 'C1', text: 'm10' });
    expect(over.status).toBe(429);
    expect(twin.store.channelMessages('C1').map((m) => m.text)).not.toContain('m10');
  });

  it('delays every Web API answer by the latency, the effect appearing with the answer', async () => {
    twin = await SlackTwin.start({ webApiLatencyMs: 300, echoBotMessages: false });
    expect(twin.webApiLatencyMs).toBe(300);
    const t0 = Date.now();
    const pending = call(twin, 'chat.postMessage', { channel: 'C1', text: 'slow' });
    await new Promise((r) => setTimeout(r, 100));
    expect(twin.store.channelMessages('C1')).toEqual([]); // not carried out yet
    const res = await pending;
    expect(res.body.ok).toBe(true);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(290);
    expect(twin.store.channelMessages('C1').map((m) => m.text)).toEqual(['slow']);

    twin.setWebApiLatency(0);
    const t1 = Date.now();
    await call(twin, 'auth.test', {});
    expect(Date.now() - t1).toBeLessThan(250);
    expect(() => twin!.setWebApiLatency(-1)).toThrow();
  });
});
