/**
 * `/agent stop` across instances (docs/ARCHITECTURE.md §10): a conversation's turn runs on the
 * worker that took its wake-up job, which need not be the instance the command reached. The
 * command stops a local turn itself; when none runs here it calls `stopElsewhere`
 * (`CommandDeps.stopElsewhere`), which publishes `{kind: 'stop', conversationId}`; every other
 * instance stops that conversation's running turn if it has one.
 */
import type { Logger } from '../logger.js';
import type { ClusterSignals } from './signals.js';

/** What {@link clusterStop} stops turns with (the core's `Bridges`). */
export interface StoppableTurns {
  /** Stops the conversation's running turn; false when none runs here. */
  stop(conversationId: string): boolean;
}

/**
 * Wires stop signals: received ones stop the local turn of their conversation (logged when one
 * ran), and `stopElsewhere` sends one.
 * Wiring (app): `const s = clusterStop(signals, core.bridges, logger)` then give `s.stopElsewhere`
 * to `CommandDeps.stopElsewhere`; `s.dispose()` at shutdown.
 * `stopElsewhere` resolves true once the signal is sent (whether a turn runs elsewhere is not known
 * here), and rejects with the database's error when it cannot be sent.
 */
export function clusterStop(
  signals: Pick<ClusterSignals, 'publish' | 'on'>,
  turns: StoppableTurns,
  logger: Logger,
): { stopElsewhere: (conversationId: string) => Promise<boolean>; dispose: () => void } {
  const dispose = signals.on('stop', ({ conversationId }, from) => {
    if (turns.stop(conversationId)) logger.info({ conversationId, from }, 'turn stopped on request of another instance');
  });
  return {
    stopElsewhere: async (conversationId) => {
      await signals.publish({ kind: 'stop', conversationId });
      return true;
    },
    dispose,
  };
}
