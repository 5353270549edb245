import { describe, expect, it } from 'vitest';
import { restartAction } from '../../src/cli/start.js';

describe('how /agent restart brings agentbridge back', () => {
  it('auto: exit as pid 1, in place in a terminal, else a detached spawn; explicit modes are kept', () => {
    expect(restartAction('auto', { pid: 1, stdinIsTTY: true })).toBe('exit');
    expect(restartAction('auto', { pid: 4242, stdinIsTTY: true })).toBe('in-place');
    expect(restartAction('auto', { pid: 4242, stdinIsTTY: false })).toBe('spawn');
    expect(restartAction('spawn', { pid: 4242, stdinIsTTY: true })).toBe('spawn');
    expect(restartAction('exit', { pid: 4242, stdinIsTTY: true })).toBe('exit');
  });
});
