/**
 * Interactive agent sessions with Claude Code end to end on the local web chat (issue 11):
 * agentbridge as its own process (`dist/cli.js start`), the local chat HTTP API
 * (`POST /api/local/actions` for card buttons), the real `claude` CLI in a live session
 * (`claude -p --input-format stream-json --permission-prompt-tool stdio`, src/runners/claude/session.ts)
 * against the scripted Anthropic server (test/models/anthropic.ts). Assertions are on what the
 * model server received, on the file system and on the local API, not only on posted text.
 *
 * People (local users with login, so the identity comes from the bearer token, never the body):
 * alice starts every turn (the requester), root is an admin (AGENTBRIDGE_ADMINS=local:root),
 * mallory is a stranger. One scripted model server serves every agentbridge process of the file;
 * each test has its own thread and a marker in its prompt that selects its script
 * ({@link scripts}); a script is a pure function of the request: its stage is the number of tool
 * results after the user's last typed message (so a re-run turn starts over at stage 0).
 *
 * Two agentbridge processes, one after the other on one data directory: permission mode `edit`
 * (claude `acceptEdits`: Bash asks, Write does not; AskUserQuestion asks in every mode) for
 * approvals, questions, steering, stop and the restart with a pending card (last: it SIGKILLs
 * and restarts that process), then `read-only` (claude `plan`) for the plan card.
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect } from 'vitest';
import { RERUN_NOTE } from '../../src/conversation/rerun.js';
import { LocalChat, addLocalUsers, claudeServiceEnv, startAgentbridge, type AgentbridgeProcess, type LocalMessage } from '../helpers/agentbridge.js';
import { processesMentioning } from '../helpers/procs.js';
import { makeSandbox, waitFor, type Sandbox } from '../helpers/sandbox.js';
import { timedTests } from '../helpers/timed.js';
import {
  allText,
  latch,
  startAnthropicModel,
  toolResults,
  type AnthropicModel,
  type ContentBlock,
  type RecordedRequest,
  type Reply,
} from '../models/anthropic.js';

const CHANNEL = 'general';
const REQUESTER = 'alice';
const ADMIN = 'root';
const STRANGER = 'mallory';
/** A turn on a loaded 2-core machine: a live claude process starting (~4 s) plus a few model calls. */
const TURN_MS = 60_000;

/** A local chat message with its card buttons (`actions`, present only while a decision is pending). */
type CardMessage = LocalMessage & { actions?: Array<{ id: string; label: string; style?: string }> };

/** Durations per test, printed after the file (the brief asks for them). */
const { timed, durations } = timedTests(150_000);

// ---------------------------------------------------------------------------------------------
// The scripted model: one script per marker.

/** A script: the reply to a main request of its conversation at `stage` (tool results since the user's last message). */
type Script = (req: RecordedRequest, stage: number) => Reply;
const scripts = new Map<string, Script>();

/** A text block the user typed (not a `<system-reminder>` the CLI adds). */
function typed(b: ContentBlock): b is ContentBlock & { text: string } {
  return b.type === 'text' && typeof b.text === 'string' && !/^\s*<system-reminder>/.test(b.text);
}

/** Index of the newest `user` message with typed text (not only tool results and reminders); -1 when none. */
function lastTypedIndex(req: RecordedRequest): number {
  const messages = req.body.messages ?? [];
  for (let i = messages.length - 1; i >= 0; i--) {
    const m = messages[i]!;
    if (m.role === 'user' && (typeof m.content === 'string' || m.content.some(typed))) return i;
  }
  return -1;
}

/**
 * The newest text the user typed: the last typed block of the newest user message with one. Not
 * `lastUserText`: the CLI merges consecutive user messages into one (an interrupted turn's prompt,
 * "[Request interrupted by user]" and the next prompt), whose blocks that joins.
 */
function typedText(req: RecordedRequest): string {
  const m = (req.body.messages ?? [])[lastTypedIndex(req)];
  if (!m) return '';
  return typeof m.content === 'string' ? m.content : m.content.filter(typed).at(-1)!.text;
}

/** Number of tool results after the user's last typed message: 0 for a turn's first request. */
function stageOf(req: RecordedRequest): number {
  return resultsOfTurn(req).length;
}

/** The main requests of one test's turns (the user's last typed text carries its marker). */
function requestsOf(model: AnthropicModel, marker: string): RecordedRequest[] {
  return model.mainRequests().filter((r) => typedText(r).includes(marker));
}

/** The tool results after the user's last typed message. */
function resultsOfTurn(req: RecordedRequest) {
  return toolResults({ messages: (req.body.messages ?? []).slice(lastTypedIndex(req) + 1) });
}

const bash = (command: string): Reply => ({ toolUse: { name: 'Bash', input: { command, description: 'scripted command' } } });

let model: AnthropicModel;
let sb: Sandbox;
let dataDir: string;
/**
 * Where the Bash commands write: outside the workdir. In `acceptEdits` claude runs file-system
 * commands inside the workdir without asking (`echo x > f`, `touch`, `rm`, `mkdir`; verified with
 * 2.1.197), but asks for a write outside it (and for `node -e`, `curl`, `git init`).
 */
let outside: string;
let tokens: Record<string, string>;

function env(extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  return claudeServiceEnv(sb, model.url, { AGENTBRIDGE_DATA_DIR: dataDir, AGENTBRIDGE_ADMINS: `local:${ADMIN}`, ...extra });
}

async function startBridge(extra: NodeJS.ProcessEnv): Promise<{ ab: AgentbridgeProcess; chat: LocalChat }> {
  const ab = await startAgentbridge(env(extra), sb.root, 60_000);
  return { ab, chat: new LocalChat(ab.url, tokens) };
}

// ---------------------------------------------------------------------------------------------
// Chat helpers.

async function messages(chat: LocalChat, thread: string): Promise<CardMessage[]> {
  return (await chat.messages(CHANNEL, thread)) as CardMessage[];
}

async function botMessages(chat: LocalChat, thread: string): Promise<CardMessage[]> {
  return (await messages(chat, thread)).filter((m) => m.bot);
}

/** Waits for a card with buttons in the thread, other than the messages `except`; returns it. */
async function openCard(chat: LocalChat, thread: string, except: string[] = []): Promise<CardMessage> {
  return waitFor(
    async () => (await botMessages(chat, thread)).find((m) => m.actions && m.actions.length > 0 && !except.includes(m.id)),
    TURN_MS,
    `a card with buttons in thread ${thread}`,
  );
}

/** The id of the card's button labelled `label`. */
function button(card: CardMessage, label: string): string {
  const a = card.actions?.find((x) => x.label === label);
  if (!a) throw new Error(`no button "${label}" on the card: ${JSON.stringify(card.actions)}`);
  return a.id;
}

/** Waits until the message `id` has no buttons any more; returns it. */
async function closedCard(chat: LocalChat, thread: string, id: string, timeoutMs = TURN_MS): Promise<CardMessage> {
  return waitFor(
    async () => {
      const m = (await messages(chat, thread)).find((x) => x.id === id);
      return m && !m.actions ? m : undefined;
    },
    timeoutMs,
    `card ${id} to lose its buttons`,
  );
}

/** Clicks a card button as `user` (`POST /api/local/actions` with that user's bearer token). */
async function click(url: string, thread: string, card: CardMessage, label: string, user: string) {
  const res = await fetch(`${url}/api/local/actions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${tokens[user]}` },
    body: JSON.stringify({ channel: CHANNEL, thread, message: card.id, action: button(card, label) }),
  });
  return { status: res.status, body: (await res.json()) as { ok: boolean; error?: string } };
}

/** Waits for a bot message whose text starts with `prefix`. */
async function botText(chat: LocalChat, thread: string, prefix: string, timeoutMs = TURN_MS): Promise<string> {
  return waitFor(async () => (await chat.botTexts(CHANNEL, thread)).find((t) => t.startsWith(prefix)), timeoutMs, `bot message "${prefix}…" in ${thread}`);
}

/** How many bot messages of the thread start with `prefix`. */
async function countBot(chat: LocalChat, thread: string, prefix: string): Promise<number> {
  return (await chat.botTexts(CHANNEL, thread)).filter((t) => t.startsWith(prefix)).length;
}

/** Sends `/agent …` as alice; resolves with the next bot message of the thread. */
async function command(chat: LocalChat, thread: string, text: string): Promise<string> {
  const before = (await chat.botTexts(CHANNEL, thread)).length;
  await chat.send(CHANNEL, text, { thread, user: REQUESTER });
  return waitFor(async () => (await chat.botTexts(CHANNEL, thread))[before], 20_000, `reply to "${text}"`);
}

/** The pid of the conversation's live claude process, from `/agent status` ("live agent process: running (pid N)"). */
async function livePid(chat: LocalChat, thread: string): Promise<number> {
  const status = await command(chat, thread, '/agent status');
  const pid = /live agent process: running \(pid (\d+)\)/.exec(status)?.[1];
  if (!pid) throw new Error(`no live agent process in the status: ${status}`);
  return Number(pid);
}

/** The command line of a live process, '' when it is gone. */
function cmdline(pid: number): string {
  try {
    return fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').replace(/\0/g, ' ');
  } catch {
    return '';
  }
}

// ---------------------------------------------------------------------------------------------

beforeAll(async () => {
  model = await startAnthropicModel((req) => {
    const text = typedText(req);
    for (const [marker, script] of scripts) if (text.includes(marker)) return script(req, stageOf(req));
    return { text: `echo: ${text}` };
  });
  sb = makeSandbox();
  dataDir = path.join(sb.root, 'data');
  outside = path.join(sb.root, 'outside');
  fs.mkdirSync(outside);
  tokens = await addLocalUsers(env(), sb.root, [{ name: REQUESTER }, { name: ADMIN }, { name: STRANGER }]);
});

afterAll(async () => {
  await model?.close();
  if (sb) expect(processesMentioning(sb.root)).toEqual([]);
  sb?.cleanup();
  console.log(`interactive-claude durations:\n${durations.join('\n')}`);
});

describe('claude in edit mode (acceptEdits) on the local chat: approvals, questions, steering, stop, restart', () => {
  let ab: AgentbridgeProcess;
  let chat: LocalChat;
  beforeAll(async () => {
    ({ ab, chat } = await startBridge({ AGENTBRIDGE_PERMISSION_MODE: 'edit' }));
  });
  afterAll(async () => {
    expect(await ab?.stop()).toBe(0);
  });

  timed('approve: a stranger is refused (403, buttons kept); the requester approves, the Bash command runs, one answer', async () => {
    const file = path.join(outside, 'approved.txt');
    const cmd = `echo approved > ${file}`;
    scripts.set('M-APPROVE', (req, stage) => (stage === 0 ? bash(cmd) : { text: `APPROVE-DONE: ${resultsOfTurn(req)[0]!.isError ? 'error' : 'ran'}` }));
    const { thread } = await chat.send(CHANNEL, 'M-APPROVE please write the file', { user: REQUESTER });
    const card = await openCard(chat, thread);
    expect(card.text).toContain(cmd);
    expect(card.actions!.map((a) => a.label)).toEqual(['Approve', 'Always in this conversation', 'Deny']);
    // Nothing ran while the card waits.
    expect(requestsOf(model, 'M-APPROVE')).toHaveLength(1);
    expect(fs.existsSync(file)).toBe(false);

    // A stranger may not decide: 403, and the card keeps its buttons.
    const refused = await click(ab.url, thread, card, 'Approve', STRANGER);
    expect(refused.status).toBe(403);
    expect(refused.body.ok).toBe(false);
    expect(refused.body.error).toMatch(/cannot decide/);
    const still = (await messages(chat, thread)).find((m) => m.id === card.id)!;
    expect(still.actions).toEqual(card.actions);
    expect(fs.existsSync(file)).toBe(false);

    expect(await click(ab.url, thread, card, 'Approve', REQUESTER)).toEqual({ status: 200, body: { ok: true } });
    expect(await botText(chat, thread, 'APPROVE-DONE')).toBe('APPROVE-DONE: ran');
    expect(fs.readFileSync(file, 'utf8')).toBe('approved\n');
    const reqs = requestsOf(model, 'M-APPROVE');
    expect(reqs).toHaveLength(2);
    expect(resultsOfTurn(reqs[1]!)).toMatchObject([{ isError: false }]);
    expect(await countBot(chat, thread, 'APPROVE-DONE')).toBe(1);
    const final = await closedCard(chat, thread, card.id);
    expect(final.text).toContain(`Approved by ${REQUESTER}`);
  });

  timed('deny (by an admin): the command does not run, the model gets an is_error result, one answer', async () => {
    const file = path.join(outside, 'denied.txt');
    scripts.set('M-DENY', (req, stage) =>
      stage === 0 ? bash(`echo no > ${file}`) : { text: `DENY-DONE: ${resultsOfTurn(req)[0]!.isError ? 'error' : 'ran'}` },
    );
    const { thread } = await chat.send(CHANNEL, 'M-DENY please write the other file', { user: REQUESTER });
    const card = await openCard(chat, thread);
    expect(await click(ab.url, thread, card, 'Deny', ADMIN)).toEqual({ status: 200, body: { ok: true } });
    expect(await botText(chat, thread, 'DENY-DONE')).toBe('DENY-DONE: error');
    expect(fs.existsSync(file)).toBe(false);
    const reqs = requestsOf(model, 'M-DENY');
    expect(reqs).toHaveLength(2);
    expect(resultsOfTurn(reqs[1]!)).toEqual([expect.objectContaining({ isError: true, text: `${ADMIN} denied this in the chat.` })]);
    expect(await countBot(chat, thread, 'DENY-DONE')).toBe(1);
    expect((await closedCard(chat, thread, card.id)).text).toContain(`Denied by ${ADMIN}`);
  });

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
  /** Asks the question, then answers with the tool result the model received. */
  const questionScript =
    (done: string): Script =>
    (req, stage) =>
      stage === 0 ? { toolUse: { name: 'AskUserQuestion', input: { questions } } } : { text: `${done}: ${resultsOfTurn(req)[0]!.text}` };

  timed('question answered by a button: the model receives the chosen label', async () => {
    scripts.set('M-QBUTTON', questionScript('QBUTTON-DONE'));
    const { thread } = await chat.send(CHANNEL, 'M-QBUTTON ask me something', { user: REQUESTER });
    const card = await openCard(chat, thread);
    expect(card.text).toContain('Which colour?');
    expect(card.actions!.map((a) => a.label)).toEqual(['Red', 'Blue']);
    expect(await click(ab.url, thread, card, 'Blue', REQUESTER)).toEqual({ status: 200, body: { ok: true } });
    await botText(chat, thread, 'QBUTTON-DONE');
    const reqs = requestsOf(model, 'M-QBUTTON');
    expect(reqs).toHaveLength(2);
    const [result] = resultsOfTurn(reqs[1]!);
    expect(result!.isError).toBe(false);
    expect(result!.text).toContain('"Which colour?"="Blue"');
    expect(await countBot(chat, thread, 'QBUTTON-DONE')).toBe(1);
    expect((await closedCard(chat, thread, card.id)).text).toContain(`Answered by ${REQUESTER}`);
  });

  timed('question answered by a free-text reply: the model receives the text, and the reply starts no turn of its own', async () => {
    scripts.set('M-QTEXT', questionScript('QTEXT-DONE'));
    const { thread } = await chat.send(CHANNEL, 'M-QTEXT ask me something', { user: REQUESTER });
    const card = await openCard(chat, thread);
    await chat.send(CHANNEL, 'Green with a hint of teal', { thread, user: REQUESTER });
    await botText(chat, thread, 'QTEXT-DONE');
    const reqs = requestsOf(model, 'M-QTEXT');
    expect(reqs).toHaveLength(2);
    const [result] = resultsOfTurn(reqs[1]!);
    expect(result!.isError).toBe(false);
    expect(result!.text).toContain('"Which colour?"="Green with a hint of teal"');
    expect((await closedCard(chat, thread, card.id)).text).toContain(`Answered by ${REQUESTER}`);

    // A later message is answered next; had the reply started a turn, it would come before it.
    const before = model.mainRequests().length;
    await chat.send(CHANNEL, 'and now something else', { thread, user: REQUESTER });
    await botText(chat, thread, 'echo: and now something else');
    const later = model.mainRequests().slice(before);
    expect(later.map((r) => typedText(r))).toEqual(['and now something else']);
    expect(model.mainRequests().filter((r) => typedText(r).includes('Green with a hint of teal'))).toEqual([]);
    expect((await chat.botTexts(CHANNEL, thread)).filter((t) => !t.startsWith('❓'))).toEqual([
      expect.stringMatching(/^QTEXT-DONE/),
      'echo: and now something else',
    ]);
  });

  timed('steering: a message sent while the model works reaches it inside the same turn; one answer for both', async () => {
    const gate = latch();
    const file = path.join(sb.workdir, 'steered.txt');
    scripts.set('M-STEER', (req, stage) =>
      stage === 0
        ? { until: gate.promise, then: { toolUse: { name: 'Write', input: { file_path: file, content: 'steered\n' } } } }
        : { text: `STEER-DONE: ${allText(req).includes('PELICAN-STEER') ? 'saw the extra' : 'missed it'}` },
    );
    const { thread } = await chat.send(CHANNEL, 'M-STEER start the work', { user: REQUESTER });
    await waitFor(() => requestsOf(model, 'M-STEER').length === 1, TURN_MS, 'the held model request');
    const steeredBefore = ab.logs.filter((l) => l.msg === 'message steered into the running turn').length;
    const offeredBefore = ab.logs.filter((l) => l.msg === 'message offered to the running turn').length;
    await chat.send(CHANNEL, 'also mention PELICAN-STEER please', { thread, user: REQUESTER });
    // Written to claude's stdin; claude takes it (its echo) after the held tool call returns.
    await waitFor(() => ab.logs.filter((l) => l.msg === 'message offered to the running turn').length > offeredBefore, 20_000, 'the message offered');
    gate.open();
    await waitFor(() => ab.logs.filter((l) => l.msg === 'message steered into the running turn').length > steeredBefore, 20_000, 'the message to be steered');

    expect(await botText(chat, thread, 'STEER-DONE')).toBe('STEER-DONE: saw the extra');
    expect(fs.readFileSync(file, 'utf8')).toBe('steered\n');
    const reqs = requestsOf(model, 'M-STEER');
    expect(reqs).toHaveLength(2);
    expect(allText(reqs[0]!)).not.toContain('PELICAN-STEER');
    expect(allText(reqs[1]!)).toContain('also mention PELICAN-STEER please');
    // The steered text never started a turn of its own.
    expect(model.mainRequests().filter((r) => typedText(r).includes('PELICAN-STEER'))).toEqual([]);
    // Both user messages, and one bot answer (the progress message became the answer; Write asked nothing).
    const list = await messages(chat, thread);
    expect(list.filter((m) => !m.bot).map((m) => m.text)).toEqual(['M-STEER start the work', 'also mention PELICAN-STEER please']);
    expect(list.filter((m) => m.bot).map((m) => m.text)).toEqual(['STEER-DONE: saw the extra']);
  });

  timed('/agent stop while the model is slow: the turn ends as stopped within seconds; the same claude process answers next', async () => {
    scripts.set('M-STOP', () => ({ hang: true }));
    const { thread } = await chat.send(CHANNEL, 'M-STOP a long task', { user: REQUESTER });
    await waitFor(() => requestsOf(model, 'M-STOP').length === 1, TURN_MS, 'the slow model request');
    const pid = await livePid(chat, thread);
    expect(cmdline(pid)).toContain('claude');

    const stoppedAt = Date.now();
    expect(await command(chat, thread, '/agent stop')).toContain('Stopping the running turn');
    await botText(chat, thread, '⏹️ The turn was stopped.', 10_000);
    const ms = Date.now() - stoppedAt;
    durations.push(`   (stop → "stopped" shown: ${ms} ms)`);
    expect(ms).toBeLessThan(5000);

    const before = model.mainRequests().length;
    await chat.send(CHANNEL, 'are you still there?', { thread, user: REQUESTER });
    await botText(chat, thread, 'echo: are you still there?');
    expect(
      model
        .mainRequests()
        .slice(before)
        .map((r) => typedText(r)),
    ).toEqual(['are you still there?']);
    // The live process was interrupted, not killed: the same pid answered and still runs.
    expect(await livePid(chat, thread)).toBe(pid);
    expect(cmdline(pid)).toContain('claude');
  });

  timed('restart with an approval card open: the card expires without buttons, the turn reruns, one answer', async () => {
    const file = path.join(outside, 'after-restart.txt');
    scripts.set('M-RESTART', (req, stage) =>
      stage === 0 ? bash(`echo once >> ${file}`) : { text: `RESTART-DONE: ${resultsOfTurn(req)[0]!.isError ? 'error' : 'ran'}` },
    );
    const { thread } = await chat.send(CHANNEL, 'M-RESTART append to the file', { user: REQUESTER });
    const card = await openCard(chat, thread);
    const oldPid = await livePid(chat, thread);
    const mark = model.mainRequests().length;

    ab.child.kill('SIGKILL');
    await ab.exited;
    ({ ab, chat } = await startBridge({ AGENTBRIDGE_PERMISSION_MODE: 'edit' }));

    const expired = await closedCard(chat, thread, card.id);
    expect(expired.text).toContain('Expired');
    // The turn runs again: the model sees the prompt again (with the re-run note), and it asks again.
    const again = await openCard(chat, thread, [card.id]);
    const after = model
      .mainRequests()
      .slice(mark)
      .filter((r) => typedText(r).includes('M-RESTART'));
    expect(after.filter((r) => stageOf(r) === 0).map((r) => typedText(r))).toEqual([`${RERUN_NOTE}\n\nM-RESTART append to the file`]);
    // The killed process's claude, its permission stream closed, may still tell the model the
    // request failed (verified with 2.1.197: "Tool permission stream closed before response
    // received", is_error) before it is reaped; the command never ran.
    for (const r of after.filter((x) => stageOf(x) > 0)) expect(resultsOfTurn(r)).toEqual([expect.objectContaining({ isError: true })]);
    expect(fs.existsSync(file)).toBe(false);
    // The killed process's claude was reaped at the start.
    await waitFor(() => !cmdline(oldPid).includes('claude'), 20_000, 'the orphaned claude to be gone');

    expect(await click(ab.url, thread, again, 'Approve', REQUESTER)).toEqual({ status: 200, body: { ok: true } });
    expect(await botText(chat, thread, 'RESTART-DONE')).toBe('RESTART-DONE: ran');
    expect(fs.readFileSync(file, 'utf8')).toBe('once\n');
    expect(await chat.botTexts(CHANNEL, thread)).toContain('RESTART-DONE: ran');
    expect(await countBot(chat, thread, 'RESTART-DONE')).toBe(1);
    // No live buttons anywhere in the thread.
    expect((await botMessages(chat, thread)).filter((m) => m.actions)).toEqual([]);
  });
});

describe('claude in read-only mode (plan) on the local chat: the plan card', () => {
  let ab: AgentbridgeProcess;
  let chat: LocalChat;
  beforeAll(async () => {
    ({ ab, chat } = await startBridge({ AGENTBRIDGE_PERMISSION_MODE: 'read-only' }));
  });
  afterAll(async () => {
    expect(await ab?.stop()).toBe(0);
  });

  timed('keep planning passes the feedback; approve plan switches to edit and a Write runs without a card', async () => {
    const file = path.join(sb.workdir, 'planned.txt');
    scripts.set('M-PLAN', (_req, stage) => {
      if (stage === 0) return { toolUse: { name: 'ExitPlanMode', input: { plan: '1. Write planned.txt (first draft)' } } };
      if (stage === 1) return { toolUse: { name: 'ExitPlanMode', input: { plan: '1. Write planned.txt\n2. Cover the tests' } } };
      if (stage === 2) return { toolUse: { name: 'Write', input: { file_path: file, content: 'planned\n' } } };
      return { text: 'PLAN-DONE' };
    });
    const { thread } = await chat.send(CHANNEL, 'M-PLAN plan the change, then do it', { user: REQUESTER });
    const first = await openCard(chat, thread);
    expect(first.text).toContain('first draft');
    expect(first.actions!.map((a) => a.label)).toEqual(['Approve plan', 'Keep planning']);

    expect(await click(ab.url, thread, first, 'Keep planning', REQUESTER)).toEqual({ status: 200, body: { ok: true } });
    expect((await closedCard(chat, thread, first.id)).text).toContain('chose to keep planning');
    await chat.send(CHANNEL, 'cover the tests too', { thread, user: REQUESTER });

    const second = await openCard(chat, thread, [first.id]);
    expect(second.text).toContain('Cover the tests');
    const reqs = requestsOf(model, 'M-PLAN');
    expect(reqs).toHaveLength(2);
    expect(resultsOfTurn(reqs[1]!)).toEqual([expect.objectContaining({ isError: true, text: 'Keep planning. Feedback: cover the tests too' })]);
    expect(fs.existsSync(file)).toBe(false);

    expect(await click(ab.url, thread, second, 'Approve plan', REQUESTER)).toEqual({ status: 200, body: { ok: true } });
    await botText(chat, thread, 'PLAN-DONE');
    expect(fs.readFileSync(file, 'utf8')).toBe('planned\n');
    const all = requestsOf(model, 'M-PLAN');
    expect(all).toHaveLength(4);
    expect(resultsOfTurn(all[3]!).map((r) => r.isError)).toEqual([true, false, false]);
    // Two cards only (the Write asked nothing), both closed.
    const bots = await botMessages(chat, thread);
    expect(bots.filter((m) => m.text.startsWith('📋'))).toHaveLength(2);
    expect(bots.filter((m) => m.actions)).toEqual([]);
    expect((await closedCard(chat, thread, second.id)).text).toContain('Plan approved by');
    expect(await countBot(chat, thread, 'PLAN-DONE')).toBe(1);
    expect(await command(chat, thread, '/agent status')).toContain('permission mode: edit');
  });
});
