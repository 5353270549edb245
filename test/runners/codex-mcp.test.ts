/**
 * The real `codex` CLI reaching agentbridge's MCP server with the turn token.
 *
 * Codex 0.169.0 offers MCP tools to the model as a Responses API `namespace` tool named
 * `mcp__agentbridge` holding functions `post_message`, `schedule_message`, …; the model calls one
 * with a `function_call` item `{name: "schedule_message", namespace: "mcp__agentbridge"}` (a flat
 * `mcp__agentbridge__schedule_message` is answered "unsupported call"). The scripted model in
 * test/models/openai.ts emits flat names, so a tiny proxy here splits `mcp__agentbridge__<tool>`
 * into name + namespace on the way back.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { settleProcessCleanups } from '../../src/runners/process.js';
import { createRunner } from '../../src/runners/define.js';
import { codex, codexArgs } from '../../src/runners/codex/index.js';
import type { InteractionRequest } from '../../src/core/interactions.js';
import type { RunEvent, RunRequest } from '../../src/runners/types.js';
import { startMcpHarness, type McpHarness } from '../helpers/mcp-harness.js';
import { makeSandbox, type Sandbox } from '../helpers/sandbox.js';
import { codexMockProviderArgs, functionCallOutputs, sequence, startOpenAIModel, type OpenAIModel } from '../models/openai.js';

let model: OpenAIModel;
let proxy: { url: string; close(): Promise<void> };
let mcp: McpHarness;
let sb: Sandbox;

/** Forwards to the scripted model; rewrites `function_call` items named `mcp__<server>__<tool>` into namespace form. */
async function startNamespaceProxy(upstream: string): Promise<{ url: string; close(): Promise<void> }> {
  const target = new URL(upstream);
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', async () => {
      const headers = Object.fromEntries(Object.entries(req.headers).filter(([k]) => !['host', 'content-length', 'connection'].includes(k))) as Record<
        string,
        string
      >;
      const up = await fetch(`${target.origin}${req.url}`, { method: req.method, headers, body: chunks.length ? Buffer.concat(chunks) : undefined });
      const text = (await up.text()).replace(/^data: (.*)$/gm, (line, json: string) => {
        try {
          const event = JSON.parse(json) as { item?: { type?: string; name?: string; namespace?: string } };
          const m = event.item?.type === 'function_call' ? /^(mcp__[^_]+(?:_[^_]+)*?)__(.+)$/.exec(event.item.name ?? '') : null;
          if (!m) return line;
          event.item!.namespace = m[1];
          event.item!.name = m[2];
          return `data: ${JSON.stringify(event)}`;
        } catch {
          return line;
        }
      });
      res.writeHead(up.status, { 'content-type': up.headers.get('content-type') ?? 'application/json' });
      res.end(text);
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}${target.pathname}`,
    close: () =>
      new Promise<void>((r) => {
        server.close(() => r());
        server.closeAllConnections();
      }),
  };
}

beforeEach(async () => {
  model = await startOpenAIModel();
  proxy = await startNamespaceProxy(model.url);
  mcp = await startMcpHarness();
  sb = makeSandbox({ MOCK_KEY: 'mock-key' });
});

afterEach(async () => {
  // A turn ends at the CLI's final event; its process may still be exiting (and writing into the sandbox).
  await settleProcessCleanups(30_000);
  await proxy.close();
  await model.close();
  await mcp.close();
  sb.cleanup();
});

const target = { platform: 'local' as const, channel: 'general', thread: 't1' };

function request(over: Partial<RunRequest>): RunRequest {
  return { prompt: 'hello', cwd: sb.workdir, env: sb.env, permissionMode: 'read-only', model: 'gpt-5', timeoutMs: 60_000, ...over };
}

async function run(req: RunRequest) {
  const events: RunEvent[] = [];
  const runner = createRunner(codex, { configOverrides: codexMockProviderArgs(proxy.url), killGraceMs: 1000 });
  const result = await runner.run(req, (e) => events.push(e));
  return { result, events, runner };
}

describe('the codex runner with agentbridge tools (real codex CLI)', () => {
  it('passes the server as -c overrides and the token only in the env', () => {
    const args = codexArgs(request({ mcp: { url: 'http://127.0.0.1:9/mcp', token: 'secret.token.value' } }));
    expect(args.join(' ')).not.toContain('secret.token.value');
    const overrides = args.flatMap((a, i) => (args[i - 1] === '-c' ? [a] : []));
    expect(overrides).toEqual(
      expect.arrayContaining([
        'mcp_servers.agentbridge.url="http://127.0.0.1:9/mcp"',
        'mcp_servers.agentbridge.bearer_token_env_var="AGENTBRIDGE_MCP_TOKEN"',
        'mcp_servers.agentbridge.default_tools_approval_mode="approve"',
      ]),
    );
    expect(codexArgs(request({})).join(' ')).not.toContain('mcp_servers');
  });

  it('schedules, resets (a destructive tool, no approval prompt) and posts with the turn token', async () => {
    model.setResponder(
      sequence(
        { toolCall: { name: 'mcp__agentbridge__schedule_message', arguments: { text: 'follow-up check', delay_seconds: 2 } } },
        { toolCall: { name: 'mcp__agentbridge__reset_scheduled_messages', arguments: {} } },
        { toolCall: { name: 'mcp__agentbridge__post_message', arguments: { text: 'working on it' } } },
        { text: 'All set.' },
      ),
    );
    await mcp.scheduled.add('local:general:other', { text: 'not mine', delaySeconds: 60, createdBy: 'agent' });
    const grant = mcp.access.grant({ conversationId: 'local:general:t1', replyTarget: target, ttlMs: 120_000 });
    const { result } = await run(request({ prompt: 'check again in 2 seconds', mcp: { url: grant.url, token: grant.token } }));
    grant.revoke();

    expect(result.error).toBeUndefined();
    expect(result.text).toBe('All set.');
    expect(mcp.seen.length).toBeGreaterThan(0);
    expect(mcp.seen.every((s) => s.token === grant.token && 'conversationId' in s.result)).toBe(true);
    const outputs = functionCallOutputs(model.mainRequests().at(-1)!).map((o) => o.output);
    expect(outputs[0]).toContain('Scheduled sm-2');
    expect(outputs[1]).toContain('Cancelled 1 scheduled message.');
    expect(outputs[2]).toMatch(/posted/i);
    expect(mcp.scheduled.items.map((m) => m.conversationId)).toEqual(['local:general:other']);
    expect(mcp.posted).toEqual([{ conversationId: 'local:general:t1', target: { ...target, kind: 'notice' }, texts: ['working on it'] }]);
  });

  it('a live session (codex app-server, ask mode) reaches the tools with its token; the destructive reset asks nothing', async () => {
    model.setResponder(
      sequence(
        { toolCall: { name: 'mcp__agentbridge__schedule_message', arguments: { text: 'live follow-up', delay_seconds: 2 } } },
        { toolCall: { name: 'mcp__agentbridge__reset_scheduled_messages', arguments: {} } },
        { text: 'Live and set.' },
      ),
    );
    const grant = mcp.access.grant({ conversationId: 'local:general:t1', replyTarget: target, ttlMs: 120_000 });
    const runner = createRunner(codex, { configOverrides: codexMockProviderArgs(proxy.url), killGraceMs: 1000 });
    const session = runner.openSession!({ cwd: sb.workdir, env: sb.env, permissionMode: 'ask', model: 'gpt-5', mcp: { url: grant.url, token: grant.token } });
    const asked: InteractionRequest[] = [];
    try {
      const result = await session.send(
        'schedule then reset',
        { onEvent: () => {}, onInteraction: async (r) => (asked.push(r), { kind: 'deny', message: 'no' }) },
        { timeoutMs: 60_000 },
      );
      expect(result.error).toBeUndefined();
      expect(result.text).toBe('Live and set.');
    } finally {
      await session.close();
      grant.revoke();
    }
    expect(asked).toEqual([]);
    expect(mcp.seen.length).toBeGreaterThan(0);
    expect(mcp.seen.every((s) => s.token === grant.token)).toBe(true);
    const outputs = functionCallOutputs(model.mainRequests().at(-1)!).map((o) => o.output);
    expect(outputs[0]).toMatch(/Scheduled sm-\d+/);
    expect(outputs[1]).toContain('Cancelled 1 scheduled message.');
  });

  it('an expired/revoked token is refused: nothing changes', async () => {
    model.setResponder(sequence({ toolCall: { name: 'mcp__agentbridge__schedule_message', arguments: { text: 'x', delay_seconds: 5 } } }, { text: 'tried' }));
    const grant = mcp.access.grant({ conversationId: 'local:general:t1', replyTarget: target, ttlMs: 120_000 });
    grant.revoke();
    const { result } = await run(request({ prompt: 'schedule something', mcp: { url: grant.url, token: grant.token } }));
    expect(result.ok).toBe(true);
    expect(mcp.seen.length).toBeGreaterThan(0);
    expect(mcp.seen.every((s) => 'refused' in s.result && s.result.refused === 'revoked')).toBe(true);
    expect(mcp.scheduled.items).toEqual([]);
  });
});
