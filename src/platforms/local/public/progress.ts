/**
 * The progress message of a running turn in the local chat page (the text the core edits in
 * place, `src/conversation/progress.ts`):
 *
 * ```text
 * ⏳ Working… (elapsed 12 s)
 * ⋯ 3 earlier steps
 * ✓ Bash: ls -la
 * … Edit: src/x.ts
 *
 * …the answer streamed so far
 * ```
 *
 * A bot message whose first line starts with ⏳ is shown as: a "Working…" header whose elapsed
 * time ticks every second in the page ({@link tickProgress}; the server edits it only now and
 * then), the step lines (✓ ✗ … ⋯ ⚠) as a collapsible list (its open state kept across edits),
 * and the rest as Markdown. Once the core edits the message into the answer it is an ordinary
 * message again.
 *
 * Test hooks: `data-testid` = progress, elapsed, steps, step.
 */
import { el } from './dom.js';
import { renderMarkdown } from './markdown.js';

/** A step line: its mark and text. */
const STEP_LINE = /^([✓✗…⋯⚠])\s?(.*)$/u;
/** The first line: `⏳ <label> (elapsed <duration>)<rest>`, the elapsed part optional. */
const HEAD_LINE = /^⏳\s*(.*?)(?:\s*\(elapsed ([^)]*)\))?\s*$/u;

/** True when `text` is a progress message (its first line starts with ⏳). */
export function isProgressText(text: string): boolean {
  return text.startsWith('⏳');
}

/** Seconds of a duration as `formatElapsed` writes it (`12 s`, `3 min 5 s`, `1 h 2 min`); undefined when it is not one. */
export function parseElapsed(text: string): number | undefined {
  const parts = [...text.matchAll(/(\d+)\s*(h|min|s)\b/g)];
  if (parts.length === 0) return undefined;
  return parts.reduce((sum, [, n, unit]) => sum + Number(n) * (unit === 'h' ? 3600 : unit === 'min' ? 60 : 1), 0);
}

/** A duration in seconds as `12 s`, `3 min 5 s` or `1 h 2 min` (the server's `formatElapsed`). */
export function formatElapsed(seconds: number): string {
  const s = Math.max(0, Math.floor(seconds));
  if (s < 60) return `${s} s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m} min ${s % 60} s`;
  return `${Math.floor(m / 60)} h ${m % 60} min`;
}

/** Ids of the progress messages whose step list the reader opened. */
const openSteps = new Set<string>();

/** Step classes by mark. */
const STEP_STATE: Readonly<Record<string, string>> = { '✓': 'ok', '✗': 'failed', '…': 'running', '⋯': 'earlier', '⚠': 'warning' };

/** Replaces the content of `body` with the progress message `text` of message `id` (see the module comment). */
export function renderProgress(body: HTMLElement, id: string, text: string): void {
  const lines = text.split('\n');
  const head = HEAD_LINE.exec(lines[0] ?? '') ?? ['', lines[0] ?? '', undefined];
  let i = 1;
  const steps: { mark: string; text: string }[] = [];
  for (; i < lines.length; i++) {
    const m = STEP_LINE.exec(lines[i] ?? '');
    if (!m) break;
    steps.push({ mark: m[1]!, text: m[2] ?? '' });
  }
  const rest = lines.slice(i).join('\n').trim();

  body.textContent = '';
  const box = el('div', 'progress');
  box.setAttribute('data-testid', 'progress');
  const header = el('div', 'progress-head');
  header.appendChild(el('span', 'spinner'));
  header.appendChild(el('span', 'progress-label', head[1] || 'Working…'));
  const seconds = head[2] !== undefined ? parseElapsed(head[2]) : undefined;
  if (seconds !== undefined) {
    const elapsed = el('span', 'progress-elapsed', formatElapsed(seconds));
    elapsed.setAttribute('data-testid', 'elapsed');
    elapsed.setAttribute('data-base', String(seconds));
    elapsed.setAttribute('data-since', String(performance.now()));
    header.appendChild(elapsed);
  }
  box.appendChild(header);

  if (steps.length > 0) {
    const details = el('details', 'progress-steps');
    details.setAttribute('data-testid', 'steps');
    details.open = openSteps.has(id);
    details.addEventListener('toggle', () => {
      if (details.open) openSteps.add(id);
      else openSteps.delete(id);
    });
    const tools = steps.filter((s) => s.mark !== '⚠' && s.mark !== '⋯').length;
    const earlier = steps.filter((s) => s.mark === '⋯').reduce((n, s) => n + (Number(/\d+/.exec(s.text)?.[0]) || 0), 0);
    const last = [...steps].reverse().find((s) => s.mark !== '⚠' && s.mark !== '⋯');
    const count = tools + earlier;
    details.appendChild(el('summary', null, `${count} ${count === 1 ? 'step' : 'steps'}${last ? ' · ' + last.mark + ' ' + last.text : ''}`));
    const list = el('ul');
    steps.forEach((s) => {
      const li = el('li', 'step step-' + (STEP_STATE[s.mark] ?? 'other'));
      li.setAttribute('data-testid', 'step');
      li.appendChild(el('span', 'step-mark', s.mark));
      li.appendChild(el('span', null, s.text));
      list.appendChild(li);
    });
    details.appendChild(list);
    box.appendChild(details);
  }
  body.appendChild(box);
  if (rest) {
    const tail = el('div', 'progress-tail');
    renderMarkdown(tail, rest);
    body.appendChild(tail);
  }
}

/** Moves every shown elapsed time of `root` on to now (called once a second by the page). */
export function tickProgress(root: ParentNode): void {
  const now = performance.now();
  root.querySelectorAll<HTMLElement>('.progress-elapsed').forEach((e) => {
    const base = Number(e.getAttribute('data-base'));
    const since = Number(e.getAttribute('data-since'));
    const text = formatElapsed(base + (now - since) / 1000);
    if (e.textContent !== text) e.textContent = text;
  });
}
