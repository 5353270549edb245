/**
 * Pure parts of the local chat security: Host names, loopback binds, AGENTBRIDGE_PUBLIC_URL,
 * cookies, extra admins in the access policy, the start refusal.
 */
import type { IncomingMessage } from 'node:http';
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { StartRefusedError, assertLocalLoginPossible } from '../../src/app.js';
import { loadConfig } from '../../src/config.js';
import { AccessPolicy } from '../../src/conversation/access.js';
import { HOST_CHECK_EXEMPT_PATHS, HostAllowList, hostnameOf, isLoopbackBind } from '../../src/http/hosts.js';
import { SLACK_COMMANDS_PATH, SLACK_EVENTS_PATH, SLACK_INTERACTIONS_PATH } from '../../src/platforms/slack/http-events.js';
import { hostCheckExemptPaths } from '../../src/platforms/registry.js';
import { MCP_PATH } from '../../src/tools/mcp-server.js';
import { readCookie } from '../../src/platforms/local/auth.js';
import { hashToken, loginLink, looksLikeToken, newToken } from '../../src/platforms/local/login-tokens.js';

describe('host names', () => {
  it('reads the host name of a Host header, lower-case; malformed values are undefined', () => {
    expect(hostnameOf('LocalHost:8080')).toBe('localhost');
    expect(hostnameOf('[::1]:80')).toBe('[::1]');
    expect(hostnameOf('127.0.0.1')).toBe('127.0.0.1');
    for (const bad of ['', 'a b', 'evil.example/x', 'user@localhost', 'localhost:notaport']) expect(hostnameOf(bad), bad).toBeUndefined();
  });

  it('allows loopback names and the public URL host (any port); origins must be http(s) on those hosts', () => {
    const plain = new HostAllowList();
    expect(plain.allowsHost('localhost:1')).toBe(true);
    expect(plain.allowsHost('127.0.0.1:8080')).toBe(true);
    expect(plain.allowsHost('[::1]:8080')).toBe(true);
    expect(plain.allowsHost('127.0.0.2:8080')).toBe(false);
    expect(plain.allowsHost('evil.example:8080')).toBe(false);
    expect(plain.allowsHost('localhost.evil.example')).toBe(false);
    expect(plain.allowsHost(undefined)).toBe(false);
    expect(plain.allowsOrigin('http://localhost:3000')).toBe(true);
    expect(plain.allowsOrigin('null')).toBe(false);
    expect(plain.allowsOrigin('file://localhost')).toBe(false);
    const pub = new HostAllowList('https://Chat.Example.com');
    expect(pub.allowsHost('chat.example.com')).toBe(true);
    expect(pub.allowsOrigin('https://chat.example.com')).toBe(true);
    expect(pub.allowsHost('example.com')).toBe(false);
  });

  it('exempts exactly the routes that authenticate otherwise (Slack signature, MCP bearer) and the probes', () => {
    expect([...HOST_CHECK_EXEMPT_PATHS, ...hostCheckExemptPaths()].sort()).toEqual(
      [SLACK_EVENTS_PATH, SLACK_COMMANDS_PATH, SLACK_INTERACTIONS_PATH, MCP_PATH, '/healthz', '/metrics'].sort(),
    );
    const hosts = new HostAllowList(undefined, hostCheckExemptPaths());
    const from = (host: string) => ({ headers: { host } }) as IncomingMessage;
    for (const p of [SLACK_EVENTS_PATH, SLACK_COMMANDS_PATH, SLACK_INTERACTIONS_PATH, MCP_PATH, '/healthz', '/metrics'])
      expect(hosts.refusal(from('evil.example:8080'), p), p).toBeUndefined();
    expect(hosts.refusal(from('evil.example:8080'), '/api/local/messages')).toMatch(/not served/);
  });

  it('knows loopback binds', () => {
    for (const h of ['127.0.0.1', 'localhost', '::1', '[::1]', '127.1.2.3']) expect(isLoopbackBind(h), h).toBe(true);
    for (const h of ['0.0.0.0', '::', '192.168.1.5', 'myhost', '128.0.0.1']) expect(isLoopbackBind(h), h).toBe(false);
  });
});

describe('configuration', () => {
  it('AGENTBRIDGE_PUBLIC_URL must be an http(s) URL without query or fragment; the trailing slash is dropped', () => {
    expect(loadConfig({ AGENTBRIDGE_PUBLIC_URL: 'https://chat.example.com/' }).publicUrl).toBe('https://chat.example.com');
    expect(loadConfig({}).publicUrl).toBeUndefined();
    for (const bad of ['chat.example.com', 'ftp://x', 'https://x/?a=1', 'https://x/#f', 'https://u:p@x']) {
      expect(() => loadConfig({ AGENTBRIDGE_PUBLIC_URL: bad }), bad).toThrow(/AGENTBRIDGE_PUBLIC_URL: .*must be an http\(s\) URL/);
    }
  });

  it('a local chat on a non-loopback address without users refuses to start, naming what to run', () => {
    const c = loadConfig({ AGENTBRIDGE_HTTP_HOST: '0.0.0.0' });
    expect(() => assertLocalLoginPossible(c, 0)).toThrow(StartRefusedError);
    expect(() => assertLocalLoginPossible(c, 0)).toThrow(/agentbridge users add NAME --admin/);
    expect(() => assertLocalLoginPossible(c, 1)).not.toThrow();
    expect(() => assertLocalLoginPossible(loadConfig({}), 0)).not.toThrow();
    expect(() => assertLocalLoginPossible(loadConfig({ AGENTBRIDGE_HTTP_HOST: '0.0.0.0', AGENTBRIDGE_LOCAL_CHAT: 'off' }), 0)).not.toThrow();
  });
});

describe('tokens and cookies', () => {
  it('tokens are 43 base64url characters, distinct, hashed with SHA-256 (hex)', () => {
    const a = newToken();
    expect(looksLikeToken(a)).toBe(true);
    expect(newToken()).not.toBe(a);
    expect(hashToken(a)).toMatch(/^[0-9a-f]{64}$/);
    expect(hashToken(a)).not.toContain(a);
    expect(looksLikeToken('x')).toBe(false);
    expect(loginLink('https://c.example/', a)).toBe(`https://c.example/login?token=${a}`);
  });

  it('reads one cookie from a Cookie header', () => {
    expect(readCookie('a=1; agentbridge_session=XYZ; b=2', 'agentbridge_session')).toBe('XYZ');
    expect(readCookie('agentbridge_sessionx=1', 'agentbridge_session')).toBeUndefined();
    expect(readCookie(undefined, 'agentbridge_session')).toBeUndefined();
  });
});

describe('extra admins', () => {
  it('the access policy asks the extra-admin function (local --admin users) besides AGENTBRIDGE_ADMINS', async () => {
    const p = new AccessPolicy(
      { admins: ['slack:U1'], allowedUsers: ['local:carol'], allowedChannels: [] },
      pino({ level: 'silent' }),
      async (id) => id === 'local:bob',
    );
    expect(await p.isAdmin('slack', 'U1')).toBe(true);
    expect(await p.isAdmin('local', 'bob')).toBe(true);
    expect(await p.isAdmin('local', 'alice')).toBe(false);
    expect(await p.decide({ platform: 'local', userId: 'bob', channel: 'general' })).toEqual({ allowed: true, admin: true });
    expect(await p.decide({ platform: 'local', userId: 'alice', channel: 'general' })).toEqual({ allowed: false, admin: false, reason: 'user' });
  });
});
