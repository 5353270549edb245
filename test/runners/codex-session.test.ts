/**
 * The Codex live session (`codex app-server`, src/runners/codex/session.ts) against the real
 * `codex` CLI (@openai/codex 0.169.0) and the scripted OpenAI Responses API server. Each test has
 * its own sandbox (isolated HOME/CODEX_HOME) and server, as in ./codex.test.ts; every process is
 * recorded through the sandbox and reaped after the file (test/helpers/reap.ts), and the tests
 * check themselves that nothing is left.
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { createRunner } from '../../src/runners/define.js';
import { codex } from '../../src/runners/codex/index.js';
import { INTERRUPT_GRACE_MS } from '../../src/runners/codex/session.js';
import { isMissingSessionError } from '../../src/runners/registry.js';
import type { InteractionDecision, InteractionRequest } from '../../src/core/interactions.js';
import type { AgentSession, SessionOptions, SessionTurnHandlers } from '../../src/runners/session/types.js';
import type { RunEvent } from '../../src/runners/types.js';
import { processesMentioning } from '../helpers/procs.js';
import { makeSandbox, waitFor, type Sandbox } from '../helpers/sandbox.js';
import {
  allText,
  CODEX_REQUEST_USER_INPUT_OVERRIDE,
  codexMockProviderArgs,
  echoResponder,
  escalatedExec,
  functionCallOutputs,
  gate,
  lastUserText,
  sequence,
  startOpenAIModel,
  userInputCall,
  type OpenAIModel,
  type Responder,
} from '../models/openai.js';

const cleanups: Array<() => void | Promise<void>> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

interface Setup {
  model: OpenAIModel;
  sandbox: Sandbox;
  /** A directory outside the workdir (the read-only sandbox forbids writing it). */
  outside: string;
  open(extra?: Partial<SessionOptions>): AgentSession;
}

async function setup(respond?: Responder, extraOverrides: string[] = []): Promise<Setup> {
  const model = await startOpenAIModel(respond);
  cleanups.push(() => model.close());
  const sandbox = makeSandbox({ MOCK_KEY: 'mock-key' });
  cleanups.push(() => sandbox.cleanup());
  const outside = path.join(sandbox.root, 'outside');
  fs.mkdirSync(outside);
  const runner = createRunner(codex, { configOverrides: [...codexMockProviderArgs(model.url), ...extraOverrides], killGraceMs: 1000 });
  const open = (extra: Partial<SessionOptions> = {}) => {
    const session = runner.openSession!({ cwd: sandbox.workdir, permissionMode: 'ask', model: 'gpt-5', env: sandbox.env, ...extra });
    cleanups.push(() => session.close());
    return session;
  };
  return { model, sandbox, outside, open };
}

/** Handlers recording events and requests; `decide` answers each request. */
function handlers(decide: (r: InteractionRequest) => InteractionDecision | Promise<InteractionDecision> = () => ({ kind: 'deny', message: 'no' })) {
  const events: RunEvent[] = [];
  const requests: InteractionRequest[] = [];
  const h: SessionTurnHandlers = {
    onEvent: (e) => events.push(e),
    onInteraction: async (r) => {
      requests.push(r);
      return decide(r);
    },
  };
  return { events, requests, h };
}

const TURN = { timeoutMs: 60_000 };

describe('the codex live session (codex app-server) with the real codex CLI', () => {
  it('runs two turns in one process with context; reports session, text, usage; measures ready and turn times', async () => {
    const { model, sandbox, open } = await setup();
    const t0 = Date.now();
    const session = open();
    const pid = session.pid;
    expect(pid).toBeGreaterThan(0);

    const first = handlers();
    let readyAt = 0;
    const r1 = await session.send('first question about apples', { ...first.h, onEvent: (e) => ((readyAt ||= Date.now()), first.h.onEvent(e)) }, TURN);
    const firstDone = Date.now();
    expect(r1.error).toBeUndefined();
    expect(r1.ok).toBe(true);
    expect(r1.text).toBe('echo: first question about apples');
    expect(r1.sessionId).toMatch(/^[0-9a-f-]{36}$/);
    expect(session.sessionId).toBe(r1.sessionId);
    expect(first.events[0]).toEqual({ type: 'session', sessionId: r1.sessionId });
    expect(first.events).toContainEqual({ type: 'text', delta: 'echo: first question about apples' });
    expect(first.events).toContainEqual({ type: 'usage', usage: { inputTokens: 100, outputTokens: 10 } });

    const t2 = Date.now();
    const r2 = await session.send('second question', handlers().h, TURN);
    const secondMs = Date.now() - t2;
    expect(r2.error).toBeUndefined();
    expect(r2.text).toBe('echo: second question');
    expect(r2.sessionId).toBe(r1.sessionId);
    expect(session.pid).toBe(pid);
    expect(session.alive).toBe(true);
    expect(session.busy).toBe(false);
    const main = model.mainRequests();
    expect(main).toHaveLength(2);
    expect(lastUserText(main[1]!)).toBe('second question');
    expect(allText(main[1]!)).toContain('echo: first question about apples');
    // The prompt went over stdin, never argv.
    expect(processesMentioning(sandbox.root).some((p) => p.cmd.includes('apples'))).toBe(false);
    // The first event (session) comes as soon as the thread is ready.
    console.log(`codex app-server: ready ${readyAt - t0} ms after spawn, first turn ${firstDone - readyAt} ms, follow-up turn ${secondMs} ms`);

    await session.close();
    expect(session.alive).toBe(false);
    expect(processesMentioning(sandbox.root)).toEqual([]);
  });

  it('asks before an escalated command; allow → it runs (a file outside the read-only sandbox is written)', async () => {
    let file = '';
    const { model, outside, open } = await setup((req, ctx) =>
      sequence(escalatedExec(`touch ${file}`, 'write the marker file'), { text: 'wrote it' })(req, ctx),
    );
    file = path.join(outside, 'approved.txt');
    const session = open({ permissionMode: 'ask' });
    const turn = handlers(() => ({ kind: 'allow' }));

    const result = await session.send('write the marker', turn.h, TURN);

    expect(result.error).toBeUndefined();
    expect(result.text).toBe('wrote it');
    expect(turn.requests).toEqual([
      { kind: 'approval', tool: 'command', preview: { format: 'command', text: `touch ${file}` }, ruleKey: 'touch', reason: 'write the marker file' },
    ]);
    expect(fs.existsSync(file)).toBe(true);
    const start = turn.events.find((e) => e.type === 'tool_start');
    expect(start).toMatchObject({ name: 'shell', summary: `touch ${file}` });
    expect(turn.events.find((e) => e.type === 'tool_end')).toMatchObject({ id: (start as { id: string }).id, ok: true, summary: 'exit 0' });
    expect(functionCallOutputs(model.mainRequests()[1]!)).toHaveLength(1);
  });

  it('deny → the command does not run (file absent), the model is told and the turn goes on to an answer', async () => {
    let file = '';
    const { model, outside, open } = await setup((req, ctx) =>
      sequence(escalatedExec(`touch ${file}`, 'write it'), { text: 'carried on without it' })(req, ctx),
    );
    file = path.join(outside, 'denied.txt');
    const session = open();
    const turn = handlers(() => ({ kind: 'deny', message: 'not now' }));

    const result = await session.send('try it', turn.h, TURN);

    expect(result.error).toBeUndefined();
    expect(result.ok).toBe(true);
    expect(result.text).toBe('carried on without it');
    expect(turn.requests).toHaveLength(1);
    expect(fs.existsSync(file)).toBe(false);
    expect(turn.events.find((e) => e.type === 'tool_end')).toMatchObject({ name: 'shell', ok: false, summary: 'declined' });
    const output = functionCallOutputs(model.mainRequests()[1]!)[0]!.output;
    expect(output).toMatch(/rejected/i);
  });

  it('allow always → acceptForSession: the same command later runs without asking', async () => {
    let log = '';
    const cmd = () => `sh -c 'echo ran >> ${log}'`;
    const { outside, open } = await setup((req, ctx) =>
      sequence(escalatedExec(cmd(), 'append a line'), escalatedExec(cmd(), 'append again'), { text: 'appended twice' })(req, ctx),
    );
    log = path.join(outside, 'log.txt');
    const session = open();
    const turn = handlers(() => ({ kind: 'allow', always: true }));

    const result = await session.send('append twice', turn.h, TURN);

    expect(result.error).toBeUndefined();
    expect(result.text).toBe('appended twice');
    expect(turn.requests).toHaveLength(1);
    expect(fs.readFileSync(log, 'utf8')).toBe('ran\nran\n');
  });

  it('maps request_user_input to a question and sends the answer back as the tool output', async () => {
    const question = {
      id: 'color',
      header: 'Color',
      question: 'Which color should the button be?',
      options: [
        { label: 'Red', description: 'bold' },
        { label: 'Blue', description: 'calm' },
      ],
    };
    const { model, open } = await setup(sequence(userInputCall([question]), { text: 'blue it is' }), [CODEX_REQUEST_USER_INPUT_OVERRIDE]);
    const session = open();
    const turn = handlers(() => ({ kind: 'answer', answers: { color: 'Blue' } }));

    const result = await session.send('pick a color', turn.h, TURN);

    expect(result.error).toBeUndefined();
    expect(result.text).toBe('blue it is');
    expect(turn.requests).toEqual([
      {
        kind: 'question',
        questions: [
          {
            id: 'color',
            header: 'Color',
            question: 'Which color should the button be?',
            options: [
              { label: 'Red', description: 'bold' },
              { label: 'Blue', description: 'calm' },
            ],
          },
        ],
      },
    ]);
    const output = functionCallOutputs(model.mainRequests()[1]!)[0]!.output;
    expect(output).toContain('Blue');
    expect(output).not.toContain('Red');
  });

  it('steers a running turn: taken, the next model request of the same turn has the text, one answer; not-running after it', async () => {
    const hold = gate();
    const { model, open } = await setup((req, ctx) =>
      ctx.main && ctx.mainIndex === 0 ? { after: hold.promise, reply: { text: 'first answer' } } : echoResponder(req, ctx),
    );
    const session = open();
    const turn = handlers();

    const pending = session.send('start a slow job', turn.h, TURN);
    await waitFor(() => model.mainRequests().length === 1, 30_000, 'the held model request');
    expect(session.busy).toBe(true);
    expect(await session.steer('also mention STEERED-BANANA')).toBe('taken');
    // codex takes the steered text after the current model call: release it.
    hold.release();
    const result = await pending;

    expect(result.error).toBeUndefined();
    expect(result.text).toContain('echo: also mention STEERED-BANANA');
    const main = model.mainRequests();
    expect(allText(main[0]!)).not.toContain('STEERED-BANANA');
    expect(lastUserText(main[1]!)).toBe('also mention STEERED-BANANA');
    expect(allText(main[1]!)).toContain('start a slow job');
    expect(await session.steer('too late')).toBe('not-running');
    // One turn: the next send is a new turn, no further request came from the first.
    expect(model.mainRequests()).toHaveLength(2);
    const next = await session.send('next turn', handlers().h, TURN);
    expect(next.text).toBe('echo: next turn');
  });

  it('abort interrupts the turn quickly over the protocol; the process stays and the next turn works', async () => {
    const { model, open } = await setup(sequence({ hang: true }));
    const session = open();
    const pid = session.pid;
    const ac = new AbortController();

    const pending = session.send('hang please', handlers().h, { ...TURN, signal: ac.signal });
    await waitFor(() => model.mainRequests().length === 1, 30_000, 'the model request');
    const t = Date.now();
    ac.abort();
    const result = await pending;
    const stopMs = Date.now() - t;

    expect(result.ok).toBe(false);
    expect(result.error?.kind).toBe('stopped');
    expect(stopMs).toBeLessThan(3000); // the interrupt, not the 5 s kill fallback
    expect(session.alive).toBe(true);
    expect(session.pid).toBe(pid);
    const next = await session.send('are you there', handlers().h, TURN);
    expect(next.error).toBeUndefined();
    expect(next.text).toBe('echo: are you there');
    console.log(`codex app-server: interrupt took ${stopMs} ms`);
  });

  it('does not charge a pending approval to the turn timeout, and times out a turn that hangs', async () => {
    let file = '';
    const { model, outside, open } = await setup((req, ctx) =>
      sequence(escalatedExec(`touch ${file}`, 'slow human'), { text: 'approved late' }, { hang: true })(req, ctx),
    );
    file = path.join(outside, 'late.txt');
    const session = open();
    // The person takes 4 s; the turn's own limit is 2.5 s.
    const slow = handlers(() => new Promise<InteractionDecision>((r) => setTimeout(() => r({ kind: 'allow' }), 4000)));

    const approved = await session.send('needs approval', slow.h, { timeoutMs: 2500 });
    expect(approved.error).toBeUndefined();
    expect(approved.text).toBe('approved late');
    expect(fs.existsSync(file)).toBe(true);

    const hung = await session.send('hang now', handlers().h, { timeoutMs: 2500 });
    expect(hung.ok).toBe(false);
    expect(hung.error?.kind).toBe('timeout');
    expect(session.alive).toBe(true);
    expect(model.mainRequests()).toHaveLength(3);
  });

  it('resumes the thread in a new process (thread/resume) with context', async () => {
    const { model, sandbox, open } = await setup();
    const first = open();
    const r1 = await first.send('remember the word pineapple', handlers().h, TURN);
    expect(r1.ok).toBe(true);
    await first.close();
    expect(processesMentioning(sandbox.root)).toEqual([]);

    const second = open({ resumeSessionId: r1.sessionId });
    expect(second.pid).not.toBe(first.pid);
    const r2 = await second.send('which word?', handlers().h, TURN);

    expect(r2.error).toBeUndefined();
    expect(r2.sessionId).toBe(r1.sessionId);
    expect(r2.text).toBe('echo: which word?');
    expect(allText(model.mainRequests()[1]!)).toContain('remember the word pineapple');
  });

  it('reports a missing thread as a missing session and leaves no process', async () => {
    const { sandbox, open } = await setup();
    const session = open({ resumeSessionId: '01a22bce-35b1-7100-992c-2bd2af0f20c7' });

    const result = await session.send('hello?', handlers().h, TURN);

    expect(result.ok).toBe(false);
    expect(result.error?.message).toMatch(/^thread\/resume failed: no rollout found for thread id/);
    expect(isMissingSessionError(result.error, 'codex')).toBe(true);
    await waitFor(() => !session.alive && processesMentioning(sandbox.root).length === 0, 15_000, 'the process to end');
  });

  it('close ends a running turn as stopped and leaves no process; close is idempotent; send afterwards fails', async () => {
    const { model, sandbox, open } = await setup(sequence({ hang: true }));
    const session = open();
    const pending = session.send('hang please', handlers().h, TURN);
    await waitFor(() => model.mainRequests().length === 1, 30_000, 'the model request');
    expect(processesMentioning(sandbox.root).length).toBeGreaterThan(0);

    await session.close();
    const result = await pending;

    expect(result.error?.kind).toBe('stopped');
    expect(session.alive).toBe(false);
    expect(processesMentioning(sandbox.root)).toEqual([]);
    await session.close();
    const after = await session.send('hello', handlers().h, TURN);
    expect(after.ok).toBe(false);
  });

  it('kills the process when the turn does not end within the grace after turn/interrupt (a stub app-server that ignores it)', async () => {
    const sandbox = makeSandbox();
    cleanups.push(() => sandbox.cleanup());
    // Answers initialize, thread/start and turn/start like codex 0.169.0, then never ends the turn.
    const stub = path.join(sandbox.root, 'codex-stub.mjs');
    fs.writeFileSync(
      stub,
      `#!/usr/bin/env node
import { createInterface } from 'node:readline';
const send = (m) => process.stdout.write(JSON.stringify(m) + '\\n');
createInterface({ input: process.stdin }).on('line', (line) => {
  const m = JSON.parse(line);
  if (m.method === 'initialize') send({ id: m.id, result: { userAgent: 'stub' } });
  if (m.method === 'thread/start') send({ id: m.id, result: { thread: { id: 'stub-thread' } } });
  if (m.method === 'turn/start') send({ id: m.id, result: { turn: { id: 'stub-turn', items: [], status: 'inProgress', error: null } } });
  if (m.method === 'turn/interrupt') send({ id: m.id, result: {} });
});
process.on('SIGTERM', () => {}); // only SIGKILL ends it
`,
      { mode: 0o755 },
    );
    const runner = createRunner(codex, { bin: stub, killGraceMs: 500 });
    const session = runner.openSession!({ cwd: sandbox.workdir, permissionMode: 'ask', env: sandbox.env });
    const ac = new AbortController();
    const pending = session.send('hi', handlers().h, { ...TURN, signal: ac.signal });
    await waitFor(() => session.sessionId === 'stub-thread', 15_000, 'the stub thread');
    expect(session.busy).toBe(true);
    const busy = await session.send('second', handlers().h, TURN);
    expect(busy.error).toEqual({ kind: 'crashed', message: 'a turn is already running in this session' });
    const t = Date.now();
    ac.abort();
    const result = await pending;

    expect(result.error?.kind).toBe('stopped');
    expect(Date.now() - t).toBeGreaterThanOrEqual(INTERRUPT_GRACE_MS - 100);
    expect(session.alive).toBe(false);
    expect(processesMentioning(sandbox.root)).toEqual([]);
  });

  it('reports not_installed for a missing executable', async () => {
    const sandbox = makeSandbox();
    cleanups.push(() => sandbox.cleanup());
    const runner = createRunner(codex, { bin: path.join(sandbox.root, 'no-such-dir/codex') });
    const session = runner.openSession!({ cwd: sandbox.workdir, permissionMode: 'ask', env: sandbox.env });
    const result = await session.send('hi', handlers().h, TURN);
    expect(result.error?.kind).toBe('not_installed');
    expect(runner.sessionCapabilities).toEqual({ steer: true, resume: true, fork: false });
  });
});
