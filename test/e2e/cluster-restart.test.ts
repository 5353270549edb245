/**
 * Restarts in cluster mode end to end (docs/ARCHITECTURE.md §10 "signals"): two agentbridge
 * processes on one PostgreSQL database, the local chat API and event stream, the real `claude` CLI
 * and the scripted model. node-0 holds the page (ingress, leader); node-1 runs the turns (ingress,
 * worker), so a turn started through node-0's page runs on node-1.
 * - `/agent restart` sent to node-1 while it runs that turn: node-1 sends a `restart` notice over
 *   LISTEN/NOTIFY, and the page connected to node-0 shows it as the thread's status; the turn
 *   finishes within the grace period, its answer is posted once, and the status clears.
 * - node-1 comes back under the same instance id and announces its own return once; node-0, which
 *   kept running, announces nothing.
 */
import { describe, expect, it } from 'vitest';
import { lastUserText } from '../models/anthropic.js';
import { addLocalUsers, LocalChat } from '../helpers/agentbridge.js';
import { waitFor } from '../helpers/sandbox.js';
import { openEvents } from '../helpers/sse.js';
import { runnerOf, useClusterSuite } from '../helpers/cluster.js';

const suite = useClusterSuite();

describe('cluster mode: an instance restarting', () => {
  it('the page on another instance shows the restart in the thread whose turn runs there; the turn finishes; the instance announces its own return once', async () => {
    const c = await suite.newCluster(2, {
      extra: { AGENTBRIDGE_ADMINS: 'local:root', AGENTBRIDGE_SHUTDOWN_GRACE_S: '60' },
      // node-1 restarts by exiting 75 (as under a supervisor); the test starts it again.
      per: (i) => (i === 0 ? { AGENTBRIDGE_ROLES: 'ingress,leader' } : { AGENTBRIDGE_ROLES: 'ingress,worker', AGENTBRIDGE_RESTART_MODE: 'exit' }),
    });
    const tokens = await addLocalUsers(c.env(0), suite.sb.root, [{ name: 'ann' }, { name: 'root' }]);
    const chat0 = new LocalChat(c.nodes[0]!.url, tokens);
    const chat1 = new LocalChat(c.nodes[1]!.url, tokens);
    const page = await openEvents(`${c.nodes[0]!.url}/api/local/events`, { authorization: `Bearer ${tokens.ann}` });
    try {
      let release!: () => void;
      const released = new Promise<void>((r) => (release = r));
      suite.model.setResponder(async (req) => {
        const text = lastUserText(req);
        if (text.includes('slow')) await released;
        return { text: `echo: ${text}` };
      });
      const { thread } = await chat0.send('general', 'slow work', { user: 'ann' });
      const conversationId = `local:general:${thread}`;
      await waitFor(() => suite.model.mainRequests().some((r) => lastUserText(r) === 'slow work'), 90_000, 'the turn to reach the model');
      expect(runnerOf(c, conversationId)).toBe(1);

      await chat1.send('general', '/agent restart', { thread, user: 'root' });
      const statuses = () =>
        page.events
          .filter((e) => e.event === 'thread.status' && (e.data as { thread: string }).thread === thread)
          .map((e) => (e.data as { status: string | null }).status);
      const notice = await waitFor(() => statuses().find((s) => s?.startsWith('♻️')), 60_000, "the restart notice on node-0's page");
      expect(notice).toBe(
        '♻️ agentbridge instance node-1, which runs this turn, is restarting. The turn has up to 60 s to finish there; if it does not, another instance runs it again and answers here.',
      );
      // node-1 waits for its turn (grace period): the answer is posted once, then it exits for the restart.
      release();
      expect(await c.nodes[1]!.exited).toBe(75);
      const texts = await chat0.botTexts('general', thread);
      expect(texts.filter((t) => t === 'echo: slow work')).toHaveLength(1);
      expect(texts.some((t) => t.startsWith('♻️ Restarting agentbridge instance node-1'))).toBe(true);
      // the turn's end replaced the notice
      await waitFor(() => statuses().at(-1) === null, 30_000, 'the status cleared on the page');
      expect(statuses().indexOf(notice)).toBeLessThan(statuses().lastIndexOf(null));
      expect(c.nodes[0]!.logs.some((l) => l.msg === 'cluster: instance node-1 is restarting')).toBe(true);

      // node-1 back, under the same id: it announces its return once; node-0 announced nothing.
      const back = await c.start(1);
      const announced = '✅ agentbridge instance node-1 restarted (requested by root).';
      await waitFor(async () => (await chat0.botTexts('general', thread)).includes(announced), 60_000, 'the return announced');
      await waitFor(() => c.nodes[0]!.logs.some((l) => l.msg === 'cluster: instance node-1 started'), 30_000, "node-1's started notice on node-0");
      expect((await chat0.botTexts('general', thread)).filter((t) => t === announced)).toHaveLength(1);
      expect(back.logs.filter((l) => l.msg === 'restart announced')).toHaveLength(1);
      expect(c.nodes[0]!.logs.filter((l) => l.msg === 'restart announced')).toHaveLength(0);
      // and it works as before
      await chat0.send('general', 'after the restart', { thread, user: 'ann' });
      await waitFor(async () => (await chat0.botTexts('general', thread)).includes('echo: after the restart'), 90_000, 'the answer after the restart');
    } finally {
      page.close();
    }
  });
});
