/**
 * The local chat page's static files (`./public/`: index.html, style.css and the client code,
 * TypeScript compiled to JavaScript by `npm run build` into `dist/platforms/local/public/`): read
 * once when the routes are registered, then served from memory by {@link registerLocalPage}:
 *
 * | Route                | Answer |
 * |----------------------|--------|
 * | `GET /`              | index.html, `cache-control: no-store` |
 * | `GET /assets/<name>` | a `.css` or `.js` file of the folder, or a vendored library (`./vendor.ts`: `vendor-*.js`/`.css` from `node_modules`), with an ETag (`cache-control: no-cache`; `If-None-Match` → 304) |
 *
 * Only files loaded at start are served — a name is looked up in memory, never joined to a path
 * — so `..`, encoded slashes, the `.ts` sources, tsconfig.json and anything else answer 404.
 * Every file is sent with {@link LOCAL_PAGE_CSP} and `x-content-type-options: nosniff`.
 *
 * Running from the sources (vitest, tsx), the folder holds `.ts` files instead of the compiled
 * `.js`: each is transpiled at load with the `typescript` dev dependency (type-checking is
 * `npm run typecheck`'s job), so the page works without a build.
 */
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { HttpError } from '../../http/json.js';
import type { HttpServer } from '../../http/server.js';
import { readVendorFiles } from './vendor.js';

/** The folder next to this module: `src/platforms/local/public` or, built, `dist/platforms/local/public`. */
export const LOCAL_PUBLIC_DIR = fileURLToPath(new URL('./public/', import.meta.url));

/** URL path prefix of the page's style and scripts. */
export const ASSETS_PREFIX = '/assets/';

/**
 * Content-Security-Policy of every page file: scripts and styles only from this server's files
 * (no inline code), same-origin requests, no plugins, frames, forms or base URL; Trusted Types
 * enforced with one policy, DOMPurify's (`dompurify`, created by the vendored DOMPurify when it
 * loads): the only HTML the page can write is what DOMPurify returned (`./public/markdown.ts`).
 */
export const LOCAL_PAGE_CSP = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "connect-src 'self'",
  "img-src 'self' data:",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
  "require-trusted-types-for 'script'",
  'trusted-types dompurify',
].join('; ');

/** Content types by file extension; files of other types are not served. */
const CONTENT_TYPES: Readonly<Record<string, string>> = {
  '.html': 'text/html; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
};

/** A served file name: no path, no hidden files. */
const FILE_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;

/** One file of the page, ready to send. */
export interface LocalPageFile {
  body: Buffer;
  /** `content-type` header value. */
  contentType: string;
  /** Strong ETag (quoted, from the SHA-256 of the body). */
  etag: string;
}

/** The page's files: index.html and the assets by name (e.g. `app.js`, `style.css`). */
export interface LocalPage {
  index: LocalPageFile;
  assets: ReadonlyMap<string, LocalPageFile>;
}

const loaded = new Map<string, LocalPage>();

/**
 * Reads the page's files from `dir` (default {@link LOCAL_PUBLIC_DIR}) — once per folder and
 * process; later calls return the same files. Regular `.html`, `.css` and `.js` files are taken
 * (and `.ts` files without a compiled `.js` beside them, transpiled; see the module comment),
 * and the vendored libraries (`./vendor.ts`).
 * @throws Error when the folder, index.html or a file index.html refers to under `/assets/` is
 *   missing (an incomplete build), a vendored library is not installed, or a `.ts` file must be
 *   transpiled and `typescript` is not installed.
 */
export function loadLocalPage(dir: string = LOCAL_PUBLIC_DIR): LocalPage {
  const key = path.resolve(dir);
  let page = loaded.get(key);
  if (!page) {
    page = readPage(key);
    loaded.set(key, page);
  }
  return page;
}

function readPage(dir: string): LocalPage {
  const entries = fs.readdirSync(dir, { withFileTypes: true }).filter((e) => e.isFile() && FILE_NAME.test(e.name));
  const names = new Set(entries.map((e) => e.name));
  const files = new Map<string, LocalPageFile>();
  for (const { name } of entries) {
    const ext = path.extname(name);
    const full = path.join(dir, name);
    if (ext === '.ts' && !name.endsWith('.d.ts')) {
      const js = `${name.slice(0, -3)}.js`;
      if (!names.has(js)) files.set(js, pageFile(transpile(full), CONTENT_TYPES['.js']!));
    } else if (CONTENT_TYPES[ext]) {
      files.set(name, pageFile(fs.readFileSync(full), CONTENT_TYPES[ext]));
    }
  }
  for (const [name, body] of readVendorFiles()) files.set(name, pageFile(body, CONTENT_TYPES[path.extname(name)]!));
  const index = files.get('index.html');
  if (!index) throw new Error(`the local chat page is missing: no index.html in ${dir} (run \`npm run build\`)`);
  files.delete('index.html');
  for (const [, name] of index.body.toString('utf8').matchAll(/(?:src|href)="\/assets\/([^"]+)"/g)) {
    if (!files.has(name!)) throw new Error(`the local chat page is incomplete: ${name} is missing in ${dir} (run \`npm run build\`)`);
  }
  return { index, assets: files };
}

function pageFile(body: Buffer, contentType: string): LocalPageFile {
  return { body, contentType, etag: `"${createHash('sha256').update(body).digest('base64url')}"` };
}

/** The client module at `file` as JavaScript: an ES module for the target of `./public/tsconfig.json` (ES2020). */
function transpile(file: string): Buffer {
  let ts: typeof import('typescript');
  try {
    ts = createRequire(import.meta.url)('typescript') as typeof import('typescript');
  } catch (err) {
    throw new Error(`the local chat page's client code in ${path.dirname(file)} is not compiled and typescript is not installed (run \`npm run build\`)`, {
      cause: err,
    });
  }
  const out = ts.transpileModule(fs.readFileSync(file, 'utf8'), {
    fileName: file,
    compilerOptions: { target: ts.ScriptTarget.ES2020, module: ts.ModuleKind.ES2020 },
  });
  return Buffer.from(out.outputText, 'utf8');
}

/** Whether `If-None-Match` (a list of ETags, or `*`) matches `etag` (weak comparison, RFC 9110 §13.1.2). */
function matchesEtag(ifNoneMatch: string | undefined, etag: string): boolean {
  if (!ifNoneMatch) return false;
  return ifNoneMatch.split(',').some((t) => {
    const tag = t.trim();
    return tag === '*' || tag.replace(/^W\//, '') === etag;
  });
}

const SECURITY_HEADERS = {
  'content-security-policy': LOCAL_PAGE_CSP,
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'x-frame-options': 'DENY',
};

/** Registers `GET /` and `GET /assets/:name` serving `page` (see the module comment). */
export function registerLocalPage(http: HttpServer, page: LocalPage): void {
  http.route('GET', '/', (_req, res) => {
    res.writeHead(200, {
      ...SECURITY_HEADERS,
      'content-type': page.index.contentType,
      'content-length': page.index.body.length,
      'cache-control': 'no-store',
    });
    res.end(page.index.body);
  });

  http.route('GET', `${ASSETS_PREFIX}:name`, (req, res, params) => {
    const name = params.name ?? '';
    const file = page.assets.get(name);
    if (!file) throw new HttpError(404, `not found: ${ASSETS_PREFIX}${encodeURIComponent(name)}`);
    const headers = { ...SECURITY_HEADERS, 'cache-control': 'no-cache', etag: file.etag };
    if (matchesEtag(req.headers['if-none-match'], file.etag)) {
      res.writeHead(304, headers);
      res.end();
      return;
    }
    res.writeHead(200, { ...headers, 'content-type': file.contentType, 'content-length': file.body.length });
    res.end(file.body);
  });
}
