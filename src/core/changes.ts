/**
 * The change summary line of a turn (AGENTBRIDGE_CHANGE_SUMMARY; README "Configuration"): pure
 * parsing of git's output, the comparison of two snapshots of a working tree, and the line. The
 * git and file-system calls that take the snapshots are src/conversation/git-changes.ts.
 *
 * **Snapshot** ({@link TreeState}) of the git work tree that holds the turn's working directory,
 * against a fixed **base** commit (HEAD when the turn starts; the empty tree when HEAD is unborn;
 * the snapshot after the turn uses the same base, so a commit the agent makes still counts): one
 * {@link PathState} per path (relative to the repository root, `/`-separated) that
 * - differs between the base and the working tree for git — `git diff --numstat -z -M <base>`:
 *   tracked files, staged or not, added (staged), deleted, renamed (`from`), with git's line
 *   counts (`-` for binary → null); or
 * - is untracked and not ignored — `git ls-files --others --exclude-standard -z`: counted as
 *   added, its lines as git counts a new file ({@link countLines}: newlines, plus one for an
 *   unterminated last line; binary → null);
 * each with a fingerprint of the file in the working tree (content hash, or null when there is
 * no file). Paths that git sees as equal to the base are absent.
 *
 * **Changed in the turn** ({@link changesBetween}): a path whose state differs before and after
 * (lines, fingerprint or rename source; an absent path counts as equal to the base). So changes
 * present before the turn and left alone are not reported; a file edited further is reported
 * with the delta of its line counts: Δa = added after − added before, Δd = deleted after −
 * deleted before (an absent path: 0 and 0); reported added = max(Δa, 0) + max(−Δd, 0) and deleted
 * = max(Δd, 0) + max(−Δa, 0) — lines added before the turn and removed in it count as deleted,
 * lines deleted before and restored as added. That is exact for edits that only add or only
 * remove lines relative to the earlier change; a line replaced by another in a file that already
 * had changes may count +0 −0 (the file is still listed). A binary side (null counts) makes the
 * file count without lines.
 *
 * **The line** ({@link formatChangeSummary}): `📝 N file(s) changed (+A −D): p1, p2, …` — N the
 * changed paths, A and D the sums of their counts (binary files add none), `−` the minus sign
 * U+2212, the paths sorted (code unit order of the repository path), relative to the working
 * directory (`../x` outside it), a rename as `old → new`, at most {@link SUMMARY_PATHS} of them
 * then `, … and K more`; Markdown-special characters are backslash-escaped and control
 * characters shown as `?`, so the line stays one line of plain text on every platform. No
 * changed path: no line (undefined).
 */
import path from 'node:path';

/** One path of a {@link TreeState}: how it differs from the snapshot's base. */
export interface PathState {
  /** Lines added relative to the base (git numstat; untracked: the file's line count); null = binary or not counted. */
  added: number | null;
  /** Lines deleted relative to the base; null = binary or not counted. */
  deleted: number | null;
  /** The working-tree file's fingerprint (content hash, symlink target, …); null when no file is there. */
  fingerprint: string | null;
  /** The repository path it was renamed from (git's rename detection between the base and the working tree). */
  from?: string;
}

/** A snapshot of a work tree: repository path → its state; paths equal to the base are absent. */
export type TreeState = ReadonlyMap<string, PathState>;

/** One record of `git diff --numstat -z`. */
export interface NumstatEntry {
  /** Repository path (the new path of a rename). */
  path: string;
  /** The old path of a rename. */
  from?: string;
  /** null for a binary file (`-`). */
  added: number | null;
  deleted: number | null;
}

/** A file changed during the turn ({@link changesBetween}). */
export interface FileChange {
  /** Repository path (new path of a rename). */
  path: string;
  /** The old path, when the file is a rename after the turn. */
  from?: string;
  /** Lines added in the turn; null when binary on either side. */
  added: number | null;
  /** Lines deleted in the turn; null when binary on either side. */
  deleted: number | null;
}

/** Where the working directory is in its repository, and the base of the snapshots. */
export interface RepoInfo {
  /** The work tree's top-level directory (absolute, as git prints it). */
  root: string;
  /** The working directory relative to `root`, `/`-separated, '' at the top (git's `--show-prefix` without the trailing slash). */
  prefix: string;
  /** The commit (or, for an unborn HEAD, the empty tree) the snapshots compare against. */
  base: string;
}

/** How many paths the line names before `… and K more`. */
export const SUMMARY_PATHS = 5;

/** The empty tree's id in each of git's object formats (for a repository without commits). */
export const EMPTY_TREE: Readonly<Record<string, string>> = {
  sha1: '4b825dc642cb6eb9a060e54bf8d69288fbee4904',
  sha256: '6ef19b41225c5369f1c104d45d8d85efa9b057b53b14b4b9b939dd74decc5321',
};

/** How many leading bytes git looks at for a NUL to call a file binary (xdiff's `buffer_is_binary`). */
const BINARY_PROBE_BYTES = 8000;

/**
 * Parses `git rev-parse --show-toplevel --show-prefix --show-object-format -q --verify HEAD`
 * (run in the working directory): exit 0 → HEAD is the base; exit 1 with the first three lines →
 * HEAD is unborn, the base is the format's {@link EMPTY_TREE}.
 * @throws Error when the output is not that (not a work tree, an unknown object format)
 */
export function parseRepoInfo(stdout: string, exitCode: number): RepoInfo {
  const lines = stdout.split('\n');
  const [root, prefix, format, head] = lines;
  if (!root || prefix === undefined || !format || (exitCode !== 0 && exitCode !== 1)) throw new Error(`unexpected git rev-parse output (exit ${exitCode})`);
  const base = exitCode === 0 && head && /^[0-9a-f]{40,64}$/.test(head) ? head : exitCode === 1 ? EMPTY_TREE[format] : undefined;
  if (!base) throw new Error(`unexpected git rev-parse output (exit ${exitCode}, object format ${format})`);
  return { root, prefix: prefix.replace(/\/+$/, ''), base };
}

/** A numstat count: digits, or `-` (binary) → null. */
function count(field: string): number | null {
  if (field === '-') return null;
  if (!/^\d+$/.test(field)) throw new Error(`unexpected numstat count "${field}"`);
  return Number(field);
}

/**
 * Parses `git diff --numstat -z` output: records `added\tdeleted\tpath\0`, and for a rename
 * `added\tdeleted\t\0old\0new\0`; counts are `-` for binary files (→ null). Paths are as git
 * wrote them (no quoting with `-z`; tabs, spaces and newlines kept).
 * @throws Error on a malformed record
 */
export function parseNumstatZ(out: string): NumstatEntry[] {
  const fields = out.split('\0');
  const entries: NumstatEntry[] = [];
  let i = 0;
  while (i < fields.length) {
    const record = fields[i++]!;
    if (record === '' && i === fields.length) break; // the terminator of the last record
    const t1 = record.indexOf('\t');
    const t2 = t1 < 0 ? -1 : record.indexOf('\t', t1 + 1);
    if (t2 < 0) throw new Error(`unexpected numstat record "${record}"`);
    const added = count(record.slice(0, t1));
    const deleted = count(record.slice(t1 + 1, t2));
    const rest = record.slice(t2 + 1);
    if (rest !== '') {
      entries.push({ path: rest, added, deleted });
      continue;
    }
    const from = fields[i++];
    const to = fields[i++];
    if (!from || !to) throw new Error('unexpected numstat rename record');
    entries.push({ path: to, from, added, deleted });
  }
  return entries;
}

/** Parses NUL-terminated path lists (`git ls-files -z`). */
export function parseNulList(out: string): string[] {
  const items = out.split('\0');
  if (items.at(-1) === '') items.pop();
  return items;
}

/**
 * Lines of a new file as `git diff --numstat` counts them: the newlines, plus one when the last
 * line has none; 0 for an empty file; null for a binary file (a NUL byte in the first 8,000 bytes).
 */
export function countLines(bytes: Uint8Array): number | null {
  const probe = Math.min(bytes.length, BINARY_PROBE_BYTES);
  for (let i = 0; i < probe; i++) if (bytes[i] === 0) return null;
  let n = 0;
  for (let i = 0; i < bytes.length; i++) if (bytes[i] === 0x0a) n++;
  return bytes.length > 0 && bytes[bytes.length - 1] !== 0x0a ? n + 1 : n;
}

/** Adds two counts; null when either is. */
function plus(a: number | null, b: number | null): number | null {
  return a === null || b === null ? null : a + b;
}

/**
 * A snapshot from its parts: the tracked differences (numstat), the untracked files with their
 * line counts, and the fingerprints of the working-tree files by repository path (a path missing
 * there: null). A path that is both (a file removed from the index but still on disk) sums its
 * counts.
 */
export function treeState(
  tracked: readonly NumstatEntry[],
  untracked: ReadonlyArray<{ path: string; lines: number | null }>,
  fingerprints: ReadonlyMap<string, string | null>,
): Map<string, PathState> {
  const state = new Map<string, PathState>();
  const add = (p: string, s: Omit<PathState, 'fingerprint'>) => {
    const had = state.get(p);
    const fingerprint = fingerprints.get(p) ?? null;
    if (!had) state.set(p, { ...s, fingerprint });
    else state.set(p, { ...had, added: plus(had.added, s.added), deleted: plus(had.deleted, s.deleted) });
  };
  for (const e of tracked) add(e.path, { added: e.added, deleted: e.deleted, ...(e.from !== undefined ? { from: e.from } : {}) });
  for (const u of untracked) add(u.path, { added: u.lines, deleted: 0 });
  return state;
}

const CLEAN: PathState = { added: 0, deleted: 0, fingerprint: null };

function same(a: PathState | undefined, b: PathState | undefined): boolean {
  if (!a || !b) return a === b;
  return a.added === b.added && a.deleted === b.deleted && a.fingerprint === b.fingerprint && a.from === b.from;
}

/**
 * The files changed between two snapshots of the same work tree against the same base, sorted
 * by path; counts as defined in the module doc (the delta of the line counts, negative parts
 * moved to the other side; null when either side is binary).
 */
export function changesBetween(before: TreeState, after: TreeState): FileChange[] {
  const paths = [...new Set([...before.keys(), ...after.keys()])].sort();
  const out: FileChange[] = [];
  for (const p of paths) {
    const b = before.get(p);
    const a = after.get(p);
    if (same(b, a)) continue;
    const was = b ?? CLEAN;
    const now = a ?? CLEAN;
    const from = a?.from;
    let added: number | null = null;
    let deleted: number | null = null;
    if (was.added !== null && was.deleted !== null && now.added !== null && now.deleted !== null) {
      const da = now.added - was.added;
      const dd = now.deleted - was.deleted;
      added = Math.max(da, 0) + Math.max(-dd, 0);
      deleted = Math.max(dd, 0) + Math.max(-da, 0);
    }
    out.push({ path: p, ...(from !== undefined ? { from } : {}), added, deleted });
  }
  return out;
}

/** Characters CommonMark lets a backslash escape that could change how a path renders (emphasis, code, links, HTML, entities, strikethrough). */
const MARKDOWN_SPECIAL = /[\\`*_[\]<>&~]/g;

/** A path as the line shows it: relative to the working directory, control characters as `?`, Markdown escaped. */
function shown(repoPath: string, prefix: string): string {
  const trailingSlash = repoPath.endsWith('/') ? '/' : '';
  const rel = (prefix ? path.posix.relative(prefix, repoPath) : repoPath.replace(/\/+$/, '')) + trailingSlash;
  // eslint-disable-next-line no-control-regex
  return rel.replace(/[\u0000-\u001f\u007f]/g, '?').replace(MARKDOWN_SPECIAL, (c) => `\\${c}`);
}

/**
 * The summary line for `changes` (see the module doc), or undefined when there are none.
 * @param prefix the working directory relative to the repository root ({@link RepoInfo.prefix}); paths are shown relative to it
 * @param maxPaths how many paths to name (default {@link SUMMARY_PATHS})
 */
export function formatChangeSummary(changes: readonly FileChange[], prefix: string, maxPaths = SUMMARY_PATHS): string | undefined {
  if (changes.length === 0) return undefined;
  let added = 0;
  let deleted = 0;
  for (const c of changes) {
    added += c.added ?? 0;
    deleted += c.deleted ?? 0;
  }
  const names = changes.slice(0, maxPaths).map((c) => (c.from !== undefined ? `${shown(c.from, prefix)} → ${shown(c.path, prefix)}` : shown(c.path, prefix)));
  const more = changes.length - names.length;
  const n = changes.length;
  return `📝 ${n} ${n === 1 ? 'file' : 'files'} changed (+${added} −${deleted}): ${names.join(', ')}${more > 0 ? `, … and ${more} more` : ''}`;
}
