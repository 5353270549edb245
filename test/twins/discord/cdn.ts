/**
 * The Discord twin's CDN: serves the bytes of message attachments (users' files and the bot's
 * uploads) at the URLs the twin's message objects carry, on the twin's own HTTP server:
 * `url` = `<twin>/attachments/<channel>/<attachment>/<filename>?ex=…&is=…&hm=…` and `proxy_url` =
 * the same under `/proxy` (Discord: `cdn.discordapp.com` and `media.discordapp.net`, signed
 * query parameters; the twin does not check the signature). No authentication, like Discord's
 * CDN; every request is recorded ({@link TwinCdn.downloads}, with whether it carried an
 * `Authorization` header) and faults can be injected ({@link TwinCdn.failNext}).
 */
import type http from 'node:http';
import type { TwinAttachment, TwinWorld } from './state.js';

/** One request to the CDN. */
export interface CdnDownload {
  /** The attachment asked for ('' when the path was not an attachment's). */
  attachmentId: string;
  filename: string;
  /** `url` or `proxy_url`. */
  via: 'cdn' | 'proxy';
  status: number;
  /** Bytes sent (0 for a failure). */
  bytes: number;
  /** The `Authorization` header, when one was sent (Discord's CDN needs none; agentbridge must send none). */
  authorization?: string;
  at: number;
}

const PATH = /^\/(proxy\/)?attachments\/(\d+)\/(\d+)\/([^/]+)$/;

/** The path (after the twin's base URL) of an attachment, and its signed query (fixed values; the twin does not check them). */
export function cdnPath(channelId: string, a: Pick<TwinAttachment, 'id' | 'filename'>, proxy = false): string {
  return `${proxy ? '/proxy' : ''}/attachments/${channelId}/${a.id}/${encodeURIComponent(a.filename)}?ex=7fffffff&is=65000000&hm=${a.id.slice(-8)}`;
}

export class TwinCdn {
  readonly downloads: CdnDownload[] = [];
  private readonly faults: Array<{ status: number; times: number; attachmentId?: string }> = [];

  constructor(private readonly world: TwinWorld) {}

  /** The next `times` (default 1) downloads (of `attachmentId` only, when given) answer `status` instead of the bytes. */
  failNext(status: number, opts: { times?: number; attachmentId?: string } = {}): void {
    this.faults.push({ status, times: opts.times ?? 1, ...(opts.attachmentId ? { attachmentId: opts.attachmentId } : {}) });
  }

  clearFaults(): void {
    this.faults.splice(0);
  }

  /** Serves `path` when it is a CDN path (GET/HEAD); returns false for other paths. */
  handle(req: http.IncomingMessage, res: http.ServerResponse, path: string): boolean {
    const m = PATH.exec(path);
    if (!m) return false;
    const [, proxy, channelId, attachmentId, encodedName] = m;
    let filename = encodedName!;
    try {
      filename = decodeURIComponent(filename);
    } catch {
      // kept as sent
    }
    const record = (status: number, bytes: number) =>
      this.downloads.push({
        attachmentId: attachmentId!,
        filename,
        via: proxy ? 'proxy' : 'cdn',
        status,
        bytes,
        ...(req.headers.authorization ? { authorization: req.headers.authorization } : {}),
        at: Date.now(),
      });
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      record(405, 0);
      res.writeHead(405).end();
      return true;
    }
    const a = this.find(channelId!, attachmentId!);
    const fault = this.faults.find((f) => f.times > 0 && (!f.attachmentId || f.attachmentId === attachmentId));
    if (fault) {
      fault.times--;
      if (fault.times === 0) this.faults.splice(this.faults.indexOf(fault), 1);
      record(fault.status, 0);
      res.writeHead(fault.status, { 'content-type': 'text/plain' }).end(`twin cdn: injected ${fault.status}`);
      return true;
    }
    if (!a || a.filename !== filename) {
      record(404, 0);
      // Discord's CDN answers an unknown attachment with 404 and a short text body.
      res.writeHead(404, { 'content-type': 'text/plain' }).end('This content is no longer available.');
      return true;
    }
    record(200, a.bytes.length);
    res.writeHead(200, { 'content-type': a.contentType ?? 'application/octet-stream', 'content-length': a.bytes.length });
    res.end(req.method === 'HEAD' ? undefined : a.bytes);
    return true;
  }

  private find(channelId: string, attachmentId: string): TwinAttachment | undefined {
    for (const m of this.world.messages.get(channelId) ?? []) {
      const a = m.attachments?.find((x) => x.id === attachmentId);
      if (a) return a;
    }
    return undefined;
  }
}
