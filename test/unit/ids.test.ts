import { describe, it, expect } from 'vitest';
import { postedMessageKey, InvalidConversationIdError, InvalidIdComponentError } from '../../src/core/ids.js';
import { discordConversationId } from '../../src/platforms/discord/ids.js';
import { localConversationId } from '../../src/platforms/local/ids.js';
import { parseConversationId } from '../../src/platforms/registry.js';
import { slackConversationId } from '../../src/platforms/slack/ids.js';

describe('conversation ids', () => {
  it('builds the documented formats', () => {
    expect(slackConversationId('T01', 'C02', '1700000000.000100')).toBe('slack:T01:C02:1700000000.000100');
    expect(discordConversationId('111', '222')).toBe('discord:111:222');
    expect(discordConversationId('111', '222', '333')).toBe('discord:111:222:333');
    expect(discordConversationId(null, '444')).toBe('discord:@me:444');
    expect(localConversationId('general', 't1')).toBe('local:general:t1');
  });

  it('parses back what the builders made', () => {
    expect(parseConversationId('slack:T01:C02:1700000000.000100')).toEqual({
      platform: 'slack',
      team: 'T01',
      channel: 'C02',
      thread: '1700000000.000100',
    });
    expect(parseConversationId('discord:111:222')).toEqual({ platform: 'discord', guild: '111', channel: '222' });
    expect(parseConversationId('discord:111:222:333')).toEqual({ platform: 'discord', guild: '111', channel: '222', thread: '333' });
    expect(parseConversationId('discord:@me:444')).toEqual({ platform: 'discord', guild: null, channel: '444' });
    expect(parseConversationId('local:general:t1')).toEqual({ platform: 'local', channel: 'general', thread: 't1' });
  });

  it('round-trips id → parts → id over many values', () => {
    const vals = ['a', 'T0ABC', 'C0-x_y', '1700000000.000100', '@me', '9'.repeat(19), 'ünï', 'a b'];
    for (const a of vals)
      for (const b of vals)
        for (const c of vals) {
          const ids = [
            slackConversationId(a, b, c),
            discordConversationId(a, b, c),
            discordConversationId(a, b),
            discordConversationId(null, b, c),
            localConversationId(a, b),
          ];
          for (const id of ids) {
            const p = parseConversationId(id);
            const rebuilt =
              p.platform === 'slack'
                ? slackConversationId(p.team, p.channel, p.thread)
                : p.platform === 'discord'
                  ? discordConversationId(p.guild, p.channel, p.thread)
                  : localConversationId(p.channel, p.thread);
            expect(rebuilt).toBe(id);
          }
        }
    expect(parseConversationId(slackConversationId('T', 'C', '1.2'))).toMatchObject({ team: 'T', channel: 'C', thread: '1.2' });
  });

  it('rejects empty parts and colons in the builders, naming the part', () => {
    expect(() => slackConversationId('', 'C', '1.2')).toThrow(InvalidIdComponentError);
    expect(() => slackConversationId('T', 'C:x', '1.2')).toThrow(/Slack channel "C:x".*contains ":"/);
    expect(() => slackConversationId('T', 'C', '')).toThrow(/Slack thread_ts "".*empty/);
    expect(() => discordConversationId('g', '')).toThrow(/Discord channel/);
    expect(() => discordConversationId('g', 'c', '')).toThrow(/Discord thread/);
    expect(() => discordConversationId('g:1', 'c')).toThrow(/Discord guild/);
    expect(() => localConversationId('a:b', 't')).toThrow(/local channel/);
    expect(() => localConversationId('a', '')).toThrow(/local thread/);
  });

  it('rejects malformed ids with InvalidConversationIdError', () => {
    const bad = [
      '',
      'slack',
      'slack:T:C',
      'slack:T:C:1.2:x',
      'slack::C:1.2',
      'discord:g',
      'discord:g:c:t:x',
      'discord:g::t',
      'local:c',
      'local:c:t:x',
      'local::t',
      'teams:a:b',
      'scheduler:a:b',
      'SLACK:T:C:1',
      'slack:T:C:1.2:',
    ];
    for (const id of bad) expect(() => parseConversationId(id), id).toThrow(InvalidConversationIdError);
    expect(() => parseConversationId('teams:a:b')).toThrow(/unknown platform "teams"/);
  });

  it('builds posted-message keys as platform:channel:messageRef', () => {
    expect(postedMessageKey('slack', 'C02', '1700000000.000200')).toBe('slack:C02:1700000000.000200');
    expect(postedMessageKey('discord', '222', '999')).toBe('discord:222:999');
    expect(postedMessageKey('local', 'general', 'm-1')).toBe('local:general:m-1');
    expect(() => postedMessageKey('slack', 'C02', '')).toThrow(/message ref/);
    expect(() => postedMessageKey('slack', 'C:2', '1.2')).toThrow(InvalidIdComponentError);
  });
});
