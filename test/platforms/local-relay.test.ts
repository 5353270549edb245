/**
 * The local chat across instances (cluster mode): two LocalAdapters, each on its own HTTP server,
 * sharing one message store and relaying their live events over real cluster signals
 * (src/cluster/local-relay.ts → src/cluster/signals.ts → PostgreSQL NOTIFY). A page connected to
 * one instance sees the bot messages, edits and statuses of the other; a message too large for a
 * signal goes by id and is loaded from the shared store; after the listener lost its connection
 * the page's stream is ended so it reloads. An instance's restart notice (src/cluster/restart-notices.ts)
 * shows on the other instances' pages as the status of the local threads whose turns run on it,
 * once per page, until the turn's next status or the instance's `started` notice replaces it.
 */
import { describe, expect, it } from 'vitest';
import { createLogger } from '../../src/logger.js';
import { createHttpServer, type HttpServer } from '../../src/http/server.js';
import { LocalAdapter } from '../../src/platforms/local/adapter.js';
import type { LocalRelayEvent } from '../../src/platforms/local/events.js';
import { localEventRelay, localSignalFor } from '../../src/cluster/local-relay.js';
import { restartNotices } from '../../src/cluster/restart-notices.js';
import { localThreadsOf, peerStoppedStatus, peerStoppingStatus } from '../../src/platforms/local/peer-restart.js';
import { MemoryLocalMessages } from '../helpers/memory-local-messages.js';
import { waitFor } from '../helpers/sandbox.js';
import { signalChannel, useSignalsDatabase } from '../helpers/signals.js';
import { openEvents } from '../helpers/sse.js';

const logger = createLogger('silent');
const db = useSignalsDatabase();

/** One instance: cluster signals, a LocalAdapter with the relay on the shared `repo`, its HTTP server. */
async function instance(id: string, channel: string, repo: MemoryLocalMessages) {
  const signals = await db.signals(id, channel, logger);
  const http: HttpServer = createHttpServer({ host: '127.0.0.1', port: 0, logger });
  const adapter = new LocalAdapter({ repo, http, logger, heartbeatMs: 60_000, relay: localEventRelay(signals, logger) });
  await adapter.start(async () => 'accepted');
  const base = (await http.listen()).url;
  db.afterTest(async () => {
    await adapter.stop();
    await http.close();
  });
  return { signals, adapter, base };
}

async function pair() {
  const channel = signalChannel();
  const repo = new MemoryLocalMessages();
  const a = await instance('inst-a', channel, repo);
  const b = await instance('inst-b', channel, repo);
  return { a, b, repo };
}

async function events(base: string) {
  const s = await openEvents(`${base}/api/local/events`);
  db.afterTest(async () => s.close());
  return s;
}

describe('local chat relay across instances', () => {
  it("a page on instance A gets B's bot message, its edit and the thread status; B's own page gets each once", async () => {
    const { a, b } = await pair();
    const onA = await events(a.base);
    const onB = await events(b.base);
    await waitFor(() => a.adapter.events.size === 1 && b.adapter.events.size === 1, 10_000, 'both streams open');

    const posted = await b.adapter.post({ platform: 'local', channel: 'general' }, 'hello from B');
    await waitFor(() => onA.events.length >= 1, 20_000, 'the message on A');
    expect(onA.events[0]).toEqual({
      event: 'message.created',
      data: expect.objectContaining({ id: posted.ref, channel: 'general', thread: posted.ref, text: 'hello from B', bot: true }),
    });

    await b.adapter.edit({ platform: 'local', channel: 'general', thread: posted.ref }, posted.ref, 'hello again');
    await b.adapter.setStatus({ platform: 'local', channel: 'general', thread: posted.ref }, 'agentbridge is working…');
    await waitFor(() => onA.events.length >= 3, 20_000, 'the edit and the status on A');
    expect(onA.events[1]).toEqual({ event: 'message.updated', data: expect.objectContaining({ id: posted.ref, text: 'hello again' }) });
    expect(onA.events[2]).toEqual({ event: 'thread.status', data: { channel: 'general', thread: posted.ref, status: 'agentbridge is working…' } });
    // A keeps the relayed status for page loads
    expect(a.adapter.statusOf('general', posted.ref)).toBe('agentbridge is working…');

    // B's page got each of its own events once (its own signals are not delivered twice): a marker from A arrives after them.
    await a.adapter.post({ platform: 'local', channel: 'general' }, 'marker from A');
    await waitFor(() => onB.events.some((e) => (e.data as { text?: string }).text === 'marker from A'), 20_000, 'the marker on B');
    expect(onB.events.map((e) => e.event)).toEqual(['message.created', 'message.updated', 'thread.status', 'message.created']);
  });

  it('a message too large for one signal is relayed by id and loaded from the shared store', async () => {
    const { a, b } = await pair();
    const onA = await events(a.base);
    await waitFor(() => a.adapter.events.size === 1, 10_000, 'the stream open');
    const text = 'é'.repeat(6_000); // 12,000 bytes of UTF-8
    const posted = await b.adapter.post({ platform: 'local', channel: 'general' }, text);
    await waitFor(() => onA.events.length >= 1, 20_000, 'the large message on A');
    expect(onA.events[0]).toEqual({ event: 'message.created', data: expect.objectContaining({ id: posted.ref, text }) });
  });

  it('after the listener lost its connection, the pages of that instance are told to reload (their stream ends), relayed statuses are forgotten, and events flow again', async () => {
    const { a, b } = await pair();
    const first = await events(a.base);
    await waitFor(() => a.adapter.events.size === 1, 10_000, 'the stream open');
    // a status relayed from B, and one of A's own turn
    const root = await b.adapter.post({ platform: 'local', channel: 'general' }, 'root');
    await b.adapter.setStatus({ platform: 'local', channel: 'general', thread: root.ref }, 'working on B');
    await a.adapter.setStatus({ platform: 'local', channel: 'general', thread: 'own' }, 'working on A');
    await waitFor(() => a.adapter.statusOf('general', root.ref) === 'working on B', 20_000, 'the relayed status on A');
    const pid = a.signals.connection.backendPid;
    await db.pool.query('SELECT pg_terminate_backend($1)', [pid]);
    await waitFor(() => a.adapter.events.size === 0, 30_000, 'the stream ended after the reconnect');
    expect(a.signals.connection.status).toBe('listening');
    // its end may have been missed: the relayed status is forgotten, A's own is kept
    expect(a.adapter.statusOf('general', root.ref)).toBeNull();
    expect(a.adapter.statusOf('general', 'own')).toBe('working on A');
    first.close();

    const again = await events(a.base);
    await waitFor(() => a.adapter.events.size === 1, 10_000, 'the new stream open');
    const posted = await b.adapter.post({ platform: 'local', channel: 'general' }, 'after the reconnect');
    await waitFor(() => again.events.length >= 1, 20_000, 'the message on the new stream');
    expect(again.events[0]!.data).toMatchObject({ id: posted.ref, text: 'after the reconnect' });
  });
});

describe('restart notices on the local chat pages', () => {
  /** Instances A, B and C on one channel and message store, and B's restart notices (B is the one stopping). */
  async function stoppingTrio() {
    const channel = signalChannel();
    const repo = new MemoryLocalMessages();
    const a = await instance('inst-a', channel, repo);
    const b = await instance('inst-b', channel, repo);
    const c = await instance('inst-c', channel, repo);
    const notices = restartNotices(b.signals, logger);
    db.afterTest(() => notices.dispose());
    return { a, b, c, notices };
  }

  it("B's stop notice shows on A's and C's pages in the threads whose turns run on B, once each; the turn's next status, B's `stopped` notice (a cut turn) and its `started` notice replace it", async () => {
    const { a, b, c, notices } = await stoppingTrio();
    const onA = await events(a.base);
    const onC = await events(c.base);
    await waitFor(() => a.adapter.events.size === 1 && c.adapter.events.size === 1, 10_000, 'the streams open');
    const t1 = { platform: 'local' as const, channel: 'general', thread: 't1' };
    await b.adapter.setStatus(t1, 'agentbridge is working…');
    await waitFor(() => a.adapter.statusOf('general', 't1') === 'agentbridge is working…', 20_000, "B's working status on A");

    await notices.stopping({ again: true, graceMs: 30_000, turns: ['local:general:t1', 'local:dev:t2', 'slack:T1:C1:1.2'] });
    const shown = peerStoppingStatus({ instanceId: 'inst-b', again: true, graceS: 30 });
    expect(shown).toBe(
      '♻️ agentbridge instance inst-b, which runs this turn, is restarting. The turn has up to 30 s to finish there; if it does not, another instance runs it again and answers here.',
    );
    await waitFor(() => a.adapter.statusOf('dev', 't2') === shown && c.adapter.statusOf('dev', 't2') === shown, 20_000, 'the notice on A and C');
    expect(a.adapter.statusOf('general', 't1')).toBe(shown);
    // the turn finished within the grace period: B's status update replaces the notice
    await b.adapter.setStatus(t1, null);
    await waitFor(() => a.adapter.statusOf('general', 't1') === null, 20_000, 'the notice replaced on A');
    expect(a.adapter.statusOf('dev', 't2')).toBe(shown);
    // B's turns ended: it cut t2's (another worker runs it again)
    await notices.stopped({ again: true, cut: ['local:dev:t2'] });
    const cut = peerStoppedStatus({ instanceId: 'inst-b', again: true });
    expect(cut).toBe('♻️ agentbridge instance inst-b restarted before this turn finished. Another instance runs it again and answers here.');
    await waitFor(() => a.adapter.statusOf('dev', 't2') === cut && c.adapter.statusOf('dev', 't2') === cut, 20_000, 'the cut turn on A and C');
    // B is back: what is still shown for it is cleared
    await notices.started();
    await waitFor(() => a.adapter.statusOf('dev', 't2') === null && c.adapter.statusOf('dev', 't2') === null, 20_000, 'the notice cleared on A and C');

    // Each page got each status once (A's and C's notices are not relayed to each other): a marker arrives after them.
    await b.adapter.post({ platform: 'local', channel: 'general' }, 'marker');
    for (const page of [onA, onC]) {
      await waitFor(() => page.events.some((e) => e.event === 'message.created'), 20_000, 'the marker');
      expect(page.events.map((e) => (e.event === 'thread.status' ? e.data : e.event))).toEqual([
        { channel: 'general', thread: 't1', status: 'agentbridge is working…' },
        { channel: 'general', thread: 't1', status: shown },
        { channel: 'dev', thread: 't2', status: shown },
        { channel: 'general', thread: 't1', status: null },
        { channel: 'dev', thread: 't2', status: cut },
        { channel: 'dev', thread: 't2', status: null },
        'message.created',
      ]);
    }
    // B's own page is not told about B
    expect(b.adapter.statusOf('dev', 't2')).toBeNull();
  });

  it('`stopped` and `started` leave a thread alone whose status changed since the notice (another worker took the turn)', async () => {
    const { a, c, notices } = await stoppingTrio();
    await notices.stopping({ again: false, graceMs: 0, turns: ['local:general:t3', 'local:general:t4'] });
    const shown = 'agentbridge instance inst-b, which runs this turn, is shutting down. Another instance runs the turn again and answers here.';
    await waitFor(() => a.adapter.statusOf('general', 't3') === `♻️ ${shown}`, 20_000, 'the notice on A');
    await c.adapter.setStatus({ platform: 'local', channel: 'general', thread: 't3' }, 'working on C');
    await waitFor(() => a.adapter.statusOf('general', 't3') === 'working on C', 20_000, "C's status on A");
    await notices.stopped({ again: false, cut: ['local:general:t3', 'local:general:t4'] });
    await waitFor(() => a.adapter.statusOf('general', 't4') === peerStoppedStatus({ instanceId: 'inst-b', again: false }), 20_000, 'the cut turn t4 on A');
    expect(a.adapter.statusOf('general', 't3')).toBe('working on C');
    await notices.started();
    // A status sent after `started` reaches A after it (NOTIFY delivers in commit order): once it is there, `started` was handled.
    await c.adapter.setStatus({ platform: 'local', channel: 'general', thread: 'probe' }, 'probe');
    await waitFor(() => a.adapter.statusOf('general', 'probe') === 'probe', 20_000, 'a later status on A');
    expect(a.adapter.statusOf('general', 't3')).toBe('working on C');
    expect(a.adapter.statusOf('general', 't4')).toBeNull();
  });

  it("a cut turn's notice clears when the turn runs again and posts in the thread (on the instance that shows it, or relayed)", async () => {
    const { a, c, notices } = await stoppingTrio();
    const onC = await events(c.base);
    await waitFor(() => c.adapter.events.size === 1, 10_000, 'the stream open');
    const root = await a.adapter.post({ platform: 'local', channel: 'dev' }, 'a question');
    const other = await a.adapter.post({ platform: 'local', channel: 'dev' }, 'another question');
    // the roots are bot posts too: let their relayed events reach C before the notices (they would clear them)
    await waitFor(() => onC.events.length === 2, 20_000, "the roots' events on C");
    await notices.stopping({ again: false, graceMs: 0, turns: [`local:dev:${root.ref}`, `local:dev:${other.ref}`] });
    await notices.stopped({ again: false, cut: [`local:dev:${root.ref}`, `local:dev:${other.ref}`] });
    const cut = peerStoppedStatus({ instanceId: 'inst-b', again: false });
    const shows = (x: typeof a, thread: string) => x.adapter.statusOf('dev', thread);
    await waitFor(() => [a, c].every((x) => shows(x, root.ref) === cut && shows(x, other.ref) === cut), 20_000, 'the cut notices on A and C');
    // C runs the turn again and posts its first message in the thread: C clears its own, A the relayed one
    await c.adapter.post({ platform: 'local', channel: 'dev', thread: root.ref }, '🔄 agentbridge restarted while working on your message.');
    expect(shows(c, root.ref)).toBeNull();
    await waitFor(() => shows(a, root.ref) === null, 20_000, 'the notice cleared on A');
    // the other thread, where nothing was posted yet, still says so
    expect(shows(a, other.ref)).toBe(cut);
    expect(shows(c, other.ref)).toBe(cut);
  });
});

describe('peer restart notices (pure)', () => {
  it('local threads among conversation ids; the status text for a restart, a shutdown, and no grace', () => {
    expect(localThreadsOf(['local:general:t1', 'slack:T:C:1.2', 'local:bad', 'discord:1:2', 'local:dev:t2'])).toEqual([
      { channel: 'general', thread: 't1' },
      { channel: 'dev', thread: 't2' },
    ]);
    expect(peerStoppingStatus({ instanceId: 'n1', again: false, graceS: 10 })).toBe(
      '♻️ agentbridge instance n1, which runs this turn, is shutting down. The turn has up to 10 s to finish there; if it does not, another instance runs it again and answers here.',
    );
    expect(peerStoppingStatus({ instanceId: 'n1', again: true, graceS: 0 })).toMatch(
      /is restarting\. Another instance runs the turn again and answers here\.$/,
    );
  });
});

describe('localSignalFor (pure)', () => {
  it('inline when it fits, by reference when not, undefined when neither', () => {
    const small: LocalRelayEvent = { name: 'message.created', channel: 'general', data: { id: 'm1', text: 'hi' }, ref: 'm1' };
    expect(localSignalFor(small, 'i')).toEqual({ kind: 'local', event: small });
    const big: LocalRelayEvent = { name: 'message.updated', channel: 'general', data: { id: 'm1', text: 'x'.repeat(8_000) }, ref: 'm1' };
    expect(localSignalFor(big, 'i')).toEqual({ kind: 'local', event: { name: 'message.updated', channel: 'general', ref: 'm1' } });
    expect(localSignalFor({ name: 'thread.status', channel: 'general', data: { status: 'x'.repeat(8_000) } }, 'i')).toBeUndefined();
  });
});
