/** Outbound Slack text (`src/platforms/slack/format.ts`): Markdown → mrkdwn, and mentions that ping no one. */
import { describe, expect, it } from 'vitest';
import { formatSlackMarkdown, JOINER, neutraliseSlackMentions } from '../../src/platforms/slack/format.js';

/** What Slack would treat as a notification in a posted text (link_names off). */
function pings(text: string): string[] {
  const found = [...text.matchAll(/<!(?:here|channel|everyone|subteam\^)[^>]*>|<@[UW][A-Z0-9]+(?:\|[^>]*)?>/g)].map((m) => m[0]);
  // Plain keywords notify with link_names; they must be broken too.
  found.push(...[...text.matchAll(/(^|[^\w])@(here|channel|everyone)\b/gi)].map((m) => m[0].trim()));
  return found;
}

describe('neutraliseSlackMentions', () => {
  it('turns every kind of mention into plain text', () => {
    const input = 'hi <!channel> <!here|here> <!everyone> <!subteam^S0DEV|@devs> <!subteam^S1> <@U0ALICE> <@W0ENT|ent> @here @channel @everyone @Here';
    const out = neutraliseSlackMentions(input, (id) => (id === 'U0ALICE' ? 'Alice' : undefined));
    expect(pings(out)).toEqual([]);
    expect(out).toBe(
      `hi @${JOINER}channel @${JOINER}here @${JOINER}everyone @${JOINER}devs @${JOINER}group @${JOINER}Alice @${JOINER}ent @${JOINER}here @${JOINER}channel @${JOINER}everyone @${JOINER}Here`,
    );
  });

  it('breaks malformed or half-escaped sequences and mentions inside code', () => {
    // slackify-markdown turns `<@U1|bob>` into `<@U1|bob&gt;`; Slack could read up to a later `>`.
    const out = neutraliseSlackMentions('<@U1|bob&gt; and <!subteam^S1|@devs> and <!date^123|x> <@U2\n```\n<!here>\n```');
    expect(pings(out)).toEqual([]);
    expect(out).not.toMatch(/<[@!]/);
  });

  it('leaves e-mail addresses, ordinary @words and links alone, and is idempotent', () => {
    const text = 'mail ops@here.com or @alice; see <https://x.dev|docs>';
    expect(neutraliseSlackMentions(text)).toBe(text);
    const once = neutraliseSlackMentions('<!here> @channel <@U1>');
    expect(neutraliseSlackMentions(once)).toBe(once);
  });
});

describe('formatSlackMarkdown', () => {
  it('converts Markdown to Slack mrkdwn and keeps code blocks verbatim', () => {
    const md = '# Plan\n\n**bold** and [docs](https://x.dev)\n\n```ts\nconst a = 1;\nif (a < 2 && a > 0) {}\n```\n';
    const out = formatSlackMarkdown(md);
    expect(out).toContain('*Plan*');
    expect(out).toContain('<https://x.dev|docs>');
    expect(out).toContain('```\nconst a = 1;\nif (a < 2 && a > 0) {}\n```');
    expect(out.endsWith('```')).toBe(true);
  });

  it('does not let the agent ping through formatting', () => {
    expect(pings(neutraliseSlackMentions(formatSlackMarkdown('Hey <!channel>, ask <@U1|bob> or @here')))).toEqual([]);
  });
});
