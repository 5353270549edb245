/**
 * The whole product as a person uses it: `agentbridge start`, the page in Debian's Chromium,
 * a message typed and sent, the real claude CLI answering through the scripted model.
 */
import fs from 'node:fs';
import { chromium, type Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startAnthropicModel, type AnthropicModel } from '../models/anthropic.js';
import { startAgentbridge, type AgentbridgeProcess, claudeServiceEnv } from '../helpers/agentbridge.js';
import { processesMentioning } from '../helpers/procs.js';
import { makeSandbox, type Sandbox } from '../helpers/sandbox.js';

const CHROMIUM = '/usr/bin/chromium';
const hasChromium = fs.existsSync(CHROMIUM);

describe.skipIf(!hasChromium)('local chat page with the real agent (Chromium)', () => {
  let model: AnthropicModel;
  let sb: Sandbox;
  let ab: AgentbridgeProcess;
  let browser: Browser;

  beforeAll(async () => {
    model = await startAnthropicModel();
    sb = makeSandbox();
    ab = await startAgentbridge(claudeServiceEnv(sb, model.url), sb.root);
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
  });

  afterAll(async () => {
    await browser?.close();
    await ab?.stop();
    await model?.close();
    expect(processesMentioning(sb.root)).toEqual([]);
    sb?.cleanup();
  });

  it('a person types a message and sees the agent answer appear in the thread', async () => {
    const page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
    await page.goto(ab.url);
    await expect.poll(() => page.getByTestId('connection').textContent()).toBe('live');
    // The first visit asks for a name.
    await expect.poll(() => page.getByTestId('name-prompt').isVisible()).toBe(true);
    await page.getByTestId('name-input').fill('Pat');
    await page.getByTestId('name-input').press('Enter');
    await expect.poll(() => page.getByTestId('me').textContent()).toBe('Pat');
    const composer = page.getByTestId('composer');
    await composer.fill('hello from a person');
    await composer.press('Enter');
    const messages = page.getByTestId('message');
    await expect
      .poll(() => messages.allTextContents(), { timeout: 45_000 })
      .toEqual([expect.stringContaining('hello from a person'), expect.stringContaining('echo: hello from a person')]);
    expect(await messages.nth(1).getAttribute('data-bot')).toBe('true');
    expect(await messages.nth(0).getByTestId('author').textContent()).toBe('Pat');
    // The core marks the message: 👀 while it works, ✅ once answered.
    await expect.poll(() => messages.nth(0).getByTestId('reaction').getAttribute('data-state'), { timeout: 15_000 }).toBe('done');
    expect(model.mainRequests()).toHaveLength(1);
    await page.screenshot({ path: '/tmp/agentbridge-real-page.png' });
  });
});
