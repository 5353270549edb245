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
  return { botUserId: BOT, chatChannels: new Set([CHAT]), allowBots: false, hasConversation: async () => false, isBotMessage: async () => false, ...over };
}

describe('normaliseMessage', () => {
  it('a chat channel message: channel conversation, author display name, reply target and event key', async () => {
    const r = await normaliseMessage(facts(), policy(), 42);
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

  it('elsewhere only a mention (in the text or a reply ping) is taken; DMs always', async () => {
    expect(await normaliseMessage(facts({ channelId: OTHER }), policy())).toEqual({ ok: false, reason: 'not addressed to the bot' });
    const mentioned = await normaliseMessage(facts({ channelId: OTHER, content: `<@${BOT}> help`, mentionedUserIds: [BOT] }), policy());
    expect(mentioned.ok && mentioned.message).toMatchObject({ text: 'help', addressed: true, conversationId: `discord:${GUILD}:${OTHER}` });
    const replyPing = await normaliseMessage(facts({ channelId: OTHER, type: 19, content: 'and this?', mentionedUserIds: [BOT] }), policy());
    expect(replyPing.ok).toBe(true);
    const dm = await normaliseMessage(facts({ guildId: null, channelId: '700000000000000009' }), policy());
    expect(dm.ok && dm.message).toMatchObject({ conversationId: 'discord:@me:700000000000000009', addressed: true });
  });

  it('skips its own messages, other bots (unless allowed), webhooks, system messages and empty text', async () => {
    expect(await normaliseMessage(facts({ author: { id: BOT, displayName: 'agentbridge', bot: true } }), policy({ allowBots: true }))).toEqual({
      ok: false,
      reason: 'own message',
    });
    const otherBot = facts({ author: { id: BOB, displayName: 'CI bot', bot: true } });
    expect(await normaliseMessage(otherBot, policy())).toEqual({ ok: false, reason: 'bot author' });
    const allowed = await normaliseMessage(otherBot, policy({ allowBots: true }));
    expect(allowed.ok && allowed.message.author).toEqual({ id: BOB, name: 'CI bot', isBot: true });
    expect(await normaliseMessage(facts({ webhookId: '1' }), policy())).toEqual({ ok: false, reason: 'webhook' });
    for (const type of [6, 7, 18, 21]) expect(await normaliseMessage(facts({ type }), policy())).toEqual({ ok: false, reason: 'system message' });
    expect((await normaliseMessage(facts({ type: 19 }), policy())).ok).toBe(true);
    expect(await normaliseMessage(facts({ content: `<@${BOT}>` }), policy())).toEqual({ ok: false, reason: 'no text or files' });
  });

  it('threads: own conversation with the parent; every message in chat channels, elsewhere once the bot is in it', async () => {
    const T = '500000000000000777';
    const inChatThread = await normaliseMessage(facts({ channelId: T, threadParentId: CHAT }), policy());
    expect(inChatThread.ok && inChatThread.message).toMatchObject({
      conversationId: `discord:${GUILD}:${CHAT}:${T}`,
      channel: CHAT,
      thread: T,
      replyTarget: { platform: 'discord', channel: T, thread: T },
    });
    const elsewhere = facts({ channelId: T, threadParentId: OTHER });
    expect((await normaliseMessage(elsewhere, policy())).ok).toBe(false);
    expect((await normaliseMessage(elsewhere, policy({ hasConversation: async (id) => id === `discord:${GUILD}:${OTHER}:${T}` }))).ok).toBe(true);
    expect((await normaliseMessage({ ...elsewhere, content: `<@!${BOT}> hi`, mentionedUserIds: [BOT] }, policy())).ok).toBe(true);
  });

  it('a thread on one of the bot messages carries seedFrom (thread id = message id) until its conversation exists', async () => {
    const T = '500000000000000888';
    const key = postedMessageKey('discord', OTHER, T);
    const f = facts({ channelId: T, threadParentId: OTHER });
    const first = await normaliseMessage(f, policy({ isBotMessage: async (k) => k === key }));
    expect(first.ok && first.message.seedFrom).toBe(key); // and it takes part without a mention
    const later = await normaliseMessage(f, policy({ isBotMessage: async (k) => k === key, hasConversation: async () => true }));
    expect(later.ok && later.message.seedFrom).toBeUndefined();
    const onUserMessage = await normaliseMessage(facts({ channelId: T, threadParentId: CHAT }), policy());
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

  it('keeps code indentation; attachments are not in the text', () => {
    const f = facts({
      content: `<@${BOT}> fix this\n\`\`\`\n  indented   code\n\`\`\``,
      attachments: [LOG],
    });
    expect(cleanText(f, BOT)).toBe('fix this\n```\n  indented   code\n```');
  });
});

const LOG_URL = 'https://cdn.discordapp.com/attachments/700000000000000001/400000000000000001/log.txt?ex=1&is=2&hm=3';
const LOG = { id: '400000000000000001', name: 'log.txt', contentType: 'text/plain; charset=utf-8', size: 42, url: LOG_URL };

describe('attachments become files', () => {
  it('each attachment is an InboundFile {id, name, mimeType, size, url}; the text stays as written', async () => {
    const png = { id: '400000000000000002', name: 'shot.png', contentType: 'image/png', size: 2048, url: 'https://cdn.discordapp.com/a/shot.png' };
    const r = await normaliseMessage(facts({ content: 'see the log', attachments: [LOG, png] }), policy());
    expect(r.ok && r.message.text).toBe('see the log');
    expect(r.ok && r.message.files).toEqual([
      { id: '400000000000000001', name: 'log.txt', mimeType: 'text/plain; charset=utf-8', size: 42, url: LOG_URL },
      { id: '400000000000000002', name: 'shot.png', mimeType: 'image/png', size: 2048, url: 'https://cdn.discordapp.com/a/shot.png' },
    ]);
    expect(r.ok && r.malformedFiles).toBeUndefined();
  });

  it('a message with attachments and no text is taken, with empty text', async () => {
    const r = await normaliseMessage(facts({ content: '', attachments: [LOG] }), policy());
    expect(r).toMatchObject({ ok: true, message: { text: '', files: [{ id: LOG.id, name: 'log.txt' }] } });
    const mentionOnly = await normaliseMessage(facts({ channelId: OTHER, content: `<@${BOT}>`, mentionedUserIds: [BOT], attachments: [LOG] }), policy());
    expect(mentionOnly).toMatchObject({ ok: true, message: { text: '', addressed: true, files: [{ name: 'log.txt' }] } });
  });

  it('no content type → no mimeType; no attachments → no files field', async () => {
    const r = await normaliseMessage(facts({ attachments: [{ ...LOG, contentType: null }] }), policy());
    expect(r.ok && r.message.files?.[0]).toEqual({ id: LOG.id, name: 'log.txt', size: 42, url: LOG_URL });
    const plain = await normaliseMessage(facts(), policy());
    expect(plain.ok && 'files' in plain.message).toBe(false);
  });

  it('malformed attachments are left out and reported; the rest of the message is kept', async () => {
    const r = await normaliseMessage(
      facts({
        content: 'files',
        attachments: [
          { ...LOG, id: undefined },
          { ...LOG, id: '400000000000000003', name: '' },
          { ...LOG, id: '400000000000000004', size: -1 },
          { ...LOG, id: '400000000000000005', url: 'javascript:alert(1)' },
          { ...LOG, id: '400000000000000006', url: 'not a url' },
          { ...LOG, id: '400000000000000007', contentType: 7 },
          LOG,
        ],
      }),
      policy(),
    );
    expect(r.ok && r.message.files?.map((f) => f.id)).toEqual([LOG.id]);
    expect(r.ok && r.malformedFiles?.map((m) => m.index)).toEqual([0, 1, 2, 3, 4, 5]);
    expect(r.ok && r.malformedFiles?.[0]?.problem).toMatch(/^id: /);
    expect(r.ok && r.malformedFiles?.[3]?.problem).toMatch(/url: not an http\(s\) URL/);
  });

  it('no text and only malformed attachments: skipped', async () => {
    expect(await normaliseMessage(facts({ content: '', attachments: [{ name: 'x' }] }), policy())).toEqual({ ok: false, reason: 'no text or files' });
  });
});

describe('control characters in Discord text', () => {
  it('strips C0 control characters other than tab, LF and CR', () => {
    expect(cleanText(facts({ content: `<@${BOT}> a\u0000b\u0008c\u001bd\te\r\nf\u000cg` }), BOT)).toBe('abcd\te\r\nfg');
  });
  it('a message of control characters only is skipped as empty', async () => {
    const r = await normaliseMessage(facts({ content: '\u0000\u0001' }), policy());
    expect(r).toMatchObject({ ok: false, reason: 'no text or files' });
  });
});
