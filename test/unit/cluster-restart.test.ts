/**
 * Restarts in cluster mode (docs/ARCHITECTURE.md §10):
 * - `/agent restart` restarts the instance that got it, names it, and keeps its request under its
 *   own key, so only that instance announces its return (not another one starting meanwhile), and
 *   two instances restarting at once keep both requests;
 * - the process started again keeps the instance id (`relaunchEnv`);
 * - the `restart` signals (src/cluster/signals.ts `restartSignals`): sliced to fit a notification;
 * - the restart notices (src/cluster/restart-notices.ts): received ones are logged, and sending
 *   never blocks or fails a stop (bounded, errors logged).
 */
import { describe, expect, it } from 'vitest';
import { announceRestart, restart, restartKey, RESTART_KEY } from '../../src/conversation/commands/restart.js';
import type { CommandContext, CommandDeps } from '../../src/conversation/commands/types.js';
import { relaunchEnv } from '../../src/cli/start.js';
import { encodeSignal, MAX_RESTART_TURNS, parseSignal, restartSignals, type ClusterSignal, type SignalHandler } from '../../src/cluster/signals.js';
import { restartNotices } from '../../src/cluster/restart-notices.js';
import { NOTIFY_MAX_PAYLOAD_BYTES } from '../../src/store/pg-notify.js';
import { collectingLogger } from '../helpers/core.js';

/** Platform state in memory, and an outbound that records what it says (running `alsoInTx` on the same state). */
function fakes() {
  const state = new Map<string, string>();
  const platformState = {
    get: async (k: string) => state.get(k),
    set: async (k: string, v: string) => void state.set(k, v),
    delete: async (k: string) => void state.delete(k),
    list: async () => [...state.entries()].map(([key, value]) => ({ key, value })),
  };
  const said: Array<{ conversationId: string; text: string }> = [];
  const outbound = {
    say: async (to: { conversationId: string }, text: string, opts?: { alsoInTx?: (tx: never) => Promise<void> }) => {
      await opts?.alsoInTx?.({ platformState } as never);
      said.push({ conversationId: to.conversationId, text });
      return [];
    },
  };
  return { state, store: { platformState }, outbound, said };
}

function restartContext(f: ReturnType<typeof fakes>, instanceId: string | undefined, restarts: string[]): CommandContext {
  const deps = {
    store: f.store,
    logger: collectingLogger().logger,
    shutdownGraceMs: 30_000,
    restart: () => restarts.push(instanceId ?? 'single'),
    ...(instanceId !== undefined ? { instanceId } : {}),
  } as unknown as CommandDeps;
  return {
    caller: { platform: 'local', userId: 'root', userName: 'root', qualifiedId: 'local:root', admin: true },
    place: { conversationId: 'local:general:t1', channel: 'general', replyTarget: { platform: 'local', channel: 'general', thread: 't1' } },
    deps,
  };
}

describe('/agent restart in cluster mode', () => {
  it('restarts this instance, says which, and only this instance announces its return', async () => {
    const f = fakes();
    const restarts: string[] = [];
    const r = await restart.run(restartContext(f, 'node-1', restarts), true);
    expect(r.text).toBe(
      "♻️ Restarting agentbridge instance node-1 (running turns get up to 30 s to finish). I'll post here when I'm back. The other instances keep working meanwhile.",
    );
    await r.after?.();
    expect(restarts).toEqual(['node-1']);
    expect(f.state.get(RESTART_KEY)).toBeUndefined();
    expect(JSON.parse(f.state.get('agentbridge:restart:node-1')!)).toMatchObject({
      instanceId: 'node-1',
      conversationId: 'local:general:t1',
      requestedBy: 'root',
    });

    const logger = collectingLogger().logger;
    // another instance starting meanwhile does not announce it, nor does a single-instance start
    expect(await announceRestart({ ...f, logger, instanceId: 'node-2' })).toBe(false);
    expect(await announceRestart({ ...f, logger })).toBe(false);
    expect(f.said).toEqual([]);
    // node-1, back (the same id: relaunchEnv), announces it once
    expect(await announceRestart({ ...f, logger, instanceId: 'node-1' })).toBe(true);
    expect(f.said).toEqual([{ conversationId: 'local:general:t1', text: '✅ agentbridge instance node-1 restarted (requested by root).' }]);
    expect(f.state.get('agentbridge:restart:node-1')).toBe('');
    expect(await announceRestart({ ...f, logger, instanceId: 'node-1' })).toBe(false);
  });

  it('two instances restarting at once keep both requests; each announces its own', async () => {
    const f = fakes();
    const restarts: string[] = [];
    await restart.run(restartContext(f, 'node-1', restarts), true);
    await restart.run(restartContext(f, 'node-2', restarts), true);
    const logger = collectingLogger().logger;
    expect(await announceRestart({ ...f, logger, instanceId: 'node-2' })).toBe(true);
    expect(await announceRestart({ ...f, logger, instanceId: 'node-1' })).toBe(true);
    expect(f.said.map((s) => s.text)).toEqual([
      '✅ agentbridge instance node-2 restarted (requested by root).',
      '✅ agentbridge instance node-1 restarted (requested by root).',
    ]);
  });

  it('single instance: the one key and the plain wording, as before', async () => {
    const f = fakes();
    const r = await restart.run(restartContext(f, undefined, []), true);
    expect(r.text).toBe("♻️ Restarting agentbridge (running turns get up to 30 s to finish). I'll post here when I'm back.");
    expect(restartKey()).toBe(RESTART_KEY);
    expect(JSON.parse(f.state.get(RESTART_KEY)!)).not.toHaveProperty('instanceId');
    expect(await announceRestart({ ...f, logger: collectingLogger().logger })).toBe(true);
    expect(f.said[0]!.text).toBe('✅ agentbridge restarted (requested by root).');
  });

  it('the process started again keeps the instance id (pure)', () => {
    const env = { PATH: '/bin' };
    expect(relaunchEnv(env, 'host-4242')).toEqual({ PATH: '/bin', AGENTBRIDGE_INSTANCE_ID: 'host-4242' });
    expect(relaunchEnv(env, undefined)).toBe(env);
    expect(env).toEqual({ PATH: '/bin' });
  });
});

describe('restart signals (pure)', () => {
  const roundTrip = (s: ClusterSignal) => parseSignal(encodeSignal(s, 'node-1'));

  it('no turns: one signal; the started signal parses too', () => {
    expect(restartSignals('node-1', 'stopping', true, 30.7, [])).toEqual([{ kind: 'restart', phase: 'stopping', again: true, graceS: 30, turns: [] }]);
    expect(roundTrip({ kind: 'restart', phase: 'started' })).toEqual({ signal: { kind: 'restart', phase: 'started' }, from: 'node-1' });
  });

  it('many turns are sliced by count and by bytes; every slice fits a notification and parses; nothing is lost but an id too long to send', () => {
    const short = Array.from({ length: 450 }, (_, i) => `local:general:${i}`);
    const bySize = restartSignals('node-1', 'stopping', false, 10, short);
    expect(bySize.map((s) => s.turns!.length)).toEqual([MAX_RESTART_TURNS, MAX_RESTART_TURNS, 50]);
    const long = Array.from({ length: 30 }, (_, i) => `slack:T1:C1:${String(i).padStart(3, '0')}:${'x'.repeat(900)}`);
    const tooLong = `local:general:${'y'.repeat(8_000)}`;
    const byBytes = restartSignals('node-1', 'stopped', false, 10, [...long.slice(0, 15), tooLong, ...long.slice(15)]);
    expect(byBytes.length).toBeGreaterThan(3);
    for (const s of [...bySize, ...byBytes]) {
      expect(Buffer.byteLength(encodeSignal(s, 'node-1'))).toBeLessThanOrEqual(NOTIFY_MAX_PAYLOAD_BYTES);
      expect(roundTrip(s)).toEqual({ signal: s, from: 'node-1' });
    }
    expect(bySize.flatMap((s) => s.turns)).toEqual(short);
    expect(byBytes.flatMap((s) => s.turns)).toEqual(long);
  });

  it('malformed restart signals are rejected', () => {
    expect(parseSignal('{"v":1,"from":"i","kind":"restart","phase":"paused"}')).toHaveProperty('error');
    expect(parseSignal('{"v":1,"from":"i","kind":"restart","phase":"stopping","graceS":-1}')).toHaveProperty('error');
    expect(parseSignal(`{"v":1,"from":"i","kind":"restart","phase":"stopping","turns":${JSON.stringify(Array(201).fill('a'))}}`)).toHaveProperty('error');
  });
});

describe('restart notices', () => {
  /** Signals whose publish does what `publish` says, and whose `restart` handler the test calls. */
  function fakeSignals(publish: (s: ClusterSignal) => Promise<void>) {
    let handler: SignalHandler<'restart'> | undefined;
    return {
      signals: {
        instanceId: 'node-1',
        publish,
        on: (_kind: 'restart', h: SignalHandler<'restart'>) => ((handler = h), () => (handler = undefined)),
      } as never,
      receive: (s: Extract<ClusterSignal, { kind: 'restart' }>, from: string) => handler?.(s, from),
    };
  }

  it('sends the stopping and stopped slices in order and the started notice; logs what other instances say', async () => {
    const sent: ClusterSignal[] = [];
    const f = fakeSignals(async (s) => void sent.push(s));
    const { logger, lines } = collectingLogger();
    const n = restartNotices(f.signals, logger);
    await n.stopping({ again: true, graceMs: 30_000, turns: ['local:general:a', 'local:general:b'] });
    await n.stopped({ again: true, cut: ['local:general:b'] });
    await n.started();
    expect(sent).toEqual([
      { kind: 'restart', phase: 'stopping', again: true, graceS: 30, turns: ['local:general:a', 'local:general:b'] },
      { kind: 'restart', phase: 'stopped', again: true, turns: ['local:general:b'] },
      { kind: 'restart', phase: 'started' },
    ]);
    f.receive({ kind: 'restart', phase: 'stopping', again: false, graceS: 5, turns: ['x'] }, 'node-2');
    f.receive({ kind: 'restart', phase: 'stopped', again: false, turns: [] }, 'node-2');
    f.receive({ kind: 'restart', phase: 'started' }, 'node-2');
    expect(lines.map((l) => l.msg)).toEqual([
      'cluster: instance node-2 is shutting down',
      'cluster: instance node-2 stopped',
      'cluster: instance node-2 started',
    ]);
    n.dispose();
    f.receive({ kind: 'restart', phase: 'started' }, 'node-3');
    expect(lines).toHaveLength(3);
  });

  it('a database that does not answer or fails does not hold up or fail the stop: logged', async () => {
    const { logger, lines } = collectingLogger();
    const hanging = restartNotices(fakeSignals(() => new Promise<void>(() => {})).signals, logger, 50);
    const t0 = Date.now();
    await hanging.stopping({ again: false, graceMs: 0, turns: [] });
    expect(Date.now() - t0).toBeLessThan(5_000);
    await restartNotices(fakeSignals(() => Promise.reject(new Error('connection refused'))).signals, logger, 50).started();
    expect(lines.map((l) => [l.level, l.what, String(l.msg).slice(0, 45)])).toEqual([
      [40, 'stopping', 'cluster: a restart notice was not sent in tim'],
      [40, 'started', 'cluster: a restart notice could not be sent; '],
    ]);
  });
});
