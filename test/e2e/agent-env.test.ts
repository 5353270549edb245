/**
 * End to end: the agent process gets no platform secret, no agentbridge variable and nothing the
 * operator deny-listed (src/runners/agent-env.ts). agentbridge runs as its own process with Slack
 * (the Slack twin, Socket Mode: bot token, app token and signing secret set) and the local chat on;
 * CLAUDE_BIN is a wrapper that writes its environment to a file and then execs the real `claude`
 * against the scripted Anthropic model.
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startAnthropicModel, type AnthropicModel } from '../models/anthropic.js';
import { LocalChat, startAgentbridge, type AgentbridgeProcess } from '../helpers/agentbridge.js';
import { processesMentioning } from '../helpers/procs.js';
import { makeSandbox, waitFor, type Sandbox } from '../helpers/sandbox.js';
import { SlackTwin } from '../twins/slack/twin.js';
import { slackEnv, USERS } from '../twins/slack/harness.js';

const CLAUDE = path.resolve(import.meta.dirname, '../../node_modules/.bin/claude');

let model: AnthropicModel;
let twin: SlackTwin;
let sb: Sandbox;
let ab: AgentbridgeProcess | undefined;

beforeAll(async () => {
  [model, twin] = await Promise.all([startAnthropicModel(), SlackTwin.start({ users: USERS })]);
  sb = makeSandbox();
});

afterAll(async () => {
  if (ab) expect(await ab.stop()).toBe(0);
  await Promise.all([model?.close(), twin?.close()]);
  expect(processesMentioning(sb.root)).toEqual([]);
  sb?.cleanup();
});

describe('the agent process environment', () => {
  it('holds no platform credential, agentbridge variable or deny-listed name, and keeps the agent’s own', async () => {
    const dump = path.join(sb.root, 'agent-env.json');
    const wrapper = path.join(sb.root, 'claude-wrapper.sh');
    fs.writeFileSync(
      wrapper,
      [
        '#!/bin/sh',
        `${JSON.stringify(process.execPath)} -e 'require("fs").writeFileSync(process.argv[1], JSON.stringify(process.env))' ${JSON.stringify(dump)}`,
        `exec ${JSON.stringify(CLAUDE)} "$@"`,
        '',
      ].join('\n'),
      { mode: 0o755 },
    );
    const env = slackEnv(sb, model, twin, 'socket');
    Object.assign(env, {
      SLACK_SIGNING_SECRET: twin.signingSecret, // set too (with the app token, Socket Mode is used)
      DISCORD_TOKEN: 'discord-token-SECRET-4',
      AGENTBRIDGE_LOCAL_CHAT: 'on',
      CLAUDE_BIN: wrapper,
      AGENTBRIDGE_AGENT_ENV_DENY: 'MYCORP_*,DATABASE_URL',
      MYCORP_DEPLOY_KEY: 'deploy-SECRET-5',
      DATABASE_URL: 'postgres://user:SECRET-6@db/x',
      HTTPS_PROXY: 'http://127.0.0.1:9', // passes (NO_PROXY covers the loopback model server)
      KEEP_ME: 'kept',
    });
    expect(env.SLACK_BOT_TOKEN && env.SLACK_APP_TOKEN && env.SLACK_SIGNING_SECRET).toBeTruthy();
    ab = await startAgentbridge(env, sb.root);
    const chat = new LocalChat(ab.url);
    const { thread } = await chat.send('general', 'print nothing, just answer', { user: 'alice' });
    await waitFor(async () => (await chat.botTexts('general', thread)).includes('echo: print nothing, just answer'), 45_000, 'the answer');

    const seen = JSON.parse(fs.readFileSync(dump, 'utf8')) as Record<string, string>;
    const names = Object.keys(seen);
    for (const name of names) expect(name, name).not.toMatch(/^(SLACK_|DISCORD_)/);
    expect(names.filter((n) => n.startsWith('AGENTBRIDGE_'))).toEqual(['AGENTBRIDGE_MCP_TOKEN']); // the turn's own tool token
    for (const name of ['CLAUDE_BIN', 'LOG_LEVEL', 'MYCORP_DEPLOY_KEY', 'DATABASE_URL']) expect(seen).not.toHaveProperty(name);
    const values = JSON.stringify(seen);
    for (const secret of [env.SLACK_BOT_TOKEN!, env.SLACK_APP_TOKEN!, env.SLACK_SIGNING_SECRET!, 'discord-token-SECRET-4', 'deploy-SECRET-5', 'SECRET-6']) {
      expect(values).not.toContain(secret);
    }
    expect(seen.ANTHROPIC_BASE_URL).toBe(model.url);
    expect(seen.ANTHROPIC_API_KEY).toBe('test-key');
    expect(seen.HTTPS_PROXY).toBe('http://127.0.0.1:9');
    expect(seen.KEEP_ME).toBe('kept');
    expect(seen.HOME).toBe(sb.home);
  });
});
