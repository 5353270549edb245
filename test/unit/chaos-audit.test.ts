/**
 * The chaos suite's own bookkeeping (test/chaos/audit.ts, prng.ts) and the Slack twin's fault
 * rules: if these were wrong, the chaos scenarios could pass while agentbridge loses or repeats
 * messages.
 */
import { describe, expect, it } from 'vitest';
import { answerFor, auditAnswers, auditContext, tokenFor, tokensIn, threadOf } from '../chaos/audit.js';
import { makePrng } from '../chaos/prng.js';
import type { RecordedRequest } from '../models/anthropic.js';
import { lastUserText } from '../models/anthropic.js';
import { FaultRules } from '../twins/slack/fault-rules.js';

const req = (index: number, messages: Array<{ role: string; text: string }>): RecordedRequest => ({
  index,
  path: '/v1/messages',
  headers: {},
  stream: true,
  main: true,
  body: { messages: messages.map((m) => ({ role: m.role, content: [{ type: 'text', text: m.text }] })) },
});

describe('chaos audit', () => {
  const a1 = tokenFor(1, 0);
  const a2 = tokenFor(1, 3);
  const b1 = tokenFor(2, 1);

  it('tokens: shape, thread and the scripted answer', () => {
    expect(a1).toBe('tok-t001-m0000');
    expect(threadOf(b1)).toBe(2);
    expect(tokensIn(`[x]: please ${a1}\n\n[x]: and ${a2}`)).toEqual([a1, a2]);
    expect(answerFor(`please ${a1} and ${a2}`)).toBe(`answered ${a1} ${a2}`);
  });

  it('answers: finds lost, duplicated, reordered and misplaced messages; a clean run is clean', () => {
    const accepted = new Map([
      ['A', [a1, a2]],
      ['B', [b1]],
    ]);
    expect(
      auditAnswers(
        accepted,
        new Map([
          ['A', [`answered ${a1}`, `answered ${a2}`]],
          ['B', [`answered ${b1}`]],
        ]),
      ),
    ).toEqual({
      messages: 3,
      lost: [],
      duplicated: [],
      reordered: [],
      misplaced: [],
    });
    const bad = auditAnswers(
      accepted,
      new Map([
        ['A', [`answered ${a2}`, `answered ${a1} ${b1}`, `answered ${a1}`]],
        ['B', []],
      ]),
    );
    expect(bad.lost).toEqual([]);
    expect(bad.duplicated).toEqual([{ token: a1, answers: 2 }]);
    expect(bad.reordered).toEqual([{ thread: 'A', order: [a2, a1] }]);
    expect(bad.misplaced).toEqual([b1]);
    expect(auditAnswers(accepted, new Map([['A', [`answered ${a1} ${a2}`]]])).lost).toEqual([b1]);
  });

  it('context: a prompt twice in one request, or not exactly once in the last request of its thread', () => {
    const accepted = new Map([['A', [a1, a2]]]);
    const clean = [
      req(0, [{ role: 'user', text: a1 }]),
      req(1, [
        { role: 'user', text: a1 },
        { role: 'assistant', text: `answered ${a1}` },
        { role: 'user', text: a2 },
      ]),
    ];
    expect(auditContext(accepted, clean, lastUserText)).toMatchObject({ repeatedInSomeRequest: [], lastRequestWrong: [], promptedMoreThanOnce: 0 });
    // The rerun resumed a session that already held the prompt: it is in the context twice.
    const twice = [
      req(0, [{ role: 'user', text: a1 }]),
      req(1, [
        { role: 'user', text: a1 },
        { role: 'user', text: a1 },
        { role: 'user', text: a2 },
      ]),
    ];
    const audit = auditContext(accepted, twice, lastUserText);
    expect(audit.repeatedInSomeRequest).toEqual([{ token: a1, times: 2, request: 1 }]);
    expect(audit.lastRequestWrong).toEqual([{ token: a1, times: 2 }]);
    // Lost from the context: the last request lacks an earlier prompt.
    expect(auditContext(accepted, [req(0, [{ role: 'user', text: a1 }]), req(1, [{ role: 'user', text: a2 }])], lastUserText).lastRequestWrong).toEqual([
      { token: a1, times: 0 },
    ]);
  });
});

describe('chaos prng', () => {
  it('is deterministic per seed and stream, and stays in range', () => {
    const a = makePrng(42, 'x');
    const b = makePrng(42, 'x');
    const seqA = Array.from({ length: 20 }, () => a.int(0, 9));
    expect(Array.from({ length: 20 }, () => b.int(0, 9))).toEqual(seqA);
    expect(seqA.every((n) => n >= 0 && n <= 9)).toBe(true);
    expect(makePrng(42, 'y').int(0, 1_000_000)).not.toBe(makePrng(42, 'x').int(0, 1_000_000));
    expect(makePrng(7).distinct(5, 1, 5)).toEqual([1, 2, 3, 4, 5]);
    expect(() => makePrng(7).distinct(6, 1, 5)).toThrow();
  });
});

describe('Slack twin fault rules', () => {
  it('before / after, matching, counting down', () => {
    const rules = new FaultRules();
    rules.add({ method: 'chat.postMessage', status: 500, when: 'after', match: (p) => p.text === 'answer' });
    rules.add({ method: 'chat.update', status: 429, retryAfter: 3, times: 2 });
    expect(rules.take('chat.postMessage', { text: 'progress' }, 'after')).toBeUndefined();
    expect(rules.take('chat.postMessage', { text: 'answer' }, 'before')).toBeUndefined();
    expect(rules.take('chat.postMessage', { text: 'answer' }, 'after')).toEqual({ status: 500, body: { ok: false, error: 'internal_error' } });
    expect(rules.take('chat.postMessage', { text: 'answer' }, 'after')).toBeUndefined();
    expect(rules.take('chat.update', {}, 'before')?.headers).toEqual({ 'retry-after': '3' });
    expect(rules.pending).toBe(1);
    rules.take('chat.update', {}, 'before');
    expect(rules.pending).toBe(0);
    expect(rules.applied.map((a) => `${a.method} ${a.status} ${a.when}`)).toEqual([
      'chat.postMessage 500 after',
      'chat.update 429 before',
      'chat.update 429 before',
    ]);
  });
});
