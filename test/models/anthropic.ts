/**
 * A scripted Anthropic Messages API server on 127.0.0.1 (random port) for running the real
 * `claude` CLI against predictable answers. Point the CLI at it with
 * `ANTHROPIC_BASE_URL=<model.url>` (no `/v1`) and any `ANTHROPIC_API_KEY`.
 *
 * Wire facts it encodes (Anthropic Messages API streaming docs; docs/ARCHITECTURE.md §7; verified with claude 2.1.197 by test/runners/claude.test.ts):
 * - The CLI calls `POST /v1/messages?beta=true` (the path is matched without the query) with
 *   `"stream": true` and reads Anthropic SSE: `message_start`, `content_block_start`,
 *   `content_block_delta` (`text_delta` / `input_json_delta`), `content_block_stop`,
 *   `message_delta` (`stop_reason`, `usage`), `message_stop`. Non-streaming requests get a
 *   JSON `message` object.
 * - It also sends `HEAD /`, may call `POST /v1/messages/count_tokens` (answered
 *   `{"input_tokens": N}`) and telemetry/other paths (answered 200 `{}`).
 * - Errors use the API's shape `{"type":"error","error":{"type","message"}}` with the given
 *   HTTP status and `x-should-retry: false`.
 *
 * Main vs side requests: the agent's own conversation requests are streaming and carry the
 * agent's tool list (`tools` non-empty); side requests (title/topic/summary generation,
 * quota probes with `max_tokens: 1`, bash-prefix checks) carry no tools. Only main requests
 * go to the {@link Responder}; side requests are answered `ok` (or a minimal JSON object when
 * they ask for `json_schema` output) so they never consume a scripted {@link sequence}.
 * Verified with claude 2.1.197 in `-p` mode: a turn sends only `HEAD /` and main requests
 * (tool round trips, resume and fork included), with or without
 * CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC. Sub-agent (Task/Agent tool) requests also carry
 * tools and count as main.
 *
 * A user message sent to a live `claude -p --input-format stream-json` session while a turn runs
 * reaches the next request of that turn as a message with role `system` ("The user sent a new
 * message while you were working:\n<text>…"; verified with claude 2.1.197): {@link allText} sees
 * it, {@link lastUserText} does not.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';

/** A content block of a Messages API message (only the fields the helpers read are typed). */
export interface ContentBlock {
  type: string;
  text?: string;
  id?: string;
  name?: string;
  input?: unknown;
  tool_use_id?: string;
  content?: string | ContentBlock[];
  is_error?: boolean;
  [key: string]: unknown;
}

export interface Message {
  role: string;
  content: string | ContentBlock[];
}

/** The parsed body of `POST /v1/messages`. */
export interface MessagesBody {
  model?: string;
  messages?: Message[];
  system?: string | ContentBlock[];
  tools?: Array<{ name: string; [key: string]: unknown }>;
  stream?: boolean;
  max_tokens?: number;
  [key: string]: unknown;
}

/** One `POST /v1/messages` request, as received. */
export interface RecordedRequest {
  /** 0-based position among all recorded `/v1/messages` requests. */
  index: number;
  path: string;
  headers: http.IncomingHttpHeaders;
  body: MessagesBody;
  stream: boolean;
  /** true for the agent's conversation requests (see the module doc), false for side requests. */
  main: boolean;
}

/** Every HTTP call the server saw (any method/path), for debugging. */
export interface RecordedCall {
  method: string;
  /** Path without the query string. */
  path: string;
  query: string;
  headers: http.IncomingHttpHeaders;
  /** Raw body text ('' when none). */
  body: string;
}

/** How to answer one main request. */
export type Reply =
  /** A text answer; `delayMs` waits after `message_start` before the text is streamed. */
  | { text: string; delayMs?: number }
  /** A tool call (`stop_reason: "tool_use"`), optionally preceded by a text block. */
  | { toolUse: { name: string; input: object; id?: string }; text?: string; delayMs?: number }
  /** An HTTP error; `type` defaults from the status (429 → rate_limit_error, 500 → api_error, …). */
  | { error: { status: number; type?: string; message: string } }
  /** Sends the SSE headers and `message_start`, then never ends (until the client goes or close()). */
  | { hang: true }
  /**
   * Holds the answer until `until` settles (see {@link latch}), then answers with `then`: for
   * tests that act while the model "thinks" (steering a running turn). Nothing is sent meanwhile.
   */
  | { until: Promise<unknown>; then: Reply };

export type Responder = (req: RecordedRequest) => Reply | Promise<Reply>;

export interface AnthropicModel {
  /** `http://127.0.0.1:PORT` — no `/v1`; use as ANTHROPIC_BASE_URL. */
  url: string;
  /** Every `POST /v1/messages` body, parsed, in arrival order (main and side). */
  requests: RecordedRequest[];
  /** Every HTTP call of any kind, in arrival order. */
  allCalls: RecordedCall[];
  /** Only the agent's conversation requests (no title/summary/quota side requests). */
  mainRequests(): RecordedRequest[];
  /** Replaces the responder for later main requests; `undefined` restores the default {@link echo}. */
  setResponder(r: Responder | undefined): void;
  /** Ends hanging streams, closes every connection and the server. */
  close(): Promise<void>;
}

/** Text of one content value: strings, text blocks and tool_result contents (recursively). */
function contentText(content: string | ContentBlock[] | undefined, skipReminders: boolean): string[] {
  if (content === undefined) return [];
  if (typeof content === 'string') return [content];
  const out: string[] = [];
  for (const block of content) {
    if (block.type === 'text' && typeof block.text === 'string') {
      if (skipReminders && isReminder(block.text)) continue;
      out.push(block.text);
    } else if (block.type === 'tool_result') {
      out.push(...contentText(block.content, skipReminders));
    }
  }
  return out;
}

/** The CLI injects `<system-reminder>…</system-reminder>` text blocks into user messages. */
function isReminder(text: string): boolean {
  return /^\s*<system-reminder>[\s\S]*<\/system-reminder>\s*$/.test(text);
}

/**
 * The text the user typed last: the newest `user` message that has a text block other than the
 * CLI's `<system-reminder>` blocks (tool_result-only messages are skipped); '' when none.
 */
export function lastUserText(req: RecordedRequest | MessagesBody): string {
  const body = 'body' in req ? (req as RecordedRequest).body : (req as MessagesBody);
  const messages = body.messages ?? [];
  for (let i = messages.length - 1; i >= 0; i--) {
    const m = messages[i]!;
    if (m.role !== 'user') continue;
    const texts =
      typeof m.content === 'string'
        ? [m.content]
        : m.content.filter((b) => b.type === 'text' && typeof b.text === 'string' && !isReminder(b.text)).map((b) => b.text!);
    if (texts.length) return texts.join('\n');
  }
  return '';
}

/** All text in the request's messages (every role; text blocks and tool_result contents), joined by newlines. */
export function allText(req: RecordedRequest | MessagesBody): string {
  const body = 'body' in req ? (req as RecordedRequest).body : (req as MessagesBody);
  return (body.messages ?? []).flatMap((m) => contentText(m.content, false)).join('\n');
}

/** The tool_result blocks of the request's messages, with their content flattened to text. */
export function toolResults(req: RecordedRequest | MessagesBody): Array<{ toolUseId: string; text: string; isError: boolean }> {
  const body = 'body' in req ? (req as RecordedRequest).body : (req as MessagesBody);
  const out: Array<{ toolUseId: string; text: string; isError: boolean }> = [];
  for (const m of body.messages ?? []) {
    if (typeof m.content === 'string') continue;
    for (const b of m.content) {
      if (b.type !== 'tool_result') continue;
      out.push({ toolUseId: String(b.tool_use_id ?? ''), text: contentText(b.content, false).join('\n'), isError: b.is_error === true });
    }
  }
  return out;
}

/** A responder giving `replies` in order, one per main request; after the last, it repeats the last. */
export function sequence(...replies: Reply[]): Responder {
  let i = 0;
  return (req) => {
    if (!replies.length) return echo(req);
    const r = replies[Math.min(i, replies.length - 1)]!;
    i++;
    return r;
  };
}

/** A promise a test opens when it wants: `{until: gate.promise, then: reply}` holds a reply until `gate.open()`. */
export interface Latch {
  promise: Promise<void>;
  open(): void;
  /** True once opened. */
  readonly opened: boolean;
}

/** A new closed {@link Latch}. */
export function latch(): Latch {
  let open!: () => void;
  let opened = false;
  const promise = new Promise<void>((r) => (open = r));
  return {
    promise,
    open: () => {
      opened = true;
      open();
    },
    get opened() {
      return opened;
    },
  };
}

/** The default responder: `echo: <lastUserText>`. */
export const echo: Responder = (req) => ({ text: `echo: ${lastUserText(req)}` });

const ERROR_TYPES: Record<number, string> = {
  400: 'invalid_request_error',
  401: 'authentication_error',
  403: 'permission_error',
  404: 'not_found_error',
  413: 'request_too_large',
  429: 'rate_limit_error',
  500: 'api_error',
  529: 'overloaded_error',
};

/** Rough token count for usage figures: ~4 characters per token, at least 1. */
function tokens(text: string): number {
  return Math.max(1, Math.ceil(text.length / 4));
}

/**
 * The answer to a side request: `ok`, or — when it asks for JSON output
 * (`output_config.format.type: "json_schema"`, e.g. session-title generation) — a minimal object
 * filling the schema's required properties ("ok" / 0 / false / [] / {}).
 */
function sideReply(body: MessagesBody): Reply {
  const config = body.output_config as { format?: { type?: string; schema?: JsonSchema } } | undefined;
  if (config?.format?.type !== 'json_schema' || !config.format.schema) return { text: 'ok' };
  return { text: JSON.stringify(sampleOf(config.format.schema)) };
}

interface JsonSchema {
  type?: string;
  properties?: Record<string, JsonSchema>;
  required?: string[];
}

function sampleOf(schema: JsonSchema): unknown {
  switch (schema.type) {
    case 'object':
      return Object.fromEntries((schema.required ?? []).map((k) => [k, sampleOf(schema.properties?.[k] ?? {})]));
    case 'array':
      return [];
    case 'number':
    case 'integer':
      return 0;
    case 'boolean':
      return false;
    default:
      return 'ok';
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Starts the server; `respond` defaults to {@link echo}. */
export async function startAnthropicModel(respond: Responder = echo): Promise<AnthropicModel> {
  let responder = respond;
  const requests: RecordedRequest[] = [];
  const allCalls: RecordedCall[] = [];
  const open = new Set<http.ServerResponse>();
  let msgCounter = 0;
  let toolCounter = 0;

  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const raw = Buffer.concat(chunks).toString('utf8');
      const [path = '/', query = ''] = (req.url ?? '/').split('?', 2) as [string, string?];
      allCalls.push({ method: req.method ?? '', path, query, headers: req.headers, body: raw });
      if (req.method === 'POST' && path.replace(/\/+$/, '') === '/v1/messages') {
        void handleMessages(req, res, path, raw).catch((err: unknown) => {
          if (!res.headersSent) json(res, 500, { type: 'error', error: { type: 'api_error', message: String(err) } });
          else res.destroy();
        });
        return;
      }
      if (req.method === 'POST' && path === '/v1/messages/count_tokens') {
        json(res, 200, { input_tokens: tokens(raw) });
        return;
      }
      json(res, 200, {});
    });
  });

  function json(res: http.ServerResponse, status: number, value: unknown, headers: http.OutgoingHttpHeaders = {}) {
    const text = JSON.stringify(value);
    res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text), ...headers });
    res.end(text);
  }

  async function handleMessages(req: http.IncomingMessage, res: http.ServerResponse, path: string, raw: string) {
    let body: MessagesBody;
    try {
      body = JSON.parse(raw) as MessagesBody;
    } catch {
      json(res, 400, { type: 'error', error: { type: 'invalid_request_error', message: 'body is not JSON' } });
      return;
    }
    const stream = body.stream === true;
    const main = Array.isArray(body.tools) && body.tools.length > 0 && body.max_tokens !== 1;
    const recorded: RecordedRequest = { index: requests.length, path, headers: req.headers, body, stream, main };
    requests.push(recorded);
    let reply: Reply = main ? await responder(recorded) : sideReply(body);
    while ('until' in reply) {
      await reply.until;
      reply = reply.then;
    }

    if ('error' in reply) {
      const { status, message } = reply.error;
      const type = reply.error.type ?? ERROR_TYPES[status] ?? 'api_error';
      json(res, status, { type: 'error', error: { type, message } }, { 'x-should-retry': 'false', 'request-id': `req_${requests.length}` });
      return;
    }

    const id = `msg_scripted_${++msgCounter}`;
    const model = body.model ?? 'claude-scripted';
    const inputTokens = tokens(JSON.stringify(body.messages ?? []));
    const blocks: ContentBlock[] = [];
    if ('text' in reply && typeof reply.text === 'string' && reply.text) blocks.push({ type: 'text', text: reply.text });
    let stopReason = 'end_turn';
    if ('toolUse' in reply) {
      blocks.push({ type: 'tool_use', id: reply.toolUse.id ?? `toolu_scripted_${++toolCounter}`, name: reply.toolUse.name, input: reply.toolUse.input });
      stopReason = 'tool_use';
    }
    const outputTokens = tokens(JSON.stringify(blocks));
    const delayMs = 'delayMs' in reply ? (reply.delayMs ?? 0) : 0;

    if (!stream) {
      if (delayMs) await sleep(delayMs);
      if ('hang' in reply) {
        open.add(res);
        res.on('close', () => open.delete(res));
        return;
      }
      json(res, 200, {
        id,
        type: 'message',
        role: 'assistant',
        model,
        content: blocks,
        stop_reason: stopReason,
        stop_sequence: null,
        usage: { input_tokens: inputTokens, output_tokens: outputTokens },
      });
      return;
    }

    res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache', connection: 'keep-alive', 'request-id': `req_${requests.length}` });
    open.add(res);
    res.on('close', () => open.delete(res));
    const send = (event: string, data: Record<string, unknown>) => {
      if (!res.destroyed && !res.writableEnded) res.write(`event: ${event}\ndata: ${JSON.stringify({ type: event, ...data })}\n\n`);
    };
    send('message_start', {
      message: {
        id,
        type: 'message',
        role: 'assistant',
        model,
        content: [],
        stop_reason: null,
        stop_sequence: null,
        usage: { input_tokens: inputTokens, output_tokens: 1 },
      },
    });
    if ('hang' in reply) return; // never ends; close() or the client disconnecting ends it
    send('ping', {});
    if (delayMs) await sleep(delayMs);
    blocks.forEach((block, index) => {
      if (block.type === 'text') {
        send('content_block_start', { index, content_block: { type: 'text', text: '' } });
        const text = block.text ?? '';
        const half = Math.ceil(text.length / 2);
        for (const part of [text.slice(0, half), text.slice(half)]) {
          if (part) send('content_block_delta', { index, delta: { type: 'text_delta', text: part } });
        }
      } else {
        send('content_block_start', { index, content_block: { type: 'tool_use', id: block.id, name: block.name, input: {} } });
        const input = JSON.stringify(block.input ?? {});
        const half = Math.ceil(input.length / 2);
        for (const part of [input.slice(0, half), input.slice(half)]) {
          if (part) send('content_block_delta', { index, delta: { type: 'input_json_delta', partial_json: part } });
        }
      }
      send('content_block_stop', { index });
    });
    send('message_delta', { delta: { stop_reason: stopReason, stop_sequence: null }, usage: { output_tokens: outputTokens } });
    send('message_stop', {});
    res.end();
  }

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const { port } = server.address() as AddressInfo;

  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    allCalls,
    mainRequests: () => requests.filter((r) => r.main),
    setResponder: (r) => {
      responder = r ?? echo;
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const res of open) res.destroy();
        open.clear();
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
