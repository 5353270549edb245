/**
 * The pieces agentbridge adds to @slack/bolt:
 *
 * - {@link AckAfterListenersApp}: Bolt acknowledges Events API envelopes *before* it runs the
 *   listeners (App.processEvent: "Events API requests are acknowledged right away"). agentbridge
 *   must acknowledge only once the message is durable in the inbox (docs/ARCHITECTURE.md §3, invariant 1), so
 *   this subclass hands Bolt a no-op ack, runs the listeners, and sends the real ack only when
 *   they all resolved. A listener that throws (the inbox write failed, or the service is
 *   shutting down) leaves the envelope unacknowledged, so Slack delivers it again (Socket Mode:
 *   on this or the next connection; HTTP: the adapter answers 500 and Slack retries).
 *   Slash commands are not events: their listener acknowledges with the response itself (Bolt's
 *   `ack`), so they pass through unchanged, as do interactions (button clicks: their listener
 *   acknowledges first, Slack does not redeliver them). An interaction payload the
 *   {@link AckAfterListenersHooks.screenInteraction} hook refuses (malformed) is acknowledged
 *   and dropped before Bolt sees it, so no listener runs on it and nothing throws.
 * - {@link PassiveReceiver}: for the Events API over HTTP the requests arrive on agentbridge's own
 *   HTTP server (route `POST /slack/events`, see `http-events.ts`), which verifies them and calls
 *   `app.processEvent`; Bolt needs a receiver object but it has nothing to listen on.
 * - {@link boltLogger}: Bolt, the Socket Mode client and the Web API client log through pino
 *   (JSON lines; token-shaped strings masked by the root logger). Their `debug` output (full
 *   payloads, every ping) goes to pino's `trace`.
 */
import { App, LogLevel, type AppOptions, type Logger as BoltLogger, type Receiver, type ReceiverEvent } from '@slack/bolt';
import type { Logger } from '../../logger.js';

/** Hooks of {@link AckAfterListenersApp}. */
export interface AckAfterListenersHooks {
  /**
   * Screens a body that is not an Events API envelope (an interaction, a slash command) before
   * Bolt dispatches it: false → it is acknowledged (empty ack) and dropped. Must not throw.
   */
  screenInteraction?(body: unknown): boolean;
}

/**
 * A Bolt App whose Events API acks wait for the listeners (see the module doc). Everything else
 * (slash commands, interactions) keeps Bolt's own `ack`, which the listener calls.
 */
export class AckAfterListenersApp extends App {
  private readonly hooks: AckAfterListenersHooks;

  constructor(options: AppOptions, hooks: AckAfterListenersHooks = {}) {
    super(options);
    this.hooks = hooks;
  }

  override async processEvent(event: ReceiverEvent): Promise<void> {
    if (!isEventsApiBody(event.body)) {
      if (this.hooks.screenInteraction && !this.hooks.screenInteraction(event.body)) return event.ack();
      return super.processEvent(event);
    }
    await super.processEvent({ ...event, ack: async () => {} });
    await event.ack();
  }
}

/** True for an Events API envelope (`event_callback` with an `event`), as Bolt tells them apart. */
export function isEventsApiBody(body: unknown): boolean {
  return typeof body === 'object' && body !== null && (body as { event?: unknown }).event !== undefined;
}

/** A receiver that receives nothing by itself: the adapter feeds `app.processEvent`. */
export class PassiveReceiver implements Receiver {
  init(): void {}
  async start(): Promise<void> {}
  async stop(): Promise<void> {}
}

/** Bolt's logger interface on top of a pino logger. */
export function boltLogger(logger: Logger): BoltLogger {
  let name = 'bolt';
  const text = (parts: unknown[]) => parts.map(describe).join(' ');
  return {
    debug: (...m: unknown[]) => logger.trace({ lib: name }, text(m)),
    info: (...m: unknown[]) => logger.info({ lib: name }, text(m)),
    warn: (...m: unknown[]) => logger.warn({ lib: name }, text(m)),
    error: (...m: unknown[]) => logger.error({ lib: name }, text(m)),
    setLevel: () => {},
    getLevel: () => {
      if (logger.isLevelEnabled('trace')) return LogLevel.DEBUG;
      if (logger.isLevelEnabled('info')) return LogLevel.INFO;
      if (logger.isLevelEnabled('warn')) return LogLevel.WARN;
      return LogLevel.ERROR;
    },
    setName: (n: string) => {
      name = n;
    },
  };
}

/** One log fragment: strings as they are, errors by message, anything else as bounded JSON. */
function describe(part: unknown): string {
  if (typeof part === 'string') return part;
  if (part instanceof Error) return `${part.name}: ${part.message}`;
  try {
    const json = JSON.stringify(part);
    return json === undefined ? String(part) : json.length > 2_000 ? `${json.slice(0, 2_000)}…` : json;
  } catch {
    return String(part);
  }
}
