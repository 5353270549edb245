/**
 * Outbound text for Slack: the agent's Markdown converted to Slack's `mrkdwn`, and mentions
 * neutralised so agent output never notifies anyone (docs/ARCHITECTURE.md §3, invariant 6). Pure, no I/O.
 *
 * Slack rules encoded here (https://api.slack.com/reference/surfaces/formatting):
 * - mentions are control sequences in angle brackets: users `<@U123>` / `<@W123>` (optionally
 *   `<@U123|label>`), user groups `<!subteam^S123>` / `<!subteam^S123|@handle>`, and the
 *   special mentions `<!here>`, `<!channel>`, `<!everyone>` (optionally with `|label`);
 * - a literal `<`, `>` or `&` is written `&lt;`, `&gt;`, `&amp;` — Slack shows the character and
 *   parses nothing inside;
 * - plain `@here`/`@channel`/`@everyone` only notify when a message is posted with
 *   `link_names`/`parse=full`; agentbridge never sets them, but they are broken anyway in case a
 *   proxy or a future default does.
 */
import slackify from 'slackify-markdown';

/** U+2060 WORD JOINER: invisible, keeps `@here` readable but no longer a keyword Slack matches. */
export const JOINER = '\u2060';

/** A user id → display name lookup (cached names only; undefined when unknown). */
export type NameLookup = (userId: string) => string | undefined;

/**
 * Converts the agent's (GitHub-flavoured) Markdown to Slack mrkdwn with slackify-markdown:
 * `**b**` → `*b*`, `# h` → `*h*`, `[t](u)` → `<u|t>`, lists → `•`, code blocks kept verbatim
 * (the info string after the opening fence is dropped). Trailing whitespace is removed.
 * Falls back to the text with `&`, `<`, `>` escaped if the converter throws.
 */
export function formatSlackMarkdown(markdown: string): string {
  try {
    return slackify(markdown).replace(/\s+$/, '');
  } catch {
    return escapeSlackText(markdown).replace(/\s+$/, '');
  }
}

/** Escapes Slack's three control characters (`&`, `<`, `>`) so the text shows literally. */
export function escapeSlackText(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

/** `<!here>`, `<!channel>`, `<!everyone>`, with an optional `|label`; `>` may already be escaped as `&gt;`. */
const SPECIAL = /<!(here|channel|everyone)(?:\|[^<>]*?)?(?:>|&gt;)/gi;
/** `<!subteam^S123>` or `<!subteam^S123|@handle>`. */
const SUBTEAM = /<!subteam\^([A-Za-z0-9]+)(?:\|([^<>]*?))?(?:>|&gt;)/g;
/** `<@U123>` or `<@U123|label>` (W… ids are Enterprise Grid users). */
const USER = /<@([UWB][A-Za-z0-9]+)(?:\|([^<>]*?))?(?:>|&gt;)/g;
/** Any opening of a mention sequence left after the well-formed ones were rewritten. */
const LEFTOVER_OPEN = /<(?=[@!])/g;
/** Plain keywords `@here`, `@channel`, `@everyone` (not part of a longer word or an e-mail address). */
const PLAIN = /(^|[^\w@.])@(here|channel|everyone)(?![\w-])/gi;

/**
 * Makes `text` (already in Slack format) notify no one:
 * - `<!here>`/`<!channel>`/`<!everyone>` → `@⁠here` etc. (with {@link JOINER} after the `@`);
 * - `<!subteam^S1|@devs>` → `@⁠devs` (`@⁠group` without a label);
 * - `<@U123>` → `@⁠Name` (from `names`, else the label, else the id);
 * - any other `<@`/`<!` opening (malformed or unknown) → `&lt;@`/`&lt;!`, shown literally;
 * - plain `@here`/`@channel`/`@everyone` → `@⁠here` etc.
 * Idempotent: neutralising twice gives the same text. Code blocks are treated like any text
 * (a mention inside one must not ping either).
 */
export function neutraliseSlackMentions(text: string, names?: NameLookup): string {
  return text
    .replace(SPECIAL, (_m, kw: string) => `@${JOINER}${kw}`)
    .replace(SUBTEAM, (_m, _id: string, label?: string) => `@${JOINER}${cleanLabel(label) || 'group'}`)
    .replace(USER, (_m, id: string, label?: string) => `@${JOINER}${cleanLabel(names?.(id)) || cleanLabel(label) || id}`)
    .replace(LEFTOVER_OPEN, '&lt;')
    .replace(PLAIN, (_m, before: string, kw: string) => `${before}@${JOINER}${kw}`);
}

/** A mention label without its leading `@`, characters that could reopen a sequence escaped. */
function cleanLabel(label: string | undefined): string {
  return escapeSlackText((label ?? '').replace(/^@+/, '').trim());
}
