/**
 * The local chat page's static files (src/platforms/local/page.ts): what the server answers for
 * the page, its script and its style (content type, CSP, caching), that nothing but the loaded
 * files is served (no path traversal, no sources), and how a folder is loaded.
 */
import fs from 'node:fs';
import nodeHttp from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHttpServer, type HttpServer } from '../../src/http/server.js';
import { createLogger } from '../../src/logger.js';
import { LocalAdapter } from '../../src/platforms/local/adapter.js';
import { LOCAL_PAGE_CSP, LOCAL_PUBLIC_DIR, loadLocalPage } from '../../src/platforms/local/page.js';
import { MemoryLocalMessages } from '../helpers/memory-local-messages.js';

/** A GET with the path sent exactly as given (fetch would normalise `..`). */
function get(
  port: number,
  pathname: string,
  headers: Record<string, string> = {},
): Promise<{ status: number; headers: nodeHttp.IncomingHttpHeaders; text: string }> {
  return new Promise((resolve, reject) => {
    const req = nodeHttp.request({ host: '127.0.0.1', port, path: pathname, headers }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (d) => (text += d));
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, text }));
    });
    req.on('error', reject);
    req.end();
  });
}

describe('the local page served by the adapter', () => {
  let http: HttpServer;
  let adapter: LocalAdapter;
  let port: number;

  beforeAll(async () => {
    const logger = createLogger('silent');
    http = createHttpServer({ host: '127.0.0.1', port: 0, logger });
    adapter = new LocalAdapter({ repo: new MemoryLocalMessages(), http, logger });
    port = (await http.listen()).port;
  });

  afterAll(async () => {
    await adapter?.stop();
    await http?.close();
  });

  it('CSP: only this server’s scripts and styles, no inline code', () => {
    const directives = new Map(LOCAL_PAGE_CSP.split('; ').map((d) => [d.split(' ')[0]!, d.split(' ').slice(1).join(' ')]));
    expect(directives.get('default-src')).toBe("'none'");
    expect(directives.get('script-src')).toBe("'self'");
    expect(directives.get('style-src')).toBe("'self'");
    expect(directives.get('connect-src')).toBe("'self'");
    expect(directives.get('frame-ancestors')).toBe("'none'");
    expect(directives.get('require-trusted-types-for')).toBe("'script'");
    // The one Trusted Types policy is DOMPurify's: the page writes no HTML DOMPurify did not return.
    expect(directives.get('trusted-types')).toBe('dompurify');
    expect(LOCAL_PAGE_CSP).not.toMatch(/unsafe|sha256|\*/);
  });

  it('GET / is the HTML page, not cached, loading its style and script from /assets/ only', async () => {
    const r = await get(port, '/');
    expect(r.status).toBe(200);
    expect(r.headers['content-type']).toBe('text/html; charset=utf-8');
    expect(r.headers['content-security-policy']).toBe(LOCAL_PAGE_CSP);
    expect(r.headers['cache-control']).toBe('no-store');
    expect(r.headers['x-content-type-options']).toBe('nosniff');
    expect(Number(r.headers['content-length'])).toBe(Buffer.byteLength(r.text));
    expect(r.text).toMatch(/<link rel="stylesheet" href="\/assets\/style.css" ?\/?>/);
    expect(r.text).toContain('<script type="module" src="/assets/app.js"></script>');
    // No inline code: every <script> has a src and is empty; no <style>, no style or on* attributes.
    expect(r.text.match(/<script\b[^>]*>/g)).toEqual(['<script type="module" src="/assets/app.js">']);
    expect(r.text).not.toMatch(/<style|\sstyle=|\son[a-z]+=/i);
  });

  it('GET /assets/app.js and every module it imports are JavaScript with an ETag', async () => {
    const seen = new Set<string>();
    const queue = ['app.js'];
    while (queue.length > 0) {
      const name = queue.shift()!;
      if (seen.has(name)) continue;
      seen.add(name);
      const r = await get(port, `/assets/${name}`);
      expect(r.status, name).toBe(200);
      expect(r.headers['content-type']).toBe('text/javascript; charset=utf-8');
      expect(r.headers['content-security-policy']).toBe(LOCAL_PAGE_CSP);
      expect(r.headers['x-content-type-options']).toBe('nosniff');
      expect(r.headers['cache-control']).toBe('no-cache');
      expect(r.headers.etag).toMatch(/^"[A-Za-z0-9_-]{43}"$/);
      expect(r.text).not.toMatch(/^\s*interface \w+|: HTMLElement\b|<T>\(/m); // compiled: no TypeScript left
      for (const [, dep] of r.text.matchAll(/\bfrom '\.\/([a-z-]+\.js)'/g)) queue.push(dep!);
    }
    expect([...seen].sort()).toEqual([
      'app.js',
      'attach.js',
      'cards.js',
      'dom.js',
      'markdown.js',
      'name.js',
      'progress.js',
      'vendor-highlight.js',
      'vendor-marked.js',
      'vendor-purify.js',
    ]);
    // The libraries are the packages' own browser builds, served from node_modules (no CDN).
    for (const [asset, file] of [
      ['vendor-marked.js', 'marked/lib/marked.esm.js'],
      ['vendor-purify.js', 'dompurify/dist/purify.es.mjs'],
      ['vendor-highlight.js', '@highlightjs/cdn-assets/es/highlight.min.js'],
    ] as const) {
      const r = await get(port, `/assets/${asset}`);
      expect(r.text).toBe(fs.readFileSync(path.join('node_modules', file), 'utf8'));
    }
  });

  it('GET /assets/style.css is CSS; a matching If-None-Match answers 304 without a body', async () => {
    const r = await get(port, '/assets/style.css');
    expect(r.status).toBe(200);
    expect(r.headers['content-type']).toBe('text/css; charset=utf-8');
    expect(r.headers['content-security-policy']).toBe(LOCAL_PAGE_CSP);
    expect(r.text).toContain('.login-notice');
    const etag = r.headers.etag!;
    const again = await get(port, '/assets/style.css', { 'if-none-match': `"other", W/${etag}` });
    expect(again.status).toBe(304);
    expect(again.text).toBe('');
    expect(again.headers.etag).toBe(etag);
    expect((await get(port, '/assets/style.css', { 'if-none-match': '"other"' })).status).toBe(200);
  });

  it('serves nothing but the loaded files: traversal, sources and unknown names answer 404', async () => {
    const attempts = [
      '/assets/..%2Fpage.ts',
      '/assets/..%2F..%2F..%2F..%2Fpackage.json',
      '/assets/%2e%2e%2fapi.ts',
      '/assets/..%5Capi.ts',
      '/assets/../page.ts',
      '/assets/%2e%2e/page.ts',
      '/assets/./app.ts',
      '/assets/app.ts',
      '/assets/tsconfig.json',
      '/assets/index.html',
      '/assets/',
      '/assets/nope.js',
      '/assets/%2Fetc%2Fpasswd',
      '/assets/app.js/x',
      '/style.css',
    ];
    for (const p of attempts) {
      const r = await get(port, p);
      expect(r.status, p).toBe(404);
      expect(r.headers['content-type'], p).toMatch(/^application\/json/);
      expect(r.text, p).not.toMatch(/import |compilerOptions|"name": "agentbridge"|root:/);
    }
  });
});

describe('loadLocalPage', () => {
  let dir: string;
  beforeAll(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ab-page-files-'));
  });
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  /** A fresh folder under `dir` with these files. */
  function folder(name: string, files: Record<string, string>): string {
    const d = path.join(dir, name);
    fs.mkdirSync(d);
    for (const [f, text] of Object.entries(files)) fs.writeFileSync(path.join(d, f), text);
    return d;
  }

  it('takes .html, .css and .js files, transpiles a .ts without its .js, and leaves out the rest', () => {
    const d = folder('mixed', {
      'index.html': '<script type="module" src="/assets/a.js"></script><link rel="stylesheet" href="/assets/s.css">',
      'a.ts': 'const n: number = 1;\nexport const a = n;\n',
      'b.ts': 'export const b: string = "from ts";\n',
      'b.js': 'export const b = "built";\n',
      's.css': 'p {}',
      'types.d.ts': 'declare const x: number;',
      'tsconfig.json': '{}',
      '.hidden.js': 'secret',
      'notes.txt': 'x',
    });
    fs.symlinkSync('/etc/hostname', path.join(d, 'link.js'));
    const page = loadLocalPage(d);
    // The folder's files, plus the vendored libraries (../vendor.ts) every page gets.
    expect([...page.assets.keys()].sort()).toEqual([
      'a.js',
      'b.js',
      's.css',
      'vendor-highlight.js',
      'vendor-hljs-dark.css',
      'vendor-hljs-light.css',
      'vendor-marked.js',
      'vendor-purify.js',
    ]);
    expect(page.assets.get('a.js')!.body.toString()).toMatch(/^const n = 1;\s+export const a = n;/);
    expect(page.assets.get('b.js')!.body.toString()).toBe('export const b = "built";\n');
    expect(page.index.contentType).toBe('text/html; charset=utf-8');
    expect(loadLocalPage(d)).toBe(page); // read once per folder
  });

  it('refuses an incomplete folder: no index.html, or a file it refers to is missing', () => {
    expect(() => loadLocalPage(folder('empty', { 'a.js': '' }))).toThrow(/no index\.html .*npm run build/);
    expect(() => loadLocalPage(folder('partial', { 'index.html': '<script type="module" src="/assets/app.js"></script>' }))).toThrow(
      /app\.js is missing .*npm run build/,
    );
    expect(() => loadLocalPage(path.join(dir, 'absent'))).toThrow(/ENOENT/);
  });

  // `npm test` builds first; without a build there is nothing to compare.
  const built = path.resolve('dist/platforms/local/public');
  it.skipIf(!fs.existsSync(built))('the build puts the same files in dist/ as the sources give', () => {
    const fromSources = loadLocalPage(LOCAL_PUBLIC_DIR);
    const fromBuild = loadLocalPage(built);
    expect([...fromBuild.assets.keys()].sort()).toEqual([...fromSources.assets.keys()].sort());
    expect(fromBuild.index.body.equals(fromSources.index.body)).toBe(true);
    expect(fromBuild.assets.get('style.css')!.body.equals(fromSources.assets.get('style.css')!.body)).toBe(true);
  });
});
