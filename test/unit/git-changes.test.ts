/**
 * The change summary against real git (src/conversation/git-changes.ts): snapshots of a temporary
 * repository before and after scripted file edits give the exact line; changes present before are
 * not reported; outside a git work tree nothing runs; a failing git means no line. Then a turn
 * through the core (src/conversation/turn.ts): the answer ends with the line, the transcript keeps
 * the agent's words only, and the setting off means no line.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { ChangeSummaries, gitEnvironment, insideGitTree } from '../../src/conversation/git-changes.js';
import { startCore, type Core } from '../helpers/core.js';
import { localMessage } from '../helpers/fakes.js';
import { waitFor } from '../helpers/sandbox.js';

const dirs: string[] = [];
const cores: Core[] = [];
afterEach(async () => {
  for (const c of cores.splice(0)) {
    await c.close();
    c.removeDir();
  }
  for (const d of dirs.splice(0)) fs.rmSync(d, { recursive: true, force: true });
});

const silent = pino({ level: 'silent' });

function tempDir(): string {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), 'git-changes-'));
  dirs.push(d);
  return d;
}

function git(cwd: string, ...args: string[]): string {
  return execFileSync('git', ['-c', 'user.name=test', '-c', 'user.email=test@example.com', '-c', 'init.defaultBranch=main', ...args], {
    cwd,
    encoding: 'utf8',
    env: { PATH: process.env.PATH, HOME: cwd, GIT_CONFIG_NOSYSTEM: '1' },
  });
}

/** A repository with `files` committed (path → content). */
function repo(files: Record<string, string | Buffer>): string {
  const dir = tempDir();
  git(dir, 'init', '-q');
  for (const [p, content] of Object.entries(files)) write(dir, p, content);
  if (Object.keys(files).length) {
    git(dir, 'add', '-A');
    git(dir, 'commit', '-qm', 'base');
  }
  return dir;
}

function write(dir: string, p: string, content: string | Buffer): void {
  fs.mkdirSync(path.dirname(path.join(dir, p)), { recursive: true });
  fs.writeFileSync(path.join(dir, p), content);
}

const summaries = (opts: { git?: string; logger?: pino.Logger } = {}) => new ChangeSummaries({ env: process.env, logger: opts.logger ?? silent, ...opts });

/** Watches `cwd`, runs `edit` as the agent would (after the "before" snapshot), returns the line. */
async function lineFor(cwd: string, edit: () => void, s = summaries()): Promise<string | undefined> {
  const watch = s.watch(cwd);
  expect(watch).toBeDefined();
  await watch!.ready;
  edit();
  return watch!.summary();
}

describe('change summary against a real git repository', () => {
  it('is exact for scripted edits: an edit, a new file with a space, a deletion, a binary file', async () => {
    const dir = repo({ 'notes.txt': 'one\ntwo\nthree\n', 'old.txt': 'a\nb\nc\nd\n', 'keep.txt': 'k\n' });
    const line = await lineFor(dir, () => {
      write(dir, 'notes.txt', 'one\nTWO\nextra\nthree\n');
      write(dir, 'new file.md', 'hello\nworld\n');
      fs.rmSync(path.join(dir, 'old.txt'));
      write(dir, 'bin.dat', Buffer.from([0, 1, 2, 3]));
    });
    expect(line).toBe('📝 4 files changed (+4 −5): bin.dat, new file.md, notes.txt, old.txt');
  });

  it('does not report changes present before the turn; reports a file edited further with the delta', async () => {
    const dir = repo({ 'keep.txt': 'k\n', 'more.txt': '1\n', 'other.txt': 'o\n' });
    write(dir, 'keep.txt', 'k\nbefore\n'); // changed before, untouched in the turn
    write(dir, 'more.txt', '1\nbefore\n'); // changed before, edited further
    write(dir, 'scratch.txt', 'untracked before\n'); // untracked before, untouched
    write(dir, 'draft.txt', 'x\n'); // untracked before, edited further
    const line = await lineFor(dir, () => {
      write(dir, 'more.txt', '1\nbefore\nturn\nturn\n');
      write(dir, 'draft.txt', 'x\ny\n');
    });
    expect(line).toBe('📝 2 files changed (+3 −0): draft.txt, more.txt');
  });

  it('reports a file whose counts stay the same but whose content changed', async () => {
    const dir = repo({ 'a.txt': 'one\ntwo\n' });
    write(dir, 'a.txt', 'one\nTWO\n'); // +1 −1 before the turn
    expect(await lineFor(dir, () => write(dir, 'a.txt', 'ONE\ntwo\n'))).toBe('📝 1 file changed (+0 −0): a.txt');
  });

  it('nothing changed, or the content written back unchanged: no line', async () => {
    const dir = repo({ 'a.txt': 'one\n' });
    write(dir, 'b.txt', 'pre-existing\n');
    expect(await lineFor(dir, () => {})).toBeUndefined();
    expect(await lineFor(dir, () => write(dir, 'a.txt', 'one\n'))).toBeUndefined();
  });

  it('shows paths relative to the working directory, and counts a commit made in the turn', async () => {
    const dir = repo({ 'app/src/x.ts': 'x\n', 'docs/a.md': 'a\n' });
    const line = await lineFor(path.join(dir, 'app'), () => {
      write(dir, 'app/src/x.ts', 'x\ny\n');
      write(dir, 'docs/a.md', '');
      git(dir, 'commit', '-qam', 'the agent commits');
    });
    // Sorted by the repository path (app/… before docs/…), shown relative to app/.
    expect(line).toBe('📝 2 files changed (+1 −1): src/x.ts, ../docs/a.md');
  });

  it('reports a rename staged with git mv as old → new', async () => {
    const dir = repo({ 'old name.ts': 'a\nb\nc\nd\ne\n' });
    expect(await lineFor(dir, () => git(dir, 'mv', 'old name.ts', 'new name.ts'))).toBe('📝 1 file changed (+0 −0): old name.ts → new name.ts');
  });

  it('works in a repository without commits (unborn HEAD), and leaves ignored files out', async () => {
    const dir = repo({});
    write(dir, '.gitignore', 'build/\n');
    const line = await lineFor(dir, () => {
      write(dir, 'main.c', 'int main;\n');
      write(dir, 'build/out.o', 'ignored\n');
    });
    expect(line).toBe('📝 1 file changed (+1 −0): main.c');
  });

  it('outside a git work tree nothing runs', () => {
    const plain = tempDir();
    expect(insideGitTree(plain)).toBe(false);
    expect(summaries().watch(plain)).toBeUndefined();
    expect(insideGitTree(path.join(repo({ 'a.txt': 'a\n' }), 'no/such/sub'))).toBe(true);
  });

  it('a failing git (missing executable) means no line and a debug log, never an error', async () => {
    const dir = repo({ 'a.txt': 'a\n' });
    const lines: string[] = [];
    const logger = pino(
      { level: 'debug' },
      new Writable({
        write(chunk: Buffer, _enc, cb) {
          lines.push(chunk.toString());
          cb();
        },
      }),
    );
    const line = await lineFor(dir, () => write(dir, 'a.txt', 'b\n'), summaries({ git: path.join(dir, 'no-git-here'), logger }));
    expect(line).toBeUndefined();
    expect(lines.join('')).toMatch(/change summary: no snapshot before the turn/);
  });

  it('gives git only PATH, HOME and XDG_CONFIG_HOME of the environment, with optional locks off', () => {
    const env = gitEnvironment({ PATH: '/bin', HOME: '/h', ANTHROPIC_API_KEY: 'sk-secret', GIT_DIR: '/elsewhere', XDG_CONFIG_HOME: '/x' });
    expect(env).toEqual({ PATH: '/bin', HOME: '/h', XDG_CONFIG_HOME: '/x', GIT_OPTIONAL_LOCKS: '0', GIT_TERMINAL_PROMPT: '0', LC_ALL: 'C' });
  });
});

describe('the change summary in a turn', () => {
  function world(dir: string, changeSummary: boolean): Core {
    const core = startCore({ config: { workdir: dir, changeSummary } });
    cores.push(core);
    return core;
  }

  it('ends the posted answer with the line; the transcript keeps the answer without it', async () => {
    const dir = repo({ 'notes.txt': 'one\n' });
    write(dir, 'pre.txt', 'there before the turn\n');
    const w = world(dir, true);
    await w.router.accept(localMessage('c1', 'edit the notes'));
    await w.runner.waitRuns(1); // the runner has the prompt: the "before" snapshot is taken
    write(dir, 'notes.txt', 'one\ntwo\n');
    w.runner.runs[0]!.finish({ text: 'Added a line.' });
    const answer = '📝 1 file changed (+1 −0): notes.txt';
    await waitFor(() => (w.adapter.texts('c1').at(-1)?.endsWith(answer) ? true : undefined), 10_000, 'the answer with the line');
    expect(w.adapter.texts('c1')).toEqual([`Added a line.\n\n${answer}`]);
    const entries = await w.store.entries.list('local:general:c1');
    expect(entries.filter((e) => e.role === 'assistant').map((e) => e.text)).toEqual(['Added a line.']);
  });

  it('no line when nothing changed, and none with AGENTBRIDGE_CHANGE_SUMMARY=off', async () => {
    const dir = repo({ 'notes.txt': 'one\n' });
    const on = world(dir, true);
    await on.router.accept(localMessage('c2', 'just talk'));
    await on.runner.waitRuns(1);
    on.runner.runs[0]!.finish({ text: 'Nothing to do.' });
    await waitFor(() => (on.adapter.texts('c2').at(-1) === 'Nothing to do.' ? true : undefined), 10_000, 'the answer');

    const off = world(dir, false);
    await off.router.accept(localMessage('c3', 'edit'));
    await off.runner.waitRuns(1);
    write(dir, 'notes.txt', 'one\ntwo\n');
    off.runner.runs[0]!.finish({ text: 'Edited.' });
    await waitFor(() => (off.adapter.texts('c3').at(-1) === 'Edited.' ? true : undefined), 10_000, 'the answer without a line');
  });
});
