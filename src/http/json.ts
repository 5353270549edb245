/**
 * JSON helpers for the HTTP server: reading a bounded JSON request body and sending JSON.
 *
 * Errors a client caused are thrown as {@link HttpError}; the server (`src/http/server.ts`)
 * turns them into a JSON `{ "error": message }` response with the error's status.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';

/** Default request body limit: 1 MiB. */
export const DEFAULT_BODY_LIMIT_BYTES = 1024 * 1024;

/**
 * An error with an HTTP status meant for the client. `message` is sent to the client as
 * `{ "error": message }`, so it must not contain secrets or internals.
 */
export class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
    /** Extra response headers (e.g. `Allow` for a 405). */
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
    this.name = 'HttpError';
  }
}

/**
 * Sends `body` as JSON (`application/json; charset=utf-8`, `cache-control: no-store`).
 * Does nothing when the response has already ended; if headers were already sent it ends the
 * response without a body.
 */
export function sendJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  if (res.writableEnded || res.destroyed) return;
  if (res.headersSent) {
    res.end();
    return;
  }
  const text = JSON.stringify(body);
  res.writeHead(status, {
    ...headers,
    'content-type': 'application/json; charset=utf-8',
    'content-length': Buffer.byteLength(text),
    'cache-control': 'no-store',
  });
  res.end(text);
}

/**
 * Reads the request body and parses it as JSON.
 *
 * @param limitBytes maximum body size in bytes (default 1 MiB).
 * @returns the parsed value (any JSON value; validate it with a schema).
 * @throws HttpError 415 when the Content-Type is not `application/json` (this also keeps
 *   browsers on other origins from posting without a CORS preflight);
 *   HttpError 400 when the body is larger than `limitBytes` (checked against Content-Length
 *   up front and while streaming), empty, not valid UTF-8 JSON, or the upload is aborted.
 *   When the body is too large the connection is closed after the response, so the rest of the
 *   upload is not read.
 */
export async function readJsonBody(req: IncomingMessage, limitBytes = DEFAULT_BODY_LIMIT_BYTES): Promise<unknown> {
  const type = (req.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase();
  if (type !== 'application/json') {
    throw new HttpError(415, 'Content-Type must be application/json');
  }
  const tooLarge = () => new HttpError(400, `request body is larger than ${limitBytes} bytes`, { connection: 'close' });
  const declared = Number(req.headers['content-length']);
  if (Number.isFinite(declared) && declared > limitBytes) throw tooLarge();

  const raw = await new Promise<Buffer>((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let done = false;
    const finish = (err: Error | null, value?: Buffer) => {
      if (done) return;
      done = true;
      req.off('data', onData);
      req.off('end', onEnd);
      req.off('error', onError);
      req.off('aborted', onAborted);
      if (err) reject(err);
      else resolve(value!);
    };
    const onData = (chunk: Buffer) => {
      size += chunk.length;
      if (size > limitBytes) {
        // Stop reading; the server closes the connection after sending the 400.
        req.pause();
        finish(tooLarge());
        return;
      }
      chunks.push(chunk);
    };
    const onEnd = () => finish(null, Buffer.concat(chunks, size));
    const onError = () => finish(new HttpError(400, 'request body could not be read'));
    const onAborted = () => finish(new HttpError(400, 'request body was aborted'));
    req.on('data', onData);
    req.on('end', onEnd);
    req.on('error', onError);
    req.on('aborted', onAborted);
  });

  if (raw.length === 0) throw new HttpError(400, 'request body is empty; expected JSON');
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(raw);
  } catch {
    throw new HttpError(400, 'request body is not valid UTF-8');
  }
  try {
    return JSON.parse(text) as unknown;
  } catch {
    throw new HttpError(400, 'request body is not valid JSON');
  }
}
