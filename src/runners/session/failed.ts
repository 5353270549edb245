/** A live session that could not be opened (no executable, a runner bug): every turn reports the error. */
import type { AgentName } from '../../core/agents.js';
import type { RunError } from '../results.js';
import type { AgentSession, SessionOptions } from './types.js';

/** A dead {@link AgentSession} whose `send` resolves with `error` at once. */
export function failedSession(agent: AgentName, options: SessionOptions, error: RunError): AgentSession {
  return {
    agent,
    sessionId: undefined,
    options,
    alive: false,
    busy: false,
    pid: undefined,
    send: () => Promise.resolve({ ok: false, text: '', exitCode: null, error }),
    steer: () => Promise.resolve('not-running'),
    close: () => Promise.resolve(),
  };
}
