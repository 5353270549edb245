/**
 * The path rule of the `send_file` tool (src/tools/mcp-server.ts): the agent may send only a
 * regular file inside its conversation's working directory. Both the working directory and the
 * requested path are resolved with `realpath` (every symlink followed, `..` collapsed), so a
 * symlink that points outside, or a `../` path, is refused like any other outside path.
 */
import fs from 'node:fs';
import path from 'node:path';
import { tooLarge } from '../store/outgoing-files.js';

/** A `send_file` call the tool refuses; the message is what the agent is told (it can act on it). */
export class SendFileError extends Error {
  override readonly name = 'SendFileError';
}

/** A file that passed the check. */
export interface SendableFile {
  /** The resolved path (no symlink left), absolute. */
  realPath: string;
  /** The name people see: the resolved file's base name. */
  name: string;
  /** Size in bytes at the time of the check. */
  size: number;
}

/**
 * Resolves `requested` (absolute, or relative to `workdir`) and checks it.
 * @param maxBytes the platform's largest file, bytes.
 * @throws SendFileError when the path is empty, does not exist, resolves outside `workdir`
 *   (directly, by `..`, or through a symlink), is a directory or a special file (FIFO, socket,
 *   device), or is larger than `maxBytes`.
 */
export function checkSendable(workdir: string, requested: string, maxBytes: number): SendableFile {
  if (!requested.trim()) throw new SendFileError('path is empty');
  if (requested.includes('\0')) throw new SendFileError('path contains a NUL character');
  let root: string;
  try {
    root = fs.realpathSync(workdir);
  } catch {
    throw new SendFileError(`the working directory ${workdir} does not exist`);
  }
  const asked = path.resolve(root, requested);
  let real: string;
  try {
    real = fs.realpathSync(asked);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') throw new SendFileError(`no file at ${requested} (relative paths start at ${root})`);
    if (code === 'ELOOP') throw new SendFileError(`${requested} is a symlink loop`);
    throw new SendFileError(`cannot read ${requested}: ${code ?? String(err)}`);
  }
  if (!isInside(root, real)) {
    throw new SendFileError(`${requested} resolves to ${real}, outside the working directory ${root}; only files inside it can be sent`);
  }
  const st = fs.statSync(real);
  if (st.isDirectory()) throw new SendFileError(`${requested} is a directory; send a file (e.g. an archive of it)`);
  if (!st.isFile()) throw new SendFileError(`${requested} is not a regular file`);
  if (st.size > maxBytes) throw new SendFileError(`${requested}: ${tooLarge(st.size, maxBytes)}`);
  return { realPath: real, name: path.basename(real), size: st.size };
}

/** True when `p` is `root` itself or below it (both absolute and resolved). */
export function isInside(root: string, p: string): boolean {
  const rel = path.relative(root, p);
  return rel === '' || (!rel.startsWith(`..${path.sep}`) && rel !== '..' && !path.isAbsolute(rel));
}
