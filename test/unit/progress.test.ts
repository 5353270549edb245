import { describe, it, expect } from 'vitest';
import { formatElapsed, MAX_STEPS, MAX_TAIL_CHARS, ProgressView } from '../../src/conversation/progress.js';

function view(maxChars?: number) {
  let t = 1_000_000;
  const v = new ProgressView({ now: () => t, ...(maxChars === undefined ? {} : { maxChars }) });
  return { v, advance: (ms: number) => (t += ms) };
}

describe('ProgressView', () => {
  it('starts with the header only, elapsed from the injected clock', () => {
    const { v, advance } = view();
    expect(v.render()).toBe('⏳ Working… (elapsed 0 s)');
    advance(12_400);
    expect(v.render()).toBe('⏳ Working… (elapsed 12 s)');
    advance(60_000);
    expect(v.render()).toBe('⏳ Working… (elapsed 1 min 12 s)');
  });

  it('formats elapsed time', () => {
    expect(formatElapsed(-5)).toBe('0 s');
    expect(formatElapsed(59_999)).toBe('59 s');
    expect(formatElapsed(60_000)).toBe('1 min 0 s');
    expect(formatElapsed(3_725_000)).toBe('1 h 2 min');
  });

  it('shows tool steps as running, done and failed', () => {
    const { v, advance } = view();
    expect(v.apply({ type: 'tool_start', id: 't1', name: 'Bash', summary: 'ls -la' })).toBe(true);
    expect(v.apply({ type: 'tool_start', id: 't2', name: 'Edit', summary: 'src/x.ts' })).toBe(true);
    expect(v.apply({ type: 'tool_end', id: 't1', name: 'Bash', ok: true })).toBe(true);
    expect(v.apply({ type: 'tool_start', id: 't3', name: 'Bash', summary: 'npm test' })).toBe(true);
    expect(v.apply({ type: 'tool_end', id: 't3', name: 'Bash', ok: false, summary: 'exit 1' })).toBe(true);
    advance(3000);
    expect(v.render()).toBe(['⏳ Working… (elapsed 3 s)', '✓ Bash: ls -la', '… Edit: src/x.ts', '✗ Bash: npm test'].join('\n'));
  });

  it('keeps only the last steps, counting the earlier ones', () => {
    const { v } = view();
    for (let i = 1; i <= 8; i++) {
      v.apply({ type: 'tool_start', id: `t${i}`, name: 'Read', summary: `f${i}` });
      v.apply({ type: 'tool_end', id: `t${i}`, name: 'Read', ok: true });
    }
    const lines = v.render().split('\n');
    expect(lines[1]).toBe('⋯ 3 earlier steps');
    expect(lines.slice(2)).toEqual(['✓ Read: f4', '✓ Read: f5', '✓ Read: f6', '✓ Read: f7', '✓ Read: f8']);
    expect(lines.filter((l) => l.startsWith('✓'))).toHaveLength(MAX_STEPS);
  });

  it('shows a step that ended without a start, and flattens long or multi-line summaries', () => {
    const { v } = view();
    v.apply({ type: 'tool_end', id: 'x', name: 'Grep', ok: true, summary: 'foo' });
    v.apply({ type: 'tool_start', id: 'y', name: 'Bash', summary: 'echo a\necho b' });
    v.apply({ type: 'tool_start', id: 'z', name: 'Write', summary: 'p'.repeat(500) });
    v.apply({ type: 'tool_start', id: 'w', name: 'Task', summary: '' });
    const lines = v.render().split('\n');
    expect(lines[1]).toBe('✓ Grep: foo');
    expect(lines[2]).toBe('… Bash: echo a echo b');
    expect(lines[3]!.length).toBeLessThanOrEqual(130);
    expect(lines[3]!.endsWith('…')).toBe(true);
    expect(lines[4]).toBe('… Task');
  });

  it('shows a tail of the streamed answer', () => {
    const { v } = view();
    expect(v.apply({ type: 'text', delta: 'Hello ' })).toBe(true);
    expect(v.apply({ type: 'text', delta: 'world.' })).toBe(true);
    expect(v.render()).toBe('⏳ Working… (elapsed 0 s)\n\nHello world.');
    for (let i = 0; i < 200; i++) v.apply({ type: 'text', delta: `word${i} ` });
    const tail = v.render().split('\n\n')[1]!;
    expect(tail.length).toBeLessThanOrEqual(MAX_TAIL_CHARS);
    expect(tail.startsWith('…word')).toBe(true); // cut at a word
    expect(tail.endsWith('word199')).toBe(true);
  });

  it('reports no change for events that do not change the text', () => {
    const { v } = view();
    expect(v.apply({ type: 'session', sessionId: 's1' })).toBe(false);
    expect(v.apply({ type: 'usage', usage: { inputTokens: 10 } })).toBe(false);
    expect(v.apply({ type: 'text', delta: '' })).toBe(false);
    expect(v.apply({ type: 'text', delta: '   ' })).toBe(false); // whitespace only shows nothing
    v.apply({ type: 'tool_start', id: 't', name: 'Bash', summary: 'ls' });
    expect(v.apply({ type: 'tool_start', id: 't', name: 'Bash', summary: 'ls' })).toBe(false);
    expect(v.apply({ type: 'warning', message: 'Reconnecting…' })).toBe(true);
    expect(v.apply({ type: 'warning', message: 'Reconnecting…' })).toBe(false);
    expect(v.render()).toContain('⚠ Reconnecting…');
  });

  it('never exceeds maxChars, dropping the tail and then old steps first', () => {
    for (const max of [1, 10, 30, 60, 100, 200, 400, 2000]) {
      const { v } = view(max);
      for (let i = 0; i < 7; i++) v.apply({ type: 'tool_start', id: `t${i}`, name: 'Bash', summary: `cmd ${i} `.repeat(10) });
      v.apply({ type: 'warning', message: 'w'.repeat(300) });
      v.apply({ type: 'text', delta: 'answer '.repeat(200) });
      expect(v.render().length, `max ${max}`).toBeLessThanOrEqual(max);
      if (max >= 30) expect(v.render().startsWith('⏳ Working…')).toBe(true);
    }
    const { v } = view(200);
    for (let i = 0; i < 3; i++) v.apply({ type: 'tool_start', id: `t${i}`, name: 'Bash', summary: `step${i}` });
    v.apply({ type: 'text', delta: 'x '.repeat(500) });
    const text = v.render();
    expect(text).toContain('… Bash: step2');
    expect(text.split('\n\n')[1]!.startsWith('…x')).toBe(true);
    expect(text.length).toBeLessThanOrEqual(200);
  });

  it('does not split surrogate pairs in the tail', () => {
    const { v } = view();
    v.apply({ type: 'text', delta: '😀'.repeat(1000) });
    const tail = v.render().split('\n\n')[1]!;
    expect(/[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/.test(tail)).toBe(false);
  });

  it('rejects a bad maxChars', () => {
    expect(() => new ProgressView({ now: () => 0, maxChars: 0 })).toThrow(RangeError);
  });
});
