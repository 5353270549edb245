/**
 * The local chat page in real Chromium (playwright-core, Debian's /usr/bin/chromium): a fake
 * core answers each message with "thinking…" and then edits it to "echo: <text>".
 */
import fs from 'node:fs';
import { chromium, type Browser, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../../src/logger.js';
import { createHttpServer, type HttpServer } from '../../src/http/server.js';
import { LocalAdapter } from '../../src/platforms/local/adapter.js';
import type { InboundMessage } from '../../src/core/messages.js';
import { MemoryLocalMessages } from '../helpers/memory-local-messages.js';
import os from 'node:os';
import path from 'node:path';
import { LocalAuth } from '../../src/platforms/local/auth.js';
import { LOGIN_LINK_TTL_MS, hashToken, newToken } from '../../src/platforms/local/login-tokens.js';
import { openStore, type SqliteStore } from '../../src/store/store.js';

const CHROMIUM = '/usr/bin/chromium';
const hasChromium = fs.existsSync(CHROMIUM);
if (!hasChromium) console.warn(`skipping the local page browser test: ${CHROMIUM} is missing (apt-get install chromium)`);

describe.skipIf(!hasChromium)('local chat page (Chromium)', () => {
  let http: HttpServer;
  let adapter: LocalAdapter;
  let repo: MemoryLocalMessages;
  let base: string;
  let browser: Browser;
  let page: Page;
  const inbound: InboundMessage[] = [];
  const pageErrors: string[] = [];

  beforeAll(async () => {
    const logger = createLogger('silent');
    http = createHttpServer({ host: '127.0.0.1', port: 0, logger });
    repo = new MemoryLocalMessages();
    adapter = new LocalAdapter({ repo, http, logger });
    await adapter.start(async (msg) => {
      inbound.push(msg);
      // Answer asynchronously, like the real core: progress message, status, then the final edit.
      setTimeout(async () => {
        await adapter.setStatus(msg.replyTarget, 'working…');
        const posted = await adapter.post(msg.replyTarget, 'thinking…');
        await new Promise((r) => setTimeout(r, 300));
        await adapter.edit(msg.replyTarget, posted.ref, `echo: ${msg.text}`);
        await adapter.setStatus(msg.replyTarget, null);
      }, 50);
      return 'accepted';
    });
    base = (await http.listen()).url;
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      headless: true,
      args: [
        '--no-sandbox',
        '--disable-gpu',
        '--disable-quic',
        '--no-first-run',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
      ],
    });
    page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
    // A returning visitor: the display name was given before (the first visit is local-rich.test.ts).
    await page.addInitScript("localStorage.setItem('agentbridge.user', 'tester')");
    page.on('pageerror', (e) => pageErrors.push(String(e)));
    page.on('console', (m) => {
      if (m.type() === 'error') pageErrors.push(m.text());
    });
  });

  afterAll(async () => {
    await browser?.close();
    await adapter?.stop();
    await http?.close();
  });

  it('sends a message, shows the edited bot answer, replies in the same thread', async () => {
    await page.goto(base);
    const composer = page.getByTestId('composer');
    await expect.poll(() => page.evaluate('document.activeElement?.dataset.testid')).toBe('composer');
    await expect.poll(() => page.getByTestId('connection').textContent()).toBe('live');

    await composer.fill('hello from the browser');
    await composer.press('Enter');

    const messages = page.getByTestId('message');
    await expect
      .poll(() => messages.allTextContents(), { timeout: 10_000 })
      .toEqual([expect.stringContaining('hello from the browser'), expect.stringContaining('echo: hello from the browser')]);
    expect(await messages.nth(0).getAttribute('data-bot')).toBe('false');
    expect(await messages.nth(1).getAttribute('data-bot')).toBe('true');
    await expect.poll(() => page.getByTestId('thread-status').textContent()).toBe('');
    expect(inbound).toHaveLength(1);
    const thread = inbound[0]!.thread!;
    expect(page.url()).toContain(`#/general/${thread}`);

    // The composer kept focus and was cleared; reply in the open thread.
    expect(await composer.inputValue()).toBe('');
    await composer.fill('second line one');
    await composer.press('Shift+Enter');
    await composer.pressSequentially('line two');
    expect(await composer.inputValue()).toBe('second line one\nline two');
    await page.getByTestId('send').click();

    await expect
      .poll(() => messages.allTextContents(), { timeout: 10_000 })
      .toEqual([
        expect.stringContaining('hello from the browser'),
        expect.stringContaining('echo: hello from the browser'),
        expect.stringContaining('second line one\nline two'),
        expect.stringContaining('echo: second line one\nline two'),
      ]);
    expect(inbound.map((m) => m.conversationId)).toEqual([`local:general:${thread}`, `local:general:${thread}`]);

    // The thread list shows the thread with its replies.
    const item = page.getByTestId('thread-item');
    await expect.poll(() => item.count()).toBe(1);
    await expect.poll(() => item.first().textContent()).toMatch(/hello from the browser.*3 replies/);
    expect(await item.first().getAttribute('aria-current')).toBe('true');
    expect(await page.locator('[aria-live="polite"][data-testid="messages"]').count()).toBe(1);
  });

  it('renders code blocks safely and shows the status while working', async () => {
    const thread = inbound[0]!.thread!;
    const target = { platform: 'local' as const, channel: 'general', thread };
    await adapter.setStatus(target, 'working…');
    await expect.poll(() => page.getByTestId('thread-status').textContent()).toBe('agentbridge is working…');
    const fence = '```';
    await adapter.post(target, `Here is code:\n${fence}html\n<img src=x onerror="window.__pwned=1">\n${fence}\nand **bold** <b>not html</b>`);
    const last = page.getByTestId('message').last();
    await expect.poll(() => last.locator('pre code').textContent()).toBe('<img src=x onerror="window.__pwned=1">');
    expect(await last.locator('img, b').count()).toBe(0);
    expect(await last.locator('strong').textContent()).toBe('bold');
    expect(await page.evaluate('window.__pwned')).toBeUndefined();
    await adapter.setStatus(target, null);
    await expect.poll(() => page.getByTestId('thread-status').textContent()).toBe('');
    await page.screenshot({ path: '/tmp/local-page.png' });
  });

  it('starts a new thread from the thread view and switches channels', async () => {
    await page.getByTestId('new-thread').click();
    await expect.poll(() => page.getByTestId('message').count()).toBe(0);
    await page.screenshot({ path: '/tmp/local-page-new-thread.png' });
    const composer = page.getByTestId('composer');
    await composer.fill('another topic');
    await composer.press('Enter');
    await expect
      .poll(() => page.getByTestId('message').allTextContents(), { timeout: 10_000 })
      .toEqual([expect.stringContaining('another topic'), expect.stringContaining('echo: another topic')]);
    await expect.poll(() => page.getByTestId('thread-item').count()).toBe(2);
    expect(await page.getByTestId('thread-item').first().textContent()).toContain('another topic');

    await page.getByTestId('channel-input').fill('dev');
    await page.getByTestId('channel-input').press('Enter');
    await expect.poll(() => page.url()).toMatch(/#\/dev$/);
    await expect.poll(() => page.getByTestId('thread-item').count()).toBe(0);
    expect(await repo.channels()).toEqual(['general']);
  });

  it('works at a narrow width', async () => {
    const narrow = await browser.newPage({ viewport: { width: 390, height: 760 } });
    await narrow.addInitScript("localStorage.setItem('agentbridge.user', 'tester')");
    await narrow.goto(`${base}/#/general/${inbound[0]!.thread!}`);
    await expect.poll(() => narrow.getByTestId('message').count()).toBeGreaterThanOrEqual(4);
    expect(await narrow.getByTestId('composer').isVisible()).toBe(true);
    expect(await narrow.getByTestId('thread-item').first().isVisible()).toBe(false);
    await narrow.getByRole('link', { name: '← Threads' }).click();
    await expect.poll(() => narrow.getByTestId('thread-item').first().isVisible()).toBe(true);
    const overflow = await narrow.evaluate('document.documentElement.scrollWidth - document.documentElement.clientWidth');
    expect(overflow).toBe(0);
    await narrow.screenshot({ path: '/tmp/local-page-narrow.png' });
    await narrow.close();
    expect(pageErrors).toEqual([]);
  });
});

describe.skipIf(!hasChromium)('local chat page with login (Chromium)', () => {
  let http: HttpServer;
  let adapter: LocalAdapter;
  let store: SqliteStore;
  let dir: string;
  let base: string;
  let browser: Browser;
  const inbound: InboundMessage[] = [];

  beforeAll(async () => {
    const logger = createLogger('silent');
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ab-page-login-'));
    store = openStore({ dbPath: path.join(dir, 'agentbridge.db'), logger });
    await store.localUsers.add('alice', true);
    http = createHttpServer({ host: '127.0.0.1', port: 0, logger });
    const auth = new LocalAuth({ users: store.localUsers, requiredByConfig: false, secureCookie: false, logger });
    adapter = new LocalAdapter({ repo: store.localMessages, http, logger, auth });
    await adapter.start(async (msg) => {
      inbound.push(msg);
      setTimeout(() => void adapter.post(msg.replyTarget, `echo: ${msg.text}`), 20);
      return 'accepted';
    });
    base = (await http.listen()).url;
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      headless: true,
      args: ['--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking'],
    });
  });

  afterAll(async () => {
    await browser?.close();
    await adapter?.stop();
    await http?.close();
    await store?.close();
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  it('shows how to log in on 401, logs in with a link, shows who is logged in, sends as that user, logs out', async () => {
    const page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
    await page.goto(base);
    await expect.poll(() => page.getByTestId('login-notice').isVisible()).toBe(true);
    expect(await page.getByTestId('login-notice').textContent()).toContain('agentbridge users link NAME');
    expect(await page.getByTestId('account').isVisible()).toBe(false);
    await page.screenshot({ path: '/tmp/local-page-login-needed.png' });

    const token = newToken();
    await store.localUsers.addToken({ hash: hashToken(token), user: 'alice', kind: 'link', expiresAt: Date.now() + LOGIN_LINK_TTL_MS });
    await page.goto(`${base}/login?token=${token}`);
    await expect.poll(() => page.getByTestId('me').textContent()).toBe('alice (admin)');
    // The name comes from the login: no prompt, no way to change it in the page.
    expect(await page.getByTestId('name-prompt').isVisible()).toBe(false);
    expect(await page.getByTestId('change-name').isVisible()).toBe(false);
    expect(await page.getByTestId('logout').isVisible()).toBe(true);
    expect(new URL(page.url()).pathname).toBe('/');
    expect(await page.getByTestId('login-notice').isVisible()).toBe(false);
    expect(await page.evaluate('document.cookie')).toBe(''); // HttpOnly: invisible to scripts
    await expect.poll(() => page.getByTestId('connection').textContent()).toBe('live');

    await page.getByTestId('composer').fill('hello as alice');
    await page.getByTestId('composer').press('Enter');
    await expect
      .poll(() => page.getByTestId('message').allTextContents(), { timeout: 10_000 })
      .toEqual([expect.stringContaining('alice'), expect.stringContaining('echo: hello as alice')]);
    expect(inbound.map((m) => m.author.id)).toEqual(['alice']);

    await page.getByTestId('logout').click();
    await expect.poll(() => page.getByTestId('login-notice').isVisible(), { timeout: 10_000 }).toBe(true);
    expect((await store.localUsers.list())[0]!.sessions).toBe(0);
    await page.close();
  });
});
