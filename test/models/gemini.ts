/**
 * A scripted Gemini API server for tests: the real `gemini` CLI runs real turns against it.
 *
 * Point the CLI at it with `GOOGLE_GEMINI_BASE_URL=<url>` and `GEMINI_API_KEY=<anything>` (plus an
 * isolated home whose `.gemini/settings.json` selects `gemini-api-key` auth). It answers:
 * - `POST /v1beta/models/<model>:streamGenerateContent?alt=sse` — SSE, `data: <GenerateContentResponse>`
 *   chunks; the last one has `finishReason: "STOP"`, non-empty text or a `functionCall`, and usageMetadata.
 * - `POST /v1beta/models/<model>:generateContent` — one GenerateContentResponse JSON.
 * - `POST /v1beta/models/<model>:countTokens` — `{ totalTokens }`.
 * - anything else — 200 `{}`.
 * Every call is recorded in `requests`.
 *
 * Main requests vs side calls (gemini-cli 0.61.0): the agent's conversation turns are streamed
 * (`:streamGenerateContent`) and carry `tools` and no JSON response schema. Side calls — the
 * next-speaker check, loop detection, routing classifier, edit fixers — go through the CLI's
 * `BaseLlmClient.generateJson`, i.e. non-streamed `:generateContent` with
 * `generationConfig.responseMimeType: "application/json"` and `responseJsonSchema`; they get an
 * object built from that schema (enums → first value, e.g. `next_speaker: "user"`; numbers → 0,
 * e.g. `unproductive_state_confidence: 0`) so turns end cleanly. Chat compression is a plain
 * `:generateContent` without tools; it gets a short text. The responder is only asked about main
 * requests.
 *
 * Gemini's shell tool is `run_shell_command` (args `{ command, description? , dir_path? }`); see
 * {@link GEMINI_SHELL_TOOL}.
 */
import http from 'node:http';
import type { AddressInfo, Socket } from 'node:net';

/** Name of gemini-cli's shell tool (0.61.0). */
export const GEMINI_SHELL_TOOL = 'run_shell_command';

export interface GeminiPart {
  text?: string;
  thought?: boolean;
  functionCall?: { id?: string; name: string; args?: Record<string, unknown> };
  functionResponse?: { id?: string; name: string; response?: Record<string, unknown> };
  [k: string]: unknown;
}

export interface GeminiContent {
  role?: string;
  parts?: GeminiPart[];
}

/** One call the server received. */
export interface RecordedRequest {
  /** The API method from the path (`streamGenerateContent`, `generateContent`, `countTokens`), or `other`. */
  method: 'streamGenerateContent' | 'generateContent' | 'countTokens' | 'other';
  httpMethod: string;
  /** Path plus query, as received. */
  url: string;
  /** Model name from the path (`gemini-2.5-pro`), '' for other paths. */
  model: string;
  /** Parsed JSON body (`{}` when empty or not JSON). */
  body: {
    contents?: GeminiContent[];
    systemInstruction?: GeminiContent | string;
    generationConfig?: Record<string, unknown>;
    tools?: unknown[];
    [k: string]: unknown;
  };
  contents: GeminiContent[];
  /** True for the agent's own conversation turns (see the module comment). */
  main: boolean;
  /** Milliseconds since the server started. */
  at: number;
}

/** What to answer to a main request. */
export type Reply =
  | { text: string; delayMs?: number }
  | { functionCall: { name: string; args?: Record<string, unknown> }; text?: string; delayMs?: number }
  | { error: { status: number; message: string; /** gRPC status, derived from `status` when absent */ statusText?: string }; delayMs?: number }
  | { hang: true };

export type Responder = (req: RecordedRequest) => Reply | Promise<Reply>;

export interface GeminiModel {
  /** `http://127.0.0.1:PORT` — the value for GOOGLE_GEMINI_BASE_URL. */
  url: string;
  /** Every call, in arrival order. */
  requests: RecordedRequest[];
  /** Only the agent's conversation turns (streamed, with tools, no JSON schema). */
  mainRequests(): RecordedRequest[];
  setResponder(r: Responder): void;
  /** Stops the server, dropping hung connections. */
  close(): Promise<void>;
}

/** Text of the last user-authored text part (function responses and CLI-injected context skipped). */
export function lastUserText(req: RecordedRequest): string {
  for (let i = req.contents.length - 1; i >= 0; i--) {
    const c = req.contents[i]!;
    if (c.role !== 'user') continue;
    const texts = (c.parts ?? []).filter((p) => typeof p.text === 'string' && !p.thought).map((p) => p.text as string);
    if (texts.length) return texts[texts.length - 1]!;
  }
  return '';
}

/** Everything in the request's contents as one string: texts, function calls and responses (JSON). */
export function allText(req: RecordedRequest): string {
  const out: string[] = [];
  for (const c of req.contents) {
    for (const p of c.parts ?? []) {
      if (typeof p.text === 'string') out.push(p.text);
      if (p.functionCall) out.push(JSON.stringify(p.functionCall));
      if (p.functionResponse) out.push(JSON.stringify(p.functionResponse));
    }
  }
  return out.join('\n');
}

/** Replies in order, one per main request; the last one repeats. */
export function sequence(...replies: Array<Reply | Responder>): Responder {
  let i = 0;
  return (req) => {
    const r = replies[Math.min(i++, replies.length - 1)];
    if (r === undefined) return echo(req);
    return typeof r === 'function' ? r(req) : r;
  };
}

/**
 * A `run_shell_command` call (gemini-cli 0.61.0's shell tool). In `default` (ask) mode it needs
 * approval: over ACP it becomes a `session/request_permission` whose title is `command`. Note that
 * gemini refuses any `$(` in a command (command substitution), and in `plan` mode refuses it by policy.
 */
export function shellCall(command: string, text?: string): Reply {
  return { functionCall: { name: GEMINI_SHELL_TOOL, args: { command } }, ...(text ? { text } : {}) };
}

/**
 * A {@link shellCall} that writes `content` (no quotes or newlines) to `file`: `printf` so an
 * approval rule keyed on the first word (`printf`) matches every such call. The file existing
 * afterwards proves the command ran.
 */
export function writeFileCall(file: string, content = 'written'): Reply {
  return shellCall(`printf '%s' '${content}' > '${file}'`);
}

/** Every function response the request carries back to the model (tool results), as JSON text. */
export function functionResponses(req: RecordedRequest): string[] {
  return req.contents.flatMap((c) => (c.parts ?? []).filter((p) => p.functionResponse).map((p) => JSON.stringify(p.functionResponse)));
}

const echo: Responder = (req) => ({ text: `echo: ${lastUserText(req)}` });

const GRPC_STATUS: Record<number, string> = {
  400: 'INVALID_ARGUMENT',
  401: 'UNAUTHENTICATED',
  403: 'PERMISSION_DENIED',
  404: 'NOT_FOUND',
  409: 'ABORTED',
  429: 'RESOURCE_EXHAUSTED',
  499: 'CANCELLED',
  500: 'INTERNAL',
  503: 'UNAVAILABLE',
  504: 'DEADLINE_EXCEEDED',
};

function isMain(method: RecordedRequest['method'], body: RecordedRequest['body']): boolean {
  if (method !== 'streamGenerateContent') return false;
  const gc = body.generationConfig ?? {};
  if (gc['responseJsonSchema'] || gc['responseSchema'] || gc['responseMimeType'] === 'application/json') return false;
  return Array.isArray(body.tools) && body.tools.length > 0;
}

/** Builds a value that satisfies a (simple) JSON schema: enums → first, numbers → 0, strings → "ok". */
export function fillSchema(schema: unknown): unknown {
  if (!schema || typeof schema !== 'object') return {};
  const s = schema as Record<string, unknown>;
  if (Array.isArray(s['enum']) && s['enum'].length) return s['enum'][0];
  const type = String(s['type'] ?? (s['properties'] ? 'object' : 'string')).toLowerCase();
  switch (type) {
    case 'object': {
      const out: Record<string, unknown> = {};
      const props = (s['properties'] ?? {}) as Record<string, unknown>;
      for (const [k, v] of Object.entries(props)) out[k] = fillSchema(v);
      return out;
    }
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

function usage(req: RecordedRequest, outText: string) {
  const prompt = Math.max(1, Math.ceil(JSON.stringify(req.contents).length / 4));
  const candidates = Math.max(1, Math.ceil(outText.length / 4));
  return { promptTokenCount: prompt, candidatesTokenCount: candidates, totalTokenCount: prompt + candidates };
}

function response(model: string, parts: GeminiPart[], final: boolean, usageMetadata?: object) {
  return {
    candidates: [{ content: { role: 'model', parts }, index: 0, ...(final ? { finishReason: 'STOP' } : {}) }],
    ...(usageMetadata ? { usageMetadata } : {}),
    modelVersion: model,
    responseId: `resp-${Math.random().toString(36).slice(2, 10)}`,
  };
}

/** Starts the server on 127.0.0.1 (random port). The default responder echoes the last user text. */
export async function startGeminiModel(respond: Responder = echo): Promise<GeminiModel> {
  let responder = respond;
  const requests: RecordedRequest[] = [];
  const sockets = new Set<Socket>();
  const started = Date.now();

  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      void handle(req, res, Buffer.concat(chunks).toString('utf8')).catch((err: unknown) => {
        if (!res.headersSent) res.writeHead(500, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ error: { code: 500, message: `scripted server bug: ${String(err)}`, status: 'INTERNAL' } }));
      });
    });
  });
  server.on('connection', (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });

  async function handle(req: http.IncomingMessage, res: http.ServerResponse, raw: string): Promise<void> {
    const url = req.url ?? '/';
    const m = /^\/v1(?:beta|alpha|)\d*\/models\/([^/:?]+):(streamGenerateContent|generateContent|countTokens)(?:\?|$)/.exec(url);
    let body: RecordedRequest['body'] = {};
    try {
      const parsed: unknown = raw ? JSON.parse(raw) : {};
      if (parsed && typeof parsed === 'object') body = parsed as RecordedRequest['body'];
    } catch {
      /* not JSON */
    }
    const method = (m?.[2] ?? 'other') as RecordedRequest['method'];
    const rec: RecordedRequest = {
      method,
      httpMethod: req.method ?? 'GET',
      url,
      model: m?.[1] ? decodeURIComponent(m[1]) : '',
      body,
      contents: Array.isArray(body.contents) ? body.contents : [],
      main: isMain(method, body),
      at: Date.now() - started,
    };
    requests.push(rec);

    if (method === 'other') return json(res, 200, {});
    if (method === 'countTokens') {
      return json(res, 200, { totalTokens: Math.max(1, Math.ceil(JSON.stringify(rec.contents).length / 4)) });
    }

    const reply: Reply = rec.main ? await responder(rec) : sideReply(rec);
    if ('hang' in reply) {
      // Never answer; the connection stays open until the client gives up or close() drops it.
      return;
    }
    if (reply.delayMs) await new Promise((r) => setTimeout(r, reply.delayMs));
    if ('error' in reply) {
      const { status, message, statusText } = reply.error;
      return json(res, status, { error: { code: status, message, status: statusText ?? GRPC_STATUS[status] ?? 'UNKNOWN' } });
    }

    const chunks: object[] = [];
    if ('functionCall' in reply) {
      const parts: GeminiPart[] = [];
      if (reply.text) parts.push({ text: reply.text });
      parts.push({ functionCall: { name: reply.functionCall.name, args: reply.functionCall.args ?? {} } });
      chunks.push(response(rec.model, parts, true, usage(rec, JSON.stringify(parts))));
    } else {
      // Two chunks when possible, so clients see deltas; the last one is non-empty and ends the turn.
      const text = reply.text || ' ';
      const cut = Math.floor(text.length / 2);
      if (cut > 0) chunks.push(response(rec.model, [{ text: text.slice(0, cut) }], false));
      chunks.push(response(rec.model, [{ text: text.slice(cut) }], true, usage(rec, text)));
    }

    if (method === 'generateContent') {
      // Non-streamed: merge into one response.
      const parts = chunks.flatMap((c) => (c as { candidates: Array<{ content: { parts: GeminiPart[] } }> }).candidates[0]!.content.parts);
      return json(res, 200, response(rec.model, mergeText(parts), true, usage(rec, JSON.stringify(parts))));
    }
    res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache', connection: 'keep-alive' });
    for (const c of chunks) res.write(`data: ${JSON.stringify(c)}\r\n\r\n`);
    res.end();
  }

  /** Answers for side calls: JSON built from the requested schema, else a short text. */
  function sideReply(rec: RecordedRequest): Reply {
    const gc = rec.body.generationConfig ?? {};
    const schema = gc['responseJsonSchema'] ?? gc['responseSchema'];
    if (schema || gc['responseMimeType'] === 'application/json') {
      return { text: JSON.stringify(fillSchema(schema ?? { type: 'object' })) };
    }
    return { text: `scripted side answer: ${lastUserText(rec).slice(0, 80)}` };
  }

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const { port } = server.address() as AddressInfo;

  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    mainRequests: () => requests.filter((r) => r.main),
    setResponder: (r) => {
      responder = r;
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}

function mergeText(parts: GeminiPart[]): GeminiPart[] {
  const out: GeminiPart[] = [];
  for (const p of parts) {
    const last = out[out.length - 1];
    if (typeof p.text === 'string' && last && typeof last.text === 'string' && !last.functionCall) last.text += p.text;
    else out.push({ ...p });
  }
  return out;
}

function json(res: http.ServerResponse, status: number, body: unknown): void {
  const data = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(data) });
  res.end(data);
}
