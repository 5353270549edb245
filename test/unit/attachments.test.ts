/**
 * Files attached to messages: safe names and texts (pure), fetching into the working directory,
 * and turns with files through the core — the core cases run on both backends (SQLite file,
 * PostgreSQL), including the restarts that recover the inbox on a second and a third core.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import {
  attachmentPromptText,
  formatBytes,
  messageFolder,
  notAttachedNotice,
  safeFileName,
  tooLargeReason,
  uniqueFileNames,
  withFileNames,
} from '../../src/core/attachments.js';
import { fetchAttachments, imageFiles } from '../../src/conversation/attachments.js';
import type { InboundFile, InboundMessage } from '../../src/core/messages.js';
import { userMessage } from '../../src/runners/claude/control.js';
import { recoverInbox } from '../../src/conversation/recovery.js';
import type { AppStore } from '../../src/store/open.js';
import type { Backend } from '../../src/store/sql/kysely.js';
import { BACKENDS, testDatabase, type TestDatabase } from '../helpers/backends.js';
import { startCore, type Core } from '../helpers/core.js';
import { RecordingAdapter } from '../helpers/fakes.js';
import { waitFor } from '../helpers/sandbox.js';

const logger = pino({ level: 'silent' });
const dirs: string[] = [];
const cores: Array<Core<AppStore>> = [];
const removals: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const c of cores.splice(0)) {
    await c.close();
    c.removeDir();
  }
  for (const r of removals.splice(0)) await r();
  for (const d of dirs.splice(0)) fs.rmSync(d, { recursive: true, force: true });
});

/** A database of `backend` (PostgreSQL: the file's shared one, emptied), removed after the test. */
async function databaseOn(backend: Backend): Promise<TestDatabase> {
  const db = await testDatabase(backend, { shared: true });
  removals.push(() => db.remove());
  return db;
}

/**
 * Drops a core as a SIGKILL would: its outbox stops (nothing of it is delivered on; on PostgreSQL
 * it would otherwise go on against the closed pool) and the store is closed, nothing shut down.
 */
async function crash(core: Core<AppStore>): Promise<void> {
  removals.push(() => core.removeDir());
  await core.outbox.stop();
  await core.store.close();
}

function tmp(): string {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), 'attach-test-'));
  dirs.push(d);
  return fs.realpathSync(d);
}

let seq = 0;
function message(files: InboundFile[], text = 'see attached', key = `k${++seq}`): InboundMessage {
  return {
    platform: 'local',
    conversationId: 'local:general:t1',
    channel: 'general',
    thread: 't1',
    author: { id: 'ann', name: 'ann' },
    text,
    eventKey: `local:${key}`,
    replyTarget: { platform: 'local', channel: 'general', thread: 't1' },
    messageRef: key,
    receivedAt: Date.now(),
    files,
  };
}

function file(name: string, url = `u:${name}`, extra: Partial<InboundFile> = {}): InboundFile {
  return { id: url, name, url, mimeType: 'text/plain', ...extra };
}

describe('attachment names and texts (pure)', () => {
  it('makes sender names safe: no path, no traversal, no control characters, never empty', () => {
    expect(safeFileName('../../etc/passwd')).toBe('passwd');
    expect(safeFileName('..')).toBe('file');
    expect(safeFileName('C:\\Users\\a\\report.pdf')).toBe('report.pdf');
    expect(safeFileName('.bashrc')).toBe('bashrc');
    expect(safeFileName('a\u0000b\nc.txt')).toBe('a_b_c.txt');
    expect(safeFileName('   ')).toBe('file');
    const long = safeFileName(`${'x'.repeat(300)}.log`);
    expect(long.length).toBe(120);
    expect(long.endsWith('.log')).toBe(true);
  });

  it('gives repeated names a number before the extension', () => {
    expect(uniqueFileNames(['a.txt', 'A.txt', 'a.txt', 'b'])).toEqual(['a.txt', 'A-2.txt', 'a-3.txt', 'b']);
  });

  it('makes one stable folder per event key', () => {
    expect(messageFolder('slack:T1:C1:1700000000.000100')).toMatch(/^slack-T1-C1-1700000000-000100-[0-9a-f]{8}$/);
    expect(messageFolder('a/b')).not.toBe(messageFolder('a:b'));
    expect(messageFolder('x')).toBe(messageFolder('x'));
  });

  it('lists saved and skipped files for the agent, and notes skipped ones for people', () => {
    const text = attachmentPromptText(
      [{ name: 'a.txt', path: '/w/.agentbridge/files/m/a.txt', mimeType: 'text/plain', size: 42 }],
      [{ name: 'big.zip', size: 30 * 1024 * 1024, reason: tooLargeReason(25 * 1024 * 1024) }],
    );
    expect(text).toBe(
      'Attached:\n- /w/.agentbridge/files/m/a.txt (text/plain, 42 bytes)\nNot attached:\n- big.zip (30.0 MB): larger than the 25 MB limit per file (AGENTBRIDGE_MAX_FILE_MB)',
    );
    expect(notAttachedNotice([])).toBeUndefined();
    const note = notAttachedNotice([{ name: 'big.zip', size: 30 * 1024 * 1024, reason: tooLargeReason(25 * 1024 * 1024) }])!;
    expect(note).toMatch(/^⚠️ Not attached: `big\.zip` \(30\.0 MB\): larger than the 25 MB limit/);
    expect(note).toContain('Your message is answered without it');
    expect(formatBytes(1536)).toBe('1.5 KB');
    expect(withFileNames({ text: 'see', files: [{ name: 'a.txt' }, { name: 'b.png' }] })).toBe('see\n\n(attached: a.txt, b.png)');
    expect(withFileNames({ text: '', files: [{ name: 'a.txt' }] })).toBe('(attached: a.txt)');
    expect(withFileNames({ text: 'plain' })).toBe('plain');
  });

  it('puts images into the Claude user message as base64 image blocks after the text', () => {
    const line = userMessage('look', 'u1', 's1', [{ mediaType: 'image/png', base64: 'AAAA' }]) as { message: { content: unknown } };
    expect(line.message.content).toEqual([
      { type: 'text', text: 'look' },
      { type: 'image', source: { type: 'base64', media_type: 'image/png', data: 'AAAA' } },
    ]);
    expect((userMessage('plain', 'u2', 's1') as { message: { content: unknown } }).message.content).toBe('plain');
  });
});

describe('fetchAttachments', () => {
  it('stores files under .agentbridge/files/<message>/ with safe names, kept out of git, and reuses them on a re-run', async () => {
    const workdir = tmp();
    const adapter = new RecordingAdapter();
    adapter.files.set('u:notes.txt', Buffer.from('hello file'));
    adapter.files.set('u:evil', Buffer.from('x'));
    const m = message([file('notes.txt'), file('../../evil', 'u:evil')]);
    const first = await fetchAttachments({ adapter, maxFileBytes: 1024, logger }, workdir, [m]);
    const saved = first.get(m.eventKey)!.saved;
    expect(saved.map((f) => path.relative(workdir, f.path))).toEqual([
      path.join('.agentbridge', 'files', messageFolder(m.eventKey), 'notes.txt'),
      path.join('.agentbridge', 'files', messageFolder(m.eventKey), 'evil'),
    ]);
    expect(fs.readFileSync(saved[0]!.path, 'utf8')).toBe('hello file');
    expect(saved[0]).toMatchObject({ name: 'notes.txt', mimeType: 'text/plain', size: 10 });
    expect(fs.readFileSync(path.join(workdir, '.agentbridge', '.gitignore'), 'utf8')).toBe('*\n');
    // A re-run (after a restart) finds the stored files and fetches nothing.
    const again = await fetchAttachments({ adapter, maxFileBytes: 1024, logger }, workdir, [m]);
    expect(again.get(m.eventKey)!.saved).toEqual(saved);
    expect(adapter.fetched).toEqual(['u:notes.txt', 'u:evil']);
  });

  it('skips files over the limit (declared or counted), failed downloads and files past 10, with reasons', async () => {
    const workdir = tmp();
    const adapter = new RecordingAdapter();
    adapter.files.set('u:big', Buffer.alloc(3000));
    adapter.files.set('u:ok', Buffer.from('ok'));
    const many = Array.from({ length: 11 }, (_, i) => file(`f${i}.txt`, 'u:ok'));
    const m = message([file('declared.bin', 'u:never', { size: 5000 }), file('big.bin', 'u:big'), file('gone.txt', 'u:gone'), ...many]);
    const result = (await fetchAttachments({ adapter, maxFileBytes: 2048, logger }, workdir, [m])).get(m.eventKey)!;
    expect(result.skipped.map((f) => [f.name, f.reason])).toEqual([
      ['declared.bin', tooLargeReason(2048)],
      ['big.bin', tooLargeReason(2048)],
      ['gone.txt', 'could not be downloaded (download failed: HTTP 404)'],
      ['f7.txt', 'only the first 10 files of a message are taken'],
      ['f8.txt', 'only the first 10 files of a message are taken'],
      ['f9.txt', 'only the first 10 files of a message are taken'],
      ['f10.txt', 'only the first 10 files of a message are taken'],
    ]);
    expect(result.saved.map((f) => f.name)).toEqual(['f0.txt', 'f1.txt', 'f2.txt', 'f3.txt', 'f4.txt', 'f5.txt', 'f6.txt']);
    // The declared-too-large file was never fetched; the counted one left no partial file behind.
    expect(adapter.fetched).not.toContain('u:never');
    const folder = path.join(workdir, '.agentbridge', 'files', messageFolder(m.eventKey));
    expect(fs.readdirSync(folder).filter((n) => n.startsWith('big'))).toEqual([]);
  });

  it('refuses a files folder that a symlink leads outside the working directory', async () => {
    const workdir = tmp();
    const outside = tmp();
    fs.symlinkSync(outside, path.join(workdir, '.agentbridge'));
    const adapter = new RecordingAdapter();
    adapter.files.set('u:a.txt', Buffer.from('a'));
    const m = message([file('a.txt')]);
    const result = (await fetchAttachments({ adapter, maxFileBytes: 1024, logger }, workdir, [m])).get(m.eventKey)!;
    expect(result.saved).toEqual([]);
    expect(result.skipped[0]!.reason).toMatch(/outside the working directory/);
    expect(fs.readdirSync(outside)).toEqual([]);
  });

  it('returns files not yet stored as skipped when the turn is stopped (no throw, nothing fetched)', async () => {
    const workdir = tmp();
    const adapter = new RecordingAdapter();
    adapter.files.set('u:a.txt', Buffer.from('a'));
    const m = message([file('a.txt')]);
    const result = (await fetchAttachments({ adapter, maxFileBytes: 1024, logger }, workdir, [m], AbortSignal.abort())).get(m.eventKey)!;
    expect(result).toEqual({ saved: [], skipped: [{ name: 'a.txt', reason: 'the turn was stopped before it was downloaded' }] });
    expect(adapter.fetched).toEqual([]);
  });

  it('picks the images Claude takes as image content', () => {
    const images = imageFiles([
      {
        saved: [
          { name: 'a.png', path: '/a.png', mimeType: 'image/png', size: 10 },
          { name: 'b.svg', path: '/b.svg', mimeType: 'image/svg+xml', size: 10 },
          { name: 'c.jpg', path: '/c.jpg', mimeType: 'image/jpeg', size: 6 * 1024 * 1024 },
        ],
        skipped: [],
      },
    ]);
    expect(images.map((f) => f.name)).toEqual(['a.png']);
  });
});

describe.each(BACKENDS)('a turn with attached files (%s)', (backend) => {
  it("gives the agent the files' paths, notes the ones left out once, and answers the text", async () => {
    const core = startCore({ store: await (await databaseOn(backend)).open(), config: { maxFileBytes: 1024 } });
    cores.push(core);
    core.adapter.files.set('u:notes.txt', Buffer.from('the content'));
    const m = message([file('notes.txt'), file('huge.bin', 'u:huge', { size: 4096 })], 'please read it');
    await core.router.accept(m);
    await core.runner.waitRuns(1);
    const run = core.runner.runs[0]!;
    const stored = path.join(fs.realpathSync(core.dir), '.agentbridge', 'files', messageFolder(m.eventKey), 'notes.txt');
    expect(run.req.prompt).toBe(
      `please read it\n\nAttached:\n- ${stored} (text/plain, 11 bytes)\nNot attached:\n- huge.bin (4.0 KB): larger than the 1 KB limit per file (AGENTBRIDGE_MAX_FILE_MB)`,
    );
    expect(fs.readFileSync(stored, 'utf8')).toBe('the content');
    await waitFor(() => core.adapter.texts('t1').some((t) => t.startsWith('⚠️ Not attached: `huge.bin`')));
    run.finish({ text: 'read it' });
    await waitFor(() => core.adapter.texts('t1').includes('read it'));
    expect(core.adapter.texts('t1').filter((t) => t.startsWith('⚠️ Not attached')).length).toBe(1);
    expect(await core.store.inbox.unfinished()).toHaveLength(0);
    // The transcript keeps the message with its files' names.
    expect((await core.store.entries.list('local:general:t1')).find((e) => e.role === 'user')?.text).toBe('please read it\n\n(attached: notes.txt, huge.bin)');
  });

  it('survives restarts: the files come from the inbox row, are fetched by the next process, and reused by a re-run', async () => {
    // Each core has a data directory of its own: the working directory, where the files are
    // stored, is one for all three, as agentbridge's is across restarts.
    const dir = tmp();
    const db = await databaseOn(backend);
    const config = { maxFileBytes: 1024, workdir: dir };
    const m = message([file('notes.txt'), file('huge.bin', 'u:huge', { size: 4096 })], 'read it');
    // Accepted, then a crash before its turn.
    const a = startCore({ store: await db.open(), recovering: true, config });
    await a.router.accept(m);
    await crash(a);

    const b = startCore({ store: await db.open(), recovering: true, config });
    b.adapter.files.set('u:notes.txt', Buffer.from('kept'));
    await recoverInbox(b.store, b.router, b.outbound, logger);
    await b.runner.waitRuns(1);
    const stored = path.join(dir, '.agentbridge', 'files', messageFolder(m.eventKey), 'notes.txt');
    expect(b.runner.runs[0]!.req.prompt).toContain(`- ${stored} (text/plain, 4 bytes)`);
    expect(b.adapter.fetched).toEqual(['u:notes.txt']);
    await waitFor(() => b.adapter.texts('t1').some((t) => t.startsWith('⚠️ Not attached')));
    // A crash during the turn: the re-run reuses the stored file and does not repeat the note.
    await crash(b);

    const c = startCore({ store: await db.open(), recovering: true, config });
    cores.push(c);
    c.runner.auto = () => ({ text: 'done reading' });
    await recoverInbox(c.store, c.router, c.outbound, logger);
    await waitFor(() => c.adapter.texts('t1').includes('done reading'));
    expect(c.runner.runs[0]!.req.prompt).toContain(`- ${stored} (text/plain, 4 bytes)`);
    expect(c.adapter.fetched).toEqual([]);
    expect(c.adapter.texts('t1').some((t) => t.startsWith('⚠️ Not attached'))).toBe(false);
  });
});
