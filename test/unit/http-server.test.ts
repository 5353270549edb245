import http from 'node:http';
import { Writable } from 'node:stream';
import { afterEach, describe, expect, it } from 'vitest';
import { createLogger } from '../../src/logger.js';
import { HttpError, readJsonBody, sendJson } from '../../src/http/json.js';
import { createHttpServer, type HttpServer } from '../../src/http/server.js';

/** A logger whose JSON lines are collected in `lines`. */
function captureLogger() {
  const lines: string[] = [];
  const dest = new Writable({
    write(chunk, _enc, cb) {
      lines.push(String(chunk));
      cb();
    },
  });
  return { logger: createLogger('info', dest), lines };
}

let server: HttpServer | undefined;
afterEach(async () => {
  await server?.close();
  server = undefined;
});

async function start(setup: (s: HttpServer) => void) {
  const { logger, lines } = captureLogger();
  server = createHttpServer({ host: '127.0.0.1', port: 0, logger });
  setup(server);
  const { url, port } = await server.listen();
  return { url, port, lines };
}

describe('http server', () => {
  it('routes exact paths and :param segments, and passes the parsed URL', async () => {
    const { url } = await start((s) => {
      s.route('GET', '/a', (_req, res) => sendJson(res, 200, { route: 'a' }));
      s.route('GET', '/items/:id/parts/:part', (_req, res, params, u) => sendJson(res, 200, { params, q: u.searchParams.get('q') }));
      s.route('POST', '/a', (_req, res) => sendJson(res, 201, { route: 'post a' }));
    });
    expect(await (await fetch(`${url}/a`)).json()).toEqual({ route: 'a' });
    const r = await fetch(`${url}/a`, { method: 'POST' });
    expect(r.status).toBe(201);
    expect(await (await fetch(`${url}/items/x%20y/parts/7?q=hi`)).json()).toEqual({ params: { id: 'x y', part: '7' }, q: 'hi' });
  });

  it('answers 404 JSON for unknown paths and 405 for a known path with another method', async () => {
    const { url } = await start((s) => s.route('GET', '/only-get', (_req, res) => sendJson(res, 200, {})));
    const notFound = await fetch(`${url}/nope`);
    expect(notFound.status).toBe(404);
    expect(notFound.headers.get('content-type')).toMatch(/application\/json/);
    expect(await notFound.json()).toEqual({ error: expect.stringContaining('/nope') });
    expect((await fetch(`${url}/only-get/extra`)).status).toBe(404);
    expect((await fetch(`${url}/`)).status).toBe(404);
    const wrongMethod = await fetch(`${url}/only-get`, { method: 'DELETE' });
    expect(wrongMethod.status).toBe(405);
    expect(wrongMethod.headers.get('allow')).toBe('GET');
  });

  it('treats a malformed percent-encoded param as not found', async () => {
    const { url } = await start((s) => s.route('GET', '/x/:id', (_req, res, p) => sendJson(res, 200, p)));
    expect((await fetch(`${url}/x/%E0%A4%A`)).status).toBe(404);
  });

  it('answers 500 JSON when a handler throws or rejects, logs it, and keeps serving', async () => {
    const { url, lines } = await start((s) => {
      s.route('GET', '/throw', () => {
        throw new Error('boom');
      });
      s.route('GET', '/reject', async () => {
        await new Promise((r) => setTimeout(r, 5));
        throw new Error('async boom');
      });
      s.route('GET', '/ok', (_req, res) => sendJson(res, 200, { ok: true }));
    });
    for (const path of ['/throw', '/reject']) {
      const r = await fetch(`${url}${path}`);
      expect(r.status).toBe(500);
      expect(await r.json()).toEqual({ error: 'internal error' });
    }
    expect(await (await fetch(`${url}/ok`)).json()).toEqual({ ok: true });
    expect(lines.join('')).toContain('boom');
  });

  it('sends an HttpError with its status and message', async () => {
    const { url } = await start((s) =>
      s.route('GET', '/teapot', () => {
        throw new HttpError(418, 'short and stout');
      }),
    );
    const r = await fetch(`${url}/teapot`);
    expect(r.status).toBe(418);
    expect(await r.json()).toEqual({ error: 'short and stout' });
  });

  describe('readJsonBody', () => {
    const echo = (s: HttpServer, limit?: number) => s.route('POST', '/echo', async (req, res) => sendJson(res, 200, { got: await readJsonBody(req, limit) }));
    const post = (url: string, body: string | Uint8Array, type = 'application/json') =>
      fetch(`${url}/echo`, { method: 'POST', headers: { 'content-type': type }, body });

    it('parses JSON bodies', async () => {
      const { url } = await start((s) => echo(s));
      const r = await post(url, JSON.stringify({ a: [1, 'ü'] }), 'application/json; charset=utf-8');
      expect(await r.json()).toEqual({ got: { a: [1, 'ü'] } });
    });

    it('answers 400 JSON for invalid JSON, an empty body and invalid UTF-8', async () => {
      const { url } = await start((s) => echo(s));
      for (const body of ['{"a":', '', new Uint8Array([0x7b, 0xff, 0x7d])]) {
        const r = await post(url, body);
        expect(r.status).toBe(400);
        expect(await r.json()).toEqual({ error: expect.any(String) });
      }
    });

    it('answers 415 when the body is not declared as JSON', async () => {
      const { url } = await start((s) => echo(s));
      const r = await post(url, '{}', 'text/plain');
      expect(r.status).toBe(415);
      expect(await r.json()).toEqual({ error: expect.stringMatching(/application\/json/) });
    });

    it('answers 400 for a body over the limit (declared or streamed) and keeps serving', async () => {
      const { url, port } = await start((s) => {
        echo(s, 1024);
        s.route('GET', '/ok', (_req, res) => sendJson(res, 200, { ok: true }));
      });
      const big = await post(url, JSON.stringify({ s: 'x'.repeat(2000) }));
      expect(big.status).toBe(400);
      expect(await big.json()).toEqual({ error: expect.stringMatching(/larger than 1024 bytes/) });

      // Chunked upload without Content-Length: the limit is enforced while reading.
      const streamed = await new Promise<{ status: number; body: string }>((resolve, reject) => {
        const req = http.request({ host: '127.0.0.1', port, path: '/echo', method: 'POST', headers: { 'content-type': 'application/json' } }, (res) => {
          let body = '';
          res.on('data', (c) => (body += c));
          res.on('end', () => resolve({ status: res.statusCode!, body }));
        });
        req.on('error', reject);
        req.write('{"s":"');
        req.write('y'.repeat(4000));
        req.end('"}');
      });
      expect(streamed.status).toBe(400);
      expect(JSON.parse(streamed.body)).toEqual({ error: expect.stringMatching(/larger than/) });
      expect(await (await fetch(`${url}/ok`)).json()).toEqual({ ok: true });
    });

    it('uses a 1 MiB default limit', async () => {
      const { url } = await start((s) => echo(s));
      const justUnder = JSON.stringify({ s: 'a'.repeat(1024 * 1024 - 20) });
      expect((await post(url, justUnder)).status).toBe(200);
      const over = JSON.stringify({ s: 'a'.repeat(1024 * 1024) });
      expect((await post(url, over)).status).toBe(400);
    });
  });

  it('close() ends open event streams and resolves', async () => {
    const { url } = await start((s) =>
      s.route('GET', '/stream', (_req, res) => {
        res.writeHead(200, { 'content-type': 'text/event-stream' });
        res.write(': hello\n\n');
      }),
    );
    const r = await fetch(`${url}/stream`);
    const reader = r.body!.getReader();
    await reader.read();
    const t0 = Date.now();
    await server!.close();
    server = undefined;
    expect(Date.now() - t0).toBeLessThan(1500);
    const end = await reader.read().catch(() => ({ done: true }));
    expect(end.done).toBe(true);
  });

  it('rejects a duplicate route and a pattern without a leading slash', async () => {
    await start((s) => {
      s.route('GET', '/dup', () => undefined);
      expect(() => s.route('GET', '/dup', () => undefined)).toThrow(/already registered/);
      expect(() => s.route('GET', 'nope', () => undefined)).toThrow(/must start with/);
    });
  });

  it('listen() rejects when the port is taken', async () => {
    const { port } = await start(() => undefined);
    const { logger } = captureLogger();
    const second = createHttpServer({ host: '127.0.0.1', port, logger });
    await expect(second.listen()).rejects.toThrow(/EADDRINUSE/);
  });
});
