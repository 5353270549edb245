/** The pure ACP ↔ agentbridge mapping of Gemini live sessions (src/runners/gemini/acp-map.ts). */
import { describe, expect, it } from 'vitest';
import {
  AcpTurnMapper,
  GEMINI_ACP_MODE,
  acpPromptText,
  commandRuleKey,
  decisionToOutcome,
  editPreview,
  permissionToInteraction,
  toolNameOf,
  usageFromPromptMeta,
} from '../../src/runners/gemini/acp-map.js';
import { lineStream } from '../../src/runners/gemini/acp-stream.js';

/** The options gemini 0.61.0 offers for a shell command (verified). */
const EXEC_OPTIONS = [
  { optionId: 'proceed_always', name: 'Allow for this session', kind: 'allow_always' },
  { optionId: 'proceed_once', name: 'Allow', kind: 'allow_once' },
  { optionId: 'cancel', name: 'Reject', kind: 'reject_once' },
];
/** …and for an MCP tool (bundle source). */
const MCP_OPTIONS = [
  { optionId: 'proceed_always_server', kind: 'allow_always' },
  { optionId: 'proceed_always_tool', kind: 'allow_always' },
  { optionId: 'proceed_once', kind: 'allow_once' },
  { optionId: 'cancel', kind: 'reject_once' },
];

describe('permission modes and prompts', () => {
  it('maps every permission mode to a mode gemini advertises', () => {
    expect(GEMINI_ACP_MODE).toEqual({ 'read-only': 'plan', ask: 'default', edit: 'autoEdit', full: 'yolo' });
  });

  it('keeps "/" and "$" text from running as gemini commands', () => {
    expect(acpPromptText('/quit')).toBe('Message: /quit');
    expect(acpPromptText('  $ ls')).toBe('Message:   $ ls');
    expect(acpPromptText('hello /x')).toBe('hello /x');
  });
});

describe('rule keys', () => {
  it.each([
    ['ls -la', 'ls'],
    ['git push origin main', 'git push'],
    ['npm run build', 'npm run'],
    ['FOO=1 BAR=2 make test', 'make test'],
    ['git --no-pager log', 'git'],
    ["printf '%s' x > /tmp/f", 'printf'],
    ['   ', undefined],
  ])('%s → %s', (command, key) => {
    expect(commandRuleKey(command)).toBe(key);
  });
});

describe('permission requests → approvals', () => {
  it('a shell command: the command as preview, the first word(s) as rule key', () => {
    const call = {
      toolCallId: 'run_shell_command__run_shell_command_1796031344857_0',
      kind: 'execute',
      status: 'pending',
      title: 'git push origin main',
      content: [{ type: 'content' as const, content: { type: 'text', text: '[current working directory /w]' } }],
      locations: [],
    };
    expect(permissionToInteraction(call)).toEqual({
      kind: 'approval',
      tool: 'run_shell_command',
      preview: { format: 'command', text: 'git push origin main' },
      ruleKey: 'git push',
    });
  });

  it('an edit: the diff as preview, the path as rule key', () => {
    const call = {
      toolCallId: 'replace__replace_1_0',
      kind: 'edit',
      title: 'a.ts: old => new',
      content: [{ type: 'diff' as const, path: '/w/a.ts', oldText: 'one\nold\nthree', newText: 'one\nnew\nthree' }],
      locations: [{ path: '/w/a.ts' }],
    };
    expect(permissionToInteraction(call)).toEqual({
      kind: 'approval',
      tool: 'replace',
      preview: { format: 'diff', text: '--- /w/a.ts\n+++ /w/a.ts\n@@ line 2 @@\n-old\n+new' },
      ruleKey: '/w/a.ts',
      reason: 'a.ts: old => new',
    });
  });

  it('anything else: JSON of what the call shows, no rule key', () => {
    const r = permissionToInteraction({ toolCallId: 'x', kind: 'fetch', title: 'https://example.com', content: [], rawInput: { url: 'https://example.com' } });
    expect(r.tool).toBe('fetch');
    expect(r.preview.format).toBe('json');
    expect(JSON.parse(r.preview.text)).toEqual({ title: 'https://example.com', kind: 'fetch', input: { url: 'https://example.com' } });
    expect(r.ruleKey).toBeUndefined();
  });

  it('a new file diff shows /dev/null as the old side', () => {
    expect(editPreview({ path: '/w/n.txt', newText: 'hi' })).toBe('--- /dev/null\n+++ /w/n.txt\n@@ line 1 @@\n+hi');
  });

  it('tool names come from gemini call ids, else the kind', () => {
    expect(toolNameOf({ toolCallId: 'mcp_agentbridge_post_message__mcp_agentbridge_post_message_17_0' })).toBe('mcp_agentbridge_post_message');
    expect(toolNameOf({ toolCallId: 'call-1', kind: 'read' })).toBe('read');
    expect(toolNameOf({ toolCallId: 'call-1' })).toBe('tool');
  });
});

describe('decisions → ACP outcomes', () => {
  it('allow → proceed_once, always → proceed_always, deny and cancel → cancel', () => {
    expect(decisionToOutcome({ kind: 'allow' }, EXEC_OPTIONS)).toEqual({ outcome: 'selected', optionId: 'proceed_once' });
    expect(decisionToOutcome({ kind: 'allow', always: true }, EXEC_OPTIONS)).toEqual({ outcome: 'selected', optionId: 'proceed_always' });
    expect(decisionToOutcome({ kind: 'deny', message: 'no' }, EXEC_OPTIONS)).toEqual({ outcome: 'selected', optionId: 'cancel' });
    expect(decisionToOutcome({ kind: 'cancel', message: 'stop' }, EXEC_OPTIONS)).toEqual({ outcome: 'selected', optionId: 'cancel' });
  });

  it('MCP tools: always → the first allow_always option; missing options never allow by accident', () => {
    expect(decisionToOutcome({ kind: 'allow', always: true }, MCP_OPTIONS)).toEqual({ outcome: 'selected', optionId: 'proceed_always_server' });
    expect(decisionToOutcome({ kind: 'allow', always: true }, [{ optionId: 'proceed_once', kind: 'allow_once' }])).toEqual({
      outcome: 'selected',
      optionId: 'proceed_once',
    });
    expect(decisionToOutcome({ kind: 'allow' }, [{ optionId: 'cancel', kind: 'reject_once' }])).toEqual({ outcome: 'cancelled' });
    expect(decisionToOutcome({ kind: 'deny', message: 'no' }, [])).toEqual({ outcome: 'cancelled' });
  });
});

describe('session updates → events', () => {
  it('text, announced and approved tool calls, mode-update noise dropped', () => {
    const m = new AcpTurnMapper();
    expect(m.push({ sessionUpdate: 'agent_message_chunk', content: { type: 'text', text: '[MODE_UPDATE] yolo' } })).toEqual([]);
    expect(m.push({ sessionUpdate: 'agent_thought_chunk' })).toEqual([]);
    expect(m.push({ sessionUpdate: 'tool_call', toolCallId: 'run_shell_command__1', kind: 'execute', status: 'in_progress', title: 'ls' })).toEqual([
      { type: 'tool_start', id: 'run_shell_command__1', name: 'run_shell_command', summary: '$ ls' },
    ]);
    expect(
      m.push({
        sessionUpdate: 'tool_call_update',
        toolCallId: 'run_shell_command__1',
        status: 'completed',
        content: [{ type: 'content', content: { type: 'text', text: 'a\nb' } }],
      }),
    ).toEqual([{ type: 'tool_end', id: 'run_shell_command__1', name: 'run_shell_command', ok: true, summary: 'a b' }]);
    // An approved call is not announced: start and end come together.
    expect(m.push({ sessionUpdate: 'tool_call_update', toolCallId: 'write_file__2', kind: 'edit', status: 'failed', title: 'x.txt' })).toEqual([
      { type: 'tool_start', id: 'write_file__2', name: 'write_file', summary: 'edit x.txt' },
      { type: 'tool_end', id: 'write_file__2', name: 'write_file', ok: false },
    ]);
    expect(m.push({ sessionUpdate: 'agent_message_chunk', content: { type: 'text', text: 'do' } })).toEqual([{ type: 'text', delta: 'do' }]);
    m.push({ sessionUpdate: 'agent_message_chunk', content: { type: 'text', text: 'ne' } });
    expect(m.text).toBe('done');
  });

  it('usage from the prompt response meta', () => {
    expect(usageFromPromptMeta({ quota: { token_count: { input_tokens: 776, output_tokens: 64 } } })).toEqual({ inputTokens: 776, outputTokens: 64 });
    expect(usageFromPromptMeta(undefined)).toBeUndefined();
    expect(usageFromPromptMeta({ quota: {} })).toBeUndefined();
  });
});

describe('the line stream', () => {
  it('passes JSON-RPC objects and drops anything else', async () => {
    const sent: unknown[] = [];
    const s = lineStream((m) => sent.push(m) > 0);
    s.push('Ripgrep is not available.');
    s.push('[1,2]');
    s.push('{"jsonrpc":"2.0","method":"session/update","params":{}}');
    s.push('{"torn');
    s.end();
    const reader = s.stream.readable.getReader();
    expect((await reader.read()).value).toEqual({ jsonrpc: '2.0', method: 'session/update', params: {} });
    expect((await reader.read()).done).toBe(true);
    expect(s.dropped).toBe(3);
    const writer = s.stream.writable.getWriter();
    await writer.write({ jsonrpc: '2.0', id: 1, method: 'initialize' });
    expect(sent).toEqual([{ jsonrpc: '2.0', id: 1, method: 'initialize' }]);
  });
});
