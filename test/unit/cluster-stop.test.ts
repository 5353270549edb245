/**
 * `/agent stop` across instances: the stop command (src/conversation/commands/stop.ts) with and
 * without a local turn and `stopElsewhere`, and src/cluster/stop.ts over real cluster signals: a
 * stop sent by instance A stops the running turn on instance B, and only there.
 */
import { describe, expect, it } from 'vitest';
import { stop } from '../../src/conversation/commands/stop.js';
import type { CommandContext, CommandDeps } from '../../src/conversation/commands/types.js';
import { clusterStop } from '../../src/cluster/stop.js';
import { collectingLogger } from '../helpers/core.js';
import { waitFor } from '../helpers/sandbox.js';
import { signalChannel, useSignalsDatabase } from '../helpers/signals.js';

const CONV = 'local:general:t1';

/** Running turns of one instance, by conversation id (what `Bridges.stop` does, faked). */
class FakeTurns {
  readonly running = new Set<string>();
  readonly stopped: string[] = [];
  stop(id: string): boolean {
    if (!this.running.delete(id)) return false;
    this.stopped.push(id);
    return true;
  }
  status(id: string) {
    return { conversationId: id, running: this.running.has(id), queued: this.running.has(id) ? 2 : 0 };
  }
  active() {
    return [];
  }
}

/** A command context for `stop` in {@link CONV} on an instance with `turns` and `stopElsewhere`. */
function context(turns: FakeTurns, stopElsewhere?: CommandDeps['stopElsewhere']): CommandContext {
  const deps = { router: turns, logger: collectingLogger().logger, ...(stopElsewhere ? { stopElsewhere } : {}) } as unknown as CommandDeps;
  return {
    caller: { platform: 'local', userId: 'ada', userName: 'ada', qualifiedId: 'local:ada', admin: false },
    place: { conversationId: CONV, channel: 'general', replyTarget: { platform: 'local', channel: 'general', thread: 't1' } },
    deps,
  };
}

describe('the stop command', () => {
  it('a turn running here is stopped here; stopElsewhere is not called', async () => {
    const turns = new FakeTurns();
    turns.running.add(CONV);
    const calls: string[] = [];
    const r = await stop.run(
      context(turns, async (id) => (calls.push(id), true)),
      true,
    );
    expect(turns.stopped).toEqual([CONV]);
    expect(calls).toEqual([]);
    expect(r.text).toBe('⏹️ Stopping the running turn (asked by ada). 2 queued messages will be answered next.');
  });

  it('no turn here: the stop goes to the other instances and the reply says so', async () => {
    const turns = new FakeTurns();
    const calls: string[] = [];
    const r = await stop.run(
      context(turns, async (id) => (calls.push(id), true)),
      true,
    );
    expect(calls).toEqual([CONV]);
    expect(r.ephemeral).toBe(false);
    expect(r.text).toMatch(/sent the stop to the instance running it \(asked by ada\)/);
  });

  it('no turn here and none elsewhere (stopElsewhere false), or single instance: nothing is running', async () => {
    expect(
      (
        await stop.run(
          context(new FakeTurns(), async () => false),
          true,
        )
      ).text,
    ).toBe('Nothing is running in this conversation.');
    expect((await stop.run(context(new FakeTurns()), true)).text).toBe('Nothing is running in this conversation.');
  });

  it('the other instances cannot be reached: an ephemeral answer saying so', async () => {
    const r = await stop.run(
      context(new FakeTurns(), async () => {
        throw new Error('connection refused');
      }),
      true,
    );
    expect(r.ephemeral).toBe(true);
    expect(r.text).toMatch(/could not be reached/);
  });
});

describe('stop across instances (real signals)', () => {
  const db = useSignalsDatabase();

  it('`/agent stop` on instance A stops the turn running on instance B', async () => {
    const channel = signalChannel();
    const make = async (id: string) => {
      const signals = await db.signals(id, channel, collectingLogger().logger);
      const turns = new FakeTurns();
      const wired = clusterStop(signals, turns, collectingLogger().logger);
      db.afterTest(() => wired.dispose());
      return { turns, wired };
    };
    const a = await make('inst-a');
    const b = await make('inst-b');
    const c = await make('inst-c');
    b.turns.running.add(CONV);
    c.turns.running.add('local:general:other');

    const r = await stop.run(context(a.turns, a.wired.stopElsewhere), true);
    expect(r.text).toMatch(/sent the stop to the instance running it/);
    await waitFor(() => b.turns.stopped.length === 1, 20_000, 'B to stop its turn');
    expect(b.turns.stopped).toEqual([CONV]);
    // C runs another conversation: untouched.
    expect(c.turns.running.has('local:general:other')).toBe(true);
    expect(c.turns.stopped).toEqual([]);
  });
});
