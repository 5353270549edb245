/**
 * The MCP server (src/tools/mcp-server.ts) on agentbridge's HTTP server, driven by the SDK's own
 * Client + StreamableHTTPClientTransport, with an outbox fake, a recording adapter and an
 * in-memory scheduled-messages service.
 */
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { Outbound } from '../../src/conversation/outbound.js';
import { createHttpServer, type HttpServer } from '../../src/http/server.js';
import { createLogger } from '../../src/logger.js';
import type { ReplyTarget } from '../../src/core/messages.js';
import type { PlatformAdapter } from '../../src/platforms/types.js';
import type { OutboxTarget } from '../../src/store/types.js';
import { ToolAccess } from '../../src/tools/access.js';
import { MAX_POSTS_PER_TURN, TOOL_NAMES, ToolServerPool, buildToolServer, registerMcpRoutes, type McpToolDeps } from '../../src/tools/mcp-server.js';
import { ToolTokens } from '../../src/tools/tokens.js';
import { mcpEndpointUrl } from '../../src/tools/index.js';
import { MemoryScheduledMessages } from '../helpers/memory-scheduled.js';

const A: ReplyTarget = { platform: 'local', channel: 'general', thread: 'tA', replyTo: 'mA' };
const B: ReplyTarget = { platform: 'local', channel: 'general', thread: 'tB' };

let http: HttpServer;
let url: string;
let now: number;
let tokens: ToolTokens;
let access: ToolAccess;
let scheduled: MemoryScheduledMessages;
let enqueued: Array<{ conversationId: string; target: OutboxTarget; texts: string[]; entryId: number | null }>;
let delivered: string[];
/** Held by the next `deliver` calls while set: lets tests keep tool calls in flight. */
let deliveryGate: Promise<void> | undefined;
let pool: ToolServerPool;
const clients: Client[] = [];

/** Local-platform stand-in: 100-character messages, "@" mentions neutralised by render(). */
const adapter = {
  name: 'local',
  limits: { maxMessageChars: 100, minEditIntervalMs: 0 },
  render: (t: string) => t.replace(/@/g, '@\u200b'),
  neutraliseMentions: (t: string) => t.replace(/@/g, '@\u200b'),
} as unknown as PlatformAdapter;

beforeEach(async () => {
  now = Date.now();
  tokens = new ToolTokens(new Uint8Array(32).fill(9), { now: () => now });
  scheduled = new MemoryScheduledMessages(() => now);
  enqueued = [];
  delivered = [];
  const logger = createLogger('silent');
  http = createHttpServer({ host: '127.0.0.1', port: 0, logger });
  deliveryGate = undefined;
  const deps: McpToolDeps = {
    tokens,
    outbound: new Outbound({
      enqueue: async (conversationId, target, texts, entryId) => {
        enqueued.push({ conversationId, target, texts, entryId });
        return [];
      },
      deliver: async (conversationId) => {
        await deliveryGate;
        delivered.push(conversationId);
      },
      adapter: (p) => (p === 'local' ? adapter : undefined),
    }),
    scheduled,
    logger,
  };
  pool = new ToolServerPool(() => buildToolServer(deps));
  registerMcpRoutes(http, deps, { pool });
  const base = (await http.listen()).url;
  url = `${base}/mcp`;
  access = new ToolAccess({ tokens, url });
});

afterEach(async () => {
  for (const c of clients.splice(0)) await c.close().catch(() => {});
  await http.close();
});

async function connect(token: string): Promise<Client> {
  const client = new Client({ name: 'test', version: '1.0.0' });
  const transport = new StreamableHTTPClientTransport(new URL(url), { requestInit: { headers: { Authorization: `Bearer ${token}` } } });
  await client.connect(transport);
  clients.push(client);
  return client;
}

async function call(client: Client, name: string, args: Record<string, unknown> = {}): Promise<{ text: string; isError: boolean }> {
  const r = (await client.callTool({ name, arguments: args })) as { content: Array<{ type: string; text?: string }>; isError?: boolean };
  return { text: r.content.map((c) => c.text ?? '').join('\n'), isError: r.isError === true };
}

/** A raw JSON-RPC `tools/call` POST, as an agent CLI would send it. */
function rawToolCall(headers: Record<string, string>, name: string, args: Record<string, unknown>, method = 'POST'): Promise<Response> {
  return fetch(url, {
    method,
    headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream', ...headers },
    body: method === 'POST' ? JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name, arguments: args } }) : undefined,
  });
}

describe('mcpEndpointUrl', () => {
  it('appends /mcp and replaces wildcard bind addresses with loopback', () => {
    expect(mcpEndpointUrl('http://127.0.0.1:8080')).toBe('http://127.0.0.1:8080/mcp');
    expect(mcpEndpointUrl('http://0.0.0.0:8080')).toBe('http://127.0.0.1:8080/mcp');
    expect(mcpEndpointUrl('http://[::]:8080')).toBe('http://[::1]:8080/mcp');
  });
});

describe('MCP server: tools', () => {
  it('lists the five tools with their input schemas', async () => {
    const client = await connect(access.grant({ conversationId: 'cA', replyTarget: A, ttlMs: 60_000 }).token);
    const { tools } = await client.listTools();
    expect(tools.map((t) => t.name).sort()).toEqual([...TOOL_NAMES].sort());
    const schedule = tools.find((t) => t.name === 'schedule_message')!;
    expect(Object.keys(schedule.inputSchema.properties ?? {}).sort()).toEqual(['at', 'delay_seconds', 'every', 'text']);
    expect(schedule.inputSchema.required).toEqual(['text']);
    expect(tools.find((t) => t.name === 'post_message')!.inputSchema.required).toEqual(['text']);
    expect(tools.find((t) => t.name === 'cancel_scheduled_message')!.inputSchema.required).toEqual(['id']);
  });

  it("post_message posts into the token's conversation target via the outbound path (rendered, chunked, a notice)", async () => {
    const client = await connect(access.grant({ conversationId: 'cA', replyTarget: A, ttlMs: 60_000 }).token);
    const r = await call(client, 'post_message', { text: 'progress: step 1 done, ping @here' });
    expect(r).toEqual({ text: 'Posted.', isError: false });
    expect(enqueued).toEqual([{ conversationId: 'cA', target: { ...A, kind: 'notice' }, texts: ['progress: step 1 done, ping @\u200bhere'], entryId: null }]);
    expect(delivered).toEqual(['cA']);

    const long = Array.from({ length: 30 }, (_, i) => `word${i}`).join(' ');
    await call(client, 'post_message', { text: long });
    const chunks = enqueued[1]!.texts;
    expect(chunks.length).toBeGreaterThan(1);
    expect(chunks.every((c) => c.length <= 100)).toBe(true);
    expect(chunks.join(' ').replace(/\s+/g, ' ')).toBe(long);

    const empty = await call(client, 'post_message', { text: '   ' });
    expect(empty.isError).toBe(true);
    expect(enqueued).toHaveLength(2);
  });

  it(`post_message is limited to ${MAX_POSTS_PER_TURN} posts per turn`, async () => {
    const client = await connect(access.grant({ conversationId: 'cA', replyTarget: A, ttlMs: 60_000 }).token);
    for (let i = 0; i < MAX_POSTS_PER_TURN; i++) expect((await call(client, 'post_message', { text: `n${i}` })).isError).toBe(false);
    const over = await call(client, 'post_message', { text: 'one too many' });
    expect(over.isError).toBe(true);
    expect(over.text).toMatch(/at most/);
    expect(enqueued).toHaveLength(MAX_POSTS_PER_TURN);
  });

  it('schedule/list/cancel/reset act only on the token\'s conversation, as created by "agent"', async () => {
    const a = await connect(access.grant({ conversationId: 'cA', replyTarget: A, ttlMs: 60_000 }).token);
    const b = await connect(access.grant({ conversationId: 'cB', replyTarget: B, ttlMs: 60_000 }).token);

    const s1 = await call(a, 'schedule_message', { text: 'follow-up check', delay_seconds: 120 });
    expect(s1.isError).toBe(false);
    expect(s1.text).toMatch(/^Scheduled sm-1: due .* "follow-up check"$/);
    await call(a, 'schedule_message', { text: 'hourly', every: '1h' });
    await call(b, 'schedule_message', { text: 'b only', at: '2030-01-01T09:00:00+01:00' });
    expect(scheduled.items.map((m) => [m.id, m.conversationId, m.createdBy])).toEqual([
      ['sm-1', 'cA', 'agent'],
      ['sm-2', 'cA', 'agent'],
      ['sm-3', 'cB', 'agent'],
    ]);
    expect(scheduled.items[0]!.dueAt).toBe(now + 120_000);

    const listA = await call(a, 'list_scheduled_messages');
    expect(listA.text).toContain('sm-1');
    expect(listA.text).toContain('every 1h');
    expect(listA.text).not.toContain('sm-3');
    expect((await call(b, 'list_scheduled_messages')).text).toContain('2030-01-01T08:00:00.000Z');

    // An id of conversation B cannot be cancelled with A's token — an explicit conversation
    // argument is not part of the schema and changes nothing.
    const cross = await call(a, 'cancel_scheduled_message', { id: 'sm-3', conversation_id: 'cB', conversationId: 'cB' });
    expect(cross.isError).toBe(true);
    expect(cross.text).toBe('no scheduled message sm-3 in this conversation');
    expect(await scheduled.list('cB')).toHaveLength(1);
    await call(a, 'schedule_message', { text: 'sneaky', delay_seconds: 5, conversation_id: 'cB' });
    expect(scheduled.items.at(-1)!.conversationId).toBe('cA');

    expect((await call(a, 'cancel_scheduled_message', { id: 'sm-1' })).text).toBe('Cancelled sm-1.');
    expect((await call(a, 'reset_scheduled_messages')).text).toBe('Cancelled 2 scheduled messages.');
    expect(await scheduled.list('cA')).toEqual([]);
    expect((await scheduled.list('cB')).map((m) => m.id)).toEqual(['sm-3']);
    expect((await call(a, 'list_scheduled_messages')).text).toBe('No scheduled messages.');
  });

  it('invalid schedules come back as tool errors with the message, not HTTP errors', async () => {
    const a = await connect(access.grant({ conversationId: 'cA', replyTarget: A, ttlMs: 60_000 }).token);
    const none = await call(a, 'schedule_message', { text: 'x' });
    expect(none).toEqual({ text: 'give exactly one of delay_seconds, at, every', isError: true });
    const two = await call(a, 'schedule_message', { text: 'x', delay_seconds: 5, every: '1h' });
    expect(two.isError).toBe(true);
    const bad = await call(a, 'schedule_message', { text: 'x', every: 'fortnightly' });
    expect(bad).toEqual({ text: 'not an interval: fortnightly', isError: true });
    const negative = await call(a, 'schedule_message', { text: 'x', delay_seconds: -5 });
    expect(negative.isError).toBe(true);
    expect(scheduled.items).toEqual([]);
  });
});

describe('MCP server: access control', () => {
  /** Asserts the response is a 401 that names the reason, and nothing changed. */
  async function expectRefused(res: Response, reason: RegExp): Promise<void> {
    expect(res.status).toBe(401);
    expect(res.headers.get('www-authenticate')).toMatch(/^Bearer /);
    expect(((await res.json()) as { error: string }).error).toMatch(reason);
    expect(enqueued).toEqual([]);
    expect(scheduled.items.map((m) => m.id)).toEqual(['sm-1']);
  }

  beforeEach(async () => {
    await scheduled.add('cB', { text: 'keep me', delaySeconds: 60, createdBy: 'agent' });
  });

  it('a valid token works over plain JSON-RPC (the control for the refusals below)', async () => {
    const { token } = access.grant({ conversationId: 'cB', replyTarget: B, ttlMs: 60_000 });
    const res = await rawToolCall({ authorization: `Bearer ${token}` }, 'list_scheduled_messages', {});
    expect(res.status).toBe(200);
    expect(JSON.stringify(await res.json())).toContain('keep me');
  });

  it('refuses a missing, malformed or forged token with 401 and changes nothing', async () => {
    await expectRefused(await rawToolCall({}, 'reset_scheduled_messages', {}), /no bearer token/);
    await expectRefused(await rawToolCall({ authorization: 'Basic dXNlcjpwYXNz' }, 'reset_scheduled_messages', {}), /no bearer token/);
    await expectRefused(await rawToolCall({ authorization: 'Bearer nonsense' }, 'reset_scheduled_messages', {}), /malformed/);
    // Same claims (conversation cB, a live turn id), signed with another secret.
    const { token } = access.grant({ conversationId: 'cB', replyTarget: B, ttlMs: 60_000 });
    const turnId = (await tokens.verify(token)).turnId;
    const forged = new ToolTokens(new Uint8Array(32).fill(1)).issue({ conversationId: 'cB', turnId, target: B, ttlMs: 60_000 });
    await expectRefused(await rawToolCall({ authorization: `Bearer ${forged}` }, 'reset_scheduled_messages', {}), /invalid/);
    await expectRefused(await rawToolCall({ authorization: `Bearer ${forged}` }, 'post_message', { text: 'hi' }), /invalid/);
  });

  it('refuses an expired token and a revoked one (turn ended) with 401', async () => {
    const expiring = access.grant({ conversationId: 'cB', replyTarget: B, ttlMs: 5_000 });
    const ended = access.grant({ conversationId: 'cB', replyTarget: B, ttlMs: 60_000 });
    const client = await connect(ended.token);
    ended.revoke();
    await expect(client.callTool({ name: 'reset_scheduled_messages', arguments: {} })).rejects.toThrow();
    await expectRefused(await rawToolCall({ authorization: `Bearer ${ended.token}` }, 'reset_scheduled_messages', {}), /revoked/);
    now += 5_001;
    await expectRefused(await rawToolCall({ authorization: `Bearer ${expiring.token}` }, 'post_message', { text: 'late' }), /expired/);
  });

  it('the SDK client cannot even connect without a valid token', async () => {
    await expect(connect('forged.token.value')).rejects.toThrow();
    expect(enqueued).toEqual([]);
  });

  it('GET and DELETE answer 405 before any token work (with a token, a forged one or none); bad bodies are 4xx', async () => {
    const { token } = access.grant({ conversationId: 'cA', replyTarget: A, ttlMs: 60_000 });
    const verify = vi.spyOn(tokens, 'verify');
    for (const method of ['GET', 'DELETE']) {
      const variants: Array<Record<string, string>> = [{ authorization: `Bearer ${token}` }, { authorization: 'Bearer forged.token.value' }, {}];
      for (const headers of variants) {
        const res = await rawToolCall(headers, '', {}, method);
        expect(res.status).toBe(405);
        expect(res.headers.get('allow')).toBe('POST');
        expect(await res.json()).toMatchObject({ jsonrpc: '2.0', error: { code: -32000 } });
      }
    }
    expect(verify).not.toHaveBeenCalled();
    expect(pool.built).toBe(0);
    // A POST is checked (the control).
    expect((await rawToolCall({}, 'list_scheduled_messages', {})).status).toBe(401);
    expect(verify).toHaveBeenCalledTimes(1);
    verify.mockRestore();
    const notJson = await fetch(url, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json', accept: 'application/json, text/event-stream' },
      body: '{',
    });
    expect(notJson.status).toBe(400);
    const text = await fetch(url, { method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'text/plain' }, body: 'hi' });
    expect(text.status).toBe(415);
  });
});

describe('MCP server: one server for every request', () => {
  it('is built once, not per request: sequential turns reuse it, each bound to its own token', async () => {
    for (const [i, target] of [A, B, A].entries()) {
      const conversationId = `c${i}`;
      await scheduled.add(conversationId, { text: `only ${conversationId}`, delaySeconds: 60, createdBy: 'agent' });
      const client = await connect(access.grant({ conversationId, replyTarget: target, ttlMs: 60_000 }).token);
      expect((await client.listTools()).tools).toHaveLength(TOOL_NAMES.length);
      const list = await call(client, 'list_scheduled_messages');
      expect(list.text).toContain(`only ${conversationId}`);
      expect(list.text.match(/only c\d/g)).toHaveLength(1);
      await call(client, 'post_message', { text: `from ${conversationId}` });
    }
    expect(enqueued.map((e) => [e.conversationId, e.texts[0]])).toEqual([
      ['c0', 'from c0'],
      ['c1', 'from c1'],
      ['c2', 'from c2'],
    ]);
    expect(enqueued.map((e) => e.target.thread)).toEqual(['tA', 'tB', 'tA']);
    // initialize, initialized, tools/list and 2 tool calls per turn, one at a time: one server.
    expect(pool.built).toBe(1);
  });

  it('requests in flight at once each get a server, and each tool call acts on its own request’s turn', async () => {
    const grants = [0, 1, 2, 3].map((i) => ({ i, ...access.grant({ conversationId: `c${i}`, replyTarget: i % 2 ? B : A, ttlMs: 60_000 }) }));
    let open!: () => void;
    deliveryGate = new Promise((r) => (open = r));
    const responses = grants.map(({ i, token }) => rawToolCall({ authorization: `Bearer ${token}` }, 'post_message', { text: `from c${i}` }));
    await vi.waitFor(() => expect(enqueued).toHaveLength(4), { timeout: 10_000 });
    expect(pool.built).toBe(4);
    open();
    for (const res of await Promise.all(responses)) expect(res.status).toBe(200);
    expect(enqueued.map((e) => [e.conversationId, e.texts[0], e.target.thread]).sort()).toEqual([
      ['c0', 'from c0', 'tA'],
      ['c1', 'from c1', 'tB'],
      ['c2', 'from c2', 'tA'],
      ['c3', 'from c3', 'tB'],
    ]);
    // Given back: the next requests reuse them.
    const again = await rawToolCall({ authorization: `Bearer ${grants[3]!.token}` }, 'list_scheduled_messages', {});
    expect(again.status).toBe(200);
    expect(pool.built).toBe(4);
  });
});
