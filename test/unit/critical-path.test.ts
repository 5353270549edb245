/**
 * The turn's critical path (issue 16): the agent starts right after the inbox write, whatever the
 * platform does with the 👀 reaction and the progress post; the answer goes out before ✅; a
 * progress post still waiting in the budget when the answer is ready is dropped, one already on
 * the wire is waited for and replaced by the answer.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { DroppedCall } from '../../src/platforms/budget.js';
import type { PostOptions, ReactionState } from '../../src/platforms/types.js';
import type { ReplyTarget } from '../../src/core/messages.js';
import { startCore, type Core } from '../helpers/core.js';
import { localMessage } from '../helpers/fakes.js';
import { waitFor } from '../helpers/sandbox.js';

const cores: Core[] = [];
afterEach(async () => {
  for (const c of cores.splice(0)) {
    await c.close();
    c.removeDir();
  }
});

function gate() {
  let open!: () => void;
  const promise = new Promise<void>((r) => (open = r));
  return { promise, open };
}

function world() {
  const core = startCore();
  cores.push(core);
  return core;
}

describe('the turn critical path', () => {
  it('the agent starts while the 👀 reaction and the progress post are still on their way', async () => {
    const w = world();
    const platform = gate();
    const post = w.adapter.post.bind(w.adapter);
    const react = w.adapter.react.bind(w.adapter);
    w.adapter.post = async (t: ReplyTarget, text: string, o?: PostOptions) => {
      if (o?.decoration) await platform.promise;
      return post(t, text, o);
    };
    w.adapter.react = async (t: ReplyTarget, ref: string, s: ReactionState) => {
      await platform.promise;
      return react(t, ref, s);
    };
    await w.router.accept(localMessage('t1', 'hello'));
    await w.runner.waitRuns(1); // would hang if the turn waited for the platform
    expect(w.adapter.calls.filter((c) => c.op === 'post' || c.op === 'react')).toEqual([]);
    platform.open();
    await waitFor(() => w.adapter.calls.find((c) => c.op === 'post'), 5_000, 'the progress message');
    w.runner.runs[0]!.finish({ text: 'the answer' });
    await waitFor(() => (w.adapter.texts('t1')[0] === 'the answer' ? true : undefined), 5_000, 'the answer in the progress message');
    expect(w.adapter.texts('t1')).toEqual(['the answer']);
  });

  it('the answer is delivered before the ✅ reaction is asked for', async () => {
    const w = world();
    const order: string[] = [];
    const edit = w.adapter.edit.bind(w.adapter);
    w.adapter.edit = async (t, ref, text, o) => {
      if (!o?.decoration) order.push(`answer:${text}`);
      return edit(t, ref, text, o);
    };
    const react = w.adapter.react.bind(w.adapter);
    w.adapter.react = async (t, ref, s) => {
      order.push(`react:${s}`);
      return react(t, ref, s);
    };
    await w.router.accept(localMessage('t2', 'hello'));
    await w.runner.waitRuns(1);
    await waitFor(() => w.adapter.calls.find((c) => c.op === 'post'), 5_000, 'the progress message');
    w.runner.runs[0]!.finish({ text: 'done it' });
    await waitFor(() => (order.includes('react:done') ? true : undefined), 5_000, 'the ✅ reaction');
    expect(order).toEqual(['react:working', 'answer:done it', 'react:done']);
  });

  it('a progress post still waiting when the answer is ready is dropped: the answer is posted once, as a new message', async () => {
    const w = world();
    const post = w.adapter.post.bind(w.adapter);
    let waiting = 0;
    w.adapter.post = (t: ReplyTarget, text: string, o?: PostOptions) => {
      const signal = o?.decoration?.signal;
      if (!signal) return post(t, text, o);
      waiting++; // a budget with no room: it waits until dropped
      return new Promise((_, reject) => signal.addEventListener('abort', () => reject(new DroppedCall('aborted')), { once: true }));
    };
    await w.router.accept(localMessage('t3', 'hello'));
    await w.runner.waitRuns(1);
    expect(waiting).toBe(1);
    w.runner.runs[0]!.finish({ text: 'quick answer' });
    await waitFor(() => (w.adapter.texts('t3').length ? true : undefined), 5_000, 'the answer');
    await waitFor(async () => (await w.store.outbox.pending()).length === 0 || undefined, 5_000, 'an empty outbox');
    expect(w.adapter.texts('t3')).toEqual(['quick answer']);
    expect(w.adapter.calls.filter((c) => c.op === 'post')).toHaveLength(1);
  });

  it('a progress post already sent when the answer is ready is waited for and becomes the answer', async () => {
    const w = world();
    const onTheWire = gate();
    const post = w.adapter.post.bind(w.adapter);
    w.adapter.post = async (t: ReplyTarget, text: string, o?: PostOptions) => {
      if (!o?.decoration) return post(t, text, o);
      await onTheWire.promise; // started: abort no longer stops it
      return post(t, text, o);
    };
    await w.router.accept(localMessage('t4', 'hello'));
    await w.runner.waitRuns(1);
    w.runner.runs[0]!.finish({ text: 'late answer' });
    onTheWire.open();
    // What is shown and what is pending, read at the same moment.
    await waitFor(async () => (w.adapter.texts('t4').length && (await w.store.outbox.pending()).length === 0 ? true : undefined), 5_000, 'the answer');
    expect(w.adapter.texts('t4')).toEqual(['late answer']);
  });
});
