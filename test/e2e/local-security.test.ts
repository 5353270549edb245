/**
 * Local chat security end to end: agentbridge as its own process with the real `claude` CLI and
 * the scripted Anthropic model. DNS rebinding and impostors never reach the model or run admin
 * commands; `agentbridge users …` works while agentbridge runs; a login link and a bearer token
 * identify people; a non-loopback bind without any user refuses to start (exit 2).
 */
import fs from 'node:fs';
import nodeHttp from 'node:http';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startAnthropicModel, type AnthropicModel } from '../models/anthropic.js';
import { LocalChat, claudeServiceEnv, runCli, startAgentbridge, type AgentbridgeProcess } from '../helpers/agentbridge.js';
import { processesMentioning } from '../helpers/procs.js';
import { makeSandbox, waitFor, type Sandbox } from '../helpers/sandbox.js';

let model: AnthropicModel;
let sb: Sandbox;
const running: AgentbridgeProcess[] = [];
let dataN = 0;

beforeAll(async () => {
  model = await startAnthropicModel();
  sb = makeSandbox();
});
afterEach(async () => {
  for (const p of running.splice(0)) await p.stop();
});
afterAll(async () => {
  await model?.close();
  expect(processesMentioning(sb.root)).toEqual([]);
  sb?.cleanup();
});

function env(extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  return claudeServiceEnv(sb, model.url, {
    AGENTBRIDGE_DATA_DIR: path.join(sb.root, `data-${++dataN}`),
    AGENTBRIDGE_WORKSPACES_ROOT: path.join(sb.root, 'workspaces'),
    ...extra,
  });
}

/** A raw request with any Host/Origin (node:http). */
function request(
  url: string,
  opts: { method?: string; path: string; headers?: Record<string, string>; body?: unknown },
): Promise<{ status: number; headers: nodeHttp.IncomingHttpHeaders; text: string }> {
  const { port } = new URL(url);
  return new Promise((resolve, reject) => {
    const body = opts.body === undefined ? undefined : JSON.stringify(opts.body);
    const req = nodeHttp.request(
      {
        host: '127.0.0.1',
        port: Number(port),
        method: opts.method ?? 'GET',
        path: opts.path,
        headers: { ...(body ? { 'content-type': 'application/json' } : {}), ...opts.headers },
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

const linkToken = (stdout: string) => /\/login\?token=([A-Za-z0-9_-]{43})$/m.exec(stdout)?.[1];
const apiToken = (stdout: string) => /^API token for .*\n\s+([A-Za-z0-9_-]{43})$/m.exec(stdout)?.[1];

describe('local chat security (agentbridge as its own process)', () => {
  it('DNS rebinding: another Host or Origin gets 403 and nothing reaches the model; loopback names are served', async () => {
    const e = env();
    const ab = await startAgentbridge(e, sb.root);
    running.push(ab);
    const port = new URL(ab.url).port;
    const before = model.requests.length;
    const evil = `evil.example:${port}`;
    const r = await request(ab.url, {
      method: 'POST',
      path: '/api/local/messages',
      headers: { host: evil, origin: `http://${evil}` },
      body: { channel: 'general', text: 'say REBOUND' },
    });
    expect(r.status).toBe(403);
    const o = await request(ab.url, {
      method: 'POST',
      path: '/api/local/messages',
      headers: { host: `127.0.0.1:${port}`, origin: `http://${evil}` },
      body: { channel: 'general', text: 'say REBOUND' },
    });
    expect(o.status).toBe(403);
    expect((await request(ab.url, { path: '/api/local/events', headers: { host: evil } })).status).toBe(403);
    // probes stay reachable by any name (a container is probed by IP)
    expect((await request(ab.url, { path: '/healthz', headers: { host: `10.1.2.3:${port}` } })).status).toBe(200);
    // the log lines arrive on agentbridge's stdout a moment after the responses
    await waitFor(
      () => ab.logs.filter((l) => typeof l.msg === 'string' && l.msg.startsWith('HTTP request refused')).length >= 3 || undefined,
      15_000,
      'three refusals logged',
    );

    // loopback names work, and a message sent that way is answered
    const ok = await request(ab.url, {
      method: 'POST',
      path: '/api/local/messages',
      headers: { host: `localhost:${port}`, origin: `http://localhost:${port}` },
      body: { channel: 'general', text: 'hello via localhost' },
    });
    expect(ok.status).toBe(202);
    const { thread } = JSON.parse(ok.text) as { thread: string };
    const chat = new LocalChat(ab.url);
    await waitFor(async () => (await chat.botTexts('general', thread)).find((t) => t === 'echo: hello via localhost'), 45_000, 'the answer');
    expect(model.requests.slice(before).some((q) => JSON.stringify(q.body).includes('REBOUND'))).toBe(false);
  });

  it('AGENTBRIDGE_PUBLIC_URL: its host is served and login links start with it', async () => {
    const e = env({ AGENTBRIDGE_PUBLIC_URL: 'https://chat.example.test/' });
    const add = await runCli(['users', 'add', 'ada'], e, sb.root);
    expect(add.code).toBe(0);
    expect(add.stdout).toMatch(/^ {2}https:\/\/chat\.example\.test\/login\?token=[A-Za-z0-9_-]{43}$/m);
    const ab = await startAgentbridge(e, sb.root);
    running.push(ab);
    const login = await request(ab.url, { path: `/login?token=${linkToken(add.stdout)}`, headers: { host: 'chat.example.test' } });
    expect(login.status).toBe(303);
    expect(login.headers['set-cookie']![0]).toMatch(/HttpOnly; SameSite=Strict; Max-Age=\d+; Secure$/);
    const cookie = login.headers['set-cookie']![0]!.split(';')[0]!;
    const r = await request(ab.url, {
      method: 'POST',
      path: '/api/local/messages',
      headers: { host: 'chat.example.test', origin: 'https://chat.example.test', cookie },
      body: { channel: 'general', text: 'hi from the public name' },
    });
    expect(r.status).toBe(202);
    expect((await request(ab.url, { path: '/', headers: { host: 'other.example.test' } })).status).toBe(403);
  });

  it('impostor: with AGENTBRIDGE_ADMINS=local:alice an unauthenticated "alice" gets 401; users added while running log in; --admin users are admins; removed users are out', async () => {
    const e = env({ AGENTBRIDGE_ADMINS: 'local:alice' });
    const ab = await startAgentbridge(e, sb.root);
    running.push(ab);
    const before = model.requests.length;
    const workdir = path.join(sb.root, 'workspaces', 'pwned');

    // nobody is logged in: the body's "alice" is not believed
    const imp = await request(ab.url, {
      method: 'POST',
      path: '/api/local/messages',
      body: { channel: 'general', text: '/agent workdir pwned', user: 'alice' },
    });
    expect(imp.status).toBe(401);
    expect(JSON.parse(imp.text).error).toContain('agentbridge users link NAME');
    expect((await request(ab.url, { path: '/api/local/channels' })).status).toBe(401);

    // users are added while agentbridge runs (it holds the data directory's lock)
    const addAlice = await runCli(['users', 'add', 'alice'], e, sb.root);
    expect(addAlice.code, addAlice.stderr).toBe(0);
    const addBob = await runCli(['users', 'add', 'bob', '--admin', '--token'], e, sb.root);
    expect(addBob.code, addBob.stderr).toBe(0);
    const addEve = await runCli(['users', 'add', 'eve'], e, sb.root);
    expect(addEve.code).toBe(0);
    expect((await runCli(['users', 'add', 'alice'], e, sb.root)).code).toBe(1);
    const list = await runCli(['users', 'list'], e, sb.root);
    expect(list.code).toBe(0);
    expect(list.stdout).toMatch(/^alice {2}user {2}sessions=0 {2}api-tokens=0 {2}open-links=1/m);
    expect(list.stdout).toMatch(/^bob {2}admin {2}sessions=0 {2}api-tokens=1 {2}open-links=1/m);

    // alice logs in with her link (once) and may run the admin command
    const link = linkToken(addAlice.stdout)!;
    const login = await request(ab.url, { path: `/login?token=${link}` });
    expect(login.status).toBe(303);
    const cookie = login.headers['set-cookie']![0]!.split(';')[0]!;
    expect((await request(ab.url, { path: `/login?token=${link}` })).status).toBe(400);
    // eve, logged in, claiming to be alice in the body: she is eve, and not an admin
    const eveLogin = await request(ab.url, { path: `/login?token=${linkToken(addEve.stdout)}` });
    const eveCookie = eveLogin.headers['set-cookie']![0]!.split(';')[0]!;
    const asEve = await request(ab.url, {
      method: 'POST',
      path: '/api/local/messages',
      headers: { cookie: eveCookie },
      body: { channel: 'general', text: '/agent workdir pwned', user: 'alice' },
    });
    expect(asEve.status).toBe(202);
    const eveThread = (JSON.parse(asEve.text) as { thread: string }).thread;
    const chat = new LocalChat(ab.url, { reader: apiToken(addBob.stdout)! });
    await waitFor(
      async () => (await chat.botTexts('general', eveThread)).find((t) => t.includes('only for agentbridge admins')),
      20_000,
      'the refusal for eve',
    );
    expect((await chat.messages('general', eveThread))[0]!.user).toBe('eve');
    expect(fs.existsSync(workdir)).toBe(false);

    const asAlice = await request(ab.url, {
      method: 'POST',
      path: '/api/local/messages',
      headers: { cookie },
      body: { channel: 'general', text: '/agent workdir pwned' },
    });
    expect(asAlice.status).toBe(202);
    const thread = (JSON.parse(asAlice.text) as { thread: string }).thread;
    await waitFor(
      async () => (await chat.botTexts('general', thread)).find((t) => t.includes(fs.realpathSync(path.join(sb.root, 'workspaces')))),
      20_000,
      'the workdir answer',
    );
    expect(fs.existsSync(workdir)).toBe(true);

    // the SSE stream with the cookie
    const sse = await fetch(`${ab.url}/api/local/events`, { headers: { cookie } });
    expect(sse.status).toBe(200);
    await sse.body!.cancel();

    // bob (--admin, not in AGENTBRIDGE_ADMINS) with his bearer token is an admin too
    const bobToken = apiToken(addBob.stdout)!;
    const asBob = await fetch(`${ab.url}/api/local/messages`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${bobToken}` },
      body: JSON.stringify({ channel: 'general', text: '/agent sessions' }),
    });
    expect(asBob.status).toBe(202);
    const bobThread = ((await asBob.json()) as { thread: string }).thread;
    await waitFor(
      async () => (await chat.botTexts('general', bobThread)).find((t) => !t.includes('only for agentbridge admins') && t.length > 0),
      20_000,
      'the sessions answer',
    );
    expect((await chat.botTexts('general', bobThread)).some((t) => t.includes('only for agentbridge admins'))).toBe(false);
    // a wrong token: 401
    expect((await request(ab.url, { path: '/api/local/me', headers: { authorization: 'Bearer AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA' } })).status).toBe(
      401,
    );

    // removed while running: bob's token stops working at once
    const rm = await runCli(['users', 'remove', 'bob'], e, sb.root);
    expect(rm.code).toBe(0);
    expect((await request(ab.url, { path: '/api/local/me', headers: { authorization: `Bearer ${bobToken}` } })).status).toBe(401);
    expect((await runCli(['users', 'list'], e, sb.root)).stdout).not.toMatch(/^bob/m);

    // none of this reached the model
    expect(model.requests.length).toBe(before);
  });

  it('a non-loopback bind without any user refuses to start (exit 2, says what to run); with a user it starts', async () => {
    const e = env({ AGENTBRIDGE_HTTP_HOST: '0.0.0.0', AGENTBRIDGE_HTTP_PORT: '0' });
    const refused = await runCli(['start'], e, sb.root);
    expect(refused.code).toBe(2);
    expect(refused.stderr).toContain('agentbridge users add NAME --admin');
    expect(refused.stderr).toContain('0.0.0.0');
    expect((await runCli(['users', 'add', 'admin', '--admin'], e, sb.root)).code).toBe(0);
    const ab = await startAgentbridge(e, sb.root);
    running.push(ab);
    // login is required: anonymous requests are refused
    expect((await request(ab.url.replace('0.0.0.0', '127.0.0.1'), { path: '/api/local/me' })).status).toBe(401);
  });
});
