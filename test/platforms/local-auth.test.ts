/**
 * Local chat security, in process over a real SQLite store: the Host/Origin allow-list (DNS
 * rebinding), login links → session cookie, bearer tokens, identity from the server (the body's
 * `user` is ignored when login is required), tokens stored hashed, control characters refused.
 */
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import nodeHttp from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { HostAllowList } from '../../src/http/hosts.js';
import { createHttpServer, type HttpServer } from '../../src/http/server.js';
import { LocalAdapter } from '../../src/platforms/local/adapter.js';
import { LocalAuth, loginRequiredByConfig } from '../../src/platforms/local/auth.js';
import { LOGIN_LINK_TTL_MS, hashToken, newToken } from '../../src/platforms/local/login-tokens.js';
import type { InboundMessage } from '../../src/core/messages.js';
import { openStore, type SqliteStore } from '../../src/store/store.js';
import { collectingLogger } from '../helpers/core.js';
import { waitFor } from '../helpers/sandbox.js';

interface World {
  store: SqliteStore;
  http: HttpServer;
  adapter: LocalAdapter;
  base: string;
  port: number;
  received: InboundMessage[];
  logs: Array<Record<string, unknown>>;
}

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function world(opts: { requiredByConfig?: boolean; publicUrl?: string } = {}): Promise<World> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ab-auth-'));
  cleanups.push(() => fs.rmSync(dir, { recursive: true, force: true }));
  const { logger, lines: logs } = collectingLogger();
  const store = openStore({ dbPath: path.join(dir, 'agentbridge.db'), logger });
  cleanups.push(() => store.close());
  const http = createHttpServer({ host: '127.0.0.1', port: 0, logger, hosts: new HostAllowList(opts.publicUrl) });
  // An exempt monitoring route, as app.ts registers it.
  http.route('GET', '/healthz', (_req, res) => void res.writeHead(200).end('ok'));
  const auth = new LocalAuth({
    users: store.localUsers,
    requiredByConfig: opts.requiredByConfig ?? false,
    secureCookie: opts.publicUrl?.startsWith('https:') ?? false,
    logger,
  });
  const adapter = new LocalAdapter({ repo: store.localMessages, http, logger, auth, heartbeatMs: 100 });
  const received: InboundMessage[] = [];
  await adapter.start(async (m) => {
    received.push(m);
    return 'accepted';
  });
  const { url, port } = await http.listen();
  cleanups.push(() => http.close());
  cleanups.push(() => adapter.stop());
  return { store, http, adapter, base: url, port, received, logs };
}

/** A raw request (node:http, so Host can be anything). */
function request(
  port: number,
  opts: { method?: string; path: string; headers?: Record<string, string>; body?: unknown },
): Promise<{ status: number; headers: nodeHttp.IncomingHttpHeaders; text: string }> {
  return new Promise((resolve, reject) => {
    const body = opts.body === undefined ? undefined : JSON.stringify(opts.body);
    const req = nodeHttp.request(
      {
        host: '127.0.0.1',
        port,
        method: opts.method ?? 'GET',
        path: opts.path,
        headers: { ...(body ? { 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(body)) } : {}), ...opts.headers },
      },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (d) => (text += d));
        res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, text }));
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

/** Adds a user and a login link token the way `agentbridge users add` does; returns the link token. */
async function addUser(w: World, name: string, admin = false): Promise<string> {
  await w.store.localUsers.add(name, admin);
  const token = newToken();
  await w.store.localUsers.addToken({ hash: hashToken(token), user: name, kind: 'link', expiresAt: Date.now() + LOGIN_LINK_TTL_MS });
  return token;
}

async function apiToken(w: World, name: string): Promise<string> {
  const token = newToken();
  await w.store.localUsers.addToken({ hash: hashToken(token), user: name, kind: 'api', expiresAt: null });
  return token;
}

/** Follows a login link; returns the session cookie pair (`name=value`) and the raw Set-Cookie. */
async function login(w: World, linkToken: string): Promise<{ cookie: string; setCookie: string }> {
  const r = await request(w.port, { path: `/login?token=${linkToken}` });
  expect(r.status).toBe(303);
  expect(r.headers.location).toBe('/');
  const setCookie = r.headers['set-cookie']![0]!;
  return { cookie: setCookie.split(';')[0]!, setCookie };
}

const post = (w: World, body: unknown, headers: Record<string, string> = {}) => request(w.port, { method: 'POST', path: '/api/local/messages', body, headers });

describe('Host and Origin allow-list (DNS rebinding)', () => {
  it('refuses another Host with 403 before anything is stored or reaches the core, and logs it', async () => {
    const w = await world();
    const evil = `evil.example:${w.port}`;
    const r = await post(w, { channel: 'general', text: 'run rm -rf', user: 'alice' }, { host: evil, origin: `http://${evil}` });
    expect(r.status).toBe(403);
    expect(JSON.parse(r.text)).toEqual({ error: expect.stringMatching(/host name is not served/) });
    // also without an Origin, and on every browser-facing route
    expect((await post(w, { channel: 'general', text: 'x' }, { host: evil })).status).toBe(403);
    for (const p of ['/', '/api/local/events', '/api/local/channels', '/api/local/me', '/login?token=x', '/nope']) {
      expect((await request(w.port, { path: p, headers: { host: evil } })).status, p).toBe(403);
    }
    expect((await request(w.port, { method: 'POST', path: '/logout', headers: { host: evil } })).status).toBe(403);
    expect(w.received).toEqual([]);
    expect(await w.store.localMessages.channels()).toEqual([]);
    expect(w.logs.some((l) => l.msg === 'HTTP request refused: this host name is not served here (see AGENTBRIDGE_PUBLIC_URL)' && l.host === evil)).toBe(true);
  });

  it('refuses an Origin of another host even with a loopback Host (POST and the event stream)', async () => {
    const w = await world();
    const r = await post(w, { channel: 'general', text: 'x' }, { host: `127.0.0.1:${w.port}`, origin: `http://evil.example:${w.port}` });
    expect(r.status).toBe(403);
    expect(JSON.parse(r.text).error).toMatch(/cross-origin/);
    expect((await request(w.port, { path: '/api/local/events', headers: { origin: 'http://evil.example' } })).status).toBe(403);
    expect((await post(w, { channel: 'general', text: 'x' }, { origin: 'null' })).status).toBe(403);
    expect(w.received).toEqual([]);
  });

  it('serves localhost, 127.0.0.1 and [::1] on any port, with or without a matching Origin', async () => {
    const w = await world();
    for (const host of [`localhost:${w.port}`, `127.0.0.1:${w.port}`, '127.0.0.1', `[::1]:${w.port}`, `LOCALHOST:${w.port}`]) {
      const r = await post(w, { channel: 'general', text: `via ${host}` }, { host, origin: `http://${host}` });
      expect(r.status, host).toBe(202);
    }
    expect(w.received).toHaveLength(5);
    // the page itself, over a loopback name
    expect((await request(w.port, { path: '/', headers: { host: `localhost:${w.port}` } })).status).toBe(200);
  });

  it("serves AGENTBRIDGE_PUBLIC_URL's host, and no other", async () => {
    const w = await world({ publicUrl: 'https://chat.example.com' });
    const ok = await post(w, { channel: 'general', text: 'hi' }, { host: 'chat.example.com', origin: 'https://chat.example.com' });
    expect(ok.status).toBe(202);
    expect((await post(w, { channel: 'general', text: 'hi' }, { host: 'chat.example.com.evil.example' })).status).toBe(403);
    expect((await post(w, { channel: 'general', text: 'hi' }, { host: 'chat.example.com', origin: 'https://evil.example' })).status).toBe(403);
  });

  it('monitoring probes are exempt (containers are probed by IP)', async () => {
    const w = await world();
    expect((await request(w.port, { path: '/healthz', headers: { host: `172.17.0.5:${w.port}` } })).status).toBe(200);
  });
});

describe('login (link → cookie, bearer) and identity from the server', () => {
  it('a login link gives an HttpOnly SameSite=Strict session cookie once; the cookie works on the API and the event stream', async () => {
    const w = await world();
    const link = await addUser(w, 'alice');
    const { cookie, setCookie } = await login(w, link);
    expect(setCookie).toMatch(/^agentbridge_session=[A-Za-z0-9_-]{43}; /);
    expect(setCookie).toContain('HttpOnly');
    expect(setCookie).toContain('SameSite=Strict');
    expect(setCookie).toContain('Path=/');
    expect(setCookie).not.toContain('Secure');

    // single use: the second time a page says what to do
    const again = await request(w.port, { path: `/login?token=${link}` });
    expect(again.status).toBe(400);
    expect(again.headers['content-type']).toMatch(/text\/html/);
    expect(again.headers['set-cookie']).toBeUndefined();
    expect(again.text).toContain('agentbridge users link NAME');
    expect((await request(w.port, { path: '/login?token=garbage' })).status).toBe(400);

    // the cookie: me, POST (author from the server, body user ignored), GET, SSE
    const me = await request(w.port, { path: '/api/local/me', headers: { cookie } });
    expect(JSON.parse(me.text)).toEqual({ user: 'alice', admin: false, loginRequired: true });
    const sse = await fetch(`${w.base}/api/local/events`, { headers: { cookie } });
    expect(sse.status).toBe(200);
    const reader = sse.body!.getReader();
    const r = await post(w, { channel: 'general', text: 'hello', user: 'root' }, { cookie });
    expect(r.status).toBe(202);
    const { thread } = JSON.parse(r.text) as { thread: string };
    expect(w.received.at(-1)!.author).toEqual({ id: 'alice', name: 'alice' });
    expect((await w.store.localMessages.get(thread))!.user).toBe('alice');
    let streamed = '';
    await waitFor(
      async () => {
        const { value } = await reader.read();
        streamed += new TextDecoder().decode(value);
        return streamed.includes('"user":"alice"');
      },
      5_000,
      'the message on the event stream',
    );
    await reader.cancel();
    const list = await request(w.port, { path: `/api/local/messages?channel=general&thread=${thread}`, headers: { cookie } });
    expect(list.status).toBe(200);

    // without a login: 401 everywhere, with what to do
    for (const p of ['/api/local/me', '/api/local/channels', '/api/local/events', `/api/local/messages?channel=general&thread=${thread}`]) {
      const anon = await request(w.port, { path: p });
      expect(anon.status, p).toBe(401);
      expect(JSON.parse(anon.text).error).toContain('agentbridge users link NAME');
    }
    expect((await post(w, { channel: 'general', text: 'impostor', user: 'alice' })).status).toBe(401);
    expect(w.received).toHaveLength(1);

    // logout: the session is gone
    const out = await request(w.port, { method: 'POST', path: '/logout', headers: { cookie } });
    expect(out.status).toBe(200);
    expect(out.headers['set-cookie']![0]).toMatch(/^agentbridge_session=; .*Max-Age=0/);
    expect((await post(w, { channel: 'general', text: 'after logout' }, { cookie })).status).toBe(401);
  });

  it('an expired login link does not work', async () => {
    const w = await world();
    await w.store.localUsers.add('alice', false);
    const token = newToken();
    await w.store.localUsers.addToken({ hash: hashToken(token), user: 'alice', kind: 'link', expiresAt: Date.now() - 1 });
    expect((await request(w.port, { path: `/login?token=${token}` })).status).toBe(400);
  });

  it('Authorization: Bearer with an API token works; a wrong or revoked token is 401', async () => {
    const w = await world();
    await addUser(w, 'bob', true);
    const token = await apiToken(w, 'bob');
    const me = await request(w.port, { path: '/api/local/me', headers: { authorization: `Bearer ${token}` } });
    expect(JSON.parse(me.text)).toEqual({ user: 'bob', admin: true, loginRequired: true });
    expect((await post(w, { channel: 'general', text: 'from a script', user: 'alice' }, { authorization: `Bearer ${token}` })).status).toBe(202);
    expect(w.received.at(-1)!.author.id).toBe('bob');
    for (const wrong of [`Bearer ${newToken()}`, 'Bearer short', `Basic ${token}`, 'Bearer']) {
      const r = await post(w, { channel: 'general', text: 'x' }, { authorization: wrong });
      expect(r.status, wrong).toBe(401);
      expect(r.headers['www-authenticate']).toMatch(/^Bearer/);
    }
    // a bearer header that is wrong is refused even when login is not otherwise required
    await w.store.localUsers.remove('bob');
    expect((await post(w, { channel: 'general', text: 'x' }, { authorization: `Bearer ${token}` })).status).toBe(401);
    expect(w.received).toHaveLength(1);
  });

  it('the cookie is Secure when AGENTBRIDGE_PUBLIC_URL is https', async () => {
    const w = await world({ publicUrl: 'https://chat.example.com' });
    const { setCookie } = await login(w, await addUser(w, 'alice'));
    expect(setCookie).toMatch(/; Secure$/);
  });

  it('tokens are stored hashed: the database holds no token, only its SHA-256', async () => {
    const w = await world();
    const link = await addUser(w, 'alice');
    const api = await apiToken(w, 'alice');
    const { cookie } = await login(w, link);
    const session = cookie.split('=')[1]!;
    const unused = await addUser(w, 'carol');
    w.store.db.pragma('wal_checkpoint(TRUNCATE)');
    const rows = w.store.db.prepare('SELECT * FROM local_user_tokens').all() as Array<Record<string, unknown>>;
    expect(rows.map((r) => r.kind).sort()).toEqual(['api', 'link', 'session']);
    const sha = (t: string) => createHash('sha256').update(t).digest('hex');
    expect(rows.map((r) => r.hash).sort()).toEqual([sha(api), sha(session), sha(unused)].sort());
    const file = fs.readFileSync(w.store.dbPath).toString('latin1');
    for (const t of [link, api, session, unused]) {
      expect(JSON.stringify(rows)).not.toContain(t);
      expect(file).not.toContain(t);
    }
  });
});

describe('when login is required', () => {
  it('the default (loopback, no local ids in the lists, no users) keeps the body user and "you"', async () => {
    const w = await world();
    expect((await post(w, { channel: 'general', text: 'hi', user: 'ada' })).status).toBe(202);
    expect((await post(w, { channel: 'general', text: 'hi' })).status).toBe(202);
    expect(w.received.map((m) => m.author.id)).toEqual(['ada', 'you']);
    expect(JSON.parse((await request(w.port, { path: '/api/local/me' })).text)).toEqual({ user: null, admin: false, loginRequired: false });
    // a user added while running (the CLI writes the database) makes login required at once
    await w.store.localUsers.add('alice', false);
    expect((await post(w, { channel: 'general', text: 'hi', user: 'alice' })).status).toBe(401);
    expect(w.received).toHaveLength(2);
  });

  it('a local: id in AGENTBRIDGE_ADMINS or AGENTBRIDGE_ALLOWED_USERS, or a non-loopback bind, requires login', async () => {
    const access = (admins: string[], allowedUsers: string[] = []) => ({ admins, allowedUsers, allowedChannels: [] });
    expect(loginRequiredByConfig({ access: access([]), http: { host: '127.0.0.1' } })).toBe(false);
    expect(loginRequiredByConfig({ access: access(['slack:U1']), http: { host: 'localhost' } })).toBe(false);
    expect(loginRequiredByConfig({ access: access(['local:alice']), http: { host: '127.0.0.1' } })).toBe(true);
    expect(loginRequiredByConfig({ access: access([], ['local:bob']), http: { host: '127.0.0.1' } })).toBe(true);
    expect(loginRequiredByConfig({ access: access([]), http: { host: '0.0.0.0' } })).toBe(true);
    expect(loginRequiredByConfig({ access: access([]), http: { host: '::' } })).toBe(true);

    const w = await world({ requiredByConfig: true });
    const r = await post(w, { channel: 'general', text: '/agent workdir /', user: 'alice' });
    expect(r.status).toBe(401);
    expect(w.received).toEqual([]);
    expect(await w.store.localMessages.channels()).toEqual([]);
  });
});

describe('control characters in text', () => {
  it('NUL and other C0 characters (not tab, LF, CR) get 400 naming the problem and store nothing', async () => {
    const w = await world();
    for (const ch of ['\u0000', '\u0001', '\u0008', '\u000b', '\u000c', '\u001b', '\u001f']) {
      const r = await post(w, { channel: 'general', text: `before${ch}after` });
      expect(r.status, JSON.stringify(ch)).toBe(400);
      const code = `U+${ch.charCodeAt(0).toString(16).toUpperCase().padStart(4, '0')}`;
      expect(JSON.parse(r.text)).toEqual({
        error: `text contains the control character ${code} at position 6; only tab, line feed and carriage return are allowed`,
      });
    }
    expect(w.received).toEqual([]);
    expect(await w.store.localMessages.channels()).toEqual([]);
    expect((await post(w, { channel: 'general', text: 'tab\there\r\nnew line\n' })).status).toBe(202);
    expect(w.received.at(-1)!.text).toBe('tab\there\r\nnew line\n');
  });
});
