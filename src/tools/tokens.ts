/**
 * Per-turn bearer tokens for agentbridge's MCP server (docs/ARCHITECTURE.md §3, invariant 7: a token names one conversation
 * and one turn, so a turn's tools never reach another conversation).
 *
 * A token is a JWT, HS256, with the claims
 *   `{ iss: "agentbridge", aud: "agentbridge-mcp", sub: <conversationId>, jti: <turnId>,
 *      tgt: <ReplyTarget of the turn>, iat, exp }`   (iat/exp in seconds since the epoch).
 * It is accepted by {@link ToolTokens.verify} only when the signature is good (jose `jwtVerify`,
 * HS256 only), `exp` has not passed, and its turn is still active in this process: `issue()`
 * activates the turn, `revoke()` (at turn end) deactivates it. A restart therefore invalidates
 * every token — turns do not survive a restart either.
 *
 * Signing is synchronous (node:crypto HMAC-SHA256 over the standard JWS compact form) because
 * `TurnToolAccess.grant` is synchronous and jose's signing API is async-only; verification is
 * done by jose, and the unit tests check that jose's own `SignJWT` output and ours interoperate.
 *
 * The secret: 32 random bytes, hex, in `<dataDir>/mcp-secret` (mode 0600), created on first
 * start and reused by later starts.
 */
import { createHmac, randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { errors as joseErrors, jwtVerify } from 'jose';
import type { ReplyTarget } from '../core/messages.js';

/** File name of the signing secret inside the data directory. */
export const SECRET_FILE = 'mcp-secret';
const SECRET_BYTES = 32;
const ISSUER = 'agentbridge';
const AUDIENCE = 'agentbridge-mcp';

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
  /** Active turns: turnId → expiry (ms). */
  private readonly active = new Map<string, number>();
  private readonly now: () => number;

  constructor(
    private readonly secret: Uint8Array,
    opts: { now?: () => number } = {},
  ) {
    if (secret.length < SECRET_BYTES) throw new Error(`the token secret must be at least ${SECRET_BYTES} bytes`);
    this.now = opts.now ?? Date.now;
  }

  /** Opens the secret in `dataDir` (see {@link loadOrCreateSecret}). */
  static open(dataDir: string, opts: { now?: () => number } = {}): ToolTokens {
    return new ToolTokens(loadOrCreateSecret(dataDir), opts);
  }

  /** Signs a token for one turn and marks the turn active until `revoke(turnId)` or expiry. */
  issue(input: IssueInput): string {
    const now = this.now();
    this.prune(now);
    const expiresAt = now + Math.max(1_000, input.ttlMs);
    const payload = {
      iss: ISSUER,
      aud: AUDIENCE,
      sub: input.conversationId,
      jti: input.turnId,
      tgt: input.target,
      iat: Math.floor(now / 1000),
      exp: Math.floor(expiresAt / 1000),
    };
    const signingInput = `${b64url({ alg: 'HS256', typ: 'JWT' })}.${b64url(payload)}`;
    const signature = createHmac('sha256', this.secret).update(signingInput).digest('base64url');
    this.active.set(input.turnId, expiresAt);
    return `${signingInput}.${signature}`;
  }

  /** Ends a turn's access: its tokens are refused from now on. Idempotent. */
  revoke(turnId: string): void {
    this.active.delete(turnId);
  }

  /** Number of active turns (for tests and metrics). */
  activeCount(): number {
    this.prune(this.now());
    return this.active.size;
  }

  /**
   * Checks a token (without the `Bearer ` prefix).
   * @throws TokenError `missing` (empty), `malformed` (not a JWT / wrong claims), `invalid`
   *   (bad signature, other algorithm, issuer or audience), `expired` (past `exp`),
   *   `revoked` (its turn has ended).
   */
  async verify(token: string | undefined): Promise<ToolTokenClaims> {
    if (!token) throw new TokenError('missing');
    let payload: Record<string, unknown>;
    try {
      ({ payload } = await jwtVerify(token, this.secret, {
        algorithms: ['HS256'],
        issuer: ISSUER,
        audience: AUDIENCE,
        requiredClaims: ['sub', 'jti', 'exp'],
        currentDate: new Date(this.now()),
      }));
    } catch (err) {
      if (err instanceof joseErrors.JWTExpired) throw new TokenError('expired');
      if (err instanceof joseErrors.JWSInvalid || err instanceof joseErrors.JWTInvalid) throw new TokenError('malformed');
      throw new TokenError('invalid');
    }
    const { sub, jti, tgt, exp } = payload;
    if (typeof sub !== 'string' || typeof jti !== 'string' || typeof exp !== 'number' || !isTarget(tgt)) throw new TokenError('malformed');
    const activeUntil = this.active.get(jti);
    if (activeUntil === undefined) throw new TokenError('revoked');
    if (activeUntil <= this.now()) {
      this.active.delete(jti);
      throw new TokenError('expired');
    }
    return { conversationId: sub, turnId: jti, target: tgt, expiresAt: exp * 1000 };
  }

  private prune(now: number): void {
    for (const [id, until] of this.active) if (until <= now) this.active.delete(id);
  }
}

function b64url(value: unknown): string {
  return Buffer.from(JSON.stringify(value), 'utf8').toString('base64url');
}

function isTarget(v: unknown): v is ReplyTarget {
  if (!v || typeof v !== 'object') return false;
  const t = v as Record<string, unknown>;
  return typeof t.platform === 'string' && typeof t.channel === 'string' && (t.thread === undefined || typeof t.thread === 'string');
}
