/**
 * The progress message shown (and edited in place) while a turn runs, built from RunEvents.
 * Pure: no timers, no I/O; time comes from an injected clock.
 *
 * Rendered shape (lines; sections that are empty are left out):
 *
 * ```text
 * ⏳ Working… (elapsed 12 s)
 * ⋯ 3 earlier steps
 * ✓ Bash: ls -la
 * ✗ Bash: npm test
 * … Edit: src/x.ts
 * ⚠ Reconnecting…
 *
 * …the last ≤ 300 characters of the answer streamed so far
 * ```
 *
 * `✓` finished, `✗` failed, `…` still running. At most {@link MAX_STEPS} steps are shown
 * (the latest); the whole text is at most `maxChars` characters (JS string length): the
 * answer tail shrinks first, then the oldest steps go, then the text is cut.
 */
import type { RunEvent } from '../runners/types.js';

/** Tool steps shown at most. */
export const MAX_STEPS = 5;
/** Characters of streamed answer text shown at most. */
export const MAX_TAIL_CHARS = 300;
/** Characters of one step's summary shown at most. */
const MAX_SUMMARY_CHARS = 120;

export interface ProgressViewOptions {
  /** Clock, ms since the epoch (or any monotonic origin). */
  now: () => number;
  /** Start of the turn, ms on the same clock; defaults to `now()` at construction. */
  startedAt?: number;
  /** Upper bound for the rendered text, characters; default 2,000 (Discord's message limit). */
  maxChars?: number;
}

interface Step {
  id: string;
  name: string;
  summary: string;
  state: 'running' | 'ok' | 'failed';
}

/** Formats a duration in ms as `12 s`, `3 min 5 s` or `1 h 2 min`. */
export function formatElapsed(ms: number): string {
  const s = Math.max(0, Math.floor(ms / 1000));
  if (s < 60) return `${s} s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m} min ${s % 60} s`;
  return `${Math.floor(m / 60)} h ${m % 60} min`;
}

/** One line, at most `max` characters, `…` when shortened (no split surrogate pairs). */
function oneLine(s: string, max: number): string {
  const flat = s.replace(/\s+/g, ' ').trim();
  return flat.length <= max ? flat : safeSlice(flat, 0, max - 1) + '…';
}

/** `s.slice(start, end)` without leaving half a surrogate pair at either end. */
function safeSlice(s: string, start: number, end?: number): string {
  let out = s.slice(start, end);
  if (/^[\udc00-\udfff]/.test(out)) out = out.slice(1);
  if (/[\ud800-\udbff]$/.test(out)) out = out.slice(0, -1);
  return out;
}

/** The state of one turn's progress message. Feed it events with `apply`, show `render()`. */
export class ProgressView {
  private readonly now: () => number;
  private readonly startedAt: number;
  private readonly maxChars: number;
  private readonly steps: Step[] = [];
  /** Old steps forgotten to bound memory (still counted as "earlier steps"). */
  private dropped = 0;
  private warning = '';
  /** The end of the answer so far (a little more than shown, to cut at a word). */
  private tail = '';
  private tailTruncated = false;

  constructor(opts: ProgressViewOptions) {
    this.now = opts.now;
    this.startedAt = opts.startedAt ?? opts.now();
    this.maxChars = opts.maxChars ?? 2000;
    if (!Number.isInteger(this.maxChars) || this.maxChars < 1) {
      throw new RangeError(`maxChars must be an integer ≥ 1, got ${opts.maxChars}`);
    }
  }

  /**
   * Takes one event into account.
   * @returns true when the rendered text (apart from the elapsed time) changed, i.e. an edit
   *   of the progress message is worth sending
   */
  apply(event: RunEvent): boolean {
    const before = this.body();
    switch (event.type) {
      case 'text': {
        const joined = this.tail + event.delta;
        const keep = MAX_TAIL_CHARS * 2;
        if (joined.length > keep) this.tailTruncated = true;
        this.tail = joined.length > keep ? safeSlice(joined, joined.length - keep) : joined;
        break;
      }
      case 'tool_start': {
        const existing = this.steps.find((s) => s.id === event.id);
        if (existing) Object.assign(existing, { name: event.name, summary: event.summary });
        else this.steps.push({ id: event.id, name: event.name, summary: event.summary, state: 'running' });
        break;
      }
      case 'tool_end': {
        const state = event.ok ? 'ok' : 'failed';
        const step = this.steps.find((s) => s.id === event.id);
        if (step) step.state = state;
        else this.steps.push({ id: event.id, name: event.name, summary: event.summary ?? '', state });
        break;
      }
      case 'warning':
        this.warning = event.message;
        break;
      case 'session':
      case 'usage':
        return false;
    }
    if (this.steps.length > MAX_STEPS * 20) this.dropped += this.steps.splice(0, MAX_STEPS * 10).length;
    return this.body() !== before;
  }

  /** The progress message text, at most `maxChars` characters. */
  render(): string {
    const header = `⏳ Working… (elapsed ${formatElapsed(this.now() - this.startedAt)})`;
    return this.compose(header);
  }

  /** Everything but the header, for change detection. */
  private body(): string {
    return this.compose('');
  }

  private compose(header: string): string {
    const max = this.maxChars;
    const stepLines = this.stepLines();
    const warning = this.warning ? `⚠ ${oneLine(this.warning, MAX_SUMMARY_CHARS)}` : '';
    for (;;) {
      const top = [header, ...stepLines, warning].filter((l) => l !== '').join('\n');
      const room = max - top.length - (top ? 2 : 0);
      const tail = this.tailText(Math.min(MAX_TAIL_CHARS, room));
      const fits = top.length <= max && (tail !== '' || this.tail.trim() === '');
      if (fits || stepLines.length === 0) {
        const text = [top, tail].filter((p) => p !== '').join('\n\n');
        return text.length <= max ? text : safeSlice(text, 0, max - 1) + '…';
      }
      stepLines.shift(); // too long, or no room for the answer: drop the oldest step line
    }
  }

  private stepLines(): string[] {
    const shown = this.steps.slice(-MAX_STEPS);
    const lines = shown.map((s) => {
      const mark = s.state === 'ok' ? '✓' : s.state === 'failed' ? '✗' : '…';
      const summary = oneLine(s.summary, MAX_SUMMARY_CHARS);
      return `${mark} ${oneLine(s.name, 40)}${summary ? `: ${summary}` : ''}`;
    });
    const hidden = this.dropped + this.steps.length - shown.length;
    if (hidden > 0) lines.unshift(`⋯ ${hidden} earlier step${hidden === 1 ? '' : 's'}`);
    return lines;
  }

  /** The answer's last ≤ `max` characters, starting at a word when cut, `…` in front when cut. */
  private tailText(max: number): string {
    const text = this.tail.trim();
    if (!text || max < 2) return '';
    if (text.length <= max && !this.tailTruncated) return text;
    let cut = safeSlice(text, Math.max(0, text.length - (max - 1)));
    const space = cut.search(/\s/);
    if (space >= 0 && space < cut.length / 3) cut = cut.slice(space);
    return '…' + cut.trimStart();
  }
}
