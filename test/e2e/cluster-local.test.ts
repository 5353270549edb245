/**
 * Cluster mode end to end (docs/ARCHITECTURE.md §10): three agentbridge processes on one
 * PostgreSQL database, the local chat API, the real `claude` CLI and the scripted model.
 * - The work is shared: messages sent to any instance are answered once each, in order, one turn
 *   at a time per conversation (checked from the model's request log with timestamps), and turns
 *   run on more than one instance.
 * - A worker SIGKILLed mid-turn: after the heartbeat window its conversation runs on another
 *   worker, is told it was interrupted, and is answered once.
 * - A worker paused (SIGSTOP, as if cut from the network) mid-turn: its turn moves to another
 *   worker; after SIGCONT nothing it does is posted.
 */
import { describe, expect, it } from 'vitest';
import { INTERRUPTED_NOTICE } from '../../src/conversation/recovery.js';
import { RERUN_NOTE } from '../../src/conversation/rerun.js';
import { lastUserText } from '../models/anthropic.js';
import { LocalChat } from '../helpers/agentbridge.js';
import { waitFor } from '../helpers/sandbox.js';
import { runnerOf, useClusterSuite, type TestCluster } from '../helpers/cluster.js';

const suite = useClusterSuite();

/** Model requests in flight and finished, by conversation marker `[cN]`: start/end ms. */
let spans: Array<{ conv: string; start: number; end: number }> = [];

const newCluster = (n: number): Promise<TestCluster> => suite.newCluster(n);

const chats = (c: TestCluster) => c.nodes.map((p) => new LocalChat(p!.url));
const conversationOf = (thread: string) => `local:general:${thread}`;

describe('cluster mode: three instances share the work', () => {
  it('answers every message once, in order, one turn at a time per conversation, on several instances', async () => {
    const c = await newCluster(3);
    const chat = chats(c);
    spans = [];
    // Each answer takes a moment, so turns of different conversations overlap across workers.
    suite.model.setResponder(async (req) => {
      const text = lastUserText(req);
      const conv = /\[(c\d+)\]/.exec(text)?.[1] ?? '?';
      const span = { conv, start: Date.now(), end: 0 };
      await new Promise((r) => setTimeout(r, 300));
      span.end = Date.now();
      spans.push(span);
      return { text: `echo: ${text}` };
    });
    const conversations = 6;
    const rounds = 3;
    const threads: string[] = [];
    // Round 1 starts every conversation through instances 0, 1, 2 in turn.
    for (let k = 0; k < conversations; k++) threads.push((await chat[k % 3]!.send('general', `[c${k}] m0`, { user: 'ann' })).thread);
    for (let r = 1; r < rounds; r++) {
      // Wait for the previous answer of each conversation, then send the next through another instance.
      await Promise.all(
        threads.map(async (thread, k) => {
          await waitFor(async () => (await chat[0]!.botTexts('general', thread)).includes(`echo: [c${k}] m${r - 1}`), 120_000, `answer c${k} m${r - 1}`);
          await chat[(k + r) % 3]!.send('general', `[c${k}] m${r}`, { thread, user: 'ann' });
        }),
      );
    }
    for (const [k, thread] of threads.entries())
      await waitFor(async () => (await chat[0]!.botTexts('general', thread)).includes(`echo: [c${k}] m${rounds - 1}`), 120_000, `last answer of c${k}`);

    for (const [k, thread] of threads.entries()) {
      // Every instance shows the same thread (one database): each message once, each answer once, in order.
      const texts = (await chat[(k + 1) % 3]!.messages('general', thread)).map((m) => m.text);
      const expected = Array.from({ length: rounds }, (_, r) => [`[c${k}] m${r}`, `echo: [c${k}] m${r}`]).flat();
      expect(texts).toEqual(expected);
    }
    // Never two model requests of one conversation at once.
    for (let k = 0; k < conversations; k++) {
      const mine = spans.filter((s) => s.conv === `c${k}`).sort((a, b) => a.start - b.start);
      for (let i = 1; i < mine.length; i++) expect(mine[i]!.start, `c${k} request ${i} overlaps the one before`).toBeGreaterThanOrEqual(mine[i - 1]!.end);
    }
    // The turns ran on more than one instance.
    const runners = new Set(threads.map((t) => runnerOf(c, conversationOf(t))));
    expect(runners.size).toBeGreaterThan(1);
  });

  it('a worker killed mid-turn: its conversation is answered once by another worker after the heartbeat window', async () => {
    const c = await newCluster(3);
    const chat = chats(c);
    let release!: () => void;
    const released = new Promise<void>((r) => (release = r));
    suite.model.setResponder(async (req) => {
      const text = lastUserText(req).replace(`${RERUN_NOTE}\n\n`, '');
      if (text.includes('HOLD')) await released;
      return { text: `echo: ${text}` };
    });
    const { thread } = await chat[0]!.send('general', 'HOLD this one', { user: 'ann' });
    const conv = conversationOf(thread);
    const victim = await waitFor(() => (runnerOf(c, conv) >= 0 ? runnerOf(c, conv) + 1 : undefined), 60_000, 'a worker to take the conversation');
    await waitFor(() => suite.model.mainRequests().some((r) => lastUserText(r).includes('HOLD')), 60_000, 'the model to get the prompt');
    const killedAt = Date.now();
    await c.nodes[victim - 1]!.stop('SIGKILL');
    c.nodes[victim - 1] = undefined;
    const other = chat[victim % 3]!;
    // Another worker takes the job over once the heartbeat lapsed, tells the thread, and runs it again.
    await waitFor(async () => (await other.botTexts('general', thread)).includes(INTERRUPTED_NOTICE), 90_000, 'the interrupted notice');
    const movedAfterMs = Date.now() - killedAt;
    release();
    await waitFor(async () => (await other.botTexts('general', thread)).includes('echo: HOLD this one'), 90_000, 'the answer');
    expect(runnerOf(c, conv)).not.toBe(victim - 1);
    // The re-run told the agent its earlier attempt was cut.
    expect(
      lastUserText(
        suite.model
          .mainRequests()
          .filter((r) => lastUserText(r).includes('HOLD'))
          .at(-1)!,
      ),
    ).toBe(`${RERUN_NOTE}\n\nHOLD this one`);
    // Restart the killed instance: its orphaned claude is reaped; nothing more is posted.
    await c.start(victim - 1);
    const texts = (await other.messages('general', thread)).map((m) => m.text);
    expect(texts.filter((t) => t === 'echo: HOLD this one')).toHaveLength(1);
    expect(texts.filter((t) => t === 'HOLD this one')).toHaveLength(1);
    expect(movedAfterMs).toBeLessThan(60_000);
  });

  it('a worker paused mid-turn (cut off): its turn moves to another worker; after it resumes nothing it does is posted', async () => {
    const c = await newCluster(2);
    const chat = chats(c);
    let release!: () => void;
    const released = new Promise<void>((r) => (release = r));
    suite.model.setResponder(async (req) => {
      const text = lastUserText(req).replace(`${RERUN_NOTE}\n\n`, '');
      if (text.includes('PAUSE')) await released;
      return { text: `echo: ${text} (${req.index})` };
    });
    const { thread } = await chat[0]!.send('general', 'PAUSE here', { user: 'ann' });
    const conv = conversationOf(thread);
    const first = await waitFor(() => (runnerOf(c, conv) >= 0 ? runnerOf(c, conv) + 1 : undefined), 60_000, 'a worker to take the conversation');
    await waitFor(() => suite.model.mainRequests().some((r) => lastUserText(r).includes('PAUSE')), 60_000, 'the model to get the prompt');
    const paused = c.nodes[first - 1]!;
    const live = chat[first % 2]!;
    paused.child.kill('SIGSTOP');
    try {
      await waitFor(async () => (await live.botTexts('general', thread)).includes(INTERRUPTED_NOTICE), 90_000, 'the interrupted notice');
      await waitFor(() => suite.model.mainRequests().filter((r) => lastUserText(r).includes('PAUSE')).length >= 2, 60_000, 'the re-run to reach the model');
      // Both the paused worker's agent and the new one's get their answer now.
      release();
      await waitFor(async () => (await live.botTexts('general', thread)).some((t) => t.startsWith('echo: PAUSE here')), 60_000, 'the answer');
    } finally {
      paused.child.kill('SIGCONT');
    }
    // The resumed worker notices it lost the job and abandons its turn: give it time to misbehave.
    await waitFor(
      () => paused.logs.some((l) => String(l.msg).includes('no database contact within the heartbeat window') || String(l.msg).includes('job lost')),
      30_000,
      'the resumed worker to notice',
    );
    await new Promise((r) => setTimeout(r, 3_000));
    const texts = (await live.messages('general', thread)).filter((m) => m.bot).map((m) => m.text);
    expect(texts.filter((t) => t.startsWith('echo: PAUSE here'))).toHaveLength(1);
  });
});
