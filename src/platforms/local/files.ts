/**
 * Files of the local web chat: the bytes of a file a bot message carries (an agent's
 * `send_file`) live in `<dataDir>/local-files/<message id>` (mode 0600, directory 0700) and are
 * served by `GET /api/local/files/<message id>` (./api.ts) with the chat's own access rule; files
 * people sent with their messages (`./uploads.ts`) by `GET /api/local/files/<upload id>`, with the
 * same rule ({@link serveFile}).
 *
 * Serving rule (the page's origin must never run a file): only raster images of
 * {@link INLINE_IMAGE_TYPES} are served `inline` (the page shows them as `<img>`); everything else
 * — HTML, SVG, scripts, unknown types — as `attachment` (a download), and every answer carries
 * `X-Content-Type-Options: nosniff` and a `sandbox` CSP.
 */
import fs from 'node:fs';
import type { ServerResponse } from 'node:http';
import path from 'node:path';
import { HttpError } from '../../http/json.js';
import { DIR_MODE, FILE_MODE, makeDirs } from '../../store/files.js';

/** Directory of the local chat's files inside the data directory. */
export const LOCAL_FILES_DIR = 'local-files';

/** Image types shown inline in the page (raster only: SVG can carry script, so it is a download). */
export const INLINE_IMAGE_TYPES: ReadonlySet<string> = new Set(['image/png', 'image/jpeg', 'image/gif', 'image/webp']);

const TYPES: Readonly<Record<string, string>> = {
  '.png': 'image/png',
  '.jpg': 'image/jpeg',
  '.jpeg': 'image/jpeg',
  '.gif': 'image/gif',
  '.webp': 'image/webp',
  '.svg': 'image/svg+xml',
  '.txt': 'text/plain',
  '.md': 'text/markdown',
  '.log': 'text/plain',
  '.csv': 'text/csv',
  '.json': 'application/json',
  '.html': 'text/html',
  '.htm': 'text/html',
  '.pdf': 'application/pdf',
  '.patch': 'text/x-diff',
  '.diff': 'text/x-diff',
  '.zip': 'application/zip',
  '.gz': 'application/gzip',
  '.tar': 'application/x-tar',
};

/** The MIME type of a file name, by extension; `application/octet-stream` when unknown. */
export function mimeTypeOf(name: string): string {
  return TYPES[path.extname(name).toLowerCase()] ?? 'application/octet-stream';
}

/** Message ids are `<13 digits>-<4 digits>-<4 base-36>` (./ids.ts); nothing else names a file. */
const MESSAGE_ID = /^\d{13}-\d{4}-[0-9a-z]{4}$/;

/** The stored files of the local chat. */
export class LocalFiles {
  readonly dir: string;

  constructor(dataDir: string) {
    this.dir = path.join(dataDir, LOCAL_FILES_DIR);
  }

  /** Copies `source` to the file of message `messageId` (replacing one there). @throws the file system's error. */
  store(messageId: string, source: string): void {
    makeDirs(this.dir, DIR_MODE);
    const dest = this.pathOf(messageId);
    const tmp = `${dest}.tmp`;
    fs.copyFileSync(source, tmp);
    fs.chmodSync(tmp, FILE_MODE);
    fs.renameSync(tmp, dest);
  }

  /** Path of message `messageId`'s file. @throws Error for an id that is not a message id. */
  pathOf(messageId: string): string {
    if (!MESSAGE_ID.test(messageId)) throw new Error(`not a local message id: ${JSON.stringify(messageId)}`);
    return path.join(this.dir, messageId);
  }

  /** True when `messageId` is a message id (a route parameter may be anything). */
  static isMessageId(id: string): boolean {
    return MESSAGE_ID.test(id);
  }
}

/**
 * The `Content-Disposition` of a served file: `inline` for {@link INLINE_IMAGE_TYPES}, else
 * `attachment`; the name as an ASCII fallback plus RFC 6266/5987 `filename*` (UTF-8).
 */
export function contentDisposition(name: string, type: string): string {
  const kind = INLINE_IMAGE_TYPES.has(type) ? 'inline' : 'attachment';
  const ascii = name.replace(/[^\x20-\x7e]|["\\]/g, '_');
  return `${kind}; filename="${ascii}"; filename*=UTF-8''${encodeURIComponent(name)}`;
}

/**
 * Sends a stored file under the serving rule of this module: its type, `Content-Disposition` by
 * {@link contentDisposition}, `nosniff`, `default-src 'none'; sandbox` CSP, private caching.
 * @param file path of the bytes
 * @param meta the name people see and the MIME type
 * @throws HttpError 404 `<what> is gone` when the file is missing
 */
export function serveFile(res: ServerResponse, file: string, meta: { name: string; type: string }, what: string): void {
  let size: number;
  try {
    size = fs.statSync(file).size;
  } catch {
    throw new HttpError(404, `${what} is gone`);
  }
  res.writeHead(200, {
    'content-type': meta.type,
    'content-length': size,
    'content-disposition': contentDisposition(meta.name, meta.type),
    'x-content-type-options': 'nosniff',
    'content-security-policy': "default-src 'none'; sandbox",
    'cache-control': 'private, max-age=3600',
  });
  fs.createReadStream(file).pipe(res);
}
