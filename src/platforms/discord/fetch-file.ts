/**
 * Downloads the bytes of a Discord attachment (`PlatformAdapter.fetchFile`, issue 13 "files in").
 *
 * Discord serves attachments from its CDN without authentication: the URL is signed (`ex`, `is`,
 * `hm` query parameters; Discord API docs, "Reference" → "Signed Attachment CDN URLs"), so no bot
 * token is sent — it never leaves for a file host. Only Discord's file hosts are fetched from
 * ({@link DISCORD_FILE_HOSTS}, https), plus the origin of `DISCORD_API_URL` when set (a stand-in
 * for Discord such as the test twin serves files too); any other URL, also as the target of a
 * redirect, is refused. That keeps a forged or odd attachment URL from making agentbridge fetch
 * from arbitrary hosts (e.g. a service on the local network).
 */
import type { InboundFile } from '../../core/messages.js';

/** Discord's attachment hosts: `url` (cdn.discordapp.com) and `proxy_url` (media.discordapp.net). */
export const DISCORD_FILE_HOSTS: readonly string[] = ['cdn.discordapp.com', 'media.discordapp.net'];
/** Longest wait for the response headers, ms. */
export const HEADERS_TIMEOUT_MS = 30_000;
/** Longest wait for the next chunk of the body, ms. */
export const BODY_IDLE_TIMEOUT_MS = 60_000;
/** Redirects followed at most (each to an allowed host). */
const MAX_REDIRECTS = 3;

/**
 * Whether `url` may be fetched: https on one of {@link DISCORD_FILE_HOSTS}, or the same origin
 * (scheme, host, port) as `apiUrl` (`DISCORD_API_URL`).
 * @returns `undefined` when allowed, else why not (for people; names the host, not the URL)
 */
export function fileUrlRefusal(url: string, apiUrl?: string): string | undefined {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    return 'refused: not a URL';
  }
  if (u.protocol === 'https:' && !u.port && DISCORD_FILE_HOSTS.includes(u.hostname)) return undefined;
  if (apiUrl && URL.canParse(apiUrl) && new URL(apiUrl).origin === u.origin) return undefined;
  return `refused: ${u.host || u.protocol} is not a Discord file host (${DISCORD_FILE_HOSTS.join(', ')})`;
}

export interface FetchFileOptions {
  /** `DISCORD_API_URL`: its origin is allowed besides Discord's file hosts. */
  apiUrl?: string;
  signal?: AbortSignal;
  /** Test seam (default the global `fetch`). */
  fetch?: typeof fetch;
  /** ms (default {@link HEADERS_TIMEOUT_MS}, {@link BODY_IDLE_TIMEOUT_MS}; tests). */
  headersTimeoutMs?: number;
  bodyIdleTimeoutMs?: number;
}

/**
 * Opens the bytes of `file` (its `url`), without credentials, following at most 3 redirects
 * to allowed hosts.
 * @returns the body, chunk by chunk (reading it past an idle {@link BODY_IDLE_TIMEOUT_MS} throws)
 * @throws Error `refused: …` for a host that is not Discord's ({@link fileUrlRefusal}),
 *   `download failed: HTTP <status>` for a non-2xx answer, `download failed: <reason>` when the
 *   request fails or the headers take longer than {@link HEADERS_TIMEOUT_MS}; the abort reason
 *   when `signal` aborts
 */
export async function fetchDiscordFile(file: Pick<InboundFile, 'url'>, opts: FetchFileOptions = {}): Promise<AsyncIterable<Uint8Array>> {
  const doFetch = opts.fetch ?? fetch;
  let url = file.url;
  for (let redirects = 0; ; redirects++) {
    const refusal = fileUrlRefusal(url, opts.apiUrl);
    if (refusal) throw new Error(refusal);
    // The headers' timeout must not cut the body short: its own controller, stopped once they are in.
    const headersMs = opts.headersTimeoutMs ?? HEADERS_TIMEOUT_MS;
    const late = new AbortController();
    const timer = setTimeout(() => late.abort(), headersMs);
    let res: Response;
    try {
      res = await doFetch(url, {
        redirect: 'manual',
        credentials: 'omit',
        signal: opts.signal ? AbortSignal.any([opts.signal, late.signal]) : late.signal,
      });
    } catch (err) {
      if (opts.signal?.aborted) throw opts.signal.reason;
      throw new Error(`download failed: ${late.signal.aborted ? `no answer within ${Math.ceil(headersMs / 1000)} s` : reasonOf(err)}`, { cause: err });
    } finally {
      clearTimeout(timer);
    }
    const location = res.headers.get('location');
    if (res.status >= 300 && res.status < 400 && location) {
      await res.body?.cancel().catch(() => {});
      if (redirects >= MAX_REDIRECTS) throw new Error('download failed: too many redirects');
      url = new URL(location, url).toString();
      continue;
    }
    if (res.status < 200 || res.status >= 300) {
      await res.body?.cancel().catch(() => {});
      throw new Error(`download failed: HTTP ${res.status}`);
    }
    if (!res.body) return (async function* () {})();
    return chunks(res.body, opts.bodyIdleTimeoutMs ?? BODY_IDLE_TIMEOUT_MS, opts.signal);
  }
}

/** The body's chunks; a chunk that takes longer than `idleMs` fails the read (and cancels the body). */
async function* chunks(body: ReadableStream<Uint8Array>, idleMs: number, signal?: AbortSignal): AsyncGenerator<Uint8Array> {
  const reader = body.getReader();
  try {
    for (;;) {
      signal?.throwIfAborted();
      let timer: NodeJS.Timeout | undefined;
      const idle = new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`download failed: no data for ${Math.ceil(idleMs / 1000)} s`)), idleMs);
      });
      let read: Awaited<ReturnType<typeof reader.read>>;
      try {
        read = await Promise.race([reader.read(), idle]);
      } finally {
        // Only the wait for data counts, not the time the reader takes with a chunk.
        clearTimeout(timer);
      }
      if (read.done) return;
      yield read.value;
    }
  } finally {
    await reader.cancel().catch(() => {});
    reader.releaseLock();
  }
}

function reasonOf(err: unknown): string {
  const cause = err instanceof Error && err.cause instanceof Error ? err.cause.message : undefined;
  return cause ?? (err instanceof Error ? err.message : String(err));
}
