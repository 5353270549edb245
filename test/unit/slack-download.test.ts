/**
 * `SlackAdapter.fetchFile` (`src/platforms/slack/download.ts`): the bytes of an attached file from
 * the Slack twin with the bot token; the token only to Slack's file host and the Web API's host
 * (never across a redirect elsewhere); Slack's HTML sign-in page (no `files:read`) and HTTP errors
 * turned into errors for people; stopping and stalls.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../../src/logger.js';
import { SlackAdapter } from '../../src/platforms/slack/adapter.js';
import { downloadSlackFile, HTML_ANSWER_ERROR } from '../../src/platforms/slack/download.js';
import type { InboundFile } from '../../src/core/messages.js';
import { SlackTwin } from '../twins/slack/twin.js';

const logger = createLogger(process.env.TEST_LOG_LEVEL ?? 'silent');
let twin: SlackTwin;

/** A plain HTTP server recording each request's path and Authorization header. */
interface Recorder {
  url: string;
  requests: Array<{ path: string; authorization?: string }>;
  close(): Promise<void>;
}
const servers: Recorder[] = [];

async function recorder(handler: (req: http.IncomingMessage, res: http.ServerResponse) => void): Promise<Recorder> {
  const requests: Recorder['requests'] = [];
  const server = http.createServer((req, res) => {
    requests.push({ path: req.url ?? '', ...(req.headers.authorization ? { authorization: req.headers.authorization } : {}) });
    handler(req, res);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const rec: Recorder = {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    requests,
    close: () =>
      new Promise<void>((r) => {
        server.close(() => r());
        server.closeAllConnections();
      }),
  };
  servers.push(rec);
  return rec;
}

function adapterFor(token: string, apiUrl = twin.apiUrl): SlackAdapter {
  return new SlackAdapter({ config: { botToken: token, appToken: twin.appToken, apiUrl, allowBots: false }, logger });
}

const inbound = (o: Record<string, unknown>): InboundFile => ({
  id: String(o.id),
  name: String(o.name),
  mimeType: String(o.mimetype),
  size: Number(o.size),
  url: String(o.url_private_download),
});

async function bytesOf(body: AsyncIterable<Uint8Array>): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of body) chunks.push(Buffer.from(c));
  return Buffer.concat(chunks);
}

beforeAll(async () => {
  twin = await SlackTwin.start();
});
afterEach(async () => {
  for (const s of servers.splice(0)) await s.close();
});
afterAll(async () => {
  await twin?.close();
});

describe('SlackAdapter.fetchFile', () => {
  it('downloads the file with the bot token as Bearer; the twin records one download by the bot', async () => {
    const content = Buffer.alloc(300_000, 'a');
    const file = twin.addFile({ name: 'big.txt', content });
    const body = await adapterFor(twin.botToken).fetchFile(inbound(file));
    expect((await bytesOf(body)).equals(content)).toBe(true);
    expect(twin.downloadsOf(String(file.id)).map((d) => [d.auth, d.status])).toEqual([['bot', 200]]);
    // url_private works the same.
    const viaPrivate = await adapterFor(twin.botToken).fetchFile({ ...inbound(file), url: String(file.url_private) });
    expect((await bytesOf(viaPrivate)).length).toBe(content.length);
  });

  it("Slack's HTML sign-in page (token without files:read) is an error, not the file; an HTML file is fine", async () => {
    const file = twin.addFile({ name: 'notes.txt', content: 'secret notes' });
    await expect(adapterFor('xoxb-not-the-bot').fetchFile(inbound(file))).rejects.toThrow(HTML_ANSWER_ERROR);
    expect(HTML_ANSWER_ERROR).toBe(
      'download failed: Slack answered with a web page instead of the file — is the files:read scope granted? (slack/manifest.yml)',
    );
    expect(twin.downloadsOf(String(file.id)).map((d) => [d.auth, d.status, d.response.contentType])).toEqual([['unknown', 200, 'text/html; charset=utf-8']]);
    const page = twin.addFile({ name: 'page.html', content: '<html>hi</html>', mimetype: 'text/html' });
    expect((await bytesOf(await adapterFor(twin.botToken).fetchFile(inbound(page)))).toString()).toBe('<html>hi</html>');
  });

  it('a non-2xx answer is `download failed: HTTP <status>`', async () => {
    const file = twin.addFile({ name: 'gone.txt', content: 'x' });
    twin.failDownloads(String(file.id), 404);
    twin.failDownloads(String(file.id), 500);
    const a = adapterFor(twin.botToken);
    await expect(a.fetchFile(inbound(file))).rejects.toThrow(/^download failed: HTTP 404$/);
    await expect(a.fetchFile(inbound(file))).rejects.toThrow(/^download failed: HTTP 500$/);
    expect((await bytesOf(await a.fetchFile(inbound(file)))).toString()).toBe('x');
  });

  it('refuses a URL on another host without sending anything', async () => {
    const other = await recorder((_req, res) => res.end('stolen'));
    const a = adapterFor(twin.botToken);
    const file: InboundFile = { id: 'F1', name: 'x.txt', url: `${other.url}/files-pri/T0TWIN-F1/x.txt` };
    await expect(a.fetchFile(file)).rejects.toThrow(
      `download failed: ${new URL(other.url).host} is not a Slack file host; the bot token is sent only to files.slack.com and ${new URL(twin.url).host}`,
    );
    await expect(a.fetchFile({ ...file, url: 'https://evil.example/files.slack.com/x' })).rejects.toThrow(/evil\.example is not a Slack file host/);
    await expect(a.fetchFile({ ...file, url: 'http://files.slack.com/x' })).rejects.toThrow(/not a Slack file host/); // plain http: another origin
    await expect(a.fetchFile({ ...file, url: 'file:///etc/passwd' })).rejects.toThrow(/no http\(s\) URL/);
    expect(other.requests).toEqual([]);
  });

  it('follows a redirect: with the token on the same origin, without it to another host', async () => {
    const cdn = await recorder((_req, res) => res.writeHead(200, { 'content-type': 'text/plain' }).end('from the cdn'));
    const api = await recorder((req, res) => {
      if (req.url === '/hop') return void res.writeHead(302, { location: '/final' }).end();
      if (req.url === '/final') return void res.writeHead(200, { 'content-type': 'text/plain' }).end('same origin');
      res.writeHead(307, { location: `${cdn.url}/signed?x=1` }).end();
    });
    const a = adapterFor('xoxb-redirect-token', `${api.url}/api/`);
    const same = await a.fetchFile({ id: 'F1', name: 'a.txt', url: `${api.url}/hop` });
    expect((await bytesOf(same)).toString()).toBe('same origin');
    expect(api.requests).toEqual([
      { path: '/hop', authorization: 'Bearer xoxb-redirect-token' },
      { path: '/final', authorization: 'Bearer xoxb-redirect-token' },
    ]);
    const away = await a.fetchFile({ id: 'F2', name: 'b.txt', url: `${api.url}/elsewhere` });
    expect((await bytesOf(away)).toString()).toBe('from the cdn');
    expect(cdn.requests).toEqual([{ path: '/signed?x=1' }]); // no Authorization header
  });

  it('gives up after 5 redirects', async () => {
    const api = await recorder((_req, res) => res.writeHead(302, { location: '/again' }).end());
    await expect(adapterFor('xoxb-t', `${api.url}/api/`).fetchFile({ id: 'F1', name: 'a', url: `${api.url}/start` })).rejects.toThrow(
      'download failed: more than 5 redirects',
    );
    expect(api.requests).toHaveLength(6);
  });

  it('a stalled download ends with an error; the caller stopping ends it with its reason', async () => {
    const stall = await recorder((req, res) => {
      res.writeHead(200, { 'content-type': 'application/octet-stream' });
      res.write('first bytes');
      if (req.url === '/never') res.flushHeaders(); // then nothing more
    });
    const origins = [stall.url];
    const stalled = await downloadSlackFile({ id: 'F1', name: 'a', url: `${stall.url}/never` }, { token: 't', origins, idleMs: 300 });
    await expect(bytesOf(stalled)).rejects.toThrow('download failed: no data from Slack for 0 s');
    const stop = new AbortController();
    const body = await downloadSlackFile({ id: 'F1', name: 'a', url: `${stall.url}/never` }, { token: 't', origins, signal: stop.signal });
    const reading = bytesOf(body);
    stop.abort(new Error('the turn was stopped'));
    await expect(reading).rejects.toThrow('the turn was stopped');
    // A connection refused is a download failure too.
    const closed = await recorder((_req, res) => res.end());
    await closed.close();
    await expect(downloadSlackFile({ id: 'F1', name: 'a', url: `${closed.url}/x` }, { token: 't', origins: [closed.url] })).rejects.toThrow(
      /^download failed: ECONNREFUSED$/,
    );
  });
});
