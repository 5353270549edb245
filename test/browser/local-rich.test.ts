/**
 * The local chat page as people see it, in real Chromium (playwright-core, Debian's
 * /usr/bin/chromium): the display name asked once and kept, Markdown rendered by the vendored
 * libraries (marked, DOMPurify, highlight.js) with code-block labels and copy buttons, a running
 * turn (ticking elapsed time, collapsible steps, the 👀 → ✅ mark on the user's message, kept
 * across a reload), an XSS attempt that stays inert, plain-text thread titles, and the dark
 * theme. A stub core records what the page sends; the test posts and edits the bot's messages
 * through the adapter like the core would.
 *
 * Screenshots go to a temporary folder (printed; kept for a look): rich Markdown, long code,
 * running turn, dark theme.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { InboundMessage, ReplyTarget } from '../../src/core/messages.js';
import { createHttpServer, type HttpServer } from '../../src/http/server.js';
import { createLogger } from '../../src/logger.js';
import { LocalAdapter } from '../../src/platforms/local/adapter.js';
import { MemoryLocalMessages } from '../helpers/memory-local-messages.js';

const CHROMIUM = '/usr/bin/chromium';
const hasChromium = fs.existsSync(CHROMIUM);
if (!hasChromium) console.warn(`skipping the local page rendering browser test: ${CHROMIUM} is missing (apt-get install chromium)`);

const FENCE = '```';

const RICH = [
  '# Release plan',
  '',
  'Here is *what* changes, and what ~~does not~~ stays.',
  '',
  '## Steps',
  '',
  '1. Build with `npm run build`',
  '2. Run the [test guide](https://example.com/tests)',
  '',
  '- [x] parser',
  '- [ ] renderer',
  '',
  '> Keep the old API for one release.',
  '',
  '| file | lines |',
  '|---|---:|',
  '| a.ts | 120 |',
  '| b.ts | 8 |',
  '',
  `${FENCE}ts`,
  'export function add(a: number, b: number): number {',
  '  return a + b;',
  '}',
  FENCE,
].join('\n');

const LONG_CODE = [
  'Here is the whole module:',
  '',
  `${FENCE}python`,
  ...Array.from({ length: 60 }, (_, i) =>
    [`def step_${i}(value: int) -> int:`, `    """Step ${i}."""`, `    return value * ${i} + 1  # keep it simple`].join('\n'),
  ),
  FENCE,
].join('\n');

const XSS = [
  'Attempts:',
  '<img src=x onerror="window.__pwned=1">',
  '',
  '[click me](javascript:window.__pwned=2)',
  '',
  '<script>window.__pwned=3</script>',
  '',
  '<a href="javascript:window.__pwned=4">raw link</a> and <iframe src="javascript:window.__pwned=5"></iframe>',
  '',
  '![pic](javascript:window.__pwned=6)',
].join('\n');

describe.skipIf(!hasChromium)('local chat page: rendering, marks, progress, name, theme (Chromium)', () => {
  let http: HttpServer;
  let adapter: LocalAdapter;
  let base: string;
  let browser: Browser;
  let context: BrowserContext;
  let page: Page;
  let shots: string;
  const inbound: InboundMessage[] = [];
  const pageErrors: string[] = [];
  const dialogs: string[] = [];

  /** Takes a screenshot into `shots` and checks it is a real image. */
  async function screenshot(p: Page, name: string): Promise<void> {
    const file = path.join(shots, `${name}.png`);
    await p.screenshot({ path: file });
    expect(fs.statSync(file).size).toBeGreaterThan(10_000);
  }

  /** The last inbound message's reply target (its thread). */
  const target = (): ReplyTarget => inbound.at(-1)!.replyTarget;

  beforeAll(async () => {
    shots = fs.mkdtempSync(path.join(os.tmpdir(), 'ab-page-shots-'));
    console.log(`screenshots: ${shots}`);
    const logger = createLogger('silent');
    http = createHttpServer({ host: '127.0.0.1', port: 0, logger });
    adapter = new LocalAdapter({ repo: new MemoryLocalMessages(), http, logger });
    await adapter.start(async (msg) => {
      inbound.push(msg);
      // The core marks every accepted message at once (👀), like on Slack and Discord.
      setTimeout(() => void adapter.react(msg.replyTarget, msg.messageRef!, 'working'), 10);
      return 'accepted';
    });
    base = (await http.listen()).url;
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      headless: true,
      args: ['--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    });
    context = await browser.newContext({ viewport: { width: 1280, height: 860 }, colorScheme: 'light' });
    await context.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: base });
    page = await context.newPage();
    page.on('pageerror', (e) => pageErrors.push(String(e)));
    page.on('console', (m) => {
      if (m.type() === 'error') pageErrors.push(m.text());
    });
    page.on('dialog', (d) => {
      dialogs.push(d.message());
      void d.dismiss();
    });
  });

  afterAll(async () => {
    await browser?.close();
    await adapter?.stop();
    await http?.close();
  });

  it('asks for a display name once, sends it with each message, keeps it across a reload', async () => {
    await page.goto(base);
    const prompt = page.getByTestId('name-prompt');
    await expect.poll(() => prompt.isVisible()).toBe(true);
    await expect.poll(() => page.evaluate('document.activeElement?.dataset.testid')).toBe('name-input');
    await page.getByTestId('name-save').click();
    expect(await page.getByTestId('name-error').textContent()).toContain('Type a name');
    expect(await prompt.isVisible()).toBe(true);
    await page.getByTestId('name-input').fill('Ada Lovelace');
    await page.getByTestId('name-input').press('Enter');
    await expect.poll(() => prompt.isVisible()).toBe(false);
    expect(await page.getByTestId('me').textContent()).toBe('Ada Lovelace');
    await expect.poll(() => page.evaluate('document.activeElement?.dataset.testid')).toBe('composer');

    await page.getByTestId('composer').fill('**Plan** the `release` — see [docs](https://example.com)');
    await page.getByTestId('composer').press('Enter');
    await expect.poll(() => inbound.length).toBe(1);
    expect(inbound[0]!.author).toEqual({ id: 'Ada Lovelace', name: 'Ada Lovelace' });
    const mine = page.getByTestId('message').first();
    await expect.poll(() => mine.getByTestId('author').textContent()).toBe('Ada Lovelace');
    expect(await mine.getByTestId('avatar').textContent()).toBe('AL');
    // The core's 👀 reaches the page over the event stream.
    await expect.poll(() => mine.getByTestId('reaction').getAttribute('data-state')).toBe('working');
    expect(await mine.getByTestId('reaction').textContent()).toBe('👀');
    // The thread's title is plain text: no Markdown marks.
    await expect.poll(() => page.getByTestId('thread-title').first().textContent()).toBe('Plan the release — see docs');
    await expect.poll(() => page.locator('#conversation-heading').textContent()).toBe('Plan the release — see docs');

    await page.reload();
    await expect.poll(() => page.getByTestId('me').textContent()).toBe('Ada Lovelace');
    expect(await page.getByTestId('name-prompt').isVisible()).toBe(false);
    expect(await page.getByTestId('change-name').isVisible()).toBe(true);
    expect(await page.getByTestId('logout').isVisible()).toBe(false);
    await expect.poll(() => page.getByTestId('message').first().getByTestId('reaction').textContent()).toBe('👀');
  });

  it('renders a rich Markdown answer: headings, lists, task list, table, link, quote, emphasis, strikethrough, code with label and copy', async () => {
    await adapter.post(target(), RICH);
    const answer = page.getByTestId('message').last();
    const body = answer.locator('.msg-body');
    await expect.poll(() => body.locator('h1').textContent()).toBe('Release plan');
    expect(await body.locator('h2').textContent()).toBe('Steps');
    expect(await body.locator('em').textContent()).toBe('what');
    expect(await body.locator('del').textContent()).toBe('does not');
    expect(await body.locator('ol > li').count()).toBe(2);
    const boxes = body.locator('input[type="checkbox"]');
    expect(await boxes.count()).toBe(2);
    type Box = { checked: boolean; disabled: boolean };
    expect(await boxes.evaluateAll((bs) => bs.map((b) => [(b as unknown as Box).checked, (b as unknown as Box).disabled]))).toEqual([
      [true, true],
      [false, true],
    ]);
    expect(await body.locator('blockquote').textContent()).toContain('Keep the old API');
    expect(await body.locator('table tr').count()).toBe(3);
    expect(await body.locator('td').allTextContents()).toEqual(['a.ts', '120', 'b.ts', '8']);
    const link = body.getByRole('link', { name: 'test guide' });
    expect(await link.getAttribute('href')).toBe('https://example.com/tests');
    expect(await link.getAttribute('target')).toBe('_blank');
    expect(await link.getAttribute('rel')).toBe('noopener noreferrer');
    expect(await body.locator('li code').first().textContent()).toBe('npm run build');

    expect(await body.getByTestId('code-lang').textContent()).toBe('ts');
    expect(await body.locator('pre code .hljs-keyword').count()).toBeGreaterThan(0);
    const copy = body.getByTestId('code-copy');
    expect(await copy.getAttribute('aria-label')).toBe('Copy code (ts)');
    await copy.click();
    await expect.poll(() => copy.textContent()).toBe('Copied');
    expect(await page.evaluate('navigator.clipboard.readText()')).toBe('export function add(a: number, b: number): number {\n  return a + b;\n}');
    await screenshot(page, 'rich-markdown');
  });

  it('renders a long code answer highlighted, scrolled inside its block', async () => {
    await adapter.post(target(), LONG_CODE);
    const answer = page.getByTestId('message').last();
    await expect.poll(() => answer.getByTestId('code-lang').textContent()).toBe('python');
    const code = answer.locator('pre code');
    expect((await code.textContent())!.split('\n')).toHaveLength(180);
    expect(await code.locator('.hljs-keyword').count()).toBeGreaterThan(50);
    // The page does not scroll sideways: long lines scroll inside the block.
    expect(await page.evaluate('document.documentElement.scrollWidth - document.documentElement.clientWidth')).toBe(0);
    await screenshot(page, 'long-code');
  });

  it('shows a running turn: elapsed time ticking in the page, steps as a collapsible list, then ✅ on the message, kept across a reload', async () => {
    await page.getByTestId('composer').fill('run the tests please');
    await page.getByTestId('composer').press('Enter');
    await expect.poll(() => inbound.length).toBe(2);
    const userMsg = page.locator(`[data-testid="message"][data-id="${inbound[1]!.messageRef}"]`);
    await expect.poll(() => userMsg.getByTestId('reaction').getAttribute('data-state')).toBe('working');

    const progress = await adapter.post(
      target(),
      '⏳ Working… (elapsed 3 s)\n✓ Bash: ls -la\n✗ Bash: npm test\n… Edit: src/x.ts\n\nThe first test run **failed**; fixing',
    );
    const bot = page.locator(`[data-testid="message"][data-id="${progress.ref}"]`);
    const elapsed = bot.getByTestId('elapsed');
    await expect.poll(() => elapsed.textContent()).toMatch(/^\d+ s$/);
    const first = Number((await elapsed.textContent())!.split(' ')[0]);
    expect(first).toBeGreaterThanOrEqual(3);
    // The server did not edit it; the page's own timer moves it on.
    await expect.poll(() => elapsed.textContent().then((t) => Number(t!.split(' ')[0])), { timeout: 10_000 }).toBeGreaterThanOrEqual(first + 2);
    const steps = bot.getByTestId('steps');
    expect(await steps.locator('summary').textContent()).toBe('3 steps · … Edit: src/x.ts');
    expect(await steps.getAttribute('open')).toBeNull();
    expect(await bot.getByTestId('step').first().isVisible()).toBe(false);
    await steps.locator('summary').click();
    await expect.poll(() => bot.getByTestId('step').first().isVisible()).toBe(true);
    expect(await bot.getByTestId('step').allTextContents()).toEqual(['✓Bash: ls -la', '✗Bash: npm test', '…Edit: src/x.ts']);
    expect(await bot.locator('.progress-tail strong').textContent()).toBe('failed');
    await page.mouse.move(0, 0);
    await page.evaluate("document.getElementById('messages').scrollTop = 1e9");
    await screenshot(page, 'running-turn');

    // A server edit keeps the list open and restarts the tick from the new value.
    await adapter.edit(target(), progress.ref, '⏳ Working… (elapsed 1 min 5 s)\n✓ Bash: ls -la\n✗ Bash: npm test\n✓ Edit: src/x.ts\n… Bash: npm test');
    await expect.poll(() => elapsed.textContent()).toMatch(/^1 min [5-9] s$/);
    expect(await bot.getByTestId('step').count()).toBe(4);
    expect(await bot.getByTestId('steps').getAttribute('open')).toBe('');

    // The answer replaces the progress message; the core marks the user's message done.
    await adapter.edit(target(), progress.ref, 'All **green** now.');
    await adapter.react(target(), inbound[1]!.messageRef!, 'done');
    await expect.poll(() => bot.locator('.msg-body').textContent()).toBe('All green now.');
    expect(await bot.getByTestId('progress').count()).toBe(0);
    await expect.poll(() => userMsg.getByTestId('reaction').textContent()).toBe('✅');
    expect(await userMsg.getByTestId('reaction').getAttribute('title')).toBe('Answered');

    await page.reload();
    await expect.poll(() => userMsg.getByTestId('reaction').getAttribute('data-state')).toBe('done');
  });

  it('keeps an XSS attempt inert, from the agent and from a user', async () => {
    await adapter.post(target(), XSS);
    await page.getByTestId('composer').fill(XSS);
    await page.getByTestId('composer').press('Enter');
    await expect.poll(() => inbound.length).toBe(3);
    const messages = page.getByTestId('message');
    await expect.poll(() => messages.last().locator('.msg-body').textContent()).toContain('<script>window.__pwned=3</script>');
    // The agent's post and the user's message, found by their text (not by position: other
    // messages of earlier tests may still be updated under load).
    const attempts = messages.filter({ hasText: 'click me' });
    await expect.poll(() => attempts.count()).toBe(2);
    for (const msg of await attempts.all()) {
      const body = msg.locator('.msg-body');
      // Raw HTML shows as text.
      expect(await body.textContent()).toContain('<img src=x onerror="window.__pwned=1">');
      expect(await body.locator('img, script, iframe, [onerror]').count()).toBe(0);
      // No link leads to javascript:.
      const hrefs = await body.locator('a').evaluateAll((as) => as.map((a) => a.getAttribute('href')));
      expect(hrefs.filter((h) => h !== null && /^\s*javascript:/i.test(h))).toEqual([]);
      expect(await body.textContent()).toContain('click me');
    }
    await page.getByText('click me').first().click();
    await page.getByText('pic', { exact: true }).first().click();
    expect(await page.evaluate('window.__pwned')).toBeUndefined();
    expect(dialogs).toEqual([]);
    expect(pageErrors).toEqual([]);
  });

  it('follows the dark system theme', async () => {
    const dark = await browser.newContext({ viewport: { width: 1280, height: 860 }, colorScheme: 'dark' });
    await dark.addInitScript("localStorage.setItem('agentbridge.user', 'Ada Lovelace')");
    const p = await dark.newPage();
    await p.goto(`${base}/#/general/${inbound[0]!.thread!}`);
    await expect.poll(() => p.getByTestId('message').count()).toBeGreaterThanOrEqual(4);
    const style = (pg: Page, sel: string, prop: 'backgroundColor' | 'color') =>
      pg.evaluate(`getComputedStyle(document.querySelector(${JSON.stringify(sel)})).${prop}`);
    const bg = (sel: string) => style(p, sel, 'backgroundColor');
    expect(await bg('body')).toBe('rgb(15, 19, 26)');
    expect(await bg('main.conversation')).toBe('rgb(22, 27, 36)');
    expect(await style(p, 'body', 'color')).toBe('rgb(227, 232, 240)');
    // The dark highlight.js theme (github-dark), not the light one.
    expect(await style(p, '.msg-body .hljs-keyword', 'color')).toBe('rgb(255, 123, 114)');
    await p.getByTestId('message').nth(2).scrollIntoViewIfNeeded();
    await screenshot(p, 'dark-theme');
    await dark.close();
    // And the light page is light, with the light highlighting theme (github).
    expect(await style(page, 'body', 'backgroundColor')).toBe('rgb(244, 245, 247)');
    expect(await style(page, '.msg-body .hljs-keyword', 'color')).toBe('rgb(215, 58, 73)');
  });
});
