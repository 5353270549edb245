/**
 * Pure parts of Slack cards: the Block Kit builders (`blocks.ts`) and the validation of
 * `block_actions` payloads (`interactions.ts`).
 */
import { describe, expect, it } from 'vitest';
import { actionId } from '../../src/core/interactions.js';
import { cardBlocks, MAX_SECTION_TEXT_CHARS, truncateMrkdwn } from '../../src/platforms/slack/blocks.js';
import { clicksOf, parseBlockActions } from '../../src/platforms/slack/interactions.js';

describe('cardBlocks / truncateMrkdwn', () => {
  it('builds a section and an actions block; [] gives the section only; blank text gives no section', () => {
    const id = actionId('abc', 'allow');
    expect(cardBlocks('hi', [{ id, label: 'Approve', style: 'primary' }])).toEqual([
      { type: 'section', text: { type: 'mrkdwn', text: 'hi' } },
      {
        type: 'actions',
        elements: [{ type: 'button', action_id: id, text: { type: 'plain_text', text: 'Approve', emoji: true }, value: id, style: 'primary' }],
      },
    ]);
    expect(cardBlocks('hi', [])).toEqual([{ type: 'section', text: { type: 'mrkdwn', text: 'hi' } }]);
    expect(cardBlocks('  ', [])).toEqual([]);
  });

  it('keeps button labels within 75 characters, drops duplicate ids and keeps at most 25 buttons', () => {
    const many = Array.from({ length: 30 }, (_, i) => ({ id: actionId('abc', `c${i}`), label: 'x'.repeat(100) }));
    const [, actions] = cardBlocks('t', [...many, many[0]!]) as [unknown, { elements: Array<{ text: { text: string } }> }];
    expect(actions.elements).toHaveLength(25);
    expect(actions.elements.every((e) => e.text.text.length === 75)).toBe(true);
  });

  it('cuts text to the section limit without splitting links, entities, surrogate pairs or code fences', () => {
    expect(truncateMrkdwn('short', 10)).toBe('short');
    expect(truncateMrkdwn('abc <https://x.test|link> tail', 12)).toBe('abc …');
    expect(truncateMrkdwn('abcdef &amp; tail', 10)).toBe('abcdef …');
    expect(truncateMrkdwn('ab😀cd', 4)).toBe('ab…');
    const fenced = truncateMrkdwn(`intro\n\`\`\`\n${'line\n'.repeat(1000)}\`\`\``, MAX_SECTION_TEXT_CHARS);
    expect(fenced.length).toBeLessThanOrEqual(MAX_SECTION_TEXT_CHARS);
    expect(fenced.endsWith('…\n```')).toBe(true);
    expect(fenced.split('```').length - 1).toBe(2);
  });
});

describe('parseBlockActions / clicksOf', () => {
  const payload = {
    type: 'block_actions',
    user: { id: 'U1', username: 'al', name: 'al', team_id: 'T1' },
    team: { id: 'T1', domain: 'x' },
    channel: { id: 'C1', name: 'general' },
    container: { type: 'message', message_ts: '2.000002', channel_id: 'C1', thread_ts: '1.000001', is_ephemeral: false },
    message: { ts: '2.000002', thread_ts: '1.000001', text: 'card' },
    response_url: 'https://hooks.slack.com/actions/T1/1/abc',
    actions: [
      { type: 'button', action_id: actionId('r1', 'deny'), block_id: 'b', value: 'v', action_ts: '3.0' },
      { type: 'button', action_id: 'someone_elses', block_id: 'b', action_ts: '3.0' },
    ],
  };

  it('takes the user, channel, thread, message and action ids from a valid payload; ignores foreign ids', () => {
    const parsed = parseBlockActions(payload);
    expect(parsed.ok).toBe(true);
    if (!parsed.ok) return;
    expect(clicksOf(parsed.payload)).toEqual({
      clicks: [{ platform: 'slack', userId: 'U1', channel: 'C1', thread: '1.000001', messageRef: '2.000002', actionId: 'ab:r1:deny' }],
      ignored: ['someone_elses'],
    });
    // Without `message`/`channel`, the container names them.
    const fromContainer = parseBlockActions({ ...payload, message: undefined, channel: undefined });
    expect(fromContainer.ok && clicksOf(fromContainer.payload).clicks[0]).toMatchObject({ channel: 'C1', messageRef: '2.000002', thread: '1.000001' });
  });

  it('refuses malformed payloads with a reason that names the field, not its value', () => {
    for (const bad of [
      { ...payload, type: 'view_submission' },
      { ...payload, user: { id: '' } },
      { ...payload, user: { id: 'U1\nforged' } },
      { ...payload, actions: [] },
      { ...payload, actions: [{ type: 'button' }] },
      { ...payload, response_url: 'javascript:alert(1)' },
      'not an object',
      null,
    ]) {
      const r = parseBlockActions(bad);
      expect(r.ok, JSON.stringify(bad)?.slice(0, 60)).toBe(false);
      if (!r.ok) expect(r.reason).not.toContain('forged');
    }
  });
});
