/**
 * The Gemini runner against the real `gemini` CLI (0.61.0) and the scripted Gemini API server.
 *
 * Each test gets its own sandbox. The Gemini home: GEMINI_CLI_HOME names the directory that
 * *contains* `.gemini` (verified: with GEMINI_CLI_HOME=<home>/.gemini the CLI looked for
 * `<home>/.gemini/.gemini/settings.json` and exited 41), so the sandbox's `GEMINI_CLI_HOME=home`
 * is right; settings go to `<home>/.gemini/settings.json`.
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { settleProcessCleanups } from '../../src/runners/process.js';
import { createRunner } from '../../src/runners/define.js';
import { gemini, DEFAULT_GEMINI_MODEL, chatPrompt, geminiArgs, geminiAuth } from '../../src/runners/gemini/index.js';
import { GeminiEventParser, providerMessage } from '../../src/runners/gemini/events.js';
import type { Runner, RunEvent, RunRequest } from '../../src/runners/types.js';
import { makeSandbox, waitFor, type Sandbox } from '../helpers/sandbox.js';
import { processesMentioning } from '../helpers/procs.js';
import { GEMINI_SHELL_TOOL, allText, lastUserText, sequence, startGeminiModel, type GeminiModel } from '../models/gemini.js';

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  // A turn ends at the CLI's final event; its process may still be exiting (and writing into the sandbox).
  await settleProcessCleanups(30_000);
  while (cleanups.length) await cleanups.pop()!();
});

interface Setup {
  sandbox: Sandbox;
  model: GeminiModel;
  runner: Runner;
  req(overrides?: Partial<RunRequest>): RunRequest;
}

/**
 * A sandbox whose Gemini home selects API-key auth, with one attempt per model call
 * (`general.maxAttempts: 1` — gemini otherwise retries 429/5xx up to 10 times, 5 s → 30 s backoff)
 * and no usage statistics; plus a scripted model server.
 */
async function setup(settings: Record<string, unknown> = {}): Promise<Setup> {
  const model = await startGeminiModel();
  const sandbox = makeSandbox({
    GEMINI_API_KEY: 'x',
    GOOGLE_GEMINI_BASE_URL: model.url,
    GEMINI_CLI_TRUST_WORKSPACE: 'true',
  });
  cleanups.push(() => sandbox.cleanup());
  cleanups.push(() => model.close());
  fs.writeFileSync(
    path.join(sandbox.home, '.gemini', 'settings.json'),
    JSON.stringify({
      security: { auth: { selectedType: 'gemini-api-key' } },
      general: { maxAttempts: 1, enableAutoUpdate: false, enableAutoUpdateNotification: false },
      privacy: { usageStatisticsEnabled: false },
      ...settings,
    }),
  );
  return {
    sandbox,
    model,
    runner: createRunner(gemini),
    req: (overrides = {}) => ({
      prompt: 'hello',
      cwd: sandbox.workdir,
      permissionMode: 'full',
      timeoutMs: 45_000,
      env: sandbox.env,
      ...overrides,
    }),
  };
}

/** A ~200 KB prompt (over Linux's 128 KiB per-argument limit) that starts with "-" and spans many lines. */
function bigPrompt(): string {
  const lines = ['--version -p starts like a flag'];
  for (let i = 0; lines.join('\n').length < 200_000; i++) lines.push(`line ${i}: the quick brown fox jumps over the lazy dog — ü ✓`);
  return lines.join('\n');
}

function collect(): { events: RunEvent[]; onEvent: (e: RunEvent) => void } {
  const events: RunEvent[] = [];
  return { events, onEvent: (e) => events.push(e) };
}

describe('the gemini runner with the real gemini CLI', () => {
  it('delivers a prompt starting with "-" or "/" and a ~200 KB prompt intact (over stdin)', async () => {
    const { model, runner, req } = await setup();
    const dash = await runner.run(req({ prompt: '-x --help is not a flag' }), () => {});
    expect(dash.error).toBeUndefined();
    expect(lastUserText(model.mainRequests().at(-1)!)).toBe('-x --help is not a flag');

    const slash = await runner.run(req({ prompt: '/quit now' }), () => {});
    expect(slash.ok).toBe(true);
    expect(lastUserText(model.mainRequests().at(-1)!)).toBe('Message: /quit now');

    const prompt = bigPrompt();
    // A short answer: echoing 200 KB back makes gemini's loop detection slow on a loaded machine.
    model.setResponder(sequence({ text: 'got the big one' }));
    const big = await runner.run(req({ prompt, resumeSessionId: dash.sessionId }), () => {});
    expect(big.error).toBeUndefined();
    expect(big.text).toBe('got the big one');
    expect(lastUserText(model.mainRequests().at(-1)!)).toBe(prompt);
  });

  it('(a) plain text turn: ok, streamed text, session id; side calls answered and kept out of mainRequests', async () => {
    // Turn the next-speaker check on (off by default in 0.61.0) so a JSON side call happens.
    const { model, runner, req } = await setup({ model: { skipNextSpeakerCheck: false } });
    const { events, onEvent } = collect();
    const result = await runner.run(req({ prompt: 'say hi' }), onEvent);

    expect(result.error).toBeUndefined();
    expect(result.ok).toBe(true);
    // The run ends at the success `result`, usually before the exit (then null).
    expect([0, null]).toContain(result.exitCode);
    expect(result.text).toBe('echo: say hi');
    expect(result.sessionId).toMatch(/^[0-9a-f-]{36}$/);
    expect(events[0]).toEqual({ type: 'session', sessionId: result.sessionId });
    const deltas = events.filter((e) => e.type === 'text');
    expect(deltas.length).toBeGreaterThan(1);
    expect(result.usage?.inputTokens).toBeGreaterThan(0);
    expect(events.some((e) => e.type === 'usage')).toBe(true);

    const main = model.mainRequests();
    expect(main).toHaveLength(1);
    expect(main[0]!.model).toBe(DEFAULT_GEMINI_MODEL);
    expect(lastUserText(main[0]!)).toBe('say hi');
    const side = model.requests.filter((r) => !r.main && r.method === 'generateContent');
    expect(side.some((r) => JSON.stringify(r.body.generationConfig).includes('next_speaker'))).toBe(true);
  });

  it('(b) tool round trip through run_shell_command in yolo mode', async () => {
    const { model, runner, req } = await setup();
    // gemini blocks any "$(" in shell commands (also arithmetic "$((6*7))") as command
    // substitution, so the shell computes 42 with `let` instead.
    model.setResponder(
      sequence({ functionCall: { name: GEMINI_SHELL_TOOL, args: { command: 'let n=6*7; echo tool-marker-$n' } } }, (r) => ({
        text: allText(r).includes('tool-marker-42') ? 'the marker is 42' : 'no marker',
      })),
    );
    const { events, onEvent } = collect();
    const result = await runner.run(req({ prompt: 'run the marker command', permissionMode: 'full' }), onEvent);

    expect(result.error).toBeUndefined();
    expect(result.ok).toBe(true);
    expect(result.text).toBe('the marker is 42');
    const main = model.mainRequests();
    expect(main).toHaveLength(2);
    const responses = main[1]!.contents.flatMap((c) => c.parts ?? []).filter((p) => p.functionResponse);
    expect(JSON.stringify(responses)).toContain('tool-marker-42');

    const start = events.find((e) => e.type === 'tool_start');
    const end = events.find((e) => e.type === 'tool_end');
    expect(start).toMatchObject({ type: 'tool_start', name: GEMINI_SHELL_TOOL, summary: '$ let n=6*7; echo tool-marker-$n' });
    expect(end).toMatchObject({ type: 'tool_end', name: GEMINI_SHELL_TOOL, ok: true });
    expect(end && end.type === 'tool_end' && end.id).toBe(start && start.type === 'tool_start' && start.id);
    expect(end && end.type === 'tool_end' ? end.summary : '').toContain('tool-marker-42');
    expect(events.findIndex((e) => e.type === 'tool_start')).toBeLessThan(events.findIndex((e) => e.type === 'tool_end'));
  });

  it('(c) resumes a session by id from the same cwd', async () => {
    const { model, runner, req } = await setup();
    const first = await runner.run(req({ prompt: 'first turn alpha' }), () => {});
    expect(first.ok).toBe(true);
    expect(first.sessionId).toBeTruthy();

    const second = await runner.run(req({ prompt: 'second turn beta', resumeSessionId: first.sessionId! }), () => {});
    expect(second.error).toBeUndefined();
    expect(second.ok).toBe(true);
    expect(second.sessionId).toBe(first.sessionId);
    expect(second.text).toBe('echo: second turn beta');

    const main = model.mainRequests();
    expect(main).toHaveLength(2);
    const history = allText(main[1]!);
    expect(history).toContain('first turn alpha');
    expect(history).toContain('echo: first turn alpha');
    expect(lastUserText(main[1]!)).toBe('second turn beta');
  });

  it.each([
    { status: 429, message: 'Resource has been exhausted (e.g. check quota).', kind: 'usage_limit' as const },
    { status: 500, message: 'Internal error encountered in scripted model.', kind: 'api_error' as const },
  ])('(d) model error $status → $kind with the provider message', async ({ status, message, kind }) => {
    const { model, runner, req } = await setup();
    model.setResponder(() => ({ error: { status, message } }));
    const started = Date.now();
    const result = await runner.run(req(), () => {});

    expect(result.ok).toBe(false);
    expect(result.error?.kind).toBe(kind);
    expect(result.error?.message).toContain(message);
    expect(result.exitCode).not.toBe(0);
    expect(model.mainRequests()).toHaveLength(1); // general.maxAttempts: 1 → no backoff retries
    expect(Date.now() - started).toBeLessThan(30_000);
  });

  it('(e) stop mid-turn ends the whole process group', async () => {
    const { sandbox, model, runner, req } = await setup();
    model.setResponder(() => ({ hang: true }));
    const ac = new AbortController();
    const running = runner.run(req({ signal: ac.signal }), () => {});
    await waitFor(() => model.mainRequests().length > 0, 30_000, 'the model request');
    // The top-level gemini plus the child it relaunched itself as.
    expect(processesMentioning(sandbox.root).length).toBeGreaterThanOrEqual(2);
    ac.abort();
    const result = await running;

    expect(result.ok).toBe(false);
    expect(result.error?.kind).toBe('stopped');
    expect(result.sessionId).toBeTruthy();
    expect(processesMentioning(sandbox.root)).toEqual([]);
  });

  it('(e2) hitting the turn timeout → timeout, nothing left running', async () => {
    const { sandbox, model, runner, req } = await setup();
    model.setResponder(() => ({ hang: true }));
    const result = await runner.run(req({ timeoutMs: 8_000 }), () => {});
    expect(result).toMatchObject({ ok: false, error: { kind: 'timeout' } });
    expect(processesMentioning(sandbox.root)).toEqual([]);
  });

  it('(f) missing executable → not_installed', async () => {
    const sandbox = makeSandbox();
    cleanups.push(() => sandbox.cleanup());
    const base: RunRequest = { prompt: 'hi', cwd: sandbox.workdir, permissionMode: 'read-only', timeoutMs: 10_000, env: sandbox.env };

    const byPath = await createRunner(gemini, { bin: path.join(sandbox.root, 'no-such-gemini') }).run(base, () => {});
    expect(byPath).toMatchObject({ ok: false, exitCode: null, error: { kind: 'not_installed' } });

    const onPath = await createRunner(gemini).run({ ...base, env: { ...sandbox.env, PATH: path.join(sandbox.root, 'empty') } }, () => {});
    expect(onPath.error?.kind).toBe('not_installed');

    const probe = await createRunner(gemini, { bin: path.join(sandbox.root, 'no-such-gemini') }).probe(sandbox.env);
    expect(probe).toMatchObject({ agent: 'gemini', installed: false });
  });

  it('(g) probe: version and auth from env/files, no model call', async () => {
    const { sandbox, model, runner } = await setup();
    const withKey = await runner.probe(sandbox.env);
    expect(withKey).toMatchObject({ agent: 'gemini', installed: true, version: '0.61.0', authenticated: true });
    expect(withKey.bin).toMatch(/gemini$/);

    // The auth check reads env and files only (no model call, no spawn).
    const noKey = { ...sandbox.env, GEMINI_API_KEY: undefined };
    expect(geminiAuth(noKey).authenticated).toBe(false);
    expect(geminiAuth({ ...noKey, GOOGLE_APPLICATION_CREDENTIALS: '/x.json' }).authenticated).toBe(true);
    fs.writeFileSync(path.join(sandbox.home, '.gemini', 'oauth_creds.json'), '{}');
    expect(geminiAuth(noKey).authenticated).toBe(true);
    expect(geminiAuth({ ...noKey, GEMINI_CLI_HOME: sandbox.workdir }).authenticated).toBe(false);
    expect(model.requests).toHaveLength(0);
  });
});

describe('gemini argv and event parsing', () => {
  it('builds argv with model default, approval mapping and resume; the prompt is never in argv', () => {
    expect(chatPrompt('/quit now')).toBe('Message: /quit now');
    expect(chatPrompt('-x')).toBe('-x');
    expect(geminiArgs({ permissionMode: 'read-only' })).toEqual([
      '--prompt=',
      '--output-format',
      'stream-json',
      '-m',
      DEFAULT_GEMINI_MODEL,
      '--approval-mode',
      'default',
    ]);
    expect(geminiArgs({ permissionMode: 'edit', model: 'gemini-2.5-flash', resumeSessionId: 'abc' })).toEqual([
      '--prompt=',
      '--output-format',
      'stream-json',
      '-m',
      'gemini-2.5-flash',
      '--approval-mode',
      'auto_edit',
      '--resume',
      'abc',
    ]);
    expect(geminiArgs({ permissionMode: 'full' })).toContain('yolo');
  });

  it('parses results with status error and unknown lines tolerantly', () => {
    const p = new GeminiEventParser();
    expect(p.push('not json')).toEqual([]);
    expect(p.push('{"type":"something_new","x":1}')).toEqual([]);
    expect(p.push('{"type":"error","severity":"error","message":"empty response"}')).toEqual([{ type: 'warning', message: 'empty response' }]);
    p.push('{"type":"result","status":"error","stats":{"input_tokens":3,"output_tokens":4}}');
    expect(p.result).toEqual({ status: 'error' });
    expect(p.usage).toEqual({ inputTokens: 3, outputTokens: 4 });
    expect(p.lastError).toBe('empty response');
  });

  it('extracts the provider message from gemini API error text', () => {
    expect(providerMessage('[API Error: {"error":{"code":500,"message":"boom","status":"INTERNAL"}}]')).toBe('boom (500 INTERNAL)');
    expect(providerMessage('[API Error: Quota exceeded]\nPlease wait.')).toBe('Quota exceeded. Please wait.');
    expect(providerMessage('[API Error: Slow down.]\nPlease wait.')).toBe('Slow down. Please wait.');
    expect(providerMessage('plain')).toBe('plain');
  });
});
