/**
 * The libraries the local chat page runs in the browser, served from this server (never a CDN:
 * the page works offline and its CSP allows scripts from itself only). Each is a browser build
 * shipped in its npm package (all are runtime `dependencies`, so they are in `node_modules` of an
 * installation and of the Docker image), read at start by `./page.ts` and served as
 * `/assets/<name>` like the page's own files:
 *
 * | Asset | Package file | What for |
 * |---|---|---|
 * | `vendor-marked.js` | `marked/lib/marked.esm.js` | Markdown → HTML (GitHub-flavoured: tables, task lists, strikethrough) |
 * | `vendor-purify.js` | `dompurify/dist/purify.es.mjs` | sanitising that HTML (and the page's only Trusted Types policy, `dompurify`) |
 * | `vendor-highlight.js` | `@highlightjs/cdn-assets/es/highlight.min.js` | code highlighting (core + the common languages) |
 * | `vendor-hljs-light.css`, `vendor-hljs-dark.css` | `@highlightjs/cdn-assets/styles/github(-dark).min.css` | highlighting colours, by `prefers-color-scheme` |
 *
 * The client imports the scripts by these names (`./public/vendor-*.d.ts` give their types).
 */
import fs from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';

/** A vendored file: the asset name it is served under and where it is in its package. */
export interface VendorFile {
  /** `/assets/<asset>`; a flat name starting with `vendor-`. */
  asset: string;
  /** The npm package (a runtime dependency). */
  pkg: string;
  /** Path of the file inside the package. */
  file: string;
}

/** Every vendored file of the page (see the module comment). */
export const VENDOR_FILES: readonly VendorFile[] = [
  { asset: 'vendor-marked.js', pkg: 'marked', file: 'lib/marked.esm.js' },
  { asset: 'vendor-purify.js', pkg: 'dompurify', file: 'dist/purify.es.mjs' },
  { asset: 'vendor-highlight.js', pkg: '@highlightjs/cdn-assets', file: 'es/highlight.min.js' },
  { asset: 'vendor-hljs-light.css', pkg: '@highlightjs/cdn-assets', file: 'styles/github.min.css' },
  { asset: 'vendor-hljs-dark.css', pkg: '@highlightjs/cdn-assets', file: 'styles/github-dark.min.css' },
];

const require = createRequire(import.meta.url);

/**
 * The folder of installed package `pkg`: found from its entry point (or its package.json when it
 * has no entry for `require`), walking up to the folder named after the package. Packages with
 * an `exports` map that hides `package.json` (dompurify) are found that way too.
 * @throws Error naming the package when it is not installed (run `npm ci`).
 */
export function packageDir(pkg: string): string {
  let resolved: string | undefined;
  for (const spec of [pkg, `${pkg}/package.json`]) {
    try {
      resolved = require.resolve(spec);
      break;
    } catch {
      /* try the next */
    }
  }
  if (resolved) {
    const suffix = path.join('node_modules', ...pkg.split('/'));
    for (let dir = path.dirname(resolved); dir !== path.dirname(dir); dir = path.dirname(dir)) {
      if (dir.endsWith(suffix)) return dir;
    }
  }
  throw new Error(`the local chat page needs the npm package ${pkg}, which is not installed (run \`npm ci\`)`);
}

/**
 * Reads every {@link VENDOR_FILES} entry.
 * @returns the file contents by asset name.
 * @throws Error naming the package and file when one is missing (run `npm ci`).
 */
export function readVendorFiles(): Map<string, Buffer> {
  const out = new Map<string, Buffer>();
  for (const { asset, pkg, file } of VENDOR_FILES) {
    const full = path.join(packageDir(pkg), file);
    try {
      out.set(asset, fs.readFileSync(full));
    } catch (err) {
      throw new Error(`the local chat page's ${asset} is missing: ${full} could not be read (run \`npm ci\`)`, { cause: err });
    }
  }
  return out;
}
