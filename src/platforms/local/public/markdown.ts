/**
 * The Markdown subset the local chat page renders: fenced code blocks (```lang … ```, an
 * unclosed fence runs to the end), inline `code`, **bold** and http(s) links. Everything else is
 * plain text (the message body keeps line breaks with `white-space: pre-wrap`).
 *
 * Safety: text is only ever placed with text nodes and `textContent` — never parsed as HTML —
 * so `<img onerror=…>` in a message shows as text. Links open in a new tab without a referrer.
 */
import { el } from './dom.js';

/** A fenced code block: group 1 the info string (language), group 2 the code. */
const FENCE = /```([^\n`]*)\n([\s\S]*?)(?:\n?```|$)/g;
/** Inline code (group 1), bold (group 2) or a link (group 3; trailing punctuation is not part of it). */
const INLINE = /`([^`\n]+)`|\*\*([^*\n]+)\*\*|(https?:\/\/[^\s<>"]*[^\s<>".,;:!?)\]])/g;

/** Appends `text` to `parent` with inline code, bold and links as elements. */
function renderInline(parent: HTMLElement, text: string): void {
  let last = 0;
  let m: RegExpExecArray | null;
  INLINE.lastIndex = 0;
  while ((m = INLINE.exec(text))) {
    if (m.index > last) parent.appendChild(document.createTextNode(text.slice(last, m.index)));
    if (m[1] != null) parent.appendChild(el('code', null, m[1]));
    else if (m[2] != null) parent.appendChild(el('strong', null, m[2]));
    else {
      const href = m[3] ?? '';
      const a = el('a', null, href);
      a.href = href;
      a.target = '_blank';
      a.rel = 'noopener noreferrer';
      parent.appendChild(a);
    }
    last = INLINE.lastIndex;
  }
  if (last < text.length) parent.appendChild(document.createTextNode(text.slice(last)));
}

/** Replaces the content of `parent` with `text` rendered as the Markdown subset (see the module comment). */
export function renderText(parent: HTMLElement, text: string): void {
  parent.textContent = '';
  let last = 0;
  let m: RegExpExecArray | null;
  FENCE.lastIndex = 0;
  while ((m = FENCE.exec(text))) {
    if (m.index > last) renderInline(parent, text.slice(last, m.index).replace(/\n$/, ''));
    const pre = el('pre');
    const code = el('code', null, m[2] ?? '');
    const lang = (m[1] ?? '').trim();
    if (lang) code.setAttribute('data-lang', lang);
    pre.appendChild(code);
    parent.appendChild(pre);
    last = FENCE.lastIndex;
    if (text.charAt(last) === '\n') last++;
  }
  if (last < text.length) renderInline(parent, text.slice(last));
}
