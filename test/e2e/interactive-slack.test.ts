/**
 * End to end: interactive agent sessions on Slack (issue 11), over Socket Mode and over HTTP
 * (Events API + signed `/slack/interactions`). agentbridge runs as its own process with the real
 * `codex` CLI (`codex app-server`, AGENTBRIDGE_PERMISSION_MODE=ask) against the scripted
 * Responses API server, and real @slack/bolt against the Slack twin. Approvals fire when the
 * scripted model asks to leave codex's read-only sandbox (`escalatedExec`, via `runScript`); the
 * command writes a file outside the workdir, so the file system shows whether it ran.
 *
 * One agentbridge per transport serves its tests; every test works in its own thread. Assertions
 * are on what the twin recorded (cards with their Block Kit buttons, updates, ephemerals,
 * reactions), what the model server was asked, and the file system.
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { RERUN_NOTE } from '../../src/conversation/rerun.js';
import { startAgentbridge, type AgentbridgeProcess } from '../helpers/agentbridge.js';
import { processesMentioning } from '../helpers/procs.js';
import { makeSandbox, waitFor, type Sandbox } from '../helpers/sandbox.js';
import {
  button,
  buttonIds,
  cards,
  cardText,
  codexSlackEnv,
  outputsSinceLastUser,
  runScript,
  userTexts,
  waitForOpenCard,
  type SlackTransport,
} from '../helpers/slack-interactive.js';
import { allText, echoResponder, gate, startOpenAIModel, type OpenAIModel, type Responder } from '../models/openai.js';
import { botMessages, CHANNEL, USERS } from '../twins/slack/harness.js';
import { SlackTwin, type InteractionCall, type TwinMessage } from '../twins/slack/twin.js';

const ADMIN = { id: 'U0ADMIN', name: 'ada', display_name: 'Ada Admin' };
const STRANGER = { id: 'U0EVE', name: 'eve', display_name: 'Eve' };
const PEOPLE = [...USERS, ADMIN, STRANGER];

/** The model: the `RUN …` script of runScript, else echo. */
const scripted: Responder = (req, ctx) => (ctx.main && runScript(req)) || echoResponder(req, ctx);

/** Per-test durations, printed after the file. */
const durations: string[] = [];

describe('the Slack app manifest', () => {
  it('enables interactivity (buttons on cards)', () => {
    const manifest = fs.readFileSync(path.resolve(import.meta.dirname, '../../slack/manifest.yml'), 'utf8');
    // No YAML parser among the dependencies: the `interactivity:` mapping under top-level `settings:`.
    const settings = /^settings:\n((?:[ #].*\n|\n)*)/m.exec(manifest)?.[1] ?? '';
    const interactivity = /^ {2}interactivity:\n((?: {4}.*\n|\s*#.*\n)*)/m.exec(settings)?.[1] ?? '';
    expect(interactivity).toMatch(/^ {4}is_enabled: true$/m);
  });
});

describe.each(['socket', 'http'] as const)('interactive codex sessions on Slack over %s', (transport: SlackTransport) => {
  let model: OpenAIModel;
  let twin: SlackTwin;
  let sb: Sandbox;
  let ab: AgentbridgeProcess;
  const env = () => codexSlackEnv(sb, model.url, twin, transport, { AGENTBRIDGE_ADMINS: `slack:${ADMIN.id}` });

  beforeAll(async () => {
    [model, twin] = await Promise.all([startOpenAIModel(scripted), SlackTwin.start({ users: PEOPLE })]);
    sb = makeSandbox();
    ab = await startAgentbridge(env(), sb.root);
    if (transport === 'http') twin.eventsUrl = `${ab.url}/slack/events`;
  });

  let t0 = 0;
  beforeEach(() => {
    t0 = Date.now();
  });

  afterEach((ctx) => {
    durations.push(`${transport}: ${ctx.task.name.slice(0, 60)} — ${Date.now() - t0} ms`);
    model.setResponder(scripted);
  });

  afterAll(async () => {
    expect(await ab?.stop()).toBe(0);
    const logs = JSON.stringify(ab.logs) + ab.stderr();
    expect(logs).not.toContain(twin.botToken);
    expect(logs).not.toContain(twin.signingSecret);
    await Promise.all([model?.close(), twin?.close()]);
    expect(processesMentioning(sb.root)).toEqual([]);
    sb?.cleanup();
    if (transport === 'http') console.log(`interactive-slack durations:\n  ${durations.join('\n  ')}`);
  });

  /** A fresh file path outside codex's writable roots (the read-only sandbox forbids writing it). */
  const file = (name: string) => path.join(sb.root, `${transport}-${name}`);

  /** A mention starting a thread. */
  const mention = (text: string, user = 'U0ALICE') => twin.userPosts({ user, channel: CHANNEL, text, mention: true });

  /** Bot messages of the thread that are answers of the scripted model (`ANSWER TAG-…`). */
  const answers = (threadTs: string) => botMessages(twin, CHANNEL, threadTs).filter((m) => m.text.startsWith('ANSWER '));

  const waitForAnswer = (threadTs: string, prefix: string) =>
    waitFor(() => answers(threadTs).find((m) => m.text.startsWith(prefix)), 90_000, `the answer ${JSON.stringify(prefix)} in ${threadTs}`);

  /** Main model requests whose user messages mention `tag`. */
  const requestsOf = (tag: string) => model.mainRequests().filter((r) => userTexts(r).some((t) => t.includes(tag)));

  /** Clicks a button of a card and checks the transport took it (Socket Mode ack / HTTP 200). */
  async function click(user: string, card: TwinMessage, choice: string): Promise<InteractionCall> {
    const call = await twin.click({ user, channel: CHANNEL, ts: card.ts, actionId: button(card, choice) });
    expectTaken(call);
    return call;
  }

  function expectTaken(call: InteractionCall): void {
    expect(call.transport).toBe(transport);
    if (transport === 'socket') expect(call.ackedAt).toBeDefined();
    else expect(call.status).toBe(200);
  }

  /** The ending of an interaction as logged ("interaction ended"), by the card's button ids. */
  const endings = (card: TwinMessage) => {
    const id = button(card, 'approve').split(':')[1];
    return ab.logs.filter((l) => l.msg === 'interaction ended' && l.interaction === id);
  };

  /** The current card (by ts) once it has no buttons any more. */
  const waitForClosed = (card: TwinMessage) =>
    waitFor(
      () => {
        const now = twin.message(CHANNEL, card.ts)!;
        return buttonIds(now).length === 0 ? now : undefined;
      },
      30_000,
      `card ${card.ts} to lose its buttons`,
    );

  it('a mention → a card in the thread with Approve / Always / Deny; the requester approves → the command runs, the card says who, one answer', async () => {
    const target = file('approved.txt');
    const tag = `TAG-approve-${transport}`;
    const post = await mention(`please RUN ${target} ${tag}`);

    const card = await waitForOpenCard(twin, CHANNEL, post.ts);
    expect(card.thread_ts).toBe(post.ts);
    expect(buttonIds(card).map((id) => id.split(':').pop())).toEqual(['approve', 'always', 'deny']);
    expect(buttonIds(card).every((id) => /^ab:[\w-]+:\w+$/.test(id))).toBe(true);
    expect(cardText(card)).toContain(`touch ${target}`);
    expect(cardText(card)).toContain('Alice (who started this turn) or an admin');
    expect(fs.existsSync(target)).toBe(false);

    await click('U0ALICE', card, 'approve');
    await waitForAnswer(post.ts, `ANSWER ${tag}: 1 results`);
    expect(fs.existsSync(target)).toBe(true);

    const closed = await waitForClosed(card);
    expect(closed.blocks?.map((b) => b.type)).toEqual(['section']);
    expect(cardText(closed)).toMatch(/✅ Approved by Alice at \d\d:\d\d UTC\./);
    expect(cardText(closed)).toContain(`touch ${target}`);
    // The card was edited in place (chat.update of its ts, without an actions block), never reposted.
    const updates = twin.callsOf('chat.update').filter((c) => c.params.ts === card.ts && c.status === 200);
    expect(updates).toHaveLength(1);
    expect(JSON.parse(updates[0]!.params.blocks!) as Array<{ type: string }>).toEqual([expect.objectContaining({ type: 'section' })]);
    expect(cards(twin, CHANNEL, post.ts)).toHaveLength(1);
    expect(endings(card)).toHaveLength(1);
    // The model got the command's result in the same turn, then answered once.
    const reqs = requestsOf(tag);
    expect(reqs).toHaveLength(2);
    expect(outputsSinceLastUser(reqs[1]!)).toHaveLength(1);
    expect(answers(post.ts)).toHaveLength(1);
  });

  it('Deny → the command does not run, the model is told and goes on to one answer', async () => {
    const target = file('denied.txt');
    const tag = `TAG-deny-${transport}`;
    const post = await mention(`please RUN ${target} ${tag}`);
    const card = await waitForOpenCard(twin, CHANNEL, post.ts);

    await click('U0ALICE', card, 'deny');
    await waitForAnswer(post.ts, `ANSWER ${tag}: 1 results`);
    expect(fs.existsSync(target)).toBe(false);
    const closed = await waitForClosed(card);
    expect(cardText(closed)).toMatch(/⛔ Denied by Alice at \d\d:\d\d UTC\./);
    const reqs = requestsOf(tag);
    expect(reqs).toHaveLength(2);
    const [output] = outputsSinceLastUser(reqs[1]!);
    expect(output).toMatch(/rejected|declined|denied/i);
    expect(answers(post.ts)).toHaveLength(1);
    expect(endings(card)).toHaveLength(1);
  });

  it('a stranger clicks → an ephemeral refusal to that user only, the card keeps its buttons; an admin then approves', async () => {
    const target = file('stranger.txt');
    const tag = `TAG-stranger-${transport}`;
    const post = await mention(`please RUN ${target} ${tag}`);
    const card = await waitForOpenCard(twin, CHANNEL, post.ts);
    const ephemeralsBefore = twin.callsOf('chat.postEphemeral').length;

    await click(STRANGER.id, card, 'approve');
    const refusal = await waitFor(() => twin.ephemeralsFor(STRANGER.id, CHANNEL)[0], 15_000, 'the refusal to the stranger');
    expect(refusal.text).toContain('You cannot decide this');
    expect(refusal.thread_ts).toBe(post.ts);
    const sent = twin.callsOf('chat.postEphemeral').slice(ephemeralsBefore);
    expect(sent).toHaveLength(1);
    expect(sent[0]!.params.user).toBe(STRANGER.id);
    // Nothing changed: the card is open and untouched, the command did not run, no decision.
    const now = twin.message(CHANNEL, card.ts)!;
    expect(buttonIds(now)).toEqual(buttonIds(card));
    expect(now.edits).toBe(0);
    expect(fs.existsSync(target)).toBe(false);
    expect(endings(card)).toHaveLength(0);
    expect(requestsOf(tag)).toHaveLength(1);

    await click(ADMIN.id, now, 'approve');
    await waitForAnswer(post.ts, `ANSWER ${tag}: 1 results`);
    expect(fs.existsSync(target)).toBe(true);
    expect(cardText(await waitForClosed(card))).toMatch(/✅ Approved by Ada Admin at /);
    expect(twin.ephemeralsFor(ADMIN.id)).toEqual([]);
    expect(twin.ephemeralsFor('U0ALICE')).toEqual([]);
    expect(answers(post.ts)).toHaveLength(1);
  });

  it('two approvers click at the same time → one decision; the other is told "Already decided by …"', async () => {
    const target = file('race.txt');
    const tag = `TAG-race-${transport}`;
    const post = await mention(`please RUN ${target} ${tag}`);
    const card = await waitForOpenCard(twin, CHANNEL, post.ts);

    // Alice approves while the admin denies, both on the open card.
    const [a, b] = await Promise.all([
      twin.click({ user: 'U0ALICE', channel: CHANNEL, ts: card.ts, actionId: button(card, 'approve') }),
      twin.click({ user: ADMIN.id, channel: CHANNEL, ts: card.ts, actionId: button(card, 'deny') }),
    ]);
    expectTaken(a);
    expectTaken(b);
    await waitForAnswer(post.ts, `ANSWER ${tag}: 1 results`);
    const closed = await waitForClosed(card);
    const approved = /✅ Approved by Alice at /.test(cardText(closed));
    const denied = /⛔ Denied by Ada Admin at /.test(cardText(closed));
    expect(approved !== denied).toBe(true);
    const [winner, loser] = approved ? ['Alice', ADMIN.id] : ['Ada Admin', 'U0ALICE'];
    const told = await waitFor(() => twin.ephemeralsFor(loser, CHANNEL)[0], 15_000, 'the loser to be told');
    expect(told.text).toMatch(new RegExp(`^Already decided by ${winner} at \\d\\d:\\d\\d UTC\\.$`));
    expect(twin.ephemeralsFor(approved ? 'U0ALICE' : ADMIN.id)).toEqual([]);
    expect(fs.existsSync(target)).toBe(approved);
    expect(endings(card)).toHaveLength(1);
    expect(outputsSinceLastUser(requestsOf(tag).at(-1)!)).toHaveLength(1);
    expect(answers(post.ts)).toHaveLength(1);
  });

  it('Always → a later matching request in the same thread runs without a new card', async () => {
    const first = file('always-1.txt');
    const second = file('always-2.txt');
    const tag = `TAG-always-${transport}`;
    const post = await mention(`please RUN ${first} ${tag}`);
    const card = await waitForOpenCard(twin, CHANNEL, post.ts);
    await click('U0ALICE', card, 'always');
    await waitForAnswer(post.ts, `ANSWER ${tag}: 1 results`);
    expect(fs.existsSync(first)).toBe(true);
    expect(cardText(await waitForClosed(card))).toMatch(/✅ Approved by Alice at .*also for later matching requests/);

    // The next turn in the thread asks for another `touch …`: agentbridge's rule answers, no card.
    const rulesBefore = ab.logs.filter((l) => l.msg === 'approval granted by an always-rule of the conversation').length;
    await twin.userPosts({ user: 'U0ALICE', channel: CHANNEL, text: `now RUN ${second} ${tag}-next`, thread_ts: post.ts });
    // Done when the answer arrives, or (the rule broken) when a second card asks.
    await waitFor(
      () => cards(twin, CHANNEL, post.ts).length > 1 || answers(post.ts).some((m) => m.text === `ANSWER ${tag}-next: 1 results`),
      90_000,
      'the second answer (or a second card)',
    );
    expect(cards(twin, CHANNEL, post.ts)).toHaveLength(1);
    expect(fs.existsSync(second)).toBe(true);
    const granted = ab.logs.filter((l) => l.msg === 'approval granted by an always-rule of the conversation').slice(rulesBefore);
    expect(granted).toEqual([expect.objectContaining({ tool: 'command', ruleKey: 'touch' })]);
    expect(answers(post.ts).map((m) => m.text)).toEqual([`ANSWER ${tag}: 1 results`, `ANSWER ${tag}-next: 1 results`]);
  });

  it('a redelivered (duplicate) click after the decision changes nothing: one decision, one answer', async () => {
    const target = file('duplicate.txt');
    const tag = `TAG-dup-${transport}`;
    const post = await mention(`please RUN ${target} ${tag}`);
    const card = await waitForOpenCard(twin, CHANNEL, post.ts);
    const approve = await click('U0ALICE', card, 'approve');
    await waitForAnswer(post.ts, `ANSWER ${tag}: 1 results`);
    const closed = await waitForClosed(card);
    const edits = closed.edits;

    expectTaken(await twin.redeliverClick(approve.id));
    const told = await waitFor(() => twin.ephemeralsFor('U0ALICE', CHANNEL).find((e) => e.thread_ts === post.ts), 15_000, 'the duplicate to be answered');
    expect(told.text).toMatch(/^Already decided by Alice at \d\d:\d\d UTC\.$/);
    if (transport === 'http') {
      // The very same signed request again (a replay) is refused outright.
      expect((await twin.redeliverClick(approve.id, { replay: true })).status).toBe(401);
    }
    expect(twin.message(CHANNEL, card.ts)!.edits).toBe(edits);
    expect(buttonIds(twin.message(CHANNEL, card.ts))).toEqual([]);
    expect(endings(card)).toHaveLength(1);
    expect(requestsOf(tag)).toHaveLength(2);
    expect(twin.ephemeralsFor('U0ALICE', CHANNEL).filter((e) => e.thread_ts === post.ts)).toHaveLength(1);
    expect(answers(post.ts)).toHaveLength(1);
  });

  it('steering: a message in the thread while the model reply is held reaches the model in the same turn, gets ↪, one answer', async () => {
    const tag = `TAG-steer-${transport}`;
    const extra = `STEER-EXTRA-${transport}`;
    const hold = gate();
    model.setResponder((req, ctx) => {
      if (!ctx.main) return echoResponder(req, ctx);
      const texts = userTexts(req);
      if (texts.some((t) => t.includes(extra))) return { text: `ANSWER ${tag}: steered with ${extra}` };
      if (texts.some((t) => t.includes(tag))) return { after: hold.promise, reply: { text: `ANSWER ${tag}: HELD-REPLY` } };
      return echoResponder(req, ctx);
    });
    const post = await mention(`start a slow job ${tag}`);
    await waitFor(() => requestsOf(tag).length === 1, 60_000, 'the held model request');

    const steer = await twin.userPosts({ user: 'U0BOB', channel: CHANNEL, text: `also mention ${extra}`, thread_ts: post.ts });
    await waitFor(() => twin.message(CHANNEL, steer.ts)!.reactions.leftwards_arrow_with_hook, 30_000, 'the ↪ reaction on the steered message');
    hold.release();
    // Codex usually drops the held model call and restarts it with the steered text; when the held
    // reply got through first, the steered text goes to the model in a follow-up call of the same
    // turn and the answer holds both. Either way, the answer ends with the steered reply.
    await waitFor(
      () => answers(post.ts).find((m) => m.text.includes(`ANSWER ${tag}: steered with ${extra}`)),
      90_000,
      () =>
        `the steered answer in ${post.ts}; answers so far: ${JSON.stringify(answers(post.ts).map((m) => m.text))}; ` +
        `model requests of the turn: ${JSON.stringify(requestsOf(tag).map((r) => userTexts(r).slice(1)))}`,
    );

    // The steered text reached the model once, inside the running turn (same codex turn id), with the first prompt.
    const withExtra = requestsOf(extra);
    expect(withExtra).toHaveLength(1);
    expect(allText(withExtra[0]!)).toContain(`start a slow job ${tag}`);
    const turnIds = new Set(requestsOf(tag).map((r) => r.client_metadata?.turn_id));
    expect(turnIds.size).toBe(1);
    expect([...turnIds][0]).toEqual(expect.any(String));
    expect(
      twin
        .callsOf('reactions.add')
        .filter((c) => c.params.timestamp === steer.ts)
        .map((c) => c.params.name)
        .filter((n) => n !== 'eyes'), // 👀 when agentbridge took the message, if it got out before ↪
    ).toEqual(['leftwards_arrow_with_hook']);
    expect(answers(post.ts)).toHaveLength(1);
    expect(answers(post.ts)[0]!.text).toMatch(new RegExp(`ANSWER ${tag}: steered with ${extra}$`));
  });

  it.runIf(transport === 'socket')(
    'restart while a card is open: SIGKILL, start again → the card is Expired without buttons, the turn reruns, one answer',
    async () => {
      const target = file('restart.txt');
      const tag = `TAG-restart-${transport}`;
      const post = await mention(`please RUN ${target} ${tag}`);
      const card = await waitForOpenCard(twin, CHANNEL, post.ts);
      const liveCodex = processesMentioning(sb.root).filter((p) => p.cmd.includes('app-server'));
      expect(liveCodex.length).toBeGreaterThan(0);

      ab.child.kill('SIGKILL');
      await ab.exited;
      const connections = twin.socket.connectionsOpened;
      ab = await startAgentbridge(env(), sb.root);
      expect(twin.socket.connectionsOpened).toBeGreaterThan(connections);

      const expired = await waitForClosed(card);
      expect(cardText(expired)).toMatch(/♻️ Expired at \d\d:\d\d UTC: agentbridge restarted/);
      expect(fs.existsSync(target)).toBe(false);
      // The turn runs again and asks again: a new card, approved this time.
      const again = await waitForOpenCard(twin, CHANNEL, post.ts, 2);
      expect(again.ts).not.toBe(card.ts);
      await click('U0ALICE', again, 'approve');
      await waitForAnswer(post.ts, `ANSWER ${tag}: 1 results`);
      expect(fs.existsSync(target)).toBe(true);
      await waitForClosed(again);
      // No live buttons are left anywhere in the thread; exactly one answer.
      expect(cards(twin, CHANNEL, post.ts).map((m) => buttonIds(m))).toEqual([[], []]);
      expect(answers(post.ts)).toHaveLength(1);
      // The rerun was the same message again, with the interruption note. (A new codex thread: the session id
      // is stored when a turn ends, and this conversation's first turn never ended.)
      const reqs = requestsOf(tag);
      expect(userTexts(reqs.at(-1)!).at(-1)).toBe(`${RERUN_NOTE}\n\nplease RUN ${target} ${tag}`);
      expect(new Set(reqs.map((r) => r.client_metadata?.thread_id)).size).toBe(2);
      // The killed run's codex app-server is gone.
      const pids = new Set(processesMentioning(sb.root).map((p) => p.pid));
      expect(liveCodex.filter((p) => pids.has(p.pid))).toEqual([]);
    },
  );
});
