/**
 * Block Kit for cards (a posted message with buttons, `PostOptions.actions`): pure builders, no I/O.
 *
 * Slack rules encoded (Slack Block Kit reference, "Section block", "Actions block", "Button
 * element"; `chat.postMessage` / `chat.update` docs):
 * - a message with `blocks` is rendered from the blocks; its top-level `text` is then only the
 *   notification fallback (so it is still sent, in full);
 * - a `section`'s `text` object is at most {@link MAX_SECTION_TEXT_CHARS} (3,000) characters and
 *   must not be empty; `mrkdwn` is the same format as a message's text;
 * - an `actions` block holds at most {@link MAX_ACTIONS_ELEMENTS} (25) elements;
 * - a `button` has `action_id` (≤ 255 characters, unique within the message), `text`
 *   (`plain_text`, ≤ 75 characters), optional `value` (≤ 2,000 characters) and optional `style`
 *   `primary` | `danger` (omitted for the default look);
 * - `block_id` is left out: Slack generates one (its docs ask for a new one on every update of a
 *   message, which generated ids give).
 * The caller's text is already Slack mrkdwn with mentions neutralised (`SlackAdapter.render`).
 */
import type { CardAction } from '../../core/interactions.js';

/** Longest `text` of a section block, characters (Slack Block Kit: 3,000). */
export const MAX_SECTION_TEXT_CHARS = 3_000;
/** Most elements of an actions block (Slack Block Kit: 25). */
export const MAX_ACTIONS_ELEMENTS = 25;
/** Longest button label, characters (Slack Block Kit: `plain_text` of a button, 75). */
export const MAX_BUTTON_TEXT_CHARS = 75;
/** Longest button `action_id` / `value` kept, characters (Slack: 255 for action_id; value allows 2,000). */
export const MAX_ACTION_ID_CHARS = 255;

/** A Block Kit text object. */
export interface TextObject {
  type: 'mrkdwn' | 'plain_text';
  text: string;
  emoji?: boolean;
}

/** A Block Kit button element. */
export interface ButtonElement {
  type: 'button';
  action_id: string;
  text: TextObject & { type: 'plain_text' };
  value: string;
  style?: 'primary' | 'danger';
}

/** The blocks agentbridge sends: a mrkdwn section and an actions block of buttons. */
export type CardBlock = { type: 'section'; text: TextObject & { type: 'mrkdwn' } } | { type: 'actions'; elements: ButtonElement[] };

/**
 * The blocks of a card: a `section` with `text` (cut to {@link MAX_SECTION_TEXT_CHARS} by
 * {@link truncateMrkdwn}; left out when `text` is blank, as Slack refuses an empty section) and,
 * when `actions` is not empty, an `actions` block with one button per action (at most
 * {@link MAX_ACTIONS_ELEMENTS}; action ids after the first occurrence dropped, Slack requires
 * them unique). `actions: []` gives only the section: the buttons are gone.
 */
export function cardBlocks(text: string, actions: readonly CardAction[]): CardBlock[] {
  const blocks: CardBlock[] = [];
  if (text.trim()) blocks.push({ type: 'section', text: { type: 'mrkdwn', text: truncateMrkdwn(text, MAX_SECTION_TEXT_CHARS) } });
  const seen = new Set<string>();
  const elements: ButtonElement[] = [];
  for (const a of actions) {
    if (seen.has(a.id) || elements.length >= MAX_ACTIONS_ELEMENTS) continue;
    seen.add(a.id);
    elements.push(button(a));
  }
  if (elements.length) blocks.push({ type: 'actions', elements });
  return blocks;
}

/** One button: `action_id` and `value` = the action id, the label as plain text (cut to 75). */
export function button(a: CardAction): ButtonElement {
  const id = a.id.slice(0, MAX_ACTION_ID_CHARS);
  const label = cutAtCodePoint(a.label.trim() || id, MAX_BUTTON_TEXT_CHARS);
  return { type: 'button', action_id: id, text: { type: 'plain_text', text: label, emoji: true }, value: id, ...(a.style ? { style: a.style } : {}) };
}

/**
 * `text` (Slack mrkdwn) cut to at most `max` characters (UTF-16 code units, which is never fewer
 * than Slack's count), ending in `…`. The cut never splits a surrogate pair, a `<…>` control
 * sequence (link, mention) or an `&…;` entity, and a code fence left open is closed. Text that
 * fits is returned unchanged.
 */
export function truncateMrkdwn(text: string, max: number): string {
  if (text.length <= max) return text;
  const ELLIPSIS = '…';
  const FENCE = '\n```';
  let budget = max - ELLIPSIS.length;
  let cut = safeCut(text, budget);
  if (countFences(cut) % 2 === 1) {
    budget -= FENCE.length;
    cut = safeCut(text, budget);
    if (countFences(cut) % 2 === 1) return `${cut}${ELLIPSIS}${FENCE}`;
  }
  return `${cut}${ELLIPSIS}`;
}

/** The longest prefix of `text` of at most `n` code units that ends outside a pair, a `<…>` or an `&…;`. */
function safeCut(text: string, n: number): string {
  let cut = cutAtCodePoint(text, n);
  const open = cut.lastIndexOf('<');
  if (open > cut.lastIndexOf('>')) cut = cut.slice(0, open);
  const amp = cut.lastIndexOf('&');
  if (amp >= 0 && amp > cut.length - 10 && !cut.slice(amp).includes(';') && /^&[#\w]*$/.test(cut.slice(amp))) cut = cut.slice(0, amp);
  return cut;
}

/** At most `n` UTF-16 code units of `s`, never ending in the first half of a surrogate pair. */
function cutAtCodePoint(s: string, n: number): string {
  if (s.length <= n) return s;
  const last = s.charCodeAt(n - 1);
  return s.slice(0, last >= 0xd800 && last <= 0xdbff ? n - 1 : n);
}

function countFences(s: string): number {
  return s.split('```').length - 1;
}
