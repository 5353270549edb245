/**
 * Per-turn MCP tokens (src/tools/tokens.ts) and the turn access (src/tools/access.ts): the secret
 * file, issue/verify/revoke, expiry, forgery (another secret, a changed id or expiry, another
 * spelling of the MAC), and the in-memory map of live turn tokens (ended turns, restarts).
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createHmac } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import { ToolAccess } from '../../src/tools/access.js';
import { SECRET_FILE, TOKEN_PREFIX, TokenError, ToolTokens, loadOrCreateSecret } from '../../src/tools/tokens.js';

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) fs.rmSync(d, { recursive: true, force: true });
});
function tmp(): string {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), 'mcp-tokens-'));
  dirs.push(d);
  return d;
}

const target = { platform: 'local' as const, channel: 'general', thread: 't1' };
const secret = new Uint8Array(32).fill(1);

/** `abt1.<id>.<exp>.<mac>` signed with `key` — what someone holding a secret could make. */
function sign(key: Uint8Array, turnId: string, expiresAt: number): string {
  const signed = `${TOKEN_PREFIX}.${Buffer.from(turnId).toString('base64url')}.${expiresAt.toString(36)}`;
  return `${signed}.${createHmac('sha256', key).update(signed).digest('base64url')}`;
}

function refusal(tokens: ToolTokens, token: string | undefined): string {
  try {
    tokens.verify(token);
  } catch (err) {
    expect(err).toBeInstanceOf(TokenError);
    return (err as TokenError).reason;
  }
  throw new Error('token was accepted');
}

describe('the secret file', () => {
  it('is created on first start with 32 random bytes, mode 0600, and reused later', () => {
    const dataDir = path.join(tmp(), 'data');
    const a = loadOrCreateSecret(dataDir);
    const file = path.join(dataDir, SECRET_FILE);
    expect(a).toHaveLength(32);
    expect(fs.statSync(file).mode & 0o777).toBe(0o600);
    expect(Buffer.from(loadOrCreateSecret(dataDir)).equals(Buffer.from(a))).toBe(true);
    expect(Buffer.from(loadOrCreateSecret(tmp())).equals(Buffer.from(a))).toBe(false);
  });

  it('tightens a secret file readable by others, and refuses a file without a valid secret', () => {
    const dataDir = tmp();
    const file = path.join(dataDir, SECRET_FILE);
    loadOrCreateSecret(dataDir);
    fs.chmodSync(file, 0o644);
    loadOrCreateSecret(dataDir);
    expect(fs.statSync(file).mode & 0o777).toBe(0o600);
    fs.writeFileSync(file, 'short');
    expect(() => loadOrCreateSecret(dataDir)).toThrow(/valid secret/);
  });

  it('tokens of a restarted process with the same secret are refused (their turns are gone)', () => {
    const dataDir = tmp();
    const first = ToolTokens.open(dataDir);
    const token = first.issue({ conversationId: 'c1', turnId: 'turn-1', target, ttlMs: 60_000 });
    expect(first.verify(token).conversationId).toBe('c1');
    expect(refusal(ToolTokens.open(dataDir), token)).toBe('revoked');
  });
});

describe('ToolTokens', () => {
  it('issues an opaque token (turn id, expiry, HMAC-SHA256) whose claims come from the map of live tokens', () => {
    const now = 1_800_000_000_000;
    const tokens = new ToolTokens(secret, { now: () => now });
    const token = tokens.issue({ conversationId: 'local:general:t1', turnId: 'turn-1', target, ttlMs: 120_000 });
    // The token carries no conversation or target: only the id, the expiry and the MAC.
    expect(token).toBe(sign(secret, 'turn-1', now + 120_000));
    expect(token).not.toContain(Buffer.from('local:general').toString('base64url'));
    const claims = tokens.verify(token);
    expect(claims).toEqual({ conversationId: 'local:general:t1', turnId: 'turn-1', target, expiresAt: now + 120_000 });
    // A token made with the same secret for the same live turn and expiry is that token.
    expect(tokens.verify(sign(secret, 'turn-1', now + 120_000)).conversationId).toBe('local:general:t1');
    // Lifetimes under 1 s are raised to 1 s.
    expect(tokens.verify(tokens.issue({ conversationId: 'c', turnId: 'short', target, ttlMs: 5 })).expiresAt).toBe(now + 1_000);
    expect(() => tokens.issue({ conversationId: 'c', turnId: '', target, ttlMs: 5 })).toThrow(/turn id/);
  });

  it('refuses missing, malformed, forged and tampered tokens', () => {
    const now = 1_800_000_000_000;
    const tokens = new ToolTokens(secret, { now: () => now });
    const token = tokens.issue({ conversationId: 'c1', turnId: 'turn-1', target, ttlMs: 60_000 });
    tokens.issue({ conversationId: 'c2', turnId: 'turn-2', target, ttlMs: 60_000 });
    expect(refusal(tokens, undefined)).toBe('missing');
    expect(refusal(tokens, '')).toBe('missing');
    expect(refusal(tokens, 'not-a-token')).toBe('malformed');
    expect(refusal(tokens, `${token}.x`)).toBe('malformed');
    expect(refusal(tokens, token.replace(/^abt1/, 'abt2'))).toBe('malformed');

    // Same turn and expiry, another secret.
    const forged = new ToolTokens(new Uint8Array(32).fill(2), { now: () => now }).issue({ conversationId: 'c1', turnId: 'turn-1', target, ttlMs: 60_000 });
    expect(forged).not.toBe(token);
    expect(refusal(tokens, forged)).toBe('invalid');
    expect(refusal(tokens, sign(new Uint8Array(32).fill(2), 'turn-1', now + 60_000))).toBe('invalid');

    // The id changed to another live turn, or the expiry pushed out, MAC kept.
    const [prefix, , exp, mac] = token.split('.') as [string, string, string, string];
    expect(refusal(tokens, `${prefix}.${Buffer.from('turn-2').toString('base64url')}.${exp}.${mac}`)).toBe('invalid');
    expect(refusal(tokens, `${prefix}.${token.split('.')[1]}.${(now + 10 * 60_000).toString(36)}.${mac}`)).toBe('invalid');
    // Another spelling of the same MAC bytes (the last base64url character carries 2 spare bits).
    const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
    const respelled = `${token.slice(0, -1)}${alphabet[alphabet.indexOf(mac.at(-1)!) ^ 1]}`;
    expect(Buffer.from(respelled.split('.')[3]!, 'base64url').equals(Buffer.from(mac, 'base64url'))).toBe(true);
    expect(refusal(tokens, respelled)).toBe('invalid');
    // A wrong MAC of the right length.
    expect(refusal(tokens, token.replace(/[^.]+$/, 'A'.repeat(43)))).toBe('invalid');

    // The genuine token still works.
    expect(tokens.verify(token).conversationId).toBe('c1');
  });

  it('refuses a token after its expiry, and after its turn was revoked; a re-issue replaces the earlier token', () => {
    let now = 1_800_000_000_000;
    const tokens = new ToolTokens(secret, { now: () => now });
    const a = tokens.issue({ conversationId: 'c1', turnId: 'a', target, ttlMs: 10_000 });
    const b = tokens.issue({ conversationId: 'c1', turnId: 'b', target, ttlMs: 10_000 });
    const c = tokens.issue({ conversationId: 'c1', turnId: 'c', target, ttlMs: 60_000 });
    expect(tokens.activeCount()).toBe(3);
    tokens.revoke('b');
    tokens.revoke('b');
    expect(refusal(tokens, b)).toBe('revoked');
    expect(tokens.verify(a).turnId).toBe('a');
    // Genuinely signed for a turn that was never live here (e.g. before a restart): refused.
    expect(refusal(tokens, sign(secret, 'elsewhere', now + 60_000))).toBe('revoked');
    now += 5_000;
    const c2 = tokens.issue({ conversationId: 'c1', turnId: 'c', target, ttlMs: 60_000 });
    expect(refusal(tokens, c)).toBe('revoked');
    expect(tokens.verify(c2).turnId).toBe('c');
    now += 5_001;
    expect(refusal(tokens, a)).toBe('expired');
    expect(tokens.activeCount()).toBe(1);
    // Expired is told apart from revoked even after the entry is gone.
    expect(refusal(tokens, a)).toBe('expired');
    expect(refusal(tokens, sign(secret, 'c', now - 1))).toBe('expired');
  });
});

describe('ToolAccess (TurnToolAccess)', () => {
  it('grants the endpoint URL and a token for the turn; revoke() ends it', () => {
    const tokens = new ToolTokens(secret);
    let base = '';
    const access = new ToolAccess({ tokens, url: () => (base ? `${base}/mcp` : '') });
    expect(() => access.grant({ conversationId: 'c1', replyTarget: target, ttlMs: 60_000 })).toThrow(/not known yet/);
    base = 'http://127.0.0.1:1234';
    const one = access.grant({ conversationId: 'c1', replyTarget: target, ttlMs: 60_000 });
    const two = access.grant({ conversationId: 'c2', replyTarget: { ...target, thread: 't2' }, ttlMs: 60_000 });
    expect(one.url).toBe('http://127.0.0.1:1234/mcp');
    const c1 = tokens.verify(one.token);
    const c2 = tokens.verify(two.token);
    expect(c1).toMatchObject({ conversationId: 'c1', target });
    expect(c2.conversationId).toBe('c2');
    expect(c1.turnId).not.toBe(c2.turnId);
    one.revoke();
    one.revoke();
    expect(refusal(tokens, one.token)).toBe('revoked');
    expect(tokens.verify(two.token).conversationId).toBe('c2');
  });
});
