/**
 * Card buttons on Discord (message components), in-process against the Discord twin with the
 * real discord.js client and a stub `onAction`: buttons on posts and edits, clicks handed to
 * the core with who/where/which, and the interaction answered within Discord's 3 s (type 6 for
 * `ok`, an ephemeral type 4 otherwise, a deferral plus follow-up when the core is slow).
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { DiscordAdapter } from '../../src/platforms/discord/adapter.js';
import { CLICK_FAILED, INACTIVE_BUTTON } from '../../src/platforms/discord/buttons.js';
import { buttonRows, parseButtonClick } from '../../src/platforms/discord/components.js';
import { createLogger } from '../../src/logger.js';
import { actionId, type ActionReply, type ActionRequest, type CardAction } from '../../src/core/interactions.js';
import type { AdapterContext } from '../../src/platforms/types.js';
import { startDiscordTwin, type DiscordTwin, type Interaction } from '../twins/discord/index.js';
import { waitFor } from '../helpers/sandbox.js';

const CARD: CardAction[] = [
  { id: actionId('i1', 'allow'), label: 'Approve', style: 'primary' },
  { id: actionId('i1', 'always'), label: 'Always for this conversation' },
  { id: actionId('i1', 'deny'), label: 'Deny', style: 'danger' },
];

let twin: DiscordTwin;
let adapter: DiscordAdapter | undefined;
let clicks: ActionRequest[];
/** How the stub core answers a click (default `ok`). */
let onAction: (req: ActionRequest) => Promise<ActionReply>;

async function startAdapter(withOnAction = true): Promise<DiscordAdapter> {
  const state = new Map<string, string>();
  const context: AdapterContext = {
    hasConversation: async () => false,
    isBotMessage: async () => false,
    state: { get: async (k) => state.get(k), set: async (k, v) => void state.set(k, v) },
    ...(withOnAction ? { onAction: (req: ActionRequest) => (clicks.push(req), onAction(req)) } : {}),
  };
  adapter = new DiscordAdapter({
    config: { botToken: twin.token, apiUrl: twin.apiUrl, channels: [twin.channels['agent-chat']!], allowBots: false },
    logger: createLogger('silent'),
  });
  await adapter.start(async () => 'accepted', context);
  return adapter;
}

/** Waits until the interaction got its callback (and, when `followUps` > 0, that many follow-ups). */
function answered(i: Interaction, followUps = 0) {
  return waitFor(
    () => {
      const r = twin.interactionReplies(i);
      return r.callback && r.followUps.length >= followUps ? r : undefined;
    },
    10_000,
    `the answer to interaction ${i.id}`,
  );
}

const buttonsOf = (components: unknown) =>
  (components as Array<{ type: number; components: Array<{ type: number; style: number; label: string; custom_id: string }> }>).map((row) => ({
    type: row.type,
    buttons: row.components.map((b) => [b.type, b.style, b.label, b.custom_id]),
  }));

beforeEach(async () => {
  twin = await startDiscordTwin();
  clicks = [];
  onAction = async () => ({ status: 'ok', text: '' });
});

afterEach(async () => {
  await adapter?.stop();
  adapter = undefined;
  await twin.close();
});

describe('Discord card buttons: builders', () => {
  it('makes action rows of at most 5 buttons with Discord styles; refuses what Discord would refuse', () => {
    const many = Array.from({ length: 7 }, (_, n) => ({ id: `ab:x:c${n}`, label: `B${n}` }));
    const rows = buttonRows([...CARD, ...many]);
    expect(rows.map((r) => r.components.length)).toEqual([5, 5]);
    expect(rows[0]!.components.slice(0, 3)).toEqual([
      { type: 2, style: 1, label: 'Approve', custom_id: 'ab:i1:allow' },
      { type: 2, style: 2, label: 'Always for this conversation', custom_id: 'ab:i1:always' },
      { type: 2, style: 4, label: 'Deny', custom_id: 'ab:i1:deny' },
    ]);
    expect(buttonRows([{ id: 'a', label: 'x'.repeat(90) }])[0]!.components[0]!.label).toBe(`${'x'.repeat(79)}…`);
    expect(buttonRows([])).toEqual([]);
    expect(() => buttonRows(Array.from({ length: 26 }, (_, n) => ({ id: `b${n}`, label: 'b' })))).toThrow(/at most 25/);
    expect(() => buttonRows([{ id: 'x'.repeat(101), label: 'b' }])).toThrow(/1–100/);
    expect(() =>
      buttonRows([
        { id: 'same', label: 'a' },
        { id: 'same', label: 'b' },
      ]),
    ).toThrow(/twice/);
  });

  it('reads a click only when every field is there and well-formed', () => {
    const good = {
      interactionId: '123456',
      customId: 'ab:i1:allow',
      userId: '234567',
      userName: 'Alice',
      guildId: null,
      channelId: '345678',
      messageId: '456789',
    };
    expect(parseButtonClick(good)).toEqual({ ok: true, click: good });
    expect(parseButtonClick({ ...good, userId: undefined })).toMatchObject({ ok: false, error: expect.stringContaining('userId') });
    expect(parseButtonClick({ ...good, messageId: 'not-a-snowflake' })).toMatchObject({ ok: false, error: expect.stringContaining('messageId') });
    expect(parseButtonClick({ ...good, customId: 'x'.repeat(101) })).toMatchObject({ ok: false });
  });
});

describe('Discord card buttons: posting and editing', () => {
  it('a post with actions has the buttons (no pings, nonce kept); an edit with actions [] removes them, without actions keeps them', async () => {
    const a = await startAdapter();
    const chat = twin.channels['agent-chat']!;
    const target = { platform: 'discord' as const, channel: chat };
    // A create carried out but answered 500: the retry with the nonce returns the same message.
    twin.failAfterCreate('POST /channels/:c/messages');
    const posted = await a.post(target, '**Bash** wants to run `rm -rf build` @everyone', { actions: CARD, idempotencyKey: 'ab-o1-m0abcdef' });
    const creates = twin.callsTo('POST /channels/:c/messages');
    expect(creates.map((c) => [c.status, c.outcome])).toEqual([
      [500, 'failed-after-create'],
      [200, 'nonce-replay'],
    ]);
    expect(creates[1]!.body).toMatchObject({ nonce: 'ab-o1-m0abcdef', enforce_nonce: true, allowed_mentions: { parse: [] } });
    expect(buttonsOf((creates[1]!.body as { components: unknown }).components)).toEqual([
      {
        type: 1,
        buttons: [
          [2, 1, 'Approve', 'ab:i1:allow'],
          [2, 2, 'Always for this conversation', 'ab:i1:always'],
          [2, 4, 'Deny', 'ab:i1:deny'],
        ],
      },
    ]);
    const [message] = twin.botMessages(chat);
    expect(message!.id).toBe(posted.ref);
    expect(buttonsOf(message!.components)).toHaveLength(1);
    expect(twin.pings.get(posted.ref)).toEqual({ everyone: false, users: [], repliedUser: false });

    // An edit without actions keeps the buttons (the field is not sent).
    await a.edit(target, posted.ref, 'still waiting');
    expect(twin.callsTo('PATCH /channels/:c/messages/:m').at(-1)!.body).not.toHaveProperty('components');
    expect(buttonsOf(twin.botMessages(chat)[0]!.components)[0]!.buttons).toHaveLength(3);
    // An edit with other actions replaces them; with [] removes them.
    await a.edit(target, posted.ref, 'one left', { actions: [CARD[2]!] });
    expect(buttonsOf(twin.botMessages(chat)[0]!.components)).toEqual([{ type: 1, buttons: [[2, 4, 'Deny', 'ab:i1:deny']] }]);
    await a.edit(target, posted.ref, '✅ Approved by Alice', { actions: [] });
    expect(twin.callsTo('PATCH /channels/:c/messages/:m').at(-1)!.body).toMatchObject({
      content: '✅ Approved by Alice',
      components: [],
      allowed_mentions: { parse: [] },
    });
    expect(twin.botMessages(chat)[0]).toMatchObject({ content: '✅ Approved by Alice', components: [] });
  });
});

describe('Discord card buttons: clicks', () => {
  it('a click reaches onAction with user, channel, message and action, and is acknowledged with type 6', async () => {
    const a = await startAdapter();
    const chat = twin.channels['agent-chat']!;
    const alice = twin.user('Alice', { nick: 'Ali' });
    const posted = await a.post({ platform: 'discord', channel: chat }, 'approve?', { actions: CARD });
    const i = twin.clickButton({ user: alice, messageId: posted.ref, customId: 'ab:i1:allow' });
    const r = await answered(i);
    expect(clicks).toEqual([{ platform: 'discord', userId: alice.id, userName: 'Ali', channel: chat, messageRef: posted.ref, actionId: 'ab:i1:allow' }]);
    expect(r.callback).toEqual({ type: 6 });
    expect(r.followUps).toEqual([]);
    // Nothing visible was posted for an ok click.
    expect(twin.botMessages(chat).map((m) => m.content)).toEqual(['approve?']);
  });

  it('in a thread the channel is the parent and the thread the thread; in a DM the user comes from `user`', async () => {
    const a = await startAdapter();
    const chat = twin.channels['agent-chat']!;
    const root = twin.userSays({ user: 'Alice', channel: chat, content: 'root' });
    const thread = twin.createThread(chat, root.id, 'work');
    const inThread = await a.post({ platform: 'discord', channel: thread, thread }, 'approve?', { actions: CARD });
    const bob = twin.user('Bob');
    await answered(twin.clickButton({ user: bob, messageId: inThread.ref, customId: 'ab:i1:deny' }));
    expect(clicks[0]).toEqual({
      platform: 'discord',
      userId: bob.id,
      userName: 'Bob',
      channel: chat,
      thread,
      messageRef: inThread.ref,
      actionId: 'ab:i1:deny',
    });

    const dm = twin.dmChannel(bob);
    const inDm = await a.post({ platform: 'discord', channel: dm }, 'approve?', { actions: CARD });
    const i = twin.clickButton({ user: bob, messageId: inDm.ref, customId: 'ab:i1:always' });
    expect(i.payload).not.toHaveProperty('member');
    expect((await answered(i)).callback).toEqual({ type: 6 });
    expect(clicks[1]).toEqual({ platform: 'discord', userId: bob.id, userName: 'Bob', channel: dm, messageRef: inDm.ref, actionId: 'ab:i1:always' });
  });

  it('forbidden and decided are told to the clicker only: type 4, ephemeral, no pings', async () => {
    const a = await startAdapter();
    const chat = twin.channels['agent-chat']!;
    const posted = await a.post({ platform: 'discord', channel: chat }, 'approve?', { actions: CARD });
    onAction = async (req) =>
      req.actionId.endsWith('allow')
        ? { status: 'forbidden', text: 'Only @Alice or an admin may decide this.' }
        : { status: 'decided', text: 'Already approved by Alice at 12:00.' };
    const carol = twin.user('Carol');
    const i1 = twin.clickButton({ user: carol, messageId: posted.ref, customId: 'ab:i1:allow' });
    const i2 = twin.clickButton({ user: carol, messageId: posted.ref, customId: 'ab:i1:deny' });
    const [r1, r2] = await Promise.all([answered(i1), answered(i2)]);
    expect(r1.callback).toMatchObject({ type: 4, data: { content: 'Only @Alice or an admin may decide this.', flags: 64, allowed_mentions: { parse: [] } } });
    expect(r2.callback).toMatchObject({ type: 4, data: { content: 'Already approved by Alice at 12:00.', flags: 64, allowed_mentions: { parse: [] } } });
    expect([i1.userId, i2.userId]).toEqual([carol.id, carol.id]);
    const ephemeral = twin.botMessages(chat).filter((m) => m.type === 20);
    expect(ephemeral.map((m) => m.flags)).toEqual([64, 64]);
    expect(clicks.map((c) => c.userId)).toEqual([carol.id, carol.id]);
  });

  it('a button that is not an agentbridge action, or clicks without onAction, are "no longer active" without asking the core', async () => {
    const a = await startAdapter();
    const chat = twin.channels['agent-chat']!;
    const posted = await a.post({ platform: 'discord', channel: chat }, 'old card', { actions: [{ id: 'legacy-button', label: 'Old' }, ...CARD] });
    const r = await answered(twin.clickButton({ user: 'Alice', messageId: posted.ref, customId: 'legacy-button' }));
    expect(r.callback).toMatchObject({ type: 4, data: { content: INACTIVE_BUTTON, flags: 64, allowed_mentions: { parse: [] } } });
    expect(clicks).toEqual([]);

    await a.stop();
    const b = await startAdapter(false);
    const again = await b.post({ platform: 'discord', channel: chat }, 'card', { actions: CARD });
    const r2 = await answered(twin.clickButton({ user: 'Alice', messageId: again.ref, customId: 'ab:i1:allow' }));
    expect(r2.callback).toMatchObject({ type: 4, data: { content: INACTIVE_BUTTON, flags: 64 } });
  });

  it('a failing core tells the clicker to try again', async () => {
    const a = await startAdapter();
    const posted = await a.post({ platform: 'discord', channel: twin.channels['agent-chat']! }, 'approve?', { actions: CARD });
    onAction = async () => {
      throw new Error('database is locked');
    };
    const r = await answered(twin.clickButton({ user: 'Alice', messageId: posted.ref, customId: 'ab:i1:allow' }));
    expect(r.callback).toMatchObject({ type: 4, data: { content: CLICK_FAILED, flags: 64 } });
  });

  it('a slow core: the click is deferred (type 6) within 3 s, and a refusal follows up ephemeral', async () => {
    const a = await startAdapter();
    const posted = await a.post({ platform: 'discord', channel: twin.channels['agent-chat']! }, 'approve?', { actions: CARD });
    let finish!: (r: ActionReply) => void;
    onAction = () => new Promise((r) => (finish = r));
    const i = twin.clickButton({ user: 'Alice', messageId: posted.ref, customId: 'ab:i1:allow' });
    const r = await answered(i);
    expect(r.callback).toEqual({ type: 6 });
    const cb = twin.callsTo('POST /interactions/:id/:token/callback').find((c) => c.path.startsWith(`/interactions/${i.id}/`))!;
    expect(cb.at - i.createdAt).toBeLessThan(3_000);
    expect(cb.at - i.createdAt).toBeGreaterThanOrEqual(1_900);
    finish({ status: 'decided', text: 'Bob decided first.' });
    const after = await answered(i, 1);
    expect(after.followUps).toMatchObject([{ content: 'Bob decided first.', flags: 64, allowed_mentions: { parse: [] } }]);
  });

  it('a click that arrives late is acknowledged before the core runs; an ok then shows nothing more', async () => {
    const a = await startAdapter();
    const posted = await a.post({ platform: 'discord', channel: twin.channels['agent-chat']! }, 'approve?', { actions: CARD });
    let acknowledgedFirst: boolean | undefined;
    onAction = async () => {
      acknowledgedFirst = twin.interactionReplies(i).callback !== undefined;
      return { status: 'ok', text: '' };
    };
    const i = twin.clickButton({ user: 'Alice', messageId: posted.ref, customId: 'ab:i1:allow', lateByMs: 2_500 });
    const r = await answered(i);
    expect(r.callback).toEqual({ type: 6 });
    await waitFor(() => clicks.length === 1, 5_000, 'the click');
    expect(acknowledgedFirst).toBe(true);
    expect(twin.interactionReplies(i).followUps).toEqual([]);
  });

  it('a repeated delivery of the same interaction reaches the core once', async () => {
    const a = await startAdapter();
    const posted = await a.post({ platform: 'discord', channel: twin.channels['agent-chat']! }, 'approve?', { actions: CARD });
    const i = twin.clickButton({ user: 'Alice', messageId: posted.ref, customId: 'ab:i1:allow' });
    await answered(i);
    twin.redeliver(i);
    // The next click is handled after the repeat (dispatches are in order), so when it is seen the repeat was too.
    const j = twin.clickButton({ user: 'Alice', messageId: posted.ref, customId: 'ab:i1:deny' });
    await answered(j);
    expect(clicks.map((c) => c.actionId)).toEqual(['ab:i1:allow', 'ab:i1:deny']);
    expect(twin.callsTo('POST /interactions/:id/:token/callback').filter((c) => c.path.startsWith(`/interactions/${i.id}/`))).toHaveLength(1);
  });

  it('malformed component interactions are ignored without a crash; the next click works', async () => {
    const a = await startAdapter();
    const chat = twin.channels['agent-chat']!;
    const posted = await a.post({ platform: 'discord', channel: chat }, 'approve?', { actions: CARD });
    const good = twin.clickButton({ user: 'Alice', messageId: posted.ref, customId: 'ab:i1:allow' });
    await answered(good);
    const p = good.payload;
    const bad: Array<Record<string, unknown>> = [
      { ...p, id: '900000001', data: { custom_id: 'ab:i1:allow', component_type: 2 }, message: { id: 'nope' } }, // message without the fields
      { ...p, id: '900000002', data: { component_type: 2 } }, // no custom_id
      { ...p, id: '900000003', data: { custom_id: 42, component_type: 2 } }, // custom_id not a string
      { ...p, id: '900000004', member: { ...(p.member as object), user: { id: 'x', username: 'x' } } }, // user id not a snowflake
      { ...p, id: '900000005', data: { custom_id: 'ab:i1:allow', component_type: 99 } }, // unknown component
      { ...p, id: '900000006', type: 77 }, // unknown interaction type
      Object.fromEntries(Object.entries({ ...p, id: '900000007' }).filter(([k]) => k !== 'member')), // neither member nor user
      { ...p, id: '900000008', data: null }, // no data at all
    ];
    // discord.js throws on some of these while building its Interaction (an unhandled rejection): none may escape.
    const escaped: unknown[] = [];
    const onRejection = (reason: unknown) => void escaped.push(reason);
    process.on('unhandledRejection', onRejection);
    try {
      for (const d of bad) twin.dispatchRaw('INTERACTION_CREATE', d);
      const next = twin.clickButton({ user: 'Bob', messageId: posted.ref, customId: 'ab:i1:deny' });
      await answered(next);
      await new Promise<void>((r) => setImmediate(r));
    } finally {
      process.off('unhandledRejection', onRejection);
    }
    expect(escaped).toEqual([]);
    expect(clicks.map((c) => c.actionId)).toEqual(['ab:i1:allow', 'ab:i1:deny']);
  });
});
