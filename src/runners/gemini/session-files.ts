/**
 * Where the Gemini CLI keeps a session (verified with gemini 0.61.0 by
 * test/runners/gemini-session-files.test.ts), under `<GEMINI_CLI_HOME or HOME>/.gemini`:
 *
 *   tmp/<project>/.project_root                                   the absolute workdir that owns `<project>`
 *   tmp/<project>/chats/session-<start time>-<first 8 of id>.jsonl  the session (JSON lines, append-only;
 *                                                                    its first line holds `sessionId`)
 *
 * `<project>` is a short name gemini picks per workdir (its base name, `-1`, `-2`… when taken; the
 * map is `projects.json`, which is not copied: it lists every project of the host). Restored into
 * another home, gemini adopts the folder whose `.project_root` names the same workdir and
 * `--resume <id>` works there; when that host already uses the short name for another workdir, gemini
 * picks another one, the resume reports "No previous sessions found" and the turn continues from
 * agentbridge's transcript. `.project_root` is therefore only created, never replaced.
 */
import fs from 'node:fs';
import path from 'node:path';
import { isMissing, type SessionFileLocation, type SessionFilesContext } from '../session-files.js';

/** Gemini's state directory for `env`: `$GEMINI_CLI_HOME/.gemini`, else `$HOME/.gemini`. */
export function geminiStateDir(env: NodeJS.ProcessEnv): string {
  return path.join(env['GEMINI_CLI_HOME'] || env['HOME'] || '', '.gemini');
}

/** The session's chat file and its project's `.project_root`, under the symbolic root `gemini-home`. */
export function geminiSessionFiles(ctx: SessionFilesContext): SessionFileLocation {
  const root = geminiStateDir(ctx.env);
  return {
    name: 'gemini-home',
    root,
    createOnly: (p) => path.posix.basename(p) === '.project_root',
    async paths() {
      const tmp = path.join(root, 'tmp');
      let projects: string[];
      try {
        projects = (await fs.promises.readdir(tmp)).sort();
      } catch (err) {
        if (isMissing(err)) return [];
        throw err;
      }
      let cwd = ctx.cwd;
      try {
        cwd = await fs.promises.realpath(ctx.cwd);
      } catch {
        /* as given */
      }
      // The workdir's own project first, then any other (the same id never appears twice).
      const owns = async (name: string) => (await readText(path.join(tmp, name, '.project_root')))?.trim() === cwd;
      const ordered = [...(await filterAsync(projects, owns)), ...projects];
      for (const name of ordered) {
        const chat = await chatFile(path.join(tmp, name, 'chats'), ctx.sessionId);
        if (!chat) continue;
        const out = [`tmp/${name}/chats/${chat}`];
        if (await readText(path.join(tmp, name, '.project_root'))) out.push(`tmp/${name}/.project_root`);
        return out;
      }
      return [];
    },
  };
}

/** The name of the chat file in `dir` of session `id` (file name ends with the id's first 8 characters; its first line names the id). */
async function chatFile(dir: string, id: string): Promise<string | undefined> {
  let names: string[];
  try {
    names = await fs.promises.readdir(dir);
  } catch {
    return undefined;
  }
  for (const name of names.filter((n) => n.startsWith('session-') && n.endsWith(`-${id.slice(0, 8)}.jsonl`)).sort()) {
    const head = (await readText(path.join(dir, name), 64 * 1024))?.split('\n', 1)[0];
    try {
      if ((JSON.parse(head ?? '') as { sessionId?: unknown }).sessionId === id) return name;
    } catch {
      /* not this one */
    }
  }
  return undefined;
}

/** The text of `file` (its first `limit` bytes when given), or undefined when unreadable. */
async function readText(file: string, limit?: number): Promise<string | undefined> {
  try {
    if (limit === undefined) return await fs.promises.readFile(file, 'utf8');
    const fh = await fs.promises.open(file, 'r');
    try {
      const buf = Buffer.alloc(limit);
      const { bytesRead } = await fh.read(buf, 0, limit, 0);
      return buf.subarray(0, bytesRead).toString('utf8');
    } finally {
      await fh.close();
    }
  } catch {
    return undefined;
  }
}

async function filterAsync<T>(items: T[], pred: (t: T) => Promise<boolean>): Promise<T[]> {
  const keep = await Promise.all(items.map(pred));
  return items.filter((_, i) => keep[i]);
}
