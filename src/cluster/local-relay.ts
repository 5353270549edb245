/**
 * The local web chat's relay over cluster signals (docs/ARCHITECTURE.md §10): the
 * `LocalEventRelay` a `LocalAdapter` takes (`relay` option), publishing its events as
 * `{kind: 'local', event}` signals and handing other instances' events, resyncs and restart
 * notices (`{kind: 'restart'}`) to it.
 */
import type { Logger } from '../logger.js';
import type { LocalEventRelay, LocalRelayEvent } from '../platforms/local/events.js';
import { NOTIFY_MAX_PAYLOAD_BYTES } from '../store/pg-notify.js';
import { encodeSignal, type ClusterSignals } from './signals.js';

/** Most publishes waiting for the database; more are dropped (logged) until it answers again. */
const MAX_PENDING = 1_000;

/**
 * The signal sent for `event`: with its data when the notification fits in
 * {@link NOTIFY_MAX_PAYLOAD_BYTES} bytes, else by reference only (`ref`: the receiver loads the
 * message from the shared store); undefined when neither fits (an event without `ref` too large
 * to send). Pure.
 */
export function localSignalFor(event: LocalRelayEvent, instanceId: string): { kind: 'local'; event: LocalRelayEvent } | undefined {
  const full = { kind: 'local' as const, event };
  if (Buffer.byteLength(encodeSignal(full, instanceId), 'utf8') <= NOTIFY_MAX_PAYLOAD_BYTES) return full;
  if (event.ref === undefined) return undefined;
  const byRef = { kind: 'local' as const, event: { name: event.name, channel: event.channel, ref: event.ref } };
  return Buffer.byteLength(encodeSignal(byRef, instanceId), 'utf8') <= NOTIFY_MAX_PAYLOAD_BYTES ? byRef : undefined;
}

/**
 * A {@link LocalEventRelay} over `signals`. Publishes run one after the other in emit order (a pool
 * could otherwise reorder an edit before its message); a failed publish is logged and dropped (the
 * pages of other instances miss that update until they reload), never thrown.
 * Wiring (app): `new LocalAdapter({ …, relay: localEventRelay(signals, logger) })`.
 */
export function localEventRelay(signals: Pick<ClusterSignals, 'publish' | 'on' | 'onResync' | 'instanceId'>, logger: Logger): LocalEventRelay {
  let chain: Promise<void> = Promise.resolve();
  let pending = 0;
  return {
    publish(event) {
      const signal = localSignalFor(event, signals.instanceId);
      if (!signal) {
        logger.warn({ name: event.name, channel: event.channel }, 'local chat relay: event too large to relay; dropped');
        return;
      }
      if (pending >= MAX_PENDING) {
        logger.warn({ name: event.name, channel: event.channel, pending }, 'local chat relay: too many events waiting for the database; dropped');
        return;
      }
      pending++;
      chain = chain
        .then(() => signals.publish(signal))
        .catch((err: unknown) => logger.warn({ err, name: event.name, channel: event.channel }, 'local chat relay: publishing an event failed; dropped'))
        .finally(() => {
          pending--;
        });
    },
    subscribe(receiver) {
      const offEvent = signals.on('local', (s) => receiver.event(s.event));
      const offResync = signals.onResync(() => receiver.resync());
      // Restart notices (src/cluster/restart-notices.ts): the pages here show them for the turns they watch.
      const offRestart = signals.on('restart', (s, from) => {
        if (s.phase === 'started') receiver.peerStarted?.(from);
        else if (s.phase === 'stopped') receiver.peerStopped?.({ instanceId: from, again: s.again ?? false, cut: s.turns ?? [] });
        else receiver.peerStopping?.({ instanceId: from, again: s.again ?? false, graceS: s.graceS ?? 0, turns: s.turns ?? [] });
      });
      return () => {
        offEvent();
        offResync();
        offRestart();
      };
    },
  };
}
