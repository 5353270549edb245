/**
 * A small real file system for storage-fault tests: a tmpfs of a given size mounted on a new
 * temporary directory (`mount -t tmpfs`; the tests run as root locally and in CI). `fill()`
 * writes a filler file until the file system reports ENOSPC; `unfill()` removes it. Mounting
 * failures throw a clear error (never a silent skip); `unmount()` is idempotent and also removes
 * the directory.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

export interface Tmpfs {
  /** The mount point. */
  dir: string;
  /** Fills the file system with a filler file until ENOSPC; returns the bytes written. */
  fill(): number;
  /** Removes the filler file. */
  unfill(): void;
  /** Shrinks the filler file by `bytes` (frees that much space). */
  release(bytes: number): void;
  /** Free bytes (statfs). */
  free(): number;
  unmount(): void;
}

/** Mounts a tmpfs of `sizeBytes` (rounded up by the kernel to pages). @throws Error when mounting fails (e.g. not root). */
export function mountTmpfs(sizeBytes: number): Tmpfs {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'agentbridge-tmpfs-'));
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${sizeBytes},mode=0755`, 'tmpfs', dir], { stdio: 'pipe' });
  } catch (err) {
    fs.rmSync(dir, { recursive: true, force: true });
    const stderr = (err as { stderr?: Buffer }).stderr?.toString().trim();
    throw new Error(
      `could not mount a ${sizeBytes}-byte tmpfs on ${dir} (${stderr || (err as Error).message}). ` +
        'The storage-fault tests need `mount -t tmpfs`, i.e. root (or CAP_SYS_ADMIN), as in CI.',
      { cause: err },
    );
  }
  const filler = path.join(dir, 'filler');
  let mounted = true;
  return {
    dir,
    fill() {
      const fd = fs.openSync(filler, 'a');
      const chunk = Buffer.alloc(64 * 1024, 0x61);
      let written = 0;
      try {
        for (;;) {
          try {
            written += fs.writeSync(fd, chunk);
          } catch (err) {
            if ((err as NodeJS.ErrnoException).code !== 'ENOSPC') throw err;
            // The last pages: smaller writes until not even one byte fits.
            let small = 4096;
            for (;;) {
              try {
                written += fs.writeSync(fd, chunk.subarray(0, small));
              } catch (e) {
                if ((e as NodeJS.ErrnoException).code !== 'ENOSPC') throw e;
                if (small === 1) return written;
                small = Math.max(1, small >> 1);
              }
            }
          }
        }
      } finally {
        fs.closeSync(fd);
      }
    },
    unfill() {
      fs.rmSync(filler, { force: true });
    },
    release(bytes) {
      fs.truncateSync(filler, Math.max(0, fs.statSync(filler).size - bytes));
    },
    free() {
      const s = fs.statfsSync(dir);
      return s.bavail * s.bsize;
    },
    unmount() {
      if (!mounted) return;
      mounted = false;
      try {
        execFileSync('umount', ['-l', dir], { stdio: 'pipe' });
      } finally {
        fs.rmSync(dir, { recursive: true, force: true });
      }
    },
  };
}
