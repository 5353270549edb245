/**
 * The agent's `send_file`: the path rule (realpath inside the working directory: `..`, absolute
 * paths and symlinks that lead outside, directories, special files and missing files refused;
 * the size limit), the durable copy in the data directory, the MCP tool over real HTTP, and the
 * outbox delivering a file row once through the adapter's `postFile`.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { afterEach, describe, expect, it } from 'vitest';
import { Outbound } from '../../src/conversation/outbound.js';
import { OutboxDelivery } from '../../src/conversation/outbox.js';
import type { ReplyTarget } from '../../src/core/messages.js';
import { createHttpServer } from '../../src/http/server.js';
import { createLogger } from '../../src/logger.js';
import type { OutgoingFile, PlatformAdapter, PostFileOptions } from '../../src/platforms/types.js';
import { OutgoingFileError, OutgoingFiles } from '../../src/store/outgoing-files.js';
import { openStore } from '../../src/store/store.js';
import { ToolAccess } from '../../src/tools/access.js';
import { buildToolServer, registerMcpRoutes, ToolServerPool } from '../../src/tools/mcp-server.js';
import { checkSendable, SendFileError } from '../../src/tools/send-file.js';
import { ToolTokens } from '../../src/tools/tokens.js';
import { MemoryScheduledMessages } from '../helpers/memory-scheduled.js';
import { waitFor } from '../helpers/sandbox.js';

const logger = createLogger('silent');
const cleanups: Array<() => unknown> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

function tmp(): string {
  const dir = fs.realpathSync(fs.mkdtempSync(path.join(os.tmpdir(), 'send-file-')));
  cleanups.push(() => fs.rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** `<root>/work` (the working directory, with `a.txt` and `sub/b.txt`) and `<root>/secret.txt` outside it. */
function tree() {
  const root = tmp();
  const work = path.join(root, 'work');
  fs.mkdirSync(path.join(work, 'sub'), { recursive: true });
  fs.writeFileSync(path.join(work, 'a.txt'), 'hello');
  fs.writeFileSync(path.join(work, 'sub', 'b.txt'), 'bee');
  fs.writeFileSync(path.join(root, 'secret.txt'), 'secret');
  return { root, work };
}

const refused = (fn: () => unknown, why: RegExp) => {
  expect(fn).toThrow(SendFileError);
  expect(fn).toThrow(why);
};

describe('checkSendable: the path rule', () => {
  it('accepts a relative or absolute path inside the working directory, and a symlink that stays inside', () => {
    const { work } = tree();
    expect(checkSendable(work, 'a.txt', 100)).toEqual({ realPath: path.join(work, 'a.txt'), name: 'a.txt', size: 5 });
    expect(checkSendable(work, path.join(work, 'sub', 'b.txt'), 100).name).toBe('b.txt');
    expect(checkSendable(work, 'sub/../a.txt', 100).realPath).toBe(path.join(work, 'a.txt'));
    fs.symlinkSync(path.join(work, 'sub', 'b.txt'), path.join(work, 'inside-link'));
    expect(checkSendable(work, 'inside-link', 100)).toEqual({ realPath: path.join(work, 'sub', 'b.txt'), name: 'b.txt', size: 3 });
  });

  it('refuses `..`, absolute paths outside, and symlinks (file or directory) that lead outside', () => {
    const { root, work } = tree();
    refused(() => checkSendable(work, '../secret.txt', 100), /outside the working directory/);
    refused(() => checkSendable(work, path.join(root, 'secret.txt'), 100), /outside the working directory/);
    refused(() => checkSendable(work, '/etc/passwd', 1 << 20), /outside the working directory/);
    fs.symlinkSync(path.join(root, 'secret.txt'), path.join(work, 'link.txt'));
    refused(() => checkSendable(work, 'link.txt', 100), /link\.txt resolves to .*secret\.txt, outside/);
    fs.symlinkSync(root, path.join(work, 'up'));
    refused(() => checkSendable(work, 'up/secret.txt', 100), /outside the working directory/);
    // A sibling whose name starts with the working directory's is outside too.
    fs.mkdirSync(`${work}-other`);
    fs.writeFileSync(`${work}-other/x.txt`, 'x');
    refused(() => checkSendable(work, '../work-other/x.txt', 100), /outside the working directory/);
  });

  it('works when the working directory itself is reached through a symlink', () => {
    const { root, work } = tree();
    fs.symlinkSync(work, path.join(root, 'alias'));
    expect(checkSendable(path.join(root, 'alias'), 'a.txt', 100).realPath).toBe(path.join(work, 'a.txt'));
    refused(() => checkSendable(path.join(root, 'alias'), '../secret.txt', 100), /outside/);
  });

  it('refuses a missing file, a directory, a special file, an empty path, and a file over the limit', () => {
    const { work } = tree();
    refused(() => checkSendable(work, 'nope.txt', 100), /no file at nope\.txt/);
    refused(() => checkSendable(work, 'sub', 100), /is a directory/);
    refused(() => checkSendable(work, ' ', 100), /path is empty/);
    execFileSync('mkfifo', [path.join(work, 'pipe')]);
    refused(() => checkSendable(work, 'pipe', 100), /not a regular file/);
    refused(() => checkSendable(work, 'a.txt', 4), /a\.txt: the file is 5 bytes, larger than the 4 bytes this platform accepts/);
    expect(checkSendable(work, 'a.txt', 5).size).toBe(5);
  });
});

describe('OutgoingFiles: the durable copy', () => {
  it('copies by content (SHA-256 id, mode 0600), refuses a symlink swapped in and a file over the limit, prunes what no row needs', () => {
    const { root, work } = tree();
    const files = new OutgoingFiles(path.join(root, 'data'));
    const a = files.put(path.join(work, 'a.txt'), 100);
    expect(a).toEqual({ id: '2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824', size: 5 });
    expect(fs.readFileSync(files.pathOf(a.id), 'utf8')).toBe('hello');
    expect(fs.statSync(files.pathOf(a.id)).mode & 0o777).toBe(0o600);
    // The agent changes its file after the call: the copy keeps what was sent.
    fs.writeFileSync(path.join(work, 'a.txt'), 'changed');
    expect(fs.readFileSync(files.pathOf(a.id), 'utf8')).toBe('hello');
    fs.symlinkSync(path.join(root, 'secret.txt'), path.join(work, 'swapped'));
    expect(() => files.put(path.join(work, 'swapped'), 100)).toThrow(OutgoingFileError);
    expect(() => files.put(path.join(work, 'a.txt'), 3)).toThrow(/larger than/);
    expect(() => files.pathOf('../agentbridge.db')).toThrow(/not an outgoing file id/);
    const b = files.put(path.join(work, 'sub', 'b.txt'), 100);
    expect(files.prune(new Set([b.id]))).toBe(1);
    expect(files.has(a.id)).toBe(false);
    expect(files.has(b.id)).toBe(true);
    expect(fs.readdirSync(files.dir)).toEqual([b.id]);
  });
});

const target: ReplyTarget = { platform: 'local', channel: 'general', thread: 't1' };

/** A local-platform stand-in recording `postFile` calls (with the bytes it was given); no postFile with `files: false`. */
function fileAdapter(opts: { files?: boolean; failFiles?: number } = {}) {
  const posted: Array<{ target: ReplyTarget; file: OutgoingFile; opts?: PostFileOptions; bytes: string }> = [];
  let fail = opts.failFiles ?? 0;
  const adapter = {
    name: 'local',
    limits: { maxMessageChars: 1000, minEditIntervalMs: 0, maxFileBytes: 1000 },
    render: (t: string) => t.replace(/@/g, '@\u200b'),
    neutraliseMentions: (t: string) => t.replace(/@/g, '@\u200b'),
    post: async () => ({ ref: 'p', channel: 'general' }),
    edit: async () => {},
    ...(opts.files === false
      ? {}
      : {
          postFile: async (t: ReplyTarget, file: OutgoingFile, o?: PostFileOptions) => {
            if (fail-- > 0) throw new Error('platform down');
            posted.push({ target: t, file, ...(o ? { opts: o } : {}), bytes: fs.readFileSync(file.path, 'utf8') });
            return { ref: `f${posted.length}`, channel: t.channel };
          },
        }),
  } as unknown as PlatformAdapter;
  return { adapter, posted };
}

async function world(adapterOpts: Parameters<typeof fileAdapter>[0] = {}) {
  const { root, work } = tree();
  const store = openStore({ dbPath: path.join(root, 'agentbridge.db'), logger });
  cleanups.push(() => store.close());
  const files = new OutgoingFiles(path.join(root, 'data'));
  const { adapter, posted } = fileAdapter(adapterOpts);
  const outbox = new OutboxDelivery({ store, adapters: (p) => (p === 'local' ? adapter : undefined), logger, retryDelaysMs: [3_600_000], files });
  cleanups.push(() => outbox.stop());
  await store.conversations.ensure({ id: 'local:general:t1', platform: 'local', channel: 'general', thread: 't1' });
  return { root, work, store, files, outbox, outbound: new Outbound(outbox), posted };
}

describe('outbox: a file row', () => {
  it('is posted once through postFile with the copy, the rendered comment and the row key; the copy is deleted after', async () => {
    const w = await world();
    const copy = w.files.put(path.join(w.work, 'a.txt'), 1000);
    const row = await w.outbound.sendFile({ conversationId: 'local:general:t1', replyTarget: target }, { id: copy.id, name: 'a.txt', size: 5 }, 'see @here');
    expect(w.posted).toHaveLength(1);
    expect(w.posted[0]!.bytes).toBe('hello');
    expect(w.posted[0]!.file).toEqual({ path: w.files.pathOf(copy.id), name: 'a.txt', size: 5 });
    expect(w.posted[0]!.opts).toEqual({ idempotencyKey: `ab-o${row.id}-${row.createdAt.toString(36)}`, comment: 'see @\u200bhere' });
    expect((await w.store.outbox.get(row.id))!.state).toBe('posted');
    expect((await w.store.outbox.get(row.id))!.postedRef).toBe('f1');
    expect(w.files.has(copy.id)).toBe(false);
    // Delivering again posts nothing more.
    await w.outbox.deliver('local:general:t1');
    expect(w.posted).toHaveLength(1);
  });

  it('a failed post stays pending with its copy; a later delivery (e.g. after a restart) says it may have been posted', async () => {
    const w = await world({ failFiles: 1 });
    const copy = w.files.put(path.join(w.work, 'a.txt'), 1000);
    const row = await w.outbound.sendFile({ conversationId: 'local:general:t1', replyTarget: target }, { id: copy.id, name: 'a.txt', size: 5 });
    expect(w.posted).toHaveLength(0);
    expect((await w.store.outbox.get(row.id))!.state).toBe('pending');
    expect(w.files.has(copy.id)).toBe(true);
    // A new outbox on the same store (a restart): the row is delivered with maybePostedSince.
    const { adapter, posted } = fileAdapter();
    const again = new OutboxDelivery({ store: w.store, adapters: () => adapter, logger, files: w.files });
    cleanups.push(() => again.stop());
    await again.deliverAll();
    expect(posted).toHaveLength(1);
    expect(posted[0]!.opts).toEqual({ idempotencyKey: expect.stringMatching(/^ab-o\d+-/), maybePostedSince: row.createdAt });
    expect(w.files.has(copy.id)).toBe(false);
  });

  it('a copy still needed by another pending row is kept; a row whose copy is gone is given up, not retried forever', async () => {
    const w = await world({ files: false });
    const copy = w.files.put(path.join(w.work, 'a.txt'), 1000);
    const to = { conversationId: 'local:general:t1', replyTarget: target };
    // An adapter without postFile: the row fails and waits (a platform that cannot take files).
    const row = await w.outbound.sendFile(to, { id: copy.id, name: 'a.txt', size: 5 });
    expect((await w.store.outbox.get(row.id))!.state).toBe('pending');
    expect((await w.store.outbox.get(row.id))!.lastError).toMatch(/cannot post files/);
    w.files.remove(copy.id);
    const { adapter } = fileAdapter();
    const again = new OutboxDelivery({ store: w.store, adapters: () => adapter, logger, files: w.files });
    cleanups.push(() => again.stop());
    await again.deliverAll();
    expect((await w.store.outbox.get(row.id))!.state).toBe('failed');
    expect((await w.store.outbox.get(row.id))!.lastError).toMatch(/copy of a\.txt is gone/);
  });
});

describe('MCP send_file', () => {
  async function server(maxFileBytes: number | undefined) {
    const w = await world();
    const tokens = new ToolTokens(new Uint8Array(32).fill(5));
    const http = createHttpServer({ host: '127.0.0.1', port: 0, logger });
    const deps = {
      tokens,
      outbound: w.outbound,
      scheduled: new MemoryScheduledMessages(),
      logger,
      files: w.files,
      workdirOf: (id: string) => (id === 'local:general:t1' ? w.work : '/nonexistent'),
      maxFileBytes: () => maxFileBytes,
    };
    registerMcpRoutes(http, deps, { pool: new ToolServerPool(() => buildToolServer(deps)) });
    const base = (await http.listen()).url;
    cleanups.push(() => http.close());
    const grant = new ToolAccess({ tokens, url: `${base}/mcp` }).grant({ conversationId: 'local:general:t1', replyTarget: target, ttlMs: 60_000 });
    const client = new Client({ name: 'test', version: '1.0.0' });
    await client.connect(new StreamableHTTPClientTransport(new URL(grant.url), { requestInit: { headers: { Authorization: `Bearer ${grant.token}` } } }));
    cleanups.push(() => client.close());
    const call = async (args: Record<string, unknown>) => {
      const r = (await client.callTool({ name: 'send_file', arguments: args })) as { content: Array<{ text?: string }>; isError?: boolean };
      return { text: r.content.map((c) => c.text ?? '').join('\n'), isError: r.isError === true };
    };
    return { ...w, call };
  }

  it("sends a file of the token's conversation's working directory; refuses outside paths and files over the platform's limit", async () => {
    const s = await server(100);
    expect(await s.call({ path: 'a.txt', comment: 'here' })).toEqual({ text: 'Sent a.txt (5 bytes).', isError: false });
    await waitFor(() => s.posted.length === 1 || undefined, 5_000, 'the file posted');
    expect(s.posted[0]!).toMatchObject({ bytes: 'hello', file: { name: 'a.txt', size: 5 }, opts: { comment: 'here' } });
    fs.symlinkSync(path.join(s.root, 'secret.txt'), path.join(s.work, 'l'));
    for (const [p, why] of [
      ['../secret.txt', /outside the working directory/],
      ['l', /resolves to .*secret\.txt, outside/],
      ['sub', /is a directory/],
    ] as const) {
      const r = await s.call({ path: p });
      expect(r.isError).toBe(true);
      expect(r.text).toMatch(why);
    }
    fs.writeFileSync(path.join(s.work, 'big.bin'), Buffer.alloc(101));
    const big = await s.call({ path: 'big.bin' });
    expect(big).toEqual({ text: 'big.bin: the file is 101 bytes, larger than the 100 bytes this platform accepts', isError: true });
    expect(s.posted).toHaveLength(1);
    expect(await s.store.outbox.pending()).toHaveLength(0);
  });

  it('says so when the platform posts no files', async () => {
    const s = await server(undefined);
    expect(await s.call({ path: 'a.txt' })).toEqual({ text: 'files cannot be sent to local from here', isError: true });
    expect(s.posted).toHaveLength(0);
  });
});
