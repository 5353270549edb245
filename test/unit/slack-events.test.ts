/** Slack event normalisation (`src/platforms/slack/events.ts`): which events the bot takes, and the text it gets. */
import { describe, expect, it } from 'vitest';
import {
  mentionedUserIds,
  normaliseSlackEvent,
  renderInboundText,
  toInboundMessage,
  type NormaliseContext,
  type SlackMessageEvent,
} from '../../src/platforms/slack/events.js';

const BOT = 'U0BOT';

function ctx(over: Partial<NormaliseContext> & { conversations?: string[]; botMessages?: string[] } = {}): NormaliseContext {
  const conversations = new Set(over.conversations ?? []);
  const botMessages = new Set(over.botMessages ?? []);
  return {
    self: { userId: BOT, botId: 'B0BOT' },
    allowBots: over.allowBots ?? false,
    hasConversation: async (id) => conversations.has(id),
    isBotMessage: async (key) => botMessages.has(key),
  };
}

function env(event: SlackMessageEvent) {
  return { type: 'event_callback', team_id: 'T1', event_id: 'Ev1', event };
}

const mention = (over: Partial<SlackMessageEvent> = {}): SlackMessageEvent => ({
  type: 'app_mention',
  user: 'U1',
  text: `<@${BOT}> fix ci.yml`,
  ts: '100.000001',
  channel: 'C1',
  ...over,
});
const message = (over: Partial<SlackMessageEvent> = {}): SlackMessageEvent => ({
  type: 'message',
  channel_type: 'channel',
  user: 'U1',
  text: 'hello',
  ts: '100.000002',
  channel: 'C1',
  ...over,
});

describe('normaliseSlackEvent', () => {
  it('an app_mention starts a conversation rooted at its ts (or its thread)', async () => {
    const top = await normaliseSlackEvent(env(mention()), ctx());
    expect(top).toMatchObject({
      kind: 'message',
      draft: { conversationId: 'slack:T1:C1:100.000001', rootTs: '100.000001', eventKey: 'slack:T1:C1:100.000001', authorId: 'U1' },
    });
    const inThread = await normaliseSlackEvent(env(mention({ ts: '100.000009', thread_ts: '100.000001' })), ctx());
    expect(inThread).toMatchObject({ kind: 'message', draft: { conversationId: 'slack:T1:C1:100.000001', eventKey: 'slack:T1:C1:100.000009' } });
  });

  it('app_mention and message of one ts give the same event key', async () => {
    const a = await normaliseSlackEvent(env(mention()), ctx());
    const b = await normaliseSlackEvent(env(message({ ts: '100.000001', text: `<@${BOT}> fix ci.yml` })), ctx());
    expect(a.kind === 'message' && b.kind === 'message' && a.draft.eventKey === b.draft.eventKey).toBe(true);
  });

  it('thread replies continue a conversation the bot has, and nothing else', async () => {
    const reply = message({ ts: '100.000005', thread_ts: '100.000001' });
    expect(await normaliseSlackEvent(env(reply), ctx())).toEqual({ kind: 'ignore', reason: 'thread without the bot' });
    expect(await normaliseSlackEvent(env(reply), ctx({ conversations: ['slack:T1:C1:100.000001'] }))).toMatchObject({
      kind: 'message',
      draft: { conversationId: 'slack:T1:C1:100.000001' },
    });
    expect(await normaliseSlackEvent(env(message()), ctx())).toEqual({ kind: 'ignore', reason: 'channel message without a mention' });
    // A thread's parent itself (ts === thread_ts) is not a reply.
    expect(
      await normaliseSlackEvent(env(message({ ts: '100.000001', thread_ts: '100.000001' })), ctx({ conversations: ['slack:T1:C1:100.000001'] })),
    ).toMatchObject({
      kind: 'message',
    });
  });

  it('a reply under a message the bot posted is taken and seeded from it', async () => {
    const reply = message({ ts: '100.000005', thread_ts: '100.000003' });
    const r = await normaliseSlackEvent(env(reply), ctx({ botMessages: ['slack:C1:100.000003'] }));
    expect(r).toMatchObject({ kind: 'message', draft: { conversationId: 'slack:T1:C1:100.000003', seedFrom: 'slack:C1:100.000003' } });
    // Once the conversation exists, later replies are not seeded again.
    const later = await normaliseSlackEvent(env(reply), ctx({ botMessages: ['slack:C1:100.000003'], conversations: ['slack:T1:C1:100.000003'] }));
    expect(later.kind === 'message' && later.draft.seedFrom).toBe(undefined);
  });

  it('DMs: every top-level DM starts its own conversation, replies continue it', async () => {
    const dm = message({ channel: 'D1', channel_type: 'im', ts: '200.000001', text: 'hi bot' });
    expect(await normaliseSlackEvent(env(dm), ctx())).toMatchObject({ kind: 'message', draft: { conversationId: 'slack:T1:D1:200.000001' } });
    const reply = message({ channel: 'D1', channel_type: 'im', ts: '200.000004', thread_ts: '200.000001' });
    expect(await normaliseSlackEvent(env(reply), ctx())).toMatchObject({ kind: 'message', draft: { conversationId: 'slack:T1:D1:200.000001' } });
  });

  it('ignores its own messages, other bots (unless allowed), edits, deletions, joins and hidden events', async () => {
    const c = ctx({ conversations: ['slack:T1:C1:100.000001'] });
    const inThread = { ts: '100.000007', thread_ts: '100.000001' };
    expect(await normaliseSlackEvent(env(message({ ...inThread, user: BOT, bot_id: 'B0BOT' })), c)).toEqual({ kind: 'ignore', reason: 'own message' });
    expect(await normaliseSlackEvent(env(message({ ...inThread, user: undefined, bot_id: 'B0BOT', subtype: 'bot_message' })), c)).toEqual({
      kind: 'ignore',
      reason: 'own message',
    });
    const otherBot = message({ ...inThread, user: undefined, bot_id: 'B9', subtype: 'bot_message', username: 'deploy-bot' });
    expect(await normaliseSlackEvent(env(otherBot), c)).toEqual({ kind: 'ignore', reason: 'bot message' });
    expect(await normaliseSlackEvent(env(otherBot), { ...c, allowBots: true })).toMatchObject({
      kind: 'message',
      draft: { authorId: 'B9', botName: 'deploy-bot' },
    });
    for (const subtype of ['message_changed', 'message_deleted', 'channel_join', 'channel_leave', 'channel_topic']) {
      expect(await normaliseSlackEvent(env(message({ ...inThread, subtype })), c)).toEqual({ kind: 'ignore', reason: `subtype ${subtype}` });
    }
    expect((await normaliseSlackEvent(env(message({ ...inThread, subtype: 'thread_broadcast' })), c)).kind).toBe('message');
    expect((await normaliseSlackEvent(env(message({ ...inThread, hidden: true })), c)).kind).toBe('ignore');
  });

  it('ignores other envelope and event types and malformed events', async () => {
    expect((await normaliseSlackEvent({ type: 'url_verification' }, ctx())).kind).toBe('ignore');
    expect((await normaliseSlackEvent({ type: 'event_callback', team_id: 'T1' }, ctx())).kind).toBe('ignore');
    expect((await normaliseSlackEvent(env({ type: 'reaction_added', user: 'U1' }), ctx())).kind).toBe('ignore');
    expect((await normaliseSlackEvent(env(mention({ ts: undefined })), ctx())).kind).toBe('ignore');
    expect((await normaliseSlackEvent(env(mention({ channel: 'C:1' })), ctx())).kind).toBe('ignore');
  });
});

describe('renderInboundText', () => {
  const names = new Map([
    ['U2', 'Bob'],
    ['U3', 'Carol Smith'],
  ]);

  it('removes the bot mention and resolves the others', () => {
    expect(renderInboundText(`<@${BOT}> ask <@U2> and <@U3|carol> about it`, BOT, names)).toBe('ask @Bob and @Carol Smith about it');
    expect(renderInboundText(`<@${BOT}>: hello`, BOT, names)).toBe('hello');
    expect(renderInboundText(`thanks <@${BOT}>, bye`, BOT, names)).toBe('thanks bye');
    expect(renderInboundText(`ping <@U9>`, BOT, names)).toBe('ping @U9');
  });

  it('decodes channels, special mentions, links and entities', () => {
    const raw = 'see <#C1|general>, <!here> <!subteam^S1|@devs> <https://x.dev/a|the docs> <https://x.dev/b> <mailto:a@b.c|a@b.c> a &lt;b&gt; &amp; c';
    expect(renderInboundText(raw, BOT, names)).toBe('see #general, @here @devs the docs (https://x.dev/a) https://x.dev/b a@b.c a <b> & c');
  });

  it('keeps line breaks and code; an empty message gets a placeholder', () => {
    expect(renderInboundText(`<@${BOT}> run\n\`\`\`\nif (a &lt; b) {}\n\`\`\``, BOT, names)).toBe('run\n```\nif (a < b) {}\n```');
    expect(renderInboundText(`<@${BOT}>`, BOT, names)).toBe('(empty message)');
  });

  it('lists mentioned user ids once each', () => {
    expect(mentionedUserIds(`<@${BOT}> <@U2> <@U3|c> <@U2>`)).toEqual([BOT, 'U2', 'U3']);
  });
});

describe('toInboundMessage', () => {
  it('builds the InboundMessage the core stores', async () => {
    const r = await normaliseSlackEvent(env(mention({ ts: '100.000009', thread_ts: '100.000001' })), ctx({ botMessages: ['slack:C1:100.000001'] }));
    if (r.kind !== 'message') throw new Error('expected a message');
    expect(toInboundMessage(r.draft, 'fix ci.yml', 'Alice', 42)).toEqual({
      platform: 'slack',
      conversationId: 'slack:T1:C1:100.000001',
      channel: 'C1',
      thread: '100.000001',
      author: { id: 'U1', name: 'Alice' },
      text: 'fix ci.yml',
      eventKey: 'slack:T1:C1:100.000009',
      replyTarget: { platform: 'slack', channel: 'C1', thread: '100.000001' },
      messageRef: '100.000009',
      seedFrom: 'slack:C1:100.000001',
      addressed: true,
      receivedAt: 42,
    });
  });

  it('marks mentions and DMs as addressed (read as commands), thread replies without a mention not', async () => {
    const addressed = async (ev: SlackMessageEvent, c = ctx()) => {
      const r = await normaliseSlackEvent(env(ev), c);
      if (r.kind !== 'message') throw new Error(`expected a message, got ${r.reason}`);
      return toInboundMessage(r.draft, 'stop', 'Alice', 1).addressed;
    };
    expect(await addressed(mention({ text: `<@${BOT}> stop`, thread_ts: '100.000000' }))).toBe(true);
    // the message twin of a mention
    expect(await addressed(message({ text: `<@${BOT}> stop`, thread_ts: '100.000000' }))).toBe(true);
    expect(await addressed(message({ text: `<@${BOT}|agentbridge> stop` }))).toBe(true);
    // DMs: top-level and in a thread
    expect(await addressed(message({ channel: 'D1', channel_type: 'im', text: 'stop' }))).toBe(true);
    expect(await addressed(message({ channel: 'D1', channel_type: 'im', text: 'stop', ts: '100.000005', thread_ts: '100.000002' }))).toBe(true);
    // a thread reply in a conversation the bot has, without a mention: a prompt
    expect(
      await addressed(message({ text: 'stop', ts: '100.000003', thread_ts: '100.000001' }), ctx({ conversations: ['slack:T1:C1:100.000001'] })),
    ).toBeUndefined();
    // a reply under a bot post (seeded), without a mention
    expect(
      await addressed(message({ text: 'stop', ts: '100.000004', thread_ts: '100.000001' }), ctx({ botMessages: ['slack:C1:100.000001'] })),
    ).toBeUndefined();
  });
});

describe('control characters in Slack text', () => {
  it('strips C0 control characters other than tab, LF and CR before the text reaches the agent', () => {
    const raw = `<@${BOT}> a\u0000b\u0007c\u001bd\te\r\nf\u000bg\u001f`;
    expect(renderInboundText(raw, BOT, new Map())).toBe('abcd\te\r\nfg');
  });
  it('a message of control characters only becomes the empty-message placeholder', () => {
    expect(renderInboundText('\u0000\u0001\u0002', BOT, new Map())).toBe('(empty message)');
  });
});
