/**
 * Files people upload in the local web chat to send with a message (issue 13 "files in"):
 *
 * 1. `POST /api/local/files` (`./api.ts`) → {@link LocalUploads.receive}: the body's one file
 *    (`./multipart.ts`, capped at AGENTBRIDGE_MAX_FILE_MB) is written to
 *    `<dataDir>/uploads/<upload id>` (0600, directory 0700) and recorded in `local_uploads`
 *    (`src/store/sql/repos/local-uploads.ts`) with its owner: the logged-in user, or null for an
 *    anonymous page — never a name from the body.
 * 2. `POST /api/local/messages` with `files: [id, …]` → {@link LocalUploads.check} (each the
 *    sender's own, unsent, its bytes there: else 400 and nothing is accepted), then
 *    {@link LocalUploads.markSent} in the inbox transaction: an upload goes with one message only.
 *    The message reaches the core with `files` (`InboundFile.url` = `local-upload:<id>`).
 * 3. The turn fetches each file through `LocalAdapter.fetchFile` → {@link LocalUploads.open}.
 * 4. The user's message shows its files; `GET /api/local/files/<upload id>` serves a sent upload
 *    ({@link LocalUploads.servable}) with the same rule as the agent's files (`./files.ts`).
 *
 * Uploads never sent are deleted after {@link UNSENT_TTL_MS} (checked at each new upload).
 */
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import type { IncomingMessage } from 'node:http';
import path from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { HttpError } from '../../http/json.js';
import { DIR_MODE, FILE_MODE, makeDirs } from '../../store/files.js';
import type { LocalUploadRow, LocalUploadsRepo } from '../../store/types.js';
import { mimeTypeOf } from './files.js';
import { readUploadedFile } from './multipart.js';

/** Directory of the uploads inside the data directory. */
export const UPLOADS_DIR = 'uploads';

/** An upload id: `up-` and 22 base64url characters (128 random bits: not guessable). */
export const UPLOAD_ID_PATTERN = /^up-[A-Za-z0-9_-]{22}$/;

/** The `InboundFile.url` scheme of an upload: `local-upload:<id>`. */
export const UPLOAD_URL_PREFIX = 'local-upload:';

/** How long an upload that was never sent is kept, ms (24 h). */
export const UNSENT_TTL_MS = 24 * 60 * 60 * 1000;

/** Longest kept file name, in characters (code points). */
export const MAX_UPLOAD_NAME_CHARS = 200;

/** A new random upload id. */
export function newUploadId(): string {
  return `up-${randomBytes(16).toString('base64url')}`;
}

/** True when `id` is an upload id. */
export function isUploadId(id: string): boolean {
  return UPLOAD_ID_PATTERN.test(id);
}

/** The `InboundFile.url` of upload `id`. */
export function uploadUrl(id: string): string {
  return `${UPLOAD_URL_PREFIX}${id}`;
}

/** The upload id of an `InboundFile.url`, or undefined when it is not an upload's. Pure. */
export function uploadIdOfUrl(url: string): string | undefined {
  if (!url.startsWith(UPLOAD_URL_PREFIX)) return undefined;
  const id = url.slice(UPLOAD_URL_PREFIX.length);
  return isUploadId(id) ? id : undefined;
}

// eslint-disable-next-line no-control-regex -- the characters removed
const CONTROL = /[\u0000-\u001f\u007f-\u009f]/g;

/**
 * The name kept for an uploaded file: the last part of a path (browsers send the base name; some
 * old ones a whole path), control characters removed, trimmed, at most
 * {@link MAX_UPLOAD_NAME_CHARS} characters (the extension kept); `file` when nothing is left. Pure.
 */
export function cleanUploadName(name: string): string {
  const base = (name.split(/[/\\]/).pop() ?? '').replace(CONTROL, '').trim();
  const chars = [...base];
  if (chars.length <= MAX_UPLOAD_NAME_CHARS) return base || 'file';
  const ext = path.extname(base);
  const keep = ext.length > 0 && ext.length <= 20 ? ext : '';
  return chars.slice(0, MAX_UPLOAD_NAME_CHARS - [...keep].length).join('') + keep;
}

/** A MIME type as `type/subtype` (no parameters). */
const MIME = /^[a-z0-9][a-z0-9!#$&^_.+-]{0,63}\/[a-z0-9][a-z0-9!#$&^_.+-]{0,126}$/;

/**
 * The type kept for an upload: the browser's type (lower-case, parameters dropped) when it is a
 * plain `type/subtype` other than `application/octet-stream` (what a browser sends when it does
 * not know), else the one of the name's extension (`./files.ts` → `mimeTypeOf`). Pure.
 * Serving never trusts it for more than a download, except the raster images shown inline (`./files.ts`).
 */
export function uploadType(clientType: string, name: string): string {
  const t = clientType.split(';')[0]!.trim().toLowerCase();
  return MIME.test(t) && t !== 'application/octet-stream' ? t : mimeTypeOf(name);
}

/** The uploads of the local chat: files under the data directory, rows in `local_uploads`. */
export class LocalUploads {
  readonly dir: string;

  constructor(
    dataDir: string,
    private readonly repo: LocalUploadsRepo,
  ) {
    this.dir = path.join(dataDir, UPLOADS_DIR);
  }

  /** Path of upload `id`'s bytes. @throws Error for an id that is not an upload id. */
  pathOf(id: string): string {
    if (!isUploadId(id)) throw new Error(`not an upload id: ${JSON.stringify(id)}`);
    return path.join(this.dir, id);
  }

  /**
   * Stores the file of an upload request for `owner` (the logged-in user, null for anonymous).
   * @param maxFileBytes the largest file accepted (AGENTBRIDGE_MAX_FILE_MB in bytes)
   * @returns the stored upload
   * @throws HttpError 415/413/400 from `./multipart.ts`; 503 when the file cannot be written or
   *   recorded (e.g. disk full; nothing is kept)
   */
  async receive(req: IncomingMessage, owner: string | null, maxFileBytes: number): Promise<LocalUploadRow> {
    const part = await readUploadedFile(req, maxFileBytes);
    await this.purgeUnsent();
    const id = newUploadId();
    const name = cleanUploadName(part.name);
    const file = this.pathOf(id);
    const tmp = `${file}.part`;
    try {
      makeDirs(this.dir, DIR_MODE);
      await pipeline(
        Readable.fromWeb(part.blob.stream() as import('node:stream/web').ReadableStream<Uint8Array>),
        fs.createWriteStream(tmp, { flags: 'wx', mode: FILE_MODE }),
      );
      fs.renameSync(tmp, file);
      return await this.repo.insert({ id, owner, name, type: uploadType(part.type, name), size: part.blob.size });
    } catch (err) {
      fs.rmSync(tmp, { force: true });
      fs.rmSync(file, { force: true });
      throw new HttpError(503, `the file could not be stored (${(err as NodeJS.ErrnoException).code ?? 'error'}); nothing was kept — please try again later`);
    }
  }

  /**
   * The uploads `ids` names, checked for a message of `owner`: each must be an upload of that
   * owner (another's, or an unknown id, is "not yours" — the answer does not tell which), not sent
   * yet, and its bytes still there.
   * @returns the uploads in the order of `ids`
   * @throws HttpError 400 naming the first id (or file) that fails
   */
  async check(ids: readonly string[], owner: string | null): Promise<LocalUploadRow[]> {
    const rows: LocalUploadRow[] = [];
    for (const id of ids) {
      const row = isUploadId(id) ? await this.repo.get(id) : undefined;
      if (!row || row.owner !== owner) throw new HttpError(400, `files: ${id} is not a file you uploaded; upload it again`);
      if (row.messageId !== null) throw new HttpError(400, `files: ${row.name} (${id}) was already sent with another message; upload it again`);
      if (!fs.existsSync(this.pathOf(id))) throw new HttpError(400, `files: ${row.name} (${id}) is gone; upload it again`);
      rows.push(row);
    }
    return rows;
  }

  /**
   * Marks the uploads as sent with message `messageId`, in the caller's transaction (the
   * inbox's): pass that transaction's repository as `repo` (`tx.localUploads`; default: this
   * store's, outside any transaction). A compare-and-set: only unsent uploads of `owner`.
   * @throws HttpError 400 when one is no longer `owner`'s unsent upload (sent with another message
   *   meanwhile); nothing is marked
   */
  async markSent(ids: readonly string[], owner: string | null, messageId: string, repo: LocalUploadsRepo = this.repo): Promise<void> {
    if (!(await repo.markSent(ids, owner, messageId)))
      throw new HttpError(400, 'files: a file of this message was just sent with another message; upload it again');
  }

  /** A sent upload's file, name and type for serving; undefined for an id that is not a sent upload. */
  async servable(id: string): Promise<{ path: string; name: string; type: string } | undefined> {
    const row = isUploadId(id) ? await this.repo.get(id) : undefined;
    if (!row || row.messageId === null) return undefined;
    return { path: this.pathOf(id), name: row.name, type: row.type };
  }

  /**
   * Opens the bytes of the upload an `InboundFile.url` (`local-upload:<id>`) names, as a stream.
   * @throws Error `the uploaded file is gone` for a url that is not an upload's or a file that is missing
   */
  async open(url: string, signal?: AbortSignal): Promise<AsyncIterable<Uint8Array>> {
    const id = uploadIdOfUrl(url);
    if (!id) throw new Error('the uploaded file is gone');
    let handle: fs.promises.FileHandle;
    try {
      handle = await fs.promises.open(this.pathOf(id), 'r');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') throw new Error('the uploaded file is gone', { cause: err });
      throw new Error(`the uploaded file cannot be read (${(err as NodeJS.ErrnoException).code ?? 'error'})`, { cause: err });
    }
    return fs.createReadStream('', { fd: handle, signal });
  }

  /** Deletes uploads never sent within {@link UNSENT_TTL_MS}, rows and files; resolves when done. */
  async purgeUnsent(now = Date.now()): Promise<void> {
    for (const id of await this.repo.deleteUnsent(now - UNSENT_TTL_MS)) fs.rmSync(this.pathOf(id), { force: true });
  }
}
