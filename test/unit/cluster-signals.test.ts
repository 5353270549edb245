/**
 * Cluster signals over PostgreSQL LISTEN/NOTIFY (src/store/pg-notify.ts, src/cluster/signals.ts)
 * on a real database: two instances' ClusterSignals, delivery without echo, malformed
 * notifications dropped, the listener's reconnect after its session is terminated, and the
 * payload limit.
 */
import { describe, expect, it } from 'vitest';
import { encodeSignal, parseSignal, type ClusterSignal } from '../../src/cluster/signals.js';
import { NOTIFY_MAX_PAYLOAD_BYTES, NotifyPayloadTooLargeError, checkChannelName, notify } from '../../src/store/pg-notify.js';
import { collectingLogger } from '../helpers/core.js';
import { waitFor } from '../helpers/sandbox.js';
import { signalChannel as channelName, useSignalsDatabase } from '../helpers/signals.js';

const db = useSignalsDatabase();

/** A started ClusterSignals of instance `id` on its own channel `channel`, collecting what it receives. */
async function instance(id: string, channel: string, logger = collectingLogger().logger) {
  const got: Array<{ signal: ClusterSignal; from: string }> = [];
  let resyncs = 0;
  const signals = await db.signals(id, channel, logger, (s) => {
    s.on('stop', (signal, from) => got.push({ signal, from }));
    s.on('local', (signal, from) => got.push({ signal, from }));
    s.onResync(() => resyncs++);
  });
  return { signals, got, resyncs: () => resyncs };
}

describe('ClusterSignals', () => {
  it('a signal published on one instance reaches the other with its shape and sender, and is not echoed to the sender', async () => {
    const ch = channelName();
    const a = await instance('inst-a', ch);
    const b = await instance('inst-b', ch);
    await a.signals.publish({ kind: 'stop', conversationId: 'local:general:t1' });
    await waitFor(() => b.got.length === 1, 20_000, 'b to receive the stop');
    expect(b.got[0]).toEqual({ signal: { kind: 'stop', conversationId: 'local:general:t1' }, from: 'inst-a' });

    const event = { name: 'message.created' as const, channel: 'general', data: { id: 'm1', text: 'hi ✓', bot: true }, ref: 'm1' };
    await a.signals.publish({ kind: 'local', event });
    await waitFor(() => b.got.length === 2, 20_000, 'b to receive the local event');
    expect(b.got[1]).toEqual({ signal: { kind: 'local', event }, from: 'inst-a' });

    // NOTIFY delivers in commit order: once a gets b's marker, a's own earlier signals were delivered to it too — and ignored.
    await b.signals.publish({ kind: 'stop', conversationId: 'marker' });
    await waitFor(() => a.got.length === 1, 20_000, 'a to receive b’s marker');
    expect(a.got).toEqual([{ signal: { kind: 'stop', conversationId: 'marker' }, from: 'inst-b' }]);
    expect(b.got).toHaveLength(2);
  });

  it('a malformed notification is logged and dropped; later signals still arrive', async () => {
    const ch = channelName();
    const { logger, lines } = collectingLogger();
    const b = await instance('inst-b', ch, logger);
    for (const junk of [
      'not json {',
      '{"v":1,"from":"x","kind":"bogus"}',
      '{"v":2,"from":"x","kind":"stop","conversationId":"c"}',
      '{"v":1,"kind":"stop","conversationId":"c"}',
      '',
    ]) {
      await db.pool.query('SELECT pg_notify($1, $2)', [ch, junk]);
    }
    await db.pool.query('SELECT pg_notify($1, $2)', [ch, encodeSignal({ kind: 'stop', conversationId: 'after-junk' }, 'inst-a')]);
    await waitFor(() => b.got.length === 1, 20_000, 'the valid signal after the junk');
    expect(b.got).toEqual([{ signal: { kind: 'stop', conversationId: 'after-junk' }, from: 'inst-a' }]);
    const dropped = lines.filter((l) => l.msg === 'cluster signals: malformed signal dropped');
    expect(dropped).toHaveLength(5);
    expect(b.signals.connection.status).toBe('listening');
  });

  it('after its session is terminated the listener reconnects, fires resync, and receives again', async () => {
    const ch = channelName();
    const a = await instance('inst-a', ch);
    const b = await instance('inst-b', ch);
    const pid = b.signals.connection.backendPid;
    expect(pid).toBeTypeOf('number');
    const r = await db.pool.query<{ ok: boolean }>('SELECT pg_terminate_backend($1) AS ok', [pid]);
    expect(r.rows[0]!.ok).toBe(true);
    await waitFor(() => b.resyncs() === 1, 30_000, 'the resync after the reconnect');
    expect(b.signals.connection.status).toBe('listening');
    expect(b.signals.connection.backendPid).not.toBe(pid);
    await a.signals.publish({ kind: 'stop', conversationId: 'after-reconnect' });
    await waitFor(() => b.got.length === 1, 20_000, 'a signal after the reconnect');
    expect(b.got[0]).toEqual({ signal: { kind: 'stop', conversationId: 'after-reconnect' }, from: 'inst-a' });
    expect(a.resyncs()).toBe(0);
  });

  it('a payload over 7,900 bytes is refused before it is sent', async () => {
    const ch = channelName();
    const a = await instance('inst-a', ch);
    const b = await instance('inst-b', ch);
    const big = { kind: 'local' as const, event: { name: 'message.created' as const, channel: 'general', data: { text: 'x'.repeat(8_000) } } };
    await expect(a.signals.publish(big)).rejects.toBeInstanceOf(NotifyPayloadTooLargeError);
    // counted in UTF-8 bytes, not characters: 3,000 × 3 bytes
    await expect(notify(db.pool, ch, '€'.repeat(3_000))).rejects.toThrow(/9000 bytes; at most 7900/);
    await notify(db.pool, ch, 'x'.repeat(NOTIFY_MAX_PAYLOAD_BYTES)); // the limit itself goes through (and is dropped as junk)
    await a.signals.publish({ kind: 'stop', conversationId: 'small' });
    await waitFor(() => b.got.length === 1, 20_000, 'the small signal');
    expect(b.got).toEqual([{ signal: { kind: 'stop', conversationId: 'small' }, from: 'inst-a' }]);
  });
});

describe('wire format (pure)', () => {
  it('parses what it encodes; rejects other shapes', () => {
    const s: ClusterSignal = { kind: 'local', event: { name: 'thread.status', channel: 'general', data: { channel: 'general', thread: 't', status: null } } };
    expect(parseSignal(encodeSignal(s, 'i1'))).toEqual({ signal: s, from: 'i1' });
    expect(parseSignal('{"v":1,"from":"i","kind":"local","event":{"name":"message.created","channel":"general"}}')).toHaveProperty('error');
    expect(parseSignal('{"v":1,"from":"i","kind":"local","event":{"name":"nope","channel":"general","ref":"m"}}')).toHaveProperty('error');
  });
  it('channel names are plain identifiers', () => {
    expect(checkChannelName('agentbridge_signals')).toBe('agentbridge_signals');
    expect(() => checkChannelName('bad"; DROP TABLE x; --')).toThrow(/invalid NOTIFY channel/);
    expect(() => checkChannelName('Upper')).toThrow();
  });
});
