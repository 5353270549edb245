/**
 * Markdown in the local chat page, rendered with libraries (served from this server, `../vendor.ts`):
 * marked parses GitHub-flavoured Markdown (headings, lists, task lists, tables, links, quotes,
 * emphasis, strikethrough, code; single line breaks kept, as in a chat), highlight.js colours code,
 * DOMPurify sanitises the HTML before it reaches the page.
 *
 * Safety, in layers:
 * - raw HTML in a message is never HTML: marked's `html` tokens (block and inline) are rendered
 *   escaped, so `<img src=x onerror=…>` or `<script>` shows as text;
 * - the HTML marked produced goes through DOMPurify (no `javascript:` URLs, no event handlers, no
 *   `<style>`, `<form>` or `<img>` — images become links, the CSP would block remote ones anyway),
 *   returned as TrustedHTML: the page's CSP enforces Trusted Types with DOMPurify's policy only,
 *   so nothing else can write HTML;
 * - links open in a new tab with `rel="noopener noreferrer"`; task-list checkboxes are disabled.
 *
 * Code blocks get a header with the language (the fence's info string; none: "code", colours
 * guessed for blocks up to {@link AUTO_DETECT_MAX_CHARS}) and a "Copy" button (`data-testid` =
 * code-lang, code-copy; the click is handled by {@link copyCode}).
 */
import { Marked, type Token, type Tokens } from './vendor-marked.js';
import DOMPurify, { type Config } from './vendor-purify.js';
import hljs from './vendor-highlight.js';
import { el } from './dom.js';

/** Longest code block whose language is guessed (highlight.js tries every language). */
const AUTO_DETECT_MAX_CHARS = 20_000;

const ESCAPES: Readonly<Record<string, string>> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };
/** `s` with HTML's special characters escaped. */
function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => ESCAPES[c] ?? c);
}

/** The language name of a fence's info string (its first word), or ''. */
function fenceLanguage(lang: string | undefined): string {
  return (lang ?? '').trim().split(/\s+/)[0] ?? '';
}

const marked = new Marked({
  gfm: true,
  breaks: true,
  renderer: {
    // Raw HTML is text (see the module comment).
    html({ text }: Tokens.HTML | Tokens.Tag): string {
      return escapeHtml(text);
    },
    // Keep the line break in the text too (textContent of a message keeps its lines).
    br(): string {
      return '<br>\n';
    },
    code({ text, lang }: Tokens.Code): string {
      const name = fenceLanguage(lang);
      let html: string;
      if (name && hljs.getLanguage(name)) html = hljs.highlight(text, { language: name, ignoreIllegals: true }).value;
      else if (!name && text.length <= AUTO_DETECT_MAX_CHARS) html = hljs.highlightAuto(text).value;
      else html = escapeHtml(text);
      return `<pre><code class="hljs" data-lang="${escapeHtml(name)}">${html}</code></pre>\n`;
    },
    // An image is shown as a link to it (no remote loads; the CSP allows images from this server only).
    image({ href, text }: Tokens.Image): string {
      return `<a href="${escapeHtml(href)}">${escapeHtml(text || href)}</a>`;
    },
  },
});

DOMPurify.addHook('afterSanitizeAttributes', (node) => {
  if (node.nodeName === 'A' && node.hasAttribute('href')) {
    node.setAttribute('target', '_blank');
    node.setAttribute('rel', 'noopener noreferrer');
  }
  if (node.nodeName === 'INPUT') node.setAttribute('disabled', '');
});

/** DOMPurify's settings: HTML only, no styles, forms or images; TrustedHTML out (the CSP requires it). */
const PURIFY: Config & { RETURN_TRUSTED_TYPE: true } = {
  USE_PROFILES: { html: true },
  FORBID_TAGS: ['style', 'form', 'img', 'button', 'textarea', 'select'],
  FORBID_ATTR: ['style', 'id', 'name'],
  RETURN_TRUSTED_TYPE: true,
};

/** Adds the header (language label, copy button) above every code block of `root`. */
function decorateCodeBlocks(root: HTMLElement): void {
  root.querySelectorAll<HTMLElement>('pre > code').forEach((code) => {
    const pre = code.parentElement!;
    const box = el('div', 'code-block');
    const head = el('div', 'code-head');
    const label = el('span', 'code-lang', code.getAttribute('data-lang') || 'code');
    label.setAttribute('data-testid', 'code-lang');
    const copy = el('button', 'code-copy secondary', 'Copy');
    copy.type = 'button';
    copy.setAttribute('data-testid', 'code-copy');
    copy.setAttribute('aria-label', 'Copy code' + (label.textContent !== 'code' ? ' (' + label.textContent + ')' : ''));
    head.append(label, copy);
    pre.replaceWith(box);
    box.append(head, pre);
  });
}

/** Replaces the content of `parent` with `text` rendered as Markdown (see the module comment). */
export function renderMarkdown(parent: HTMLElement, text: string): void {
  const html = marked.parse(text, { async: false }).trim();
  // TrustedHTML from DOMPurify: the only value the CSP lets into innerHTML.
  parent.innerHTML = DOMPurify.sanitize(html, PURIFY) as unknown as string;
  decorateCodeBlocks(parent);
}

/** Copies `text` to the clipboard: the Clipboard API, or a selection and `copy` where it is missing (plain http on a LAN name). */
function writeClipboard(text: string): Promise<void> {
  if (navigator.clipboard && window.isSecureContext) return navigator.clipboard.writeText(text);
  return new Promise((resolve, reject) => {
    const area = el('textarea');
    area.value = text;
    area.setAttribute('readonly', '');
    area.className = 'visually-hidden';
    document.body.appendChild(area);
    area.select();
    const ok = document.execCommand('copy');
    area.remove();
    if (ok) resolve();
    else reject(new Error('copy refused by the browser'));
  });
}

/**
 * Handles a click on a code block's "Copy" button (`button` is the `.code-copy` element): copies
 * the block's code and says "Copied" (or "Copy failed — select the code") for 2 s.
 */
export function copyCode(button: HTMLButtonElement): void {
  const code = button.closest('.code-block')?.querySelector('pre > code');
  if (!code) return;
  const say = (label: string) => {
    button.textContent = label;
    setTimeout(() => (button.textContent = 'Copy'), 2_000);
  };
  writeClipboard(code.textContent ?? '').then(
    () => say('Copied'),
    () => say('Copy failed — select the code'),
  );
}

/** The plain text of Markdown tokens (recursively), one space between blocks. */
function tokensText(tokens: readonly Token[]): string {
  const out: string[] = [];
  for (const t of tokens) {
    if (t.type === 'list') out.push(tokensText((t as Tokens.List).items));
    else if (t.type === 'table') {
      const table = t as Tokens.Table;
      out.push([table.header, ...table.rows].map((row) => row.map((c) => tokensText(c.tokens)).join(' ')).join(' '));
    } else if (t.type === 'image') out.push((t as Tokens.Image).text);
    else if ('tokens' in t && Array.isArray(t.tokens) && t.tokens.length > 0) out.push(tokensText(t.tokens as Token[]));
    else if ('text' in t && typeof t.text === 'string') out.push(t.text);
    if (t.type !== 'text' && t.type !== 'codespan' && t.type !== 'escape' && t.type !== 'strong' && t.type !== 'em' && t.type !== 'del' && t.type !== 'link')
      out.push(' ');
  }
  return out.join('');
}

/**
 * `markdown` as one line of plain text (a thread title): the words without Markdown marks
 * (`**`, `#`, `[…](…)`, backticks, list bullets, …), whitespace collapsed.
 */
export function plainText(markdown: string): string {
  return tokensText(marked.lexer(markdown)).replace(/\s+/g, ' ').trim();
}
