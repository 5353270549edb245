/** Replay cache of the Slack Events API over HTTP: a signed request is accepted once within its 5-minute window. */
import { Writable } from 'node:stream';
import { afterEach, describe, expect, it } from 'vitest';
import { createHttpServer, type HttpServer } from '../../src/http/server.js';
import { createLogger } from '../../src/logger.js';
import { registerSlackEventsRoute } from '../../src/platforms/slack/http-events.js';
import { ReplayCache } from '../../src/platforms/slack/replay-cache.js';
import { computeSlackSignature } from '../../src/platforms/slack/signature.js';

const SECRET = 'replay-test-secret';

describe('ReplayCache', () => {
  it('accepts a signature once until its window (timestamp + 300 s) closes', () => {
    let now = 1_700_000_000_000;
    const cache = new ReplayCache({ now: () => now });
    const ts = now / 1000;
    expect(cache.accept('v0=abc', ts)).toBe(true);
    expect(cache.accept('v0=abc', ts)).toBe(false);
    expect(cache.accept('V0=ABC ', ts)).toBe(false);
    now += 299_000;
    expect(cache.accept('v0=abc', ts)).toBe(false);
    now += 2_000; // the signature check refuses the request from here on anyway
    expect(cache.accept('v0=abc', ts)).toBe(true);
  });

  it('is bounded: expired entries go first, then the oldest', () => {
    let now = 1_700_000_000_000;
    const cache = new ReplayCache({ now: () => now, maxEntries: 3 });
    cache.accept('a', now / 1000);
    now += 301_000;
    cache.accept('b', now / 1000);
    cache.accept('c', now / 1000);
    cache.accept('d', now / 1000); // 'a' expired: dropped
    expect(cache.size).toBe(3);
    expect(cache.accept('b', now / 1000)).toBe(false);
    cache.accept('e', now / 1000); // full of live entries: the oldest ('b') goes
    expect(cache.size).toBe(3);
    expect(cache.accept('c', now / 1000)).toBe(false);
  });
});

describe('Slack HTTP endpoints refuse replayed requests', () => {
  let server: HttpServer | undefined;
  afterEach(async () => {
    await server?.close();
    server = undefined;
  });

  async function start() {
    const lines: string[] = [];
    const logger = createLogger('info', new Writable({ write: (c, _e, cb) => (lines.push(String(c)), cb()) }));
    server = createHttpServer({ host: '127.0.0.1', port: 0, logger });
    const events: Array<Record<string, unknown>> = [];
    const commands: Array<Record<string, string>> = [];
    registerSlackEventsRoute(server, {
      signingSecret: SECRET,
      logger,
      ready: () => true,
      handle: async (body) => void events.push(body),
      handleCommand: async (fields) => (commands.push(fields), { response_type: 'ephemeral', text: `ran ${fields.text}` }),
    });
    const { url } = await server.listen();
    return { url, events, commands, lines };
  }

  function send(url: string, body: string, contentType: string, timestamp = String(Math.floor(Date.now() / 1000))) {
    return fetch(url, {
      method: 'POST',
      headers: { 'content-type': contentType, 'x-slack-request-timestamp': timestamp, 'x-slack-signature': computeSlackSignature(SECRET, timestamp, body) },
      body,
    });
  }

  it('a replayed slash command is rejected (401, logged) and runs once; a new signature runs again', async () => {
    const { url, commands, lines } = await start();
    const form = new URLSearchParams({
      command: '/agent',
      text: 'cron run-now digest',
      user_id: 'U1',
      channel_id: 'C1',
      team_id: 'T1',
      response_url: 'http://127.0.0.1:9/r',
    }).toString();
    const ts = String(Math.floor(Date.now() / 1000));
    const first = await send(`${url}/slack/commands`, form, 'application/x-www-form-urlencoded', ts);
    expect(first.status).toBe(200);
    expect(await first.json()).toEqual({ response_type: 'ephemeral', text: 'ran cron run-now digest' });
    const replay = await send(`${url}/slack/commands`, form, 'application/x-www-form-urlencoded', ts);
    expect(replay.status).toBe(401);
    // the same request at the other path is the same replay
    expect((await send(`${url}/slack/events`, form, 'application/x-www-form-urlencoded', ts)).status).toBe(401);
    expect(commands).toHaveLength(1);
    expect(lines.join('')).toContain('replayed request');
    // a new request (new timestamp → new signature) is not a replay
    expect((await send(`${url}/slack/commands`, form, 'application/x-www-form-urlencoded', String(Number(ts) - 1))).status).toBe(200);
    expect(commands).toHaveLength(2);
  });

  it("a replayed event is rejected; Slack's own retry (new timestamp and signature) is handed on", async () => {
    const { url, events } = await start();
    const body = JSON.stringify({
      type: 'event_callback',
      event_id: 'Ev1',
      team_id: 'T1',
      event: { type: 'app_mention', text: 'hi', channel: 'C1', ts: '1.1', user: 'U1' },
    });
    const ts = String(Math.floor(Date.now() / 1000));
    expect((await send(`${url}/slack/events`, body, 'application/json', ts)).status).toBe(200);
    expect((await send(`${url}/slack/events`, body, 'application/json', ts)).status).toBe(401);
    expect(events).toHaveLength(1);
    expect((await send(`${url}/slack/events`, body, 'application/json', String(Number(ts) + 1))).status).toBe(200);
    expect(events).toHaveLength(2); // the inbox drops it by event key
  });
});
