/**
 * Copies of files the agent sends (`send_file`, src/tools/mcp-server.ts), kept in the data
 * directory from the tool call until the outbox row that posts them is delivered: the agent may
 * change or delete its file right after the call, and a restart before delivery still has the
 * bytes. Content-addressed: `<dataDir>/outgoing-files/<sha256 hex>` (mode 0600, directory 0700),
 * so the same bytes sent twice are stored once.
 *
 * The copy is made from an open file descriptor: the caller checked the path (realpath inside
 * the working directory), and the bytes copied are those of the file it checked — a symlink
 * swapped in after the check is not followed (`O_NOFOLLOW`), and a special file is refused.
 */
import { createHash, randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { DIR_MODE, FILE_MODE, makeDirs } from './files.js';

/** Directory of the copies inside the data directory. */
export const OUTGOING_FILES_DIR = 'outgoing-files';
/** Shape of a copy's id: the SHA-256 of its bytes, lowercase hex. */
const ID_SHAPE = /^[0-9a-f]{64}$/;
const CHUNK_BYTES = 1 << 20;

/** A copy was refused: `reason` is what the agent is told. */
export class OutgoingFileError extends Error {
  override readonly name = 'OutgoingFileError';
}

/** The durable copies of outgoing files in one data directory. */
export class OutgoingFiles {
  readonly dir: string;

  constructor(dataDir: string) {
    this.dir = path.join(dataDir, OUTGOING_FILES_DIR);
  }

  /**
   * Copies the regular file at `realPath` (already resolved; not followed if it is a symlink now)
   * into the store.
   * @param maxBytes largest size accepted, bytes.
   * @returns the copy's id (SHA-256 hex) and its size in bytes.
   * @throws OutgoingFileError when it is not a regular file or larger than `maxBytes`
   *   (also when it grew past it while being copied); the file system's error otherwise.
   */
  put(realPath: string, maxBytes: number): { id: string; size: number } {
    let fd: number;
    try {
      fd = fs.openSync(realPath, fs.constants.O_RDONLY | fs.constants.O_NOFOLLOW | fs.constants.O_NONBLOCK);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'ELOOP') throw new OutgoingFileError('the file was replaced by a symlink; send the file itself');
      if (code === 'ENOENT') throw new OutgoingFileError('the file no longer exists');
      throw err;
    }
    makeDirs(this.dir, DIR_MODE);
    const tmp = path.join(this.dir, `.tmp-${process.pid}-${randomBytes(6).toString('hex')}`);
    try {
      const st = fs.fstatSync(fd);
      if (!st.isFile()) throw new OutgoingFileError('not a regular file');
      if (st.size > maxBytes) throw new OutgoingFileError(tooLarge(st.size, maxBytes));
      const out = fs.openSync(tmp, fs.constants.O_CREAT | fs.constants.O_EXCL | fs.constants.O_WRONLY, FILE_MODE);
      const hash = createHash('sha256');
      let size = 0;
      try {
        const buf = Buffer.allocUnsafe(CHUNK_BYTES);
        for (;;) {
          const n = fs.readSync(fd, buf, 0, buf.length, null);
          if (n === 0) break;
          size += n;
          if (size > maxBytes) throw new OutgoingFileError(tooLarge(size, maxBytes));
          hash.update(buf.subarray(0, n));
          fs.writeSync(out, buf, 0, n);
        }
        fs.fsyncSync(out);
      } finally {
        fs.closeSync(out);
      }
      const id = hash.digest('hex');
      fs.renameSync(tmp, this.pathOf(id));
      return { id, size };
    } finally {
      fs.closeSync(fd);
      fs.rmSync(tmp, { force: true });
    }
  }

  /**
   * Absolute path of the copy `id`.
   * @throws Error when `id` is not a SHA-256 hex id (never a path outside the store).
   */
  pathOf(id: string): string {
    if (!ID_SHAPE.test(id)) throw new Error(`not an outgoing file id: ${JSON.stringify(id)}`);
    return path.join(this.dir, id);
  }

  /** True when the copy `id` exists. */
  has(id: string): boolean {
    return fs.existsSync(this.pathOf(id));
  }

  /** Deletes the copy `id` (a missing one is fine). */
  remove(id: string): void {
    fs.rmSync(this.pathOf(id), { force: true });
  }

  /**
   * Deletes every copy not in `keep` (the ids pending outbox rows still need) and leftover
   * temporary files; returns how many were deleted. Run by `db prune` and at start.
   */
  prune(keep: ReadonlySet<string>): number {
    let names: string[];
    try {
      names = fs.readdirSync(this.dir);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return 0;
      throw err;
    }
    let n = 0;
    for (const name of names) {
      if (keep.has(name)) continue;
      if (!ID_SHAPE.test(name) && !name.startsWith('.tmp-')) continue;
      fs.rmSync(path.join(this.dir, name), { force: true });
      n++;
    }
    return n;
  }
}

/** What the agent is told for a file over the limit, e.g. `the file is 12.5 MiB, larger than the 10 MiB this platform accepts`. */
export function tooLarge(size: number, maxBytes: number): string {
  return `the file is ${formatBytes(size)}, larger than the ${formatBytes(maxBytes)} this platform accepts`;
}

/** Bytes for people: `512 bytes`, `1.5 KiB`, `10 MiB`, `1 GiB`. */
export function formatBytes(n: number): string {
  if (n < 1024) return `${n} bytes`;
  const units = ['KiB', 'MiB', 'GiB'];
  let v = n / 1024;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${Number.isInteger(v) ? v : v.toFixed(1)} ${units[i]}`;
}
