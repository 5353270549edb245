/**
 * Where Claude Code keeps a session (verified with claude 2.1.197, in its bundled source and by
 * test/unit/runner-session-files.test.ts and test/runners/claude-session-files.test.ts):
 *
 *   <config dir>/projects/<project slug>/<session id>.jsonl      the transcript (JSON lines, append-only)
 *   <config dir>/projects/<project slug>/<session id>/…          subagent transcripts and tool results, when any
 *
 * - config dir: `$CLAUDE_CONFIG_DIR`, else `$HOME/.claude`;
 * - project slug ({@link claudeProjectSlug}): the working directory (its real path) with every
 *   character other than `[a-zA-Z0-9]` replaced by `-` (so `/`, `.`, `_`, spaces and each UTF-16
 *   unit of a non-ASCII letter); a slug over 200 characters is cut to 200 and followed by `-` and
 *   a base-36 hash of the path (claude's own `$E`/`jCe` functions).
 * `--resume <id>` finds the session only there (for the same cwd): copying these files onto
 * another host makes `--resume` work there (issue 15, "Facts checked").
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { filesUnder, isFile, toRelative, type SessionFileLocation, type SessionFilesContext } from '../session-files.js';

/** Longest slug claude keeps before cutting it and appending a hash. */
const MAX_SLUG = 200;

/** Claude's 32-bit string hash (`(h << 5) - h + charCode`, as an int32) of `s`, absolute, base 36. */
function slugHash(s: string): string {
  let h = 0;
  for (let i = 0; i < s.length; i++) h = ((h << 5) - h + s.charCodeAt(i)) | 0;
  return Math.abs(h).toString(36);
}

/**
 * The directory name under `<config dir>/projects/` for sessions started in `cwd` (pure; `cwd` as
 * claude sees it, i.e. its real path): e.g. `/srv/my.app_1` → `-srv-my-app-1`.
 */
export function claudeProjectSlug(cwd: string): string {
  const slug = cwd.replace(/[^a-zA-Z0-9]/g, '-');
  return slug.length <= MAX_SLUG ? slug : `${slug.slice(0, MAX_SLUG)}-${slugHash(cwd)}`;
}

/** Claude's config directory for `env`: `$CLAUDE_CONFIG_DIR`, else `$HOME/.claude`. */
export function claudeConfigDir(env: NodeJS.ProcessEnv): string {
  return env['CLAUDE_CONFIG_DIR'] || path.join(env['HOME'] || os.homedir(), '.claude');
}

/**
 * The Claude session's files (see the module doc), under the symbolic root `claude-config`. The
 * transcript is looked for under the project slug of `cwd` first, then under any project (a slug
 * rule that drifts in a later claude version still finds it; restoring writes it back under the
 * same relative path, right for a worker with the same absolute workdir).
 */
export function claudeSessionFiles(ctx: SessionFilesContext): SessionFileLocation {
  const root = claudeConfigDir(ctx.env);
  const projects = path.join(root, 'projects');
  return {
    name: 'claude-config',
    root,
    async paths() {
      let cwd = ctx.cwd;
      try {
        cwd = await fs.promises.realpath(ctx.cwd);
      } catch {
        /* a missing workdir: its slug as given */
      }
      const file = `${ctx.sessionId}.jsonl`;
      let dir = path.join(projects, claudeProjectSlug(cwd));
      if (!(await isFile(path.join(dir, file)))) {
        const found = await findProjectWith(projects, file);
        if (!found) return [];
        dir = found;
      }
      return [toRelative(root, path.join(dir, file)), ...(await filesUnder(root, path.join(dir, ctx.sessionId)))];
    },
  };
}

/** The project directory under `projects` holding `file`, if any. */
async function findProjectWith(projects: string, file: string): Promise<string | undefined> {
  let names: string[];
  try {
    names = await fs.promises.readdir(projects);
  } catch {
    return undefined;
  }
  for (const name of names.sort()) {
    if (await isFile(path.join(projects, name, file))) return path.join(projects, name);
  }
  return undefined;
}
