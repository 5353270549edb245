/**
 * Context across hosts with the real `claude` CLI and the scripted Anthropic model: turn 1 runs
 * with HOME/CLAUDE_CONFIG_DIR = host A and its session files are saved to the store
 * (`SessionFileSync`, src/cluster/session-files.ts); they are restored into host B's empty home,
 * and turn 2 resumes the session there (`--resume`, the same absolute workdir): it succeeds and the
 * model's request carries turn 1. Without the restore, the same resume on an empty host fails as a
 * missing session (what the transcript continuation then takes over).
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { settleProcessCleanups } from '../../src/runners/process.js';
import { createRunner } from '../../src/runners/define.js';
import { claude } from '../../src/runners/claude/index.js';
import { claudeProjectSlug } from '../../src/runners/claude/session-files.js';
import { isMissingSessionError } from '../../src/runners/registry.js';
import type { RunRequest } from '../../src/runners/types.js';
import { SessionFileSync } from '../../src/cluster/session-files.js';
import { createLogger } from '../../src/logger.js';
import { openStore } from '../../src/store/store.js';
import type { Store } from '../../src/store/types.js';
import { makeSandbox, waitFor, type Sandbox } from '../helpers/sandbox.js';
import { claudeCliEnv } from '../helpers/agentbridge.js';
import { executeTurn, type TurnDeps } from '../../src/conversation/turn.js';
import { LOST_SESSION_NOTICE } from '../../src/conversation/seeding.js';
import { startCore } from '../helpers/core.js';
import { localMessage } from '../helpers/fakes.js';
import { allText, lastUserText, sequence, startAnthropicModel, type AnthropicModel } from '../models/anthropic.js';

let model: AnthropicModel;
let sandboxes: Sandbox[] = [];
let store: Store;

beforeEach(async () => {
  model = await startAnthropicModel();
  store = openStore({ dbPath: ':memory:', logger: createLogger('silent') });
  await store.conversations.ensure({ id: 'local:general:t1', platform: 'local', channel: 'general' });
});

afterEach(async () => {
  await settleProcessCleanups(30_000);
  await model.close();
  await store.close();
  for (const sb of sandboxes) sb.cleanup();
  sandboxes = [];
});

/** One "host": its own HOME and CLAUDE_CONFIG_DIR. */
function host(): Sandbox {
  const sb = makeSandbox(claudeCliEnv(model.url));
  sandboxes.push(sb);
  return sb;
}

describe('claude session files across hosts', () => {
  it('a session saved on host A resumes on host B with its context; without the restore the resume fails as a missing session', async () => {
    const a = host();
    const b = host();
    const c = host();
    // The same absolute workdir on every host (project workspaces are prepared under the same path).
    const workdir = path.join(a.root, 'shared-work.dir');
    fs.mkdirSync(workdir);
    const runner = createRunner(claude);
    const sync = new SessionFileSync({ store, runners: { claude: runner }, logger: createLogger('silent') });
    const req = (sb: Sandbox, over: Partial<RunRequest>): RunRequest => ({
      prompt: '',
      cwd: workdir,
      env: sb.env,
      permissionMode: 'full',
      timeoutMs: 90_000,
      ...over,
    });
    const ref = (sb: Sandbox, sessionId: string) => ({ conversationId: 'local:general:t1', agent: 'claude', sessionId, workdir, env: sb.env });

    // Turn 1 on host A, with a tool call so the session holds tool use and result lines too.
    model.setResponder(
      sequence({ toolUse: { name: 'Bash', input: { command: 'echo marker-$((6*7))', description: 'marker' } } }, { text: 'noted the pelican' }),
    );
    const first = await runner.run(req(a, { prompt: 'remember the word pelican' }), () => {});
    expect(first.error).toBeUndefined();
    expect(first.ok).toBe(true);
    const sessionId = first.sessionId!;
    const saved = await sync.save(ref(a, sessionId));
    expect(saved.saved).toContain(`projects/${claudeProjectSlug(workdir)}/${sessionId}.jsonl`);
    expect(saved.skipped).toEqual([]);
    // The stored transcript holds the whole turn, its answer too (written by claude after its result line: the save waits for it).
    const stored = (await store.sessionFiles.load('local:general:t1', 'claude')).find((r) => r.path.endsWith(`${sessionId}.jsonl`))!;
    expect(stored.content).toContain('noted the pelican');

    // Host B has never seen the session: restore, then resume there.
    const transcriptB = path.join(b.home, '.claude', 'projects', claudeProjectSlug(workdir), `${sessionId}.jsonl`);
    expect(fs.existsSync(transcriptB)).toBe(false);
    const restored = await sync.restore(ref(b, sessionId));
    expect(restored.written).toContain(`projects/${claudeProjectSlug(workdir)}/${sessionId}.jsonl`);
    expect(fs.existsSync(transcriptB)).toBe(true);

    model.setResponder(undefined); // echo
    const before = model.mainRequests().length;
    const second = await runner.run(req(b, { prompt: 'which word?', resumeSessionId: sessionId }), () => {});
    expect(second.error).toBeUndefined();
    expect(second.ok).toBe(true);
    expect(second.sessionId).toBe(sessionId);
    const turn2 = model.mainRequests().slice(before);
    expect(turn2).toHaveLength(1);
    const context = allText(turn2[0]!);
    expect(context).toContain('remember the word pelican');
    expect(context).toContain('noted the pelican');
    expect(context).toContain('marker-42');
    expect(lastUserText(turn2[0]!)).toBe('which word?');
    // B's transcript grows past what was restored (claude appends turn 2 as it exits).
    await waitFor(() => fs.statSync(transcriptB).size > stored.size, 20_000, "host B's transcript to grow");

    // Host C, no restore: claude cannot find the session.
    const lost = await runner.run(req(c, { prompt: 'which word?', resumeSessionId: sessionId }), () => {});
    expect(lost.ok).toBe(false);
    expect(isMissingSessionError(lost.error, 'claude')).toBe(true);
  });

  it('through executeTurn: turn 1 on worker A, turn 2 on worker B resumes the same agent session (no transcript fallback)', async () => {
    const a = host();
    const b = host();
    const workdir = path.join(a.root, 'shared-work');
    fs.mkdirSync(workdir);
    const runner = createRunner(claude);
    const core = startCore({ claudeRunner: runner });
    try {
      const sync = new SessionFileSync({ store: core.store, runners: { claude: runner }, logger: createLogger('silent') });
      const worker = (sb: Sandbox): TurnDeps => ({
        store: core.store,
        inbox: core.inbox,
        runners: { claude: runner },
        adapters: () => core.adapter,
        outbound: core.outbound,
        defaults: { agent: 'claude', workdir, permissionMode: 'edit', turnTimeoutMs: 90_000 },
        env: sb.env,
        logger: createLogger('silent'),
        sessionFiles: sync,
      });
      const turn = async (deps: TurnDeps, text: string) => {
        const m = localMessage('x1', text);
        await core.inbox.accept(m);
        return executeTurn(deps, [m], new AbortController().signal);
      };
      expect(await turn(worker(a), 'remember the word heron')).toBe('ok');
      const sessionId = (await core.store.conversations.get('local:general:x1'))!.agentSessionId!;
      expect(sessionId).toBeTruthy();

      const before = model.mainRequests().length;
      expect(await turn(worker(b), 'which word?')).toBe('ok');
      // Resumed on B (same session, no "could not be restored" notice), with turn 1 in the model's context.
      expect((await core.store.conversations.get('local:general:x1'))!.agentSessionId).toBe(sessionId);
      const answers = core.adapter.texts('x1');
      expect(answers.at(-1)).toContain('echo: which word?');
      expect(answers.join('\n')).not.toContain(LOST_SESSION_NOTICE);
      const turn2 = model.mainRequests().slice(before);
      expect(turn2).toHaveLength(1);
      expect(allText(turn2[0]!)).toContain('remember the word heron');
      expect(fs.existsSync(path.join(b.home, '.claude', 'projects', claudeProjectSlug(workdir), `${sessionId}.jsonl`))).toBe(true);
    } finally {
      await core.close();
      core.removeDir();
    }
  });
});
