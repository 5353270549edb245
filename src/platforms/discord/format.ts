/**
 * Outgoing text for Discord: mention neutralising (docs/ARCHITECTURE.md §3, invariant 6) and the allowed-mentions
 * payload sent with every message. Pure, no I/O.
 *
 * Discord rules (discord.com/developers/docs/resources/message#allowed-mentions-object):
 * - `allowed_mentions: { parse: [] }` makes a message ping no one, whatever its text holds
 *   (`<@id>` users, `<@&id>` roles, `@everyone`, `@here`); `replied_user: false` keeps a reply
 *   from pinging the author of the message it answers. The adapter sends this with every
 *   create and edit.
 * - As a second line of defence, `@everyone` and `@here` get a zero-width space after the `@`
 *   (`@\u200Beveryone`), so even a send without `allowed_mentions` cannot ping a whole server.
 *   Text inside inline code and fenced code blocks is left alone: Discord does not parse
 *   mentions there, and code must stay byte-for-byte intact.
 * - `<@id>` user mentions are kept: with `parse: []` they render as names without pinging.
 */

/** Zero-width space (U+200B). */
export const ZWSP = '\u200B';

/** The `allowed_mentions` discord.js option for every bot message: nobody is pinged. */
export const NO_MENTIONS = Object.freeze({ parse: [] as never[], repliedUser: false });

/**
 * Fenced code blocks (CommonMark: ≥3 backticks or tildes, closed by a line with at least as
 * many of the same character, or the end of the text) and inline code spans (a run of N
 * backticks up to the next run of exactly N).
 */
const CODE = /(^|\n)( {0,3})(`{3,}|~{3,})[^\n]*(?:\n[\s\S]*?(?:\n {0,3}\3[`~]*[ \t]*(?=\n|$)|$)|$)|(`+)(?!`)[\s\S]*?[^`]\4(?!`)/g;

/** `@everyone` / `@here` not already neutralised, case-insensitive like Discord. */
const MASS_MENTION = /@(everyone|here)/gi;

/** Inserts a zero-width space into `@everyone`/`@here` outside code. */
export function neutraliseMentions(text: string): string {
  let out = '';
  let last = 0;
  for (const m of text.matchAll(CODE)) {
    const start = m.index! + (m[1]?.length ?? 0);
    out += text.slice(last, start).replace(MASS_MENTION, `@${ZWSP}$1`) + text.slice(start, m.index! + m[0].length);
    last = m.index! + m[0].length;
  }
  return out + text.slice(last).replace(MASS_MENTION, `@${ZWSP}$1`);
}
