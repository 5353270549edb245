/**
 * Cluster visibility in the running service: `/agent status` appends the cluster's status when
 * `CommandDeps.clusterStatus` is given (and says "unavailable" when it fails), and `/metrics`
 * carries `instance="<id>"` on every series when `createMetrics({ instance })`.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { status } from '../../src/conversation/commands/status.js';
import type { CommandContext, CommandDeps } from '../../src/conversation/commands/types.js';
import { createMetrics } from '../../src/http/metrics.js';
import { createLogger } from '../../src/logger.js';
import { openTestStore } from '../helpers/backends.js';

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

/** `/agent status` of conversation `local:general:t` with `extra` deps, on an empty store. */
async function runStatus(extra: Partial<CommandDeps>): Promise<string> {
  const { store, cleanup } = await openTestStore('sqlite');
  cleanups.push(cleanup);
  const deps = {
    store,
    router: { status: () => ({ running: false, queued: 0 }) },
    defaults: { agent: 'claude', workdir: '/w' },
    logger: createLogger('silent'),
    ...extra,
  } as unknown as CommandDeps;
  const ctx: CommandContext = {
    caller: { platform: 'local', userId: 'ann', userName: 'ann', qualifiedId: 'local:ann', admin: false },
    place: { conversationId: 'local:general:t', channel: 'general', replyTarget: { platform: 'local', channel: 'general', thread: 't' } },
    deps,
  };
  return (await status.run(ctx, true)).text;
}

describe('/agent status in cluster mode', () => {
  it('appends the cluster status when given, nothing otherwise', async () => {
    const plain = await runStatus({});
    expect(plain).toContain('**Status of this conversation**');
    expect(plain).not.toContain('Cluster');
    const clustered = await runStatus({ clusterStatus: async () => '**Cluster**\n\n- instances: 2 live of 3' });
    expect(clustered).toContain('- turns answered: 0');
    expect(clustered.endsWith('\n\n**Cluster**\n\n- instances: 2 live of 3')).toBe(true);
  });

  it('says the cluster status is unavailable when reading it fails', async () => {
    const text = await runStatus({
      clusterStatus: async () => {
        throw new Error('connection refused');
      },
    });
    expect(text).toContain('**Status of this conversation**');
    expect(text).toContain('- status unavailable right now');
  });
});

describe('/metrics instance label', () => {
  it('puts instance="<id>" on every series, ours and the process metrics, only when given', async () => {
    const metrics = createMetrics({ instance: 'node-a' });
    metrics.observe({ queue: () => ({ queued: 1, waitingForSlot: 0, running: 2 }), inboxBacklog: () => 3 });
    metrics.turnEnded('local', 'claude', 'ok', 1500);
    const text = await metrics.render();
    const series = text.split('\n').filter((l) => l && !l.startsWith('#'));
    expect(series.length).toBeGreaterThan(20);
    expect(series.filter((l) => !l.includes('instance="node-a"'))).toEqual([]);
    expect(series).toContain('agentbridge_turns_running{instance="node-a"} 2');
    expect(series).toContain('agentbridge_turns_total{platform="local",agent="claude",outcome="ok",instance="node-a"} 1');
    expect(series.some((l) => l.startsWith('process_cpu_user_seconds_total{instance="node-a"}'))).toBe(true);

    const single = await createMetrics({ defaultMetrics: false }).render();
    expect(single).not.toContain('instance=');
  });
});
