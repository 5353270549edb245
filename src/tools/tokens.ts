/**
 * Per-turn bearer tokens for agentbridge's MCP server (docs/ARCHITECTURE.md §1.4 and §3, invariant
 * 7: a token names one conversation and one turn, so a turn's tools never reach another
 * conversation).
 *
 * A token is opaque to its holder: `abt1.<id>.<exp>.<mac>` where
 * - `id` is the turn id, base64url (UTF-8);
 * - `exp` is the expiry, ms since the epoch, base 36;
 * - `mac` is HMAC-SHA256 (node:crypto, secret below) over `abt1.<id>.<exp>`, base64url (43 chars).
 * The claims (conversation, reply target) are not in the token: they live in this process's map
 * of live turn tokens (turn id → claims + expiry), filled by `issue()` and emptied by `revoke()`
 * (turn end / live session closed) and by expiry. {@link ToolTokens.verify} checks, synchronously
 * and without any JSON parsing: the shape, the MAC (`timingSafeEqual`), `exp`, then the map.
 * A restart therefore invalidates every token (the map is empty) — turns do not survive a restart
 * either: a re-run turn, and every live session a new process opens, get a new grant.
 *
 * The secret: 32 random bytes, hex, in `<dataDir>/mcp-secret` (mode 0600), created on first
 * start and reused by later starts.
 */
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import type { ReplyTarget } from '../core/messages.js';

/** File name of the signing secret inside the data directory. */
export const SECRET_FILE = 'mcp-secret';
const SECRET_BYTES = 32;
/** Token prefix and format version; also what a log scan looks for. */
export const TOKEN_PREFIX = 'abt1';
/** `abt1.<id>.<exp>.<mac>`: base64url id (≤ 256 chars), base-36 expiry, 43-char base64url MAC. */
const TOKEN_SHAPE = /^abt1\.([\w-]{1,256})\.([0-9a-z]{1,12})\.([\w-]{43})$/;

/** What a valid token grants. */
export interface ToolTokenClaims {
  conversationId: string;
  turnId: string;
  /** Where the turn answers (post_message posts here). */
  target: ReplyTarget;
  /** Expiry, ms since the epoch. */
  expiresAt: number;
}

/** Why a token was refused; every reason maps to HTTP 401. */
export type TokenRefusal = 'missing' | 'malformed' | 'invalid' | 'expired' | 'revoked';

export class TokenError extends Error {
  override readonly name = 'TokenError';
  constructor(readonly reason: TokenRefusal) {
    super(`unauthorized: ${reason === 'missing' ? 'no bearer token' : `token ${reason}`}`);
  }
}

export interface IssueInput {
  conversationId: string;
  turnId: string;
  target: ReplyTarget;
  /** Lifetime in ms (≥ 1000; shorter values are raised to 1 s). */
  ttlMs: number;
}

/**
 * Reads `<dataDir>/mcp-secret`, or creates it (32 random bytes as hex, mode 0600) when missing.
 * A secret file readable by others is tightened to 0600.
 * @throws Error when the file exists but does not hold at least 32 bytes of hex, or on I/O errors.
 */
export function loadOrCreateSecret(dataDir: string): Uint8Array {
  fs.mkdirSync(dataDir, { recursive: true });
  const file = path.join(dataDir, SECRET_FILE);
  try {
    fs.writeFileSync(file, `${randomBytes(SECRET_BYTES).toString('hex')}\n`, { mode: 0o600, flag: 'wx' });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
  }
  if ((fs.statSync(file).mode & 0o077) !== 0) fs.chmodSync(file, 0o600);
  const hex = fs.readFileSync(file, 'utf8').trim();
  if (!/^[0-9a-f]+$/i.test(hex) || hex.length < SECRET_BYTES * 2 || hex.length % 2 !== 0) {
    throw new Error(`${file} does not hold a valid secret (expected ${SECRET_BYTES * 2}+ hex characters); delete it to generate a new one`);
  }
  return new Uint8Array(Buffer.from(hex, 'hex'));
}

/** Issues, verifies and revokes per-turn tokens. One instance per process. */
export class ToolTokens {
  /** Live turn tokens: turnId → claims (with `expiresAt`, ms). */
  private readonly live = new Map<string, ToolTokenClaims>();
  private readonly key: Buffer;
  private readonly now: () => number;
  /** Next time (ms) {@link prune} has work to do at the earliest. */
  private nextExpiry = Infinity;

  constructor(secret: Uint8Array, opts: { now?: () => number } = {}) {
    if (secret.length < SECRET_BYTES) throw new Error(`the token secret must be at least ${SECRET_BYTES} bytes`);
    this.key = Buffer.from(secret);
    this.now = opts.now ?? Date.now;
  }

  /** Opens the secret in `dataDir` (see {@link loadOrCreateSecret}). */
  static open(dataDir: string, opts: { now?: () => number } = {}): ToolTokens {
    return new ToolTokens(loadOrCreateSecret(dataDir), opts);
  }

  /**
   * Makes a token for one turn and records the turn live until `revoke(turnId)` or expiry. Issuing
   * again for the same `turnId` replaces its entry: the earlier token is refused (`revoked`).
   * @returns the token, `abt1.<id>.<exp>.<mac>` (ASCII; ~110 chars for a UUID turn id).
   * @throws Error when `turnId` is empty or longer than 192 bytes (UTF-8).
   */
  issue(input: IssueInput): string {
    const id = Buffer.from(input.turnId, 'utf8');
    if (id.length === 0 || id.length > 192) throw new Error('a turn id must be 1–192 bytes');
    const now = this.now();
    this.prune(now);
    const expiresAt = now + Math.max(1_000, input.ttlMs);
    const signed = `${TOKEN_PREFIX}.${id.toString('base64url')}.${expiresAt.toString(36)}`;
    this.live.set(input.turnId, { conversationId: input.conversationId, turnId: input.turnId, target: input.target, expiresAt });
    this.nextExpiry = Math.min(this.nextExpiry, expiresAt);
    return `${signed}.${this.mac(signed)}`;
  }

  /** Ends a turn's access: its tokens are refused from now on. Idempotent. */
  revoke(turnId: string): void {
    this.live.delete(turnId);
  }

  /** Number of live turn tokens (for tests and metrics). */
  activeCount(): number {
    this.prune(this.now());
    return this.live.size;
  }

  /**
   * Checks a token (without the `Bearer ` prefix). Synchronous: one HMAC and a map lookup.
   * @returns the claims recorded at `issue()` (a fresh object; `expiresAt` in ms).
   * @throws TokenError `missing` (empty), `malformed` (not of the token's shape), `invalid`
   *   (MAC does not match: another secret, or a changed id/expiry), `expired` (past its expiry),
   *   `revoked` (not a live turn token of this process: its turn ended, its session closed, or
   *   it is from before a restart).
   */
  verify(token: string | undefined): ToolTokenClaims {
    if (!token) throw new TokenError('missing');
    const m = TOKEN_SHAPE.exec(token);
    if (!m) throw new TokenError('malformed');
    const [, id, exp, mac] = m as unknown as [string, string, string, string];
    // Compared as text (both 43 ASCII chars), so no other spelling of the same bytes passes.
    const expected = Buffer.from(this.mac(token.slice(0, token.length - mac.length - 1)), 'latin1');
    if (!timingSafeEqual(Buffer.from(mac, 'latin1'), expected)) throw new TokenError('invalid');
    const expiresAt = parseInt(exp, 36);
    const now = this.now();
    if (expiresAt <= now) {
      this.prune(now);
      throw new TokenError('expired');
    }
    const live = this.live.get(Buffer.from(id, 'base64url').toString('utf8'));
    if (!live || live.expiresAt !== expiresAt) throw new TokenError('revoked');
    return { ...live };
  }

  /** HMAC-SHA256 of `signed` with the secret, base64url (43 chars). */
  private mac(signed: string): string {
    return createHmac('sha256', this.key).update(signed).digest('base64url');
  }

  /** Drops expired entries; a no-op until the earliest recorded expiry has passed. */
  private prune(now: number): void {
    if (now < this.nextExpiry) return;
    let next = Infinity;
    for (const [id, claims] of this.live) {
      if (claims.expiresAt <= now) this.live.delete(id);
      else next = Math.min(next, claims.expiresAt);
    }
    this.nextExpiry = next;
  }
}
