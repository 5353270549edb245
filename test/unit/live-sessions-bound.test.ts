/**
 * The live-session bound (AGENTBRIDGE_MAX_LIVE_SESSIONS) holds for processes: a new session is
 * opened only after the least recently used one closed for it has exited. Found by
 * test/e2e/interactive-local.test.ts: with the bound 1, the new `codex app-server` started while
 * the evicted one was still exiting (~0.4 s of two processes).
 */
import { describe, expect, it } from 'vitest';
import { LiveSessions } from '../../src/conversation/live-sessions.js';
import { collectingLogger } from '../helpers/core.js';
import { ManualSessionRunner, type ManualSession } from '../helpers/fake-session.js';

/** A runner whose sessions take until `exit()` to finish closing (like a process that exits later). */
class SlowCloseRunner extends ManualSessionRunner {
  readonly exits: Array<() => void> = [];
  override openSession(options: Parameters<ManualSessionRunner['openSession']>[0]) {
    const s = super.openSession(options) as ManualSession;
    const close = s.close.bind(s);
    s.close = async () => {
      await close();
      await new Promise<void>((r) => this.exits.push(r));
    };
    return s;
  }
}

const want = (id: string) => ({ agent: 'claude', fresh: false, options: { cwd: '/w', env: {}, permissionMode: 'ask' as const, resumeSessionId: id } });

/** Stops `sessions`, letting every closing session exit. */
async function stopAll(sessions: LiveSessions, runner: SlowCloseRunner): Promise<void> {
  const stopped = sessions.stop();
  await new Promise((r) => setImmediate(r));
  runner.exits.forEach((e) => e());
  await stopped;
}

describe('LiveSessions bound', () => {
  it('opens the new session only after the evicted one has exited', async () => {
    const runner = new SlowCloseRunner();
    const sessions = new LiveSessions({ idleMs: 60_000, max: 1, logger: collectingLogger().logger });
    const a = await sessions.acquire('a', runner, want('x'));
    sessions.release('a', a);
    expect(runner.sessions).toHaveLength(1);

    const opening = sessions.acquire('b', runner, want('y'));
    // A is closing (evicted for B), but its process has not exited: B is not started yet.
    await new Promise((r) => setImmediate(r));
    expect(runner.sessions[0]!.closed).toBe(true);
    expect(runner.sessions).toHaveLength(1);
    expect(runner.exits).toHaveLength(1);

    runner.exits[0]!();
    const b = await opening;
    expect(runner.sessions).toHaveLength(2);
    expect(b).toBe(runner.sessions[1]);
    expect(sessions.size).toBe(1);
    sessions.release('b', b);
    await stopAll(sessions, runner);
  });

  it('reuses the live session of the conversation at once (no close, no wait)', async () => {
    const runner = new SlowCloseRunner();
    const sessions = new LiveSessions({ idleMs: 60_000, max: 1, logger: collectingLogger().logger });
    const a = await sessions.acquire('a', runner, want('x'));
    // ManualSession keeps the resumed id: the same conversation wants it again.
    sessions.release('a', a);
    expect(await sessions.acquire('a', runner, want(a.sessionId!))).toBe(a);
    expect(runner.sessions).toHaveLength(1);
    sessions.release('a', a);
    await stopAll(sessions, runner);
  });
});
