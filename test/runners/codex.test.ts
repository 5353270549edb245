/**
 * The Codex runner against the real `codex` CLI (@openai/codex 0.169.0) and the scripted OpenAI
 * Responses API server. Each test has its own sandbox (isolated HOME/CODEX_HOME) and server; codex
 * uses the server as custom provider `mock` with retries off and its own network traffic off
 * (see `codexMockProviderArgs`).
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { settleProcessCleanups } from '../../src/runners/process.js';
import { createRunner } from '../../src/runners/define.js';
import { codex } from '../../src/runners/codex/index.js';
import { CodexEventParser, unwrapShell } from '../../src/runners/codex/events.js';
import type { Runner, RunEvent, RunRequest } from '../../src/runners/types.js';
import { processesMentioning } from '../helpers/procs.js';
import { makeSandbox, waitFor, type Sandbox } from '../helpers/sandbox.js';
import {
  allText,
  codexMockProviderArgs,
  functionCallOutputs,
  lastUserText,
  sequence,
  startOpenAIModel,
  type OpenAIModel,
  type Reply,
  type Responder,
} from '../models/openai.js';

/**
 * Waits until no process mentions the sandbox. codex's group is killed when the run ends, but the
 * login shell codex starts to snapshot the shell environment (`bash -lc … # Snapshot file`) runs
 * outside it and ends by itself: on a heavily loaded machine it can outlive the run by seconds.
 * A codex that was not killed hangs on the held model request and fails this.
 */
async function noProcessLeft(sandbox: Sandbox): Promise<void> {
  await waitFor(
    () => processesMentioning(sandbox.root).length === 0,
    20_000,
    () => `no process mentioning the sandbox; left: ${JSON.stringify(processesMentioning(sandbox.root).map((p) => p.cmd.slice(0, 80)))}`,
  );
}

const cleanups: Array<() => void | Promise<void>> = [];
afterEach(async () => {
  // A turn ends at the CLI's final event; its process may still be exiting (and writing into the sandbox).
  await settleProcessCleanups(30_000);
  for (const c of cleanups.splice(0).reverse()) await c();
});

interface Setup {
  model: OpenAIModel;
  sandbox: Sandbox;
  runner: Runner;
  req: (prompt: string, extra?: Partial<RunRequest>) => RunRequest;
}

async function setup(respond?: Responder): Promise<Setup> {
  const model = await startOpenAIModel(respond);
  cleanups.push(() => model.close());
  const sandbox = makeSandbox({ MOCK_KEY: 'mock-key' });
  cleanups.push(() => sandbox.cleanup());
  const runner = createRunner(codex, { configOverrides: codexMockProviderArgs(model.url), killGraceMs: 1000 });
  const req = (prompt: string, extra: Partial<RunRequest> = {}): RunRequest => ({
    prompt,
    cwd: sandbox.workdir,
    permissionMode: 'read-only',
    model: 'gpt-5',
    timeoutMs: 45_000,
    env: sandbox.env,
    ...extra,
  });
  return { model, sandbox, runner, req };
}

/** A ~200 KB prompt (over Linux's 128 KiB per-argument limit) that starts with "-" and spans many lines. */
function bigPrompt(): string {
  const lines = ['--version -p starts like a flag'];
  for (let i = 0; lines.join('\n').length < 200_000; i++) lines.push(`line ${i}: the quick brown fox jumps over the lazy dog — ü ✓`);
  return lines.join('\n');
}

function collect(): { events: RunEvent[]; on: (e: RunEvent) => void } {
  const events: RunEvent[] = [];
  return { events, on: (e) => events.push(e) };
}

describe('the codex runner with the real codex CLI', () => {
  it('delivers a prompt starting with "-" and a ~200 KB prompt intact (over stdin), also on resume', async () => {
    const { model, runner, req } = await setup(sequence({ text: 'ok dash' }, { text: 'ok big' }));
    const dash = await runner.run(req('-x --help is not a flag'), () => {});
    expect(dash.error).toBeUndefined();
    expect(lastUserText(model.mainRequests().at(-1)!)).toBe('-x --help is not a flag');

    const prompt = bigPrompt();
    const big = await runner.run(req(prompt, { resumeSessionId: dash.sessionId }), () => {});
    expect(big.error).toBeUndefined();
    expect(big.text).toBe('ok big');
    expect(big.sessionId).toBe(dash.sessionId);
    expect(lastUserText(model.mainRequests().at(-1)!)).toBe(prompt);
  });

  it('runs a plain text turn: ok, answer text, thread id as session', async () => {
    const { model, runner, req } = await setup();
    const { events, on } = collect();

    const result = await runner.run(req('hello codex'), on);

    expect(result.error).toBeUndefined();
    expect(result.ok).toBe(true);
    // The run ends at `turn.completed`, usually before the exit (then null).
    expect([0, null]).toContain(result.exitCode);
    expect(result.text).toBe('echo: hello codex');
    expect(result.sessionId).toMatch(/^[0-9a-f-]{36}$/);
    expect(events[0]).toEqual({ type: 'session', sessionId: result.sessionId });
    expect(events).toContainEqual({ type: 'text', delta: 'echo: hello codex' });
    expect(events).toContainEqual({ type: 'usage', usage: { inputTokens: 100, outputTokens: 10 } });
    expect(model.mainRequests()).toHaveLength(1);
    expect(lastUserText(model.mainRequests()[0]!)).toBe('hello codex');
  });

  it('round-trips a shell tool call (exec_command) and reports tool events', async () => {
    const { model, runner, req } = await setup(
      sequence({ toolCall: { name: 'exec_command', arguments: { cmd: 'echo tool-marker-$((6*7))' } } }, { text: 'the command ran' }),
    );
    const { events, on } = collect();

    const result = await runner.run(req('run the marker command', { permissionMode: 'full' }), on);

    expect(result.error).toBeUndefined();
    expect(result.ok).toBe(true);
    expect(result.text).toBe('the command ran');
    const main = model.mainRequests();
    expect(main).toHaveLength(2);
    expect(main[0]!.tools?.some((t) => t.name === 'exec_command')).toBe(true);
    const outputs = functionCallOutputs(main[1]!);
    expect(outputs).toHaveLength(1);
    expect(outputs[0]!.output).toContain('tool-marker-42');
    const start = events.find((e) => e.type === 'tool_start');
    expect(start).toMatchObject({ type: 'tool_start', name: 'shell', summary: 'echo tool-marker-$((6*7))' });
    const end = events.find((e) => e.type === 'tool_end');
    expect(end).toMatchObject({ type: 'tool_end', id: (start as { id: string }).id, name: 'shell', ok: true, summary: 'exit 0' });
    expect(events.indexOf(start!)).toBeLessThan(events.indexOf(end!));
  });

  it('enforces the read-only sandbox: a write in the workdir fails', async () => {
    const { model, sandbox, runner, req } = await setup(
      sequence({ toolCall: { name: 'exec_command', arguments: { cmd: 'touch made-by-codex; echo rc=$?' } } }, { text: 'tried' }),
    );

    const result = await runner.run(req('try to write', { permissionMode: 'read-only' }), () => {});

    expect(result.ok).toBe(true);
    expect(fs.existsSync(path.join(sandbox.workdir, 'made-by-codex'))).toBe(false);
    const output = functionCallOutputs(model.mainRequests()[1]!)[0]!.output;
    expect(output).toMatch(/Read-only file system/);
  });

  it('resumes a thread: the second request carries the first turn', async () => {
    const { model, runner, req } = await setup();

    const first = await runner.run(req('first question about apples'), () => {});
    expect(first.ok).toBe(true);
    const second = await runner.run(req('second question', { resumeSessionId: first.sessionId }), () => {});

    expect(second.error).toBeUndefined();
    expect(second.ok).toBe(true);
    expect(second.sessionId).toBe(first.sessionId);
    expect(second.text).toBe('echo: second question');
    const main = model.mainRequests();
    expect(main).toHaveLength(2);
    expect(lastUserText(main[1]!)).toBe('second question');
    const carried = allText(main[1]!);
    expect(carried).toContain('first question about apples');
    expect(carried).toContain('echo: first question about apples');
  });

  // codex 0.169.0 discards the HTTP body of 429 and 500 answers and reports its own text; other
  // statuses and in-stream `response.failed` errors carry the provider's message.
  it.each<[string, Reply, string, RegExp]>([
    ['HTTP 429', { error: { status: 429, message: 'Rate limit reached for gpt-5' } }, 'usage_limit', /429 Too Many Requests/],
    ['HTTP 500', { error: { status: 500, message: 'boom' } }, 'api_error', /high demand/],
    [
      'HTTP 503 with a body',
      { error: { status: 503, message: 'upstream overloaded, try later' } },
      'api_error',
      /503 Service Unavailable: upstream overloaded, try later$/,
    ],
    [
      'response.failed rate_limit_exceeded',
      { failed: { code: 'rate_limit_exceeded', message: 'Rate limit reached for gpt-5 on tokens per min. Please try again in 20s.' } },
      'usage_limit',
      /Rate limit reached for gpt-5 on tokens per min/,
    ],
  ])('maps a model error (%s) to a failed turn', async (_name, reply, kind, message) => {
    const { model, runner, req } = await setup(sequence(reply));
    const { events, on } = collect();

    const result = await runner.run(req('this will fail'), on);

    expect(result.ok).toBe(false);
    // The run ends at `turn.failed`, usually before the exit (1; then null).
    expect([1, null]).toContain(result.exitCode);
    expect(result.error?.kind).toBe(kind);
    expect(result.error?.message).toMatch(message);
    expect(result.sessionId).toBeTruthy();
    expect(events.some((e) => e.type === 'warning')).toBe(true);
    expect(model.requests).toHaveLength(1); // retries are off
  });

  it('stops a hanging turn on abort and leaves no process behind', async () => {
    const { model, sandbox, runner, req } = await setup(sequence({ hang: true }));
    const ac = new AbortController();

    const started = Date.now();
    const pending = runner.run(req('hang please', { signal: ac.signal }), () => {});
    await waitFor(() => model.mainRequests().length === 1, 20_000, 'the model request');
    expect(processesMentioning(sandbox.root).length).toBeGreaterThan(0);
    ac.abort();
    const result = await pending;

    expect(result.ok).toBe(false);
    expect(result.error?.kind).toBe('stopped');
    expect(result.sessionId).toBeTruthy();
    expect(Date.now() - started).toBeLessThan(15_000);
    await noProcessLeft(sandbox);
  });

  it('reports a timeout when the turn takes too long', async () => {
    const { sandbox, runner, req } = await setup(sequence({ hang: true }));

    const result = await runner.run(req('hang please', { timeoutMs: 2_000 }), () => {});

    expect(result.ok).toBe(false);
    expect(result.error?.kind).toBe('timeout');
    await noProcessLeft(sandbox);
  });

  it('reports not_installed for a missing executable', async () => {
    const sandbox = makeSandbox();
    cleanups.push(() => sandbox.cleanup());
    const req: RunRequest = { prompt: 'hi', cwd: sandbox.workdir, permissionMode: 'read-only', timeoutMs: 10_000, env: sandbox.env };

    for (const bin of [path.join(sandbox.root, 'no-such-dir/codex'), 'codex-not-installed-anywhere']) {
      const runner = createRunner(codex, { bin });
      const result = await runner.run(req, () => {});
      expect(result.ok).toBe(false);
      expect(result.error?.kind).toBe('not_installed');
      const probe = await runner.probe(sandbox.env);
      expect(probe).toMatchObject({ agent: 'codex', installed: false });
    }
    // On PATH but not startable (ENOENT from the driver): the PATH lookup only sees executables,
    // so simulate with an executable whose interpreter is missing.
    const broken = path.join(sandbox.root, 'codex-broken');
    fs.writeFileSync(broken, '#!/no/such/interpreter\n', { mode: 0o755 });
    const result = await createRunner(codex, { bin: broken }).run(req, () => {});
    expect(result.error?.kind).toBe('not_installed');
  });

  it('probes version and authentication without calling a model', async () => {
    const { model, sandbox, runner } = await setup();

    const none = await runner.probe(sandbox.env);
    expect(none).toMatchObject({ agent: 'codex', installed: true, version: '0.169.0', authenticated: false });
    expect(none.bin).toMatch(/codex$/);

    expect((await runner.probe({ ...sandbox.env, OPENAI_API_KEY: 'sk-x' })).authenticated).toBe(true);
    expect((await runner.probe({ ...sandbox.env, CODEX_API_KEY: 'x' })).authenticated).toBe(true);
    fs.writeFileSync(path.join(sandbox.env.CODEX_HOME!, 'auth.json'), '{}');
    expect((await runner.probe(sandbox.env)).authenticated).toBe(true);
    expect(model.calls).toHaveLength(0);
  });
});

describe('CodexEventParser (line shapes seen from codex 0.169.0)', () => {
  const feed = (p: CodexEventParser, ...events: object[]) => events.flatMap((e) => p.push(JSON.stringify(e)));

  it('maps file changes, MCP calls and several agent messages', () => {
    const p = new CodexEventParser('/w');
    const change = {
      id: 'item_1',
      type: 'file_change',
      changes: [
        { path: '/w/src/a.ts', kind: 'add' },
        { path: '/etc/x', kind: 'update' },
      ],
    };
    const mcp = { id: 'item_3', type: 'mcp_tool_call', server: 'agentbridge', tool: 'post_message', arguments: { text: 'hi' } };
    const events = feed(
      p,
      { type: 'item.completed', item: { id: 'item_0', type: 'agent_message', text: 'Let me write it.' } },
      { type: 'item.started', item: { ...change, status: 'in_progress' } },
      { type: 'item.completed', item: { ...change, status: 'completed' } },
      { type: 'item.completed', item: { id: 'item_2', type: 'reasoning', text: 'hmm' } },
      { type: 'item.started', item: { ...mcp, status: 'in_progress' } },
      { type: 'item.completed', item: { ...mcp, status: 'failed', error: { message: 'tool refused' } } },
      { type: 'item.completed', item: { id: 'item_4', type: 'agent_message', text: 'Done.' } },
      { type: 'some.future.event', foo: 1 },
    );
    expect(events).toEqual([
      { type: 'text', delta: 'Let me write it.' },
      { type: 'tool_start', id: 'item_1', name: 'apply_patch', summary: 'add src/a.ts, update /etc/x' },
      { type: 'tool_end', id: 'item_1', name: 'apply_patch', ok: true, summary: 'completed' },
      { type: 'tool_start', id: 'item_3', name: 'agentbridge.post_message', summary: 'agentbridge.post_message {"text":"hi"}' },
      { type: 'tool_end', id: 'item_3', name: 'agentbridge.post_message', ok: false, summary: 'tool refused' },
      { type: 'text', delta: '\n\nDone.' },
    ]);
    expect(p.state.text).toBe('Let me write it.\n\nDone.');
    expect(p.push('not json')).toEqual([]);
  });

  it('keeps warnings non-fatal and remembers the last error for a turn that fails without a message', () => {
    const p = new CodexEventParser();
    const events = feed(
      p,
      { type: 'item.completed', item: { id: 'item_0', type: 'error', message: 'Model metadata for `x` not found.' } },
      { type: 'item.started', item: { id: 'item_1', type: 'command_execution', command: "/bin/bash -lc 'sleep 100'", status: 'in_progress' } },
      { type: 'error', message: 'Reconnecting... 1/5 (stream disconnected before completion)' },
      { type: 'turn.failed', error: {} },
    );
    expect(events.filter((e) => e.type === 'warning')).toHaveLength(2);
    expect(p.failureMessage()).toBe('Reconnecting... 1/5 (stream disconnected before completion)');
    expect(p.finish()).toEqual([{ type: 'tool_end', id: 'item_1', name: 'shell', ok: false, summary: 'interrupted' }]);
  });

  it('unwraps the login-shell wrapper of commands', () => {
    expect(unwrapShell("/bin/bash -lc 'echo tool-marker-$((6*7))'")).toBe('echo tool-marker-$((6*7))');
    expect(unwrapShell("/bin/bash -lc 'echo '\\''quoted'\\'''")).toBe("echo 'quoted'");
    expect(unwrapShell('ls -la')).toBe('ls -la');
  });
});
