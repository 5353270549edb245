/**
 * A live session's tool grant (src/conversation/live-sessions.ts): given when its process opens,
 * held for its lifetime, revoked when it closes — and revoked at once when the process cannot be
 * opened (no process holds the token).
 */
import { describe, expect, it } from 'vitest';
import { LiveSessions } from '../../src/conversation/live-sessions.js';
import { collectingLogger } from '../helpers/core.js';
import { ManualSessionRunner } from '../helpers/fake-session.js';

const want = { agent: 'claude', fresh: false, options: { cwd: '/w', env: {}, permissionMode: 'ask' as const } };

function grants() {
  const log: string[] = [];
  let n = 0;
  const grant = () => {
    const id = `g${++n}`;
    log.push(`grant ${id}`);
    return { mcp: { url: 'http://127.0.0.1:9/mcp', token: id }, revoke: () => log.push(`revoke ${id}`) };
  };
  return { log, grant };
}

describe('LiveSessions tool grants', () => {
  it('one grant per session process, kept across its turns, revoked when it closes', async () => {
    const runner = new ManualSessionRunner();
    const sessions = new LiveSessions({ idleMs: 60_000, max: 4, logger: collectingLogger().logger });
    const { log, grant } = grants();
    const s = await sessions.acquire('a', runner, want, grant);
    sessions.release('a', s);
    expect(await sessions.acquire('a', runner, { ...want, options: { ...want.options, resumeSessionId: s.sessionId } }, grant)).toBe(s);
    sessions.release('a', s);
    expect(log).toEqual(['grant g1']);
    await sessions.stop();
    expect(log).toEqual(['grant g1', 'revoke g1']);
  });

  it('revokes the grant when the session process cannot be opened', async () => {
    const runner = new ManualSessionRunner();
    runner.openSession = () => {
      throw new Error('spawn failed');
    };
    const sessions = new LiveSessions({ idleMs: 60_000, max: 4, logger: collectingLogger().logger });
    const { log, grant } = grants();
    await expect(sessions.acquire('a', runner, want, grant)).rejects.toThrow(/spawn failed/);
    expect(log).toEqual(['grant g1', 'revoke g1']);
    expect(sessions.size).toBe(0);
    await sessions.stop();
  });
});
