/**
 * Feedback for every accepted message (issue 12): 👀 as soon as the message is taken; while the
 * conversation waits for a turn slot, a progress message says how many are ahead and stays current;
 * the same message becomes the turn's progress message and then the answer. The elapsed time in a
 * progress message moves on while the agent is quiet.
 */
import { afterEach, describe, expect, it, vi } from 'vitest';
import { WaitLine } from '../../src/conversation/wait-line.js';
import { queuedText } from '../../src/conversation/queued-notice.js';
import { TurnOutput, ELAPSED_TICK_MS } from '../../src/conversation/turn-output.js';
import { startCore, type Core } from '../helpers/core.js';
import { localMessage, RecordingAdapter } from '../helpers/fakes.js';
import { waitFor } from '../helpers/sandbox.js';
import { pino } from 'pino';

const cores: Core[] = [];
afterEach(async () => {
  vi.useRealTimers();
  for (const c of cores.splice(0)) {
    await c.close();
    c.removeDir();
  }
});

describe('WaitLine', () => {
  it('tells each waiting conversation its place, and moves everyone up when one leaves', () => {
    const line = new WaitLine();
    const seen: Record<string, number[]> = { a: [], b: [], c: [] };
    for (const id of ['a', 'b', 'c']) line.join(id, (n) => seen[id]!.push(n));
    line.join('a', () => seen.a!.push(-1)); // joining twice changes nothing
    line.leave('a');
    line.leave('zzz');
    expect(seen).toEqual({ a: [0], b: [1, 0], c: [2, 1] });
    expect(line.size).toBe(2);
  });

  it('says the place in words', () => {
    expect(queuedText(0)).toContain('next in line');
    expect(queuedText(1)).toContain('1 conversation ahead of this one');
    expect(queuedText(3)).toContain('3 conversations ahead of this one');
  });
});

describe('feedback before the turn starts', () => {
  it('👀 at once; a queued message with the place in line becomes the progress message and then the answer', async () => {
    const core = startCore({ concurrency: 1 });
    cores.push(core);
    const { adapter, runner, router } = core;
    await router.accept(localMessage('q1', 'first'));
    await runner.waitRuns(1);
    const second = localMessage('q2', 'second');
    const third = localMessage('q3', 'third');
    await router.accept(second);
    await router.accept(third);
    // 👀 on both waiting messages, before any turn of theirs ran.
    await waitFor(() => adapter.calls.filter((c) => c.op === 'react' && c.state === 'working').length >= 3 || undefined, 5_000, '👀 ×3');
    expect(runner.runs).toHaveLength(1);
    const queuedRef = (thread: string) => adapter.calls.find((c) => c.op === 'post' && c.target.thread === thread && c.text?.startsWith('⏳ Queued'))?.ref;
    await waitFor(() => queuedRef('q2') && queuedRef('q3'), 5_000, 'the queued messages');
    expect(adapter.messages.get(queuedRef('q2')!)).toBe(queuedText(0));
    expect(adapter.messages.get(queuedRef('q3')!)).toBe(queuedText(1));

    runner.runs[0]!.finish({ text: 'answer one' });
    await runner.waitRuns(2);
    // q3 moved up (the update is throttled to one per 5 s, the first goes at once).
    await waitFor(() => (adapter.messages.get(queuedRef('q3')!) === queuedText(0) ? true : undefined), 5_000, 'q3 next in line');
    // q2's queued message is now its progress message, then its answer: one message in the thread.
    await waitFor(() => (adapter.messages.get(queuedRef('q2')!)?.startsWith('⏳ Working') ? true : undefined), 5_000, 'q2 working');
    runner.runs[1]!.finish({ text: 'answer two' });
    await waitFor(() => (adapter.texts('q2')[0] === 'answer two' ? true : undefined), 5_000, 'answer two');
    expect(adapter.texts('q2')).toEqual(['answer two']);
    await runner.waitRuns(3);
    runner.runs[2]!.finish({ text: 'answer three' });
    await waitFor(() => (adapter.texts('q3')[0] === 'answer three' ? true : undefined), 5_000, 'answer three');
    expect(adapter.texts('q3')).toEqual(['answer three']);
    // A conversation that found a slot free got no queued message.
    expect(adapter.calls.filter((c) => c.target.thread === 'q1' && c.text?.startsWith('⏳ Queued'))).toEqual([]);
  });
});

describe('the elapsed time in the progress message', () => {
  it(`moves on every ${ELAPSED_TICK_MS / 1000} s while nothing else changes, and stops with the turn`, async () => {
    vi.useFakeTimers({ toFake: ['setInterval', 'clearInterval', 'setTimeout', 'clearTimeout', 'Date'] });
    const adapter = new RecordingAdapter();
    const output = new TurnOutput({
      adapter,
      target: { platform: 'local', channel: 'general', thread: 't' },
      conversationId: 'local:general:t',
      store: { postedMessages: { record: () => {} } as never },
      logger: pino({ level: 'silent' }),
      messageRefs: [],
    });
    output.begin();
    await vi.advanceTimersByTimeAsync(0);
    const ref = adapter.calls.find((c) => c.op === 'post')!.ref!;
    expect(adapter.messages.get(ref)).toContain('elapsed 0 s');
    await vi.advanceTimersByTimeAsync(ELAPSED_TICK_MS);
    expect(adapter.messages.get(ref)).toContain('elapsed 5 s');
    await vi.advanceTimersByTimeAsync(ELAPSED_TICK_MS);
    expect(adapter.messages.get(ref)).toContain('elapsed 10 s');
    await output.settle();
    const edits = adapter.calls.filter((c) => c.op === 'edit').length;
    await vi.advanceTimersByTimeAsync(ELAPSED_TICK_MS * 3);
    expect(adapter.calls.filter((c) => c.op === 'edit')).toHaveLength(edits);
  });
});
