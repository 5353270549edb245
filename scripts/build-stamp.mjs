#!/usr/bin/env node
// The build's inputs fingerprint, so `npm start` builds only when sources changed.
//
//   node scripts/build-stamp.mjs --write        after a successful build (the last step of `npm run build`):
//                                              records the fingerprint in dist/.build-stamp
//   node scripts/build-stamp.mjs --if-changed   (`npm start`): runs `npm run build`, saying
//                                              "building… (sources changed)", when dist/ is missing or the
//                                              fingerprint differs from the recorded one; otherwise does nothing
//
// The fingerprint is a SHA-256 of every input's path, size and mtime: every file under src/ (the
// TypeScript, and the local page's public/ index.html and style.css that copy-assets.mjs copies),
// the tsconfig files, package-lock.json (other dependency versions can change the output) and the
// build scripts. So an edit, a new file, a deleted file or a `touch` rebuilds. migrations/ is not an
// input: the store reads the SQL files from there at run time (src/store/migrate.ts), nothing is built.
// Exit code: the build's when it ran and failed, else 0.
import crypto from 'node:crypto';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const FILES = ['tsconfig.json', 'tsconfig.build.json', 'package-lock.json', 'scripts/copy-assets.mjs', 'scripts/build-stamp.mjs'];
const TREES = ['src'];

/** Every input file under `root`, relative to it, sorted. */
function inputs(root) {
  const out = [...FILES];
  const walk = (rel) => {
    for (const e of fs.readdirSync(path.join(root, rel), { withFileTypes: true })) {
      const p = path.posix.join(rel, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.isFile()) out.push(p);
    }
  };
  for (const t of TREES) walk(t);
  return out.sort();
}

/** SHA-256 hex of `path size mtimeMs` per input of the package at `root` (a missing input counts as `path -`). */
export function fingerprint(root) {
  const h = crypto.createHash('sha256');
  for (const rel of inputs(root)) {
    let line = `${rel} -`;
    try {
      const st = fs.statSync(path.join(root, rel));
      line = `${rel} ${st.size} ${st.mtimeMs}`;
    } catch {
      /* missing: counted as such */
    }
    h.update(line + '\n');
  }
  return h.digest('hex');
}

function recorded(stamp) {
  try {
    return fs.readFileSync(stamp, 'utf8').trim();
  } catch {
    return undefined;
  }
}

/** The command line (see the top of this file). */
function main(mode) {
  const stamp = path.join(ROOT, 'dist', '.build-stamp');
  if (mode === '--write') {
    fs.mkdirSync(path.dirname(stamp), { recursive: true });
    fs.writeFileSync(stamp, fingerprint(ROOT) + '\n');
    return;
  }
  if (mode !== '--if-changed') {
    process.stderr.write('usage: node scripts/build-stamp.mjs --write | --if-changed\n');
    process.exit(2);
  }
  const was = recorded(stamp);
  const now = fingerprint(ROOT);
  if (was !== undefined && was === now && fs.existsSync(path.join(ROOT, 'dist', 'cli.js'))) return;
  process.stderr.write(`building… (${was === undefined ? 'first build' : 'sources changed'})\n`);
  const npm = process.env.npm_execpath;
  const r = npm
    ? spawnSync(process.execPath, [npm, 'run', '--silent', 'build'], { cwd: ROOT, stdio: 'inherit' })
    : spawnSync('npm', ['run', '--silent', 'build'], { cwd: ROOT, stdio: 'inherit' });
  if (r.status !== 0) {
    process.stderr.write('build failed: fix the errors above, then run `npm start` again\n');
    process.exit(r.status ?? 1);
  }
  // The inputs as they were when the build began: a file edited during the build builds again next time.
  fs.writeFileSync(stamp, now + '\n');
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) main(process.argv[2]);
