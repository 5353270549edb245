/**
 * Which Host names agentbridge's HTTP server serves (defence against DNS rebinding: a page on
 * `evil.example` whose name an attacker re-points at 127.0.0.1 reaches the server with
 * `Host: evil.example:PORT`; a browser checks nothing else, so the server must).
 *
 * Allowed: the loopback names `127.0.0.1`, `localhost` and `[::1]` (any port), and the host name
 * of `AGENTBRIDGE_PUBLIC_URL` when set (any port). Names compare case-insensitively; ports are
 * not compared (an attacker controls the name, not the port of a loopback server).
 *
 * Exempt ({@link HOST_CHECK_EXEMPT_PATHS}, and the paths platforms declare) are routes that
 * authenticate every request another way and are reached under other names: Slack's Events API
 * and slash commands (signed with the signing secret, reached at the public name Slack was given;
 * declared by the Slack platform module), `/mcp` (a per-turn bearer token;
 * agents may reach it under another name), and the monitoring probes `/healthz` and `/metrics`
 * (container health checks and Prometheus address the container by IP; they show no chat data).
 */
import type { IncomingMessage } from 'node:http';

/** Loopback host names (as `URL.hostname` writes them). */
export const LOOPBACK_HOSTNAMES: readonly string[] = ['127.0.0.1', 'localhost', '[::1]'];

/**
 * agentbridge's own paths served whatever the Host header: each authenticates requests itself
 * (see the module comment). Exact paths. Platforms add theirs (`new HostAllowList(url, paths)`).
 */
export const HOST_CHECK_EXEMPT_PATHS: readonly string[] = ['/mcp', '/healthz', '/metrics'];

/** The host-name part of a Host header value (`name:port`, `[v6]:port`), lower-case; undefined when malformed. Pure. */
export function hostnameOf(hostHeader: string): string | undefined {
  if (!hostHeader || /[\s/@?#\\]/.test(hostHeader)) return undefined;
  try {
    const u = new URL(`http://${hostHeader}`);
    return u.hostname.toLowerCase() || undefined;
  } catch {
    return undefined;
  }
}

/** The allow-list: loopback names plus the public URL's host name. */
export class HostAllowList {
  private readonly names: Set<string>;
  private readonly exempt: Set<string>;

  /**
   * @param publicUrl AGENTBRIDGE_PUBLIC_URL (validated by config), or undefined.
   * @param exemptPaths exact paths served whatever the Host, besides {@link HOST_CHECK_EXEMPT_PATHS}:
   *   the platforms' routes that authenticate every request themselves (e.g. Slack's signed events)
   */
  constructor(publicUrl?: string, exemptPaths: readonly string[] = []) {
    this.exempt = new Set([...HOST_CHECK_EXEMPT_PATHS, ...exemptPaths]);
    this.names = new Set(LOOPBACK_HOSTNAMES);
    if (publicUrl) this.names.add(new URL(publicUrl).hostname.toLowerCase());
  }

  /** True when a Host header value names an allowed host. */
  allowsHost(hostHeader: string | undefined): boolean {
    const name = hostHeader === undefined ? undefined : hostnameOf(hostHeader);
    return name !== undefined && this.names.has(name);
  }

  /** True when an Origin header value (`scheme://host[:port]`) is an http(s) origin on an allowed host. `null` origins are refused. */
  allowsOrigin(origin: string): boolean {
    let u: URL;
    try {
      u = new URL(origin);
    } catch {
      return false;
    }
    return (u.protocol === 'http:' || u.protocol === 'https:') && this.names.has(u.hostname.toLowerCase());
  }

  /**
   * Why a request must not be served, or undefined when it may: a Host outside the list, or an
   * Origin header (when present, on any method) outside the list. Exempt paths always pass.
   */
  refusal(req: IncomingMessage, pathname: string): string | undefined {
    if (this.exempt.has(pathname)) return undefined;
    if (!this.allowsHost(req.headers.host)) return 'this host name is not served here (see AGENTBRIDGE_PUBLIC_URL)';
    const origin = req.headers.origin;
    if (origin !== undefined && !this.allowsOrigin(origin)) return 'cross-origin requests are not allowed';
    return undefined;
  }
}

/**
 * True when an AGENTBRIDGE_HTTP_HOST value binds only loopback: `localhost`, `::1`, or an IPv4
 * address in 127.0.0.0/8. `0.0.0.0`, `::` and every other address or name count as non-loopback. Pure.
 */
export function isLoopbackBind(host: string): boolean {
  const h = host
    .trim()
    .toLowerCase()
    .replace(/^\[(.*)\]$/, '$1');
  return h === 'localhost' || h === '::1' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(h);
}
