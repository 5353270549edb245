/**
 * The Claude live session (src/runners/claude/session.ts) against the real `claude` CLI
 * (node_modules/.bin/claude) and the scripted Anthropic server (test/models/anthropic.ts): one
 * `claude -p --input-format stream-json` process for many turns, approvals/questions/plans through
 * `onInteraction`, steering, interrupt, time limit, resume, crash and close.
 *
 * Child env as in test/runners/claude.test.ts (sandboxed HOME/CLAUDE_CONFIG_DIR, local model,
 * no retries, no side traffic, no auto-update).
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { InteractionDecision, InteractionRequest } from '../../src/core/interactions.js';
import { createRunner } from '../../src/runners/define.js';
import { claude } from '../../src/runners/claude/index.js';
import type { AgentSession, SessionOptions } from '../../src/runners/session/types.js';
import type { RunEvent } from '../../src/runners/types.js';
import { startMcpHarness } from '../helpers/mcp-harness.js';
import { processesMentioning } from '../helpers/procs.js';
import { makeSandbox, waitFor, type Sandbox } from '../helpers/sandbox.js';
import { allText, latch, lastUserText, sequence, startAnthropicModel, toolResults, type AnthropicModel, type Reply } from '../models/anthropic.js';

let model: AnthropicModel;
let sb: Sandbox;
let sessions: AgentSession[] = [];

beforeEach(async () => {
  model = await startAnthropicModel();
  sb = makeSandbox({
    ANTHROPIC_BASE_URL: model.url,
    ANTHROPIC_API_KEY: 'test-key',
    CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC: '1',
    CLAUDE_CODE_MAX_RETRIES: '0',
    DISABLE_AUTOUPDATER: '1',
  });
});

afterEach(async () => {
  await Promise.all(sessions.map((s) => s.close()));
  sessions = [];
  await model.close();
  sb.cleanup();
});

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

function open(over: Partial<SessionOptions> = {}): AgentSession {
  const session = createRunner(claude).openSession!({ cwd: sb.workdir, env: sb.env, permissionMode: 'ask', ...over });
  sessions.push(session);
  return session;
}

interface TurnOptions {
  decide?: (request: InteractionRequest) => InteractionDecision | Promise<InteractionDecision>;
  timeoutMs?: number;
  signal?: AbortSignal;
}

/** Runs one turn, recording events and interaction requests; undecided requests are denied. */
function turn(session: AgentSession, prompt: string, opts: TurnOptions = {}) {
  const events: RunEvent[] = [];
  const asked: InteractionRequest[] = [];
  const started = Date.now();
  const done = session
    .send(
      prompt,
      {
        onEvent: (e) => events.push(e),
        onInteraction: async (r) => {
          asked.push(r);
          return opts.decide ? await opts.decide(r) : { kind: 'deny', message: 'nobody decided' };
        },
      },
      { timeoutMs: opts.timeoutMs ?? 90_000, ...(opts.signal ? { signal: opts.signal } : {}) },
    )
    .then((result) => ({ result, events, asked, ms: Date.now() - started }));
  return Object.assign(done, { events, asked });
}

/** Process group id of `pid` (field 5 of /proc/<pid>/stat). */
function groupOf(pid: number): number | undefined {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[2]);
  } catch {
    return undefined;
  }
}

const bash = (command: string): Reply => ({ toolUse: { name: 'Bash', input: { command, description: 'scripted command' } } });

describe('the claude live session (real claude CLI)', () => {
  it('runs two turns in one process, the second with the first as context', async () => {
    const session = open({ permissionMode: 'edit' });
    const first = await turn(session, 'remember the word pelican');
    expect(first.result.error).toBeUndefined();
    expect(first.result).toMatchObject({ ok: true, text: 'echo: remember the word pelican' });
    expect(first.result.sessionId).toMatch(UUID);
    expect(first.result.resumeAt).toMatch(UUID);
    expect(first.events[0]).toEqual({ type: 'session', sessionId: first.result.sessionId });
    expect(first.result.usage?.inputTokens).toBeGreaterThan(0);
    const pid = session.pid!;

    const second = await turn(session, 'which word?');
    expect(second.result).toMatchObject({ ok: true, text: 'echo: which word?', sessionId: first.result.sessionId });
    expect(session.sessionId).toBe(first.result.sessionId);
    expect(session.pid).toBe(pid);
    expect(session.alive).toBe(true);
    expect(session.busy).toBe(false);

    const main = model.mainRequests();
    expect(main).toHaveLength(2);
    expect(allText(main[1]!)).toContain('remember the word pelican');
    expect(allText(main[1]!)).toContain('echo: remember the word pelican');
    expect(lastUserText(main[1]!)).toBe('which word?');
    // One process group for both turns.
    const procs = processesMentioning(sb.root);
    expect(procs.length).toBeGreaterThan(0);
    expect(procs.every((p) => groupOf(p.pid) === pid)).toBe(true);
    // The cost of a turn is its own, not the process's running total.
    expect(second.result.usage?.costUsd).toBeLessThan(first.result.usage!.costUsd! * 1.5);
  });

  it('approval allowed: the Bash command runs (its file exists)', async () => {
    const file = path.join(sb.workdir, 'approved.txt');
    const command = `echo approved > ${file}`;
    model.setResponder(sequence(bash(command), { text: 'wrote it' }));
    const session = open();
    const t = await turn(session, 'write the file', { decide: () => ({ kind: 'allow' }) });

    expect(t.result).toMatchObject({ ok: true, text: 'wrote it' });
    expect(t.asked).toEqual([{ kind: 'approval', tool: 'Bash', preview: { format: 'command', text: command }, ruleKey: command, reason: 'scripted command' }]);
    expect(fs.readFileSync(file, 'utf8')).toBe('approved\n');
    expect(toolResults(model.mainRequests().at(-1)!)).toMatchObject([{ isError: false }]);
  });

  it('approval denied: the command does not run, the model gets an error result and the turn goes on', async () => {
    const file = path.join(sb.workdir, 'denied.txt');
    model.setResponder(sequence(bash(`echo no > ${file}`), { text: 'understood, skipped' }));
    const session = open();
    const t = await turn(session, 'write the file', { decide: () => ({ kind: 'deny', message: 'Not now, please.' }) });

    expect(t.result).toMatchObject({ ok: true, text: 'understood, skipped' });
    expect(t.asked).toHaveLength(1);
    expect(fs.existsSync(file)).toBe(false);
    expect(toolResults(model.mainRequests().at(-1)!)).toEqual([expect.objectContaining({ isError: true, text: 'Not now, please.' })]);
  });

  it('an Edit asks with a diff keyed by the file path', async () => {
    const file = path.join(sb.workdir, 'notes.txt');
    fs.writeFileSync(file, 'alpha\n');
    model.setResponder(
      sequence(
        { toolUse: { name: 'Read', input: { file_path: file } } },
        { toolUse: { name: 'Edit', input: { file_path: file, old_string: 'alpha', new_string: 'beta' } } },
        { text: 'edited' },
      ),
    );
    const session = open();
    const t = await turn(session, 'edit the notes', { decide: () => ({ kind: 'allow' }) });
    expect(t.result).toMatchObject({ ok: true, text: 'edited' });
    expect(t.asked).toEqual([{ kind: 'approval', tool: 'Edit', preview: { format: 'diff', text: `--- ${file}\n+++ ${file}\n-alpha\n+beta` }, ruleKey: file }]);
    expect(fs.readFileSync(file, 'utf8')).toBe('beta\n');
  });

  it('a question is answered: the model receives the answer', async () => {
    const questions = [
      {
        question: 'Which colour?',
        header: 'Colour',
        options: [
          { label: 'Red', description: 'warm' },
          { label: 'Blue', description: 'cool' },
        ],
        multiSelect: false,
      },
    ];
    model.setResponder(sequence({ toolUse: { name: 'AskUserQuestion', input: { questions } } }, { text: 'Blue it is.' }));
    const session = open({ permissionMode: 'full' });
    const t = await turn(session, 'ask me', { decide: () => ({ kind: 'answer', answers: { 'Which colour?': 'Blue, but darker' } }) });

    expect(t.result).toMatchObject({ ok: true, text: 'Blue it is.' });
    expect(t.asked).toEqual([
      {
        kind: 'question',
        questions: [
          {
            id: 'Which colour?',
            question: 'Which colour?',
            header: 'Colour',
            options: [
              { label: 'Red', description: 'warm' },
              { label: 'Blue', description: 'cool' },
            ],
            multiSelect: false,
          },
        ],
      },
    ]);
    const [result] = toolResults(model.mainRequests().at(-1)!);
    expect(result!.isError).toBe(false);
    expect(result!.text).toContain('"Which colour?"="Blue, but darker"');
  });

  it('a plan approved switches the process to acceptEdits: a following Write runs without asking', async () => {
    const file = path.join(sb.workdir, 'planned.txt');
    model.setResponder(
      sequence(
        { toolUse: { name: 'ExitPlanMode', input: { plan: '1. Write planned.txt' } } },
        { toolUse: { name: 'Write', input: { file_path: file, content: 'done\n' } } },
        { text: 'Plan carried out.' },
      ),
    );
    const session = open({ permissionMode: 'read-only' });
    const t = await turn(session, 'plan and do it', {
      decide: (r) => (r.kind === 'plan' ? { kind: 'approve-plan' } : { kind: 'deny', message: 'should not ask' }),
    });

    expect(t.result).toMatchObject({ ok: true, text: 'Plan carried out.' });
    expect(t.asked).toEqual([{ kind: 'plan', plan: '1. Write planned.txt' }]);
    expect(fs.readFileSync(file, 'utf8')).toBe('done\n');
    expect(session.options.permissionMode).toBe('edit');
    expect(toolResults(model.mainRequests().at(-1)!).map((r) => r.isError)).toEqual([false, false]);
  });

  it('keep planning: the plan is denied with the feedback, which the model receives', async () => {
    model.setResponder(sequence({ toolUse: { name: 'ExitPlanMode', input: { plan: 'rough plan' } } }, { text: 'I will refine it.' }));
    const session = open({ permissionMode: 'read-only' });
    const t = await turn(session, 'make a plan', { decide: () => ({ kind: 'deny', message: 'Keep planning: cover the tests too.' }) });

    expect(t.result).toMatchObject({ ok: true, text: 'I will refine it.' });
    expect(t.asked).toEqual([{ kind: 'plan', plan: 'rough plan' }]);
    expect(toolResults(model.mainRequests().at(-1)!)).toEqual([expect.objectContaining({ isError: true, text: 'Keep planning: cover the tests too.' })]);
    expect(session.options.permissionMode).toBe('read-only');
  });

  it('steering: a message sent while the model works reaches it inside the same turn, answered once', async () => {
    const gate = latch();
    model.setResponder(sequence({ until: gate.promise, then: bash('sleep 1; echo tool-done') }, { text: 'Did both.' }));
    const session = open({ permissionMode: 'full' });
    expect(await session.steer('too early')).toBe('not-running');
    const running = turn(session, 'start the work');
    await waitFor(() => model.mainRequests().length >= 1, 60_000, 'the first model request');
    expect(session.busy).toBe(true);
    // `taken` comes when the CLI takes the text (its echo), here after the tool result.
    const steered = session.steer('also mention the steered marker');
    gate.open();
    expect(await steered).toBe('taken');
    const t = await running;

    expect(t.result).toMatchObject({ ok: true, text: 'Did both.' });
    const main = model.mainRequests();
    expect(main).toHaveLength(2);
    expect(allText(main[1]!)).toContain('also mention the steered marker');
    expect(toolResults(main[1]!)).toMatchObject([{ text: 'tool-done', isError: false }]);
    expect(t.events.filter((e) => e.type === 'usage')).toHaveLength(1); // one result
    expect(await session.steer('after the turn')).toBe('not-running');

    // Nothing was left over for the next turn.
    model.setResponder(undefined);
    const next = await turn(session, 'next turn');
    expect(next.result).toMatchObject({ ok: true, text: 'echo: next turn' });
    expect(model.mainRequests()).toHaveLength(3);
  });

  it('steering too late for the running answer: the text gets its own run and send waits for it', async () => {
    const gate = latch();
    model.setResponder(sequence({ until: gate.promise, then: { text: 'First answer.' } }, { text: 'Answer to the late one.' }));
    const session = open({ permissionMode: 'edit' });
    const running = turn(session, 'first question');
    await waitFor(() => model.mainRequests().length >= 1, 60_000, 'the first model request');
    const steered = session.steer('a late addition');
    gate.open();
    expect(await steered).toBe('taken');
    const t = await running;

    expect(t.result).toMatchObject({ ok: true, text: 'First answer.\n\nAnswer to the late one.' });
    const main = model.mainRequests();
    expect(main).toHaveLength(2);
    expect(lastUserText(main[1]!)).toBe('a late addition');
    expect(t.events.filter((e) => e.type === 'usage')).toHaveLength(2);

    model.setResponder(undefined);
    const next = await turn(session, 'then this');
    expect(next.result).toMatchObject({ ok: true, text: 'echo: then this' });
    expect(model.mainRequests()).toHaveLength(3);
  });

  it('steering, then a stop before the CLI took the text: not taken (it belongs to the next turn)', async () => {
    const gate = latch();
    model.setResponder(sequence({ until: gate.promise, then: { text: 'never shown' } }));
    const session = open({ permissionMode: 'edit' });
    const stop = new AbortController();
    const running = turn(session, 'slow work', { signal: stop.signal });
    await waitFor(() => model.mainRequests().length >= 1, 60_000, 'the first model request');
    const steered = session.steer('do this next');
    stop.abort();
    expect(await steered).toBe('not-running');
    expect((await running).result.error?.kind).toBe('stopped');
    gate.open();
    model.setResponder(undefined);
    const next = await turn(session, 'do this next');
    // Answered in the next turn (the interrupted run left "[Request interrupted by user]" in Claude's own transcript).
    expect(next.result.ok).toBe(true);
    expect(next.result.text).toMatch(/do this next$/);
  });

  it('a local slash command (no echo of the message) ends its turn at once; the next turn works', async () => {
    const session = open({ permissionMode: 'edit' });
    const t = await turn(session, '/no-such-command');
    expect(t.result).toMatchObject({ ok: true, text: 'Unknown command: /no-such-command' });
    expect(t.ms).toBeLessThan(10_000);
    expect(model.mainRequests()).toHaveLength(0);
    const next = await turn(session, 'plain text');
    expect(next.result.ok).toBe(true);
    expect(next.result.text).toMatch(/^echo: [\s\S]*plain text$/); // the CLI puts the command's transcript before it
    expect(model.mainRequests()).toHaveLength(1);
  });

  it('a model error fails the turn with its kind and message; the session goes on', async () => {
    model.setResponder(sequence({ error: { status: 429, message: 'Scripted rate limit: slow down' } }, { text: 'recovered' }));
    const session = open({ permissionMode: 'edit' });
    const t = await turn(session, 'hello');
    expect(t.result.ok).toBe(false);
    expect(t.result.error?.kind).toBe('usage_limit');
    expect(t.result.error?.message).toContain('Scripted rate limit: slow down');
    expect(t.result.text).toBe('');
    const next = await turn(session, 'again');
    expect(next.result).toMatchObject({ ok: true, text: 'recovered' });
  });

  it('abort interrupts the turn quickly; the process stays and the next turn works', async () => {
    model.setResponder(sequence({ hang: true }, { text: 'after the stop' }));
    const session = open();
    const pid = session.pid;
    const ac = new AbortController();
    const running = turn(session, 'hang please', { signal: ac.signal });
    await waitFor(() => model.mainRequests().length >= 1, 60_000, 'the model request');
    const abortedAt = Date.now();
    ac.abort();
    const t = await running;

    expect(t.result.ok).toBe(false);
    expect(t.result.error?.kind).toBe('stopped');
    expect(Date.now() - abortedAt).toBeLessThan(4000); // the interrupt, not the kill fallback (5 s)
    expect(session.alive).toBe(true);
    expect(session.pid).toBe(pid);

    const next = await turn(session, 'go on');
    expect(next.result).toMatchObject({ ok: true, text: 'after the stop' });
  });

  it('abort while a decision is pending: the CLI withdraws the request, the command never runs, the session goes on', async () => {
    const file = path.join(sb.workdir, 'never.txt');
    model.setResponder(sequence(bash(`echo x > ${file}`), { text: 'next answer' }));
    const session = open();
    const ac = new AbortController();
    let decide!: (d: InteractionDecision) => void;
    const running = turn(session, 'write it', { signal: ac.signal, decide: () => new Promise((r) => (decide = r)) });
    await waitFor(() => running.asked.length === 1, 60_000, 'the approval request');
    ac.abort();
    const t = await running;
    expect(t.result.error?.kind).toBe('stopped');
    decide({ kind: 'allow' }); // too late: void
    expect(session.alive).toBe(true);
    const next = await turn(session, 'go on');
    expect(next.result).toMatchObject({ ok: true, text: 'next answer' });
    expect(fs.existsSync(file)).toBe(false);
  });

  it('the time limit is paused while a decision is pending, and enforced otherwise', async () => {
    const file = path.join(sb.workdir, 'slow-decision.txt');
    model.setResponder(sequence(bash(`echo ok > ${file}`), { text: 'done after the slow decision' }));
    const session = open();
    const slow = await turn(session, 'write it', {
      timeoutMs: 4000,
      decide: () => new Promise((r) => setTimeout(() => r({ kind: 'allow' }), 6000)),
    });
    expect(slow.result.error).toBeUndefined();
    expect(slow.result).toMatchObject({ ok: true, text: 'done after the slow decision' });
    expect(slow.ms).toBeGreaterThan(6000);
    expect(fs.existsSync(file)).toBe(true);

    model.setResponder(sequence({ hang: true }));
    const hung = await turn(session, 'hang', { timeoutMs: 4000 });
    expect(hung.result.error?.kind).toBe('timeout');
    expect(session.alive).toBe(true);
  });

  it('resumes a stored session in a new process with its context, and forks it', async () => {
    const a = open({ permissionMode: 'edit' });
    const first = await turn(a, 'remember the word pelican');
    expect(first.result.ok).toBe(true);
    await a.close();
    expect(a.alive).toBe(false);

    const b = open({ permissionMode: 'edit', resumeSessionId: first.result.sessionId! });
    expect(b.sessionId).toBe(first.result.sessionId);
    const second = await turn(b, 'which word?');
    expect(second.result).toMatchObject({ ok: true, text: 'echo: which word?', sessionId: first.result.sessionId });
    expect(b.pid).not.toBe(a.pid);
    expect(allText(model.mainRequests()[1]!)).toContain('remember the word pelican');

    const c = open({ permissionMode: 'edit', resumeSessionId: first.result.sessionId!, forkSession: true });
    const forked = await turn(c, 'forked turn');
    expect(forked.result.ok).toBe(true);
    expect(forked.result.sessionId).toMatch(UUID);
    expect(forked.result.sessionId).not.toBe(first.result.sessionId);
    expect(c.sessionId).toBe(forked.result.sessionId);
    expect(allText(model.mainRequests()[2]!)).toContain('remember the word pelican');
  });

  it('a missing stored session fails the turn with the text isMissingSession recognises', async () => {
    const session = open({ resumeSessionId: '11111111-2222-4333-8444-555555555555' });
    const t = await turn(session, 'hello');
    expect(t.result.ok).toBe(false);
    expect(claude.isMissingSession!(t.result.error!.message)).toBe(true);
    expect(session.alive).toBe(false);
    expect(model.mainRequests()).toHaveLength(0);
  });

  it('a process that dies mid-turn ends the turn as crashed', async () => {
    model.setResponder(() => ({ hang: true }));
    const session = open();
    const running = turn(session, 'hang');
    await waitFor(() => model.mainRequests().length >= 1, 60_000, 'the model request');
    process.kill(-session.pid!, 'SIGKILL');
    const t = await running;
    expect(t.result.ok).toBe(false);
    expect(t.result.error?.kind).toBe('crashed');
    expect(t.result.error?.message).toMatch(/claude ended during the turn \(killed by SIGKILL\)/);
    expect(session.alive).toBe(false);
    const after = await turn(session, 'again');
    expect(after.result.error?.kind).toBe('crashed');
  });

  it('close ends a running turn as stopped and leaves no process of the group', async () => {
    model.setResponder(() => ({ hang: true }));
    const session = open();
    const running = turn(session, 'hang');
    await waitFor(() => model.mainRequests().length >= 1, 60_000, 'the model request');
    expect(processesMentioning(sb.root).length).toBeGreaterThan(0);
    await session.close();
    const t = await running;
    expect(t.result.error?.kind).toBe('stopped');
    expect(session.alive).toBe(false);
    expect(processesMentioning(sb.root)).toEqual([]);
    await session.close(); // idempotent
  });

  it('reaches agentbridge tools (MCP) without asking', async () => {
    const mcp = await startMcpHarness();
    try {
      const target = { platform: 'local' as const, channel: 'general', thread: 't1' };
      const grant = mcp.access.grant({ conversationId: 'local:general:t1', replyTarget: target, ttlMs: 120_000 });
      model.setResponder(sequence({ toolUse: { name: 'mcp__agentbridge__post_message', input: { text: 'from the session' } } }, { text: 'posted' }));
      const session = open({ mcp: { url: grant.url, token: grant.token } });
      const t = await turn(session, 'post something');
      grant.revoke();
      expect(t.result).toMatchObject({ ok: true, text: 'posted' });
      expect(t.asked).toEqual([]);
      expect(mcp.posted).toEqual([{ conversationId: 'local:general:t1', target: { ...target, kind: 'notice' }, texts: ['from the session'] }]);
      const args = fs.readFileSync(`/proc/${session.pid}/cmdline`, 'utf8');
      expect(args).not.toContain(grant.token);
    } finally {
      await mcp.close();
    }
  });

  it('gives images as image content: the model request holds the text and a base64 image block', async () => {
    // A 1×1 PNG.
    const png = Buffer.from('iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg==', 'base64');
    const file = path.join(sb.workdir, 'dot.png');
    fs.writeFileSync(file, png);
    const session = open({ permissionMode: 'edit' });
    const events: RunEvent[] = [];
    const result = await session.send(
      'what is in the picture?',
      { onEvent: (e) => events.push(e), onInteraction: async () => ({ kind: 'deny', message: 'no' }) },
      { timeoutMs: 90_000, images: [{ path: file, mediaType: 'image/png' }] },
    );
    expect(result.error).toBeUndefined();
    // The user's message (the CLI may add system-role reminders after it).
    const user = model
      .mainRequests()
      .at(-1)!
      .body.messages!.filter((m) => m.role === 'user')
      .at(-1)!;
    const blocks = Array.isArray(user.content) ? user.content : [];
    expect(blocks.find((b) => b.type === 'text' && b.text === 'what is in the picture?')).toBeDefined();
    const image = blocks.find((b) => b.type === 'image') as { source?: { type: string; media_type: string; data: string } } | undefined;
    expect(image?.source).toEqual({ type: 'base64', media_type: 'image/png', data: png.toString('base64') });
  });
});
