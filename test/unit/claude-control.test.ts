/** Pure parts of the Claude live session: src/runners/claude/control.ts, session-outcome.ts and the session argv. */
import { describe, expect, it } from 'vitest';
import {
  claudeRuleKey,
  controlResponse,
  fileToolDiff,
  parseControlLine,
  permissionAnswer,
  toInteraction,
  userMessage,
} from '../../src/runners/claude/control.js';
import { addUsage, runUsage, startFailure, turnOutcome, type SessionRun } from '../../src/runners/claude/session-outcome.js';
import { claudeSessionArgs } from '../../src/runners/claude/session.js';

describe('claudeRuleKey', () => {
  it.each([
    ['ls -la', 'ls'],
    ['  rm -rf build  ', 'rm'],
    ['git commit -m "msg"', 'git commit'],
    ['git -C sub status', 'git'],
    ['npm run build', 'npm run'],
    ['npm test', 'npm test'],
    ['docker compose up -d', 'docker compose'],
    ['python3 script.py', 'python3'],
    ['git', 'git'],
  ])('%s → %s', (command, key) => {
    expect(claudeRuleKey(command)).toBe(key);
  });

  it.each(['ls; rm -rf ~', 'cat x | sh', 'echo hi > /etc/passwd', 'make && make install', 'echo $(whoami)', 'echo `id`', 'ls\nrm x', 'sleep 1 &'])(
    'a command with shell syntax (%j) is its own key',
    (command) => {
      expect(claudeRuleKey(command)).toBe(command.trim());
    },
  );

  it('never gives the empty key (which would cover every command)', () => {
    expect(claudeRuleKey('   ')).toBe('<empty>');
  });
});

describe('toInteraction', () => {
  it('maps Bash to a command approval', () => {
    expect(toInteraction('Bash', { command: 'npm run build', description: 'Build it' })).toEqual({
      kind: 'approval',
      tool: 'Bash',
      preview: { format: 'command', text: 'npm run build' },
      ruleKey: 'npm run',
      reason: 'Build it',
    });
  });

  it('maps file tools to a diff keyed by the path', () => {
    expect(toInteraction('Write', { file_path: '/w/a.txt', content: 'one\ntwo' })).toEqual({
      kind: 'approval',
      tool: 'Write',
      preview: { format: 'diff', text: '--- /dev/null\n+++ /w/a.txt\n+one\n+two' },
      ruleKey: '/w/a.txt',
    });
    expect(toInteraction('Edit', { file_path: '/w/a.txt', old_string: 'a\nb', new_string: 'c', replace_all: true })).toMatchObject({
      preview: { format: 'diff', text: '--- /w/a.txt\n+++ /w/a.txt (every occurrence)\n-a\n-b\n+c' },
    });
    expect(
      fileToolDiff('MultiEdit', {
        file_path: '/w/a',
        edits: [
          { old_string: 'x', new_string: 'y' },
          { old_string: 'p', new_string: 'q' },
        ],
      }),
    ).toBe('--- /w/a\n+++ /w/a\n@@\n-x\n+y\n@@\n-p\n+q');
    expect(toInteraction('NotebookEdit', { notebook_path: '/w/n.ipynb', cell_id: 'c1', new_source: 'print(1)', edit_mode: 'replace' })).toEqual({
      kind: 'approval',
      tool: 'NotebookEdit',
      preview: { format: 'diff', text: '--- /w/n.ipynb\n+++ /w/n.ipynb (cell c1, replace)\n+print(1)' },
      ruleKey: '/w/n.ipynb',
    });
  });

  it('shows other tools as JSON without a rule key', () => {
    expect(toInteraction('WebFetch', { url: 'https://example.com' })).toEqual({
      kind: 'approval',
      tool: 'WebFetch',
      preview: { format: 'json', text: '{\n  "url": "https://example.com"\n}' },
    });
  });

  it('maps AskUserQuestion to questions keyed by their text, and ExitPlanMode to a plan', () => {
    const input = { questions: [{ question: 'Q1?', header: 'H', options: [{ label: 'A', description: 'a' }, { label: 'B' }], multiSelect: true }] };
    expect(toInteraction('AskUserQuestion', input)).toEqual({
      kind: 'question',
      questions: [{ id: 'Q1?', question: 'Q1?', header: 'H', options: [{ label: 'A', description: 'a' }, { label: 'B' }], multiSelect: true }],
    });
    expect(toInteraction('ExitPlanMode', { plan: '1. do it' })).toEqual({ kind: 'plan', plan: '1. do it' });
  });

  it('shows a malformed question or plan as an approval of the raw input', () => {
    expect(toInteraction('AskUserQuestion', { questions: 'nope' })).toMatchObject({ kind: 'approval', tool: 'AskUserQuestion', preview: { format: 'json' } });
    expect(toInteraction('ExitPlanMode', {})).toMatchObject({ kind: 'approval', tool: 'ExitPlanMode' });
  });
});

describe('permissionAnswer', () => {
  const input = { command: 'ls' };
  it('allows with the input unchanged, denies with the message', () => {
    expect(permissionAnswer('Bash', input, { kind: 'allow', always: true })).toEqual({ behavior: 'allow', updatedInput: input });
    expect(permissionAnswer('Bash', input, { kind: 'deny', message: 'no' })).toEqual({ behavior: 'deny', message: 'no' });
    expect(permissionAnswer('Bash', input, { kind: 'cancel', message: 'stopped' })).toEqual({ behavior: 'deny', message: 'stopped' });
    expect(permissionAnswer('Bash', input, { kind: 'deny', message: '' })).toEqual({ behavior: 'deny', message: 'Denied.' });
  });

  it('answers questions through updatedInput.answers', () => {
    const q = { questions: [{ question: 'Q?' }] };
    expect(permissionAnswer('AskUserQuestion', q, { kind: 'answer', answers: { 'Q?': 'free text' } })).toEqual({
      behavior: 'allow',
      updatedInput: { ...q, answers: { 'Q?': 'free text' } },
    });
    expect(permissionAnswer('AskUserQuestion', q, { kind: 'allow' }).behavior).toBe('deny');
  });

  it('approves a plan switching the process to acceptEdits', () => {
    expect(permissionAnswer('ExitPlanMode', { plan: 'p' }, { kind: 'approve-plan' })).toEqual({
      behavior: 'allow',
      updatedInput: { plan: 'p' },
      updatedPermissions: [{ type: 'setMode', mode: 'acceptEdits', destination: 'session' }],
    });
  });

  it('denies a decision that does not fit the request', () => {
    expect(permissionAnswer('Bash', input, { kind: 'answer', answers: {} }).behavior).toBe('deny');
    expect(permissionAnswer('Bash', input, { kind: 'approve-plan' }).behavior).toBe('deny');
  });
});

describe('stdin/stdout lines', () => {
  it('builds user messages and control responses', () => {
    expect(userMessage('hi', 'u-1', undefined)).toEqual({
      type: 'user',
      uuid: 'u-1',
      message: { role: 'user', content: 'hi' },
      parent_tool_use_id: null,
      session_id: '',
    });
    expect(controlResponse('r1', { behavior: 'deny', message: 'x' })).toEqual({
      type: 'control_response',
      response: { subtype: 'success', request_id: 'r1', response: { behavior: 'deny', message: 'x' } },
    });
  });

  it('parses control lines and rejects malformed ones', () => {
    expect(
      parseControlLine({
        type: 'control_request',
        request_id: 'a',
        request: { subtype: 'can_use_tool', tool_name: 'Bash', input: { command: 'ls' }, tool_use_id: 't' },
      }),
    ).toEqual({ kind: 'can_use_tool', requestId: 'a', toolName: 'Bash', input: { command: 'ls' }, toolUseId: 't' });
    expect(parseControlLine({ type: 'control_request', request_id: 'b', request: { subtype: 'can_use_tool', tool_name: 'Bash', input: 'ls' } })).toEqual({
      kind: 'unsupported_request',
      requestId: 'b',
    });
    expect(parseControlLine({ type: 'control_request', request: {} })).toBeUndefined();
    expect(parseControlLine({ type: 'control_response', response: { subtype: 'success', request_id: 'r1' } })).toEqual({
      kind: 'control_response',
      requestId: 'r1',
      ok: true,
    });
    expect(parseControlLine({ type: 'control_response', response: { subtype: 'error', request_id: 'r2', error: 'bad' } })).toEqual({
      kind: 'control_response',
      requestId: 'r2',
      ok: false,
      error: 'bad',
    });
    expect(parseControlLine({ type: 'control_cancel_request', request_id: 'a' })).toEqual({ kind: 'cancel', requestId: 'a' });
    expect(parseControlLine({ type: 'user', isReplay: true, uuid: 'u-1', message: {} })).toEqual({ kind: 'replay', uuid: 'u-1' });
    expect(parseControlLine({ type: 'user', message: { content: [] } })).toBeUndefined();
    expect(parseControlLine({ type: 'assistant' })).toBeUndefined();
    expect(parseControlLine(null)).toBeUndefined();
  });
});

describe('claudeSessionArgs', () => {
  it('adds the stream-json input, stdio permission prompts and replays to the one-shot flags; no prompt', () => {
    expect(claudeSessionArgs({ cwd: '/w', env: {}, permissionMode: 'ask' })).toEqual([
      '-p',
      '--input-format',
      'stream-json',
      '--output-format',
      'stream-json',
      '--verbose',
      '--permission-mode',
      'default',
      '--permission-prompt-tool',
      'stdio',
      '--replay-user-messages',
    ]);
    const args = claudeSessionArgs({
      cwd: '/w',
      env: {},
      permissionMode: 'full',
      model: 'sonnet',
      resumeSessionId: 'abc',
      forkSession: true,
      resumeAt: 'u-1',
      systemPrompt: 'be brief',
      mcp: { url: 'http://127.0.0.1:9/mcp', token: 'secret-token' },
    });
    expect(args.join(' ')).toContain('--model sonnet --permission-mode bypassPermissions --resume abc --fork-session --resume-session-at u-1');
    expect(args).toContain('--mcp-config');
    expect(args.at(-4)).toBe('be brief');
    expect(args.join(' ')).not.toContain('secret-token');
  });
});

describe('session outcome (src/runners/claude/session-outcome.ts)', () => {
  const ok = (text: string): SessionRun => ({ isError: false, text });
  const base = { timeoutMs: 30_000, answered: true, streamed: 'streamed' };

  it('joins the answers of every run; a stop or the time limit wins over the runs', () => {
    expect(turnOutcome({ ...base, runs: [ok('one')] }, undefined)).toEqual({ ok: true, text: 'one' });
    expect(turnOutcome({ ...base, runs: [ok('one'), ok(' '), ok('two')] }, undefined)).toEqual({ ok: true, text: 'one\n\ntwo' });
    expect(turnOutcome({ ...base, runs: [ok('')] }, undefined)).toEqual({ ok: true, text: 'streamed' });
    expect(turnOutcome({ ...base, stopping: 'timeout', runs: [ok('one')] }, undefined)).toEqual({
      ok: false,
      text: 'streamed',
      error: { kind: 'timeout', message: 'no answer within 30 s' },
    });
    expect(turnOutcome({ ...base, stopping: 'stopped', runs: [] }, undefined).error).toEqual({ kind: 'stopped', message: 'stopped on request' });
  });

  it('classifies a failed last run like a one-shot turn, and reports a process that ended mid-turn', () => {
    const failed: SessionRun = { isError: true, text: '', errorText: 'Request rejected · slow down', apiErrorStatus: 429 };
    expect(turnOutcome({ ...base, runs: [failed] }, undefined).error).toEqual({ kind: 'usage_limit', message: 'Request rejected · slow down' });
    const exit = { exitCode: null, exitSignal: 'SIGKILL' as const, stderr: 'boom\nlast words\n' };
    expect(turnOutcome({ ...base, answered: false, runs: [ok('one')] }, exit).error).toEqual({
      kind: 'crashed',
      message: 'claude ended during the turn (killed by SIGKILL): boom last words',
    });
  });

  it('reports a start failure with stderr (a missing session stays recognisable), or how it ended', () => {
    expect(startFailure({ exitCode: 1, exitSignal: null, stderr: 'No conversation found with session ID: abc\n' })).toEqual({
      kind: 'crashed',
      message: 'No conversation found with session ID: abc',
    });
    expect(startFailure({ exitCode: 1, exitSignal: null, stderr: 'Invalid API key · Please run /login' }).kind).toBe('not_authenticated');
    expect(startFailure({ exitCode: 3, exitSignal: null, stderr: '' })).toEqual({ kind: 'crashed', message: 'claude ended before it was ready (exit code 3)' });
    const enoent = Object.assign(new Error('spawn x ENOENT'), { code: 'ENOENT' });
    expect(startFailure({ exitCode: null, exitSignal: null, stderr: '', spawnError: enoent }).kind).toBe('not_installed');
  });

  it('counts a run’s tokens and the cost it added to the process total', () => {
    const line = { usage: { input_tokens: 10, cache_read_input_tokens: 5, output_tokens: 3 }, total_cost_usd: 0.3 };
    expect(runUsage(line, 0.1)).toEqual({ inputTokens: 15, outputTokens: 3, costUsd: expect.closeTo(0.2, 10) });
    expect(runUsage({}, 0)).toBeUndefined();
    expect(addUsage(undefined, { inputTokens: 1 })).toEqual({ inputTokens: 1 });
    expect(addUsage({ inputTokens: 1, costUsd: 0.5 }, { inputTokens: 2, outputTokens: 4 })).toEqual({ inputTokens: 3, outputTokens: 4, costUsd: 0.5 });
  });
});
