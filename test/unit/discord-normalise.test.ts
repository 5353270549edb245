/** Discord message normalisation (pure): where the bot takes part, ids, text clean-up, seeding. */
import { describe, expect, it } from 'vitest';
import { postedMessageKey } from '../../src/core/ids.js';
import { cleanText, normaliseMessage, type DiscordMessageFacts, type NormalisePolicy } from '../../src/platforms/discord/normalise.js';

const BOT = '900000000000000001';
const GUILD = '800000000000000001';
const CHAT = '700000000000000001';
const OTHER = '700000000000000002';
const ALICE = '600000000000000001';
const BOB = '600000000000000002';

function facts(over: Partial<DiscordMessageFacts> = {}): DiscordMessageFacts {
  return {
    id: '500000000000000001',
    channelId: CHAT,
    guildId: GUILD,
    type: 0,
    content: 'hello',
    author: { id: ALICE, displayName: 'Alice', bot: false },
    webhookId: null,
    mentionedUserIds: [],
    userNames: {},
    attachments: [],
    createdTimestamp: 1_700_000_000_000,
    ...over,
  };
}

function policy(over: Partial<NormalisePolicy> = {}): NormalisePolicy {
  return { botUserId: BOT, chatChannels: new Set([CHAT]), allowBots: false, hasConversation: () => false, isBotMessage: () => false, ...over };
}

describe('normaliseMessage', () => {
  it('a chat channel message: channel conversation, author display name, reply target and event key', () => {
    const r = normaliseMessage(facts(), policy(), 42);
    expect(r).toEqual({
      ok: true,
      message: {
        platform: 'discord',
        conversationId: `discord:${GUILD}:${CHAT}`,
        channel: CHAT,
        author: { id: ALICE, name: 'Alice' },
        text: 'hello',
        eventKey: 'discord:500000000000000001',
        replyTarget: { platform: 'discord', channel: CHAT, replyTo: '500000000000000001' },
        messageRef: '500000000000000001',
        addressed: false,
        receivedAt: 42,
      },
    });
  });

  it('elsewhere only a mention (in the text or a reply ping) is taken; DMs always', () => {
    expect(normaliseMessage(facts({ channelId: OTHER }), policy())).toEqual({ ok: false, reason: 'not addressed to the bot' });
    const mentioned = normaliseMessage(facts({ channelId: OTHER, content: `<@${BOT}> help`, mentionedUserIds: [BOT] }), policy());
    expect(mentioned.ok && mentioned.message).toMatchObject({ text: 'help', addressed: true, conversationId: `discord:${GUILD}:${OTHER}` });
    const replyPing = normaliseMessage(facts({ channelId: OTHER, type: 19, content: 'and this?', mentionedUserIds: [BOT] }), policy());
    expect(replyPing.ok).toBe(true);
    const dm = normaliseMessage(facts({ guildId: null, channelId: '700000000000000009' }), policy());
    expect(dm.ok && dm.message).toMatchObject({ conversationId: 'discord:@me:700000000000000009', addressed: true });
  });

  it('skips its own messages, other bots (unless allowed), webhooks, system messages and empty text', () => {
    expect(normaliseMessage(facts({ author: { id: BOT, displayName: 'agentbridge', bot: true } }), policy({ allowBots: true }))).toEqual({
      ok: false,
      reason: 'own message',
    });
    const otherBot = facts({ author: { id: BOB, displayName: 'CI bot', bot: true } });
    expect(normaliseMessage(otherBot, policy())).toEqual({ ok: false, reason: 'bot author' });
    const allowed = normaliseMessage(otherBot, policy({ allowBots: true }));
    expect(allowed.ok && allowed.message.author).toEqual({ id: BOB, name: 'CI bot', isBot: true });
    expect(normaliseMessage(facts({ webhookId: '1' }), policy())).toEqual({ ok: false, reason: 'webhook' });
    for (const type of [6, 7, 18, 21]) expect(normaliseMessage(facts({ type }), policy())).toEqual({ ok: false, reason: 'system message' });
    expect(normaliseMessage(facts({ type: 19 }), policy()).ok).toBe(true);
    expect(normaliseMessage(facts({ content: `<@${BOT}>` }), policy())).toEqual({ ok: false, reason: 'empty text' });
  });

  it('threads: own conversation with the parent; every message in chat channels, elsewhere once the bot is in it', () => {
    const T = '500000000000000777';
    const inChatThread = normaliseMessage(facts({ channelId: T, threadParentId: CHAT }), policy());
    expect(inChatThread.ok && inChatThread.message).toMatchObject({
      conversationId: `discord:${GUILD}:${CHAT}:${T}`,
      channel: CHAT,
      thread: T,
      replyTarget: { platform: 'discord', channel: T, thread: T },
    });
    const elsewhere = facts({ channelId: T, threadParentId: OTHER });
    expect(normaliseMessage(elsewhere, policy()).ok).toBe(false);
    expect(normaliseMessage(elsewhere, policy({ hasConversation: (id) => id === `discord:${GUILD}:${OTHER}:${T}` })).ok).toBe(true);
    expect(normaliseMessage({ ...elsewhere, content: `<@!${BOT}> hi`, mentionedUserIds: [BOT] }, policy()).ok).toBe(true);
  });

  it('a thread on one of the bot messages carries seedFrom (thread id = message id) until its conversation exists', () => {
    const T = '500000000000000888';
    const key = postedMessageKey('discord', OTHER, T);
    const f = facts({ channelId: T, threadParentId: OTHER });
    const first = normaliseMessage(f, policy({ isBotMessage: (k) => k === key }));
    expect(first.ok && first.message.seedFrom).toBe(key); // and it takes part without a mention
    const later = normaliseMessage(f, policy({ isBotMessage: (k) => k === key, hasConversation: () => true }));
    expect(later.ok && later.message.seedFrom).toBeUndefined();
    const onUserMessage = normaliseMessage(facts({ channelId: T, threadParentId: CHAT }), policy());
    expect(onUserMessage.ok && onUserMessage.message.seedFrom).toBeUndefined();
  });
});

describe('cleanText', () => {
  it('removes the bot mention with its leading space, resolves users and channels, keeps unknown ones', () => {
    const f = facts({
      content: `<@${BOT}>, ask <@!${BOB}> about <#${OTHER}> and <@123456789012345678> <@${BOT}>`,
      userNames: { [BOB]: 'Bob B.' },
      channelNames: { [OTHER]: 'general' },
    });
    expect(cleanText(f, BOT)).toBe('ask @Bob B. about #general and <@123456789012345678>');
    expect(cleanText(facts({ content: `hey <@${BOT}>: what now?` }), BOT)).toBe('hey: what now?');
    expect(cleanText(facts({ content: ':) hi' }), BOT)).toBe(':) hi');
  });

  it('keeps code indentation and lists attachments', () => {
    const f = facts({
      content: `<@${BOT}> fix this\n\`\`\`\n  indented   code\n\`\`\``,
      attachments: [{ name: 'log.txt', url: 'https://cdn.example/log.txt' }],
    });
    expect(cleanText(f, BOT)).toBe('fix this\n```\n  indented   code\n```\n[attachment: log.txt](https://cdn.example/log.txt)');
  });
});

describe('control characters in Discord text', () => {
  it('strips C0 control characters other than tab, LF and CR', () => {
    expect(cleanText(facts({ content: `<@${BOT}> a\u0000b\u0008c\u001bd\te\r\nf\u000cg` }), BOT)).toBe('abcd\te\r\nfg');
  });
  it('a message of control characters only is skipped as empty', () => {
    const r = normaliseMessage(facts({ content: '\u0000\u0001' }), policy());
    expect(r).toMatchObject({ ok: false, reason: 'empty text' });
  });
});
