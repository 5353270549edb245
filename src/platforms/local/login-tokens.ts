/**
 * Tokens of the local chat login (Jupyter-style): a login link carries a one-time token, the
 * browser then holds a session token in a cookie, scripts send an API token as
 * `Authorization: Bearer <token>`. Every token is 32 random bytes (`crypto.randomBytes`) written
 * as base64url (43 characters); the database keeps only its SHA-256 (hex), so a copy of the
 * database does not let anyone log in.
 */
import { createHash, randomBytes } from 'node:crypto';

/** How long a login link is valid, in ms (24 h). */
export const LOGIN_LINK_TTL_MS = 24 * 60 * 60 * 1000;
/** How long a browser session (cookie) is valid, in ms (30 days). */
export const SESSION_TTL_MS = 30 * 24 * 60 * 60 * 1000;
/** The session cookie's name. */
export const SESSION_COOKIE = 'agentbridge_session';

/** A local user name: 1–64 characters of letters, digits, `.`, `_`, `-`, starting with a letter or digit (chat id `local:<name>`). */
export const USER_NAME_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;

/** A token's shape (base64url of 32 bytes); anything else is refused before hashing. */
const TOKEN_PATTERN = /^[A-Za-z0-9_-]{43}$/;

/** A new random token (base64url, 43 characters). */
export function newToken(): string {
  return randomBytes(32).toString('base64url');
}

/** Hex SHA-256 of a token: what the database stores. Pure. */
export function hashToken(token: string): string {
  return createHash('sha256').update(token, 'utf8').digest('hex');
}

/** True when `value` has the shape of a token (not whether it is valid). Pure. */
export function looksLikeToken(value: string): boolean {
  return TOKEN_PATTERN.test(value);
}

/** The login link for `token` on `baseUrl` (no trailing slash): `<base>/login?token=<token>`. Pure. */
export function loginLink(baseUrl: string, token: string): string {
  return `${baseUrl.replace(/\/+$/, '')}/login?token=${encodeURIComponent(token)}`;
}
