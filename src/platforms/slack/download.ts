/**
 * Fetches the bytes of a file people attached on Slack (`SlackAdapter.fetchFile`): `GET` of the
 * file's `url_private_download` / `url_private` with `Authorization: Bearer <bot token>`.
 *
 * Slack facts (api.slack.com "Working with files" → "Authentication for downloads"; "File
 * object"): the private URLs answer only with a token that has the `files:read` scope; without
 * one (or without the scope) Slack answers HTTP 200 with its HTML sign-in page instead of the
 * file, so a `text/html` answer for a file that is not HTML is a refusal.
 *
 * The token is a secret: it is sent only to the origins of {@link SlackDownloadOptions.origins}
 * (`files.ts` → `slackFileOrigins`: files.slack.com and the Web API's host); a file URL anywhere
 * else is refused before any request. Redirects are followed by hand (at most
 * {@link MAX_REDIRECTS}), with the token only while the redirect stays on the same origin as the
 * request before it; once it went elsewhere the token is not sent again. Nothing here logs the
 * token or a request's headers.
 */
import type { InboundFile } from '../../core/messages.js';

/** Redirects followed at most per download. */
export const MAX_REDIRECTS = 5;
/** A download with no answer, or no new bytes, for this long is ended, ms. */
export const DOWNLOAD_IDLE_MS = 30_000;
/** The error when Slack answered its sign-in page (the token lacks `files:read`). */
export const HTML_ANSWER_ERROR = 'download failed: Slack answered with a web page instead of the file — is the files:read scope granted? (slack/manifest.yml)';

export interface SlackDownloadOptions {
  /** The bot token (`xoxb-…`), sent as `Authorization: Bearer`. */
  token: string;
  /** Origins (`scheme://host[:port]`) the token may go to. */
  origins: readonly string[];
  /** Ends the download (the turn stopped); the request and the body fail with its reason. */
  signal?: AbortSignal;
  /** No answer, or no new bytes, for this long ends the download, ms (default {@link DOWNLOAD_IDLE_MS}). */
  idleMs?: number;
}

/**
 * Opens the bytes of `file` (its `url`). @returns the response body, chunk by chunk; stopping
 * the iteration early cancels the rest.
 * @throws Error with a message for people, starting `download failed:` — the URL is not on a
 *   Slack file host (nothing is sent), a network error, an HTTP status other than 2xx
 *   (`download failed: HTTP <status>`), too many redirects, an HTML sign-in page for a file that is
 *   not HTML ({@link HTML_ANSWER_ERROR}), or no answer within `idleMs`; when `signal` aborts,
 *   its reason.
 */
export async function downloadSlackFile(file: InboundFile, opts: SlackDownloadOptions): Promise<AsyncIterable<Uint8Array>> {
  let url = parseHttpUrl(file.url);
  if (!url || !opts.origins.includes(url.origin)) {
    throw new Error(
      `download failed: ${url ? url.host : 'the file has no http(s) URL'}${url ? ' is not a Slack file host' : ''}; the bot token is sent only to ${opts.origins.map((o) => new URL(o).host).join(' and ')}`,
    );
  }
  const idle = new IdleTimer(opts.idleMs ?? DOWNLOAD_IDLE_MS, opts.signal);
  try {
    let withToken = true;
    for (let hop = 0; ; hop++) {
      idle.arm();
      const res = await request(url, withToken ? opts.token : undefined, idle);
      const location = res.headers.get('location');
      if (isRedirect(res.status) && location) {
        await res.body?.cancel().catch(() => {});
        if (hop >= MAX_REDIRECTS) throw new Error(`download failed: more than ${MAX_REDIRECTS} redirects`);
        const next = parseHttpUrl(location, url);
        if (!next) throw new Error('download failed: Slack redirected to something that is not an http(s) URL');
        // The token stays with the origin it was meant for (a redirect elsewhere gets none, and so do later hops).
        withToken &&= next.origin === url.origin;
        url = next;
        continue;
      }
      if (res.status < 200 || res.status > 299) {
        await res.body?.cancel().catch(() => {});
        throw new Error(`download failed: HTTP ${res.status}`);
      }
      if (isHtml(res.headers.get('content-type')) && !isHtml(file.mimeType)) {
        await res.body?.cancel().catch(() => {});
        throw new Error(HTML_ANSWER_ERROR);
      }
      if (!res.body) {
        idle.done();
        return (async function* () {})();
      }
      return idle.watch(res.body);
    }
  } catch (err) {
    idle.done();
    throw idle.reason(err);
  }
}

async function request(url: URL, token: string | undefined, idle: IdleTimer): Promise<Response> {
  try {
    return await fetch(url, { redirect: 'manual', signal: idle.signal, headers: token ? { authorization: `Bearer ${token}` } : {} });
  } catch (err) {
    if (idle.signal.aborted) throw err;
    const cause = (err as { cause?: { code?: unknown; message?: unknown } }).cause;
    // A system error by its code (ECONNREFUSED, ENOTFOUND, …), else what fetch's cause says ("other side closed").
    const code = typeof cause?.code === 'string' && /^E[A-Z]+$/.test(cause.code) ? cause.code : undefined;
    const why = code ?? (typeof cause?.message === 'string' ? cause.message : err instanceof Error ? err.message : String(err));
    throw new Error(`download failed: ${why}`, { cause: err });
  }
}

/**
 * Ends a download that waits for its answer or its next bytes longer than `ms`, and follows the
 * caller's signal. Its `signal` goes to `fetch`; `watch` re-arms it per chunk.
 */
class IdleTimer {
  private readonly controller = new AbortController();
  private timer?: NodeJS.Timeout;
  private timedOut = false;
  private readonly onAbort: () => void;

  constructor(
    private readonly ms: number,
    private readonly outer?: AbortSignal,
  ) {
    this.onAbort = () => this.controller.abort(outer?.reason);
    if (outer?.aborted) this.onAbort();
    else outer?.addEventListener('abort', this.onAbort, { once: true });
  }

  get signal(): AbortSignal {
    return this.controller.signal;
  }

  arm(): void {
    clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      this.timedOut = true;
      this.controller.abort(this.timeoutError());
    }, this.ms);
    this.timer.unref();
  }

  done(): void {
    clearTimeout(this.timer);
    this.outer?.removeEventListener('abort', this.onAbort);
  }

  /** The error to throw for `err`: the timeout's, the caller's abort reason, or `err`. */
  reason(err: unknown): unknown {
    if (this.timedOut) return this.timeoutError();
    if (this.outer?.aborted) return this.outer.reason ?? err;
    return err;
  }

  async *watch(body: AsyncIterable<Uint8Array>): AsyncGenerator<Uint8Array> {
    try {
      this.arm();
      for await (const chunk of body) {
        this.arm();
        yield chunk;
      }
    } catch (err) {
      throw this.reason(err);
    } finally {
      this.done();
    }
  }

  private timeoutError(): Error {
    return new Error(`download failed: no data from Slack for ${Math.round(this.ms / 1000)} s`);
  }
}

function parseHttpUrl(raw: string, base?: URL): URL | undefined {
  try {
    const url = new URL(raw, base);
    return url.protocol === 'https:' || url.protocol === 'http:' ? url : undefined;
  } catch {
    return undefined;
  }
}

function isRedirect(status: number): boolean {
  return status === 301 || status === 302 || status === 303 || status === 307 || status === 308;
}

/** True for `text/html` (any parameters, any case). */
function isHtml(type: string | null | undefined): boolean {
  return (type ?? '').split(';')[0]!.trim().toLowerCase() === 'text/html';
}
