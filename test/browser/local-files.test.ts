/**
 * Files both ways on the local chat page, in real Chromium (playwright-core, Debian's
 * /usr/bin/chromium), over a real SQLite store (issue 13):
 *
 * - in: a file picked with the 📎 button (the file chooser) and an image pasted into the composer
 *   (a ClipboardEvent holding a File) are uploaded and show as chips with name and size; one
 *   removed by its × is not sent; a file dropped on the thread becomes a chip too; sending puts
 *   the upload ids on the message — the core's sink gets them as `files` and the adapter's
 *   `fetchFile` reads the same bytes — and the user's message shows each file as a link (the
 *   image inline, loaded). A file over the limit shows `Not attached: …` and keeps the typed text:
 *   refused by the page when it knows the limit, and by the server (413) when the page's limit is
 *   out of date. A message of files only (no text) is sent.
 * - out: a file the agent sent (`postFile`, as `send_file` delivers it) shows as a download link,
 *   an image inline (`<img>` from the files URL, loaded: naturalWidth > 0).
 *
 * Screenshots (chips, the agent's files) go to a temporary folder it prints.
 *
 * The stand-in core runs the adapter's accept hooks in a store transaction, like the Inbox.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { InboundMessage } from '../../src/core/messages.js';
import { createHttpServer, type HttpServer } from '../../src/http/server.js';
import { createLogger } from '../../src/logger.js';
import { LocalAdapter } from '../../src/platforms/local/adapter.js';
import { LocalFiles } from '../../src/platforms/local/files.js';
import { LocalUploads } from '../../src/platforms/local/uploads.js';
import { openStore, type SqliteStore } from '../../src/store/store.js';

const CHROMIUM = '/usr/bin/chromium';
const hasChromium = fs.existsSync(CHROMIUM);
if (!hasChromium) console.warn(`skipping the local files browser test: ${CHROMIUM} is missing (apt-get install chromium)`);

const MiB = 1024 * 1024;
/** A 2×2 red PNG. */
const PNG = Buffer.from('iVBORw0KGgoAAAANSUhEUgAAAAIAAAACCAIAAAD91JpzAAAAFklEQVR4nGP4z8DAwMDAxMDAwMDAAAANHQEDasKb6QAAAABJRU5ErkJggg==', 'base64');
const NOTES = 'first line\nsecond line: ünïcödé\n';

describe.skipIf(!hasChromium)('local chat page: files in and out (Chromium)', () => {
  let dir: string;
  /** Screenshots (kept for a look; printed). */
  let shots: string;
  let store: SqliteStore;
  let http: HttpServer;
  let adapter: LocalAdapter;
  let base: string;
  let browser: Browser;
  let page: Page;
  const inbound: InboundMessage[] = [];
  const pageErrors: string[] = [];

  async function newPage(): Promise<Page> {
    const p = await browser.newPage({ viewport: { width: 1280, height: 860 } });
    // The display name given on an earlier visit.
    await p.addInitScript("localStorage.setItem('agentbridge.user', 'Ada')");
    p.on('pageerror', (e) => pageErrors.push(String(e)));
    p.on('console', (m) => {
      // Chromium logs every non-2xx fetch as "Failed to load resource"; the 413 here is expected.
      if (m.type() === 'error' && !m.text().startsWith('Failed to load resource')) pageErrors.push(m.text());
    });
    return p;
  }

  /** Reads a stream to the end. */
  async function collect(stream: AsyncIterable<Uint8Array>): Promise<Buffer> {
    const chunks: Buffer[] = [];
    for await (const c of stream) chunks.push(Buffer.from(c));
    return Buffer.concat(chunks);
  }

  /** Pastes files into the composer as a browser does: a ClipboardEvent whose DataTransfer holds them. */
  async function paste(p: Page, files: Array<{ name: string; type: string; base64: string }>): Promise<boolean> {
    // Runs in the page (DOM types are not in this project's Node tsconfig: a script string).
    return p.evaluate(`(() => {
      const dt = new DataTransfer();
      for (const f of ${JSON.stringify(files)}) dt.items.add(new File([Uint8Array.from(atob(f.base64), (c) => c.charCodeAt(0))], f.name, { type: f.type }));
      const event = new ClipboardEvent('paste', { clipboardData: dt, bubbles: true, cancelable: true });
      document.getElementById('composer').dispatchEvent(event);
      return event.defaultPrevented;
    })()`);
  }

  beforeAll(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ab-page-files-'));
    shots = fs.mkdtempSync(path.join(os.tmpdir(), 'ab-page-files-shots-'));
    console.log(`screenshots: ${shots}`);
    const logger = createLogger('silent');
    store = openStore({ dbPath: path.join(dir, 'agentbridge.db'), logger });
    http = createHttpServer({ host: '127.0.0.1', port: 0, logger });
    adapter = new LocalAdapter({
      repo: store.localMessages,
      http,
      logger,
      files: new LocalFiles(dir),
      uploads: new LocalUploads(dir, store.localUploads),
      maxFileBytes: MiB,
    });
    await adapter.start(async (msg, hooks) => {
      await store.transaction(async (tx) => {
        await hooks?.inTransaction?.(tx);
        inbound.push(msg);
      });
      hooks?.afterCommit?.();
      return 'accepted';
    });
    base = (await http.listen()).url;
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      headless: true,
      args: ['--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    });
    page = await newPage();
  });

  afterAll(async () => {
    await browser?.close();
    await adapter?.stop();
    await http?.close();
    await store?.close();
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  it('uploads by the 📎 button and by paste, shows removable chips, and sends the files with the message', async () => {
    await page.goto(`${base}/#/general/new`);
    await expect.poll(() => page.getByTestId('connection').textContent()).toBe('live');
    const attach = page.getByRole('button', { name: 'Attach files' });
    await expect.poll(() => attach.isVisible()).toBe(true);
    expect(await attach.textContent()).toBe('📎');
    const chips = page.getByTestId('attachment');

    // The 📎 button opens the file chooser.
    const [chooser] = await Promise.all([page.waitForEvent('filechooser'), attach.click()]);
    expect(chooser.isMultiple()).toBe(true);
    await chooser.setFiles({ name: 'notes.txt', mimeType: 'text/plain', buffer: Buffer.from(NOTES) });
    await expect.poll(() => chips.first().getAttribute('data-state')).toBe('ready');
    expect(await chips.first().locator('.chip-name').textContent()).toBe('notes.txt');
    expect(await chips.first().locator('.chip-size').textContent()).toBe(`${Buffer.byteLength(NOTES)} B`);

    // A pasted image: the page takes the files (the paste's default — their names as text — is prevented).
    expect(await paste(page, [{ name: 'image.png', type: 'image/png', base64: PNG.toString('base64') }])).toBe(true);
    await expect.poll(() => chips.count()).toBe(2);
    await expect.poll(() => chips.nth(1).getAttribute('data-state')).toBe('ready');
    expect(await chips.nth(1).locator('.chip-name').textContent()).toBe('image.png');
    expect(await page.getByTestId('composer').inputValue()).toBe('');

    // One more, removed with its × before sending: not sent.
    await paste(page, [{ name: 'oops.txt', type: 'text/plain', base64: Buffer.from('not this one').toString('base64') }]);
    await expect.poll(() => chips.count()).toBe(3);
    await expect.poll(() => chips.nth(2).getAttribute('data-state')).toBe('ready');
    const oopsId = (await chips.nth(2).getAttribute('data-id'))!;
    await page.getByRole('button', { name: 'Remove oops.txt' }).click();
    await expect.poll(() => chips.count()).toBe(2);
    await page.screenshot({ path: path.join(shots, 'chips.png') });

    await page.getByTestId('composer').fill('please read these');
    await page.getByTestId('composer').press('Enter');
    await expect.poll(() => inbound.length).toBe(1);
    const sent = inbound[0]!;
    expect(sent.text).toBe('please read these');
    expect(sent.files).toEqual([
      {
        id: expect.stringMatching(/^up-/),
        name: 'notes.txt',
        mimeType: 'text/plain',
        size: Buffer.byteLength(NOTES),
        url: `local-upload:${sent.files![0]!.id}`,
      },
      { id: expect.stringMatching(/^up-/), name: 'image.png', mimeType: 'image/png', size: PNG.length, url: `local-upload:${sent.files![1]!.id}` },
    ]);
    expect(sent.files!.map((f) => f.id)).not.toContain(oopsId);
    // The turn reads the same bytes through the adapter.
    expect((await collect(await adapter.fetchFile(sent.files![0]!))).toString()).toBe(NOTES);
    expect((await collect(await adapter.fetchFile(sent.files![1]!))).equals(PNG)).toBe(true);
    // Sent: the chips are gone, the composer is empty.
    await expect.poll(() => chips.count()).toBe(0);
    expect(await page.getByTestId('attachments').isVisible()).toBe(false);

    // The user's message shows each file: a link to its URL, the image inline and loaded.
    const mine = page.locator(`[data-testid="message"][data-id="${sent.messageRef}"]`);
    const links = mine.getByTestId('file-link');
    await expect.poll(() => links.allTextContents()).toEqual(['📎 notes.txt', '📎 image.png']);
    expect(await links.first().getAttribute('href')).toBe(`/api/local/files/${sent.files![0]!.id}`);
    const img = mine.getByTestId('file-image');
    expect(await img.getAttribute('src')).toBe(`/api/local/files/${sent.files![1]!.id}`);
    await expect
      .poll(() =>
        img.evaluate((i) => (i as unknown as { complete: boolean; naturalWidth: number }).complete && (i as unknown as { naturalWidth: number }).naturalWidth),
      )
      .toBe(2);
    // The link downloads the bytes, with the same access as the page.
    const body = await page.evaluate((url) => fetch(url).then((r) => r.text()), `/api/local/files/${sent.files![0]!.id}`);
    expect(body).toBe(NOTES);
    // A reload shows them from the stored message.
    await page.reload();
    await expect.poll(() => mine.getByTestId('file-link').count()).toBe(2);
  });

  it('a file over the limit: "Not attached" with the limit, the typed text kept — by the page, and by the server’s 413', async () => {
    const composer = page.getByTestId('composer');
    await composer.fill('text I am still writing');
    const [chooser] = await Promise.all([page.waitForEvent('filechooser'), page.getByTestId('attach').click()]);
    await chooser.setFiles({ name: 'big.bin', mimeType: 'application/octet-stream', buffer: Buffer.alloc(MiB + 1, 1) });
    await expect.poll(() => page.locator('#composer-error').textContent()).toBe('Not attached: big.bin (1 MiB) is larger than the 1 MiB limit per file');
    expect(await page.getByTestId('attachment').count()).toBe(0);
    expect(await composer.inputValue()).toBe('text I am still writing');

    // A page that believes the limit is higher (the server restarted with a lower one): the server's 413.
    const stale = await newPage();
    await stale.route('**/api/local/channels', async (route) => {
      const res = await route.fetch();
      await route.fulfill({ response: res, json: { ...((await res.json()) as object), maxFileBytes: 100 * MiB } });
    });
    await stale.goto(`${base}/#/general/new`);
    await expect.poll(() => stale.getByTestId('attach').isVisible()).toBe(true);
    await stale.getByTestId('composer').fill('keep me');
    const [chooser2] = await Promise.all([stale.waitForEvent('filechooser'), stale.getByTestId('attach').click()]);
    await chooser2.setFiles({ name: 'big.bin', mimeType: 'application/octet-stream', buffer: Buffer.alloc(3 * MiB, 1) });
    await expect.poll(() => stale.locator('#composer-error').textContent()).toBe('Not attached: big.bin: the file is larger than the 1 MiB limit per file');
    await expect.poll(() => stale.getByTestId('attachment').count()).toBe(0);
    expect(await stale.getByTestId('composer').inputValue()).toBe('keep me');
    await stale.close();
    expect(fs.readdirSync(path.join(dir, 'uploads')).some((f) => f.endsWith('.part'))).toBe(false);
  });

  it('a file dropped on the thread becomes a chip; a message of files only is sent', async () => {
    await page.getByTestId('composer').fill('');
    await page.locator('#composer-error').evaluate((e) => (e.textContent = ''));
    const dt = await page.evaluateHandle(`(() => {
      const d = new DataTransfer();
      d.items.add(new File(['dropped bytes'], 'dropped.log', { type: 'text/plain' }));
      return d;
    })()`);
    await page.dispatchEvent('#messages', 'dragover', { dataTransfer: dt });
    await expect.poll(() => page.locator('#conversation').getAttribute('class')).toContain('dropping');
    await page.dispatchEvent('#messages', 'drop', { dataTransfer: dt });
    expect(await page.locator('#conversation').getAttribute('class')).not.toContain('dropping');
    const chip = page.getByTestId('attachment');
    await expect.poll(() => chip.getAttribute('data-state')).toBe('ready');
    expect(await chip.locator('.chip-name').textContent()).toBe('dropped.log');

    await page.getByTestId('send').click();
    await expect.poll(() => inbound.length).toBe(2);
    expect(inbound[1]!).toMatchObject({ text: '', files: [expect.objectContaining({ name: 'dropped.log', size: 13 })] });
    const mine = page.locator(`[data-testid="message"][data-id="${inbound[1]!.messageRef}"]`);
    await expect.poll(() => mine.getByTestId('file-link').textContent()).toBe('📎 dropped.log');
    expect(pageErrors).toEqual([]);
  });

  it('a file the agent sent shows as a link, and an image inline from the files URL', async () => {
    const target = inbound[0]!.replyTarget;
    const report = path.join(dir, 'report-copy');
    fs.writeFileSync(report, 'the report\n');
    const plot = path.join(dir, 'plot-copy');
    fs.writeFileSync(plot, PNG);
    const text = await adapter.postFile(target, { path: report, name: 'report.txt', size: 11 }, { comment: 'Here is the **report**.' });
    const image = await adapter.postFile(target, { path: plot, name: 'plot.png', size: PNG.length });

    const reportMsg = page.locator(`[data-testid="message"][data-id="${text.ref}"]`);
    await expect.poll(() => reportMsg.getByTestId('file-link').textContent()).toBe('📎 report.txt');
    expect(await reportMsg.locator('.msg-body strong').textContent()).toBe('report');
    expect(await reportMsg.getByTestId('file-link').getAttribute('href')).toBe(`/api/local/files/${text.ref}`);
    expect(await reportMsg.getByTestId('file-link').getAttribute('download')).toBe('report.txt');
    expect(await reportMsg.getByTestId('file-image').count()).toBe(0);

    const plotMsg = page.locator(`[data-testid="message"][data-id="${image.ref}"]`);
    const img = plotMsg.getByTestId('file-image');
    await expect.poll(() => img.getAttribute('src')).toBe(`/api/local/files/${image.ref}`);
    await expect
      .poll(() =>
        img.evaluate((i) => (i as unknown as { complete: boolean; naturalWidth: number }).complete && (i as unknown as { naturalWidth: number }).naturalWidth),
      )
      .toBe(2);
    expect(await img.getAttribute('alt')).toBe('plot.png');
    await page.screenshot({ path: path.join(shots, 'agent-files.png') });
    expect(pageErrors).toEqual([]);
  });
});
