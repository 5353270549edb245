/**
 * End to end on Discord, interactive sessions (issue 11): agentbridge as its own process with
 * the real `codex` CLI (`codex app-server`, a live session per conversation) against the scripted
 * OpenAI model, the real discord.js client against the Discord twin. AGENTBRIDGE_PERMISSION_MODE=ask:
 * codex asks before a command that leaves its read-only sandbox (the model asks for that with
 * `escalatedExec()`), agentbridge posts a card with buttons (message components), and people
 * click them (Gateway INTERACTION_CREATE type 3, `twin.clickButton`).
 *
 * Asserted on what the twin recorded (messages, components, interaction callbacks, reactions),
 * what the model server was asked, and the file system (the command's marker file). One
 * agentbridge for the first block (each test in its own channel or thread; the restart test, last,
 * kills it and starts the next one); the approval timeout (1 s) has its own process. Each test's
 * duration is printed after the file.
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  allText,
  escalatedExec,
  functionCallOutputs,
  gate,
  lastUserText,
  startOpenAIModel,
  type Gate,
  type InputItem,
  type OpenAIModel,
  type RecordedRequest,
  type Reply,
  type ResponderContext,
} from '../models/openai.js';
import { codexServiceEnv } from '../helpers/agents-env.js';
import { startAgentbridge, type AgentbridgeProcess } from '../helpers/agentbridge.js';
import { processesMentioning } from '../helpers/procs.js';
import { makeSandbox, waitFor, type Sandbox } from '../helpers/sandbox.js';
import { startDiscordTwin, type ApiMessage, type DiscordTwin, type Interaction, type TwinUser } from '../twins/discord/index.js';
import { agentCommand, botAnswers } from '../twins/discord/harness.js';

/** Chat channels (DISCORD_CHANNELS); threads are opened in `threads`. */
const CHANNELS = ['approve', 'stranger', 'always', 'steer', 'restart', 'threads'];
/** Waits on a codex turn: a live session starts in ~3 s, a turn takes ~0.5 s idle; a loaded 2-core machine is slower. */
const TURN_MS = 60_000;

let model: OpenAIModel;
let sb: Sandbox;
let twin: DiscordTwin;
/** Marker files the commands write: outside the workdir, so only an approved (unsandboxed) command can write them. */
let outside: string;
let alice: TwinUser;
let admin: TwinUser;
let stranger: TwinUser;
/** The model's held replies, by the word in the prompt that asks for one (see {@link script}). */
const holds = new Map<string, Gate>();

/**
 * The scripted model: a prompt `touch NAME` asks to run `touch <outside>/NAME` outside the sandbox
 * (codex then asks for approval); once the command's result is in, it answers
 * `finished NAME: <first line of the output>`; a prompt with a word held in {@link holds} waits for
 * its gate; anything else is echoed.
 */
function script(req: RecordedRequest, ctx: ResponderContext): Reply {
  if (!ctx.main) return echo(req);
  const input = req.input ?? [];
  const lastUser = lastIndex(input, (i) => i.role === 'user');
  const lastOutput = lastIndex(input, (i) => i.type === 'function_call_output');
  const text = lastUserText(req);
  const touch = /touch (\S+)/.exec(text);
  if (touch && lastOutput > lastUser) {
    const out = functionCallOutputs(req).at(-1)!.output;
    return { text: `finished ${touch[1]}: ${out.split('\n')[0]!.slice(0, 120)}` };
  }
  if (touch) return escalatedExec(`touch ${path.join(outside, touch[1]!)}`, `write the marker ${touch[1]}`);
  for (const [word, g] of holds) if (text.includes(word)) return { after: g.promise, reply: { text: `held reply for ${word}` } };
  return echo(req);
}

function echo(req: RecordedRequest): Reply {
  return { text: `echo: ${lastUserText(req)}` };
}

function lastIndex(items: InputItem[], pred: (i: InputItem) => boolean): number {
  for (let i = items.length - 1; i >= 0; i--) if (pred(items[i]!)) return i;
  return -1;
}

/**
 * The environment of an agentbridge process running codex against the scripted model (codex's
 * config and key: `codexServiceEnv`, test/helpers/agents-env.ts) and Discord against the twin.
 */
function codexDiscordEnv(extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  return codexServiceEnv(sb, model.url, {
    AGENTBRIDGE_MODEL: 'gpt-5',
    AGENTBRIDGE_PERMISSION_MODE: 'ask',
    AGENTBRIDGE_ADMINS: `discord:${admin.id}`,
    LOG_LEVEL: 'debug',
    DISCORD_BOT_TOKEN: twin.token,
    DISCORD_API_URL: twin.apiUrl,
    DISCORD_CHANNELS: CHANNELS.map((c) => twin.channels[c]!).join(','),
    ...extra,
  });
}

async function start(extra: NodeJS.ProcessEnv = {}): Promise<AgentbridgeProcess> {
  const p = await startAgentbridge(codexDiscordEnv(extra), sb.root);
  await waitFor(() => twin.connected(), 15_000, 'agentbridge on the Gateway');
  return p;
}

/** A new thread in the `threads` channel (started on a system message, which agentbridge does not answer). */
function newThread(name: string): string {
  const root = twin.userSays({ user: alice, channel: twin.channels.threads!, content: `${name} starts here`, type: 7 });
  return twin.createThread(twin.channels.threads!, root.id, name, alice);
}

/** The approval cards (bot messages starting 🔐) in `channel`, oldest first. */
function cards(channel: string): ApiMessage[] {
  return twin.botMessages(channel).filter((m) => m.content.startsWith('🔐'));
}

/** Bot notices that are no answer: a card, a restart notice, the progress message of a turn a restart cut. */
const NOT_ANSWERS = ['🔐', '🔄', '⏹️'];

/** The bot's answers in `channel`: no notices, no progress, no ephemeral interaction response (flag 64: only the clicker sees it). */
function answers(channel: string): ApiMessage[] {
  return botAnswers(twin, channel).filter((m) => !NOT_ANSWERS.some((p) => m.content.startsWith(p)) && ((m.flags as number) & 64) === 0);
}

/** Waits for the `n`th (1-based) card in `channel` that still has buttons; returns it. */
function openCard(channel: string, n = 1): Promise<ApiMessage> {
  return waitFor(
    () => {
      const c = cards(channel)[n - 1];
      return c && buttons(c).length ? c : undefined;
    },
    TURN_MS,
    `card ${n} with buttons in ${channel}`,
  );
}

/** custom_ids of a message's buttons. */
function buttons(m: ApiMessage): string[] {
  const rows = (m.components ?? []) as Array<{ components?: Array<{ custom_id?: string }> }>;
  return rows.flatMap((r) => (r.components ?? []).map((b) => b.custom_id ?? ''));
}

/** The button of `card` whose id ends `:choice` (`approve`, `always`, `deny`). */
function button(card: ApiMessage, choice: string): string {
  const id = buttons(card).find((b) => b.endsWith(`:${choice}`));
  if (!id) throw new Error(`card ${card.id} has no ${choice} button: ${buttons(card).join(', ')}`);
  return id;
}

/** The message as the twin has it now. */
function current(channel: string, id: string): ApiMessage {
  return twin.channelMessages(channel).find((m) => m.id === id)!;
}

/** Waits until the card has lost its buttons (edited to its final state); returns it. */
function closedCard(channel: string, id: string, timeoutMs = TURN_MS): Promise<ApiMessage> {
  return waitFor(
    () => {
      const m = current(channel, id);
      return m && Array.isArray(m.components) && m.components.length === 0 ? m : undefined;
    },
    timeoutMs,
    `card ${id} without buttons`,
  );
}

/** Waits for the interaction's callback. */
function callback(i: Interaction): Promise<NonNullable<ReturnType<DiscordTwin['interactionReplies']>['callback']>> {
  return waitFor(() => twin.interactionReplies(i).callback, 15_000, `the callback of interaction ${i.id}`);
}

/** Waits for the answer in `channel` starting `prefix`. */
function answer(channel: string, prefix: string): Promise<ApiMessage> {
  return waitFor(() => answers(channel).find((m) => m.content.startsWith(prefix)), TURN_MS, `an answer "${prefix}" in ${channel}`);
}

/** Waits until the turn of user message `id` is over (the bot's ✅ on it). */
function turnDone(id: string): Promise<boolean> {
  return waitFor(() => twin.botReactions(id).includes('✅'), TURN_MS, `✅ on ${id}`);
}

/** The PATCHes of a message (its edits), as request bodies. */
function edits(channel: string, id: string): Array<{ content?: string; components?: unknown[] }> {
  return twin.calls
    .filter((c) => c.method === 'PATCH' && c.path === `/channels/${channel}/messages/${id}` && c.status < 300)
    .map((c) => c.body as { content?: string; components?: unknown[] });
}

/** codex's turn id of a model request (`client_metadata.turn_id`, codex 0.169.0). */
function turnId(req: RecordedRequest): unknown {
  return req.client_metadata?.turn_id;
}

const timings: Array<[string, number]> = [];
async function timed(name: string, fn: () => Promise<void>): Promise<void> {
  const t = Date.now();
  try {
    await fn();
  } finally {
    timings.push([name, Date.now() - t]);
  }
}

beforeAll(async () => {
  model = await startOpenAIModel(script);
  sb = makeSandbox();
  outside = path.join(sb.root, 'outside');
  fs.mkdirSync(outside);
  twin = await startDiscordTwin({ channels: [...CHANNELS, 'general'] });
  alice = twin.user('Alice');
  admin = twin.user('Dana');
  stranger = twin.user('Mallory');
});

afterAll(async () => {
  await twin?.close();
  await model?.close();
  console.log(`interactive-discord timings:\n${timings.map(([n, ms]) => `  ${(ms / 1000).toFixed(1)} s  ${n}`).join('\n')}`);
  expect(processesMentioning(sb.root)).toEqual([]);
  sb?.cleanup();
});

describe('Discord interactive sessions with codex, end to end', () => {
  let ab: AgentbridgeProcess;
  beforeAll(async () => {
    ab = await start();
  });
  afterAll(async () => {
    const code = await ab?.stop();
    expect(code).toBe(0);
    expect(JSON.stringify(ab.logs) + ab.stderr()).not.toContain(twin.token);
  });

  it.each([
    ['a channel', () => twin.channels.approve!],
    ['a thread', () => newThread('approve in a thread')],
  ])('in %s: a card with three buttons; the requester approves → type 6, the command runs, the card says who, one answer', async (where, place) => {
    await timed(`approve in ${where}`, async () => {
      const ch = place();
      const name = `approved-${where.replace(/\W/g, '')}.txt`;
      const asked = twin.userSays({ user: alice, channel: ch, content: `please touch ${name}` });
      const card = await openCard(ch);
      expect(card.content).toContain(`touch ${path.join(outside, name)}`);
      expect(card.content).toContain(`write the marker ${name}`);
      const rows = card.components as Array<{ type: number; components: Array<{ type: number; label: string; style: number; custom_id: string }> }>;
      expect(rows.flatMap((r) => r.components.map((b) => b.label))).toEqual(['Approve', 'Always in this conversation', 'Deny']);
      expect(buttons(card).every((id) => /^ab:[\w-]+:(approve|always|deny)$/.test(id))).toBe(true);
      expect(fs.existsSync(path.join(outside, name))).toBe(false); // waits for the decision

      const click = twin.clickButton({ user: alice, messageId: card.id, customId: button(card, 'approve') });
      expect(await callback(click)).toEqual({ type: 6 });
      const final = await closedCard(ch, card.id);
      expect(final.content).toMatch(/✅ Approved by Alice at \d\d:\d\d UTC\./);
      expect(edits(ch, card.id).at(-1)).toMatchObject({ components: [] });
      const a = await answer(ch, `finished ${name}`);
      expect(a.message_reference?.message_id).toBe(asked.id);
      expect(fs.existsSync(path.join(outside, name))).toBe(true);
      await turnDone(asked.id);
      expect(answers(ch)).toHaveLength(1);
      expect(cards(ch)).toHaveLength(1);
      expect(twin.interactionReplies(click).followUps).toEqual([]);
    });
  });

  it('in a thread: the requester denies → the command does not run, the model is told, the agent goes on to one answer', async () => {
    await timed('deny in a thread', async () => {
      const th = newThread('deny in a thread');
      const name = 'denied.txt';
      const mark = model.mainRequests().length;
      const asked = twin.userSays({ user: alice, channel: th, content: `please touch ${name}` });
      const card = await openCard(th);
      const click = twin.clickButton({ user: alice, messageId: card.id, customId: button(card, 'deny') });
      expect(await callback(click)).toEqual({ type: 6 });
      const final = await closedCard(th, card.id);
      expect(final.content).toMatch(/⛔ Denied by Alice at \d\d:\d\d UTC\./);
      await answer(th, `finished ${name}`);
      expect(fs.existsSync(path.join(outside, name))).toBe(false);
      // The agent went on: the model got the refusal as the command's result and answered after it.
      const after = model
        .mainRequests()
        .slice(mark)
        .filter((r) => functionCallOutputs(r).length > 0);
      expect(after).toHaveLength(1);
      expect(functionCallOutputs(after[0]!).at(-1)!.output).toMatch(/rejected/i);
      await turnDone(asked.id);
      expect(answers(th)).toHaveLength(1);
    });
  });

  it('in a channel: a stranger is refused (ephemeral, the card keeps its buttons); an admin then approves', async () => {
    await timed('stranger refused, admin approves', async () => {
      const ch = twin.channels.stranger!;
      const name = 'admin-approved.txt';
      const asked = twin.userSays({ user: alice, channel: ch, content: `please touch ${name}` });
      const card = await openCard(ch);

      const refused = twin.clickButton({ user: stranger, messageId: card.id, customId: button(card, 'approve') });
      const cb = await callback(refused);
      expect(cb).toMatchObject({ type: 4, data: { flags: 64, content: 'You cannot decide this: Alice (who started this turn) or an admin can.' } });
      expect(cb.data?.allowed_mentions).toMatchObject({ parse: [] });
      // Nothing changed: no edit of the card, its three buttons still there, the command waits.
      await waitFor(
        () => ab.logs.some((l) => l.msg === 'refused a decision: not an approver' && l.user === `discord:${stranger.id}`),
        10_000,
        'the refusal logged',
      );
      expect(edits(ch, card.id)).toEqual([]);
      expect(buttons(current(ch, card.id))).toHaveLength(3);
      expect(fs.existsSync(path.join(outside, name))).toBe(false);

      const approved = twin.clickButton({ user: admin, messageId: card.id, customId: button(card, 'approve') });
      expect(await callback(approved)).toEqual({ type: 6 });
      const final = await closedCard(ch, card.id);
      expect(final.content).toMatch(/✅ Approved by Dana at \d\d:\d\d UTC\./);
      await answer(ch, `finished ${name}`);
      expect(fs.existsSync(path.join(outside, name))).toBe(true);
      await turnDone(asked.id);
      expect(answers(ch)).toHaveLength(1);
    });
  });

  it('in a thread: two approvers click at once → one decision; the other is told who decided, ephemerally', async () => {
    await timed('two approvers at once', async () => {
      const th = newThread('two approvers');
      const name = 'raced.txt';
      const asked = twin.userSays({ user: alice, channel: th, content: `please touch ${name}` });
      const card = await openCard(th);
      // Both clicks are on the Gateway before agentbridge answers either.
      const clicks = [
        { who: 'Alice', i: twin.clickButton({ user: alice, messageId: card.id, customId: button(card, 'approve') }) },
        { who: 'Dana', i: twin.clickButton({ user: admin, messageId: card.id, customId: button(card, 'deny') }) },
      ];
      const cbs = await Promise.all(clicks.map((c) => callback(c.i)));
      const winners = clicks.filter((_, k) => cbs[k]!.type === 6);
      const losers = clicks.map((c, k) => ({ ...c, cb: cbs[k]! })).filter((c) => c.cb.type !== 6);
      expect(winners).toHaveLength(1);
      expect(losers).toHaveLength(1);
      const winner = winners[0]!.who;
      expect(losers[0]!.cb).toMatchObject({ type: 4, data: { flags: 64 } });
      expect(losers[0]!.cb.data!.content).toMatch(new RegExp(`^Already decided by ${winner} at \\d\\d:\\d\\d UTC\\.$`));

      const final = await closedCard(th, card.id);
      const approved = winner === 'Alice';
      expect(final.content).toMatch(approved ? /✅ Approved by Alice at/ : /⛔ Denied by Dana at/);
      await answer(th, `finished ${name}`);
      expect(fs.existsSync(path.join(outside, name))).toBe(approved);
      // One decision: one final edit of the card, one answer.
      await turnDone(asked.id);
      expect(edits(th, card.id)).toHaveLength(1);
      expect(answers(th)).toHaveLength(1);
    });
  });

  it('in a channel: Always → the next matching request runs without a new card; /agent status lists the rule', async () => {
    await timed('always', async () => {
      const ch = twin.channels.always!;
      twin.userSays({ user: alice, channel: ch, content: 'please touch always-1.txt' });
      const card = await openCard(ch);
      const click = twin.clickButton({ user: alice, messageId: card.id, customId: button(card, 'always') });
      expect(await callback(click)).toEqual({ type: 6 });
      const final = await closedCard(ch, card.id);
      expect(final.content).toMatch(/✅ Approved by Alice at \d\d:\d\d UTC, also for later matching requests in this conversation/);
      await answer(ch, 'finished always-1.txt');
      expect(fs.existsSync(path.join(outside, 'always-1.txt'))).toBe(true);

      // Another file: codex asks again (its own session approval covered only the first command); the rule answers.
      const second = twin.userSays({ user: alice, channel: ch, content: 'please touch always-2.txt' });
      await answer(ch, 'finished always-2.txt');
      await turnDone(second.id);
      expect(fs.existsSync(path.join(outside, 'always-2.txt'))).toBe(true);
      expect(cards(ch)).toHaveLength(1);
      expect(ab.logs.filter((l) => l.msg === 'approval granted by an always-rule of the conversation' && l.ruleKey === 'touch')).toHaveLength(1);
      expect(answers(ch)).toHaveLength(2);
      const status = await agentCommand(twin, 'Alice', ch, 'status');
      expect(status.content).toContain('always approved here: `command touch`');
    });
  });

  it('in a channel: a message sent while the model holds its reply is steered into the running turn (↪️), one answer', async () => {
    await timed('steering', async () => {
      const ch = twin.channels.steer!;
      const hold = gate();
      holds.set('SLOWJOB', hold);
      const mark = model.mainRequests().length;
      const first = twin.userSays({ user: alice, channel: ch, content: 'start the SLOWJOB please' });
      await waitFor(
        () =>
          model
            .mainRequests()
            .slice(mark)
            .some((r) => lastUserText(r).includes('SLOWJOB')),
        TURN_MS,
        'the held model request',
      );
      const second = twin.userSays({ user: alice, channel: ch, content: 'also mention STEERED-KIWI' });
      await waitFor(() => twin.botReactions(second.id).includes('↪️'), 20_000, 'the steered reaction');
      hold.release();
      const a = await answer(ch, '');
      await waitFor(() => twin.botReactions(first.id).includes('✅'), 20_000, 'the turn done');
      expect(a.content).toContain('echo: [Alice]: also mention STEERED-KIWI');

      const turn = model.mainRequests().slice(mark);
      const steered = turn.filter((r) => allText(r).includes('STEERED-KIWI'));
      expect(steered.length).toBeGreaterThan(0);
      // Inside the same turn (codex's turn id on every model request) that the first message started.
      const held = turn.find((r) => lastUserText(r).includes('SLOWJOB'))!;
      expect(turnId(held)).toMatch(/^[0-9a-f-]{36}$/);
      for (const r of steered) expect(turnId(r)).toBe(turnId(held));
      // The request with the steered text carries the first message too, each once.
      const last = steered.at(-1)!;
      const users = (last.input ?? []).filter((i) => i.role === 'user').map((i) => JSON.stringify(i.content));
      expect(users.filter((u) => u.includes('SLOWJOB'))).toHaveLength(1);
      expect(users.filter((u) => u.includes('STEERED-KIWI'))).toHaveLength(1);
      // Answered once: a later message's answer comes next (nothing was queued for another turn).
      twin.userSays({ user: alice, channel: ch, content: 'anything else?' });
      await answer(ch, 'echo: anything else?');
      expect(answers(ch).map((m) => m.content)).toEqual([a.content, 'echo: anything else?']);
      expect(model.mainRequests().filter((r) => lastUserText(r).includes('STEERED-KIWI'))).toHaveLength(1);
      expect(twin.botReactions(second.id)).toContain('↪️');
      holds.delete('SLOWJOB');
    });
  });

  // Last in this block: it replaces the agentbridge process the tests above share.
  it('in a channel: agentbridge SIGKILLed with a card open and started again → card Expired without buttons, the turn reruns, one answer', async () => {
    await timed('restart while pending', async () => {
      const ch = twin.channels.restart!;
      const name = 'restarted.txt';
      const asked = twin.userSays({ user: alice, channel: ch, content: `please touch ${name}` });
      const card = await openCard(ch);
      // The run's codex app-server (its own process group) waits on the card. After the SIGKILL it may
      // end by itself (its stdin closes: codex exits at once) or live on until the next start reaps it —
      // which comes first is a race under load, so the check is that none of them outlives the restart.
      const agents = processesMentioning(sb.root).filter((p) => p.pid !== ab.child.pid);
      expect(agents.length).toBeGreaterThan(0);
      ab.child.kill('SIGKILL');
      await ab.exited;

      ab = await start();
      const survivors = processesMentioning(sb.root).filter((p) => agents.some((a) => a.pid === p.pid));
      expect(survivors).toEqual([]);
      const expired = await closedCard(ch, card.id);
      // No turn waits for it after the restart; the card still names the agent that asked.
      expect(expired.content).toMatch(/^🔐 \*\*Codex CLI wants to run a command\*\*/);
      expect(expired.content).toMatch(/♻️ Expired at \d\d:\d\d UTC: agentbridge restarted while this was open\./);
      expect(expired.content).toContain(`touch ${path.join(outside, name)}`);
      expect(edits(ch, card.id).at(-1)).toMatchObject({ components: [] });
      // The turn runs again and asks again: a new card.
      const again = await openCard(ch, 2);
      expect(again.id).not.toBe(card.id);
      expect(fs.existsSync(path.join(outside, name))).toBe(false);
      const click = twin.clickButton({ user: alice, messageId: again.id, customId: button(again, 'approve') });
      expect(await callback(click)).toEqual({ type: 6 });
      expect((await closedCard(ch, again.id)).content).toMatch(/✅ Approved by Alice at/);
      const a = await answer(ch, `finished ${name}`);
      expect(a.message_reference?.message_id).toBe(asked.id);
      expect(fs.existsSync(path.join(outside, name))).toBe(true);
      await turnDone(asked.id);
      // Answered once: a later message's answer comes next.
      twin.userSays({ user: alice, channel: ch, content: 'still there?' });
      await answer(ch, 'echo: still there?');
      expect(answers(ch).map((m) => m.content.split(':')[0])).toEqual([`finished ${name}`, 'echo']);
      expect(cards(ch)).toHaveLength(2);
      expect(cards(ch).filter((c) => buttons(current(ch, c.id)).length > 0)).toEqual([]); // no stale buttons
      expect(botAnswers(twin, ch).filter((m) => m.content.startsWith('🔄 agentbridge restarted'))).toHaveLength(1);
    });
  });
});

describe('Discord approval timeout with codex, end to end (AGENTBRIDGE_APPROVAL_TIMEOUT_S=1)', () => {
  let ab: AgentbridgeProcess;
  beforeAll(async () => {
    ab = await start({ AGENTBRIDGE_APPROVAL_TIMEOUT_S: '1' });
  });
  afterAll(async () => {
    expect(await ab?.stop()).toBe(0);
  });

  it('in a thread: nobody decides → denied after 1 s, the card says so and has no buttons, the agent goes on, one answer', async () => {
    await timed('approval timeout', async () => {
      const th = newThread('timeout');
      const name = 'timed-out.txt';
      const sent = Date.now();
      const asked = twin.userSays({ user: alice, channel: th, content: `please touch ${name}` });
      // The card may already be closed when first seen: its create carried the three buttons.
      const card = await waitFor(() => cards(th)[0], TURN_MS, 'the card');
      const create = twin.calls.find(
        (c) => c.method === 'POST' && c.path === `/channels/${th}/messages` && String((c.body as { content?: string }).content).startsWith('🔐'),
      )!;
      expect(buttons({ ...card, components: (create.body as { components?: unknown[] }).components })).toHaveLength(3);
      expect(String((create.body as { content?: string }).content)).toContain('Without a decision within 1 min it is denied.');

      const final = await closedCard(th, card.id);
      expect(final.content).toMatch(/⌛ No decision within 1 min, so it was denied \(\d\d:\d\d UTC\)\./);
      const edit = twin.calls.find((c) => c.method === 'PATCH' && c.path === `/channels/${th}/messages/${card.id}`)!;
      expect(edit.at - sent).toBeGreaterThanOrEqual(1000);
      await answer(th, `finished ${name}`);
      await turnDone(asked.id);
      expect(fs.existsSync(path.join(outside, name))).toBe(false);
      const outputs = model.mainRequests().flatMap((r) => (lastUserText(r).includes(name) ? functionCallOutputs(r) : []));
      expect(outputs.at(-1)!.output).toMatch(/rejected/i);
      expect(answers(th)).toHaveLength(1);
      expect(ab.logs.some((l) => l.msg === 'interaction ended' && l.state === 'timed_out')).toBe(true);
    });
  });
});
