/**
 * End to end: agentbridge as its own process with the local chat, the real `claude` CLI and the
 * scripted Anthropic model. The model answers the first turn with a `tool_use` of
 * `mcp__agentbridge__schedule_message` `{text: "follow-up check", delay_seconds: 2}`; claude calls
 * agentbridge's MCP server with the turn's token; ~2 s later the scheduled message runs as a turn
 * of the same conversation (same local-chat thread) and the model receives "follow-up check".
 * Forged, expired and ended-turn tokens are refused by the running server; the live session's own
 * token (read from the claude process's environment) works until `/agent reset` closes the session.
 */
import { createHmac } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { LocalChat, startAgentbridge, type AgentbridgeProcess, claudeServiceEnv } from '../helpers/agentbridge.js';
import { processesMentioning } from '../helpers/procs.js';
import { makeSandbox, waitFor, type Sandbox } from '../helpers/sandbox.js';
import { lastUserText, startAnthropicModel, toolResults, type AnthropicModel, type Responder } from '../models/anthropic.js';

let model: AnthropicModel;
let sb: Sandbox;
const running: AgentbridgeProcess[] = [];
const dataDir = () => path.join(sb.root, 'data');

function env(): NodeJS.ProcessEnv {
  return claudeServiceEnv(sb, model.url);
}

/** Schedules on "remind me", answers the tool result, and answers the follow-up turn. */
const responder: Responder = (req) => {
  const last = lastUserText(req);
  if (last.includes('follow-up check')) return { text: 'follow-up done: the build is green' };
  const results = toolResults(req);
  if (results.length) return { text: `Noted. ${results.at(-1)!.isError ? 'ERROR ' : ''}${results.at(-1)!.text}` };
  if (last.includes('remind me')) return { toolUse: { name: 'mcp__agentbridge__schedule_message', input: { text: 'follow-up check', delay_seconds: 2 } } };
  return { text: `echo: ${last}` };
};

beforeAll(async () => {
  model = await startAnthropicModel(responder);
  sb = makeSandbox();
});

afterEach(async () => {
  for (const p of running.splice(0)) await p.stop();
});

afterAll(async () => {
  await model?.close();
  expect(processesMentioning(sb.root)).toEqual([]);
  sb?.cleanup();
});

describe('agent tools over MCP, end to end', () => {
  it('the agent schedules a follow-up that runs as a turn in the same thread; bad tokens are refused', async () => {
    const ab = await startAgentbridge(env(), sb.root);
    running.push(ab);
    const chat = new LocalChat(ab.url);

    const { thread } = await chat.send('general', 'please remind me to check the build', { user: 'alice' });
    const first = await waitFor(async () => (await chat.botTexts('general', thread)).find((t) => t.startsWith('Noted.')), 45_000, 'the first answer');
    const scheduledAt = Date.now();
    expect(first).toMatch(/^Noted\. Scheduled \S+: due .*"follow-up check"/);

    // The scheduled message comes back as a turn of the same conversation, in the same thread.
    const followUp = await waitFor(
      async () => (await chat.botTexts('general', thread)).find((t) => t.startsWith('follow-up done')),
      30_000,
      'the follow-up answer',
    );
    expect(followUp).toBe('follow-up done: the build is green');
    const followUpRequest = model.mainRequests().find((r) => lastUserText(r).includes('follow-up check'))!;
    expect(followUpRequest).toBeDefined();
    expect(Date.now() - scheduledAt).toBeGreaterThanOrEqual(1_000);
    // Same agent session: the follow-up request carries the first turn's history.
    expect(JSON.stringify(followUpRequest.body.messages)).toContain('please remind me to check the build');
    const bot = await chat.botTexts('general', thread);
    expect(bot.filter((t) => t.startsWith('follow-up done'))).toHaveLength(1);

    // The MCP call was made for this conversation; no token ever reached the logs.
    const toolLog = ab.logs.find((l) => l.msg === 'MCP tool call' && l.tool === 'schedule_message');
    expect(toolLog).toBeDefined();
    expect(String(toolLog!.conversationId)).toContain(thread);
    // The live session's own token, from its claude process's environment (how the CLI gets it).
    const opened = ab.logs.filter((l) => l.msg === 'live agent session opened' && String(l.conversationId).includes(thread)).at(-1);
    expect(opened).toBeDefined();
    const environ = fs.readFileSync(`/proc/${String(opened!.pid)}/environ`, 'utf8').split('\0');
    const liveToken = environ.find((e) => e.startsWith('AGENTBRIDGE_MCP_TOKEN='))?.slice('AGENTBRIDGE_MCP_TOKEN='.length);
    expect(liveToken).toMatch(/^abt1\.[\w-]+\.[0-9a-z]+\.[\w-]{43}$/);
    const logged = JSON.stringify(ab.logs) + ab.stderr();
    expect(logged).not.toContain(liveToken!);
    expect(logged).not.toMatch(/abt1\.[\w-]+\.[0-9a-z]+\.[\w-]{43}/);

    // Against the running server: the live token works; missing, forged, expired and ended-turn tokens are refused.
    const mcpUrl = `${ab.url}/mcp`;
    const callTool = (authorization?: string, name = 'post_message', args: Record<string, unknown> = { text: 'should never appear' }) =>
      fetch(mcpUrl, {
        method: 'POST',
        headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream', ...(authorization ? { authorization } : {}) },
        body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name, arguments: args } }),
      });
    const secret = new Uint8Array(Buffer.from(fs.readFileSync(path.join(dataDir(), 'mcp-secret'), 'utf8').trim(), 'hex'));
    expect(fs.statSync(path.join(dataDir(), 'mcp-secret')).mode & 0o777).toBe(0o600);
    /** A token in agentbridge's format (`abt1.<id>.<exp>.<mac>`) made with `key`. */
    const sign = (key: Uint8Array, expiresAt: number, turnId = String(toolLog!.turnId)) => {
      const signed = `abt1.${Buffer.from(turnId).toString('base64url')}.${expiresAt.toString(36)}`;
      return `${signed}.${createHmac('sha256', key).update(signed).digest('base64url')}`;
    };

    const control = await callTool(`Bearer ${liveToken}`, 'list_scheduled_messages', {});
    expect(control.status).toBe(200);
    expect(JSON.stringify(await control.json())).toContain('No scheduled messages.');
    const missing = await callTool();
    expect(missing.status).toBe(401);
    // The live turn's own id and expiry, another key.
    const liveExpiry = parseInt(liveToken!.split('.')[2]!, 36);
    const forged = await callTool(`Bearer ${sign(new Uint8Array(32).fill(7), liveExpiry)}`);
    expect(forged.status).toBe(401);
    expect(((await forged.json()) as { error: string }).error).toMatch(/invalid/);
    const expired = await callTool(`Bearer ${sign(secret, Date.now() - 60_000)}`);
    expect(expired.status).toBe(401);
    expect(((await expired.json()) as { error: string }).error).toMatch(/expired/);
    // The live session's genuine token, after the session was closed (`reset` closes it; the
    // grant lasts as long as the session's process).
    await chat.send('general', '/agent reset', { thread });
    await waitFor(() => ab.logs.some((l) => l.msg === 'live agent session closed' && l.why === 'reset'), 20_000, 'the live session closed by reset');
    const ended = await callTool(`Bearer ${liveToken}`);
    expect(ended.status).toBe(401);
    expect(((await ended.json()) as { error: string }).error).toMatch(/revoked/);

    await new Promise((r) => setTimeout(r, 300));
    expect((await chat.botTexts('general', thread)).some((t) => t.includes('should never appear'))).toBe(false);
    await ab.stop();
  });
});
