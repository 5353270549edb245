/**
 * `/agent diff` through the command service and the outbox (the core as src/compose.ts wires it,
 * a recording adapter, a real git repository as the default working directory): the stat summary
 * is a message and the patch follows as one file `<slug>.patch` posted once through the adapter's
 * `postFile` (its copy in the data directory deleted after); without `postFile`, or over
 * `limits.maxFileBytes`, the patch is a fenced block, cut with a note; an empty diff says so; as a
 * slash command the summary and the file are posted in the conversation, in order, and the
 * caller gets a short ephemeral answer. Every case runs on both backends (SQLite file, PostgreSQL).
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { MAX_INLINE_PATCH_CHARS, patchFileName } from '../../src/conversation/commands/diff.js';
import type { ReplyTarget } from '../../src/core/messages.js';
import { worktreeSlug } from '../../src/core/projects.js';
import type { OutgoingFile, PostFileOptions, PostedMessage } from '../../src/platforms/types.js';
import type { AppStore } from '../../src/store/open.js';
import { OUTGOING_FILES_DIR } from '../../src/store/outgoing-files.js';
import type { Backend } from '../../src/store/sql/kysely.js';
import { BACKENDS, testDatabase } from '../helpers/backends.js';
import { startCore, type Core } from '../helpers/core.js';
import { localMessage } from '../helpers/fakes.js';
import { waitFor } from '../helpers/sandbox.js';

const teardowns: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const t of teardowns.splice(0)) await t();
});

const env = { PATH: process.env.PATH, HOME: os.tmpdir() };
const git = (cwd: string, ...args: string[]) =>
  execFileSync('git', ['-c', 'user.name=t', '-c', 'user.email=t@example.com', ...args], { cwd, env, encoding: 'utf8' });

/** A repository with notes.txt committed on `main`. */
function repo(): string {
  const d = fs.realpathSync(fs.mkdtempSync(path.join(os.tmpdir(), 'diff-cmd-repo-')));
  teardowns.push(() => fs.rmSync(d, { recursive: true, force: true }));
  git(d, 'init', '-q', '-b', 'main');
  fs.writeFileSync(path.join(d, 'notes.txt'), 'one\ntwo\nthree\n');
  git(d, 'add', '.');
  git(d, 'commit', '-qm', 'base');
  return d;
}

interface PostedFile {
  target: ReplyTarget;
  name: string;
  size: number;
  bytes: Buffer;
  comment?: string;
}

/**
 * The core on a new database of `backend` (PostgreSQL: the file's shared one, emptied) with the
 * recording adapter and `workdir` as the default working directory; with `maxFileBytes`, the
 * adapter posts files (recorded with their bytes, in the same order as its posts).
 */
async function worldOn(backend: Backend, workdir: string, maxFileBytes?: number) {
  const db = await testDatabase(backend, { shared: true });
  const core: Core<AppStore> = startCore({ store: await db.open(), config: { workdir, access: { admins: [], allowedUsers: [], allowedChannels: [] } } });
  teardowns.push(async () => {
    await core.close();
    core.removeDir();
    await db.remove();
  });
  const { adapter } = core;
  adapter.limits = { maxMessageChars: 100_000, minEditIntervalMs: 0, ...(maxFileBytes !== undefined ? { maxFileBytes } : {}) };
  const files: PostedFile[] = [];
  const order: string[] = [];
  const post = adapter.post.bind(adapter);
  adapter.post = async (t, text, o) => {
    const r = await post(t, text, o);
    order.push(`text:${text.split('\n')[0]}`);
    return r;
  };
  if (maxFileBytes !== undefined) {
    (adapter as { postFile?: unknown }).postFile = async (t: ReplyTarget, file: OutgoingFile, o?: PostFileOptions): Promise<PostedMessage> => {
      files.push({ target: t, name: file.name, size: file.size, bytes: fs.readFileSync(file.path), ...(o?.comment ? { comment: o.comment } : {}) });
      order.push(`file:${file.name}`);
      return { ref: `f${files.length}`, channel: t.channel };
    };
  }
  return { core, adapter, files, order };
}

type World = Awaited<ReturnType<typeof worldOn>>;

/** Sends `/agent diff` in thread `thread`; waits until `n` more things (texts and files) were posted there. */
async function diffIn(w: World, thread: string, n: number): Promise<string[]> {
  const before = w.order.length;
  expect(await w.core.router.accept(localMessage(thread, '/agent diff', { addressed: true }))).toBe('accepted');
  await waitFor(() => w.order.length >= before + n, 10_000, 'the diff reply');
  return w.order.slice(before);
}

const copies = (w: World) => {
  const dir = path.join(w.core.dir, OUTGOING_FILES_DIR);
  return fs.existsSync(dir) ? fs.readdirSync(dir) : [];
};

describe.each(BACKENDS)('/agent diff (%s)', (backend) => {
  const world = (workdir: string, maxFileBytes?: number) => worldOn(backend, workdir, maxFileBytes);

  it('posts the stat summary as a message and the patch as one file <slug>.patch; the copy is deleted once delivered', async () => {
    const r = repo();
    fs.writeFileSync(path.join(r, 'notes.txt'), 'one\nTWO\nthree\n');
    fs.writeFileSync(path.join(r, 'new.txt'), 'fresh\n');
    const w = await world(r, 1024 * 1024);
    const posted = await diffIn(w, 't1', 2);
    const name = patchFileName('local:general:t1');
    expect(name).toBe(`${worktreeSlug('local:general:t1')}.patch`);
    expect(posted).toEqual([`text:📝 Changes in \`${r}\` against \`${git(r, 'rev-parse', 'HEAD').slice(0, 12)}\`:`, `file:${name}`]);
    const summary = w.adapter.texts('t1').at(-1)!;
    expect(summary).toContain('notes.txt | 2 +-');
    expect(summary).toContain('new.txt   | 1 +');
    expect(summary).toContain('2 files changed, 2 insertions(+), 1 deletion(-)');
    expect(summary).not.toContain('```diff');
    expect(summary).not.toContain('+TWO');
    expect(w.files).toHaveLength(1);
    const [file] = w.files;
    expect(file!.target).toMatchObject({ platform: 'local', channel: 'general', thread: 't1' });
    expect(summary).toContain(`The full patch follows as \`${name}\` (${file!.size} bytes).`);
    const patch = file!.bytes.toString('utf8');
    expect(file!.size).toBe(file!.bytes.length);
    expect(patch).toMatch(/^diff --git a\/new.txt b\/new.txt\n/);
    expect(patch).toContain('-two\n+TWO\n');
    expect(patch).toContain('+fresh\n');
    // The patch is the change: applied to a clean checkout it gives the edited files.
    const check = fs.mkdtempSync(path.join(os.tmpdir(), 'diff-cmd-check-'));
    teardowns.push(() => fs.rmSync(check, { recursive: true, force: true }));
    git(r, 'worktree', 'add', '-q', '--detach', check, 'HEAD');
    fs.writeFileSync(path.join(check, 'p.patch'), file!.bytes);
    git(check, 'apply', 'p.patch');
    expect(fs.readFileSync(path.join(check, 'notes.txt'), 'utf8')).toBe('one\nTWO\nthree\n');
    expect(fs.readFileSync(path.join(check, 'new.txt'), 'utf8')).toBe('fresh\n');
    // Delivered once: nothing pending, the copy gone, the repository's index untouched.
    await waitFor(() => copies(w).length === 0, 5_000, 'the delivered copy deleted');
    expect(await w.core.store.outbox.pending()).toEqual([]);
    expect(git(r, 'status', '--porcelain').split('\n').filter(Boolean).sort()).toEqual([' M notes.txt', '?? new.txt']);
  });

  it('an empty diff says so and posts no file', async () => {
    const r = repo();
    const w = await world(r, 1024 * 1024);
    const posted = await diffIn(w, 't2', 1);
    expect(posted).toEqual([`text:📝 No changes in \`${r}\` against \`${git(r, 'rev-parse', 'HEAD').slice(0, 12)}\`.`]);
    expect(w.files).toEqual([]);
    expect(copies(w)).toEqual([]);
  });

  it('a platform that cannot post files gets the patch as a fenced block; a long one is cut with a note', async () => {
    const r = repo();
    fs.writeFileSync(path.join(r, 'notes.txt'), 'one\ntwo (edited)\nthree\n');
    const w = await world(r);
    await diffIn(w, 't3', 1);
    const text = w.adapter.texts('t3').at(-1)!;
    expect(text).toContain('notes.txt | 2 +-');
    expect(text).toContain('```diff\ndiff --git a/notes.txt b/notes.txt\n');
    expect(text).toContain('-two\n+two (edited)\n three\n```');
    expect(text).not.toContain('✂️');
    expect(w.files).toEqual([]);
    expect(copies(w)).toEqual([]);

    const line = `${'x'.repeat(99)}\n`;
    fs.writeFileSync(path.join(r, 'big.txt'), line.repeat(400)); // 40,000 bytes, a patch of more than 40,000 characters
    await diffIn(w, 't4', 1);
    const cut = w.adapter.texts('t4').join('\n');
    const shown = /```diff\n([\s\S]*?)\n```\n/.exec(cut)![1]!;
    expect(shown.length).toBeLessThanOrEqual(MAX_INLINE_PATCH_CHARS);
    expect(shown.length).toBeGreaterThan(MAX_INLINE_PATCH_CHARS - 200);
    expect(shown.endsWith(`+${'x'.repeat(99)}`)).toBe(true); // cut after a whole line
    expect(cut).toMatch(
      new RegExp(
        `✂️ The patch is cut here: it is \\d+(\\.\\d)? KiB, and only its first ${shown.length} characters are shown because this chat cannot take files from agentbridge\\.$`,
      ),
    );
  });

  it("a patch larger than the platform's file limit is shown inline, cut, with the limit named", async () => {
    const r = repo();
    fs.writeFileSync(path.join(r, 'big.txt'), `${'y'.repeat(99)}\n`.repeat(300));
    const w = await world(r, 10_000);
    await diffIn(w, 't5', 1);
    const text = w.adapter.texts('t5').join('\n');
    expect(text).toContain('big.txt | 300 +');
    expect(text).toContain('```diff\ndiff --git a/big.txt b/big.txt\n');
    expect(text).toMatch(/because the patch \(29\.\d KiB\) is larger than the 9\.8 KiB this platform accepts as a file\.$/);
    expect(w.files).toEqual([]);
    expect(copies(w)).toEqual([]);
  });

  it('as a slash command: the summary and the file are posted in the conversation in order, the caller gets a short ephemeral answer', async () => {
    const r = repo();
    fs.writeFileSync(path.join(r, 'notes.txt'), 'one\ntwo\nthree\nfour\n');
    const w = await world(r, 1024 * 1024);
    const target = { platform: 'local' as const, channel: 'general', thread: 't6' };
    const answer = await w.core.commands.runCommand({
      platform: 'local',
      userId: 'ann',
      userName: 'ann',
      channel: 'general',
      conversationId: 'local:general:t6',
      text: 'diff',
      replyTarget: target,
    });
    const name = patchFileName('local:general:t6');
    expect(answer).toEqual({ text: `Posted in this conversation, with \`${name}\`.`, ephemeral: true });
    await waitFor(() => w.files.length === 1, 5_000, 'the file');
    expect(w.order).toEqual([expect.stringMatching(/^text:📝 Changes in /), `file:${name}`]);
    expect(w.adapter.texts('t6')[0]).toContain('notes.txt | 1 +');
    expect(w.files[0]!.target).toMatchObject(target);
    expect(w.files[0]!.bytes.toString('utf8')).toContain(' three\n+four\n');
  });
});
