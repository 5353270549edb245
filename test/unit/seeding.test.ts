import { describe, expect, it } from 'vitest';
import { boundedTranscript, seedNotice, seedRecord } from '../../src/conversation/seeding.js';
import type { SessionEntryRow } from '../../src/store/types.js';

const entry = (id: number, role: SessionEntryRow['role'], text: string, author: string | null = null): SessionEntryRow => ({
  id,
  conversationId: 'c',
  role,
  author,
  text,
  agent: 'claude',
  model: null,
  usage: null,
  costUsd: null,
  createdAt: id,
});

describe('seed context', () => {
  it('keeps the newest entries within the bound, in order, and counts what was cut', () => {
    const entries = Array.from({ length: 10 }, (_, i) => entry(i + 1, i % 2 ? 'assistant' : 'user', `${i}:${'x'.repeat(90)}`, i % 2 ? null : 'ann'));
    const { text, included } = boundedTranscript(entries, 'origin', 400);
    expect(included).toBe(3);
    expect(text.length).toBeLessThanOrEqual(400);
    expect(text.indexOf('7:')).toBeLessThan(text.indexOf('8:'));
    expect(text).toContain('[ann]: 8:');
    expect(text).not.toContain('6:');
    const plan = { mode: 'transcript' as const, from: 'local:c:1', context: text, included, cut: 7 };
    expect(seedNotice(plan)).toBe('ℹ️ This thread starts from the earlier conversation; its 7 oldest entries were left out to fit.');
    expect(seedRecord(plan)).toBe('Thread seeded from local:c:1: 3 earlier entries given as context, 7 older left out.');
  });

  it('always includes the origin message, shortened if it alone is too long', () => {
    const { text, included } = boundedTranscript([entry(1, 'assistant', 'y'.repeat(1000))], 'unused', 100);
    expect(included).toBe(1);
    expect(text.length).toBeLessThanOrEqual(101);
    expect(boundedTranscript([], 'the post', 100)).toEqual({ text: '[assistant]: the post', included: 0 });
  });
});
