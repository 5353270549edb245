/**
 * Card buttons on the local chat page in real Chromium (playwright-core, Debian's /usr/bin/chromium):
 * a bot card shows its buttons, a click POSTs `/api/local/actions` with the buttons disabled
 * until the answer is in, a refused click (403, 409) shows the server's text inline, and the
 * card's final edit (a stub core edits it to its outcome with `actions: []`) removes the buttons.
 */
import fs from 'node:fs';
import { chromium, type Browser, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ActionReply, ActionRequest, CardAction } from '../../src/core/interactions.js';
import { createHttpServer, type HttpServer } from '../../src/http/server.js';
import { createLogger } from '../../src/logger.js';
import { LocalAdapter } from '../../src/platforms/local/adapter.js';
import { MemoryLocalMessages } from '../helpers/memory-local-messages.js';

const CHROMIUM = '/usr/bin/chromium';
const hasChromium = fs.existsSync(CHROMIUM);
if (!hasChromium) console.warn(`skipping the local cards browser test: ${CHROMIUM} is missing (apt-get install chromium)`);

const BUTTONS: CardAction[] = [
  { id: 'ab:i1:allow', label: 'Allow', style: 'primary' },
  { id: 'ab:i1:always', label: 'Always allow' },
  { id: 'ab:i1:deny', label: 'Deny', style: 'danger' },
];

describe.skipIf(!hasChromium)('local chat page: card buttons (Chromium)', () => {
  let http: HttpServer;
  let adapter: LocalAdapter;
  let base: string;
  let browser: Browser;
  let page: Page;
  const clicks: ActionRequest[] = [];
  const pageErrors: string[] = [];
  const dialogs: string[] = [];
  /** Holds the `allow` click until released (to see the buttons disabled meanwhile). */
  let releaseAllow: (() => void) | undefined;

  /** The stub core: deny is forbidden, "always" was decided already, allow edits the card to its outcome. */
  async function onAction(req: ActionRequest): Promise<ActionReply> {
    clicks.push(req);
    const target = { platform: 'local' as const, channel: req.channel, thread: req.thread };
    if (req.actionId.endsWith(':deny')) return { status: 'forbidden', text: 'Only alice may decide this request.' };
    if (req.actionId.endsWith(':always')) return { status: 'decided', text: 'Already allowed by bob at 12:01.' };
    await new Promise<void>((resolve) => (releaseAllow = resolve));
    await adapter.edit(target, req.messageRef, `✅ **Allowed** by ${req.userName}`, { actions: [] });
    return { status: 'ok', text: '' };
  }

  beforeAll(async () => {
    const logger = createLogger('silent');
    http = createHttpServer({ host: '127.0.0.1', port: 0, logger });
    adapter = new LocalAdapter({ repo: new MemoryLocalMessages(), http, logger });
    await adapter.start(async () => 'accepted', {
      hasConversation: async () => false,
      isBotMessage: async () => false,
      state: { get: async () => undefined, set: async () => {} },
      onAction,
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
    // The display name given on an earlier visit: the clicker's identity.
    await page.addInitScript("localStorage.setItem('agentbridge.user', 'carol')");
    page.on('pageerror', (e) => pageErrors.push(String(e)));
    page.on('console', (m) => {
      // Chromium logs every non-2xx fetch as "Failed to load resource"; the 403/409 here are expected.
      if (m.type() === 'error' && !m.text().startsWith('Failed to load resource')) pageErrors.push(m.text());
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

  it('renders the buttons, shows a refusal inline, disables the card while a click runs, and drops the buttons on the final edit', async () => {
    const r = await fetch(`${base}/api/local/messages`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ channel: 'general', text: 'clean the build' }),
    });
    const { thread } = (await r.json()) as { thread: string };
    const target = { platform: 'local' as const, channel: 'general', thread };
    await page.goto(`${base}/#/general/${thread}`);
    await expect.poll(() => page.getByTestId('connection').textContent()).toBe('live');

    // The card arrives live (SSE), with its text through the Markdown renderer.
    const posted = await adapter.post(target, '**Run** `rm -rf build`?', { actions: BUTTONS });
    const card = page.locator(`[data-testid="message"][data-id="${posted.ref}"]`);
    const buttons = card.getByTestId('card-action');
    await expect.poll(() => buttons.allTextContents()).toEqual(['Allow', 'Always allow', 'Deny']);
    expect(await card.locator('.msg-body strong').textContent()).toBe('Run');
    expect(await card.locator('.msg-body code').textContent()).toBe('rm -rf build');
    expect(await buttons.evaluateAll((bs) => bs.map((b) => b.className))).toEqual(['card-button primary', 'card-button secondary', 'card-button danger']);
    expect(await page.getByTestId('message').first().getByTestId('card-action').count()).toBe(0);
    await page.screenshot({ path: '/tmp/local-page-card.png' });

    // 403: the server's text near the card, no alert; the buttons work again.
    await card.getByRole('button', { name: 'Deny' }).click();
    await expect.poll(() => card.getByTestId('card-error').textContent()).toBe('Only alice may decide this request.');
    expect(await card.getByTestId('card-error').isVisible()).toBe(true);
    await expect.poll(() => buttons.evaluateAll((bs) => bs.map((b) => (b as unknown as { disabled: boolean }).disabled))).toEqual([false, false, false]);
    expect(clicks.at(-1)).toMatchObject({ platform: 'local', userId: 'carol', channel: 'general', thread, messageRef: posted.ref, actionId: 'ab:i1:deny' });

    // 409: likewise.
    await card.getByRole('button', { name: 'Always allow' }).click();
    await expect.poll(() => card.getByTestId('card-error').textContent()).toBe('Already allowed by bob at 12:01.');
    await page.screenshot({ path: '/tmp/local-page-card-refused.png' });

    // ok: disabled while the request runs (the core holds it), then the edit removes the buttons.
    await card.getByRole('button', { name: 'Allow', exact: true }).click();
    await expect.poll(() => clicks.length).toBe(3);
    await expect.poll(() => buttons.evaluateAll((bs) => bs.map((b) => (b as unknown as { disabled: boolean }).disabled))).toEqual([true, true, true]);
    expect(await card.getByTestId('card-error').textContent()).toBe(''); // cleared by the new click
    releaseAllow!();
    await expect.poll(() => card.locator('.msg-body').textContent()).toBe('✅ Allowed by carol');
    await expect.poll(() => buttons.count()).toBe(0);
    expect(await card.getByTestId('card-actions').isVisible()).toBe(false);
    expect(clicks.map((c) => c.actionId)).toEqual(['ab:i1:deny', 'ab:i1:always', 'ab:i1:allow']);

    // Buttons come back with an edit that has some, and go with a reload-free update again.
    await adapter.edit(target, posted.ref, 'And now?', { actions: [BUTTONS[2]!] });
    await expect.poll(() => buttons.allTextContents()).toEqual(['Deny']);
    await adapter.edit(target, posted.ref, 'Never mind.', { actions: [] });
    await expect.poll(() => buttons.count()).toBe(0);

    // A reload shows the stored state (no buttons).
    await page.reload();
    await expect.poll(() => card.locator('.msg-body').textContent()).toBe('Never mind.');
    expect(await buttons.count()).toBe(0);
    expect(dialogs).toEqual([]);
    expect(pageErrors).toEqual([]);
  });
});
