/**
 * Where the Codex CLI keeps a session (verified with codex 0.169.0 by
 * test/runners/codex-session-files.test.ts): one JSON-lines rollout file,
 * `<CODEX_HOME or ~/.codex>/sessions/YYYY/MM/DD/rollout-<local time>-<thread id>.jsonl`. `codex exec
 * resume <id>` finds it by id from any working directory; copied alone into another CODEX_HOME (its
 * `state_*.sqlite` index not copied), the resume works there too.
 */
import os from 'node:os';
import path from 'node:path';
import { filesUnder, type SessionFileLocation, type SessionFilesContext } from '../session-files.js';

/** Codex's home for `env`: `$CODEX_HOME`, else `$HOME/.codex`. */
export function codexHome(env: NodeJS.ProcessEnv): string {
  return env['CODEX_HOME'] || path.join(env['HOME'] || os.homedir(), '.codex');
}

/** The rollout file of thread `ctx.sessionId` under the symbolic root `codex-home` (found by id). */
export function codexSessionFiles(ctx: SessionFilesContext): SessionFileLocation {
  const root = codexHome(ctx.env);
  const suffix = `-${ctx.sessionId}.jsonl`;
  return {
    name: 'codex-home',
    root,
    async paths() {
      return (await filesUnder(root, path.join(root, 'sessions'))).filter((p) => path.posix.basename(p).startsWith('rollout-') && p.endsWith(suffix));
    },
  };
}
