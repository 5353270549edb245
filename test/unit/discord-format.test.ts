/** Discord output text: mention neutralising, and the catch-up cursor helpers (pure). */
import { describe, expect, it } from 'vitest';
import { neutraliseMentions, NO_MENTIONS, ZWSP } from '../../src/platforms/discord/format.js';
import { catchUpStart, Cursors, isLater, messagesAfter, snowflakeTime } from '../../src/platforms/discord/catchup.js';

describe('neutraliseMentions', () => {
  it('breaks @everyone and @here (any case) with a zero-width space', () => {
    expect(neutraliseMentions('hi @everyone and @here, @Everyone!')).toBe(`hi @${ZWSP}everyone and @${ZWSP}here, @${ZWSP}Everyone!`);
    expect(neutraliseMentions(neutraliseMentions('@here'))).toBe(`@${ZWSP}here`); // idempotent
  });

  it('leaves user mentions (allowed_mentions stops their pings) and code intact', () => {
    expect(neutraliseMentions('ask <@123456789012345678>')).toBe('ask <@123456789012345678>');
    const fenced = '```sh\necho "@everyone"\n```\nthen @here';
    expect(neutraliseMentions(fenced)).toBe(`\`\`\`sh\necho "@everyone"\n\`\`\`\nthen @${ZWSP}here`);
    expect(neutraliseMentions('run `notify @here` or @here')).toBe(`run \`notify @here\` or @${ZWSP}here`);
    expect(neutraliseMentions('~~~\n@everyone\n~~~ @everyone')).toBe('~~~\n@everyone\n~~~ @everyone'); // "~~~ @everyone" is no closing fence
    expect(neutraliseMentions('```\nunclosed @here')).toBe('```\nunclosed @here');
  });

  it('every send uses allowed_mentions that parse nothing and do not ping the replied user', () => {
    expect(NO_MENTIONS).toEqual({ parse: [], repliedUser: false });
  });
});

describe('catch-up helpers', () => {
  it('compares snowflakes as numbers and reads their time', () => {
    expect(isLater('1000000000000000000', '999999999999999999')).toBe(true);
    expect(isLater('175928847303985153', '175928847303985153')).toBe(false);
    expect(snowflakeTime('175928847299117063')).toBe(1462015105796); // Discord's documented example
  });

  it('cursors only move forward', async () => {
    const m = new Map<string, string>();
    const c = new Cursors({ get: async (k) => m.get(k), set: async (k, v) => void m.set(k, v) });
    await c.advance('1', '200');
    await c.advance('1', '100');
    expect(m.get('discord:cursor:1')).toBe('200');
    expect(await c.get('1')).toBe('200');
    const snapshot = await c.snapshot(['1', '2']);
    await c.advance('2', '300');
    expect([snapshot.get('1'), snapshot.get('2')]).toEqual(['200', undefined]); // as read, not as moved since
  });

  it('where catch-up starts: the cursor; whole new threads; nothing for first sight', () => {
    const cursors = { get: (id: string) => ({ parent: '175928847299117063', chan: '42' })[id] };
    expect(catchUpStart({ id: 'chan' }, cursors, false)).toBe('42');
    expect(catchUpStart({ id: 'newchat' }, cursors, true)).toBeUndefined();
    const made = snowflakeTime('175928847299117063');
    expect(catchUpStart({ id: '9', parentId: 'parent', createdTimestamp: made + 1 }, cursors, false)).toBe('9');
    expect(catchUpStart({ id: '9', parentId: 'parent', createdTimestamp: made - 1 }, cursors, false)).toBeUndefined();
    expect(catchUpStart({ id: '9', parentId: 'parent', createdTimestamp: made - 1 }, cursors, true)).toBe('9');
  });

  it('pages oldest first and stops at a short page', async () => {
    const all = Array.from({ length: 7 }, (_, i) => ({ id: String(101 + i) }));
    const asked: string[] = [];
    const page = async (after: string, limit: number) => {
      asked.push(after);
      return all
        .filter((m) => BigInt(m.id) > BigInt(after))
        .slice(0, limit)
        .reverse(); // newest first, like Discord
    };
    const got: string[] = [];
    for await (const m of messagesAfter(page, '100', 3)) got.push(m.id);
    expect(got).toEqual(['101', '102', '103', '104', '105', '106', '107']);
    expect(asked).toEqual(['100', '103', '106']);
  });
});
