/**
 * agentbridge's MCP endpoint in-process for runner tests: the shared HTTP server with the `/mcp`
 * routes, real tokens and turn access, an in-memory scheduled-messages service and a recording
 * outbox. `seen` records every authenticated MCP request (POSTs; GET/DELETE get 405 before any
 * token check): method and whether its bearer token verified (the
 * token itself is kept so tests can compare it with the one they granted).
 */
import { Outbound } from '../../src/conversation/outbound.js';
import type { PlatformAdapter } from '../../src/platforms/types.js';
import { createHttpServer } from '../../src/http/server.js';
import { createLogger } from '../../src/logger.js';
import type { OutboxTarget } from '../../src/store/types.js';
import { ToolAccess } from '../../src/tools/access.js';
import { registerMcpRoutes } from '../../src/tools/mcp-server.js';
import { ToolTokens, type ToolTokenClaims } from '../../src/tools/tokens.js';
import { MemoryScheduledMessages } from './memory-scheduled.js';

export interface McpSeen {
  method: string;
  token?: string;
  /** The verified claims, or the refusal reason. */
  result: ToolTokenClaims | { refused: string };
}

export interface McpHarness {
  url: string;
  tokens: ToolTokens;
  access: ToolAccess;
  scheduled: MemoryScheduledMessages;
  posted: Array<{ conversationId: string; target: OutboxTarget; texts: string[] }>;
  seen: McpSeen[];
  close(): Promise<void>;
}

export async function startMcpHarness(): Promise<McpHarness> {
  const logger = createLogger('silent');
  const http = createHttpServer({ host: '127.0.0.1', port: 0, logger });
  const tokens = new ToolTokens(new Uint8Array(32).fill(5));
  const scheduled = new MemoryScheduledMessages();
  const posted: McpHarness['posted'] = [];
  const seen: McpSeen[] = [];
  let method = '';
  const recordingTokens = {
    verify: (token: string | undefined) => {
      const entry: McpSeen = { method, ...(token ? { token } : {}), result: { refused: '' } };
      seen.push(entry);
      try {
        entry.result = tokens.verify(token);
        return entry.result;
      } catch (err) {
        entry.result = { refused: (err as { reason?: string }).reason ?? String(err) };
        throw err;
      }
    },
  };
  registerMcpRoutes(
    {
      route: (m, p, handler) =>
        http.route(m, p, (req, res, params, u) => {
          method = req.method ?? '';
          return handler(req, res, params, u);
        }),
    },
    {
      tokens: recordingTokens,
      outbound: new Outbound({
        enqueue: async (conversationId, target, texts) => {
          posted.push({ conversationId, target, texts });
          return [];
        },
        deliver: async () => {},
        // A running platform that posts Markdown as is (what the tools see: "Posted.").
        adapter: () => ({ render: (markdown: string) => markdown, limits: { maxMessageChars: 40_000 } }) as unknown as PlatformAdapter,
      }),
      scheduled,
      logger,
    },
  );
  const { url: base } = await http.listen();
  const url = `${base}/mcp`;
  return { url, tokens, access: new ToolAccess({ tokens, url }), scheduled, posted, seen, close: () => http.close() };
}
