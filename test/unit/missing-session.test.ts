import { describe, expect, it } from 'vitest';
import { isMissingSessionError } from '../../src/runners/registry.js';

describe('missing agent session errors', () => {
  it('recognises what each CLI says when the session to resume is gone (verified messages)', () => {
    for (const message of [
      'No conversation found with session ID: 2b0c7f55-0000-4000-8000-000000000000',
      'No message found with message.uuid of: 00000000-0000-4000-8000-000000000000',
      'Gemini CLI rejected the input or the session to resume: Error resuming session: No previous sessions found for this project.',
      'codex exit code 1: Error: thread/resume: thread/resume failed: no rollout found for thread id 0199a213 (code -32600)',
    ]) {
      expect(isMissingSessionError({ kind: 'api_error', message })).toBe(true);
      expect(isMissingSessionError({ kind: 'crashed', message })).toBe(true);
    }
  });

  it('does not treat other failures as a lost session', () => {
    expect(isMissingSessionError(undefined)).toBe(false);
    expect(isMissingSessionError({ kind: 'usage_limit', message: 'API Error: Request rejected (429)' })).toBe(false);
    expect(isMissingSessionError({ kind: 'stopped', message: 'No conversation found with session ID: x' })).toBe(false);
    expect(isMissingSessionError({ kind: 'api_error', message: 'API Error: 500 Internal server error' })).toBe(false);
  });
});
