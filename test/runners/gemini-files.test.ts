/**
 * Attached files are readable by the real `gemini` CLI (0.61.0) in a git work tree, one-shot and
 * live (`gemini --acp`), although `<workdir>/.agentbridge/.gitignore` (`*`) keeps them out of git:
 * the overlay Gemini home's custom ignore file re-includes them (src/runners/gemini/file-filtering.ts).
 * Without it, gemini answered `read_file` with "File path '…' is ignored by configured ignore
 * patterns." (verified with 0.61.0; the last test shows it still does with the real home).
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { AGENTBRIDGE_DIR, FILES_DIR } from '../../src/core/attachments.js';
import { settleProcessCleanups, drive } from '../../src/runners/process.js';
import { createRunner } from '../../src/runners/define.js';
import { gemini, geminiArgs, geminiEnv } from '../../src/runners/gemini/index.js';
import { makeSandbox, type Sandbox } from '../helpers/sandbox.js';
import { functionResponses, sequence, startGeminiModel, type GeminiModel } from '../models/gemini.js';

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  await settleProcessCleanups(30_000);
  while (cleanups.length) await cleanups.pop()!();
});

const CONTENT = 'attached-notes-content-7731';

interface Setup {
  sandbox: Sandbox;
  model: GeminiModel;
  /** Absolute path of the attached file. */
  file: string;
}

/**
 * A sandbox whose workdir is a git repository (its own `.gitignore` from `rootIgnore`, if given)
 * holding an attached file as agentbridge stores it, and a model that calls `read_file` on it.
 */
async function setup(rootIgnore?: string): Promise<Setup> {
  const model = await startGeminiModel();
  const sandbox = makeSandbox({ GEMINI_API_KEY: 'x', GOOGLE_GEMINI_BASE_URL: model.url, GEMINI_CLI_TRUST_WORKSPACE: 'true' });
  cleanups.push(() => sandbox.cleanup());
  cleanups.push(() => model.close());
  fs.writeFileSync(
    path.join(sandbox.home, '.gemini', 'settings.json'),
    JSON.stringify({
      security: { auth: { selectedType: 'gemini-api-key' } },
      general: { maxAttempts: 1, enableAutoUpdate: false, enableAutoUpdateNotification: false },
      privacy: { usageStatisticsEnabled: false },
    }),
  );
  execFileSync('git', ['init', '-q'], { cwd: sandbox.workdir });
  if (rootIgnore !== undefined) fs.writeFileSync(path.join(sandbox.workdir, '.gitignore'), rootIgnore);
  const dir = path.join(sandbox.workdir, FILES_DIR, 'm1');
  fs.mkdirSync(dir, { recursive: true });
  fs.writeFileSync(path.join(sandbox.workdir, AGENTBRIDGE_DIR, '.gitignore'), '*\n');
  const file = path.join(dir, 'notes.txt');
  fs.writeFileSync(file, `${CONTENT}\n`);
  // git itself ignores the folder (the reason for the .gitignore).
  expect(execFileSync('git', ['status', '--porcelain', '--untracked-files=all'], { cwd: sandbox.workdir, encoding: 'utf8' })).not.toContain('notes.txt');
  model.setResponder(sequence({ functionCall: { name: 'read_file', args: { file_path: file } } }, { text: 'read it' }));
  return { sandbox, model, file };
}

/** The function responses of the model request after the `read_file` call. */
function readResult(model: GeminiModel): string {
  const main = model.mainRequests();
  expect(main.length).toBeGreaterThanOrEqual(2);
  return functionResponses(main[1]!).join('\n');
}

describe('attached files and the real gemini CLI in a git work tree', () => {
  it('one-shot turn (default approval mode, no tools): read_file of the attached path returns its content', async () => {
    const { sandbox, model, file } = await setup();
    const result = await createRunner(gemini).run(
      { prompt: `Attached:\n- ${file} (text/plain)`, cwd: sandbox.workdir, permissionMode: 'read-only', timeoutMs: 60_000, env: sandbox.env },
      () => {},
    );
    expect(result.error).toBeUndefined();
    expect(result.text).toBe('read it');
    const response = readResult(model);
    expect(response).toContain(CONTENT);
    expect(response).not.toContain('ignored');
  });

  it("one-shot turn: also when the project's own .gitignore ignores .agentbridge/", async () => {
    const { sandbox, model } = await setup('.agentbridge/\n');
    const result = await createRunner(gemini).run(
      { prompt: 'read', cwd: sandbox.workdir, permissionMode: 'full', timeoutMs: 60_000, env: sandbox.env },
      () => {},
    );
    expect(result.error).toBeUndefined();
    expect(readResult(model)).toContain(CONTENT);
  });

  it('live session (gemini --acp): read_file of the attached path returns its content', async () => {
    const { sandbox, model, file } = await setup();
    const session = createRunner(gemini).openSession!({ cwd: sandbox.workdir, permissionMode: 'ask', env: sandbox.env, startTimeoutMs: 120_000 });
    cleanups.push(() => session.close());
    const result = await session.send(
      `Attached:\n- ${file} (text/plain)`,
      { onEvent: () => {}, onInteraction: () => Promise.resolve({ kind: 'allow' }) },
      { timeoutMs: 90_000 },
    );
    expect(result.error).toBeUndefined();
    expect(result.text).toBe('read it');
    const response = readResult(model);
    expect(response).toContain(CONTENT);
    expect(response).not.toContain('ignored');
  });

  it('without the overlay home (the real one), gemini refuses the file: the fix is what makes it readable', async () => {
    const { sandbox, model } = await setup();
    const bin = path.resolve(import.meta.dirname, '../../node_modules/.bin/gemini');
    const done = await drive({
      bin,
      args: geminiArgs({ permissionMode: 'read-only' }),
      stdin: 'read',
      cwd: sandbox.workdir,
      env: geminiEnv(sandbox.env),
      timeoutMs: 60_000,
      onLine: () => {},
    });
    await done.gone;
    expect(readResult(model)).toContain('is ignored by configured ignore patterns');
  });
});
