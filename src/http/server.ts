/**
 * agentbridge's one HTTP server (node:http), shared by every part that serves HTTP: the local
 * chat page and API, the Slack Events endpoint, the MCP endpoint, /healthz, /metrics.
 *
 * A tiny router: a route is a method plus a path pattern of exact segments and `:param`
 * segments (`/api/things/:id`). The first registered route that matches wins. Responses for
 * problems are JSON `{ "error": string }`:
 * - no route for the path → 404; path known but not for this method → 405 (with `Allow`);
 * - a handler throws an {@link HttpError} → its status and message;
 * - a handler throws anything else → 500 "internal error" (logged with the error; the server keeps serving).
 *
 * Long-lived responses (Server-Sent Events: headers sent, body still open) are ended by `close()`.
 *
 * Before routing, every request passes the Host allow-list (`./hosts.ts`, DNS-rebinding defence):
 * a Host — or, when present, an Origin — outside it gets 403 `{error}` and is logged at warn;
 * the exempt paths (Slack, /mcp, /healthz, /metrics) are served whatever the Host.
 */
import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Logger } from '../logger.js';
import { HostAllowList } from './hosts.js';
import { HttpError, sendJson } from './json.js';

/** Path parameters by name, already percent-decoded. */
export type RouteParams = Record<string, string>;

/**
 * Handles one request. `url` is the parsed request URL (use `url.searchParams` for the query).
 * May be async; a rejection is treated like a throw.
 */
export type RouteHandler = (req: IncomingMessage, res: ServerResponse, params: RouteParams, url: URL) => unknown;

export type HttpMethod = 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE' | 'HEAD' | 'OPTIONS';

export interface HttpServerOptions {
  /** Interface to bind, e.g. `127.0.0.1`. */
  host: string;
  /** Port to bind; 0 picks a free one. */
  port: number;
  logger: Logger;
  /** Host names served (default: loopback names only). */
  hosts?: HostAllowList;
}

export interface ListenResult {
  /** Base URL without a trailing slash, e.g. `http://127.0.0.1:8080`. */
  url: string;
  port: number;
}

export interface HttpServer {
  /**
   * Registers a handler. `pathPattern` starts with `/`; segments starting with `:` capture one
   * path segment (e.g. `/api/local/threads/:id`). Routes may be added before or after `listen()`.
   * @throws Error for a pattern that does not start with `/` or a duplicate method+pattern.
   */
  route(method: HttpMethod, pathPattern: string, handler: RouteHandler): void;
  /** Starts listening; resolves with the bound URL and port. @throws on bind errors (e.g. EADDRINUSE). */
  listen(): Promise<ListenResult>;
  /**
   * Stops accepting connections, ends open streaming responses (SSE), closes idle keep-alive connections
   * and resolves once the server is closed (connections still busy after 2 s are destroyed).
   */
  close(): Promise<void>;
}

interface Route {
  method: HttpMethod;
  pattern: string;
  /** Literal segment, or `{ param }` for a `:param` segment. */
  segments: Array<string | { param: string }>;
  handler: RouteHandler;
}

/** How long `close()` waits for busy connections before destroying them, in ms. */
const CLOSE_GRACE_MS = 2_000;

/** Creates the server (not yet listening). */
export function createHttpServer(options: HttpServerOptions): HttpServer {
  const { logger } = options;
  const hosts = options.hosts ?? new HostAllowList();
  const routes: Route[] = [];
  /** Responses still open, so `close()` can end event streams. */
  const open = new Set<ServerResponse>();
  let closing = false;

  const server = http.createServer((req, res) => {
    open.add(res);
    res.on('close', () => open.delete(res));
    void dispatch(req, res);
  });
  // Slow or broken clients must not hold the server: bound header time; no body timeout beyond Node's default.
  server.headersTimeout = 30_000;
  server.on('clientError', (_err, socket) => {
    if (socket.writable) socket.end('HTTP/1.1 400 Bad Request\r\nconnection: close\r\ncontent-length: 0\r\n\r\n');
    else socket.destroy();
  });

  async function dispatch(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const method = (req.method ?? 'GET').toUpperCase();
    let url: URL;
    try {
      if (!req.url || !req.url.startsWith('/')) throw new Error('bad target');
      url = new URL(`http://localhost${req.url}`);
    } catch {
      sendJson(res, 400, { error: 'bad request target' });
      return;
    }
    const refusal = hosts.refusal(req, url.pathname);
    if (refusal) {
      logger.warn({ host: req.headers.host, origin: req.headers.origin, method, path: url.pathname }, `HTTP request refused: ${refusal}`);
      sendJson(res, 403, { error: refusal });
      return;
    }
    try {
      const match = findRoute(url.pathname, method);
      if (match.kind === 'none') throw new HttpError(404, `not found: ${url.pathname}`);
      if (match.kind === 'method') {
        throw new HttpError(405, `method ${method} not allowed`, { allow: match.allowed.join(', ') });
      }
      await match.route.handler(req, res, match.params, url);
    } catch (err) {
      if (err instanceof HttpError) {
        sendJson(res, err.status, { error: err.message }, err.headers);
        return;
      }
      logger.error({ err, method, path: url.pathname }, 'HTTP handler failed');
      if (res.headersSent) res.destroy();
      else sendJson(res, 500, { error: 'internal error' });
    }
  }

  type Match = { kind: 'ok'; route: Route; params: RouteParams } | { kind: 'method'; allowed: string[] } | { kind: 'none' };

  function findRoute(pathname: string, method: string): Match {
    const parts = pathname.split('/').slice(1);
    const allowed = new Set<string>();
    for (const route of routes) {
      const params = matchSegments(route.segments, parts);
      if (!params) continue;
      if (route.method === method) return { kind: 'ok', route, params };
      allowed.add(route.method);
    }
    return allowed.size > 0 ? { kind: 'method', allowed: [...allowed] } : { kind: 'none' };
  }

  return {
    route(method, pathPattern, handler) {
      if (!pathPattern.startsWith('/')) throw new Error(`route pattern must start with "/": ${pathPattern}`);
      if (routes.some((r) => r.method === method && r.pattern === pathPattern)) {
        throw new Error(`route already registered: ${method} ${pathPattern}`);
      }
      const segments = pathPattern
        .split('/')
        .slice(1)
        .map((s) => (s.startsWith(':') && s.length > 1 ? { param: s.slice(1) } : s));
      routes.push({ method, pattern: pathPattern, segments, handler });
    },

    listen() {
      return new Promise<ListenResult>((resolve, reject) => {
        const onError = (err: Error) => reject(err);
        server.once('error', onError);
        server.listen(options.port, options.host, () => {
          server.off('error', onError);
          server.on('error', (err) => logger.error({ err }, 'HTTP server error'));
          const addr = server.address() as AddressInfo;
          const host = addr.family === 'IPv6' ? `[${addr.address}]` : addr.address;
          logger.info({ host: addr.address, port: addr.port }, 'HTTP server listening');
          resolve({ url: `http://${host}:${addr.port}`, port: addr.port });
        });
      });
    },

    close() {
      if (closing || !server.listening) {
        closing = true;
        return Promise.resolve();
      }
      closing = true;
      return new Promise<void>((resolve) => {
        const timer = setTimeout(() => server.closeAllConnections(), CLOSE_GRACE_MS);
        timer.unref();
        // Streaming responses (event streams): headers sent, body still open. A normal response
        // writes head and body at once, so this does not cut ordinary requests short.
        for (const res of open) {
          if (!res.headersSent || res.writableEnded) continue;
          res.once('finish', () => res.socket?.destroy());
          res.end();
        }
        server.close(() => {
          clearTimeout(timer);
          resolve();
        });
        server.closeIdleConnections();
      });
    },
  };
}

/** Matches path parts against route segments; returns decoded params or undefined. */
function matchSegments(segments: Route['segments'], parts: string[]): RouteParams | undefined {
  if (segments.length !== parts.length) return undefined;
  const params: RouteParams = {};
  for (let i = 0; i < segments.length; i++) {
    const seg = segments[i]!;
    const part = parts[i]!;
    if (typeof seg === 'string') {
      if (seg !== part) return undefined;
      continue;
    }
    if (part === '') return undefined;
    try {
      params[seg.param] = decodeURIComponent(part);
    } catch {
      return undefined; // malformed percent-encoding: treat as no match (404)
    }
  }
  return params;
}
