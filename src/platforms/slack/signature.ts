/**
 * Verifying Slack's request signature on the Events API over HTTP. Pure, no I/O.
 *
 * Slack rule (https://api.slack.com/authentication/verifying-requests-from-slack, and
 * docs/ARCHITECTURE.md §7; verified by test/unit/slack-signature.test.ts):
 * - every request carries `X-Slack-Request-Timestamp` (Unix seconds) and
 *   `X-Slack-Signature: v0=<hex>` where `<hex>` is HMAC-SHA256 keyed with the app's signing
 *   secret over the base string `v0:<timestamp>:<raw request body>` (the bytes as sent, before
 *   any parsing);
 * - a timestamp more than 5 minutes away from now is rejected (replay protection);
 * - the comparison must be constant-time.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';

/** Requests whose timestamp is further than this from now are rejected, in seconds (Slack: 5 minutes). */
export const MAX_SIGNATURE_AGE_S = 5 * 60;

export interface SignatureInput {
  /** The app's signing secret. */
  signingSecret: string;
  /** Value of `X-Slack-Request-Timestamp` (Unix seconds as text), or undefined when missing. */
  timestamp: string | undefined;
  /** Value of `X-Slack-Signature` (`v0=<64 hex chars>`), or undefined when missing. */
  signature: string | undefined;
  /** The raw request body, exactly as received. */
  rawBody: Buffer | string;
  /** Current time, ms since the epoch (default `Date.now()`). */
  now?: number;
}

/** Why a request was rejected (logged; never contains the secret or the signature). */
export type SignatureFailure = 'missing headers' | 'bad timestamp' | 'stale timestamp' | 'bad signature';

export type SignatureResult = { ok: true } | { ok: false; reason: SignatureFailure };

/** `v0=` + hex HMAC-SHA256(secret, `v0:<timestamp>:<body>`): the signature Slack would send. */
export function computeSlackSignature(signingSecret: string, timestamp: string, rawBody: Buffer | string): string {
  const hmac = createHmac('sha256', signingSecret);
  hmac.update(`v0:${timestamp}:`);
  hmac.update(rawBody);
  return `v0=${hmac.digest('hex')}`;
}

/** Checks a request's signature and timestamp (see the module doc). */
export function verifySlackSignature(input: SignatureInput): SignatureResult {
  const { timestamp, signature } = input;
  if (!timestamp || !signature) return { ok: false, reason: 'missing headers' };
  if (!/^\d{1,12}$/.test(timestamp.trim())) return { ok: false, reason: 'bad timestamp' };
  const nowS = Math.floor((input.now ?? Date.now()) / 1000);
  if (Math.abs(nowS - Number(timestamp.trim())) > MAX_SIGNATURE_AGE_S) return { ok: false, reason: 'stale timestamp' };
  const expected = Buffer.from(computeSlackSignature(input.signingSecret, timestamp.trim(), input.rawBody), 'utf8');
  const given = Buffer.from(signature.trim(), 'utf8');
  if (given.length !== expected.length || !timingSafeEqual(given, expected)) return { ok: false, reason: 'bad signature' };
  return { ok: true };
}
