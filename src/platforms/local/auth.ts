/**
 * Who is writing in the local web chat: identity comes from the server (a login), never from
 * the request body, whenever login is required (see {@link LocalAuth.loginRequired}).
 *
 * Login is Jupyter-style: `agentbridge users add NAME` (or `users link NAME`) prints a one-time
 * link `<base>/login?token=…`; `GET /login` exchanges it for a session cookie
 * (`agentbridge_session`: HttpOnly, SameSite=Strict, Path=/, Secure when AGENTBRIDGE_PUBLIC_URL is
 * https; 30 days) and redirects to `/`. Scripts send `Authorization: Bearer <token>` with a token
 * from `agentbridge users token NAME`. `POST /logout` ends the browser session. Tokens: see
 * `./login-tokens.ts` (only their SHA-256 is stored).
 *
 * Routes registered by {@link LocalAuth.registerRoutes}:
 * | Route | Answer |
 * |---|---|
 * | `GET /login?token=T` | 303 to `/` with the session cookie; 400 HTML page saying what to do for an unknown, used or expired link |
 * | `POST /logout` | 200 `{ok: true}`, the session is deleted and the cookie cleared |
 * | `GET /api/local/me` | 200 `{user: name \| null, admin, loginRequired}`; 401 `{error}` when login is required and there is none |
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AccessConfig } from '../../core/config.js';
import { isLoopbackBind } from '../../http/hosts.js';
import { HttpError, sendJson } from '../../http/json.js';
import type { HttpServer } from '../../http/server.js';
import type { Logger } from '../../logger.js';
import type { LocalUserRow, LocalUsersRepo } from '../../store/types.js';
import { SESSION_COOKIE, SESSION_TTL_MS, hashToken, looksLikeToken, newToken } from './login-tokens.js';

/** What a 401 tells the client to do. */
export const LOGIN_HELP =
  'login required: open the login link printed by `agentbridge users add NAME` or `agentbridge users link NAME` (run where agentbridge runs), ' +
  'or send Authorization: Bearer <token from `agentbridge users token NAME`>';

/**
 * True when the configuration alone requires login: AGENTBRIDGE_ADMINS or
 * AGENTBRIDGE_ALLOWED_USERS names a `local:` user, or the server binds a non-loopback address
 * (AGENTBRIDGE_HTTP_HOST). Pure.
 */
export function loginRequiredByConfig(config: { access: AccessConfig; http: { host: string } }): boolean {
  const namesLocal = [...config.access.admins, ...config.access.allowedUsers].some((id) => id.startsWith('local:'));
  return namesLocal || !isLoopbackBind(config.http.host);
}

/** The value of cookie `name` in a Cookie header, or undefined. Pure. */
export function readCookie(header: string | undefined, name: string): string | undefined {
  if (!header) return undefined;
  for (const part of header.split(';')) {
    const i = part.indexOf('=');
    if (i < 0) continue;
    if (part.slice(0, i).trim() === name) return part.slice(i + 1).trim();
  }
  return undefined;
}

export interface LocalAuthOptions {
  users: LocalUsersRepo;
  /** {@link loginRequiredByConfig} of the running configuration. */
  requiredByConfig: boolean;
  /** Set the cookie's Secure attribute (AGENTBRIDGE_PUBLIC_URL is https). */
  secureCookie: boolean;
  logger: Logger;
}

export class LocalAuth {
  private readonly users: LocalUsersRepo;
  private readonly logger: Logger;

  constructor(private readonly options: LocalAuthOptions) {
    this.users = options.users;
    this.logger = options.logger;
  }

  /**
   * True when every request of the local chat API needs a login: the configuration requires it
   * ({@link loginRequiredByConfig}) or any local user exists in the database (checked per call,
   * so users added with the CLI while agentbridge runs count at once). Rejects on a store error.
   */
  async loginRequired(): Promise<boolean> {
    return this.options.requiredByConfig || (await this.users.count()) > 0;
  }

  /**
   * The logged-in user of a request: from `Authorization: Bearer <api or session token>`, else
   * the session cookie. Resolves to null for an anonymous request when login is not required.
   * Rejects with HttpError 401 for a bearer token that is not valid (always), or a request without
   * a valid login when login is required; with the store's error when it cannot be read.
   */
  async identify(req: IncomingMessage): Promise<LocalUserRow | null> {
    const authorization = req.headers.authorization;
    if (authorization !== undefined) {
      const m = /^Bearer[ \t]+(\S+)[ \t]*$/i.exec(authorization);
      const token = m?.[1];
      const user = token && looksLikeToken(token) ? await this.users.findToken(hashToken(token), ['api', 'session']) : undefined;
      if (!user) throw unauthorized('the bearer token is not valid (unknown, revoked or expired); get a new one with `agentbridge users token NAME`');
      return user;
    }
    const cookie = readCookie(req.headers.cookie, SESSION_COOKIE);
    if (cookie && looksLikeToken(cookie)) {
      const user = await this.users.findToken(hashToken(cookie), ['session']);
      if (user) return user;
    }
    if (await this.loginRequired()) throw unauthorized(LOGIN_HELP);
    return null;
  }

  /** Registers `GET /login`, `POST /logout` and `GET /api/local/me` (see the module comment). */
  registerRoutes(http: HttpServer): void {
    http.route('GET', '/login', async (_req, res, _params, url) => {
      const token = url.searchParams.get('token') ?? '';
      const user = looksLikeToken(token) ? await this.users.consumeLink(hashToken(token)) : undefined;
      if (!user) {
        this.logger.info('local chat: a login link was refused (unknown, used or expired)');
        sendLoginProblemPage(res);
        return;
      }
      await this.users.purgeExpired();
      const session = newToken();
      await this.users.addToken({ hash: hashToken(session), user: user.name, kind: 'session', expiresAt: Date.now() + SESSION_TTL_MS });
      this.logger.info({ user: user.name }, 'local chat: logged in with a login link');
      res.writeHead(303, {
        location: '/',
        'set-cookie': this.cookie(session, Math.floor(SESSION_TTL_MS / 1000)),
        'cache-control': 'no-store',
        'referrer-policy': 'no-referrer',
        'content-length': 0,
      });
      res.end();
    });

    http.route('POST', '/logout', async (req, res) => {
      const cookie = readCookie(req.headers.cookie, SESSION_COOKIE);
      if (cookie && looksLikeToken(cookie) && (await this.users.deleteToken(hashToken(cookie)))) this.logger.info('local chat: logged out');
      sendJson(res, 200, { ok: true }, { 'set-cookie': this.cookie('', 0) });
    });

    http.route('GET', '/api/local/me', async (req, res) => {
      const user = await this.identify(req);
      sendJson(res, 200, { user: user?.name ?? null, admin: user?.admin ?? false, loginRequired: await this.loginRequired() });
    });
  }

  private cookie(value: string, maxAgeS: number): string {
    return `${SESSION_COOKIE}=${value}; Path=/; HttpOnly; SameSite=Strict; Max-Age=${maxAgeS}${this.options.secureCookie ? '; Secure' : ''}`;
  }
}

function unauthorized(message: string): HttpError {
  return new HttpError(401, message, { 'www-authenticate': 'Bearer realm="agentbridge"' });
}

const PROBLEM_PAGE = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>Login link not valid — agentbridge</title></head>
<body style="font-family: system-ui, sans-serif; max-width: 40rem; margin: 3rem auto; padding: 0 1rem; line-height: 1.5">
<h1>This login link does not work</h1>
<p>It is unknown, was already used, or has expired (links work once, for 24 hours).</p>
<p>Get a new one: on the machine where agentbridge runs, run</p>
<pre style="background:#f0f2f6; padding: .6rem 1rem">agentbridge users link NAME</pre>
<p>with your user name (<code>agentbridge users list</code> shows them), and open the link it prints.</p>
</body></html>
`;

function sendLoginProblemPage(res: ServerResponse): void {
  res.writeHead(400, {
    'content-type': 'text/html; charset=utf-8',
    'content-length': Buffer.byteLength(PROBLEM_PAGE),
    'content-security-policy': "default-src 'none'; style-src 'unsafe-inline'",
    'cache-control': 'no-store',
    'referrer-policy': 'no-referrer',
    'x-content-type-options': 'nosniff',
  });
  res.end(PROBLEM_PAGE);
}
