/**
 * The pure parts of the Codex live session: the JSON-RPC peer, notification → event mapping,
 * request ↔ interaction mapping, rule keys, thread settings and argv. Shapes as seen from
 * @openai/codex 0.169.0 (`codex app-server`; see test/runners/codex-session.test.ts for the real CLI).
 */
import { describe, expect, it } from 'vitest';
import { codex } from '../../src/runners/codex/index.js';
import { JsonRpcPeer, RpcClosedError, RpcError } from '../../src/runners/codex/rpc.js';
import { CodexTurnEvents } from '../../src/runners/codex/session-events.js';
import { approvalDecision, CODEX_THREAD_SETTINGS, commandRuleKey, mapServerRequest, type MappedRequest } from '../../src/runners/codex/session-requests.js';
import { CODEX_USER_INPUT_FEATURE, codexAppServerArgs, threadSettings } from '../../src/runners/codex/session.js';

describe('JsonRpcPeer', () => {
  function peer() {
    const sent: Array<Record<string, unknown>> = [];
    const got: Array<[string, unknown, unknown?]> = [];
    const bad: string[] = [];
    const p = new JsonRpcPeer(
      (m) => {
        sent.push(m as Record<string, unknown>);
        return true;
      },
      {
        onNotification: (method, params) => got.push(['note', method, params]),
        onRequest: (id, method, params) => got.push(['req', method, { id, params }]),
        onMalformed: (line) => bad.push(line),
      },
    );
    return { p, sent, got, bad };
  }

  it('matches responses and errors to requests by id (codex omits "jsonrpc")', async () => {
    const { p, sent } = peer();
    const a = p.request('initialize', { x: 1 });
    const b = p.request('turn/steer', {});
    expect(sent).toEqual([
      { jsonrpc: '2.0', id: 1, method: 'initialize', params: { x: 1 } },
      { jsonrpc: '2.0', id: 2, method: 'turn/steer', params: {} },
    ]);
    p.handleLine('{"error":{"code":-32600,"message":"no active turn to steer"},"id":2}');
    p.handleLine('{"id":1,"result":{"userAgent":"x"}}');
    await expect(a).resolves.toEqual({ userAgent: 'x' });
    await expect(b).rejects.toEqual(new RpcError(-32600, 'no active turn to steer'));
  });

  it('passes requests and notifications of the peer on, answers requests, and reports malformed lines', () => {
    const { p, sent, got, bad } = peer();
    p.handleLine('{"method":"item/commandExecution/requestApproval","id":0,"params":{"a":1}}');
    p.handleLine('{"method":"turn/started","params":{"b":2}}');
    p.handleLine('not json');
    p.handleLine('[1,2]');
    p.handleLine('{"id":99,"result":{}}');
    expect(got).toEqual([
      ['req', 'item/commandExecution/requestApproval', { id: 0, params: { a: 1 } }],
      ['note', 'turn/started', { b: 2 }],
    ]);
    expect(bad).toEqual(['not json', '[1,2]', '{"id":99,"result":{}}']);
    p.respond(0, { decision: 'accept' });
    p.respondError(5, -32601, 'nope');
    p.notify('initialized');
    expect(sent).toEqual([
      { jsonrpc: '2.0', id: 0, result: { decision: 'accept' } },
      { jsonrpc: '2.0', id: 5, error: { code: -32601, message: 'nope' } },
      { jsonrpc: '2.0', method: 'initialized' },
    ]);
  });

  it('rejects pending and later requests once closed, and a request it could not write', async () => {
    const { p } = peer();
    const pending = p.request('turn/start', {});
    p.close('codex app-server ended');
    await expect(pending).rejects.toBeInstanceOf(RpcClosedError);
    await expect(p.request('x', {})).rejects.toBeInstanceOf(RpcClosedError);
    const dead = new JsonRpcPeer(() => false, { onNotification: () => {}, onRequest: () => {} });
    await expect(dead.request('x', {})).rejects.toBeInstanceOf(RpcClosedError);
  });
});

describe('CodexTurnEvents (notification shapes seen from codex 0.169.0)', () => {
  const T = 'thread-1';
  const U = 'turn-1';
  const feed = (ev: CodexTurnEvents, ...notes: Array<[string, object]>) => notes.flatMap(([m, p]) => ev.push(m, p));
  const item = (kind: 'item/started' | 'item/completed', it: object, threadId = T, turnId = U): [string, object] => [kind, { item: it, threadId, turnId }];

  it('streams agent message deltas, joins messages with a blank line, and fills in text the deltas missed', () => {
    const ev = new CodexTurnEvents(T, '/w');
    ev.setTurnId(U);
    const events = feed(
      ev,
      ['item/agentMessage/delta', { threadId: T, turnId: U, itemId: 'm1', delta: 'Hel' }],
      ['item/agentMessage/delta', { threadId: T, turnId: U, itemId: 'm1', delta: 'lo' }],
      item('item/completed', { type: 'agentMessage', id: 'm1', text: 'Hello' }),
      item('item/completed', { type: 'agentMessage', id: 'm2', text: 'Done.' }),
    );
    expect(events).toEqual([
      { type: 'text', delta: 'Hel' },
      { type: 'text', delta: 'lo' },
      { type: 'text', delta: '\n\nDone.' },
    ]);
    expect(ev.text).toBe('Hello\n\nDone.');
  });

  it('maps command, file change and MCP items to tool steps; remembers file changes; ignores other threads and turns', () => {
    const ev = new CodexTurnEvents(T, '/w');
    ev.setTurnId(U);
    const cmd = { type: 'commandExecution', id: 'c1', command: "/bin/bash -lc 'touch /x'", cwd: '/w', exitCode: null };
    const change = { type: 'fileChange', id: 'f1', changes: [{ path: '/w/a.ts', kind: { type: 'add' }, diff: '+x' }] };
    const mcp = { type: 'mcpToolCall', id: 'p1', server: 'agentbridge', tool: 'post', arguments: { t: 1 } };
    const events = feed(
      ev,
      item('item/started', { ...cmd, status: 'inProgress' }),
      item('item/completed', { ...cmd, status: 'declined' }),
      item('item/started', { ...change, status: 'inProgress' }),
      item('item/completed', { ...change, status: 'completed' }),
      item('item/started', { ...mcp, status: 'inProgress', error: null }),
      item('item/completed', { ...mcp, status: 'failed', error: { message: 'refused' } }),
      item('item/started', { ...cmd, id: 'other', status: 'inProgress' }, 'thread-2'),
      item('item/started', { ...cmd, id: 'old', status: 'inProgress' }, T, 'turn-0'),
      item('item/started', { type: 'reasoning', id: 'r1' }),
    );
    expect(events).toEqual([
      { type: 'tool_start', id: 'c1', name: 'shell', summary: 'touch /x' },
      { type: 'tool_end', id: 'c1', name: 'shell', ok: false, summary: 'declined' },
      { type: 'tool_start', id: 'f1', name: 'apply_patch', summary: 'add a.ts' },
      { type: 'tool_end', id: 'f1', name: 'apply_patch', ok: true, summary: 'completed' },
      { type: 'tool_start', id: 'p1', name: 'agentbridge.post', summary: 'agentbridge.post {"t":1}' },
      { type: 'tool_end', id: 'p1', name: 'agentbridge.post', ok: false, summary: 'refused' },
    ]);
    expect(ev.fileChanges('f1')).toEqual([{ path: '/w/a.ts', kind: { type: 'add' }, diff: '+x' }]);
  });

  it('reports usage (thread totals) and closes open tools at the turn end; keeps the failure message', () => {
    const ev = new CodexTurnEvents(T);
    ev.setTurnId(U);
    const usage = (i: number, o: number) => ({
      totalTokens: i + o,
      inputTokens: i,
      cachedInputTokens: 0,
      cacheWriteInputTokens: 0,
      outputTokens: o,
      reasoningOutputTokens: 0,
    });
    const events = feed(
      ev,
      item('item/started', { type: 'commandExecution', id: 'c1', command: 'sleep 9', status: 'inProgress' }),
      ['thread/tokenUsage/updated', { threadId: T, turnId: U, tokenUsage: { total: usage(300, 30), last: usage(100, 10), modelContextWindow: null } }],
      ['error', { threadId: T, turnId: U, willRetry: true, error: { message: 'Reconnecting... 1/5' } }],
      ['error', { threadId: T, turnId: U, willRetry: false, error: { message: 'boom' } }],
      ['warning', { threadId: null, message: 'Model metadata not found' }],
      ['turn/completed', { threadId: T, turn: { id: U, items: [], status: 'failed', error: { message: 'stream failed' } } }],
    );
    expect(events).toEqual([
      { type: 'tool_start', id: 'c1', name: 'shell', summary: 'sleep 9' },
      { type: 'warning', message: 'Reconnecting... 1/5' },
      { type: 'warning', message: 'boom' },
      { type: 'warning', message: 'Model metadata not found' },
      { type: 'tool_end', id: 'c1', name: 'shell', ok: false, summary: 'interrupted' },
      { type: 'usage', usage: { inputTokens: 300, outputTokens: 30 } },
    ]);
    expect(ev.end).toEqual({ status: 'failed', error: 'stream failed' });
    expect(ev.lastError).toBe('boom');
  });

  it('ignores malformed params and unknown methods', () => {
    const ev = new CodexTurnEvents(T);
    expect(ev.push('item/started', { item: 'x' })).toEqual([]);
    expect(ev.push('turn/completed', { threadId: T, turn: { id: U, status: 'weird' } })).toEqual([]);
    expect(ev.push('some/future/thing', {})).toEqual([]);
    expect(ev.end).toBeUndefined();
  });
});

describe('codex requests → interactions → responses', () => {
  const ask = (m: MappedRequest | undefined) => {
    if (m?.kind !== 'ask') throw new Error(`expected ask, got ${JSON.stringify(m)}`);
    return m;
  };

  it('command approval: unwrapped command preview, rule key, reason; decisions accept/acceptForSession/decline/cancel', () => {
    const m = ask(
      mapServerRequest('item/commandExecution/requestApproval', {
        kind: 'command',
        threadId: 't',
        turnId: 'u',
        itemId: 'c1',
        reason: 'needs network',
        command: "/bin/bash -lc 'git push origin main'",
        cwd: '/w',
      }),
    );
    expect(m.request).toEqual({
      kind: 'approval',
      tool: 'command',
      preview: { format: 'command', text: 'git push origin main' },
      ruleKey: 'git push',
      reason: 'needs network',
    });
    expect(m.respond({ kind: 'allow' })).toEqual({ decision: 'accept' });
    expect(m.respond({ kind: 'allow', always: true })).toEqual({ decision: 'acceptForSession' });
    expect(m.respond({ kind: 'deny', message: 'no' })).toEqual({ decision: 'decline' });
    expect(m.respond({ kind: 'cancel', message: 'stop' })).toEqual({ decision: 'cancel' });
    expect(approvalDecision({ kind: 'answer', answers: {} })).toBe('decline');
  });

  it('file change approval: the item changes as a diff, the path as rule key when one file', () => {
    const changes = [{ path: '/w/a.ts', kind: { type: 'update' as const, move_path: null }, diff: '@@ -1 +1 @@\n-a\n+b\n' }];
    const m = ask(
      mapServerRequest('item/fileChange/requestApproval', { threadId: 't', turnId: 'u', itemId: 'f1', reason: null }, (id) =>
        id === 'f1' ? changes : undefined,
      ),
    );
    expect(m.request).toEqual({
      kind: 'approval',
      tool: 'fileChange',
      preview: { format: 'diff', text: '*** update /w/a.ts\n@@ -1 +1 @@\n-a\n+b' },
      ruleKey: '/w/a.ts',
    });
    expect(m.respond({ kind: 'allow', always: true })).toEqual({ decision: 'acceptForSession' });
    const two = ask(mapServerRequest('item/fileChange/requestApproval', { itemId: 'f2', grantRoot: '/etc' }));
    expect(two.request).toMatchObject({ preview: { format: 'diff', text: 'write access under /etc' }, reason: 'write access under /etc' });
    expect(two.request).not.toHaveProperty('ruleKey');
  });

  it('permissions approval: JSON preview; allow grants what was asked (turn, or session when always); deny grants nothing', () => {
    const permissions = { network: { enabled: true }, fileSystem: null };
    const m = ask(
      mapServerRequest('item/permissions/requestApproval', { threadId: 't', turnId: 'u', itemId: 'p', cwd: '/w', reason: 'fetch deps', permissions }),
    );
    expect(m.request).toEqual({
      kind: 'approval',
      tool: 'permissions',
      preview: { format: 'json', text: JSON.stringify({ network: { enabled: true } }, null, 2) },
      reason: 'fetch deps',
    });
    expect(m.respond({ kind: 'allow' })).toEqual({ permissions: { network: { enabled: true } }, scope: 'turn' });
    expect(m.respond({ kind: 'allow', always: true })).toEqual({ permissions: { network: { enabled: true } }, scope: 'session' });
    expect(m.respond({ kind: 'deny', message: 'no' })).toEqual({ permissions: {}, scope: 'turn' });
  });

  it('requestUserInput: questions with options; the answer in codex shape; deny → no answers', () => {
    const m = ask(
      mapServerRequest('item/tool/requestUserInput', {
        threadId: 't',
        turnId: 'u',
        itemId: 'q',
        isBlocking: false,
        questions: [
          { id: 'color', header: 'Color', question: 'Which?', isOther: true, isSecret: false, options: [{ label: 'Red', description: 'r' }] },
          { id: 'name', header: '', question: 'Name?', isOther: true, isSecret: false, options: null },
        ],
      }),
    );
    expect(m.request).toEqual({
      kind: 'question',
      questions: [
        { id: 'color', header: 'Color', question: 'Which?', options: [{ label: 'Red', description: 'r' }] },
        { id: 'name', question: 'Name?', options: [] },
      ],
    });
    expect(m.respond({ kind: 'answer', answers: { color: 'Red', name: 'Ada', forged: 'x' } })).toEqual({
      answers: { color: { answers: ['Red'] }, name: { answers: ['Ada'] } },
    });
    expect(m.respond({ kind: 'deny', message: 'no' })).toEqual({ answers: {} });
  });

  it('MCP elicitation: a form becomes questions with typed answers; url mode is declined with a note', () => {
    const m = ask(
      mapServerRequest('mcpServer/elicitation/request', {
        threadId: 't',
        turnId: null,
        serverName: 'deploy',
        mode: 'form',
        _meta: null,
        message: 'Confirm the deploy',
        requestedSchema: {
          type: 'object',
          properties: {
            env: { type: 'string', oneOf: [{ const: 'prod', title: 'Production' }] },
            force: { type: 'boolean', title: 'Force it' },
            replicas: { type: 'integer' },
          },
        },
      }),
    );
    expect(m.request).toEqual({
      kind: 'question',
      questions: [
        { id: 'env', header: 'deploy', question: 'Confirm the deploy: env', options: [{ label: 'Production' }] },
        { id: 'force', header: 'deploy', question: 'Confirm the deploy: Force it', options: [{ label: 'Yes' }, { label: 'No' }] },
        { id: 'replicas', header: 'deploy', question: 'Confirm the deploy: replicas', options: [] },
      ],
    });
    expect(m.respond({ kind: 'answer', answers: { env: 'Production', force: 'Yes', replicas: '3' } })).toEqual({
      action: 'accept',
      content: { env: 'prod', force: true, replicas: 3 },
      _meta: null,
    });
    expect(m.respond({ kind: 'deny', message: 'no' })).toEqual({ action: 'decline', content: null, _meta: null });
    expect(m.respond({ kind: 'cancel', message: 'stop' })).toEqual({ action: 'cancel', content: null, _meta: null });

    const url = mapServerRequest('mcpServer/elicitation/request', {
      threadId: 't',
      turnId: null,
      serverName: 'auth',
      mode: 'url',
      _meta: null,
      message: 'Log in',
      url: 'https://x',
      elicitationId: 'e',
    });
    expect(url).toMatchObject({ kind: 'refuse', result: { action: 'decline', content: null, _meta: null } });
    expect((url as { note: string }).note).toMatch(/cannot show \(url mode\): Log in/);
  });

  it('refuses malformed requests with a safe answer and ignores methods it does not map', () => {
    expect(mapServerRequest('item/commandExecution/requestApproval', { command: 42 })).toMatchObject({ kind: 'refuse', result: { decision: 'decline' } });
    expect(mapServerRequest('item/tool/requestUserInput', { questions: 'x' })).toMatchObject({ kind: 'refuse', result: { answers: {} } });
    expect(mapServerRequest('item/permissions/requestApproval', {})).toMatchObject({ kind: 'refuse', result: { permissions: {}, scope: 'turn' } });
    expect(mapServerRequest('item/tool/call', {})).toBeUndefined();
  });
});

describe('commandRuleKey', () => {
  it.each([
    ['touch /tmp/x', 'touch'],
    ['ls -la', 'ls'],
    ['/usr/bin/ls -la', 'ls'],
    ['git push origin main', 'git push'],
    ['git -C repo status', 'git'],
    ['npm install --save-exact zod', 'npm install'],
    ['FOO=1 BAR=2 make build', 'make build'],
    ['"python3" script.py', 'python3'],
    ["sh -c 'echo hi'", 'sh'],
  ])('%s → %s', (command, key) => {
    expect(commandRuleKey(command)).toBe(key);
  });

  it.each(['', '   ', 'ls && rm -rf /', 'cat a | sh', 'echo x > /etc/passwd', 'echo $(whoami)', 'echo `id`', 'a; b', 'sleep 1 &', 'a\nb', 'FOO=1'])(
    'cannot scope %j',
    (command) => {
      expect(commandRuleKey(command)).toBeUndefined();
    },
  );
});

describe('codex session settings and argv', () => {
  it('maps permission modes to sandbox and approval policy (spellings of v2/SandboxMode.ts, v2/AskForApproval.ts)', () => {
    expect(CODEX_THREAD_SETTINGS).toEqual({
      'read-only': { sandbox: 'read-only', approvalPolicy: 'never' },
      ask: { sandbox: 'read-only', approvalPolicy: 'on-request' },
      edit: { sandbox: 'workspace-write', approvalPolicy: 'on-request' },
      full: { sandbox: 'danger-full-access', approvalPolicy: 'never' },
    });
    expect(threadSettings({ cwd: '/w', permissionMode: 'edit', env: {}, model: 'gpt-5', systemPrompt: 'be brief' })).toEqual({
      cwd: '/w',
      sandbox: 'workspace-write',
      approvalPolicy: 'on-request',
      model: 'gpt-5',
      developerInstructions: 'be brief',
    });
  });

  it('puts the MCP server and config overrides in argv, never the token', () => {
    const args = codexAppServerArgs({ mcp: { url: 'http://127.0.0.1:1/mcp', token: 'secret-token' } }, ['model_provider=mock']);
    expect(args[0]).toBe('app-server');
    expect(args).toContain('mcp_servers.agentbridge.url="http://127.0.0.1:1/mcp"');
    expect(args).toContain('mcp_servers.agentbridge.bearer_token_env_var="AGENTBRIDGE_MCP_TOKEN"');
    expect(args.slice(-2)).toEqual(['-c', 'model_provider=mock']);
    expect(args.slice(1, 3)).toEqual(['-c', CODEX_USER_INPUT_FEATURE]); // questions in chat, before the overrides that may turn it off
    expect(args.join(' ')).not.toContain('secret-token');
  });

  it("recognises the session's missing-thread error as a missing session", () => {
    expect(codex.isMissingSession?.('thread/resume failed: no rollout found for thread id 01a2')).toBe(true);
    expect(codex.isMissingSession?.('turn/start failed: boom')).toBe(false);
  });
});
