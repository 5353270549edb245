/**
 * Files people send in the local chat (issue 13 "files in"), in process over a real SQLite store:
 * `POST /api/local/files` (multipart parsing, the size cap and its 413 — by Content-Length, while
 * streaming, and for the file part —, forged fields ignored, the owner from the login only,
 * cross-site uploads refused), `files` on `POST /api/local/messages` (only the sender's own unsent
 * uploads: unknown, foreign and already sent ids → 400 with nothing accepted; at most 10; text may
 * be empty), the message record and the served file, `fetchFile`, and the pure helpers.
 */
import fs from 'node:fs';
import nodeHttp from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { InboundMessage } from '../../src/core/messages.js';
import { HostAllowList } from '../../src/http/hosts.js';
import { createHttpServer } from '../../src/http/server.js';
import { LocalAdapter } from '../../src/platforms/local/adapter.js';
import { LocalAuth } from '../../src/platforms/local/auth.js';
import { LocalFiles } from '../../src/platforms/local/files.js';
import { hashToken, newToken } from '../../src/platforms/local/login-tokens.js';
import { MULTIPART_OVERHEAD_BYTES } from '../../src/platforms/local/multipart.js';
import {
  cleanUploadName,
  LocalUploads,
  MAX_UPLOAD_NAME_CHARS,
  UNSENT_TTL_MS,
  UPLOAD_ID_PATTERN,
  uploadIdOfUrl,
  uploadType,
  uploadUrl,
} from '../../src/platforms/local/uploads.js';
import type { InboundFile } from '../../src/core/messages.js';
import { openStore, type SqliteStore } from '../../src/store/store.js';
import { collectingLogger } from '../helpers/core.js';

const MiB = 1024 * 1024;
/** A 1×1 PNG. */
const PNG = Buffer.from('iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8DwHwAFBQIAX8jx0gAAAABJRU5ErkJggg==', 'base64');

interface World {
  dir: string;
  store: SqliteStore;
  adapter: LocalAdapter;
  uploads: LocalUploads;
  base: string;
  port: number;
  received: InboundMessage[];
  /** Runs before the sink's transaction (to race it). */
  beforeAccept?: () => Promise<void>;
}

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

/** The local adapter with uploads (limit 1 MiB) over a real store; the sink runs the hooks in a transaction like the core's Inbox. */
async function world(opts: { loginRequired?: boolean } = {}): Promise<World> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ab-uploads-'));
  cleanups.push(() => fs.rmSync(dir, { recursive: true, force: true }));
  const { logger } = collectingLogger('silent');
  const store = openStore({ dbPath: path.join(dir, 'agentbridge.db'), logger });
  cleanups.push(() => store.close());
  const http = createHttpServer({ host: '127.0.0.1', port: 0, logger, hosts: new HostAllowList() });
  const auth = new LocalAuth({ users: store.localUsers, requiredByConfig: opts.loginRequired ?? false, secureCookie: false, logger });
  const uploads = new LocalUploads(dir, store.localUploads);
  const adapter = new LocalAdapter({ repo: store.localMessages, http, logger, auth, files: new LocalFiles(dir), uploads, maxFileBytes: MiB });
  const w = { dir, store, adapter, uploads, base: '', port: 0, received: [] as InboundMessage[] } as World;
  await adapter.start(async (m, hooks) => {
    await w.beforeAccept?.();
    await store.transaction(async (tx) => {
      await hooks?.inTransaction?.(tx);
      w.received.push(m);
    });
    hooks?.afterCommit?.();
    return 'accepted';
  });
  const { url, port } = await http.listen();
  w.base = url;
  w.port = port;
  cleanups.push(() => http.close());
  cleanups.push(() => adapter.stop());
  return w;
}

async function userToken(w: World, name: string): Promise<string> {
  if (!(await w.store.localUsers.get(name))) await w.store.localUsers.add(name, false);
  const token = newToken();
  await w.store.localUsers.addToken({ hash: hashToken(token), user: name, kind: 'api', expiresAt: null });
  return token;
}

/** Uploads `data` as `name` through fetch's FormData (as the page does), with extra form fields. */
async function upload(
  w: World,
  name: string,
  data: Buffer | string,
  opts: { type?: string; token?: string; fields?: Record<string, string>; headers?: Record<string, string> } = {},
): Promise<{ status: number; body: { file?: { id: string; name: string; type: string; size: number }; error?: string } }> {
  const form = new FormData();
  for (const [k, v] of Object.entries(opts.fields ?? {})) form.append(k, v);
  form.append('file', new Blob([data], opts.type !== undefined ? { type: opts.type } : {}), name);
  const r = await fetch(`${w.base}/api/local/files`, {
    method: 'POST',
    body: form,
    headers: { ...(opts.token ? { authorization: `Bearer ${opts.token}` } : {}), ...opts.headers },
  });
  return { status: r.status, body: (await r.json()) as never };
}

async function send(
  w: World,
  body: Record<string, unknown>,
  token?: string,
): Promise<{ status: number; body: { message?: string; thread?: string; error?: string } }> {
  const r = await fetch(`${w.base}/api/local/messages`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) },
    body: JSON.stringify(body),
  });
  return { status: r.status, body: (await r.json()) as never };
}

/** A raw request with the body written as given (chunked when no content-length is set). */
function raw(
  port: number,
  opts: { path: string; headers: Record<string, string>; chunks: Buffer[] },
): Promise<{ status: number; text: string; headers: nodeHttp.IncomingHttpHeaders }> {
  return new Promise((resolve, reject) => {
    const req = nodeHttp.request({ host: '127.0.0.1', port, method: 'POST', path: opts.path, headers: opts.headers }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (d) => (text += d));
      res.on('end', () => resolve({ status: res.statusCode!, text, headers: res.headers }));
    });
    req.on('error', reject);
    const write = (i: number) => {
      if (i === opts.chunks.length) return void req.end();
      req.write(opts.chunks[i]!, () => write(i + 1));
    };
    write(0);
  });
}

/** A multipart body by hand: `parts` as [name, value, filename?]. */
function multipart(boundary: string, parts: Array<[string, Buffer | string, string?]>): Buffer {
  const chunks: Buffer[] = [];
  for (const [name, value, filename] of parts) {
    const disposition = `form-data; name="${name}"${filename !== undefined ? `; filename="${filename}"` : ''}`;
    chunks.push(
      Buffer.from(`--${boundary}\r\ncontent-disposition: ${disposition}\r\n${filename !== undefined ? 'content-type: application/octet-stream\r\n' : ''}\r\n`),
    );
    chunks.push(Buffer.isBuffer(value) ? value : Buffer.from(value));
    chunks.push(Buffer.from('\r\n'));
  }
  chunks.push(Buffer.from(`--${boundary}--\r\n`));
  return Buffer.concat(chunks);
}

const uploadDir = (w: World) => path.join(w.dir, 'uploads');
const storedFiles = (w: World) => (fs.existsSync(uploadDir(w)) ? fs.readdirSync(uploadDir(w)) : []);

async function collect(stream: AsyncIterable<Uint8Array>): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of stream) chunks.push(Buffer.from(c));
  return Buffer.concat(chunks);
}

describe('POST /api/local/files', () => {
  it('stores the one file part (0600 in a 0700 folder) with its name, type and size; other fields are ignored', async () => {
    const w = await world();
    const r = await upload(w, 'notes.txt', 'hello\nfile\n', {
      type: 'text/plain',
      fields: { user: 'mallory', owner: 'admin', id: 'up-AAAAAAAAAAAAAAAAAAAAAA', name: 'evil.html' },
    });
    expect(r.status).toBe(201);
    const file = r.body.file!;
    expect(file).toEqual({ id: expect.stringMatching(UPLOAD_ID_PATTERN), name: 'notes.txt', type: 'text/plain', size: 11 });
    expect(file.id).not.toBe('up-AAAAAAAAAAAAAAAAAAAAAA');
    const stored = path.join(uploadDir(w), file.id);
    expect(fs.readFileSync(stored, 'utf8')).toBe('hello\nfile\n');
    expect(fs.statSync(stored).mode & 0o777).toBe(0o600);
    expect(fs.statSync(uploadDir(w)).mode & 0o777).toBe(0o700);
    // Anonymous page: no owner, whatever the body says; not sent yet.
    expect(await w.store.localUploads.get(file.id)).toMatchObject({ owner: null, name: 'notes.txt', type: 'text/plain', size: 11, messageId: null });
    expect(storedFiles(w)).toEqual([file.id]);
  });

  it('the owner is the logged-in user, never a field of the body', async () => {
    const w = await world({ loginRequired: true });
    const alice = await userToken(w, 'alice');
    await userToken(w, 'bob');
    const r = await upload(w, 'a.txt', 'a', { token: alice, fields: { user: 'bob', owner: 'bob' } });
    expect(r.status).toBe(201);
    expect((await w.store.localUploads.get(r.body.file!.id))!.owner).toBe('alice');
    // No login → 401 and nothing stored.
    const anonymous = await upload(w, 'b.txt', 'b');
    expect(anonymous.status).toBe(401);
    expect(storedFiles(w)).toEqual([r.body.file!.id]);
  });

  it('type: the browser’s when it is a plain MIME type, else by the extension; odd names are cleaned', async () => {
    const w = await world();
    expect((await upload(w, 'shot.png', PNG, { type: 'image/png' })).body.file).toMatchObject({ name: 'shot.png', type: 'image/png', size: PNG.length });
    expect((await upload(w, 'data.csv', 'a,b', { type: '' })).body.file).toMatchObject({ type: 'text/csv' });
    expect((await upload(w, 'x.bin', 'x', { type: 'text/plain; charset=utf-8' })).body.file).toMatchObject({ type: 'text/plain' });
    expect((await upload(w, 'résumé ✓.txt', 'x', { type: 'text/plain' })).body.file).toMatchObject({ name: 'résumé ✓.txt' });
  });

  it('a file at the limit is taken; one byte over → 413 naming the file and the limit, nothing stored', async () => {
    const w = await world();
    expect((await upload(w, 'exact.bin', Buffer.alloc(MiB, 1))).status).toBe(201);
    const over = await upload(w, 'big.bin', Buffer.alloc(MiB + 1, 1));
    expect(over.status).toBe(413);
    expect(over.body).toEqual({ error: 'big.bin (1.0 MiB) is larger than the 1 MiB limit per file' });
    expect(storedFiles(w)).toHaveLength(1);
  });

  it('413 from Content-Length before reading, and while streaming a chunked body; the client still gets the answer', async () => {
    const w = await world();
    const boundary = 'b0undary';
    const big = multipart(boundary, [['file', Buffer.alloc(3 * MiB, 7), 'huge.bin']]);
    // Declared too large: refused up front, the rest drained (the whole 3 MiB is written and the answer read).
    const declared = await raw(w.port, {
      path: '/api/local/files',
      headers: { 'content-type': `multipart/form-data; boundary=${boundary}`, 'content-length': String(big.length) },
      chunks: [big.subarray(0, MiB), big.subarray(MiB, 2 * MiB), big.subarray(2 * MiB)],
    });
    expect(declared.status).toBe(413);
    expect(JSON.parse(declared.text)).toEqual({ error: 'the file is larger than the 1 MiB limit per file' });
    // Chunked (no Content-Length): counted while it streams in and cut past limit + framing.
    const chunks: Buffer[] = [];
    for (let i = 0; i < big.length; i += 256 * 1024) chunks.push(big.subarray(i, i + 256 * 1024));
    const streamed = await raw(w.port, { path: '/api/local/files', headers: { 'content-type': `multipart/form-data; boundary=${boundary}` }, chunks });
    expect(streamed.status).toBe(413);
    expect(JSON.parse(streamed.text).error).toMatch(/larger than the 1 MiB limit/);
    expect(storedFiles(w)).toEqual([]);
    expect(await w.store.localUploads.deleteUnsent(Date.now() + 1)).toEqual([]);
    // The cap leaves room for the framing only.
    expect(MULTIPART_OVERHEAD_BYTES).toBeLessThanOrEqual(64 * 1024);
  });

  it('refuses what is not one file part: 415 for another type, 400 for no file, two files, a field named file, or a broken body', async () => {
    const w = await world();
    const boundary = 'xyz';
    const post = (body: Buffer, type = `multipart/form-data; boundary=${boundary}`) =>
      raw(w.port, { path: '/api/local/files', headers: { 'content-type': type, 'content-length': String(body.length) }, chunks: [body] });
    const json = await post(Buffer.from('{"file":"x"}'), 'application/json');
    expect(json.status).toBe(415);
    expect(JSON.parse(json.text).error).toMatch(/multipart\/form-data/);
    expect((await post(Buffer.from('x'), 'multipart/form-data')).status).toBe(415); // no boundary
    for (const [why, body] of [
      ['no file part', multipart(boundary, [['other', 'x', 'a.txt']])],
      [
        'two files',
        multipart(boundary, [
          ['file', 'x', 'a.txt'],
          ['file', 'y', 'b.txt'],
        ]),
      ],
      ['a plain field named file', multipart(boundary, [['file', 'just text']])],
    ] as const) {
      const r = await post(body);
      expect(r.status, why).toBe(400);
      expect(JSON.parse(r.text).error, why).toMatch(/exactly one file/);
    }
    const broken = await post(Buffer.from(`--${boundary}\r\ncontent-disposition: form-data; name="file"; filename="a"\r\n\r\nno end`));
    expect(broken.status).toBe(400);
    expect(JSON.parse(broken.text).error).toMatch(/not valid multipart/);
    expect(storedFiles(w)).toEqual([]);
  });

  it('refuses a cross-site browser upload (Sec-Fetch-Site) and a foreign Origin with 403', async () => {
    const w = await world();
    expect((await upload(w, 'a.txt', 'a', { headers: { 'sec-fetch-site': 'cross-site' } })).status).toBe(403);
    expect((await upload(w, 'a.txt', 'a', { headers: { 'sec-fetch-site': 'same-site' } })).status).toBe(403);
    expect((await upload(w, 'a.txt', 'a', { headers: { origin: 'http://evil.example' } })).status).toBe(403);
    expect(storedFiles(w)).toEqual([]);
    expect((await upload(w, 'a.txt', 'a', { headers: { 'sec-fetch-site': 'same-origin', origin: w.base } })).status).toBe(201);
  });

  it('uploads never sent are deleted after a day (row and file); sent ones stay', async () => {
    const w = await world();
    const unsent = (await upload(w, 'old.txt', 'old')).body.file!.id;
    const sent = (await upload(w, 'kept.txt', 'kept')).body.file!.id;
    expect((await send(w, { channel: 'general', text: '', files: [sent] })).status).toBe(202);
    await w.uploads.purgeUnsent(Date.now() + UNSENT_TTL_MS + 1000);
    expect(await w.store.localUploads.get(unsent)).toBeUndefined();
    expect(storedFiles(w)).toEqual([sent]);
    expect(await w.store.localUploads.get(sent)).toBeDefined();
  });
});

describe('files on POST /api/local/messages', () => {
  it('hands the files to the core as InboundFiles, lists them on the message, and serves them like the agent’s files', async () => {
    const w = await world();
    const note = (await upload(w, 'notes.txt', 'some notes', { type: 'text/plain' })).body.file!;
    const shot = (await upload(w, 'shot.png', PNG, { type: 'image/png' })).body.file!;
    const r = await send(w, { channel: 'general', text: 'look at these', user: 'ada', files: [note.id, shot.id] });
    expect(r.status).toBe(202);
    const expected: InboundFile[] = [
      { id: note.id, name: 'notes.txt', mimeType: 'text/plain', size: 10, url: `local-upload:${note.id}` },
      { id: shot.id, name: 'shot.png', mimeType: 'image/png', size: PNG.length, url: `local-upload:${shot.id}` },
    ];
    expect(w.received).toHaveLength(1);
    expect(w.received[0]!.files).toEqual(expected);
    expect(w.received[0]!.text).toBe('look at these');
    // The history row and the API show the files; the uploads are marked sent with the message.
    const list = (await (await fetch(`${w.base}/api/local/messages?channel=general&thread=${r.body.thread}`)).json()) as {
      messages: Array<Record<string, unknown>>;
    };
    expect(list.messages[0]).toMatchObject({
      id: r.body.message,
      user: 'ada',
      files: [
        { id: note.id, name: 'notes.txt', size: 10, type: 'text/plain' },
        { id: shot.id, name: 'shot.png', size: PNG.length, type: 'image/png' },
      ],
    });
    expect((await w.store.localUploads.get(note.id))!.messageId).toBe(r.body.message);
    // Served: the text file as a download, the image inline; nosniff and the sandbox CSP on both.
    const text = await fetch(`${w.base}/api/local/files/${note.id}`);
    expect(text.status).toBe(200);
    expect(await text.text()).toBe('some notes');
    expect(text.headers.get('content-disposition')).toMatch(/^attachment; filename="notes.txt"/);
    expect(text.headers.get('x-content-type-options')).toBe('nosniff');
    expect(text.headers.get('content-security-policy')).toBe("default-src 'none'; sandbox");
    const img = await fetch(`${w.base}/api/local/files/${shot.id}`);
    expect(Buffer.from(await img.arrayBuffer()).equals(PNG)).toBe(true);
    expect(img.headers.get('content-disposition')).toMatch(/^inline; /);
    expect(img.headers.get('content-type')).toBe('image/png');
    // The turn reads the bytes through fetchFile.
    expect((await collect(await w.adapter.fetchFile(expected[0]!))).toString()).toBe('some notes');
    expect((await collect(await w.adapter.fetchFile(expected[1]!))).equals(PNG)).toBe(true);
  });

  it('a message with files may have empty text; without files it may not', async () => {
    const w = await world();
    const id = (await upload(w, 'a.txt', 'a')).body.file!.id;
    const ok = await send(w, { channel: 'general', text: '', files: [id] });
    expect(ok.status).toBe(202);
    expect(w.received[0]).toMatchObject({ text: '', files: [expect.objectContaining({ id })] });
    const empty = await send(w, { channel: 'general', text: '  ', files: [] });
    expect(empty.status).toBe(400);
    expect(empty.body.error).toBe('text must not be empty');
  });

  it('an HTML file a user sent is a download, never a page of this origin', async () => {
    const w = await world();
    const id = (await upload(w, 'page.html', '<script>alert(1)</script>', { type: 'text/html' })).body.file!.id;
    await send(w, { channel: 'general', text: 'x', files: [id] });
    const r = await fetch(`${w.base}/api/local/files/${id}`);
    expect(r.headers.get('content-disposition')).toMatch(/^attachment; /);
    expect(r.headers.get('content-security-policy')).toBe("default-src 'none'; sandbox");
  });

  describe('refused with 400 and nothing accepted', () => {
    /** Asserts that nothing reached the core, no history row was written and the uploads stay unsent. */
    const nothingAccepted = async (w: World, ids: string[]) => {
      expect(w.received).toEqual([]);
      expect(await w.store.localMessages.channels()).toEqual([]);
      for (const id of ids) expect((await w.store.localUploads.get(id))?.messageId ?? null).toBeNull();
    };

    it('another user’s upload (also mixed with one’s own), and a logged-in user’s upload on an anonymous message', async () => {
      const w = await world({ loginRequired: true });
      const alice = await userToken(w, 'alice');
      const bob = await userToken(w, 'bob');
      const hers = (await upload(w, 'alice.txt', 'secret of alice', { token: alice })).body.file!.id;
      const his = (await upload(w, 'bob.txt', 'b', { token: bob })).body.file!.id;
      const r = await send(w, { channel: 'general', text: 'mine now', files: [his, hers] }, bob);
      expect(r.status).toBe(400);
      expect(r.body.error).toBe(`files: ${hers} is not a file you uploaded; upload it again`);
      // The body's `user` changes nothing.
      expect((await send(w, { channel: 'general', text: 'x', user: 'alice', files: [hers] }, bob)).status).toBe(400);
      await nothingAccepted(w, [hers, his]);
      // Not served while unsent, to anyone.
      expect((await fetch(`${w.base}/api/local/files/${hers}`, { headers: { authorization: `Bearer ${alice}` } })).status).toBe(404);
      // Her own: accepted.
      expect((await send(w, { channel: 'general', text: 'mine', files: [hers] }, alice)).status).toBe(202);
    });

    it('an anonymous page cannot send a logged-in user’s upload', async () => {
      const w = await world();
      const alice = await userToken(w, 'alice');
      // Login is now required (a user exists); check the owner rule with a bearer token for the upload only.
      const hers = (await upload(w, 'a.txt', 'a', { token: alice })).body.file!.id;
      expect((await w.store.localUploads.get(hers))!.owner).toBe('alice');
      await expect(w.uploads.check([hers], null)).rejects.toThrow(/is not a file you uploaded/);
      await expect(w.uploads.check([hers], 'alice')).resolves.toHaveLength(1);
    });

    it('an unknown id, a malformed id, a repeated id, more than 10, and an upload already sent', async () => {
      const w = await world();
      const id = (await upload(w, 'a.txt', 'a')).body.file!.id;
      const cases: Array<[unknown, RegExp]> = [
        [['up-AAAAAAAAAAAAAAAAAAAAAA'], /up-AAAAAAAAAAAAAAAAAAAAAA is not a file you uploaded/],
        [['../../agentbridge.db'], /is not a file you uploaded/],
        [[id, id], /must not list an upload twice/],
        [Array.from({ length: 11 }, (_, i) => `up-${String(i).padStart(22, 'A')}`), /at most 10 files per message/],
        ['up-x', /files must be an array/],
        [[7], /upload ids/],
      ];
      for (const [files, why] of cases) {
        const r = await send(w, { channel: 'general', text: 'x', files });
        expect(r.status, JSON.stringify(files)).toBe(400);
        expect(r.body.error).toMatch(why);
      }
      await nothingAccepted(w, [id]);
      expect((await send(w, { channel: 'general', text: 'first', files: [id] })).status).toBe(202);
      const again = await send(w, { channel: 'general', text: 'second', files: [id] });
      expect(again.status).toBe(400);
      expect(again.body.error).toBe(`files: a.txt (${id}) was already sent with another message; upload it again`);
      expect(w.received.map((m) => m.text)).toEqual(['first']);
    });

    it('an upload whose bytes are gone', async () => {
      const w = await world();
      const id = (await upload(w, 'a.txt', 'a')).body.file!.id;
      fs.rmSync(path.join(uploadDir(w), id));
      const r = await send(w, { channel: 'general', text: 'x', files: [id] });
      expect(r.status).toBe(400);
      expect(r.body.error).toMatch(/a\.txt .* is gone; upload it again/);
      await nothingAccepted(w, [id]);
    });

    it('an upload taken by another message between the check and the inbox transaction: the transaction rolls back', async () => {
      const w = await world();
      const id = (await upload(w, 'a.txt', 'a')).body.file!.id;
      w.beforeAccept = async () => {
        w.beforeAccept = undefined;
        expect(await w.store.localUploads.markSent([id], null, 'other-message')).toBe(true);
      };
      const r = await send(w, { channel: 'general', text: 'x', files: [id] });
      expect(r.status).toBe(400);
      expect(r.body.error).toMatch(/just sent with another message/);
      expect(w.received).toEqual([]);
      expect(await w.store.localMessages.channels()).toEqual([]);
      expect((await w.store.localUploads.get(id))!.messageId).toBe('other-message');
    });
  });
});

describe('fetchFile and the helpers', () => {
  it('fetchFile: an unknown upload, another url and a missing file are "the uploaded file is gone"', async () => {
    const w = await world();
    const file = (id: string, url = uploadUrl(id)): InboundFile => ({ id, name: 'x', url });
    await expect(w.adapter.fetchFile(file('up-AAAAAAAAAAAAAAAAAAAAAA'))).rejects.toThrow(/^the uploaded file is gone$/);
    await expect(w.adapter.fetchFile(file('x', 'https://example.com/x'))).rejects.toThrow(/^the uploaded file is gone$/);
    await expect(w.adapter.fetchFile(file('x', 'local-upload:../../agentbridge.db'))).rejects.toThrow(/^the uploaded file is gone$/);
    const id = (await upload(w, 'a.txt', 'bytes')).body.file!.id;
    await send(w, { channel: 'general', text: 'x', files: [id] });
    expect((await collect(await w.adapter.fetchFile(file(id)))).toString()).toBe('bytes');
    fs.rmSync(path.join(uploadDir(w), id));
    await expect(w.adapter.fetchFile(file(id))).rejects.toThrow(/^the uploaded file is gone$/);
  });

  it('names, types and urls', () => {
    expect(cleanUploadName('C:\\Users\\me\\report.pdf')).toBe('report.pdf');
    expect(cleanUploadName('../../etc/passwd')).toBe('passwd');
    expect(cleanUploadName(' a\u0000b\u009fc.txt ')).toBe('abc.txt');
    expect(cleanUploadName('')).toBe('file');
    expect(cleanUploadName('..')).toBe('..');
    const long = cleanUploadName(`${'é'.repeat(300)}.txt`);
    expect([...long]).toHaveLength(MAX_UPLOAD_NAME_CHARS);
    expect(long.endsWith('é.txt')).toBe(true);
    expect(uploadType('IMAGE/PNG', 'x')).toBe('image/png');
    expect(uploadType('', 'x.json')).toBe('application/json');
    expect(uploadType('not a type', 'x.weird')).toBe('application/octet-stream');
    expect(uploadType('application/octet-stream', 'x.txt')).toBe('text/plain');
    expect(uploadIdOfUrl(uploadUrl('up-AAAAAAAAAAAAAAAAAAAAAA'))).toBe('up-AAAAAAAAAAAAAAAAAAAAAA');
    expect(uploadIdOfUrl('local-upload:nope')).toBeUndefined();
    expect(uploadIdOfUrl('https://x/up-AAAAAAAAAAAAAAAAAAAAAA')).toBeUndefined();
  });
});
