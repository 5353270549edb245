/**
 * Interactive agent sessions end to end on the local web chat (issue 11): agentbridge as its own
 * process (`dist/cli.js start`), the local chat HTTP API (`POST /api/local/actions` for card
 * buttons), the real `codex` CLI (`codex app-server`) and `gemini` CLI (`gemini --acp`) against
 * the scripted model servers (test/models/), and assertions on what the model server received
 * and on the file system, not only on the posted text.
 *
 * People (local users with login, so identity comes from the bearer token, never the body):
 * alice starts every turn (the requester), root is an admin (AGENTBRIDGE_ADMINS=local:root),
 * mallory is a stranger. One scripted model server per agent serves every agentbridge process of
 * the file; each test has its own thread and a marker in its prompts that selects its script
 * (`scripts`), so a script is a pure function of the request (its stage: whether a tool result
 * follows the last user message).
 *
 * One agentbridge process per describe (the settings differ: approval timeout, busy mode, idle
 * timeout, live-session bound); the codex ones share one sandbox and data directory and run one
 * after another, so counting `codex app-server` processes in the sandbox counts that process's.
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect } from 'vitest';
import { RERUN_NOTE } from '../../src/conversation/rerun.js';
import { LocalChat, addLocalUsers, runCli, startAgentbridge, type AgentbridgeProcess, type LocalMessage } from '../helpers/agentbridge.js';
import { codexServiceEnv, geminiServiceEnv } from '../helpers/agents-env.js';
import { processesMentioning } from '../helpers/procs.js';
import { makeSandbox, waitFor, type Sandbox } from '../helpers/sandbox.js';
import { timedTests } from '../helpers/timed.js';
import * as gm from '../models/gemini.js';
import {
  allText,
  echoResponder,
  escalatedExec,
  functionCallOutputs,
  gate,
  lastUserText,
  startOpenAIModel,
  userInputCall,
  type OpenAIModel,
  type RecordedRequest,
  type Reply,
} from '../models/openai.js';

const CHANNEL = 'general';
const REQUESTER = 'alice';
const ADMIN = 'root';
const STRANGER = 'mallory';
const USERS = [{ name: REQUESTER }, { name: ADMIN }, { name: STRANGER }];
/** A turn on a loaded 2-core machine: the CLI's start plus a few model calls. */
const TURN_MS = 60_000;

/** Durations per test, printed after the file (the brief asks for them). */
const { timed, durations } = timedTests(180_000);

// ---------------------------------------------------------------------------------------------
// The scripted codex model: one script per marker.

type Script = (req: RecordedRequest, toolOutputs: string[]) => Reply;
const scripts = new Map<string, Script>();

/** Outputs of the tool calls that follow the request's last user message (its stage in the turn). */
function outputsSinceUser(req: RecordedRequest): string[] {
  let last = -1;
  req.input.forEach((item, i) => {
    if (item.role === 'user' && (item.type === undefined || item.type === 'message')) last = i;
  });
  const later = { ...req, input: req.input.slice(last + 1) };
  return functionCallOutputs(later).map((o) => o.output);
}

/** The main requests of one test's conversation (those carrying its marker). */
function requestsOf(model: OpenAIModel, marker: string): RecordedRequest[] {
  return model.mainRequests().filter((r) => allText(r).includes(marker));
}

/** The model's default answer: `echo: <the user's last message>`. */
function echo(req: RecordedRequest): Reply {
  return { text: `echo: ${lastUserText(req)}` };
}

/** codex's output for a declined command (verified with codex 0.169.0: "rejected by user"). */
const DECLINED = /rejected/i;

/**
 * Asks to run `cmd(req)` outside the sandbox, then answers `<done>: ran` or `<done>: declined`
 * from the tool result codex sent back.
 */
function approvalScript(cmd: (req: RecordedRequest) => string, done: string): Script {
  return (req, outputs) => {
    if (outputs.length === 0) return escalatedExec(cmd(req), 'needs to write outside the sandbox');
    return { text: `${done}: ${outputs.some((o) => DECLINED.test(o)) ? 'declined' : 'ran'}` };
  };
}

let codexModel: OpenAIModel;
let sb: Sandbox;
/** Outside the workdir (codex's read-only sandbox forbids writing anywhere without approval). */
let outside: string;
let tokens: Record<string, string>;

function codexEnv(extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  return codexServiceEnv(sb, codexModel.url, {
    AGENTBRIDGE_PERMISSION_MODE: 'ask',
    AGENTBRIDGE_ADMINS: `local:${ADMIN}`,
    ...extra,
  });
}

/** Starts an agentbridge on the shared data dir; stopped after its describe. */
async function startCodexBridge(extra: NodeJS.ProcessEnv = {}): Promise<{ ab: AgentbridgeProcess; chat: LocalChat }> {
  const ab = await startAgentbridge(codexEnv(extra), sb.root, 60_000);
  return { ab, chat: new LocalChat(ab.url, tokens) };
}

/** Stops a codex agentbridge (exit 0 expected) and waits until no codex app-server is left in the sandbox. */
async function stopCodexBridge(ab: AgentbridgeProcess | undefined): Promise<void> {
  if (!ab) return;
  expect(await ab.stop()).toBe(0);
  await waitFor(() => appServers().length === 0, 20_000, 'no codex app-server left');
}

// ---------------------------------------------------------------------------------------------
// Chat helpers.

async function botMessages(chat: LocalChat, thread: string): Promise<LocalMessage[]> {
  return (await chat.messages(CHANNEL, thread)).filter((m) => m.bot);
}

/** Waits for a card with buttons in the thread other than `except`; returns it. */
async function openCard(chat: LocalChat, thread: string, except: string[] = []): Promise<LocalMessage> {
  return waitFor(
    async () => (await botMessages(chat, thread)).find((m) => m.actions && m.actions.length > 0 && !except.includes(m.id)),
    TURN_MS,
    `a card with buttons in thread ${thread}`,
  );
}

/** The id of the card's button labelled `label`. */
function button(card: LocalMessage, label: string): string {
  const a = card.actions?.find((x) => x.label === label);
  if (!a) throw new Error(`no button "${label}" on the card: ${JSON.stringify(card.actions)}`);
  return a.id;
}

/** Waits until the message `id` has no buttons any more; returns it. */
async function closedCard(chat: LocalChat, thread: string, id: string): Promise<LocalMessage> {
  return waitFor(
    async () => {
      const m = (await chat.messages(CHANNEL, thread)).find((x) => x.id === id);
      return m && !m.actions ? m : undefined;
    },
    TURN_MS,
    `card ${id} to lose its buttons`,
  );
}

/** Waits for a bot message whose text starts with `prefix`. */
async function botText(chat: LocalChat, thread: string, prefix: string, timeoutMs = TURN_MS): Promise<string> {
  return waitFor(async () => (await chat.botTexts(CHANNEL, thread)).find((t) => t.startsWith(prefix)), timeoutMs, `bot message "${prefix}…" in ${thread}`);
}

/** Sends `/agent …` as alice; resolves with the next bot message of the thread. */
async function command(chat: LocalChat, thread: string, text: string): Promise<string> {
  const before = (await chat.botTexts(CHANNEL, thread)).length;
  await chat.send(CHANNEL, text, { thread, user: REQUESTER });
  return waitFor(async () => (await chat.botTexts(CHANNEL, thread))[before], 20_000, `reply to "${text}"`);
}

/** The conversation's transcript as `agentbridge sessions show` prints it (read-only; safe while running). */
async function transcript(thread: string): Promise<string> {
  const r = await runCli(['sessions', 'show', `local:${CHANNEL}:${thread}`, '--entries', '50'], codexEnv(), sb.root);
  if (r.code !== 0) throw new Error(`sessions show → ${r.code}: ${r.stderr}`);
  return r.stdout;
}

/** Processes of live codex sessions: the native `codex app-server` binaries under the sandbox (not their node launcher). */
function appServers(): number[] {
  return processesMentioning(sb.root)
    .filter((p) => / app-server( |$)/.test(p.cmd) && !/^\S*node /.test(p.cmd))
    .map((p) => p.pid);
}

function logged(ab: AgentbridgeProcess, msg: string): Array<Record<string, unknown>> {
  return ab.logs.filter((l) => l.msg === msg);
}

/**
 * Waits until `n` turns of the thread's conversation have finished (agentbridge's "turn finished"
 * log line). The answer can be on the page before its turn has released its live session.
 */
async function turnsFinished(ab: AgentbridgeProcess, thread: string, n: number): Promise<void> {
  const id = `local:${CHANNEL}:${thread}`;
  await waitFor(() => ab.logs.filter((l) => l.msg === 'turn finished' && l.conversationId === id).length >= n, TURN_MS, `${n} finished turn(s) in ${id}`);
}

// ---------------------------------------------------------------------------------------------

beforeAll(async () => {
  codexModel = await startOpenAIModel((req, ctx) => {
    if (!ctx.main) return echoResponder(req, ctx);
    const text = allText(req);
    for (const [marker, script] of scripts) if (text.includes(marker)) return script(req, outputsSinceUser(req));
    return echoResponder(req, ctx);
  });
  sb = makeSandbox();
  outside = path.join(sb.root, 'outside');
  fs.mkdirSync(outside);
  tokens = await addLocalUsers(codexEnv(), sb.root, USERS);
});

afterAll(async () => {
  await codexModel?.close();
  if (sb) expect(processesMentioning(sb.root)).toEqual([]);
  sb?.cleanup();
  console.log(`interactive-local durations:\n${durations.join('\n')}`);
});

describe('codex (ask mode) on the local chat: approvals, questions, steering, live sessions', () => {
  let ab: AgentbridgeProcess;
  let chat: LocalChat;
  beforeAll(async () => {
    ({ ab, chat } = await startCodexBridge());
  });
  afterAll(() => stopCodexBridge(ab));

  timed('approve: the escalated command runs, the answer is posted once, the card ends "Approved by alice" without buttons', async () => {
    const file = path.join(outside, 'approved.txt');
    scripts.set(
      'M-APPROVE',
      approvalScript(() => `touch ${file}`, 'APPROVE-DONE'),
    );
    const { thread } = await chat.send(CHANNEL, 'M-APPROVE please write the marker file', { user: REQUESTER });
    const card = await openCard(chat, thread);
    expect(card.text).toContain(`touch ${file}`);
    expect(card.actions!.map((a) => a.label)).toEqual(['Approve', 'Always in this conversation', 'Deny']);
    // Nothing ran while the card waits: one model request so far, no file.
    expect(requestsOf(codexModel, 'M-APPROVE')).toHaveLength(1);
    expect(fs.existsSync(file)).toBe(false);

    const click = await chat.click(CHANNEL, thread, card.id, button(card, 'Approve'), REQUESTER);
    expect(click).toEqual({ status: 200, body: { ok: true } });
    await botText(chat, thread, 'APPROVE-DONE');
    expect(fs.existsSync(file)).toBe(true);
    const [, second] = requestsOf(codexModel, 'M-APPROVE');
    expect(functionCallOutputs(second!)).toHaveLength(1);
    expect(functionCallOutputs(second!)[0]!.output).not.toMatch(DECLINED);
    expect((await chat.botTexts(CHANNEL, thread)).filter((t) => t.startsWith('APPROVE-DONE'))).toEqual(['APPROVE-DONE: ran']);
    const final = await closedCard(chat, thread, card.id);
    expect(final.text).toContain(`Approved by ${REQUESTER}`);
    expect((await botMessages(chat, thread)).some((m) => m.actions)).toBe(false);
    // A later click (a stale page) is told who decided.
    const late = await chat.click(CHANNEL, thread, card.id, button(card, 'Deny'), ADMIN);
    expect(late.status).toBe(409);
    expect(late.body.error).toMatch(new RegExp(`^Already decided by ${REQUESTER} at \\d\\d:\\d\\d UTC\\.$`));
    expect(fs.existsSync(file)).toBe(true);
  });

  timed('deny: the command does not run, the model is told and goes on to its answer; the card says Denied', async () => {
    const file = path.join(outside, 'denied.txt');
    scripts.set(
      'M-DENY',
      approvalScript(() => `touch ${file}`, 'DENY-DONE'),
    );
    const { thread } = await chat.send(CHANNEL, 'M-DENY please write the file', { user: REQUESTER });
    const card = await openCard(chat, thread);
    expect(await chat.click(CHANNEL, thread, card.id, button(card, 'Deny'), REQUESTER)).toEqual({ status: 200, body: { ok: true } });
    expect(await botText(chat, thread, 'DENY-DONE')).toBe('DENY-DONE: declined');
    expect(fs.existsSync(file)).toBe(false);
    const [, second] = requestsOf(codexModel, 'M-DENY');
    expect(functionCallOutputs(second!)[0]!.output).toMatch(DECLINED);
    const final = await closedCard(chat, thread, card.id);
    expect(final.text).toContain(`Denied by ${REQUESTER}`);
  });

  timed('always: a matching request in the next turn runs without a card; /agent status lists the rule; /agent reset clears it', async () => {
    const file = (n: string) => path.join(outside, `always-${n}.txt`);
    const which = (req: RecordedRequest) => /M-ALWAYS (\w+)/.exec(lastUserText(req))?.[1] ?? 'x';
    scripts.set(
      'M-ALWAYS',
      approvalScript((req) => `touch ${file(which(req))}`, 'ALWAYS-DONE'),
    );
    const { thread } = await chat.send(CHANNEL, 'M-ALWAYS one', { user: REQUESTER });
    const card = await openCard(chat, thread);
    expect(await chat.click(CHANNEL, thread, card.id, button(card, 'Always in this conversation'), REQUESTER)).toEqual({ status: 200, body: { ok: true } });
    await botText(chat, thread, 'ALWAYS-DONE');
    expect(fs.existsSync(file('one'))).toBe(true);
    expect((await closedCard(chat, thread, card.id)).text).toContain(`Approved by ${REQUESTER}`);

    // A second turn, another file, same command word: no new card, it runs, and agentbridge's rule granted it.
    const granted = logged(ab, 'approval granted by an always-rule of the conversation').length;
    const answers = (await chat.botTexts(CHANNEL, thread)).filter((t) => t.startsWith('ALWAYS-DONE')).length;
    await chat.send(CHANNEL, 'M-ALWAYS two', { thread, user: REQUESTER });
    await waitFor(async () => (await chat.botTexts(CHANNEL, thread)).filter((t) => t.startsWith('ALWAYS-DONE')).length > answers, TURN_MS, 'the second answer');
    expect(fs.existsSync(file('two'))).toBe(true);
    expect((await botMessages(chat, thread)).filter((m) => m.text.includes('wants to run a command'))).toHaveLength(1);
    expect(logged(ab, 'approval granted by an always-rule of the conversation').length).toBe(granted + 1);

    expect(await command(chat, thread, '/agent status')).toContain('always approved here: `command touch`');
    expect(await command(chat, thread, '/agent reset')).toContain('Cleared 1 "always" approval');
    expect(await command(chat, thread, '/agent status')).toContain('always approved here: nothing');

    // After the reset the same kind of command asks again.
    await chat.send(CHANNEL, 'M-ALWAYS three', { thread, user: REQUESTER });
    const again = await openCard(chat, thread);
    expect(again.id).not.toBe(card.id);
    expect(again.text).toContain(file('three'));
    expect(await chat.click(CHANNEL, thread, again.id, button(again, 'Deny'), REQUESTER)).toMatchObject({ status: 200 });
    await waitFor(async () => (await chat.botTexts(CHANNEL, thread)).includes('ALWAYS-DONE: declined'), TURN_MS, 'the third answer');
    expect(fs.existsSync(file('three'))).toBe(false);
  });

  timed('two approvers click at once: exactly one wins (200), the other gets 409 "Already decided"', async () => {
    const file = path.join(outside, 'race.txt');
    scripts.set(
      'M-RACE',
      approvalScript(() => `touch ${file}`, 'RACE-DONE'),
    );
    const { thread } = await chat.send(CHANNEL, 'M-RACE write it', { user: REQUESTER });
    const card = await openCard(chat, thread);
    const [byRequester, byAdmin] = await Promise.all([
      chat.click(CHANNEL, thread, card.id, button(card, 'Approve'), REQUESTER),
      chat.click(CHANNEL, thread, card.id, button(card, 'Deny'), ADMIN),
    ]);
    expect([byRequester.status, byAdmin.status].sort()).toEqual([200, 409]);
    const loser = byRequester.status === 409 ? byRequester : byAdmin;
    expect(loser.body.ok).toBe(false);
    expect(loser.body.error).toMatch(/^Already decided by (alice|root) at \d\d:\d\d UTC\.$/);
    const approved = byRequester.status === 200;
    const answer = await botText(chat, thread, 'RACE-DONE');
    // The winner's decision, and only it, took effect.
    expect(answer).toBe(approved ? 'RACE-DONE: ran' : 'RACE-DONE: declined');
    expect(fs.existsSync(file)).toBe(approved);
    const final = await closedCard(chat, thread, card.id);
    expect(final.text).toContain(approved ? `Approved by ${REQUESTER}` : `Denied by ${ADMIN}`);
    expect(loser.body.error).toContain(approved ? REQUESTER : ADMIN);
  });

  timed('a stranger clicks: 403, the request stays pending; then the requester approves it', async () => {
    const file = path.join(outside, 'stranger.txt');
    scripts.set(
      'M-STRANGER',
      approvalScript(() => `touch ${file}`, 'STRANGER-DONE'),
    );
    const { thread } = await chat.send(CHANNEL, 'M-STRANGER write it', { user: REQUESTER });
    const card = await openCard(chat, thread);
    const refused = await chat.click(CHANNEL, thread, card.id, button(card, 'Approve'), STRANGER);
    expect(refused.status).toBe(403);
    expect(refused.body).toMatchObject({ ok: false, error: expect.stringContaining('You cannot decide this') });
    // Identity comes from the login: naming the requester in the body changes nothing.
    expect((await chat.click(CHANNEL, thread, card.id, button(card, 'Approve'), STRANGER, { claim: REQUESTER })).status).toBe(403);
    // Still pending: buttons on the card, the model not asked again, nothing ran.
    const still = (await chat.messages(CHANNEL, thread)).find((m) => m.id === card.id)!;
    expect(still.actions).toEqual(card.actions);
    expect(requestsOf(codexModel, 'M-STRANGER')).toHaveLength(1);
    expect(fs.existsSync(file)).toBe(false);

    expect(await chat.click(CHANNEL, thread, card.id, button(card, 'Approve'), REQUESTER)).toEqual({ status: 200, body: { ok: true } });
    expect(await botText(chat, thread, 'STRANGER-DONE')).toBe('STRANGER-DONE: ran');
    expect(fs.existsSync(file)).toBe(true);
    expect((await closedCard(chat, thread, card.id)).text).toContain(`Approved by ${REQUESTER}`);
  });

  timed('questions (request_user_input): answered by a button in one thread and by a free-text reply in another; the model gets the answer', async () => {
    const question = {
      id: 'color',
      header: 'Color',
      question: 'Which color should the button be?',
      options: [
        { label: 'Red', description: 'bold' },
        { label: 'Blue', description: 'calm' },
      ],
    };
    const script: Script = (_req, outputs) => (outputs.length === 0 ? userInputCall([question]) : { text: `QUESTION-DONE: ${outputs.join(' ')}` });
    scripts.set('M-QBUTTON', script);
    scripts.set('M-QTEXT', script);

    const button1 = await chat.send(CHANNEL, 'M-QBUTTON pick a color', { user: REQUESTER });
    const text1 = await chat.send(CHANNEL, 'M-QTEXT pick a color', { user: REQUESTER });

    // By button.
    const card = await openCard(chat, button1.thread);
    expect(card.text).toContain('Which color should the button be?');
    expect(card.actions!.map((a) => a.label)).toEqual(['Red', 'Blue']);
    expect(await chat.click(CHANNEL, button1.thread, card.id, button(card, 'Blue'), REQUESTER)).toEqual({ status: 200, body: { ok: true } });
    await botText(chat, button1.thread, 'QUESTION-DONE');
    const answered = requestsOf(codexModel, 'M-QBUTTON')[1]!;
    const out = functionCallOutputs(answered)[0]!.output;
    expect(out).toContain('Blue');
    expect(out).not.toContain('Red');
    expect((await closedCard(chat, button1.thread, card.id)).text).toContain(`Answered by ${REQUESTER}`);

    // By a free-text reply in the thread: it answers the question instead of starting a turn.
    const card2 = await openCard(chat, text1.thread);
    await chat.send(CHANNEL, 'Green, with stripes', { thread: text1.thread, user: REQUESTER });
    await botText(chat, text1.thread, 'QUESTION-DONE');
    const reqs = requestsOf(codexModel, 'M-QTEXT');
    expect(reqs).toHaveLength(2);
    expect(functionCallOutputs(reqs[1]!)[0]!.output).toContain('Green, with stripes');
    expect(codexModel.mainRequests().some((r) => lastUserText(r).includes('Green, with stripes'))).toBe(false);
    expect((await chat.botTexts(CHANNEL, text1.thread)).filter((t) => t.startsWith('QUESTION-DONE'))).toHaveLength(1);
    expect((await closedCard(chat, text1.thread, card2.id)).text).toContain('Green, with stripes');
  });

  timed('steering: a message sent while the model reply is held reaches the model in the same turn; one answer; in the transcript', async () => {
    const hold = gate();
    scripts.set('M-STEER', (req) => (lastUserText(req).includes('M-STEER start') ? { after: hold.promise, reply: { text: 'STEER-FIRST' } } : echo(req)));
    const { thread } = await chat.send(CHANNEL, 'M-STEER start a slow job', { user: REQUESTER });
    await waitFor(() => requestsOf(codexModel, 'M-STEER').length === 1, TURN_MS, 'the held model request');
    const steeredBefore = logged(ab, 'message steered into the running turn').length;
    await chat.send(CHANNEL, 'also mention STEERED-BANANA', { thread, user: REQUESTER });
    await waitFor(() => logged(ab, 'message steered into the running turn').length > steeredBefore, TURN_MS, 'the message to be steered');
    hold.release();

    // Codex usually drops the held model call and restarts it with the steered text; when the held
    // reply got through first (seen under heavy load), the steered text goes to the model in a
    // follow-up call of the same turn and the one answer holds both replies.
    let seen: string[] = [];
    const answer = await waitFor(
      async () => (seen = await chat.botTexts(CHANNEL, thread)).find((t) => t.includes('echo:')),
      TURN_MS,
      () => `the answer with "echo:" in ${thread}; bot messages: ${JSON.stringify(seen)}`,
    );
    expect(answer).toContain('STEERED-BANANA');
    const reqs = requestsOf(codexModel, 'M-STEER');
    // The steered text reached the model inside the same turn: the next request of the turn carries both.
    expect(allText(reqs[0]!)).not.toContain('STEERED-BANANA');
    expect(lastUserText(reqs[1]!)).toContain('also mention STEERED-BANANA');
    expect(allText(reqs[1]!)).toContain('M-STEER start a slow job');
    // Exactly once: no later request brings it as a new prompt, one answer for both messages.
    expect(codexModel.mainRequests().filter((r) => lastUserText(r).includes('STEERED-BANANA'))).toHaveLength(1);
    const bot = await chat.botTexts(CHANNEL, thread);
    expect(bot.filter((t) => t.startsWith('echo:') || t.startsWith('STEER-FIRST'))).toHaveLength(1);
    const shown = await transcript(thread);
    expect(shown).toMatch(/alice: M-STEER start a slow job/);
    expect(shown).toMatch(/alice: also mention STEERED-BANANA/);
  });

  timed('live session: the second turn of a conversation runs in the same codex app-server process, with context', async () => {
    scripts.set('M-LIVE', (req) => echo(req));
    const before = new Set(appServers());
    const { thread } = await chat.send(CHANNEL, 'M-LIVE remember PELICAN', { user: REQUESTER });
    await botText(chat, thread, 'echo: M-LIVE remember PELICAN');
    const opened = appServers().filter((p) => !before.has(p));
    expect(opened).toHaveLength(1);
    await chat.send(CHANNEL, 'M-LIVE what was the word?', { thread, user: REQUESTER });
    await botText(chat, thread, 'echo: M-LIVE what was the word?');
    expect(appServers().filter((p) => !before.has(p))).toEqual(opened);
    const second = requestsOf(codexModel, 'M-LIVE').at(-1)!;
    expect(allText(second)).toContain('echo: M-LIVE remember PELICAN');
  });
});

describe('codex: approval timeout (AGENTBRIDGE_APPROVAL_TIMEOUT_S=1)', () => {
  let ab: AgentbridgeProcess;
  let chat: LocalChat;
  beforeAll(async () => {
    ({ ab, chat } = await startCodexBridge({ AGENTBRIDGE_APPROVAL_TIMEOUT_S: '1' }));
  });
  afterAll(() => stopCodexBridge(ab));

  timed('nobody decides: denied after the timeout, the card says so, the command did not run, the agent goes on', async () => {
    const file = path.join(outside, 'timeout.txt');
    scripts.set(
      'M-TIMEOUT',
      approvalScript(() => `touch ${file}`, 'TIMEOUT-DONE'),
    );
    const { thread } = await chat.send(CHANNEL, 'M-TIMEOUT write it', { user: REQUESTER });
    const card = await openCard(chat, thread);
    const final = await closedCard(chat, thread, card.id);
    expect(final.text).toContain('so it was denied');
    expect(await botText(chat, thread, 'TIMEOUT-DONE')).toBe('TIMEOUT-DONE: declined');
    expect(fs.existsSync(file)).toBe(false);
    expect(functionCallOutputs(requestsOf(codexModel, 'M-TIMEOUT')[1]!)[0]!.output).toMatch(DECLINED);
    // A late click is told it timed out.
    const late = await chat.click(CHANNEL, thread, card.id, button(card, 'Approve'), REQUESTER);
    expect(late.status).toBe(409);
    expect(late.body.error).toMatch(/^This timed out at \d\d:\d\d UTC and was denied\.$/);
  });
});

describe('codex: restart while an approval is pending', () => {
  const running: AgentbridgeProcess[] = [];
  afterAll(async () => {
    for (const p of running) await p.stop();
    // The killed one's codex app-server too: it ends with its stdin, or the next start reaps it.
    await waitFor(() => appServers().length === 0, 20_000, 'no codex app-server left');
  });

  timed('SIGKILL with a card open; the next start expires the card (no buttons) and reruns the turn, which asks again; one answer', async () => {
    const file = path.join(outside, 'restart.txt');
    scripts.set(
      'M-RESTART',
      approvalScript(() => `touch ${file}`, 'RESTART-DONE'),
    );
    let { ab, chat } = await startCodexBridge();
    running.push(ab);
    const { thread } = await chat.send(CHANNEL, 'M-RESTART write it', { user: REQUESTER });
    const card = await openCard(chat, thread);
    await ab.stop('SIGKILL');
    // The orphaned codex app-server ends with its stdin (or is reaped by the next start).
    const seen = codexModel.mainRequests().length;

    ({ ab, chat } = await startCodexBridge());
    running.push(ab);
    const expired = await closedCard(chat, thread, card.id);
    expect(expired.text).toContain('♻️ Expired');
    // The turn reruns: the model sees the prompt again, and it asks again.
    await waitFor(
      () =>
        codexModel
          .mainRequests()
          .slice(seen)
          .some((r) => allText(r).includes('M-RESTART') && lastUserText(r).includes('M-RESTART write it')),
      TURN_MS,
      'the rerun of the turn at the model',
    );
    const rerun = codexModel
      .mainRequests()
      .slice(seen)
      .find((r) => allText(r).includes('M-RESTART'))!;
    expect(lastUserText(rerun)).toContain(RERUN_NOTE);
    const again = await openCard(chat, thread, [card.id]);
    expect(fs.existsSync(file)).toBe(false);
    expect(await chat.click(CHANNEL, thread, again.id, button(again, 'Approve'), REQUESTER)).toEqual({ status: 200, body: { ok: true } });
    await botText(chat, thread, 'RESTART-DONE');
    expect(fs.existsSync(file)).toBe(true);
    expect((await chat.botTexts(CHANNEL, thread)).filter((t) => t.startsWith('RESTART-DONE'))).toEqual(['RESTART-DONE: ran']);
    // No stale buttons anywhere in the thread; the expired card cannot be clicked.
    await closedCard(chat, thread, again.id);
    expect((await botMessages(chat, thread)).some((m) => m.actions)).toBe(false);
    const stale = await chat.click(CHANNEL, thread, card.id, button(card, 'Approve'), REQUESTER);
    expect(stale.status).toBe(409);
    expect(stale.body.error).toMatch(/^This expired at \d\d:\d\d UTC when agentbridge restarted\.$/);
  });
});

describe('codex: busy mode queue, and at most one live session (AGENTBRIDGE_MAX_LIVE_SESSIONS=1)', () => {
  let ab: AgentbridgeProcess;
  let chat: LocalChat;
  beforeAll(async () => {
    ({ ab, chat } = await startCodexBridge({ AGENTBRIDGE_BUSY_MODE: 'queue', AGENTBRIDGE_MAX_LIVE_SESSIONS: '1' }));
  });
  afterAll(() => stopCodexBridge(ab));

  timed('queue: a message sent while a turn runs becomes the next turn', async () => {
    const hold = gate();
    scripts.set('M-QUEUE', (req) =>
      lastUserText(req).includes('M-QUEUE first') ? { after: hold.promise, reply: { text: 'QUEUE-FIRST' } } : { text: `QUEUE-NEXT: ${lastUserText(req)}` },
    );
    const { thread } = await chat.send(CHANNEL, 'M-QUEUE first', { user: REQUESTER });
    await waitFor(() => requestsOf(codexModel, 'M-QUEUE').length === 1, TURN_MS, 'the held model request');
    await chat.send(CHANNEL, 'M-QUEUE second', { thread, user: REQUESTER });
    hold.release();
    await botText(chat, thread, 'QUEUE-FIRST');
    await botText(chat, thread, 'QUEUE-NEXT');
    const reqs = requestsOf(codexModel, 'M-QUEUE');
    expect(reqs).toHaveLength(2);
    expect(allText(reqs[0]!)).not.toContain('M-QUEUE second');
    expect(lastUserText(reqs[1]!)).toContain('M-QUEUE second');
    // A new turn after the first one's answer.
    expect(allText(reqs[1]!)).toContain('QUEUE-FIRST');
    expect(logged(ab, 'message steered into the running turn')).toEqual([]);
    const bot = await chat.botTexts(CHANNEL, thread);
    expect(bot.filter((t) => t.startsWith('QUEUE-'))).toEqual(['QUEUE-FIRST', 'QUEUE-NEXT: M-QUEUE second']);
    await turnsFinished(ab, thread, 2);
  });

  timed('two conversations: at most one codex app-server is alive at any time', async () => {
    scripts.set('M-LRU', (req) => echo(req));
    const a = await chat.send(CHANNEL, 'M-LRU conversation A', { user: REQUESTER });
    await botText(chat, a.thread, 'echo: M-LRU conversation A');
    await turnsFinished(ab, a.thread, 1);
    const pidA = appServers();
    expect(pidA).toHaveLength(1);
    const b = await chat.send(CHANNEL, 'M-LRU conversation B', { user: REQUESTER });
    await botText(chat, b.thread, 'echo: M-LRU conversation B');
    await turnsFinished(ab, b.thread, 1);
    const pidB = appServers();
    expect(pidB).toHaveLength(1);
    expect(pidB).not.toEqual(pidA);
    // Back to A: resumed in a new process, with context.
    await chat.send(CHANNEL, 'M-LRU back to A', { thread: a.thread, user: REQUESTER });
    await botText(chat, a.thread, 'echo: M-LRU back to A');
    await turnsFinished(ab, a.thread, 2);
    expect(appServers()).toHaveLength(1);
    expect(allText(requestsOf(codexModel, 'M-LRU back to A')[0]!)).toContain('echo: M-LRU conversation A');
    // Each new process was started only after the one closed for it had ended (its whole process
    // group gone), as agentbridge saw it — sampling /proc from here raced with processes exiting under load.
    const lifecycle = ab.logs.filter((l) => l.msg === 'live agent session opened' || l.msg === 'live agent session ended');
    expect(lifecycle.filter((l) => l.msg === 'live agent session opened').length).toBeGreaterThanOrEqual(3);
    for (const [i, l] of lifecycle.entries()) {
      if (l.msg !== 'live agent session opened' || i === 0) continue;
      const before = lifecycle.slice(0, i);
      const open = before.filter((x) => x.msg === 'live agent session opened').length - before.filter((x) => x.msg === 'live agent session ended').length;
      expect(open, `sessions still running when pid ${String(l.pid)} was opened`).toBe(0);
    }
  });
});

describe('codex: busy mode interrupt', () => {
  let ab: AgentbridgeProcess;
  let chat: LocalChat;
  beforeAll(async () => {
    ({ ab, chat } = await startCodexBridge({ AGENTBRIDGE_BUSY_MODE: 'interrupt' }));
  });
  afterAll(() => stopCodexBridge(ab));

  timed('interrupt: a new message stops the running turn; the new turn answers the new message', async () => {
    scripts.set('M-INTERRUPT', (req) =>
      lastUserText(req).includes('M-INTERRUPT first') && !lastUserText(req).includes('second')
        ? { hang: true }
        : { text: `INTERRUPT-NEXT: ${lastUserText(req)}` },
    );
    const { thread } = await chat.send(CHANNEL, 'M-INTERRUPT first', { user: REQUESTER });
    await waitFor(() => requestsOf(codexModel, 'M-INTERRUPT').length === 1, TURN_MS, 'the hanging model request');
    await chat.send(CHANNEL, 'M-INTERRUPT second', { thread, user: REQUESTER });
    const answer = await botText(chat, thread, 'INTERRUPT-NEXT');
    expect(answer).toContain('M-INTERRUPT second');
    expect(logged(ab, 'a new message stops the running turn (busy mode interrupt)')).toHaveLength(1);
    const reqs = requestsOf(codexModel, 'M-INTERRUPT');
    expect(lastUserText(reqs.at(-1)!)).toContain('M-INTERRUPT second');
    const bot = await chat.botTexts(CHANNEL, thread);
    expect(bot.filter((t) => t.startsWith('INTERRUPT-NEXT'))).toHaveLength(1);
    expect(bot.filter((t) => t.includes('Stopped to take the newer message'))).toHaveLength(1);
  });
});

describe('codex: idle live sessions are closed (AGENTBRIDGE_SESSION_IDLE_S=2)', () => {
  let ab: AgentbridgeProcess;
  let chat: LocalChat;
  beforeAll(async () => {
    ({ ab, chat } = await startCodexBridge({ AGENTBRIDGE_SESSION_IDLE_S: '2' }));
  });
  afterAll(() => stopCodexBridge(ab));

  timed('the process closes after idling; the next message resumes with context in a new process', async () => {
    scripts.set('M-IDLE', (req) => echo(req));
    const { thread } = await chat.send(CHANNEL, 'M-IDLE the word is HERON', { user: REQUESTER });
    await botText(chat, thread, 'echo: M-IDLE the word is HERON');
    const first = appServers();
    expect(first).toHaveLength(1);
    await waitFor(() => appServers().length === 0, 30_000, 'the idle session to close');
    await chat.send(CHANNEL, 'M-IDLE which word?', { thread, user: REQUESTER });
    await botText(chat, thread, 'echo: M-IDLE which word?');
    const resumed = requestsOf(codexModel, 'M-IDLE which word?')[0]!;
    expect(allText(resumed)).toContain('M-IDLE the word is HERON');
    expect(allText(resumed)).toContain('echo: M-IDLE the word is HERON');
    const second = appServers();
    expect(second).toHaveLength(1);
    expect(second).not.toEqual(first);
  });
});

// ---------------------------------------------------------------------------------------------

describe('gemini (ask mode) on the local chat: approve, deny, steering falls back to queue', () => {
  let model: gm.GeminiModel;
  let gsb: Sandbox;
  let ab: AgentbridgeProcess;
  let chat: LocalChat;
  const gscripts = new Map<string, (req: gm.RecordedRequest, afterTool: boolean) => gm.Reply | Promise<gm.Reply>>();

  beforeAll(async () => {
    model = await gm.startGeminiModel((req) => {
      const text = gm.allText(req);
      const lastParts = req.contents.at(-1)?.parts ?? [];
      const afterTool = lastParts.some((p) => p.functionResponse);
      for (const [marker, script] of gscripts) if (text.includes(marker)) return script(req, afterTool);
      return { text: `echo: ${gm.lastUserText(req)}` };
    });
    gsb = makeSandbox();
    const env = geminiServiceEnv(gsb, model.url, { AGENTBRIDGE_PERMISSION_MODE: 'ask', AGENTBRIDGE_ADMINS: `local:${ADMIN}` });
    const gtokens = await addLocalUsers(env, gsb.root, USERS);
    ab = await startAgentbridge(env, gsb.root, 60_000);
    chat = new LocalChat(ab.url, gtokens);
  });
  afterAll(async () => {
    if (ab) expect(await ab.stop()).toBe(0);
    await model?.close();
    if (gsb) expect(processesMentioning(gsb.root)).toEqual([]);
    gsb?.cleanup();
  });

  /** Runs `printf … > file` (gemini's shell tool), then answers whether it was canceled. */
  const shellScript = (file: string, done: string) => (req: gm.RecordedRequest, afterTool: boolean) =>
    afterTool
      ? { text: `${done}: ${gm.functionResponses(req).join(' ').includes('canceled by the user') ? 'declined' : 'ran'}` }
      : gm.writeFileCall(file, 'yes');

  timed('approve: the shell command runs (the file exists); deny: it does not (absent) and the agent goes on', async () => {
    const approved = path.join(gsb.workdir, 'g-approved.txt');
    const denied = path.join(gsb.workdir, 'g-denied.txt');
    gscripts.set('G-APPROVE', shellScript(approved, 'G-APPROVE-DONE'));
    gscripts.set('G-DENY', shellScript(denied, 'G-DENY-DONE'));
    const a = await chat.send(CHANNEL, 'G-APPROVE write the file', { user: REQUESTER });
    const d = await chat.send(CHANNEL, 'G-DENY write the file', { user: REQUESTER });

    const cardA = await openCard(chat, a.thread);
    expect(cardA.text).toContain(approved);
    expect(fs.existsSync(approved)).toBe(false);
    expect(await chat.click(CHANNEL, a.thread, cardA.id, button(cardA, 'Approve'), REQUESTER)).toEqual({ status: 200, body: { ok: true } });
    expect(await botText(chat, a.thread, 'G-APPROVE-DONE', 90_000)).toBe('G-APPROVE-DONE: ran');
    expect(fs.readFileSync(approved, 'utf8')).toBe('yes');
    expect((await closedCard(chat, a.thread, cardA.id)).text).toContain(`Approved by ${REQUESTER}`);

    const cardD = await openCard(chat, d.thread);
    expect(await chat.click(CHANNEL, d.thread, cardD.id, button(cardD, 'Deny'), REQUESTER)).toEqual({ status: 200, body: { ok: true } });
    expect(await botText(chat, d.thread, 'G-DENY-DONE', 90_000)).toBe('G-DENY-DONE: declined');
    expect(fs.existsSync(denied)).toBe(false);
    expect((await closedCard(chat, d.thread, cardD.id)).text).toContain(`Denied by ${REQUESTER}`);
  });

  timed('steering falls back to queue: the second message is answered in a second turn', async () => {
    const hold = gate();
    gscripts.set('G-STEER', async (req) => {
      if (gm.lastUserText(req).includes('G-STEER first')) {
        await hold.promise;
        return { text: 'G-STEER-FIRST' };
      }
      return { text: `G-STEER-NEXT: ${gm.lastUserText(req)}` };
    });
    const { thread } = await chat.send(CHANNEL, 'G-STEER first', { user: REQUESTER });
    const mine = () => model.mainRequests().filter((r) => gm.allText(r).includes('G-STEER'));
    await waitFor(() => mine().length === 1, 90_000, 'the held model request');
    await chat.send(CHANNEL, 'G-STEER second', { thread, user: REQUESTER });
    hold.release();
    await botText(chat, thread, 'G-STEER-FIRST', 90_000);
    await botText(chat, thread, 'G-STEER-NEXT', 90_000);
    const reqs = mine();
    expect(reqs).toHaveLength(2);
    expect(gm.allText(reqs[0]!)).not.toContain('G-STEER second');
    expect(gm.lastUserText(reqs[1]!)).toContain('G-STEER second');
    expect(gm.allText(reqs[1]!)).toContain('G-STEER-FIRST');
    expect(logged(ab, 'message steered into the running turn')).toEqual([]);
    expect((await chat.botTexts(CHANNEL, thread)).filter((t) => t.startsWith('G-STEER-'))).toEqual(['G-STEER-FIRST', 'G-STEER-NEXT: G-STEER second']);
  });
});
