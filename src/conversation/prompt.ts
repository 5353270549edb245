/**
 * Builds the prompt of one turn from the messages queued for it (docs/ARCHITECTURE.md §3,
 * invariant 3: "one turn at a time; later messages queue and are combined"). Pure, no I/O.
 *
 * Format:
 * - one message, and only one person in the conversation (`multiUser: false`): the text
 *   as-is, unchanged;
 * - otherwise (several messages, or a conversation with several people): each message in
 *   arrival order as `[<author name>]: <text>`, separated by one blank line, e.g.
 *
 *   ```text
 *   [Alice]: can you run the tests?
 *
 *   [Bob]: and fix the lint errors
 *   ```
 *
 * So the `[Name]:` prefix can't be forged, author names are put on one line with `[`/`]`
 * replaced by `(`/`)` (an empty name becomes `unknown`), and a line of a message's text that
 * itself starts like a prefix (`[Bob]: …`) gets a backslash in front (`\[Bob]: …`). Each
 * text is trimmed of leading and trailing blank space in this form.
 */

/** The parts of a queued message the prompt needs (an `InboundMessage` fits). */
export interface PromptMessage {
  author: { name: string };
  text: string;
}

export interface CombineOptions {
  /** Whether more than one person takes part in the conversation (e.g. a shared channel). */
  multiUser: boolean;
}

const PREFIX_LIKE = /^(\s*)(\[[^\]\n]*\]:)/gm;

/** `[Name]` for the prefix: one line, no brackets, never empty. */
export function authorLabel(name: string): string {
  const clean = name.replace(/\s+/g, ' ').replace(/\[/g, '(').replace(/\]/g, ')').trim();
  return `[${clean || 'unknown'}]`;
}

/**
 * The prompt for one turn.
 * @param messages the queued messages, in arrival order (at least one; `[]` gives `''`)
 * @param opts.multiUser whether the conversation has more than one person
 */
export function combineMessages(messages: readonly PromptMessage[], opts: CombineOptions): string {
  const [first] = messages;
  if (first === undefined) return '';
  if (messages.length === 1 && !opts.multiUser) return first.text;
  return messages.map((m) => `${authorLabel(m.author.name)}: ${m.text.trim().replace(PREFIX_LIKE, '$1\\$2')}`).join('\n\n');
}
