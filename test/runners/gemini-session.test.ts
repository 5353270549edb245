/**
 * Gemini live sessions (`gemini --acp`, src/runners/gemini/session.ts) against the real gemini CLI
 * (0.61.0) and the scripted Gemini API server. Setup as test/runners/gemini.test.ts: each test has
 * its own sandbox whose Gemini home selects API-key auth with one attempt per model call.
 *
 * What gemini does (verified here): approvals arrive as `session/request_permission`; `cancel`
 * keeps the tool from running and the model is told "Tool … was canceled by the user.", the turn
 * going on to an ordinary answer; `proceed_always` stops asking for the same command root in this
 * process; `session/cancel` ends a turn without ending the process.
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { InteractionDecision, InteractionRequest } from '../../src/core/interactions.js';
import { createRunner } from '../../src/runners/define.js';
import { gemini } from '../../src/runners/gemini/index.js';
import { GEMINI_LIVE_RESUME_UNSUPPORTED } from '../../src/runners/gemini/session.js';
import type { AgentSession, SessionOptions } from '../../src/runners/session/types.js';
import type { Runner, RunEvent } from '../../src/runners/types.js';
import { processesMentioning } from '../helpers/procs.js';
import { makeSandbox, waitFor, type Sandbox } from '../helpers/sandbox.js';
import { startMcpHarness } from '../helpers/mcp-harness.js';
import { allText, functionResponses, lastUserText, sequence, startGeminiModel, writeFileCall, type GeminiModel } from '../models/gemini.js';

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!();
});

/** A turn limit far above a loaded machine's turn time (the start is not counted in it). */
const TURN_MS = 90_000;

interface Setup {
  sandbox: Sandbox;
  model: GeminiModel;
  runner: Runner;
  open(overrides?: Partial<SessionOptions>): AgentSession;
}

async function setup(): Promise<Setup> {
  const model = await startGeminiModel();
  const sandbox = makeSandbox({ GEMINI_API_KEY: 'x', GOOGLE_GEMINI_BASE_URL: model.url, GEMINI_CLI_TRUST_WORKSPACE: 'true' });
  cleanups.push(() => sandbox.cleanup());
  cleanups.push(() => model.close());
  fs.writeFileSync(
    path.join(sandbox.home, '.gemini', 'settings.json'),
    JSON.stringify({
      security: { auth: { selectedType: 'gemini-api-key' } },
      general: { maxAttempts: 1, enableAutoUpdate: false, enableAutoUpdateNotification: false },
      privacy: { usageStatisticsEnabled: false },
    }),
  );
  const runner = createRunner(gemini);
  return {
    sandbox,
    model,
    runner,
    open: (overrides = {}) => {
      const session = runner.openSession!({ cwd: sandbox.workdir, permissionMode: 'ask', env: sandbox.env, startTimeoutMs: 120_000, ...overrides });
      cleanups.push(() => session.close());
      return session;
    },
  };
}

/** Handlers that record events and interactions and answer with `decide` (default: allow once). */
function handlers(decide: (r: InteractionRequest) => InteractionDecision | Promise<InteractionDecision> = () => ({ kind: 'allow' })) {
  const events: RunEvent[] = [];
  const asked: InteractionRequest[] = [];
  return {
    events,
    asked,
    onEvent: (e: RunEvent) => events.push(e),
    onInteraction: (r: InteractionRequest) => {
      asked.push(r);
      return Promise.resolve(decide(r));
    },
  };
}

describe('gemini live sessions (gemini --acp, real CLI)', () => {
  it('runs two turns in one process with context; reports ready and per-turn time', async () => {
    const { model, open } = await setup();
    const opened = Date.now();
    const session = open({ permissionMode: 'full' });
    const h1 = handlers();
    const first = await session.send('remember the word KESTREL', h1, { timeoutMs: TURN_MS });
    const firstMs = Date.now() - opened;
    expect(first.error).toBeUndefined();
    expect(first).toMatchObject({ ok: true, text: 'echo: remember the word KESTREL' });
    expect(first.sessionId).toMatch(/^[0-9a-f-]{36}$/);
    expect(h1.events[0]).toEqual({ type: 'session', sessionId: first.sessionId });
    expect(h1.events.filter((e) => e.type === 'text').length).toBeGreaterThan(1);
    expect(first.usage?.inputTokens).toBeGreaterThan(0);
    const pid = session.pid;

    const started = Date.now();
    const second = await session.send('/what was the word?', handlers(), { timeoutMs: TURN_MS });
    const secondMs = Date.now() - started;
    expect(second.error).toBeUndefined();
    // A leading "/" would run a gemini command: it reaches the model as a message.
    expect(second.text).toBe('echo: Message: /what was the word?');
    expect(second.sessionId).toBe(first.sessionId);
    expect(session.pid).toBe(pid);
    expect(session.alive).toBe(true);
    const main = model.mainRequests();
    expect(main).toHaveLength(2);
    expect(main[1]!.model).toBe('gemini-2.5-pro');
    expect(allText(main[1]!)).toContain('echo: remember the word KESTREL');
    console.log(`gemini --acp: first turn (start + turn) ${firstMs} ms, follow-up turn ${secondMs} ms`);
  });

  it('approval → proceed_once: the shell command runs; the request shows the command and its rule key', async () => {
    const { sandbox, model, open } = await setup();
    const file = path.join(sandbox.workdir, 'approved.txt');
    model.setResponder(sequence(writeFileCall(file, 'yes'), { text: 'wrote it' }));
    const session = open();
    const h = handlers();
    const result = await session.send('write the file', h, { timeoutMs: TURN_MS });
    expect(result.error).toBeUndefined();
    expect(result.text).toBe('wrote it');
    expect(fs.readFileSync(file, 'utf8')).toBe('yes');
    expect(h.asked).toEqual([
      { kind: 'approval', tool: 'run_shell_command', preview: { format: 'command', text: `printf '%s' 'yes' > '${file}'` }, ruleKey: 'printf' },
    ]);
    const start = h.events.find((e) => e.type === 'tool_start');
    const end = h.events.find((e) => e.type === 'tool_end');
    expect(start).toMatchObject({ name: 'run_shell_command', summary: `$ printf '%s' 'yes' > '${file}'` });
    expect(end).toMatchObject({ name: 'run_shell_command', ok: true });
  });

  it('deny → cancel: the command does not run, the model is told, and the turn ends with its answer', async () => {
    const { sandbox, model, open } = await setup();
    const file = path.join(sandbox.workdir, 'denied.txt');
    model.setResponder(
      sequence(writeFileCall(file), (r) => ({ text: functionResponses(r).join(' ').includes('canceled by the user') ? 'ok, not writing' : 'ran?' })),
    );
    const session = open();
    const h = handlers(() => ({ kind: 'deny', message: 'no' }));
    const result = await session.send('write the file', h, { timeoutMs: TURN_MS });
    expect(result.error).toBeUndefined();
    expect(result).toMatchObject({ ok: true, text: 'ok, not writing' });
    expect(h.asked).toHaveLength(1);
    expect(fs.existsSync(file)).toBe(false);
    // gemini sends no tool_call_update for a rejected call.
    expect(h.events.some((e) => e.type === 'tool_end')).toBe(false);
  });

  it('allow always → proceed_always: a second matching command runs without asking', async () => {
    const { sandbox, model, open } = await setup();
    const a = path.join(sandbox.workdir, 'a.txt');
    const b = path.join(sandbox.workdir, 'b.txt');
    model.setResponder(sequence(writeFileCall(a), writeFileCall(b), { text: 'both' }));
    const session = open();
    const h = handlers(() => ({ kind: 'allow', always: true }));
    const result = await session.send('write two files', h, { timeoutMs: TURN_MS });
    expect(result.text).toBe('both');
    expect(fs.existsSync(a) && fs.existsSync(b)).toBe(true);
    expect(h.asked).toHaveLength(1);
    expect(h.events.filter((e) => e.type === 'tool_end')).toHaveLength(2);
  });

  it('permission modes: read-only (plan) refuses the command without asking; full (yolo) runs it without asking', async () => {
    const { sandbox, model, open } = await setup();
    const planned = path.join(sandbox.workdir, 'plan.txt');
    model.setResponder(sequence(writeFileCall(planned), { text: 'planned' }));
    const h = handlers();
    const ro = await open({ permissionMode: 'read-only' }).send('write', h, { timeoutMs: TURN_MS });
    expect(ro.text).toBe('planned');
    expect(h.asked).toEqual([]);
    expect(fs.existsSync(planned)).toBe(false);

    const yolo = path.join(sandbox.workdir, 'yolo.txt');
    model.setResponder(sequence(writeFileCall(yolo), { text: 'done' }));
    const h2 = handlers();
    const full = await open({ permissionMode: 'full' }).send('write', h2, { timeoutMs: TURN_MS });
    expect(full.text).toBe('done');
    expect(h2.asked).toEqual([]);
    expect(fs.existsSync(yolo)).toBe(true);
  });

  it('abort → session/cancel: the turn is stopped in the same process, and the next turn works', async () => {
    const { model, open } = await setup();
    const session = open();
    await session.send('warm up', handlers(), { timeoutMs: TURN_MS });
    const pid = session.pid;
    model.setResponder(() => ({ hang: true }));
    const ac = new AbortController();
    const running = session.send('hang please', handlers(), { timeoutMs: TURN_MS, signal: ac.signal });
    await waitFor(() => model.mainRequests().length === 2, 60_000, 'the hanging model request');
    expect(session.busy).toBe(true);
    expect(await session.steer('more')).toBe('unsupported');
    const abortedAt = Date.now();
    ac.abort();
    const stopped = await running;
    expect(stopped).toMatchObject({ ok: false, error: { kind: 'stopped' } });
    expect(Date.now() - abortedAt).toBeLessThan(4_000); // ended by session/cancel, not by the 5 s kill fallback
    expect(session.alive).toBe(true);
    expect(session.pid).toBe(pid);

    model.setResponder(sequence({ text: 'back again' }));
    const next = await session.send('are you there?', handlers(), { timeoutMs: TURN_MS });
    expect(next).toMatchObject({ ok: true, text: 'back again' });
  });

  it('abort while an approval is pending: the request is cancelled, the command never runs', async () => {
    const { sandbox, model, open } = await setup();
    const file = path.join(sandbox.workdir, 'never.txt');
    model.setResponder(sequence(writeFileCall(file), { text: 'after' }));
    const session = open();
    const ac = new AbortController();
    const h = handlers(() => new Promise<InteractionDecision>(() => {})); // nobody decides
    const running = session.send('write', h, { timeoutMs: TURN_MS, signal: ac.signal });
    await waitFor(() => h.asked.length === 1, 60_000, 'the approval request');
    ac.abort();
    expect(await running).toMatchObject({ ok: false, error: { kind: 'stopped' } });
    expect(fs.existsSync(file)).toBe(false);
    expect(session.alive).toBe(true);
  });

  it('the turn limit is paused while a decision is pending, and applies otherwise', async () => {
    const { sandbox, model, open } = await setup();
    const file = path.join(sandbox.workdir, 'slow.txt');
    const session = open();
    await session.send('warm up', handlers(), { timeoutMs: TURN_MS }); // the start is not part of the limits below
    model.setResponder(sequence(writeFileCall(file), { text: 'written after a slow decision' }));
    const slow = handlers(() => new Promise((r) => setTimeout(() => r({ kind: 'allow' }), 8_000)));
    const result = await session.send('write', slow, { timeoutMs: 6_000 });
    expect(slow.asked).toHaveLength(1);
    expect(result.error).toBeUndefined();
    expect(result.text).toBe('written after a slow decision');
    expect(fs.existsSync(file)).toBe(true);

    model.setResponder(() => ({ hang: true }));
    const timedOut = await session.send('hang', handlers(), { timeoutMs: 3_000 });
    expect(timedOut).toMatchObject({ ok: false, error: { kind: 'timeout' } });
    expect(session.alive).toBe(true);
  });

  it('close → no process left; a running turn ends stopped; close is idempotent', async () => {
    const { sandbox, model, open } = await setup();
    const session = open();
    await session.send('hello', handlers(), { timeoutMs: TURN_MS });
    // The top-level gemini plus the child it relaunched itself as.
    expect(processesMentioning(sandbox.root).length).toBeGreaterThanOrEqual(2);
    model.setResponder(() => ({ hang: true }));
    const running = session.send('hang', handlers(), { timeoutMs: TURN_MS });
    await waitFor(() => model.mainRequests().length === 2, 60_000, 'the hanging model request');
    await session.close();
    expect(await running).toMatchObject({ ok: false, error: { kind: 'stopped' } });
    expect(session.alive).toBe(false);
    expect(processesMentioning(sandbox.root)).toEqual([]);
    await session.close();
  });

  it('a process that dies between turns: alive false, the next turn reports the crash', async () => {
    const { open } = await setup();
    const session = open();
    await session.send('hello', handlers(), { timeoutMs: TURN_MS });
    process.kill(-session.pid!, 'SIGKILL');
    await waitFor(() => !session.alive, 30_000, 'the session to notice the exit');
    const r = await session.send('again', handlers(), { timeoutMs: TURN_MS });
    expect(r).toMatchObject({ ok: false, error: { kind: 'crashed' } });
    expect(r.error?.message).toContain('killed by SIGKILL');
  });

  it('a session made over ACP is resumed with context by the one-shot runner (gemini -p --resume)', async () => {
    const { sandbox, model, runner, open } = await setup();
    const session = open();
    const first = await session.send('the password is OSPREY', handlers(), { timeoutMs: TURN_MS });
    expect(first.ok).toBe(true);
    await session.close();

    const resumed = await runner.run(
      { prompt: 'what is the password?', resumeSessionId: first.sessionId!, cwd: sandbox.workdir, env: sandbox.env, permissionMode: 'ask', timeoutMs: TURN_MS },
      () => {},
    );
    expect(resumed.error).toBeUndefined();
    expect(resumed.sessionId).toBe(first.sessionId);
    const last = model.mainRequests().at(-1)!;
    expect(lastUserText(last)).toBe('what is the password?');
    expect(allText(last)).toContain('the password is OSPREY');
    expect(allText(last)).toContain('echo: the password is OSPREY');
  });

  it('opening with resumeSessionId starts no process and says why (the one-shot runner resumes instead)', async () => {
    const { sandbox, runner, open } = await setup();
    expect(runner.sessionCapabilities).toEqual({ steer: false, resume: false, fork: false });
    const session = open({ resumeSessionId: '00000000-0000-4000-8000-000000000000' });
    expect(session.alive).toBe(false);
    expect(session.pid).toBeUndefined();
    const r = await session.send('hi', handlers(), { timeoutMs: TURN_MS });
    expect(r).toMatchObject({ ok: false, error: { kind: 'crashed', message: GEMINI_LIVE_RESUME_UNSUPPORTED } });
    expect(processesMentioning(sandbox.root)).toEqual([]);
  });

  it("agentbridge's MCP tools work for the session's lifetime with the token only in the env", async () => {
    const { sandbox, model, open } = await setup();
    const mcp = await startMcpHarness();
    cleanups.push(() => mcp.close());
    const target = { platform: 'local' as const, channel: 'general', thread: 't1' };
    const grant = mcp.access.grant({ conversationId: 'local:general:t1', replyTarget: target, ttlMs: 300_000 });
    model.setResponder(sequence({ functionCall: { name: 'mcp_agentbridge_post_message', args: { text: 'first post' } } }, { text: 'posted' }));
    const session = open({ mcp: { url: grant.url, token: grant.token } });
    const h = handlers();
    const r1 = await session.send('post something', h, { timeoutMs: TURN_MS });
    expect(r1.error).toBeUndefined();
    expect(h.asked).toEqual([]); // trusted server: no approval for agentbridge's own tools
    model.setResponder(sequence({ functionCall: { name: 'mcp_agentbridge_post_message', args: { text: 'second post' } } }, { text: 'again' }));
    const r2 = await session.send('post again', handlers(), { timeoutMs: TURN_MS });
    expect(r2.text).toBe('again');
    expect(mcp.posted.flatMap((p) => p.texts)).toEqual(['first post', 'second post']);
    expect(mcp.seen.every((s) => s.token === grant.token)).toBe(true);
    const cmdlines = processesMentioning(sandbox.root).map((p) => p.cmd);
    expect(cmdlines.join('\n')).not.toContain(grant.token);
    await session.close();
    grant.revoke();
  });
});
