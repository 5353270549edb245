/**
 * The real `claude` CLI reaching agentbridge's MCP server: the scripted Anthropic model answers
 * with `tool_use` of `mcp__agentbridge__…`, the claude runner passes `req.mcp`, and the tool call
 * arrives at the in-process MCP endpoint with the turn's token (never in argv).
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { settleProcessCleanups } from '../../src/runners/process.js';
import { createRunner } from '../../src/runners/define.js';
import { claude, claudeArgs, claudeEnv } from '../../src/runners/claude/index.js';
import type { RunEvent, RunRequest } from '../../src/runners/types.js';
import { startMcpHarness, type McpHarness } from '../helpers/mcp-harness.js';
import { makeSandbox, type Sandbox } from '../helpers/sandbox.js';
import { sequence, startAnthropicModel, toolResults, type AnthropicModel } from '../models/anthropic.js';

let model: AnthropicModel;
let mcp: McpHarness;
let sb: Sandbox;

beforeEach(async () => {
  model = await startAnthropicModel();
  mcp = await startMcpHarness();
  sb = makeSandbox({
    ANTHROPIC_BASE_URL: model.url,
    ANTHROPIC_API_KEY: 'test-key',
    CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC: '1',
    CLAUDE_CODE_MAX_RETRIES: '0',
    DISABLE_AUTOUPDATER: '1',
  });
});

afterEach(async () => {
  // A turn ends at the CLI's final event; its process may still be exiting (and writing into the sandbox).
  await settleProcessCleanups(30_000);
  await model.close();
  await mcp.close();
  sb.cleanup();
});

const target = { platform: 'local' as const, channel: 'general', thread: 't1' };

function request(over: Partial<RunRequest>): RunRequest {
  return { prompt: 'hello', cwd: sb.workdir, env: sb.env, permissionMode: 'edit', timeoutMs: 60_000, ...over };
}

async function run(req: RunRequest) {
  const events: RunEvent[] = [];
  const result = await createRunner(claude).run(req, (e) => events.push(e));
  return { result, events };
}

describe('the claude runner with agentbridge tools (real claude CLI)', () => {
  it('registers the server from argv + env without putting the token in argv', () => {
    const req = request({ mcp: { url: 'http://127.0.0.1:9/mcp', token: 'secret.token.value' } });
    const args = claudeArgs(req);
    expect(args.join(' ')).not.toContain('secret.token.value');
    const config = JSON.parse(args[args.indexOf('--mcp-config') + 1]!);
    expect(config).toEqual({
      mcpServers: { agentbridge: { type: 'http', url: 'http://127.0.0.1:9/mcp', headers: { Authorization: 'Bearer ${AGENTBRIDGE_MCP_TOKEN}' } } },
    });
    expect(args[args.indexOf('--allowedTools') + 1]).toBe('mcp__agentbridge');
    expect(args).not.toContain('hello');
    expect(claudeEnv(req).AGENTBRIDGE_MCP_TOKEN).toBe('secret.token.value');
    expect(claudeArgs(request({}))).not.toContain('--mcp-config');
  });

  it.each(['edit', 'read-only'] as const)('schedules a message and posts through the MCP server with the turn token (%s)', async (permissionMode) => {
    model.setResponder(
      sequence(
        { toolUse: { name: 'mcp__agentbridge__schedule_message', input: { text: 'follow-up check', delay_seconds: 2 } } },
        { toolUse: { name: 'mcp__agentbridge__post_message', input: { text: 'working on it' } } },
        { text: 'All set.' },
      ),
    );
    const grant = mcp.access.grant({ conversationId: 'local:general:t1', replyTarget: target, ttlMs: 120_000 });
    const { result, events } = await run(request({ prompt: 'check again in 2 seconds', permissionMode, mcp: { url: grant.url, token: grant.token } }));
    grant.revoke();

    expect(result.error).toBeUndefined();
    expect(result.text).toBe('All set.');
    // The tool calls reached the server, every request carrying the granted token.
    expect(mcp.seen.length).toBeGreaterThan(0);
    expect(mcp.seen.every((s) => s.token === grant.token && 'conversationId' in s.result)).toBe(true);
    expect(mcp.scheduled.items).toMatchObject([{ conversationId: 'local:general:t1', text: 'follow-up check', createdBy: 'agent' }]);
    expect(mcp.posted).toEqual([{ conversationId: 'local:general:t1', target: { ...target, kind: 'notice' }, texts: ['working on it'] }]);
    // The model saw the tool results (not permission denials).
    const results = toolResults(model.mainRequests().at(-1)!);
    expect(results.map((r) => r.isError)).toEqual([false, false]);
    expect(results[0]!.text).toMatch(/^Scheduled sm-1: due /);
    expect(events.filter((e) => e.type === 'tool_start').map((e) => (e as { name: string }).name)).toEqual([
      'mcp__agentbridge__schedule_message',
      'mcp__agentbridge__post_message',
    ]);

    // After the turn, the token is refused.
    expect(() => mcp.tokens.verify(grant.token)).toThrow(/revoked/);
  });

  it('a forged token is refused: the tools never run', async () => {
    model.setResponder(sequence({ toolUse: { name: 'mcp__agentbridge__schedule_message', input: { text: 'x', delay_seconds: 5 } } }, { text: 'tried' }));
    const grant = mcp.access.grant({ conversationId: 'local:general:t1', replyTarget: target, ttlMs: 120_000 });
    // Same turn id and expiry, another MAC.
    const forged = grant.token.replace(/[^.]+$/, 'A'.repeat(43));
    const { result } = await run(request({ prompt: 'schedule something', mcp: { url: grant.url, token: forged } }));
    grant.revoke();

    expect(result.ok).toBe(true);
    expect(mcp.seen.length).toBeGreaterThan(0);
    expect(mcp.seen.every((s) => 'refused' in s.result && s.result.refused === 'invalid')).toBe(true);
    expect(mcp.scheduled.items).toEqual([]);
    const results = toolResults(model.mainRequests().at(-1)!);
    expect(results.every((r) => r.isError)).toBe(true);
  });
});
