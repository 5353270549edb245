/**
 * The turn's hook for cluster mode's session file sync (`TurnDeps.sessionFiles`,
 * src/conversation/turn.ts): restore before a turn that resumes the conversation's stored agent
 * session (the same agent), not before a fresh one; save after the commit, finished before the
 * turn returns; a failing sync never fails the turn.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { executeTurn, type TurnDeps } from '../../src/conversation/turn.js';
import type { AgentSessionFiles, AgentSessionRef } from '../../src/conversation/session-files.js';
import { createLogger } from '../../src/logger.js';
import { startCore, type Core } from '../helpers/core.js';
import { localMessage } from '../helpers/fakes.js';

let core: Core | undefined;
afterEach(async () => {
  await core?.close();
  core?.removeDir();
  core = undefined;
});

/** Records calls; `save` resolves only after a tick, so a turn that does not wait for it is caught. */
class RecordingSync implements AgentSessionFiles {
  calls: Array<{ op: 'restore' | 'save' | 'saved'; ref: AgentSessionRef }> = [];
  fail = false;
  async restore(ref: AgentSessionRef) {
    this.calls.push({ op: 'restore', ref });
    if (this.fail) throw new Error('restore broke');
  }
  async save(ref: AgentSessionRef) {
    this.calls.push({ op: 'save', ref });
    await new Promise((r) => setTimeout(r, 30));
    if (this.fail) throw new Error('save broke');
    this.calls.push({ op: 'saved', ref });
  }
}

function deps(c: Core, sync: AgentSessionFiles): TurnDeps {
  return {
    store: c.store,
    inbox: c.inbox,
    runners: { claude: c.runner },
    adapters: () => c.adapter,
    outbound: c.outbound,
    defaults: { agent: 'claude', workdir: c.dir, permissionMode: 'edit', turnTimeoutMs: 60_000 },
    env: { HOME: '/home/worker' },
    logger: createLogger('silent'),
    sessionFiles: sync,
  };
}

async function turn(c: Core, d: TurnDeps, text: string) {
  const m = localMessage('t1', text);
  await c.inbox.accept(m);
  return executeTurn(d, [m], new AbortController().signal);
}

describe('session files in a turn', () => {
  it('saves after the first turn (no restore), restores the stored session before the next and saves again', async () => {
    core = startCore();
    const c = core;
    const sync = new RecordingSync();
    const d = deps(c, sync);
    c.runner.auto = () => ({ text: 'ok', sessionId: 'sess-a' });

    expect(await turn(c, d, 'first')).toBe('ok');
    // No stored session yet: nothing restored; the save finished before the turn returned.
    expect(sync.calls.map((x) => x.op)).toEqual(['save', 'saved']);
    expect(sync.calls[0]!.ref).toEqual({
      conversationId: 'local:general:t1',
      agent: 'claude',
      sessionId: 'sess-a',
      workdir: c.dir,
      env: { HOME: '/home/worker' },
    });
    // The session id was committed before the save started.
    expect((await c.store.conversations.get('local:general:t1'))?.agentSessionId).toBe('sess-a');

    sync.calls = [];
    expect(await turn(c, d, 'second')).toBe('ok');
    expect(sync.calls.map((x) => x.op)).toEqual(['restore', 'save', 'saved']);
    expect(sync.calls[0]!.ref).toMatchObject({ conversationId: 'local:general:t1', agent: 'claude', sessionId: 'sess-a', workdir: c.dir });
    // The restore came before the agent ran with --resume.
    expect(c.runner.runs.at(-1)!.req.resumeSessionId).toBe('sess-a');
  });

  it('a failing restore and save do not fail the turn', async () => {
    core = startCore();
    const c = core;
    const sync = new RecordingSync();
    const d = deps(c, sync);
    c.runner.auto = () => ({ text: 'fine', sessionId: 'sess-b' });
    expect(await turn(c, d, 'first')).toBe('ok');
    sync.fail = true;
    expect(await turn(c, d, 'second')).toBe('ok');
    expect(sync.calls.map((x) => x.op)).toEqual(['save', 'saved', 'restore', 'save']);
    expect(c.adapter.texts('t1').at(-1)).toContain('fine');
  });

  it('a turn whose agent returns no session id saves nothing', async () => {
    core = startCore();
    const c = core;
    const sync = new RecordingSync();
    c.runner.auto = () => ({ text: 'no session' });
    expect(await turn(c, deps(c, sync), 'first')).toBe('ok');
    expect(sync.calls).toEqual([]);
  });
});
