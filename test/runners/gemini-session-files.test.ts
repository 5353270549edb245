/**
 * Context across hosts with the real `gemini` CLI and the scripted Gemini API model: turn 1 with
 * the Gemini home of host A, its chat file and `.project_root` saved (`SessionFileSync`), restored
 * into host B's home, and `--resume <id>` there carries turn 1 to the model. A host that already
 * uses the project's short name for another workdir keeps its `.project_root` (create-only), and
 * the resume there fails as a missing session (the transcript continuation takes over).
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { settleProcessCleanups } from '../../src/runners/process.js';
import { createRunner } from '../../src/runners/define.js';
import { gemini } from '../../src/runners/gemini/index.js';
import { isMissingSessionError } from '../../src/runners/registry.js';
import type { RunRequest } from '../../src/runners/types.js';
import { SessionFileSync } from '../../src/cluster/session-files.js';
import { createLogger } from '../../src/logger.js';
import { openStore } from '../../src/store/store.js';
import { makeSandbox, type Sandbox } from '../helpers/sandbox.js';
import { allText, startGeminiModel } from '../models/gemini.js';

const cleanups: Array<() => void | Promise<void>> = [];
afterEach(async () => {
  await settleProcessCleanups(30_000);
  for (const c of cleanups.splice(0).reverse()) await c();
});

describe('gemini session files across hosts', () => {
  it('a session saved on host A resumes on host B with its context; a taken project name makes it a missing session', async () => {
    const model = await startGeminiModel();
    cleanups.push(() => model.close());
    const store = openStore({ dbPath: ':memory:', logger: createLogger('silent') });
    cleanups.push(() => store.close());
    await store.conversations.ensure({ id: 'c1', platform: 'local', channel: 'general' });
    const host = () => {
      const sb = makeSandbox({ GEMINI_API_KEY: 'x', GOOGLE_GEMINI_BASE_URL: model.url, GEMINI_CLI_TRUST_WORKSPACE: 'true' });
      cleanups.push(() => sb.cleanup());
      fs.writeFileSync(
        path.join(sb.home, '.gemini', 'settings.json'),
        JSON.stringify({
          security: { auth: { selectedType: 'gemini-api-key' } },
          general: { maxAttempts: 1, enableAutoUpdate: false, enableAutoUpdateNotification: false },
          privacy: { usageStatisticsEnabled: false },
        }),
      );
      return sb;
    };
    const [a, b, c] = [host(), host(), host()];
    const workdir = path.join(a.root, 'sharedwd');
    fs.mkdirSync(workdir);
    const runner = createRunner(gemini);
    const sync = new SessionFileSync({ store, runners: { gemini: runner }, logger: createLogger('silent') });
    const req = (sb: Sandbox, prompt: string, over: Partial<RunRequest> = {}): RunRequest => ({
      prompt,
      cwd: workdir,
      env: sb.env,
      permissionMode: 'full',
      timeoutMs: 120_000,
      ...over,
    });
    const ref = (sb: Sandbox, sessionId: string) => ({ conversationId: 'c1', agent: 'gemini', sessionId, workdir, env: sb.env });

    const first = await runner.run(req(a, 'remember the word pelican'), () => {});
    expect(first.error).toBeUndefined();
    const id = first.sessionId!;
    const saved = await sync.save(ref(a, id));
    expect(saved.saved.sort()).toEqual([
      `tmp/sharedwd/.project_root`,
      expect.stringMatching(new RegExp(`^tmp/sharedwd/chats/session-.*-${id.slice(0, 8)}\\.jsonl$`)),
    ]);

    expect((await sync.restore(ref(b, id))).written).toHaveLength(2);
    const before = model.requests.length;
    const second = await runner.run(req(b, 'which word?', { resumeSessionId: id }), () => {});
    expect(second.error).toBeUndefined();
    expect(second.ok).toBe(true);
    expect(allText(model.requests.at(-1)!)).toContain('remember the word pelican');
    expect(model.requests.length).toBeGreaterThan(before);

    // Host C uses the short name for another workdir: its .project_root is kept (create-only).
    const taken = path.join(c.home, '.gemini', 'tmp', 'sharedwd');
    fs.mkdirSync(taken, { recursive: true });
    fs.writeFileSync(path.join(taken, '.project_root'), '/elsewhere/sharedwd');
    const r = await sync.restore(ref(c, id));
    expect(r.kept).toEqual(['tmp/sharedwd/.project_root']);
    expect(fs.readFileSync(path.join(taken, '.project_root'), 'utf8')).toBe('/elsewhere/sharedwd');
    const lost = await runner.run(req(c, 'which word?', { resumeSessionId: id }), () => {});
    expect(lost.ok).toBe(false);
    expect(isMissingSessionError(lost.error, 'gemini')).toBe(true);
  });
});
