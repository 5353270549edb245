/**
 * Per-turn MCP tokens (src/tools/tokens.ts) and the turn access (src/tools/access.ts): the secret
 * file, issue/verify/revoke, expiry, forgery, and interoperability with jose's own SignJWT.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { SignJWT, decodeJwt, decodeProtectedHeader } from 'jose';
import { afterEach, describe, expect, it } from 'vitest';
import { ToolAccess } from '../../src/tools/access.js';
import { SECRET_FILE, TokenError, ToolTokens, loadOrCreateSecret } from '../../src/tools/tokens.js';

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

async function refusal(tokens: ToolTokens, token: string | undefined): Promise<string> {
  try {
    await tokens.verify(token);
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

  it('tokens of a restarted process with the same secret are refused (their turns are gone)', async () => {
    const dataDir = tmp();
    const first = ToolTokens.open(dataDir);
    const token = first.issue({ conversationId: 'c1', turnId: 'turn-1', target, ttlMs: 60_000 });
    expect((await first.verify(token)).conversationId).toBe('c1');
    expect(await refusal(ToolTokens.open(dataDir), token)).toBe('revoked');
  });
});

describe('ToolTokens', () => {
  it('issues an HS256 JWT naming the conversation and the turn, verified back to its claims', async () => {
    const tokens = new ToolTokens(secret);
    const token = tokens.issue({ conversationId: 'local:general:t1', turnId: 'turn-1', target, ttlMs: 120_000 });
    expect(decodeProtectedHeader(token)).toEqual({ alg: 'HS256', typ: 'JWT' });
    const payload = decodeJwt(token);
    expect(payload).toMatchObject({ iss: 'agentbridge', aud: 'agentbridge-mcp', sub: 'local:general:t1', jti: 'turn-1', tgt: target });
    expect(payload.exp! - payload.iat!).toBe(120);
    const claims = await tokens.verify(token);
    expect(claims).toMatchObject({ conversationId: 'local:general:t1', turnId: 'turn-1', target });
    expect(claims.expiresAt).toBe(payload.exp! * 1000);
  });

  it('accepts a token jose itself signed with the same secret and claims (interoperability)', async () => {
    const tokens = new ToolTokens(secret);
    tokens.issue({ conversationId: 'c1', turnId: 'turn-2', target, ttlMs: 60_000 });
    const joseToken = await new SignJWT({ tgt: target })
      .setProtectedHeader({ alg: 'HS256' })
      .setIssuer('agentbridge')
      .setAudience('agentbridge-mcp')
      .setSubject('c1')
      .setJti('turn-2')
      .setIssuedAt()
      .setExpirationTime('1m')
      .sign(secret);
    expect((await tokens.verify(joseToken)).turnId).toBe('turn-2');
  });

  it('refuses missing, malformed, forged, tampered and foreign-algorithm tokens', async () => {
    const tokens = new ToolTokens(secret);
    const token = tokens.issue({ conversationId: 'c1', turnId: 'turn-1', target, ttlMs: 60_000 });
    expect(await refusal(tokens, undefined)).toBe('missing');
    expect(await refusal(tokens, '')).toBe('missing');
    expect(await refusal(tokens, 'not-a-jwt')).toBe('malformed');

    // Same claims, another secret.
    const forged = new ToolTokens(new Uint8Array(32).fill(2)).issue({ conversationId: 'c1', turnId: 'turn-1', target, ttlMs: 60_000 });
    expect(await refusal(tokens, forged)).toBe('invalid');

    // Payload changed to another conversation, signature kept.
    const [h, p, s] = token.split('.') as [string, string, string];
    const other = Buffer.from(JSON.stringify({ ...JSON.parse(Buffer.from(p, 'base64url').toString()), sub: 'c2' })).toString('base64url');
    expect(await refusal(tokens, `${h}.${other}.${s}`)).toBe('invalid');

    // alg "none" and HS512 are not accepted.
    const none = `${Buffer.from('{"alg":"none"}').toString('base64url')}.${p}.`;
    expect(['invalid', 'malformed']).toContain(await refusal(tokens, none));
    const hs512 = await new SignJWT({ tgt: target })
      .setProtectedHeader({ alg: 'HS512' })
      .setIssuer('agentbridge')
      .setAudience('agentbridge-mcp')
      .setSubject('c1')
      .setJti('turn-1')
      .setExpirationTime('1m')
      .sign(new Uint8Array(64).fill(1));
    expect(await refusal(tokens, hs512)).toBe('invalid');

    // Right secret, wrong audience.
    const aud = await new SignJWT({ tgt: target })
      .setProtectedHeader({ alg: 'HS256' })
      .setIssuer('agentbridge')
      .setAudience('elsewhere')
      .setSubject('c1')
      .setJti('turn-1')
      .setExpirationTime('1m')
      .sign(secret);
    expect(await refusal(tokens, aud)).toBe('invalid');

    // The genuine token still works.
    expect((await tokens.verify(token)).conversationId).toBe('c1');
  });

  it('refuses a token after exp, and after its turn was revoked', async () => {
    let now = 1_800_000_000_000;
    const tokens = new ToolTokens(secret, { now: () => now });
    const a = tokens.issue({ conversationId: 'c1', turnId: 'a', target, ttlMs: 10_000 });
    const b = tokens.issue({ conversationId: 'c1', turnId: 'b', target, ttlMs: 10_000 });
    expect(tokens.activeCount()).toBe(2);
    tokens.revoke('b');
    expect(await refusal(tokens, b)).toBe('revoked');
    expect((await tokens.verify(a)).turnId).toBe('a');
    now += 10_001;
    expect(await refusal(tokens, a)).toBe('expired');
    expect(tokens.activeCount()).toBe(0);
  });
});

describe('ToolAccess (TurnToolAccess)', () => {
  it('grants the endpoint URL and a token for the turn; revoke() ends it', async () => {
    const tokens = new ToolTokens(secret);
    let base = '';
    const access = new ToolAccess({ tokens, url: () => (base ? `${base}/mcp` : '') });
    expect(() => access.grant({ conversationId: 'c1', replyTarget: target, ttlMs: 60_000 })).toThrow(/not known yet/);
    base = 'http://127.0.0.1:1234';
    const one = access.grant({ conversationId: 'c1', replyTarget: target, ttlMs: 60_000 });
    const two = access.grant({ conversationId: 'c2', replyTarget: { ...target, thread: 't2' }, ttlMs: 60_000 });
    expect(one.url).toBe('http://127.0.0.1:1234/mcp');
    const c1 = await tokens.verify(one.token);
    const c2 = await tokens.verify(two.token);
    expect(c1).toMatchObject({ conversationId: 'c1', target });
    expect(c2.conversationId).toBe('c2');
    expect(c1.turnId).not.toBe(c2.turnId);
    one.revoke();
    one.revoke();
    expect(await refusal(tokens, one.token)).toBe('revoked');
    expect((await tokens.verify(two.token)).conversationId).toBe('c2');
  });
});
