import { describe, it, expect } from 'vitest';
import { chunkMarkdown, chunkMarkdownDetailed, type MarkdownChunk } from '../../src/core/chunk.js';

// ---- An independent CommonMark-style fence reader, used to check the chunker. ----

interface OpenFence {
  line: string;
  ch: string;
  len: number;
  close: string;
}
type Kind = 'text' | 'fence' | 'code';

/** Classifies each line and returns the fence still open at the end. */
function readFences(text: string): { kinds: Kind[]; open: OpenFence | null; states: (OpenFence | null)[] } {
  const kinds: Kind[] = [];
  const states: (OpenFence | null)[] = [];
  let open: OpenFence | null = null;
  for (const line of text.split('\n')) {
    states.push(open);
    const m = /^( {0,3})(`{3,}|~{3,})(.*)$/.exec(line);
    if (open) {
      if (m && m[2]![0] === open.ch && m[2]!.length >= open.len && m[3]!.trim() === '') {
        kinds.push('fence');
        open = null;
      } else kinds.push('code');
    } else if (m && !(m[2]![0] === '`' && m[3]!.includes('`'))) {
      kinds.push('fence');
      open = { line: line.trimEnd(), ch: m[2]![0]!, len: m[2]!.length, close: m[1]! + m[2]! };
    } else kinds.push('text');
  }
  return { kinds, open, states };
}

/** Fence states of the original text, answering "which block is open at position p". */
function indexOriginal(text: string) {
  const { kinds, states, open } = readFences(text);
  const starts = [0];
  for (let i = text.indexOf('\n'); i >= 0; i = text.indexOf('\n', i + 1)) starts.push(i + 1);
  const lineOf = (p: number): number => {
    let [lo, hi] = [0, starts.length - 1];
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (starts[mid]! <= p) lo = mid;
      else hi = mid - 1;
    }
    return lo;
  };
  const stateBeforeLine = (i: number) => (i < states.length ? states[i]! : open);
  return {
    kinds,
    lineOf,
    /** The block open before the line containing `p` is read. */
    fenceBefore: (p: number) => stateBeforeLine(lineOf(p)),
    /** The block open after `text.slice(0, p)`; a line counts as read once only whitespace is left of it. */
    fenceAfter: (p: number) => {
      const i = lineOf(p);
      const lineEnd = i + 1 < starts.length ? starts[i + 1]! - 1 : text.length;
      return stateBeforeLine(text.slice(p, lineEnd).trim() === '' ? i + 1 : i);
    },
  };
}

/**
 * Checks every promise of chunkMarkdown on one input: limits, no empty chunks, balanced fences,
 * added fences exactly where the original was inside a code block at a cut, every line keeping
 * its kind (text / fence / code), and the bodies being the original in order with only
 * whitespace dropped at the cut points.
 */
function check(input: string, max: number): MarkdownChunk[] {
  const chunks = chunkMarkdownDetailed(input, max);
  expect(chunkMarkdown(input, max)).toEqual(chunks.map((c) => c.text));
  const orig = input.replace(/\r\n/g, '\n');
  const ix = indexOriginal(orig);
  const problems: string[] = [];
  const fail = (i: number, what: string) => problems.push(`chunk ${i}: ${what}`);
  let pos = 0;
  for (const [i, c] of chunks.entries()) {
    if (c.text.length > max) fail(i, `length ${c.text.length} > ${max}`);
    if (c.body.trim() === '') fail(i, 'empty');
    if (c.text !== (c.reopened ? c.reopened + '\n' : '') + c.body + (c.closed ? '\n' + c.closed : '')) fail(i, 'text ≠ fences + body');
    const parsed = readFences(c.text);
    if (parsed.open) fail(i, `unbalanced: ${parsed.open.line} left open`);
    if (c.text.includes('\r\n')) fail(i, 'CRLF');

    // The body is the next piece of the original, after whitespace only.
    let q = pos;
    while (!orig.startsWith(c.body, q) && /\s/.test(orig[q] ?? '')) q++;
    if (!orig.startsWith(c.body, q)) {
      fail(i, `body ${JSON.stringify(c.body)} is not next in the original at ${pos}`);
      break;
    }
    const end = q + c.body.length;

    // Fences are added exactly where the original is inside a block at a cut.
    if (c.reopened !== ix.fenceBefore(q)?.line) fail(i, `reopened ${c.reopened}, expected ${ix.fenceBefore(q)?.line}`);
    if (c.closed !== ix.fenceAfter(end)?.close) fail(i, `closed ${c.closed}, expected ${ix.fenceAfter(end)?.close}`);

    // Each body line has the same kind (text / fence / code) in the chunk as in the original.
    const firstLine = ix.lineOf(q);
    const chunkKinds = parsed.kinds.slice(c.reopened ? 1 : 0);
    c.body.split('\n').forEach((line, k) => {
      if (chunkKinds[k] !== ix.kinds[firstLine + k]) fail(i, `line ${JSON.stringify(line)} is ${chunkKinds[k]}, was ${ix.kinds[firstLine + k]}`);
    });

    if (/^[\udc00-\udfff]/.test(c.body) || /[\ud800-\udbff]$/.test(c.body)) fail(i, 'split surrogate pair');
    pos = end;
  }
  if (orig.slice(pos).trim() !== '') problems.push(`left over: ${JSON.stringify(orig.slice(pos, pos + 80))}`);
  expect(problems, `${JSON.stringify(input).slice(0, 300)} @${max}`).toEqual([]);
  return chunks;
}

describe('chunkMarkdown basics', () => {
  it('gives [] for empty and whitespace-only text', () => {
    expect(chunkMarkdown('', 100)).toEqual([]);
    expect(chunkMarkdown(' \n\t\r\n  \n', 100)).toEqual([]);
  });

  it('returns short text whole, without surrounding blank lines', () => {
    expect(chunkMarkdown('hello *world*', 100)).toEqual(['hello *world*']);
    expect(chunkMarkdown('\n\nhello\n\n', 100)).toEqual(['hello']);
    expect(chunkMarkdown('a\n\nb', 4)).toEqual(['a\n\nb']);
  });

  it('rejects a bad maxChars', () => {
    for (const m of [0, -1, 1.5, Number.NaN]) expect(() => chunkMarkdown('x', m)).toThrow(RangeError);
  });

  it('prefers paragraph boundaries, then lines, then spaces, then hard cuts', () => {
    expect(check('aaaa\nbbbb\n\ncccc\ndddd', 12).map((c) => c.text)).toEqual(['aaaa\nbbbb', 'cccc\ndddd']);
    expect(check('aaaa bbbb\ncccc dddd', 12).map((c) => c.text)).toEqual(['aaaa bbbb', 'cccc dddd']);
    expect(check('aaaa bbbb cccc dddd', 12).map((c) => c.text)).toEqual(['aaaa bbbb', 'cccc dddd']);
    expect(check('x'.repeat(25), 10).map((c) => c.text)).toEqual(['x'.repeat(10), 'x'.repeat(10), 'x'.repeat(5)]);
    expect(check('ab ' + 'y'.repeat(12), 10).map((c) => c.text)).toEqual(['ab', 'y'.repeat(10), 'yy']);
  });

  it('takes the latest paragraph boundary that fits', () => {
    const p = (c: string) => `${c.repeat(8)} ${c.repeat(8)}`; // 17 characters
    const text = [p('a'), p('b'), p('c'), p('d')].join('\n\n');
    expect(check(text, 40).map((c) => c.text)).toEqual([`${p('a')}\n\n${p('b')}`, `${p('c')}\n\n${p('d')}`]);
  });

  it('normalises CRLF', () => {
    const chunks = check('line one\r\nline two\r\n\r\n```\r\ncode\r\n```\r\n', 20);
    expect(chunks.map((c) => c.text)).toEqual(['line one\nline two', '```\ncode\n```']);
  });

  it('does not split a surrogate pair on a hard cut', () => {
    const chunks = check('😀'.repeat(10), 5);
    expect(chunks.map((c) => c.text)).toEqual(['😀😀', '😀😀', '😀😀', '😀😀', '😀😀']);
  });
});

describe('chunkMarkdown code fences', () => {
  const code = (n: number) => Array.from({ length: n }, (_, i) => `const v${i} = ${i};`).join('\n');

  it('closes and reopens a block over several chunks with its info string, counting the fences', () => {
    const text = `Intro.\n\n\`\`\`ts\n${code(30)}\n\`\`\`\n\nOutro.`;
    const chunks = check(text, 80);
    expect(chunks.length).toBeGreaterThan(5);
    expect(chunks[0]!.text).toBe('Intro.');
    expect(chunks.at(-1)!.text).toBe('Outro.');
    for (const c of chunks.slice(1, -1)) {
      expect(c.text.startsWith('```ts\n')).toBe(true);
      expect(c.text.endsWith('\n```')).toBe(true);
      expect(c.text.length).toBeLessThanOrEqual(80);
    }
    expect(chunks.slice(2, -1).every((c) => c.reopened === '```ts')).toBe(true);
  });

  it('keeps tilde and indented fences with their indent', () => {
    const chunks = check(`  ~~~~ python\n${code(10)}\n  ~~~~`, 60);
    expect(chunks.length).toBeGreaterThan(2);
    expect(chunks[1]!.text.startsWith('  ~~~~ python\n')).toBe(true);
    expect(chunks[0]!.text.endsWith('\n  ~~~~')).toBe(true);
  });

  it('treats ``` inside a ```` block as code, and ```` inside ``` as its end (CommonMark)', () => {
    const inner = Array.from({ length: 12 }, (_, i) => (i % 3 === 0 ? '```' : `line ${i}`)).join('\n');
    const chunks = check(`\`\`\`\`md\n${inner}\n\`\`\`\`\nafter`, 40);
    expect(chunks.slice(1, -1).every((c) => c.reopened === '````md' && c.closed === '````')).toBe(true);
    const odd = check('```\na\n````\nb\n```\nc', 100);
    // b is text; the last ``` opens a block the text leaves open, so it is closed
    expect(odd.map((c) => c.text)).toEqual(['```\na\n````\nb\n```\nc\n```']);
    expect(readFences('```\na\n````\nb\n```\nc').kinds).toEqual(['fence', 'code', 'fence', 'text', 'fence', 'code']);
  });

  it('closes a block that the text leaves open', () => {
    expect(chunkMarkdown('text\n```js\nlet a;', 100)).toEqual(['text\n```js\nlet a;\n```']);
  });

  it('hard-cuts an over-long code line inside a block, reopening around it', () => {
    const chunks = check('```\n' + 'z'.repeat(100) + '\n```', 30);
    expect(chunks.every((c) => c.text.startsWith('```\n') && c.text.endsWith('\n```'))).toBe(true);
  });

  it('never starts a continuation with a fence-looking run', () => {
    const line = 'word ```inline``` and more ```text``` here with `code` and ~~~tilde~~~ too';
    for (let max = 12; max <= 40; max++) check(`${line}\n${line}`, max);
  });

  it('does not cut right after an opening or before a closing fence when avoidable', () => {
    const chunks = check('para one\n```\nx\n```', 16);
    expect(chunks.map((c) => c.text)).toEqual(['para one', '```\nx\n```']);
  });
});

describe('chunkMarkdown properties', () => {
  /** mulberry32: a small seeded PRNG so failures reproduce. */
  function rng(seed: number): () => number {
    return () => {
      seed = (seed + 0x6d2b79f5) | 0;
      let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
      t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
      return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
    };
  }

  function generate(r: () => number): string {
    const pick = <T>(xs: readonly T[]): T => xs[Math.floor(r() * xs.length)]!;
    const word = () => pick(['a', 'word', 'lorem', 'ipsum', '`x`', '😀', 'päd', '**b**', 'https://example.com/x', '[@here]', 'nb\u00a0sp', '\u2003']);
    const fences = ['```', '```ts', '~~~', '~~~~ python', '````', '  ```js', '   ~~~', ' ````', '```a`b', '``', '    ```'];
    const lines: string[] = [];
    const n = Math.floor(r() * 60);
    for (let i = 0; i < n; i++) {
      const k = r();
      if (k < 0.15) lines.push('');
      else if (k < 0.3) lines.push(pick(fences));
      else if (k < 0.37) lines.push(pick(['``` not a closer', '```` ', '~~~  ', '   ']));
      else if (k < 0.45) lines.push('x'.repeat(Math.floor(r() * 400)) + pick(['', '```', ' ```y', ' end']));
      else if (k < 0.5) lines.push('    indented code ' + word());
      else lines.push(Array.from({ length: 1 + Math.floor(r() * 30) }, word).join(' '));
    }
    return lines.join(r() < 0.2 ? '\r\n' : '\n') + (r() < 0.5 ? '\n' : '');
  }

  it('holds on 1,500 generated inputs', () => {
    // CHUNK_FUZZ_RUNS / CHUNK_FUZZ_SEED widen the search when changing the chunker.
    const r = rng(Number(process.env.CHUNK_FUZZ_SEED ?? 12345));
    const runs = Number(process.env.CHUNK_FUZZ_RUNS ?? 1500);
    for (let i = 0; i < runs; i++) check(generate(r), 40 + Math.floor(r() * 260));
  });

  it('holds at platform sizes on long generated answers', () => {
    const r = rng(777);
    for (let i = 0; i < 40; i++) {
      const text = Array.from({ length: 20 }, () => generate(r)).join('\n\n');
      check(text, 2000);
      check(text, 3900);
    }
  });

  it('chunks 1 MB in well under a second', () => {
    const r = rng(99);
    let text = '';
    while (text.length < 1_000_000) text += generate(r) + '\n\n';
    const t0 = performance.now();
    const chunks = chunkMarkdown(text, 2000);
    const ms = performance.now() - t0;
    expect(chunks.length).toBeGreaterThan(500);
    expect(ms).toBeLessThan(1000);
    const line = 'y'.repeat(1_000_000);
    const t1 = performance.now();
    expect(chunkMarkdown(line, 2000)).toHaveLength(500);
    expect(performance.now() - t1).toBeLessThan(1000);
  });
});
