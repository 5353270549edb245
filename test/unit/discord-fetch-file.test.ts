/** Discord fetchFile (issue 13 "files in"): which hosts are fetched from, errors for people, redirects, timeouts, no credentials. */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { fetchDiscordFile, fileUrlRefusal } from '../../src/platforms/discord/fetch-file.js';

const API = 'http://127.0.0.1:4567/api';

describe('fileUrlRefusal: only Discord file hosts (https) and the origin of DISCORD_API_URL', () => {
  it('allows cdn.discordapp.com and media.discordapp.net over https', () => {
    expect(fileUrlRefusal('https://cdn.discordapp.com/attachments/1/2/a.txt?ex=1&is=2&hm=3')).toBeUndefined();
    expect(fileUrlRefusal('https://media.discordapp.net/attachments/1/2/a.png')).toBeUndefined();
    expect(fileUrlRefusal('https://CDN.DiscordApp.com/attachments/1/2/a.txt')).toBeUndefined(); // hosts are case-insensitive
  });

  it('refuses other hosts, look-alikes, plain http, other ports and non-URLs, naming the host', () => {
    expect(fileUrlRefusal('https://example.com/a.txt')).toBe('refused: example.com is not a Discord file host (cdn.discordapp.com, media.discordapp.net)');
    expect(fileUrlRefusal('https://cdn.discordapp.com.evil.test/a.txt')).toMatch(/^refused: cdn\.discordapp\.com\.evil\.test /);
    expect(fileUrlRefusal('https://cdn.discordapp.com@evil.test/a.txt')).toMatch(/^refused: evil\.test /);
    expect(fileUrlRefusal('https://evil.discordapp.com/a.txt')).toMatch(/^refused: /);
    expect(fileUrlRefusal('http://cdn.discordapp.com/a.txt')).toMatch(/^refused: /);
    expect(fileUrlRefusal('https://cdn.discordapp.com:8443/a.txt')).toMatch(/^refused: cdn\.discordapp\.com:8443 /);
    expect(fileUrlRefusal('http://169.254.169.254/latest/meta-data')).toMatch(/^refused: 169\.254\.169\.254 /);
    expect(fileUrlRefusal('file:///etc/passwd')).toMatch(/^refused: /);
    expect(fileUrlRefusal('not a url')).toBe('refused: not a URL');
  });

  it('allows the origin of DISCORD_API_URL (scheme, host and port), nothing else of that host', () => {
    expect(fileUrlRefusal('http://127.0.0.1:4567/attachments/1/2/a.txt', API)).toBeUndefined();
    expect(fileUrlRefusal('http://127.0.0.1:4568/attachments/1/2/a.txt', API)).toMatch(/^refused: 127\.0\.0\.1:4568 /);
    expect(fileUrlRefusal('https://127.0.0.1:4567/a.txt', API)).toMatch(/^refused: /);
    expect(fileUrlRefusal('http://127.0.0.1:4567/a.txt')).toMatch(/^refused: /); // without DISCORD_API_URL
  });
});

/** A file server on 127.0.0.1 whose answers a test sets; records each request's headers. */
let server: http.Server | undefined;
async function serve(handler: http.RequestListener): Promise<{ base: string; requests: http.IncomingHttpHeaders[] }> {
  const requests: http.IncomingHttpHeaders[] = [];
  server = http.createServer((req, res) => {
    requests.push(req.headers);
    handler(req, res);
  });
  await new Promise<void>((r) => server!.listen(0, '127.0.0.1', () => r()));
  return { base: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, requests };
}
afterEach(async () => {
  server?.closeAllConnections();
  await new Promise((r) => (server ? server.close(r) : r(undefined)));
  server = undefined;
});

async function text(body: AsyncIterable<Uint8Array>): Promise<string> {
  let s = '';
  for await (const c of body) s += Buffer.from(c).toString('utf8');
  return s;
}

describe('fetchDiscordFile', () => {
  it('streams the body of an allowed URL, sending no Authorization header or cookie', async () => {
    const { base, requests } = await serve((_req, res) => res.writeHead(200, { 'content-type': 'text/plain' }).end('hello file'));
    const body = await fetchDiscordFile({ url: `${base}/attachments/1/2/a.txt?ex=1` }, { apiUrl: `${base}/api` });
    expect(await text(body)).toBe('hello file');
    expect(requests).toHaveLength(1);
    expect(requests[0]!.authorization).toBeUndefined();
    expect(requests[0]!.cookie).toBeUndefined();
  });

  it('a refused host is never contacted', async () => {
    const { base, requests } = await serve((_req, res) => res.end('x'));
    await expect(fetchDiscordFile({ url: `${base}/a.txt` })).rejects.toThrow(/^refused: 127\.0\.0\.1:\d+ is not a Discord file host/);
    expect(requests).toHaveLength(0);
  });

  it('non-2xx → "download failed: HTTP <status>"', async () => {
    let status = 404;
    const { base } = await serve((_req, res) => res.writeHead(status).end('gone'));
    await expect(fetchDiscordFile({ url: `${base}/a` }, { apiUrl: base })).rejects.toThrow(/^download failed: HTTP 404$/);
    status = 500;
    await expect(fetchDiscordFile({ url: `${base}/a` }, { apiUrl: base })).rejects.toThrow(/^download failed: HTTP 500$/);
  });

  it('follows a redirect to an allowed host, refuses one to another host, and stops after 3', async () => {
    const { base, requests } = await serve((req, res) => {
      if (req.url === '/hop') res.writeHead(302, { location: '/final' }).end();
      else if (req.url === '/away') res.writeHead(302, { location: 'http://169.254.169.254/latest/meta-data' }).end();
      else if (req.url === '/loop') res.writeHead(301, { location: '/loop' }).end();
      else res.writeHead(200).end('arrived');
    });
    expect(await text(await fetchDiscordFile({ url: `${base}/hop` }, { apiUrl: base }))).toBe('arrived');
    await expect(fetchDiscordFile({ url: `${base}/away` }, { apiUrl: base })).rejects.toThrow(/^refused: 169\.254\.169\.254 /);
    const before = requests.length;
    await expect(fetchDiscordFile({ url: `${base}/loop` }, { apiUrl: base })).rejects.toThrow('download failed: too many redirects');
    expect(requests.length - before).toBe(4);
  });

  it('a connection that fails, or headers that never come, is a "download failed" with the reason', async () => {
    const { base } = await serve(() => {}); // never answers
    await expect(fetchDiscordFile({ url: `${base}/a` }, { apiUrl: base, headersTimeoutMs: 200 })).rejects.toThrow('download failed: no answer within 1 s');
    // A port nobody listens on any more.
    const closed = new Promise((r) => server!.close(r));
    server!.closeAllConnections();
    await closed;
    await expect(fetchDiscordFile({ url: `${base}/a` }, { apiUrl: base })).rejects.toThrow(/^download failed: .*ECONNREFUSED/);
    server = undefined;
  });

  it('a body that stalls fails after the idle timeout; a slow consumer does not count as a stall', async () => {
    const { base } = await serve((req, res) => {
      res.writeHead(200);
      res.write('first ');
      if (req.url === '/stall') return; // no more data, no end
      setTimeout(() => res.end('second'), 50);
    });
    const stalled = await fetchDiscordFile({ url: `${base}/stall` }, { apiUrl: base, bodyIdleTimeoutMs: 300 });
    await expect(text(stalled)).rejects.toThrow('download failed: no data for 1 s');
    const slow = await fetchDiscordFile({ url: `${base}/ok` }, { apiUrl: base, bodyIdleTimeoutMs: 300 });
    let got = '';
    for await (const c of slow) {
      got += Buffer.from(c).toString('utf8');
      await new Promise((r) => setTimeout(r, 500)); // longer than the idle timeout, spent by the reader
    }
    expect(got).toBe('first second');
  });

  it('an abort of the caller rejects with its reason', async () => {
    const { base } = await serve(() => {});
    const ac = new AbortController();
    const p = fetchDiscordFile({ url: `${base}/a` }, { apiUrl: base, signal: ac.signal });
    ac.abort(new Error('turn stopped'));
    await expect(p).rejects.toThrow('turn stopped');
  });
});
