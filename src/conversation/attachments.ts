/**
 * Fetches the files attached to a turn's messages into the conversation's working directory
 * (issue 13 "files in"; naming, limits and texts in `src/core/attachments.ts`). Runs when the
 * turn starts, after its working directory is known: the inbox row holds only the files'
 * descriptions (`InboundMessage.files`), so a restart between accepting a message and its turn
 * fetches them again — or reuses a file already stored by the cut attempt (stored files are
 * renamed into place only when complete).
 *
 * Safety: a file is written as `<name>.part` with `O_EXCL` (no symlink followed) in a folder
 * whose real path must lie inside the working directory (an agent may have replaced
 * `.agentbridge` with a symlink), then renamed; bytes past the limit abort the download.
 */
import { createWriteStream } from 'node:fs';
import { lstat, mkdir, realpath, rename, rm, writeFile } from 'node:fs/promises';
import { join, sep } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { Readable, Transform } from 'node:stream';
import {
  AGENTBRIDGE_DIR,
  CLAUDE_IMAGE_MAX_BYTES,
  CLAUDE_IMAGE_TYPES,
  FILES_DIR,
  MAX_FILES_PER_MESSAGE,
  messageFolder,
  TOO_MANY_REASON,
  tooLargeReason,
  uniqueFileNames,
  type SavedFile,
  type SkippedFile,
} from '../core/attachments.js';
import type { InboundFile, InboundMessage } from '../core/messages.js';
import type { Logger } from '../logger.js';
import type { PlatformAdapter } from '../platforms/types.js';

/** The files of one message, after fetching. */
export interface MessageAttachments {
  saved: SavedFile[];
  skipped: SkippedFile[];
}

/** What fetching a turn's files needs. */
export interface AttachmentDeps {
  /** The adapter of the messages' platform (its `fetchFile`). */
  adapter: Pick<PlatformAdapter, 'fetchFile'>;
  /** AGENTBRIDGE_MAX_FILE_MB in bytes. */
  maxFileBytes: number;
  logger: Logger;
}

/** Why a file was not stored when the turn was stopped during the downloads. */
const STOPPED_REASON = 'the turn was stopped before it was downloaded';

/** Thrown inside a download that passed the size limit. */
class TooLarge extends Error {}

/**
 * Fetches the files of every message of `messages` that has some, into `workdir`. Never throws
 * for a file: one that can't be fetched is returned as skipped with the reason for people.
 * When `signal` aborts (the turn is stopped or agentbridge shuts down) the download in progress
 * ends and the files not yet stored are returned as skipped; the caller sees the abort itself.
 * @returns per event key (only messages with files), the saved and skipped files in order
 */
export async function fetchAttachments(
  deps: AttachmentDeps,
  workdir: string,
  messages: readonly InboundMessage[],
  signal?: AbortSignal,
): Promise<Map<string, MessageAttachments>> {
  const out = new Map<string, MessageAttachments>();
  for (const m of messages) {
    const files = m.files ?? [];
    if (!files.length) continue;
    const result: MessageAttachments = { saved: [], skipped: [] };
    out.set(m.eventKey, result);
    const taken = files.slice(0, MAX_FILES_PER_MESSAGE);
    const names = uniqueFileNames(taken.map((f) => f.name));
    let folder: string | undefined;
    for (const [i, file] of taken.entries()) {
      if (signal?.aborted) {
        result.skipped.push({ name: file.name, size: file.size, reason: STOPPED_REASON });
        continue;
      }
      if (file.size !== undefined && file.size > deps.maxFileBytes) {
        result.skipped.push({ name: file.name, size: file.size, reason: tooLargeReason(deps.maxFileBytes) });
        continue;
      }
      try {
        folder ??= await prepareFolder(workdir, messageFolder(m.eventKey));
        result.saved.push(await fetchOne(deps, folder, names[i]!, file, signal));
      } catch (err) {
        const reason = signal?.aborted
          ? STOPPED_REASON
          : err instanceof TooLarge
            ? tooLargeReason(deps.maxFileBytes)
            : `could not be downloaded (${err instanceof Error ? err.message : String(err)})`;
        deps.logger.warn({ eventKey: m.eventKey, file: file.name, reason }, 'attached file not given to the agent');
        result.skipped.push({ name: file.name, size: file.size, reason });
      }
    }
    for (const f of files.slice(MAX_FILES_PER_MESSAGE)) result.skipped.push({ name: f.name, size: f.size, reason: TOO_MANY_REASON });
  }
  return out;
}

/**
 * Makes `<workdir>/.agentbridge/files/<folder>` (and `.agentbridge/.gitignore`) one folder at a
 * time, never through a symlink, and returns its path.
 * @throws Error when one of them is a symlink or not a folder (nothing is made outside the working directory)
 */
async function prepareFolder(workdir: string, folder: string): Promise<string> {
  const root = await realpath(workdir);
  let dir = root;
  for (const part of [...FILES_DIR.split('/'), folder]) {
    dir = join(dir, part);
    const st = await lstat(dir).catch(() => undefined);
    if (!st) await mkdir(dir).catch((err: NodeJS.ErrnoException) => (err.code === 'EEXIST' ? undefined : Promise.reject(err)));
    else if (st.isSymbolicLink() || !st.isDirectory()) throw new Error(`${FILES_DIR} leads outside the working directory (a symlink or not a folder)`);
  }
  // Keeps the stored files out of git (and so out of the change summary and /agent diff).
  await writeFile(join(root, AGENTBRIDGE_DIR, '.gitignore'), '*\n', { flag: 'wx' }).catch(() => {});
  const real = await realpath(dir);
  if (!real.startsWith(root + sep)) throw new Error(`${FILES_DIR} leads outside the working directory`);
  return real;
}

/** Stores one file (or finds it stored by an earlier attempt). */
async function fetchOne(deps: AttachmentDeps, folder: string, name: string, file: InboundFile, signal?: AbortSignal): Promise<SavedFile> {
  const path = join(folder, name);
  const mimeType = file.mimeType || 'application/octet-stream';
  const existing = await lstat(path).catch(() => undefined);
  if (existing?.isFile()) {
    // Stored by a cut attempt of this turn (renamed into place only when complete).
    if (existing.size > deps.maxFileBytes) throw new TooLarge();
    return { name: file.name, path, mimeType, size: existing.size };
  }
  if (existing) throw new Error('a different kind of file is in its place');
  if (!deps.adapter.fetchFile) throw new Error("this platform's files can't be fetched");
  const body = await deps.adapter.fetchFile(file, { signal });
  const part = `${path}.part`;
  await rm(part, { force: true });
  let size = 0;
  const cap = new Transform({
    transform(chunk: Buffer, _enc, done) {
      size += chunk.length;
      if (size > deps.maxFileBytes) done(new TooLarge());
      else done(null, chunk);
    },
  });
  try {
    await pipeline(Readable.from(body), cap, createWriteStream(part, { flags: 'wx' }), { signal });
  } catch (err) {
    await rm(part, { force: true });
    throw err;
  }
  await rename(part, path);
  return { name: file.name, path, mimeType, size };
}

/**
 * The saved files Claude can take as image content (JPEG, PNG, GIF, WebP up to 5 MB; see
 * `CLAUDE_IMAGE_TYPES` for the source), in order.
 */
export function imageFiles(attachments: Iterable<MessageAttachments>): SavedFile[] {
  return [...attachments].flatMap((a) => a.saved.filter((f) => CLAUDE_IMAGE_TYPES.has(f.mimeType) && f.size <= CLAUDE_IMAGE_MAX_BYTES));
}
