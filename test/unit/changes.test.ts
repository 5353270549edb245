/**
 * The change summary's pure part (src/core/changes.ts): git output parsers on recorded fixtures
 * (git 2.39, `-z` output), the comparison of two snapshots and the line's format.
 */
import { describe, expect, it } from 'vitest';
import {
  EMPTY_TREE,
  changesBetween,
  countLines,
  formatChangeSummary,
  parseNulList,
  parseNumstatZ,
  parseRepoInfo,
  treeState,
  type FileChange,
  type PathState,
} from '../../src/core/changes.js';

const enc = (s: string) => new TextEncoder().encode(s);

describe('git output parsers', () => {
  it('parses numstat -z records: counts, binary "-", renames, spaces, tabs and newlines in paths', () => {
    // Recorded from `git diff --numstat -z -M HEAD` (a deletion, a binary change, a rename with an
    // edit, a path with a space, one with a tab, one with a newline).
    const out = ['0\t1\ta', '-\t-\tbin.dat', '1\t0\t', 'with space.txt', 'moved space.txt', '2\t0\ttab\there', '3\t4\tnl\nname', ''].join('\0');
    expect(parseNumstatZ(out)).toEqual([
      { path: 'a', added: 0, deleted: 1 },
      { path: 'bin.dat', added: null, deleted: null },
      { path: 'moved space.txt', from: 'with space.txt', added: 1, deleted: 0 },
      { path: 'tab\there', added: 2, deleted: 0 },
      { path: 'nl\nname', added: 3, deleted: 4 },
    ]);
  });

  it('parses empty output as nothing, and refuses malformed records', () => {
    expect(parseNumstatZ('')).toEqual([]);
    expect(() => parseNumstatZ('x\t1\ta\0')).toThrow(/numstat count/);
    expect(() => parseNumstatZ('1 1 a\0')).toThrow(/numstat record/);
    expect(() => parseNumstatZ('1\t1\t\0only-old\0')).toThrow(/rename/);
  });

  it('parses NUL-terminated path lists', () => {
    expect(parseNulList('')).toEqual([]);
    expect(parseNulList('d/f\0nl\nname\0nested/\0')).toEqual(['d/f', 'nl\nname', 'nested/']);
  });

  it('reads rev-parse: root, prefix without the slash, HEAD or the empty tree of an unborn HEAD', () => {
    const head = '00e0ea1b772772918d9b487509913b435db860e3';
    expect(parseRepoInfo(`/tmp/r\nsub/dir/\nsha1\n${head}\n`, 0)).toEqual({ root: '/tmp/r', prefix: 'sub/dir', base: head });
    expect(parseRepoInfo('/tmp/r\n\nsha1\n', 1)).toEqual({ root: '/tmp/r', prefix: '', base: EMPTY_TREE.sha1 });
    expect(parseRepoInfo('/tmp/r\n\nsha256\n', 1).base).toBe(EMPTY_TREE.sha256);
    expect(() => parseRepoInfo('', 128)).toThrow(/rev-parse/);
    expect(() => parseRepoInfo('/tmp/r\n\nsha999\n', 1)).toThrow(/object format/);
  });

  it('counts lines of a new file as git does, binary as null', () => {
    expect(countLines(enc(''))).toBe(0);
    expect(countLines(enc('one\n'))).toBe(1);
    expect(countLines(enc('one\ntwo'))).toBe(2);
    expect(countLines(enc('\n\n\n'))).toBe(3);
    expect(countLines(new Uint8Array([0x61, 0x00, 0x0a]))).toBeNull();
    // A NUL after git's 8,000-byte probe is text.
    const late = new Uint8Array(8_002).fill(0x61);
    late[8_001] = 0;
    expect(countLines(late)).toBe(1);
  });
});

const st = (added: number | null, deleted: number | null, fingerprint: string | null = 'f:1', from?: string): PathState => ({
  added,
  deleted,
  fingerprint,
  ...(from ? { from } : {}),
});

describe('changes between two snapshots', () => {
  it('builds a snapshot from numstat, untracked files and fingerprints (a path in both sums its counts)', () => {
    const s = treeState(
      [
        { path: 'a.ts', added: 3, deleted: 1 },
        { path: 'gone.ts', added: 0, deleted: 2 },
        { path: 'b.ts', from: 'old.ts', added: 0, deleted: 0 },
      ],
      [
        { path: 'new.md', lines: 4 },
        { path: 'gone.ts', lines: 2 },
        { path: 'img.png', lines: null },
      ],
      new Map([
        ['a.ts', 'f:a'],
        ['b.ts', 'f:b'],
        ['new.md', 'f:n'],
        ['gone.ts', 'f:g'],
        ['img.png', 'f:i'],
      ]),
    );
    expect(Object.fromEntries(s)).toEqual({
      'a.ts': st(3, 1, 'f:a'),
      'gone.ts': st(2, 2, 'f:g'),
      'b.ts': st(0, 0, 'f:b', 'old.ts'),
      'new.md': st(4, 0, 'f:n'),
      'img.png': st(null, 0, 'f:i'),
    });
  });

  it('nothing changed: no changes, no line', () => {
    const before = new Map([['a.ts', st(3, 1)]]);
    expect(changesBetween(before, new Map(before))).toEqual([]);
    expect(changesBetween(new Map(), new Map())).toEqual([]);
    expect(formatChangeSummary([], '')).toBeUndefined();
  });

  it('reports new, edited, deleted and reverted paths with the delta of their counts', () => {
    const before = new Map([
      ['kept.ts', st(5, 5, 'f:k')], // changed before the turn, untouched in it
      ['more.ts', st(2, 0, 'f:m1')], // edited further: 3 more lines
      ['fewer.ts', st(10, 0, 'f:f1')], // 4 of the lines added before are removed
      ['restored.ts', st(0, 6, 'f:r1')], // deleted lines put back
      ['reverted.ts', st(1, 1, 'f:v1')], // back to the base: absent after
      ['same-counts.ts', st(1, 1, 'f:s1')], // another line replaced: same counts, new content
    ]);
    const after = new Map([
      ['kept.ts', st(5, 5, 'f:k')],
      ['more.ts', st(5, 0, 'f:m2')],
      ['fewer.ts', st(6, 0, 'f:f2')],
      ['restored.ts', st(0, 0, 'f:r2')],
      ['same-counts.ts', st(1, 1, 'f:s2')],
      ['new.ts', st(7, 0, 'f:n')],
      ['deleted.ts', st(0, 9, null)],
    ]);
    expect(changesBetween(before, after)).toEqual([
      { path: 'deleted.ts', added: 0, deleted: 9 },
      { path: 'fewer.ts', added: 0, deleted: 4 },
      { path: 'more.ts', added: 3, deleted: 0 },
      { path: 'new.ts', added: 7, deleted: 0 },
      { path: 'restored.ts', added: 6, deleted: 0 },
      { path: 'reverted.ts', added: 1, deleted: 1 },
      { path: 'same-counts.ts', added: 0, deleted: 0 },
    ]);
  });

  it('counts a binary side without lines, and keeps a rename source', () => {
    const before = new Map([['logo.png', st(null, null, 'f:1')]]);
    const after = new Map([
      ['logo.png', st(null, null, 'f:2')],
      ['b.ts', st(1, 0, 'f:b', 'a.ts')],
    ]);
    expect(changesBetween(before, after)).toEqual([
      { path: 'b.ts', from: 'a.ts', added: 1, deleted: 0 },
      { path: 'logo.png', added: null, deleted: null },
    ]);
  });
});

describe('the summary line', () => {
  const c = (p: string, added: number | null, deleted: number | null, from?: string): FileChange => ({ path: p, added, deleted, ...(from ? { from } : {}) });

  it('one file, several files, the real minus sign', () => {
    expect(formatChangeSummary([c('src/a.ts', 1, 0)], '')).toBe('📝 1 file changed (+1 −0): src/a.ts');
    expect(formatChangeSummary([c('src/a.ts', 10, 4), c('src/b.ts', 2, 0), c('logo.png', null, null)], '')).toBe(
      '📝 3 files changed (+12 −4): src/a.ts, src/b.ts, logo.png',
    );
  });

  it('names five paths, then "… and K more"', () => {
    const many = Array.from({ length: 12 }, (_, i) => c(`f${String(i).padStart(2, '0')}.txt`, 1, 1));
    expect(formatChangeSummary(many, '')).toBe('📝 12 files changed (+12 −12): f00.txt, f01.txt, f02.txt, f03.txt, f04.txt, … and 7 more');
    expect(formatChangeSummary(many.slice(0, 5), '')).toBe('📝 5 files changed (+5 −5): f00.txt, f01.txt, f02.txt, f03.txt, f04.txt');
    expect(formatChangeSummary(many.slice(0, 6), '', 2)).toBe('📝 6 files changed (+6 −6): f00.txt, f01.txt, … and 4 more');
  });

  it('shows paths relative to the working directory, renames as old → new, deletions', () => {
    const line = formatChangeSummary(
      [c('app/src/x.ts', 1, 0), c('docs/README.md', 0, 3), c('app/new.ts', 2, 0, 'app/old.ts'), c('app/nested/', null, 0)],
      'app',
    );
    expect(line).toBe('📝 4 files changed (+3 −3): src/x.ts, ../docs/README.md, old.ts → new.ts, nested/');
  });

  it('keeps spaces, escapes Markdown and shows control characters as "?"', () => {
    expect(formatChangeSummary([c('new file.md', 2, 0), c('__init__.py', 1, 0), c('a*b[1]<x>&`~.txt', 1, 0), c('nl\nname', 1, 0)], '')).toBe(
      '📝 4 files changed (+5 −0): new file.md, \\_\\_init\\_\\_.py, a\\*b\\[1\\]\\<x\\>\\&\\`\\~.txt, nl?name',
    );
  });
});
