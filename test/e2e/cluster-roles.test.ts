/**
 * Cluster roles kept apart (docs/ARCHITECTURE.md §10): two agentbridge processes on one
 * PostgreSQL database, the local chat API, the real `claude` CLI and the scripted model —
 * node-0 with `AGENTBRIDGE_ROLES=ingress,leader`, node-1 with `AGENTBRIDGE_ROLES=worker`.
 * - `/healthz` of each names its instance and its roles.
 * - Messages sent through node-0's local chat (five conversations, a second message in one) are
 *   answered once each, in order, and every turn runs on node-1: node-0 never logs running a
 *   conversation.
 * - node-1's local chat refuses a new message and a reply with 503, the error naming the missing
 *   ingress role; nothing of them is stored, shown by node-0 or sent to the model.
 * - The leader's leases (read from pg_locks): node-0 holds `scheduler` and `maintenance`; node-1
 *   never holds any — sampled throughout the turns, and after node-0 stopped (the leases are free)
 *   while node-1 beats three more times (over 10 s; a leader would try every second or so).
 */
import pg from 'pg';
import { describe, expect, it } from 'vitest';
import { lastUserText } from '../models/anthropic.js';
import { LocalChat } from '../helpers/agentbridge.js';
import { waitFor } from '../helpers/sandbox.js';
import { runnerOf, useClusterSuite, type TestCluster } from '../helpers/cluster.js';
import { readLeaseHolders, type LeaseHolder } from '../../src/store/pg-lease.js';
import { LEASES } from '../../src/cluster/constants.js';
import { HEARTBEAT_INTERVAL_MS } from '../../src/cluster/instances.js';
import { LEASE_RETRY_MS } from '../../src/cluster/leases.js';

const suite = useClusterSuite();

const RUNNING = 'cluster: running the conversation';
const conversationOf = (thread: string) => `local:general:${thread}`;

/** Every lease holder read while the sampler ran, and how many reads it made. */
interface LeaseSamples {
  seen: LeaseHolder[];
  reads: number;
  stop(): Promise<void>;
}

/** Reads the lease holders over and over (50 ms apart) until `stop()`, which rethrows a failed read. */
function sampleLeases(url: string): LeaseSamples {
  let running = true;
  let failure: unknown;
  const samples: LeaseSamples = {
    seen: [],
    reads: 0,
    stop: async () => {
      running = false;
      await loop;
      if (failure !== undefined) throw failure;
    },
  };
  const loop = (async () => {
    try {
      while (running) {
        samples.seen.push(...(await readLeaseHolders(url, LEASES)));
        samples.reads++;
        await new Promise((r) => setTimeout(r, 50));
      }
    } catch (err) {
      failure = err;
    }
  })();
  return samples;
}

/** Resolves once instance `id`'s `cluster_instances` row was written `beats` more times after it was first read. */
async function heartbeats(url: string, id: string, beats: number, timeoutMs: number): Promise<void> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    const seen: number[] = [];
    await waitFor(
      async () => {
        const { rows } = await client.query<{ at: string }>('SELECT heartbeat_at::text AS at FROM cluster_instances WHERE id = $1', [id]);
        const at = rows[0] ? Number(rows[0].at) : undefined;
        if (at !== undefined && at !== seen.at(-1)) seen.push(at);
        return seen.length > beats;
      },
      timeoutMs,
      () => `${beats} heartbeats of ${id} (seen ${seen.length - 1})`,
    );
  } finally {
    await client.end();
  }
}

const ranHere = (c: TestCluster, i: number) => c.nodes[i]!.logs.filter((l) => l.msg === RUNNING);

describe('cluster roles: ingress + leader on one instance, worker on the other', () => {
  it('node-0 takes the messages and holds the leases; node-1 runs every turn, takes no message and never holds a lease', async () => {
    const c = await suite.newCluster(2, { per: (i) => ({ AGENTBRIDGE_ROLES: i === 0 ? 'ingress,leader' : 'worker' }) });
    const [front, back] = [c.nodes[0]!, c.nodes[1]!];
    const chat = new LocalChat(front.url);

    // /healthz names each instance and its roles.
    for (const [i, roles] of [
      [0, ['ingress', 'leader']],
      [1, ['worker']],
    ] as const) {
      const res = await fetch(`${c.nodes[i]!.url}/healthz`);
      expect(res.status).toBe(200);
      expect(await res.json()).toMatchObject({ ok: true, instance: `node-${i}`, roles });
    }

    // The leader's leases go to node-0 (Discord is not configured: nobody tries its gateway lease).
    await waitFor(
      async () => {
        const holders = await readLeaseHolders(c.url, LEASES);
        return ['scheduler', 'maintenance'].every((name) => holders.some((h) => h.lease === name && h.instanceId === 'node-0'));
      },
      60_000,
      'node-0 to hold the scheduler and maintenance leases',
    );
    const leases = sampleLeases(c.url);

    // Each answer takes a moment, so the lease samples fall while turns run.
    suite.model.setResponder(async (req) => {
      await new Promise((r) => setTimeout(r, 300));
      return { text: `echo: ${lastUserText(req)}` };
    });
    const threads: string[] = [];
    for (let k = 0; k < 5; k++) threads.push((await chat.send('general', `[c${k}] m0`, { user: 'ann' })).thread);
    const answered = (thread: string, text: string) => async () => (await chat.botTexts('general', thread)).includes(text);
    await waitFor(answered(threads[0]!, 'echo: [c0] m0'), 120_000, 'the answer to c0 m0');
    await chat.send('general', '[c0] m1', { thread: threads[0]!, user: 'ann' });
    for (const [k, thread] of threads.entries()) await waitFor(answered(thread, `echo: [c${k}] m0`), 120_000, `the answer to c${k} m0`);
    await waitFor(answered(threads[0]!, 'echo: [c0] m1'), 120_000, 'the answer to c0 m1');

    // node-1 takes no messages: 503 naming the missing role, for a new thread and for a reply.
    const refused: string[] = [];
    for (const thread of [undefined, threads[1]]) {
      const text = `sent to the worker ${thread ? 'as a reply' : 'as a new thread'}`;
      refused.push(text);
      const res = await fetch(`${back.url}/api/local/messages`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ channel: 'general', text, user: 'ann', ...(thread ? { thread } : {}) }),
      });
      expect(res.status, text).toBe(503);
      expect(((await res.json()) as { error: string }).error).toMatch(/does not take messages: its cluster roles do not include ingress.*nothing was stored/);
    }

    // Every message answered once, in order (node-1's view of the one database too).
    const expected = threads.map((_, k) => (k === 0 ? ['[c0] m0', 'echo: [c0] m0', '[c0] m1', 'echo: [c0] m1'] : [`[c${k}] m0`, `echo: [c${k}] m0`]));
    for (const [k, thread] of threads.entries()) {
      expect((await chat.messages('general', thread)).map((m) => m.text)).toEqual(expected[k]);
      expect((await new LocalChat(back.url).messages('general', thread)).map((m) => m.text)).toEqual(expected[k]);
    }
    // Every turn ran on node-1, none on node-0.
    for (const thread of threads) expect(runnerOf(c, conversationOf(thread))).toBe(1);
    expect(new Set(ranHere(c, 1).map((l) => l.conversationId))).toEqual(new Set(threads.map(conversationOf)));
    expect(ranHere(c, 0)).toEqual([]);
    // The refused messages left no trace: no thread of the channel, no model request.
    const listed = (await (await fetch(`${front.url}/api/local/threads?channel=general`)).json()) as { threads: Array<{ text: string }> };
    expect(listed.threads.map((t) => t.text).sort()).toEqual(threads.map((_, k) => `[c${k}] m0`));
    expect(suite.model.mainRequests().filter((r) => refused.some((t) => lastUserText(r).includes(t)))).toEqual([]);

    // The leases, sampled throughout: held by node-0 only, never by node-1.
    await leases.stop();
    expect(leases.reads).toBeGreaterThanOrEqual(5);
    expect(new Set(leases.seen.map((h) => h.instanceId))).toEqual(new Set(['node-0']));
    expect(new Set(leases.seen.map((h) => h.lease))).toEqual(new Set(['scheduler', 'maintenance']));
    const atEnd = await readLeaseHolders(c.url, LEASES);
    expect(atEnd.map((h) => [h.lease, h.instanceId]).sort()).toEqual([
      ['maintenance', 'node-0'],
      ['scheduler', 'node-0'],
    ]);

    // node-0 stops (releasing its leases): node-1 still takes none while it writes three more
    // heartbeats, over 10 s (a leader tries every free lease about every LEASE_RETRY_MS).
    expect(HEARTBEAT_INTERVAL_MS).toBeGreaterThanOrEqual(3 * LEASE_RETRY_MS);
    await front.stop();
    await waitFor(async () => (await readLeaseHolders(c.url, LEASES)).length === 0, 30_000, 'the leases to be free');
    const after = sampleLeases(c.url);
    try {
      await heartbeats(c.url, 'node-1', 3, 90_000);
    } finally {
      await after.stop();
    }
    expect(after.reads).toBeGreaterThanOrEqual(5);
    expect(after.seen).toEqual([]);
    expect(await readLeaseHolders(c.url, LEASES)).toEqual([]);
    expect(back.logs.filter((l) => String(l.msg).startsWith('lease '))).toEqual([]);
  });
});
