/**
 * A fake runner in one folder, as the README's "Extending" section describes: its definition
 * (this file) and its "CLI" (./echo-agent.mjs). Used by test/unit/runner-registry.test.ts, which
 * registers it with `registerRunner` — no other file of agentbridge knows it.
 */
import { defineRunner, stoppedError, type EventParser, type OutcomeContext } from '../../src/runners/define.js';
import { classifyErrorText, runError } from '../../src/runners/errors.js';
import type { RunEvent, RunResult } from '../../src/runners/types.js';

/** Reads echo-agent's JSON lines. */
export class EchoParser implements EventParser {
  text = '';
  sessionId?: string;
  done = false;
  error?: string;
  tokens?: number;

  push(line: string): RunEvent[] {
    let ev: { type?: string; id?: string; text?: string; message?: string; tokens?: number };
    try {
      ev = JSON.parse(line) as typeof ev;
    } catch {
      return [];
    }
    switch (ev.type) {
      case 'session':
        this.sessionId = ev.id;
        return ev.id ? [{ type: 'session', sessionId: ev.id }] : [];
      case 'text':
        this.text += ev.text ?? '';
        return [{ type: 'text', delta: ev.text ?? '' }];
      case 'error':
        this.error = ev.message ?? 'unknown error';
        return [];
      case 'done':
        this.done = true;
        this.tokens = ev.tokens;
        return [{ type: 'usage', usage: { inputTokens: ev.tokens } }];
      default:
        return [];
    }
  }
}

function outcome(p: EchoParser, { done, req }: OutcomeContext): RunResult {
  const base = { text: p.text, exitCode: done.exitCode, ...(p.sessionId ? { sessionId: p.sessionId } : {}) };
  const stopped = stoppedError(done, req.timeoutMs);
  if (stopped) return { ...base, ok: false, error: stopped };
  if (p.done && done.exitCode === 0) return { ...base, ok: true, ...(p.tokens !== undefined ? { usage: { inputTokens: p.tokens } } : {}) };
  const message = p.error ?? (done.stderr.trim() || `echo-agent exit code ${done.exitCode}`);
  return { ...base, ok: false, error: runError(classifyErrorText(message), message) };
}

export const echo = defineRunner({
  name: 'echo',
  displayName: 'Echo Agent',
  command: 'echo-agent',
  binVariable: 'ECHO_AGENT_BIN',
  capabilities: { fork: false, resumeAt: false, systemPrompt: false, mcp: false },
  args: (req) => (req.resumeSessionId ? ['--resume', req.resumeSessionId] : []),
  parser: () => new EchoParser(),
  outcome,
  auth: (env) => (env['ECHO_AGENT_KEY'] ? { authenticated: true, detail: 'ECHO_AGENT_KEY is set' } : { authenticated: false, detail: 'no ECHO_AGENT_KEY' }),
});
