/**
 * Reading the one file of an upload (`POST /api/local/files`, `./api.ts`): a
 * `multipart/form-data` body (RFC 7578) with one part named `file`, parsed by Node's own fetch
 * implementation (undici, `Request.formData()`; no parser package), which holds the parts in
 * memory — so the size is capped before anything is parsed:
 *
 * - `Content-Length` over the cap → 413 at once, without reading the body;
 * - the body is counted as it streams in and cut past the cap → 413 (a body sent chunked, or a
 *   `Content-Length` that lied);
 * - the file part itself over `maxFileBytes` (the cap leaves {@link MULTIPART_OVERHEAD_BYTES} for
 *   the boundaries, part headers and other parts) → 413.
 *
 * After a refusal the rest of the body is read and dropped (up to {@link DRAIN_LIMIT_BYTES}, then
 * the connection is cut), so a browser that is still sending gets the answer instead of a reset
 * connection. Every other part (e.g. a forged `user` or `owner` field) is ignored.
 */
import type { IncomingMessage } from 'node:http';
import { HttpError } from '../../http/json.js';
import { formatBytes } from '../../store/outgoing-files.js';

/** Room for the multipart framing (boundaries, part headers, small extra fields) on top of the file, bytes. */
export const MULTIPART_OVERHEAD_BYTES = 64 * 1024;

/** Most bytes of a refused upload read and dropped before the connection is cut. */
export const DRAIN_LIMIT_BYTES = 64 * 1024 * 1024;

/** The file part of an upload. */
export interface UploadedFile {
  /** File name as the client sent it (`filename` of the part; may be empty). */
  name: string;
  /** Content type of the part as the client sent it ('' when none). */
  type: string;
  /** The bytes (in memory, at most `maxFileBytes`). */
  blob: Blob;
}

/** The 413 a too-large upload gets: says the limit, and the file's name and size when known. */
export function uploadTooLarge(maxFileBytes: number, file?: { name: string; size: number }): HttpError {
  const what = file ? `${file.name || 'the file'} (${formatBytes(file.size)})` : 'the file';
  return new HttpError(413, `${what} is larger than the ${formatBytes(maxFileBytes)} limit per file`);
}

/**
 * Reads the rest of a request body and drops it, so the answer already sent reaches a client
 * that is still uploading; past {@link DRAIN_LIMIT_BYTES} the connection is destroyed.
 */
export function drainRequest(req: IncomingMessage): void {
  if (req.complete || req.destroyed) return;
  let dropped = 0;
  req.on('data', (chunk: Buffer) => {
    dropped += chunk.length;
    if (dropped > DRAIN_LIMIT_BYTES) req.destroy();
  });
  req.on('error', () => {});
  req.resume();
}

/**
 * The one file of a multipart upload.
 * @param maxFileBytes the largest file accepted, bytes (AGENTBRIDGE_MAX_FILE_MB)
 * @throws HttpError 415 when the body is not `multipart/form-data` with a boundary; 413 when it is
 *   too large (see the module comment); 400 when it cannot be parsed, was cut off, or has no part
 *   `file` that is a file, or more than one. The rest of a refused body is drained.
 */
export async function readUploadedFile(req: IncomingMessage, maxFileBytes: number): Promise<UploadedFile> {
  const contentType = req.headers['content-type'] ?? '';
  if (!/^multipart\/form-data\s*;/i.test(contentType) || !/;\s*boundary=/i.test(contentType)) {
    throw new HttpError(415, 'Content-Type must be multipart/form-data, with the file in a part named "file"');
  }
  const cap = maxFileBytes + MULTIPART_OVERHEAD_BYTES;
  const declared = Number(req.headers['content-length']);
  if (req.headers['content-length'] !== undefined && Number.isFinite(declared) && declared > cap) {
    drainRequest(req);
    throw uploadTooLarge(maxFileBytes);
  }

  let over = false;
  let cut = false;
  const body = new ReadableStream<Uint8Array>({
    start(controller) {
      let total = 0;
      const stop = () => {
        req.off('data', onData);
        req.off('end', onEnd);
        req.off('error', onError);
        req.off('aborted', onError);
      };
      const onData = (chunk: Buffer) => {
        total += chunk.length;
        if (total > cap) {
          over = true;
          stop();
          controller.error(new Error('upload too large'));
          return;
        }
        controller.enqueue(new Uint8Array(chunk.buffer, chunk.byteOffset, chunk.length));
      };
      const onEnd = () => {
        stop();
        controller.close();
      };
      const onError = () => {
        cut = true;
        stop();
        controller.error(new Error('upload cut off'));
      };
      req.on('data', onData);
      req.on('end', onEnd);
      req.on('error', onError);
      req.on('aborted', onError);
    },
  });

  let form: FormData;
  try {
    form = await new Request('http://agentbridge.invalid/upload', {
      method: 'POST',
      headers: { 'content-type': contentType },
      body,
      duplex: 'half',
    }).formData();
  } catch {
    drainRequest(req);
    if (over) throw uploadTooLarge(maxFileBytes);
    if (cut) throw new HttpError(400, 'the upload was cut off before it ended');
    throw new HttpError(400, 'the body is not valid multipart/form-data');
  }
  drainRequest(req);
  const parts = form.getAll('file');
  const file = parts[0];
  if (parts.length !== 1 || file === undefined || typeof file === 'string') {
    throw new HttpError(400, 'send exactly one file, in a multipart part named "file" (with a filename)');
  }
  if (file.size > maxFileBytes) throw uploadTooLarge(maxFileBytes, file);
  return { name: file.name, type: file.type, blob: file };
}
