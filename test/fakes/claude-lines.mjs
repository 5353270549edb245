/**
 * The stream-json lines a fake `claude` prints for one turn (shapes as claude 2.1.197 prints them
 * with `--output-format stream-json --verbose`: ../shared/reference/agent-clis.md), shared by the
 * fakes in test/fakes/ and bench/fake-claude.mjs.
 */
import { randomUUID } from 'node:crypto';

/** The `system`/`init` line that opens a turn. */
export function initLine({ sessionId, model, mcpServers = [], apiKeySource = 'none' }) {
  return {
    type: 'system',
    subtype: 'init',
    session_id: sessionId,
    cwd: process.cwd(),
    tools: [],
    mcp_servers: mcpServers,
    model,
    permissionMode: 'default',
    apiKeySource,
  };
}

/** An `assistant` line carrying the answer `text`. */
export function assistantLine({ sessionId, model, text }) {
  return {
    type: 'assistant',
    message: {
      id: `msg_${randomUUID()}`,
      type: 'message',
      role: 'assistant',
      model,
      content: [{ type: 'text', text }],
      stop_reason: 'end_turn',
      usage: { input_tokens: 10, output_tokens: 5 },
    },
    parent_tool_use_id: null,
    session_id: sessionId,
    uuid: randomUUID(),
  };
}
