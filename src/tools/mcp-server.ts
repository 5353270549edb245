/**
 * agentbridge's MCP server: the tools a running agent turn can call, served over Streamable HTTP
 * (MCP spec 2025-03-26+) at `/mcp` on agentbridge's own HTTP server.
 *
 * Every POST must carry `Authorization: Bearer <turn token>` (see ./tokens.ts). The token
 * decides everything: the conversation the tools act on and where `post_message` posts. No tool
 * takes a conversation argument, so a token of conversation A can never touch conversation B
 * (unknown arguments are dropped by the input schemas).
 *
 * Transport: stateless — each `POST /mcp` gets a fresh StreamableHTTPServerTransport
 * (`sessionIdGenerator: undefined`, JSON responses instead of SSE; the SDK refuses to reuse a
 * stateless transport, since JSON-RPC ids of different clients would collide). The McpServer
 * (tool definitions, zod schemas, validator) is **not** built per request: {@link ToolServerPool}
 * keeps servers built once and lends one to each request in flight (an SDK `Protocol` serves one
 * transport at a time: `connect` throws while another is connected), so only as many are ever
 * built as requests run at once. The tools read the request's verified claims from the SDK's
 * `extra.authInfo` (set from `req.auth` by `StreamableHTTPServerTransport.handleRequest`), never
 * from server state. `GET /mcp` (server-initiated stream) and `DELETE /mcp` (session end) answer
 * 405 with `Allow: POST` at once — before any token work — as the spec allows for a server
 * without such streams or sessions.
 *
 * HTTP outcomes:
 * - 405 JSON-RPC error + `Allow: POST`: GET/DELETE (with or without a token);
 * - 401 `{error}` + `WWW-Authenticate: Bearer error="invalid_token"`: POST with no/forged/expired/revoked token;
 * - 415/400: body not `application/json` / not JSON / > 1 MiB;
 * - 200: JSON-RPC responses (202 for notifications). A tool that fails (e.g. a ScheduleError for
 *   a bad schedule) answers a tool result with `isError: true` and the message — never an HTTP error.
 *
 * Tools (all scoped to the token's conversation; scheduled messages are created by `agent`):
 * - `post_message {text}` → posts `text` (formatted and chunked for the platform, mentions
 *   neutralised) to the turn's reply target through the outbound path (`conversation/outbound.ts`);
 * - `send_file {path, comment?}` → a regular file inside the conversation's working directory
 *   (realpath, `./send-file.ts`), at most the platform's `maxFileBytes`, copied into the data
 *   directory now (`store/outgoing-files.ts`) and posted to the reply target by an outbox row
 *   (once, retried after a restart); at most {@link MAX_FILES_PER_TURN} per turn;
 * - `schedule_message {text, delay_seconds? | at? | every?}` → a prompt that runs later as a turn
 *   of this conversation; exactly one timing field;
 * - `list_scheduled_messages {}`, `cancel_scheduled_message {id}`, `reset_scheduled_messages {}`.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AuthInfo } from '@modelcontextprotocol/sdk/server/auth/types.js';
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { AjvJsonSchemaValidator } from '@modelcontextprotocol/sdk/validation/ajv';
import { z } from 'zod';
import type { Outbound } from '../conversation/outbound.js';
import { HttpError, readJsonBody } from '../http/json.js';
import type { HttpServer } from '../http/server.js';
import type { Logger } from '../logger.js';
import type { ScheduledMessage } from '../core/schedule.js';
import { ScheduleError, type ScheduledMessagesService } from '../scheduler/types.js';
import { OutgoingFileError, type OutgoingFiles } from '../store/outgoing-files.js';
import type { PlatformName } from '../core/messages.js';
import { checkSendable, SendFileError } from './send-file.js';
import { TokenError, type ToolTokenClaims, type ToolTokens } from './tokens.js';

/** Path of the MCP endpoint on the shared HTTP server. */
export const MCP_PATH = '/mcp';
/** Name the agents know the server by (Claude: `mcp__agentbridge__<tool>`). */
export const MCP_SERVER_NAME = 'agentbridge';
/** Tool names, in the order they are listed. */
export const TOOL_NAMES = [
  'post_message',
  'send_file',
  'schedule_message',
  'list_scheduled_messages',
  'cancel_scheduled_message',
  'reset_scheduled_messages',
] as const;

/** Longest `post_message` text accepted, characters (chunked to the platform limit). */
export const MAX_POST_CHARS = 20_000;
/** Longest `send_file` comment, characters (posted as one message with the file). */
export const MAX_FILE_COMMENT_CHARS = 1_000;
/** send_file calls allowed per turn. */
export const MAX_FILES_PER_TURN = 10;
/** Longest scheduled prompt, characters. */
export const MAX_SCHEDULED_TEXT_CHARS = 4_000;
/** post_message calls allowed per turn (a looping agent must not flood a channel). */
export const MAX_POSTS_PER_TURN = 20;

export interface McpToolDeps {
  tokens: Pick<ToolTokens, 'verify'>;
  /** Durable posting: the outbound path (`conversation/outbound.ts`: rendered, chunked, outbox). */
  outbound: Pick<Outbound, 'say' | 'reachable' | 'sendFile'>;
  scheduled: ScheduledMessagesService;
  /** `send_file`: where files are copied at call time (src/store/outgoing-files.ts); absent: the tool refuses. */
  files?: Pick<OutgoingFiles, 'put'>;
  /** `send_file`: the conversation's working directory (its own, else its project's or worktree's, else AGENTBRIDGE_WORKDIR; may read the store). */
  workdirOf?: (conversationId: string) => Promise<string> | string;
  /** `send_file`: the largest file `platform` accepts, bytes (`PlatformLimits.maxFileBytes`); undefined: it posts no files. */
  maxFileBytes?: (platform: PlatformName) => number | undefined;
  logger: Logger;
}

/** Registers `POST|GET|DELETE /mcp` on the shared HTTP server. */
export function registerMcpRoutes(http: Pick<HttpServer, 'route'>, deps: McpToolDeps, opts: McpHandlerOptions = {}): void {
  const handler = createMcpHandler(deps, opts);
  http.route('POST', MCP_PATH, handler);
  http.route('GET', MCP_PATH, handler);
  http.route('DELETE', MCP_PATH, handler);
}

/** What one request binds to the shared server's tools (through `extra.authInfo.extra`). */
export interface ToolCallContext {
  /** The verified token's claims: the conversation and reply target every tool acts on. */
  claims: ToolTokenClaims;
  /** Counts a `post_message` of the turn; false once over {@link MAX_POSTS_PER_TURN}. */
  allowPost(): boolean;
  /** Counts a `send_file` of the turn; false once over {@link MAX_FILES_PER_TURN}. */
  allowFile(): boolean;
  /** The MCP logger with the conversation and turn ids. */
  readonly log: Logger;
}

export interface McpHandlerOptions {
  /** The servers to lend out (tests count builds); default: a pool of {@link buildToolServer} servers. */
  pool?: ToolServerPool;
}

/** Key of the {@link ToolCallContext} in `AuthInfo.extra`. */
const CONTEXT_KEY = 'agentbridgeTool';
/** Idle servers kept for reuse; more in flight at once are built and dropped after use. */
const MAX_IDLE_SERVERS = 16;

/**
 * Servers built once and lent out, one per request in flight (an McpServer serves one transport
 * at a time). A server given back has no transport (`transport.close()` ran its `onclose`) and
 * keeps no per-request state that the tools read: claims come with each request.
 */
export class ToolServerPool {
  private readonly idle: McpServer[] = [];
  /** Servers built so far (for tests and the bench). */
  built = 0;

  constructor(
    private readonly build: () => McpServer,
    private readonly maxIdle = MAX_IDLE_SERVERS,
  ) {}

  take(): McpServer {
    const server = this.idle.pop();
    if (server) return server;
    this.built++;
    return this.build();
  }

  give(server: McpServer): void {
    if (server.isConnected()) void server.close();
    else if (this.idle.length < this.maxIdle) this.idle.push(server);
  }
}

/**
 * The request handler behind {@link registerMcpRoutes} (usable with any node:http server).
 * GET/DELETE: 405 at once. POST: token check (401), body (415/400), then a pooled server on a
 * fresh transport with the request's {@link ToolCallContext} as `req.auth`.
 */
export function createMcpHandler(deps: McpToolDeps, opts: McpHandlerOptions = {}): (req: IncomingMessage, res: ServerResponse) => Promise<void> {
  const posts = new Map<string, number>();
  const log = deps.logger.child({ component: 'mcp' });
  const validator = new AjvJsonSchemaValidator();
  const toolList: ToolListCache = {};
  const pool = opts.pool ?? new ToolServerPool(() => shareToolList(buildToolServer(deps, { jsonSchemaValidator: validator }), toolList));
  const counter = (counts: Map<string, number>, max: number) => (turnId: string) => () => {
    const n = (counts.get(turnId) ?? 0) + 1;
    counts.set(turnId, n);
    if (counts.size > 1000) counts.delete(counts.keys().next().value!);
    return n <= max;
  };
  const allowPost = counter(posts, MAX_POSTS_PER_TURN);
  const allowFile = counter(new Map(), MAX_FILES_PER_TURN);
  return async (req, res) => {
    if (req.method !== 'POST') {
      jsonRpcError(res, 405, -32000, 'Method not allowed: this server is stateless; use POST.', { allow: 'POST' });
      return;
    }
    const claims = authenticate(deps.tokens, req, log);
    const body = await readJsonBody(req);
    let callLog: Logger | undefined;
    const context: ToolCallContext = {
      claims,
      allowPost: allowPost(claims.turnId),
      allowFile: allowFile(claims.turnId),
      // Made on first use: most requests (initialize, tools/list) log nothing.
      get log() {
        return (callLog ??= log.child({ conversationId: claims.conversationId, turnId: claims.turnId }));
      },
    };
    const auth: AuthInfo = {
      token: '',
      clientId: claims.turnId,
      scopes: [],
      expiresAt: Math.floor(claims.expiresAt / 1000),
      extra: { [CONTEXT_KEY]: context },
    };
    (req as IncomingMessage & { auth?: AuthInfo }).auth = auth;
    const server = pool.take();
    const transport = new StreamableHTTPServerTransport({ sessionIdGenerator: undefined, enableJsonResponse: true });
    let done = false;
    const release = () => {
      if (done) return;
      done = true;
      // close() runs the server's onclose (it forgets the transport, aborts handlers still running).
      void transport.close().finally(() => pool.give(server));
    };
    res.on('close', release);
    try {
      await server.connect(transport);
      await transport.handleRequest(req, res, body);
    } catch (err) {
      release();
      throw err;
    }
  };
}

/** The `tools/list` answer shared by the pooled servers (they all register the same tools). */
interface ToolListCache {
  list?: Promise<unknown>;
}

/**
 * Makes `server` answer `tools/list` from `cache`: McpServer converts every tool's zod schema to
 * JSON Schema on each `tools/list` (a few hundred µs), though the list never changes here (tools
 * are registered once; none is ever enabled, disabled or removed). Reaches into the SDK's
 * request-handler map (`Protocol._requestHandlers`, @modelcontextprotocol/sdk 1.32.2, pinned);
 * with another shape it changes nothing and the SDK answers as usual.
 * @returns `server`.
 */
function shareToolList(server: McpServer, cache: ToolListCache): McpServer {
  type Handler = (request: unknown, extra: unknown) => Promise<unknown>;
  const handlers = (server.server as unknown as { _requestHandlers?: unknown })._requestHandlers;
  if (!(handlers instanceof Map)) return server;
  const original = handlers.get('tools/list') as Handler | undefined;
  if (typeof original !== 'function') return server;
  handlers.set(
    'tools/list',
    (request: unknown, extra: unknown) =>
      (cache.list ??= original(request, extra).catch((err: unknown) => {
        cache.list = undefined;
        throw err;
      })),
  );
  return server;
}

/** Checks the bearer token; throws HttpError 401 (reason in the message, never the token). */
function authenticate(tokens: McpToolDeps['tokens'], req: IncomingMessage, log: Logger): ToolTokenClaims {
  const header = req.headers.authorization ?? '';
  const match = /^Bearer\s+(\S+)\s*$/i.exec(header);
  try {
    return tokens.verify(match?.[1]);
  } catch (err) {
    const message = err instanceof TokenError ? err.message : 'unauthorized';
    log.warn({ reason: err instanceof TokenError ? err.reason : String(err), method: req.method }, 'MCP request refused');
    throw new HttpError(401, message, { 'www-authenticate': 'Bearer realm="agentbridge", error="invalid_token"' });
  }
}

function jsonRpcError(res: ServerResponse, status: number, code: number, message: string, headers: Record<string, string> = {}): void {
  const text = JSON.stringify({ jsonrpc: '2.0', error: { code, message }, id: null });
  res.writeHead(status, { ...headers, 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

/** The {@link ToolCallContext} the handler bound to this call; throws when there is none (a bug). */
function contextOf(extra: { authInfo?: AuthInfo }): ToolCallContext {
  const context = extra.authInfo?.extra?.[CONTEXT_KEY] as ToolCallContext | undefined;
  if (!context) throw new Error('MCP tool call without a verified turn');
  return context;
}

/**
 * One McpServer with agentbridge's tools. It holds no conversation: each tool call acts on the
 * {@link ToolCallContext} of its request (`extra.authInfo.extra`, set by {@link createMcpHandler}),
 * so one server serves requests of any turn, one after another.
 * @param opts.jsonSchemaValidator shared by all servers (the SDK builds an Ajv per server otherwise).
 */
export function buildToolServer(deps: McpToolDeps, opts: { jsonSchemaValidator?: AjvJsonSchemaValidator } = {}): McpServer {
  const server = new McpServer(
    { name: MCP_SERVER_NAME, version: '1.0.0' },
    {
      instructions:
        'agentbridge tools for the chat conversation this turn belongs to: post a message to the people in it, send them a file from your working directory, and schedule prompts that come back to you later as new turns of this conversation.',
      ...(opts.jsonSchemaValidator ? { jsonSchemaValidator: opts.jsonSchemaValidator } : {}),
    },
  );

  /** Runs a tool body with its request's context; ScheduleError and other failures become tool errors. */
  const run = async (tool: string, extra: { authInfo?: AuthInfo }, body: (c: ToolCallContext) => Promise<string> | string): Promise<CallToolResult> => {
    const context = contextOf(extra);
    const { log } = context;
    try {
      const text = await body(context);
      log.info({ tool }, 'MCP tool call');
      return { content: [{ type: 'text', text }] };
    } catch (err) {
      if (err instanceof ScheduleError || err instanceof ToolInputError || err instanceof SendFileError || err instanceof OutgoingFileError) {
        log.info({ tool, err: err.message }, 'MCP tool call refused');
        return { content: [{ type: 'text', text: err.message }], isError: true };
      }
      log.error({ tool, err }, 'MCP tool call failed');
      return { content: [{ type: 'text', text: `${tool} failed: internal error` }], isError: true };
    }
  };

  server.registerTool(
    'post_message',
    {
      title: 'Post a message',
      description:
        'Posts a message (Markdown) into this chat conversation right away, visible to the people in it — e.g. a progress note during a long task. Your final answer is posted anyway; do not repeat it here.',
      inputSchema: { text: z.string().min(1).max(MAX_POST_CHARS).describe('The message, Markdown.') },
      annotations: { readOnlyHint: false, destructiveHint: false, idempotentHint: false, openWorldHint: false },
    },
    ({ text }, extra) =>
      run('post_message', extra, async ({ claims: { conversationId, target }, allowPost }) => {
        if (!text.trim()) throw new ToolInputError('text is empty');
        if (!allowPost()) throw new ToolInputError(`at most ${MAX_POSTS_PER_TURN} messages can be posted per turn`);
        await deps.outbound.say({ conversationId, replyTarget: target }, text);
        return deps.outbound.reachable(target.platform) ? 'Posted.' : 'Queued; it is posted when the platform is reachable again.';
      }),
  );

  server.registerTool(
    'send_file',
    {
      title: 'Send a file',
      description:
        'Sends a file from your working directory into this chat conversation (e.g. a plot, a report, a patch you made), with an optional comment. The path is absolute or relative to your working directory and must be inside it (symlinks are resolved). The chat shows the file once; mention it in your answer if you like.',
      inputSchema: {
        path: z.string().min(1).max(4096).describe('The file, absolute or relative to your working directory.'),
        comment: z.string().max(MAX_FILE_COMMENT_CHARS).optional().describe('Text (Markdown) shown with the file.'),
      },
      annotations: { readOnlyHint: false, destructiveHint: false, idempotentHint: false, openWorldHint: false },
    },
    ({ path, comment }, extra) =>
      run('send_file', extra, async ({ claims: { conversationId, target }, allowFile }) => {
        const maxBytes = deps.maxFileBytes?.(target.platform);
        if (!deps.files || !deps.workdirOf || maxBytes === undefined) throw new ToolInputError(`files cannot be sent to ${target.platform} from here`);
        const checked = checkSendable(await deps.workdirOf(conversationId), path, maxBytes);
        if (!allowFile()) throw new ToolInputError(`at most ${MAX_FILES_PER_TURN} files can be sent per turn`);
        const copy = deps.files.put(checked.realPath, maxBytes);
        await deps.outbound.sendFile({ conversationId, replyTarget: target }, { id: copy.id, name: checked.name, size: copy.size }, comment ?? '');
        const what = `${checked.name} (${copy.size} bytes)`;
        return deps.outbound.reachable(target.platform) ? `Sent ${what}.` : `Queued ${what}; it is posted when the platform is reachable again.`;
      }),
  );

  server.registerTool(
    'schedule_message',
    {
      title: 'Schedule a message',
      description:
        'Schedules a prompt that comes back to you later as a new turn of this same conversation (your answer to it is posted there). Give exactly one of delay_seconds, at or every.',
      inputSchema: {
        text: z.string().min(1).max(MAX_SCHEDULED_TEXT_CHARS).describe('The prompt you will receive when it is due.'),
        delay_seconds: z.number().int().positive().optional().describe('Run once, this many seconds from now.'),
        at: z.string().optional().describe('Run once at this time: ISO 8601 with an offset, e.g. 2026-12-01T09:00:00+01:00.'),
        every: z.string().optional().describe('Run repeatedly at this interval, e.g. "15m", "2h", "1d".'),
      },
      annotations: { readOnlyHint: false, destructiveHint: false, idempotentHint: false, openWorldHint: false },
    },
    ({ text, delay_seconds, at, every }, extra) =>
      run('schedule_message', extra, async ({ claims: { conversationId } }) => {
        const given = [delay_seconds !== undefined, at !== undefined, every !== undefined].filter(Boolean).length;
        if (given !== 1) throw new ToolInputError('give exactly one of delay_seconds, at, every');
        const m = await deps.scheduled.add(conversationId, {
          text,
          createdBy: 'agent',
          ...(delay_seconds !== undefined ? { delaySeconds: delay_seconds } : {}),
          ...(at !== undefined ? { at } : {}),
          ...(every !== undefined ? { every } : {}),
        });
        return `Scheduled ${m.id}: ${describe(m)}`;
      }),
  );

  server.registerTool(
    'list_scheduled_messages',
    {
      title: 'List scheduled messages',
      description: 'Lists the scheduled prompts of this conversation (id, next due time, interval, text).',
      inputSchema: {},
      annotations: { readOnlyHint: true, openWorldHint: false },
    },
    (_args, extra) =>
      run('list_scheduled_messages', extra, async ({ claims: { conversationId } }) => {
        const items = await deps.scheduled.list(conversationId);
        if (!items.length) return 'No scheduled messages.';
        return items.map((m) => `- ${m.id}: ${describe(m)}`).join('\n');
      }),
  );

  server.registerTool(
    'cancel_scheduled_message',
    {
      title: 'Cancel a scheduled message',
      description: 'Cancels one scheduled prompt of this conversation by its id.',
      inputSchema: { id: z.string().min(1).describe('The id from schedule_message or list_scheduled_messages.') },
      annotations: { readOnlyHint: false, destructiveHint: true, idempotentHint: true, openWorldHint: false },
    },
    ({ id }, extra) =>
      run('cancel_scheduled_message', extra, async ({ claims: { conversationId } }) => {
        if (!(await deps.scheduled.cancel(conversationId, id))) throw new ToolInputError(`no scheduled message ${id} in this conversation`);
        return `Cancelled ${id}.`;
      }),
  );

  server.registerTool(
    'reset_scheduled_messages',
    {
      title: 'Cancel all scheduled messages',
      description: 'Cancels every scheduled prompt of this conversation.',
      inputSchema: {},
      annotations: { readOnlyHint: false, destructiveHint: true, idempotentHint: true, openWorldHint: false },
    },
    (_args, extra) =>
      run('reset_scheduled_messages', extra, async ({ claims: { conversationId } }) => {
        const n = await deps.scheduled.reset(conversationId);
        return n === 1 ? 'Cancelled 1 scheduled message.' : `Cancelled ${n} scheduled messages.`;
      }),
  );

  return server;
}

/** A tool call the tool itself refuses (shown to the agent as a tool error). */
class ToolInputError extends Error {
  override readonly name = 'ToolInputError';
}

/** `due 2026-01-01T09:00:00.000Z, every 15m: "text"` */
function describe(m: ScheduledMessage): string {
  const every = m.everyMs ? `, every ${formatInterval(m.everyMs)}` : '';
  return `due ${new Date(m.dueAt).toISOString()}${every}: ${JSON.stringify(m.text)}`;
}

function formatInterval(ms: number): string {
  for (const [unit, size] of [
    ['d', 86_400_000],
    ['h', 3_600_000],
    ['m', 60_000],
    ['s', 1000],
  ] as const) {
    if (ms % size === 0) return `${ms / size}${unit}`;
  }
  return `${ms}ms`;
}
