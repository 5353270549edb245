/**
 * Agent tools over MCP: the per-turn tokens (./tokens.ts), the MCP server on the shared HTTP server
 * (./mcp-server.ts) and the {@link ToolAccess} the bridges give every turn (./access.ts).
 * Wiring: src/compose.ts `ToolTokens.open(dataDir)` → `new ToolAccess({tokens, url})` as the
 * bridges' `tools`; src/app.ts `registerMcpRoutes(http, {tokens, outbound, scheduled, logger})`.
 */
import { MCP_PATH } from './mcp-server.js';

export { ToolAccess } from './access.js';
export { MCP_PATH, MCP_SERVER_NAME, TOOL_NAMES, ToolServerPool, buildToolServer, createMcpHandler, registerMcpRoutes } from './mcp-server.js';
export type { McpHandlerOptions, McpToolDeps, ToolCallContext } from './mcp-server.js';
export { ToolTokens, TokenError, loadOrCreateSecret } from './tokens.js';
export type { ToolTokenClaims } from './tokens.js';

/**
 * The MCP endpoint URL agent processes (on this host) use, from the HTTP server's base URL: a
 * wildcard bind address (`0.0.0.0`, `[::]`) is replaced by the loopback address.
 * @example mcpEndpointUrl('http://0.0.0.0:8080') === 'http://127.0.0.1:8080/mcp'
 */
export function mcpEndpointUrl(baseUrl: string): string {
  const u = new URL(baseUrl);
  if (u.hostname === '0.0.0.0') u.hostname = '127.0.0.1';
  else if (u.hostname === '[::]') u.hostname = '[::1]';
  return `${u.origin}${MCP_PATH}`;
}
