/**
 * A scripted OpenAI Responses API server on 127.0.0.1 for running the real `codex` CLI in tests.
 *
 * Point codex at it with a custom provider (Codex docs on model providers; docs/ARCHITECTURE.md §7; test/runners/codex.test.ts; and
 * {@link codexMockProviderArgs}): codex then sends `POST /v1/responses` (JSON body, `stream: true`)
 * and expects Server-Sent Events back: `response.created`, `response.output_item.added`,
 * `response.output_text.delta`, `response.output_item.done`, `response.completed` (with `usage`).
 * Without `response.completed` codex treats the stream as broken and retries.
 *
 * Facts about codex 0.169.0 (seen against this server):
 * - The shell tool is the function tool **`exec_command`** with JSON arguments `{ cmd: string, … }`
 *   (optional `workdir`, `yield_time_ms`, `tty`, `login`, …). A tool call is a `function_call`
 *   output item `{type, call_id, name, arguments}` (arguments is JSON text); the next request's `input`
 *   carries `{type: "function_call_output", call_id, output}`.
 * - Every body carries `client_metadata["x-codex-turn-metadata"]`, a JSON string whose
 *   `request_kind` is `"turn"` for the agent's conversation turns; {@link OpenAIModel.mainRequests}
 *   uses it to leave side requests (titles, summaries, compaction, …) out.
 * - The `input` starts with `developer` messages (system prompt, skills) and a `user` message holding
 *   `<environment_context>…`; the user's prompt is the last `user` message.
 *
 * Every HTTP call is recorded in `calls`; `GET /v1/models` answers a model list, any other path
 * answers 200 `{}`.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';

/** One item of a Responses API `input` array (only the fields the helpers read are typed). */
export interface InputItem {
  type?: string;
  role?: string;
  content?: string | Array<{ type?: string; text?: string }>;
  /** function_call */
  name?: string;
  call_id?: string;
  arguments?: string;
  /** function_call_output: a string, or content parts in newer clients. */
  output?: unknown;
  [key: string]: unknown;
}

/** A parsed `POST /v1/responses` body. */
export interface RecordedRequest {
  model?: string;
  input: InputItem[];
  tools?: Array<{ type?: string; name?: string; [key: string]: unknown }>;
  instructions?: string;
  stream?: boolean;
  client_metadata?: Record<string, unknown>;
  [key: string]: unknown;
}

/** Any HTTP call the server received. `json` is set when the body parsed as JSON. */
export interface RecordedCall {
  method: string;
  /** Path including the query string. */
  path: string;
  headers: http.IncomingHttpHeaders;
  body: string;
  json?: unknown;
  /** Date.now() when the body was complete. */
  at: number;
}

export interface UsageReply {
  input_tokens: number;
  output_tokens: number;
}

/** What the server answers to one `POST /v1/responses`. */
export type Reply =
  /** An assistant message; `delayMs` waits before the stream starts. */
  | { text: string; delayMs?: number; usage?: UsageReply }
  /** A `function_call` output item; `arguments` is JSON-encoded into the item. */
  | { toolCall: { name: string; arguments: object; callId?: string }; usage?: UsageReply }
  /** An HTTP error with an OpenAI-style body `{error: {message, type, code}}`. */
  | { error: { status: number; message: string; type?: string; code?: string } }
  /**
   * A 200 stream that ends in `response.failed` with `{error: {code, message}}` — the way the API
   * reports errors mid-stream; codex surfaces this message (unlike 429/500 bodies, see below).
   */
  | { failed: { code: string; message: string } }
  /** Headers and `response.created` are sent, then nothing more until the client goes away. */
  | { hang: true }
  /**
   * `reply` is answered only once `after` settles (nothing is sent before: the request just waits).
   * For holding a turn open while a test acts on it (steering); see {@link gate}. If codex dropped
   * the request meanwhile (it does when a steered text arrives), nothing is sent.
   */
  | { after: Promise<unknown>; reply: Reply };

export interface ResponderContext {
  /** Index of this request in `requests` (0-based). */
  index: number;
  /** Whether this is one of the agent's conversation turns (see `mainRequests()`). */
  main: boolean;
  /** Index among main requests (0-based), or -1 for a side request. */
  mainIndex: number;
}

export type Responder = (req: RecordedRequest, ctx: ResponderContext) => Reply | Promise<Reply>;

export interface OpenAIModel {
  /** Base URL including `/v1`, e.g. `http://127.0.0.1:PORT/v1`. */
  url: string;
  /** Parsed bodies of every `POST /v1/responses`, in arrival order. */
  requests: RecordedRequest[];
  /** Every HTTP call, in arrival order. */
  calls: RecordedCall[];
  /** Only the agent's conversation turns (no title/summary/compaction side requests). */
  mainRequests(): RecordedRequest[];
  setResponder(r: Responder): void;
  /** Stops the server and drops open (e.g. hanging) connections. */
  close(): Promise<void>;
}

const DEFAULT_USAGE: UsageReply = { input_tokens: 100, output_tokens: 10 };

/** Default responder: `echo: <last user message text>`. */
export const echoResponder: Responder = (req) => ({ text: `echo: ${lastUserText(req)}` });

/**
 * A responder that answers the main requests with `replies` in order (side requests get the echo
 * reply and do not consume one); after the last one it keeps echoing.
 */
export function sequence(...replies: Reply[]): Responder {
  return (req, ctx) => {
    if (!ctx.main) return echoResponder(req, ctx);
    return replies[ctx.mainIndex] ?? echoResponder(req, ctx);
  };
}

/** A promise a test releases by hand: `{after: g.promise, reply}` holds a reply until `g.release()`. */
export interface Gate {
  promise: Promise<void>;
  release(): void;
}

/** A new, unreleased {@link Gate}. */
export function gate(): Gate {
  let release!: () => void;
  const promise = new Promise<void>((r) => (release = r));
  return { promise, release };
}

/**
 * A Reply calling codex's shell tool outside the sandbox: `exec_command {cmd,
 * sandbox_permissions: "require_escalated", justification}` (names from the tool's JSON schema in
 * codex 0.169.0's requests: "use `require_escalated` for unsandboxed execution"; `justification`
 * is the "user-facing approval question"). With approvalPolicy `on-request` codex asks the client
 * (`item/commandExecution/requestApproval`, `reason` = the justification) before running it.
 */
export function escalatedExec(cmd: string, justification: string, callId?: string): Reply {
  return { toolCall: { name: 'exec_command', arguments: { cmd, sandbox_permissions: 'require_escalated', justification }, ...(callId ? { callId } : {}) } };
}

/** One question of codex's `request_user_input` tool (its JSON schema in codex 0.169.0). */
export interface UserInputQuestion {
  id: string;
  header: string;
  question: string;
  options: Array<{ label: string; description: string }>;
}

/**
 * A Reply calling codex's `request_user_input` tool (codex asks the client with
 * `item/tool/requestUserInput`; the answer comes back as the tool's output). codex 0.169.0 offers
 * the tool outside plan mode only with {@link CODEX_REQUEST_USER_INPUT_OVERRIDE}; without it the
 * call fails with "request_user_input is unavailable in Default mode".
 */
export function userInputCall(questions: UserInputQuestion[], callId?: string): Reply {
  return { toolCall: { name: 'request_user_input', arguments: { questions }, ...(callId ? { callId } : {}) } };
}

/** The `-c` override that lets the model call `request_user_input` in codex's default mode (feature "under development" in 0.169.0). */
export const CODEX_REQUEST_USER_INPUT_OVERRIDE = 'features.default_mode_request_user_input=true';

/** Text of a message's content (string or `input_text`/`output_text` parts). */
function contentText(content: InputItem['content']): string {
  if (typeof content === 'string') return content;
  if (!Array.isArray(content)) return '';
  return content.map((p) => (typeof p?.text === 'string' ? p.text : '')).join('');
}

/** The text of the last `user` message in the request's `input` (the user's prompt). */
export function lastUserText(req: RecordedRequest): string {
  const users = (req.input ?? []).filter((i) => i.role === 'user' && (i.type === undefined || i.type === 'message'));
  const last = users[users.length - 1];
  return last ? contentText(last.content) : '';
}

/**
 * All text the request carries, one item per line: message texts (every role), function call
 * names and arguments, function call outputs, plus `instructions`. For "does it contain X" asserts.
 */
export function allText(req: RecordedRequest): string {
  const parts: string[] = [];
  if (req.instructions) parts.push(req.instructions);
  for (const item of req.input ?? []) {
    if (item.content !== undefined) parts.push(contentText(item.content));
    if (item.type === 'function_call') parts.push(`${item.name ?? ''} ${item.arguments ?? ''}`);
    if (item.output !== undefined) parts.push(typeof item.output === 'string' ? item.output : JSON.stringify(item.output));
  }
  return parts.join('\n');
}

/** The `function_call_output` items of a request (the results of the previous tool calls). */
export function functionCallOutputs(req: RecordedRequest): Array<{ callId: string; output: string }> {
  return (req.input ?? [])
    .filter((i) => i.type === 'function_call_output')
    .map((i) => ({ callId: String(i.call_id ?? ''), output: typeof i.output === 'string' ? i.output : JSON.stringify(i.output) }));
}

/** codex's request kind from `client_metadata["x-codex-turn-metadata"].request_kind`, if any. */
export function requestKind(req: RecordedRequest): string | undefined {
  const raw = req.client_metadata?.['x-codex-turn-metadata'];
  if (typeof raw !== 'string') return undefined;
  try {
    const kind = (JSON.parse(raw) as { request_kind?: unknown }).request_kind;
    return typeof kind === 'string' ? kind : undefined;
  } catch {
    return undefined;
  }
}

/** A main request: codex marks it `request_kind: "turn"`; without metadata, one that offers tools. */
function isMain(req: RecordedRequest): boolean {
  const kind = requestKind(req);
  if (kind !== undefined) return kind === 'turn';
  return Array.isArray(req.tools) && req.tools.length > 0;
}

/**
 * `-c` overrides that make codex use this server as provider `mock`: API key read from the
 * `MOCK_KEY` environment variable; `retries` (default 0) for both `request_max_retries` (HTTP
 * 5xx/transport errors before the stream starts; 429 is never retried by codex 0.169.0) and
 * `stream_max_retries` (a stream that breaks before `response.completed`, shown as
 * "Reconnecting... n/N"). Also switches off codex's own network traffic, which otherwise goes out
 * on every run: `analytics.enabled=false` (ab.chatgpt.com) and `features.plugins=false` (plugin
 * marketplace sync: github.com, api.github.com, chatgpt.com).
 */
export function codexMockProviderArgs(url: string, opts: { retries?: number } = {}): string[] {
  const retries = opts.retries ?? 0;
  return [
    'model_provider=mock',
    'model_providers.mock.name="mock"',
    `model_providers.mock.base_url="${url}"`,
    'model_providers.mock.wire_api="responses"',
    'model_providers.mock.env_key="MOCK_KEY"',
    `model_providers.mock.request_max_retries=${retries}`,
    `model_providers.mock.stream_max_retries=${retries}`,
    'analytics.enabled=false',
    'features.plugins=false',
  ];
}

let idCounter = 0;
const nextId = (prefix: string) => `${prefix}_${Date.now().toString(36)}${(++idCounter).toString(36)}`;

/** Starts the server on a random port. */
export async function startOpenAIModel(respond: Responder = echoResponder): Promise<OpenAIModel> {
  let responder = respond;
  const requests: RecordedRequest[] = [];
  const calls: RecordedCall[] = [];
  const main = new WeakSet<RecordedRequest>();

  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8');
      const call: RecordedCall = { method: req.method ?? 'GET', path: req.url ?? '/', headers: req.headers, body, at: Date.now() };
      try {
        if (body) call.json = JSON.parse(body);
      } catch {
        /* not JSON */
      }
      calls.push(call);
      const pathname = call.path.split('?')[0]!.replace(/\/+$/, '');
      if (call.method === 'POST' && pathname === '/v1/responses') {
        void handleResponses(call, res);
      } else if (call.method === 'GET' && pathname === '/v1/models') {
        sendJson(res, 200, {
          object: 'list',
          data: ['gpt-5', 'gpt-5-codex', 'o4-mini'].map((id) => ({ id, object: 'model', created: 1_700_000_000, owned_by: 'mock' })),
        });
      } else {
        sendJson(res, 200, {});
      }
    });
  });

  async function handleResponses(call: RecordedCall, res: http.ServerResponse): Promise<void> {
    const parsed = (call.json ?? {}) as RecordedRequest;
    if (!Array.isArray(parsed.input)) parsed.input = [];
    const index = requests.push(parsed) - 1;
    const isMainReq = isMain(parsed);
    if (isMainReq) main.add(parsed);
    const mainIndex = isMainReq ? requests.filter((r) => main.has(r)).length - 1 : -1;
    let reply: Reply;
    try {
      reply = await responder(parsed, { index, main: isMainReq, mainIndex });
    } catch (err) {
      reply = { error: { status: 500, message: `responder failed: ${String(err)}` } };
    }
    while ('after' in reply) {
      const held: { after: Promise<unknown>; reply: Reply } = reply;
      await held.after;
      reply = held.reply;
    }
    if ('error' in reply) {
      const { status, message, type, code } = reply.error;
      sendJson(res, status, { error: { message, type: type ?? (status === 429 ? 'rate_limit_exceeded' : 'server_error'), code: code ?? null, param: null } });
      return;
    }
    const ready = reply;
    if ('text' in ready && ready.delayMs) await new Promise((r) => setTimeout(r, ready.delayMs));
    if (res.destroyed) return;
    streamReply(res, parsed, ready);
  }

  function streamReply(res: http.ServerResponse, req: RecordedRequest, reply: Exclude<Reply, { error: unknown } | { after: unknown }>): void {
    res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache', connection: 'keep-alive' });
    const responseId = nextId('resp');
    const base = { id: responseId, object: 'response', created_at: Math.floor(Date.now() / 1000), model: req.model ?? 'gpt-5' };
    let seq = 0;
    const send = (type: string, data: object) => res.write(`event: ${type}\ndata: ${JSON.stringify({ type, sequence_number: seq++, ...data })}\n\n`);
    send('response.created', { response: { ...base, status: 'in_progress', output: [] } });
    if ('hang' in reply) return; // never completes; close() or the client ends it
    if ('failed' in reply) {
      send('response.failed', { response: { ...base, status: 'failed', output: [], error: reply.failed } });
      res.end();
      return;
    }

    let item: Record<string, unknown>;
    if ('toolCall' in reply) {
      const args = JSON.stringify(reply.toolCall.arguments);
      item = {
        type: 'function_call',
        id: nextId('fc'),
        call_id: reply.toolCall.callId ?? nextId('call'),
        name: reply.toolCall.name,
        arguments: args,
        status: 'completed',
      };
      send('response.output_item.added', { output_index: 0, item: { ...item, arguments: '', status: 'in_progress' } });
      send('response.function_call_arguments.delta', { output_index: 0, item_id: item.id, delta: args });
      send('response.function_call_arguments.done', { output_index: 0, item_id: item.id, arguments: args });
    } else {
      const id = nextId('msg');
      item = { type: 'message', id, role: 'assistant', status: 'completed', content: [{ type: 'output_text', text: reply.text, annotations: [] }] };
      send('response.output_item.added', { output_index: 0, item: { ...item, status: 'in_progress', content: [] } });
      send('response.content_part.added', { output_index: 0, item_id: id, content_index: 0, part: { type: 'output_text', text: '', annotations: [] } });
      send('response.output_text.delta', { output_index: 0, item_id: id, content_index: 0, delta: reply.text });
      send('response.output_text.done', { output_index: 0, item_id: id, content_index: 0, text: reply.text });
      send('response.content_part.done', { output_index: 0, item_id: id, content_index: 0, part: { type: 'output_text', text: reply.text, annotations: [] } });
    }
    send('response.output_item.done', { output_index: 0, item });
    const u = reply.usage ?? DEFAULT_USAGE;
    const usage = {
      input_tokens: u.input_tokens,
      input_tokens_details: { cached_tokens: 0 },
      output_tokens: u.output_tokens,
      output_tokens_details: { reasoning_tokens: 0 },
      total_tokens: u.input_tokens + u.output_tokens,
    };
    send('response.completed', { response: { ...base, status: 'completed', output: [item], usage } });
    res.end();
  }

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const { port } = server.address() as AddressInfo;

  return {
    url: `http://127.0.0.1:${port}/v1`,
    requests,
    calls,
    mainRequests: () => requests.filter((r) => main.has(r)),
    setResponder: (r) => {
      responder = r;
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

function sendJson(res: http.ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}
