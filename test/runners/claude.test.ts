/**
 * The Claude Code runner against the real `claude` CLI (node_modules/.bin/claude) talking to
 * the scripted Anthropic server in test/models/anthropic.ts.
 *
 * Child env per test (on top of the sandbox's isolated HOME/CLAUDE_CONFIG_DIR/TMPDIR):
 * - ANTHROPIC_BASE_URL=<scripted server> (no /v1), ANTHROPIC_API_KEY=test-key: local model.
 * - CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC=1: no telemetry/update/side traffic.
 * - CLAUDE_CODE_MAX_RETRIES=0: a scripted 429/500 fails the turn at once instead of retrying
 *   with backoff (which would take minutes).
 * - DISABLE_AUTOUPDATER=1: never try to update the pinned CLI.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { settleProcessCleanups } from '../../src/runners/process.js';
import { createRunner } from '../../src/runners/define.js';
import { ClaudeEventParser, summarizeToolUse } from '../../src/runners/claude/events.js';
import { claude, claudeArgs } from '../../src/runners/claude/index.js';
import type { Runner, RunEvent, RunRequest } from '../../src/runners/types.js';
import { processesMentioning } from '../helpers/procs.js';
import { makeSandbox, waitFor, type Sandbox } from '../helpers/sandbox.js';
import { claudeCliEnv } from '../helpers/agentbridge.js';
import { allText, lastUserText, sequence, startAnthropicModel, toolResults, type AnthropicModel } from '../models/anthropic.js';

let model: AnthropicModel;
let sandboxes: Sandbox[] = [];

beforeEach(async () => {
  model = await startAnthropicModel();
});

afterEach(async () => {
  // A turn ends at the CLI's final event; its process may still be exiting (and writing into the sandbox).
  await settleProcessCleanups(30_000);
  await model.close();
  for (const sb of sandboxes) sb.cleanup();
  sandboxes = [];
});

function sandbox(extra: NodeJS.ProcessEnv = {}): Sandbox {
  const sb = makeSandbox({ ...claudeCliEnv(model.url), ...extra });
  sandboxes.push(sb);
  return sb;
}

function request(sb: Sandbox, over: Partial<RunRequest> = {}): RunRequest {
  return { prompt: 'hello', cwd: sb.workdir, env: sb.env, permissionMode: 'edit', timeoutMs: 45_000, ...over };
}

async function runTurn(runner: Runner, req: RunRequest) {
  const events: RunEvent[] = [];
  const started = Date.now();
  const result = await runner.run(req, (e) => events.push(e));
  return { result, events, ms: Date.now() - started };
}

/** A ~200 KB prompt (over Linux's 128 KiB per-argument limit) that starts with "-" and spans many lines. */
function bigPrompt(): string {
  const lines = ['--version -p starts like a flag'];
  for (let i = 0; lines.join('\n').length < 200_000; i++) lines.push(`line ${i}: the quick brown fox jumps over the lazy dog — ü ✓`);
  return lines.join('\n');
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

describe('the claude runner with the real claude CLI', () => {
  it('returns the model text, the session id and usage for a plain turn', async () => {
    const sb = sandbox();
    model.setResponder(sequence({ text: 'Hello from the scripted model.' }));
    const { result, events } = await runTurn(createRunner(claude), request(sb, { prompt: 'say hello please' }));

    expect(result.error).toBeUndefined();
    expect(result.ok).toBe(true);
    // The run ends at the `result` line, usually before the exit (then null).
    expect([0, null]).toContain(result.exitCode);
    expect(result.text).toBe('Hello from the scripted model.');
    expect(result.sessionId).toMatch(UUID);
    expect(events[0]).toEqual({ type: 'session', sessionId: result.sessionId });
    const streamed = events.flatMap((e) => (e.type === 'text' ? [e.delta] : [])).join('');
    expect(streamed).toBe('Hello from the scripted model.');
    expect(result.usage?.inputTokens).toBeGreaterThan(0);
    expect(result.usage?.outputTokens).toBeGreaterThan(0);
    expect(result.usage?.costUsd).toBeGreaterThanOrEqual(0);
    expect(events.some((e) => e.type === 'usage')).toBe(true);

    const main = model.mainRequests();
    expect(main).toHaveLength(1);
    expect(lastUserText(main[0]!)).toBe('say hello please');
    expect(main[0]!.stream).toBe(true);
    expect(main[0]!.body.tools?.map((t) => t.name)).toContain('Bash');
  });

  it('runs a Bash tool round trip and sends the tool result back to the model', async () => {
    const sb = sandbox();
    model.setResponder(
      sequence(
        { toolUse: { name: 'Bash', input: { command: 'echo tool-marker-$((6*7))', description: 'Print the marker' } } },
        { text: 'The command printed the marker.' },
      ),
    );
    const { result, events } = await runTurn(createRunner(claude), request(sb, { prompt: 'run the marker command', permissionMode: 'full' }));

    expect(result.error).toBeUndefined();
    expect(result.ok).toBe(true);
    expect(result.text).toBe('The command printed the marker.');

    const main = model.mainRequests();
    expect(main).toHaveLength(2);
    const results = toolResults(main[1]!);
    expect(results).toHaveLength(1);
    expect(results[0]!.text).toContain('tool-marker-42');
    expect(results[0]!.isError).toBe(false);

    const start = events.find((e) => e.type === 'tool_start');
    const end = events.find((e) => e.type === 'tool_end');
    expect(start).toMatchObject({ type: 'tool_start', name: 'Bash', summary: 'Bash: echo tool-marker-$((6*7))' });
    expect(end).toMatchObject({ type: 'tool_end', name: 'Bash', ok: true, summary: 'tool-marker-42' });
    expect(start && end && start.id === end.id).toBe(true);
    expect(events.indexOf(start!)).toBeLessThan(events.indexOf(end!));
  });

  it('resumes the session: the second turn carries the first turn to the model', async () => {
    const sb = sandbox();
    const runner = createRunner(claude);
    const first = await runTurn(runner, request(sb, { prompt: 'remember the word pelican' }));
    expect(first.result.ok).toBe(true);
    expect(first.result.text).toBe('echo: remember the word pelican');
    const sessionId = first.result.sessionId!;
    expect(sessionId).toMatch(UUID);

    const second = await runTurn(runner, request(sb, { prompt: 'which word?', resumeSessionId: sessionId }));
    expect(second.result.error).toBeUndefined();
    expect(second.result.ok).toBe(true);
    expect(second.result.text).toBe('echo: which word?');
    expect(second.result.sessionId).toBe(sessionId);

    const main = model.mainRequests();
    expect(main).toHaveLength(2);
    const history = allText(main[1]!);
    expect(history).toContain('remember the word pelican');
    expect(history).toContain('echo: remember the word pelican');
    expect(lastUserText(main[1]!)).toBe('which word?');
  });

  it('forks a resumed session into a new session id', async () => {
    const sb = sandbox();
    const runner = createRunner(claude);
    const first = await runTurn(runner, request(sb, { prompt: 'fork base turn' }));
    expect(first.result.ok).toBe(true);
    const forked = await runTurn(runner, request(sb, { prompt: 'forked turn', resumeSessionId: first.result.sessionId!, forkSession: true }));
    expect(forked.result.ok).toBe(true);
    expect(forked.result.sessionId).toMatch(UUID);
    expect(forked.result.sessionId).not.toBe(first.result.sessionId);
    expect(forked.events.filter((e) => e.type === 'session').at(-1)).toEqual({ type: 'session', sessionId: forked.result.sessionId });
    expect(allText(model.mainRequests()[1]!)).toContain('echo: fork base turn');
  });

  it.each([
    { status: 429, message: 'Scripted rate limit: slow down', kind: 'usage_limit' },
    { status: 500, message: 'Scripted internal failure', kind: 'api_error' },
  ])('reports a model HTTP $status as $kind with the provider message', async ({ status, message, kind }) => {
    const sb = sandbox();
    model.setResponder(sequence({ error: { status, message } }));
    const { result, events } = await runTurn(createRunner(claude), request(sb));

    expect(result.ok).toBe(false);
    expect(result.error?.kind).toBe(kind);
    expect(result.error?.message).toContain(message);
    expect(result.sessionId).toMatch(UUID);
    // The CLI's own error notice is not streamed as answer text.
    expect(events.filter((e) => e.type === 'text')).toEqual([]);
    expect(result.text).toBe('');
    expect(model.mainRequests()).toHaveLength(1); // no retries with CLAUDE_CODE_MAX_RETRIES=0
  });

  it('stops a hanging turn on abort and leaves no process behind', async () => {
    const sb = sandbox();
    model.setResponder(() => ({ hang: true }));
    const ac = new AbortController();
    const events: RunEvent[] = [];
    const running = createRunner(claude).run(request(sb, { signal: ac.signal }), (e) => events.push(e));

    await waitFor(() => model.mainRequests().length >= 1, 30_000, 'the model to receive the request');
    const abortedAt = Date.now();
    ac.abort();
    const result = await running;
    const stopMs = Date.now() - abortedAt;

    expect(result.ok).toBe(false);
    expect(result.error?.kind).toBe('stopped');
    expect(stopMs).toBeLessThan(10_000);
    expect(events.some((e) => e.type === 'session')).toBe(true);
    expect(processesMentioning(sb.root)).toEqual([]);
  });

  it('stops a turn while a tool command runs and kills the command too', async () => {
    const sb = sandbox();
    model.setResponder(sequence({ toolUse: { name: 'Bash', input: { command: 'sleep 120', description: 'Wait' } } }, { text: 'unreachable' }));
    const ac = new AbortController();
    const events: RunEvent[] = [];
    const running = createRunner(claude).run(request(sb, { signal: ac.signal, permissionMode: 'full' }), (e) => events.push(e));

    await waitFor(() => events.some((e) => e.type === 'tool_start'), 30_000, 'the Bash tool to start');
    await waitFor(() => processesMentioning(sb.root).some((p) => p.cmd.includes('sleep')), 10_000, 'the sleep command to run');
    const abortedAt = Date.now();
    ac.abort();
    const result = await running;

    expect(result.error?.kind).toBe('stopped');
    expect(Date.now() - abortedAt).toBeLessThan(10_000);
    expect(processesMentioning(sb.root)).toEqual([]);
    expect(model.mainRequests()).toHaveLength(1);
  });

  it('reports a timeout when the turn exceeds timeoutMs', async () => {
    const sb = sandbox();
    model.setResponder(() => ({ hang: true }));
    const { result, ms } = await runTurn(createRunner(claude), request(sb, { timeoutMs: 4_000 }));
    expect(result.ok).toBe(false);
    expect(result.error?.kind).toBe('timeout');
    expect(ms).toBeLessThan(15_000);
    expect(processesMentioning(sb.root)).toEqual([]);
  });

  it('reports not_installed for a missing executable', async () => {
    const sb = sandbox();
    const { result } = await runTurn(createRunner(claude, { bin: '/nonexistent/claude' }), request(sb));
    expect(result.ok).toBe(false);
    expect(result.error?.kind).toBe('not_installed');
    expect(model.requests).toHaveLength(0);
  });

  it('probes installation, version and authentication without calling a model', async () => {
    const sb = sandbox();
    const probe = await createRunner(claude).probe(sb.env);
    expect(probe).toMatchObject({ agent: 'claude', installed: true, version: '2.1.197', authenticated: true });
    expect(probe.bin).toMatch(/claude/);

    const noKey = { ...sb.env, ANTHROPIC_API_KEY: undefined };
    expect((await createRunner(claude).probe(noKey)).authenticated).toBe(false);

    const missing = await createRunner(claude, { bin: '/nonexistent/claude' }).probe(sb.env);
    expect(missing).toMatchObject({ installed: false, authenticated: true });
    expect(model.allCalls).toHaveLength(0);
  });
});

describe('the claude runner prompt over stdin (real claude CLI)', () => {
  it('delivers a prompt starting with "-" and a ~200 KB prompt intact', async () => {
    const sb = sandbox();
    const runner = createRunner(claude);
    const dash = await runTurn(runner, request(sb, { prompt: '-x --help is not a flag' }));
    expect(dash.result.ok).toBe(true);
    expect(lastUserText(model.mainRequests().at(-1)!)).toBe('-x --help is not a flag');

    const prompt = bigPrompt();
    expect(prompt.length).toBeGreaterThan(200_000);
    model.setResponder(sequence({ text: 'got the big one' }));
    const big = await runTurn(runner, request(sb, { prompt }));
    expect(big.result.error).toBeUndefined();
    expect(big.result.text).toBe('got the big one');
    expect(lastUserText(model.mainRequests().at(-1)!)).toBe(prompt);
    // The assistant message's uuid is reported as the point to resume at.
    expect(big.result.resumeAt).toMatch(UUID);
  });
});

describe('claudeArgs', () => {
  it('maps the request to flags; the prompt is never in argv (it goes to stdin)', () => {
    const base: RunRequest = { prompt: '-x hi', cwd: '/w', env: {}, permissionMode: 'read-only', timeoutMs: 1 };
    expect(claudeArgs(base)).toEqual(['-p', '--output-format', 'stream-json', '--verbose', '--permission-mode', 'plan']);
    expect(claudeArgs({ ...base, permissionMode: 'full', model: 'sonnet', resumeSessionId: 'abc', forkSession: true, systemPrompt: 'be brief' })).toEqual([
      '-p',
      '--output-format',
      'stream-json',
      '--verbose',
      '--model',
      'sonnet',
      '--permission-mode',
      'bypassPermissions',
      '--resume',
      'abc',
      '--fork-session',
      '--append-system-prompt',
      'be brief',
    ]);
    expect(claudeArgs({ ...base, resumeSessionId: 'abc', resumeAt: 'u-1' })).toEqual([
      '-p',
      '--output-format',
      'stream-json',
      '--verbose',
      '--permission-mode',
      'plan',
      '--resume',
      'abc',
      '--resume-session-at',
      'u-1',
    ]);
    expect(claudeArgs({ ...base, permissionMode: 'edit', forkSession: true })).toContain('acceptEdits');
    expect(claudeArgs({ ...base, forkSession: true })).not.toContain('--fork-session');
    expect(claudeArgs({ ...base, resumeAt: 'u-1' })).not.toContain('--resume-session-at');
  });
});

describe('ClaudeEventParser', () => {
  const line = (v: unknown) => JSON.stringify(v);
  const assistant = (content: unknown[], extra: object = {}) =>
    line({ type: 'assistant', message: { model: 'm', content }, session_id: 's1', parent_tool_use_id: null, ...extra });

  it('separates text chunks with a blank line and ignores junk, unknown types, synthetic and sub-agent text', () => {
    const p = new ClaudeEventParser('/w');
    const events = [
      'not json',
      line({ type: 'system', subtype: 'init', session_id: 's1' }),
      line({ type: 'mystery', session_id: 's1' }),
      assistant([
        { type: 'thinking', thinking: 'hmm' },
        { type: 'text', text: 'First.' },
      ]),
      assistant([{ type: 'text', text: 'inner' }], { parent_tool_use_id: 'toolu_1' }),
      assistant([{ type: 'text', text: 'API Error: nope' }], { message: { model: '<synthetic>', content: [{ type: 'text', text: 'API Error: nope' }] } }),
      assistant([{ type: 'text', text: 'Second.' }]),
      line({
        type: 'result',
        is_error: false,
        result: 'Second.',
        session_id: 's2',
        total_cost_usd: 0.5,
        usage: { input_tokens: 3, cache_read_input_tokens: 4, output_tokens: 2 },
      }),
    ].flatMap((l) => p.push(l));
    expect(events).toEqual([
      { type: 'session', sessionId: 's1' },
      { type: 'text', delta: 'First.' },
      { type: 'text', delta: '\n\nSecond.' },
      { type: 'session', sessionId: 's2' },
      { type: 'usage', usage: { inputTokens: 7, outputTokens: 2, costUsd: 0.5 } },
    ]);
    expect(p.text).toBe('First.\n\nSecond.');
    expect(p.sessionId).toBe('s2');
    expect(p.lastErrorText).toBe('API Error: nope');
    expect(p.result).toMatchObject({ isError: false, text: 'Second.' });
  });

  it('summarises tool calls on one line, at most 200 characters', () => {
    expect(summarizeToolUse('Edit', { file_path: '/w/src/x.ts' }, '/w')).toBe('Edit: src/x.ts');
    expect(summarizeToolUse('Read', { file_path: '/etc/hosts' }, '/w')).toBe('Read: /etc/hosts');
    expect(summarizeToolUse('Bash', { command: 'ls -la\n  pwd' })).toBe('Bash: ls -la pwd');
    expect(summarizeToolUse('Mystery', {})).toBe('Mystery');
    const long = summarizeToolUse('Bash', { command: 'x'.repeat(500) });
    expect(long).toHaveLength(200);
    expect(long.endsWith('…')).toBe(true);
  });
});
