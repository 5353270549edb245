/**
 * `npm start` builds only when the build's inputs changed (scripts/build-stamp.mjs), run on a tiny
 * package whose `build` script stands in for tsc: a first start builds, an unchanged one does not,
 * an edited, added or deleted source file builds again, and a failed build stops the start.
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const SCRIPT = path.resolve(import.meta.dirname, '../../scripts/build-stamp.mjs');
let root: string;

/** `node scripts/build-stamp.mjs --if-changed` in the tiny package: its stderr, exit code and how many builds ran so far. */
function ifChanged(): { stderr: string; code: number | null; builds: number } {
  const r = spawnSync(process.execPath, [path.join(root, 'scripts/build-stamp.mjs'), '--if-changed'], {
    cwd: root,
    encoding: 'utf8',
    env: { ...process.env, npm_execpath: '' },
  });
  const builds = fs.existsSync(path.join(root, 'builds.log')) ? fs.readFileSync(path.join(root, 'builds.log'), 'utf8').split('\n').filter(Boolean).length : 0;
  return { stderr: r.stderr, code: r.status, builds };
}

beforeAll(() => {
  root = fs.mkdtempSync(path.join(os.tmpdir(), 'build-stamp-'));
  fs.mkdirSync(path.join(root, 'scripts'));
  fs.mkdirSync(path.join(root, 'src/platforms/local/public'), { recursive: true });
  fs.copyFileSync(SCRIPT, path.join(root, 'scripts/build-stamp.mjs'));
  fs.writeFileSync(path.join(root, 'src/cli.ts'), 'export {};\n');
  fs.writeFileSync(path.join(root, 'src/platforms/local/public/style.css'), 'body {}\n');
  // The stand-in build: fails when src/broken exists; else writes dist/cli.js, counts itself, and stamps (as `npm run build` does).
  const build =
    "node -e \"const fs=require('fs'); if (fs.existsSync('src/broken')) process.exit(3); fs.mkdirSync('dist',{recursive:true}); fs.writeFileSync('dist/cli.js',''); fs.appendFileSync('builds.log','b\\\\n')\" && node scripts/build-stamp.mjs --write";
  fs.writeFileSync(path.join(root, 'package.json'), JSON.stringify({ name: 'tiny', private: true, scripts: { build } }));
});
afterAll(() => fs.rmSync(root, { recursive: true, force: true }));

describe('npm start builds only when sources changed', () => {
  it('builds the first time, not again when nothing changed, again after an edit, a new file or a deleted one', () => {
    const first = ifChanged();
    expect(first).toMatchObject({ code: 0, builds: 1 });
    expect(first.stderr).toContain('building… (first build)');

    const unchanged = ifChanged();
    expect(unchanged).toEqual({ stderr: '', code: 0, builds: 1 });

    const later = new Date(Date.now() + 5_000);
    fs.utimesSync(path.join(root, 'src/platforms/local/public/style.css'), later, later); // the page's static files count
    const edited = ifChanged();
    expect(edited).toMatchObject({ code: 0, builds: 2 });
    expect(edited.stderr).toContain('building… (sources changed)');
    expect(ifChanged().builds).toBe(2);

    fs.writeFileSync(path.join(root, 'src/new.ts'), 'export {};\n');
    expect(ifChanged().builds).toBe(3);
    fs.rmSync(path.join(root, 'src/new.ts'));
    expect(ifChanged().builds).toBe(4);
    expect(ifChanged().builds).toBe(4);

    fs.rmSync(path.join(root, 'dist'), { recursive: true }); // a fresh clone has no dist/
    expect(ifChanged()).toMatchObject({ code: 0, builds: 5 });
  });

  it('a failed build stops the start with its exit code and says what to do', () => {
    fs.writeFileSync(path.join(root, 'src/broken'), '');
    const r = ifChanged();
    expect(r.code).toBe(3);
    expect(r.stderr).toContain('build failed: fix the errors above, then run `npm start` again');
    fs.rmSync(path.join(root, 'src/broken'));
  });
});
