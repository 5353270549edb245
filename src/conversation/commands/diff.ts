/**
 * `diff`: this conversation's changes in its git working directory — against the branch point
 * of its worktree (../worktrees.ts), else against HEAD — including uncommitted and untracked
 * files (docs/ARCHITECTURE.md §8):
 * - the reply (a message in the conversation) is git's `--stat` summary;
 * - the full patch follows as a file `<conversation-slug>.patch` (`CommandResult.file`): copied
 *   into the data directory and posted once through the outbox, like the agent's `send_file`
 *   (Slack external upload, Discord attachment, local chat file link);
 * - where the platform cannot post files (its adapter has no `postFile`), or the patch is larger
 *   than its `limits.maxFileBytes`, the patch goes into the reply as a fenced `diff` block instead,
 *   cut at {@link MAX_INLINE_PATCH_CHARS} with a note saying so and why.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { worktreeSlug } from '../../core/projects.js';
import { formatBytes } from '../../store/outgoing-files.js';
import { boundProject, conversationWorkdir, GitError, workdirDiff } from '../worktrees.js';
import { noArgs, reply, type Command, type CommandContext, type CommandResult } from './types.js';

/** The most patch text put in the reply when it cannot go as a file, characters; a longer patch is cut with a note. */
export const MAX_INLINE_PATCH_CHARS = 20_000;

/** Longest run of backticks in `text`, so the fence around it can be longer. */
function fenceFor(text: string): string {
  const longest = Math.max(2, ...[...text.matchAll(/`+/g)].map((m) => m[0].length));
  return '`'.repeat(longest + 1);
}

/** `text` in a fenced block (`lang` after the opening fence), the fence longer than any backtick run inside. */
function fenced(text: string, lang = ''): string {
  const fence = fenceFor(text);
  return `${fence}${lang}\n${text}\n${fence}`;
}

/** The name of the patch file of a conversation: `<conversation-slug>.patch` (src/core/projects.ts). */
export function patchFileName(conversationId: string): string {
  return `${worktreeSlug(conversationId)}.patch`;
}

/**
 * The first `maxChars` characters of the UTF-8 file at `file` (`bytes` long), cut after the last
 * whole line when it is longer; `cut` tells whether anything was left out.
 */
function readHead(file: string, bytes: number, maxChars: number): { text: string; cut: boolean } {
  const fd = fs.openSync(file, 'r');
  try {
    // A character is at most 4 bytes: this many bytes hold at least `maxChars` characters.
    const buf = Buffer.alloc(Math.min(bytes, maxChars * 4));
    const n = fs.readSync(fd, buf, 0, buf.length, 0);
    const all = new TextDecoder('utf-8').decode(buf.subarray(0, n), { stream: n < bytes });
    if (n === bytes && all.length <= maxChars) return { text: all.trimEnd(), cut: false };
    const head = all.slice(0, maxChars);
    const lastLine = head.lastIndexOf('\n');
    return { text: (lastLine > 0 ? head.slice(0, lastLine) : head).trimEnd(), cut: true };
  } finally {
    fs.closeSync(fd);
  }
}

/**
 * The reply for a non-empty diff: the stat summary, and the patch as a file when the platform
 * takes it (copied into the data directory now), else inline (cut, with a note).
 */
function withPatch(ctx: CommandContext, heading: string, stat: string, patchFile: string, patchBytes: number): CommandResult {
  const id = ctx.place.conversationId!;
  const platform = ctx.place.replyTarget.platform;
  const files = ctx.deps.files;
  const maxBytes = files?.maxBytes(platform);
  const name = patchFileName(id);
  const summary = [heading, fenced(stat)];
  if (files && maxBytes !== undefined && patchBytes <= maxBytes) {
    const copy = files.copies.put(patchFile, maxBytes);
    return {
      text: [...summary, `The full patch follows as \`${name}\` (${formatBytes(copy.size)}).`].join('\n'),
      ephemeral: false,
      file: { id: copy.id, name, size: copy.size },
    };
  }
  const why =
    maxBytes === undefined
      ? 'this chat cannot take files from agentbridge'
      : `the patch (${formatBytes(patchBytes)}) is larger than the ${formatBytes(maxBytes)} this platform accepts as a file`;
  const { text, cut } = readHead(patchFile, patchBytes, MAX_INLINE_PATCH_CHARS);
  return reply(
    [
      ...summary,
      fenced(text, 'diff'),
      ...(cut ? [`✂️ The patch is cut here: it is ${formatBytes(patchBytes)}, and only its first ${text.length} characters are shown because ${why}.`] : []),
    ].join('\n'),
  );
}

export const diff: Command<true> = {
  name: 'diff',
  admin: false,
  needsConversation: true,
  args: '',
  summary: "this conversation's changes in its git working directory (against the worktree's branch point, else HEAD): a summary, and the patch as a file",
  parse: noArgs,
  async run(ctx) {
    const { store, defaults } = ctx.deps;
    const env = ctx.deps.gitEnv ?? {};
    const id = ctx.place.conversationId!;
    const conv = await store.conversations.get(id);
    const worktree = await store.projects.worktree(id);
    let dir: string;
    if (conv?.workdir) dir = conv.workdir;
    else if (worktree) dir = worktree.path;
    else if ((await boundProject(store, id))?.worktrees) return reply('This conversation has no worktree yet: it is made at its first turn.', true);
    else dir = conv ? await conversationWorkdir(store, conv, defaults.workdir, env) : ((await boundProject(store, id))?.path ?? defaults.workdir);
    const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'agentbridge-patch-'));
    try {
      const patchFile = path.join(tmp, 'patch');
      let d;
      try {
        d = await workdirDiff(dir, env, patchFile, !conv?.workdir && worktree ? worktree.base : undefined);
      } catch (err) {
        if (err instanceof GitError) return reply(`⚠️ No diff: \`${dir}\` is not a git working tree, or git failed (${err.message}).`, true);
        throw err;
      }
      const where =
        worktree && !conv?.workdir
          ? `branch \`${worktree.branch}\` against its branch point \`${d.base.slice(0, 12)}\``
          : `\`${dir}\` against \`${d.base.slice(0, 12)}\``;
      if (!d.stat) return reply(`📝 No changes in ${where}.`);
      return withPatch(ctx, `📝 Changes in ${where}:`, d.stat, patchFile, d.patchBytes);
    } finally {
      fs.rmSync(tmp, { recursive: true, force: true });
    }
  },
};
