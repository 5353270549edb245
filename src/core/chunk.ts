/**
 * Splits an agent's Markdown answer into chunks that each fit one platform message.
 * Pure, no I/O; roughly linear in the text's length.
 *
 * Limits (characters = JS string length, i.e. UTF-16 code units), from
 * the vendors' API docs (docs/ARCHITECTURE.md §7; test/unit/chunk.test.ts) and `PlatformLimits.maxMessageChars`:
 * - Slack: 3,900 — `text` over 40,000 is truncated, but shorter messages read better;
 * - Discord: 2,000 — the hard limit of `content` on `POST /channels/{id}/messages`.
 *
 * Rules, in order of preference for where a chunk ends: a paragraph boundary (a blank line,
 * or the edge of a fenced code block), a line boundary, a space, and only then a hard cut
 * (never inside a surrogate pair when avoidable). Whitespace at a cut point is dropped;
 * nothing else is lost or reordered. `\r\n` is normalised to `\n`.
 *
 * Fenced code blocks follow CommonMark: an opening fence is 0–3 spaces, then ≥ 3 backticks
 * or tildes, then an optional info string (`ts`); the block ends at a line of 0–3 spaces and
 * ≥ as many of the same character, or at the end of the text. So a ```` line inside a
 * ``` block closes it, and a ``` line inside a ```` block is code. A block cut at a chunk
 * boundary is closed at the end of that chunk (`\n` + same indent and marker) and reopened
 * at the start of the next (the original opening line, info string included, + `\n`); an
 * unclosed block is closed at the end of the last chunk. Added fence lines count toward
 * `maxChars`. A fence whose opening and closing lines leave no room for content in
 * `maxChars` (absurdly long info string, tiny limit) is not repaired, only cut; so is a line
 * longer than `maxChars` that starts like a fence (its first part may read as one).
 */

/** One chunk, with the fence lines the chunker added (tests and renderers may strip them). */
export interface MarkdownChunk {
  /** The chunk as it is posted: `reopened + "\n"`? + body + `"\n" + closed`?; ≤ maxChars. */
  text: string;
  /** The original text of this chunk, without added fences (a contiguous piece of the input). */
  body: string;
  /** Opening fence line added at the start to continue a code block, if any. */
  reopened?: string;
  /** Closing fence line added at the end to close a code block cut here, if any. */
  closed?: string;
}

interface Fence {
  /** The opening line as written (indent, marker, info string), trailing spaces trimmed. */
  open: string;
  /** Closing line the chunker adds: the same indent and marker. */
  close: string;
  /** Whether open + close + at least one character fit in maxChars. */
  repairable: boolean;
}

interface Line {
  start: number;
  /** Index just after the line's last non-whitespace character (`start` when blank). */
  contentEnd: number;
  blank: boolean;
  /** An opening or closing fence line. */
  fence: boolean;
  /** The code block this line is inside of, before the line itself is read. */
  before: Fence | null;
}

const FENCE = /^( {0,3})(`{3,}|~{3,})(.*)$/;
const FENCE_LIKE = /^ {0,3}(```|~~~)/;

/** Whitespace as `String.prototype.trim` sees it. */
function isWs(code: number): boolean {
  if (code < 128) return code === 32 || (code >= 9 && code <= 13);
  return /\s/.test(String.fromCharCode(code));
}

function isLowSurrogate(code: number): boolean {
  return code >= 0xdc00 && code <= 0xdfff;
}

/** Reads the text into lines with their code-block state. */
function scan(text: string, maxChars: number): { lines: Line[]; end: Fence | null } {
  const lines: Line[] = [];
  let fence: { f: Fence; ch: string; len: number } | null = null;
  for (let pos = 0; ;) {
    let nl = text.indexOf('\n', pos);
    if (nl < 0) nl = text.length;
    let contentEnd = nl;
    while (contentEnd > pos && isWs(text.charCodeAt(contentEnd - 1))) contentEnd--;
    const line: Line = { start: pos, contentEnd, blank: contentEnd === pos, fence: false, before: fence?.f ?? null };
    const m = contentEnd - pos >= 3 && FENCE_LIKE.test(text.slice(pos, pos + 6)) ? FENCE.exec(text.slice(pos, nl)) : null;
    if (m) {
      const [, indent = '', marker = '', info = ''] = m;
      const ch = marker[0] as string;
      if (fence) {
        if (ch === fence.ch && marker.length >= fence.len && info.trim() === '') {
          line.fence = true;
          fence = null;
        }
      } else if (!(ch === '`' && info.includes('`'))) {
        const open = text.slice(pos, contentEnd);
        const close = indent + marker;
        line.fence = true;
        fence = { f: { open, close, repairable: open.length + close.length + 3 <= maxChars }, ch, len: marker.length };
      }
    }
    lines.push(line);
    if (nl === text.length) break;
    pos = nl + 1;
  }
  return { lines, end: fence?.f ?? null };
}

/** Length of the closing line (plus its `\n`) needed when a chunk ends inside `f`. */
function closeCost(f: Fence | null): number {
  return f?.repairable ? f.close.length + 1 : 0;
}

/**
 * Splits `text` into chunks of at most `maxChars` characters each (see the module doc).
 * @param maxChars limit per chunk in characters, an integer ≥ 1 (Slack 3,900; Discord 2,000)
 * @returns the chunks in order; `[]` for empty or whitespace-only text; never empty chunks
 */
export function chunkMarkdown(text: string, maxChars: number): string[] {
  return chunkMarkdownDetailed(text, maxChars).map((c) => c.text);
}

/** {@link chunkMarkdown} with the added fence lines reported separately. */
export function chunkMarkdownDetailed(text: string, maxChars: number): MarkdownChunk[] {
  if (!Number.isInteger(maxChars) || maxChars < 1) {
    throw new RangeError(`maxChars must be an integer ≥ 1, got ${maxChars}`);
  }
  if (text.trim() === '') return [];
  text = text.replace(/\r\n/g, '\n');
  const { lines, end } = scan(text, maxChars);
  const L = lines.length;
  const stateAt = (j: number): Fence | null => (j < L ? (lines[j] as Line).before : end);
  const out: MarkdownChunk[] = [];

  let li = 0;
  let pos = 0;
  for (;;) {
    // Skip whitespace at the cut: whole blank lines, or spaces in the middle of a line.
    while (li < L && pos >= (lines[li] as Line).contentEnd) {
      li++;
      pos = li < L ? (lines[li] as Line).start : text.length;
    }
    if (li >= L) return out;
    const line = lines[li] as Line;
    if (pos > line.start) while (isWs(text.charCodeAt(pos))) pos++;

    const open = line.before?.repairable ? line.before : null;
    const budget = maxChars - (open ? open.open.length + 1 : 0);
    let bodyEnd = -1;
    let next = -1;
    let nextLi = li;
    let cut: Fence | null = line.fence ? null : line.before; // state at a cut inside this line

    // 1. Line boundaries: the latest one of the best kind whose body (+ closing fence) fits.
    let bestPri = 0;
    let lastEnd = pos;
    for (let j = li + 1; j <= L; j++) {
      const prev = lines[j - 1] as Line;
      if (!prev.blank) lastEnd = prev.contentEnd;
      if (lastEnd - pos > budget) break;
      const g = stateAt(j);
      if (lastEnd - pos + closeCost(g) > budget) continue;
      if (j === L) {
        [bodyEnd, next, nextLi, cut] = [lastEnd, text.length, L, g];
        break;
      }
      const cur = lines[j] as Line;
      const pri =
        g && (cur.fence || prev.fence)
          ? 1 // right after an opening / before a closing fence
          : prev.blank || cur.blank || (!g && (prev.fence || cur.fence))
            ? 3 // paragraph / block edge
            : 2;
      if (pri >= bestPri) [bestPri, bodyEnd, next, nextLi, cut] = [pri, lastEnd, cur.start, j, g];
    }

    // 2. The first line alone is too long: cut it at a space, else hard.
    if (bodyEnd < 0) {
      const limit = Math.min(line.contentEnd, pos + budget - closeCost(cut));
      for (let p = Math.min(limit, line.contentEnd - 1); p > pos; p--) {
        const c = text.charCodeAt(p);
        if (c !== 32 && c !== 9) continue;
        let e = p;
        while (e > pos && isWs(text.charCodeAt(e - 1))) e--;
        let q = p;
        while (isWs(text.charCodeAt(q))) q++;
        if (e > pos && !FENCE_LIKE.test(text.slice(q, q + 3))) {
          [bodyEnd, next] = [e, q];
          break;
        }
      }
      if (bodyEnd < 0) {
        let c = limit;
        if (isLowSurrogate(text.charCodeAt(c)) && c - 1 > pos) c--;
        let q = c;
        while (isWs(text.charCodeAt(q))) q++;
        if (FENCE_LIKE.test(text.slice(q, q + 3))) {
          // The rest would start with a fence run: cut before the run, after its last other character.
          let r = q;
          while (r > pos && text[r - 1] === text[q]) r--;
          while (r > pos && isWs(text.charCodeAt(r - 1))) r--;
          r--;
          if (r > pos && isLowSurrogate(text.charCodeAt(r))) r--;
          if (r > pos) c = r;
        }
        let e = c;
        while (e > pos && isWs(text.charCodeAt(e - 1))) e--;
        if (e === pos) {
          // Only indentation fits: drop it (whitespace at the cut) and try again.
          while (isWs(text.charCodeAt(pos))) pos++;
          continue;
        }
        [bodyEnd, next] = [e, c];
      }
    }

    const body = text.slice(pos, bodyEnd);
    const close = cut?.repairable ? cut.close : undefined;
    const chunk: MarkdownChunk = { text: (open ? open.open + '\n' : '') + body + (close ? '\n' + close : ''), body };
    if (open) chunk.reopened = open.open;
    if (close) chunk.closed = close;
    out.push(chunk);
    [li, pos] = [nextLi, next];
  }
}
