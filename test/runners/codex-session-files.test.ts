/**
 * Context across hosts with the real `codex` CLI and the scripted Responses API model: turn 1 with
 * CODEX_HOME = host A, its rollout file saved (`SessionFileSync`), restored into host B's empty
 * CODEX_HOME, and `codex exec resume <id>` there carries turn 1 to the model.
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { settleProcessCleanups } from '../../src/runners/process.js';
import { createRunner } from '../../src/runners/define.js';
import { codex } from '../../src/runners/codex/index.js';
import type { RunRequest } from '../../src/runners/types.js';
import { SessionFileSync } from '../../src/cluster/session-files.js';
import { createLogger } from '../../src/logger.js';
import { openStore } from '../../src/store/store.js';
import { makeSandbox, type Sandbox } from '../helpers/sandbox.js';
import { codexMockProviderArgs, startOpenAIModel } from '../models/openai.js';

const cleanups: Array<() => void | Promise<void>> = [];
afterEach(async () => {
  await settleProcessCleanups(30_000);
  for (const c of cleanups.splice(0).reverse()) await c();
});

describe('codex session files across hosts', () => {
  it('a thread saved on host A resumes on host B with its context', async () => {
    const model = await startOpenAIModel();
    cleanups.push(() => model.close());
    const store = openStore({ dbPath: ':memory:', logger: createLogger('silent') });
    cleanups.push(() => store.close());
    await store.conversations.ensure({ id: 'c1', platform: 'local', channel: 'general' });
    const hosts = [makeSandbox({ MOCK_KEY: 'mock-key' }), makeSandbox({ MOCK_KEY: 'mock-key' })] as const;
    for (const h of hosts) cleanups.push(() => h.cleanup());
    const [a, b] = hosts;
    const workdir = path.join(a.root, 'shared-work');
    fs.mkdirSync(workdir);
    const runner = createRunner(codex, { configOverrides: codexMockProviderArgs(model.url), killGraceMs: 1000 });
    const sync = new SessionFileSync({ store, runners: { codex: runner }, logger: createLogger('silent') });
    const req = (sb: Sandbox, prompt: string, over: Partial<RunRequest> = {}): RunRequest => ({
      prompt,
      cwd: workdir,
      env: sb.env,
      permissionMode: 'read-only',
      model: 'gpt-5',
      timeoutMs: 90_000,
      ...over,
    });
    const ref = (sb: Sandbox, sessionId: string) => ({ conversationId: 'c1', agent: 'codex', sessionId, workdir, env: sb.env });

    const first = await runner.run(req(a, 'remember the word pelican'), () => {});
    expect(first.error).toBeUndefined();
    const id = first.sessionId!;
    const saved = await sync.save(ref(a, id));
    expect(saved.saved).toHaveLength(1);
    expect(saved.saved[0]).toMatch(new RegExp(`^sessions/\\d{4}/\\d{2}/\\d{2}/rollout-.*-${id}\\.jsonl$`));

    const restored = await sync.restore(ref(b, id));
    expect(restored.written).toEqual(saved.saved);
    const before = model.requests.length;
    const second = await runner.run(req(b, 'which word?', { resumeSessionId: id }), () => {});
    expect(second.error).toBeUndefined();
    expect(second.ok).toBe(true);
    expect(second.sessionId).toBe(id);
    const sent = JSON.stringify(model.requests.slice(before));
    expect(sent).toContain('remember the word pelican');
    expect(sent).toContain('which word?');
  });
});
