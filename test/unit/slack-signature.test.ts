/** Slack request signatures (`src/platforms/slack/signature.ts`), checked against an independent HMAC. */
import { createHmac } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { computeSlackSignature, verifySlackSignature } from '../../src/platforms/slack/signature.js';

const secret = '8f742231b10e8888abcd99yyyzzz85a5';
const body = 'token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&api_app_id=A0KRD7HC3';
const now = 1_531_420_618_000;
const ts = '1531420618';

function sign(s: string, t: string, b: string) {
  return `v0=${createHmac('sha256', s).update(`v0:${t}:${b}`).digest('hex')}`;
}

describe('Slack request signature', () => {
  it('computes v0=hex(HMAC-SHA256(secret, "v0:ts:body"))', () => {
    expect(computeSlackSignature(secret, ts, body)).toBe(sign(secret, ts, body));
    expect(computeSlackSignature(secret, ts, Buffer.from(body))).toBe(sign(secret, ts, body));
  });

  it('accepts a correct signature within 5 minutes', () => {
    expect(verifySlackSignature({ signingSecret: secret, timestamp: ts, signature: sign(secret, ts, body), rawBody: body, now })).toEqual({ ok: true });
    expect(verifySlackSignature({ signingSecret: secret, timestamp: ts, signature: sign(secret, ts, body), rawBody: body, now: now + 299_000 })).toEqual({
      ok: true,
    });
  });

  it('rejects a wrong secret, a changed body, a changed timestamp and a truncated signature', () => {
    const good = sign(secret, ts, body);
    const check = (over: Partial<Parameters<typeof verifySlackSignature>[0]>) =>
      verifySlackSignature({ signingSecret: secret, timestamp: ts, signature: good, rawBody: body, now, ...over });
    expect(check({ signature: sign('other', ts, body) })).toEqual({ ok: false, reason: 'bad signature' });
    expect(check({ rawBody: `${body} ` })).toEqual({ ok: false, reason: 'bad signature' });
    expect(check({ timestamp: String(Number(ts) - 1) })).toEqual({ ok: false, reason: 'bad signature' });
    expect(check({ signature: good.slice(0, -2) })).toEqual({ ok: false, reason: 'bad signature' });
    expect(check({ signature: good.replace('v0=', 'v1=') })).toEqual({ ok: false, reason: 'bad signature' });
  });

  it('rejects stale and future timestamps, and missing or malformed headers', () => {
    const good = sign(secret, ts, body);
    const check = (over: Partial<Parameters<typeof verifySlackSignature>[0]>) =>
      verifySlackSignature({ signingSecret: secret, timestamp: ts, signature: good, rawBody: body, now, ...over });
    expect(check({ now: now + 301_000 })).toEqual({ ok: false, reason: 'stale timestamp' });
    expect(check({ now: now - 301_000 })).toEqual({ ok: false, reason: 'stale timestamp' });
    expect(check({ timestamp: undefined })).toEqual({ ok: false, reason: 'missing headers' });
    expect(check({ signature: undefined })).toEqual({ ok: false, reason: 'missing headers' });
    expect(check({ timestamp: '15314206l8' })).toEqual({ ok: false, reason: 'bad timestamp' });
  });
});
