/**
 * Server-Sent Events for the local web chat: one hub, many browser connections.
 *
 * Wire format per event: `event: <name>\ndata: <one line of JSON>\n\n`. A comment line
 * (`: ping`) is sent every `heartbeatMs` so proxies and browsers keep the stream open.
 * A client that stops reading (more than 4 MiB buffered) is disconnected; EventSource
 * reconnects by itself and the page reloads its state on reconnect.
 *
 * Cluster mode (docs/ARCHITECTURE.md §10): a page is connected to one instance, while a turn (and
 * its bot messages) may run on another. With a relay ({@link LocalEventHub.connectRelay}) every
 * event emitted here is also published to the other instances, and their events reach this
 * hub's streams. A relayed message event carries the whole message when it fits in a signal,
 * else only its id (`ref`), and the receiving hub loads the message from the shared store. When
 * the relay says events may have been missed (`resync`), every stream is ended: EventSource
 * reconnects by itself (`retry: 2000`) and the page loads its channel and thread again.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Logger } from '../../logger.js';

/** Event names the page listens to. */
export const LOCAL_EVENT_NAMES = ['message.created', 'message.updated', 'thread.status'] as const;
export type LocalEventName = (typeof LOCAL_EVENT_NAMES)[number];

/**
 * One event as relayed between instances: the event's name, its channel, and its data (what the
 * streams get: a LocalApiMessage for `message.*`, `{channel, thread, status}` for `thread.status`)
 * and/or `ref`, the message id to load it by when `data` is absent. A published event has `data`
 * and, for `message.*`, `ref`; the relay may drop `data` when it is too large to send.
 */
export interface LocalRelayEvent {
  name: LocalEventName;
  channel: string;
  data?: unknown;
  ref?: string;
}

/** Another instance began a graceful stop (cluster mode's `restart` notice, src/cluster/restart-notices.ts). */
export interface PeerStoppingNotice {
  /** The stopping instance's id. */
  instanceId: string;
  /** True for `/agent restart` (it comes back), false for a shutdown. */
  again: boolean;
  /** Seconds its running turns get to finish. */
  graceS: number;
  /** Conversation ids of the turns running on it (of every platform). */
  turns: readonly string[];
}

/** Another instance's turns ended after its stop notice (cluster mode's `restart` notice). */
export interface PeerStoppedNotice {
  instanceId: string;
  again: boolean;
  /** Conversation ids of the turns it cut: another instance runs them again. Its other announced turns finished. */
  cut: readonly string[];
}

/** What a relay delivers to a hub. */
export interface LocalRelayReceiver {
  /** An event emitted by another instance. */
  event(event: LocalRelayEvent): void;
  /** Events may have been missed (the relay's connection was lost): clients should reload. */
  resync(): void;
  /** Another instance began a graceful stop. */
  peerStopping?(notice: PeerStoppingNotice): void;
  /** Another instance's turns ended after its stop notice. */
  peerStopped?(notice: PeerStoppedNotice): void;
  /** Another instance (re)joined. */
  peerStarted?(instanceId: string): void;
}

/** Carries the local chat's events between instances (cluster mode: src/cluster/local-relay.ts). */
export interface LocalEventRelay {
  /** Publishes an event this instance emitted; fire and forget (never throws; failures are the relay's to log). */
  publish(event: LocalRelayEvent): void;
  /** Starts delivering other instances' events to `receiver`; returns the function that stops it. */
  subscribe(receiver: LocalRelayReceiver): () => void;
}

/** What {@link LocalEventHub.connectRelay} needs besides the relay. */
export interface LocalRelayOptions {
  relay: LocalEventRelay;
  /** The data of a message event by message id (from the shared store), undefined when the message is gone. */
  load(ref: string): Promise<unknown>;
  /** Called with each event received from another instance, before the streams get it (the adapter keeps thread statuses). */
  received?(name: LocalEventName, channel: string, data: unknown): void;
  /** Called when events may have been missed, before the streams are ended (the adapter forgets relayed thread statuses). */
  resynced?(): void;
  /** Called when another instance began a graceful stop, in order with the relayed events (the adapter shows it in the affected threads). */
  peerStopping?(notice: PeerStoppingNotice): void;
  /** Called when another instance's turns ended after its stop notice, in order with the relayed events (the adapter updates or clears what it showed). */
  peerStopped?(notice: PeerStoppedNotice): void;
  /** Called when another instance (re)joined, in order with the relayed events (the adapter clears what it showed for it). */
  peerStarted?(instanceId: string): void;
}

interface Client {
  res: ServerResponse;
  /** Only events of this channel, or all when undefined. */
  channel?: string;
}

/** Bytes a client may have buffered before it is dropped. */
const MAX_BUFFERED_BYTES = 4 * 1024 * 1024;

export class LocalEventHub {
  private readonly clients = new Set<Client>();
  private heartbeat: NodeJS.Timeout | undefined;
  private relay: LocalEventRelay | undefined;
  /** Disconnects the relay (set while one is connected). */
  private disconnect: (() => void) | undefined;
  /** Received events are delivered one after the other, in arrival order (a loaded one included). */
  private delivering: Promise<void> = Promise.resolve();

  constructor(
    private readonly logger: Logger,
    /** Interval of the comment heartbeat, in ms. */
    private readonly heartbeatMs = 15_000,
  ) {}

  /** Number of open event streams. */
  get size(): number {
    return this.clients.size;
  }

  /**
   * Turns `res` into an event stream and keeps it until the client goes away or
   * {@link closeAll} is called.
   * A response already closed (the client went away while the request was checked) is left alone.
   * @param channel deliver only events of this channel (undefined = every channel).
   */
  subscribe(req: IncomingMessage, res: ServerResponse, channel?: string): void {
    if (res.destroyed || res.writableEnded) return;
    res.writeHead(200, {
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-store',
      connection: 'keep-alive',
      'x-accel-buffering': 'no',
    });
    res.write('retry: 2000\n: connected\n\n');
    const client: Client = { res, channel };
    this.clients.add(client);
    const drop = () => {
      this.clients.delete(client);
      if (this.clients.size === 0) this.stopHeartbeat();
    };
    res.on('close', drop);
    req.on('close', drop);
    res.on('error', drop);
    this.startHeartbeat();
  }

  /**
   * Sends an event to every stream subscribed to `channel` (or to all channels), and with a relay
   * to the other instances (`ref` = `data.id` for message events).
   */
  emit(name: LocalEventName, channel: string, data: unknown): void {
    if (this.relay) {
      const id = name !== 'thread.status' ? (data as { id?: unknown } | null)?.id : undefined;
      this.relay.publish(typeof id === 'string' ? { name, channel, data, ref: id } : { name, channel, data });
    }
    this.deliver(name, channel, data);
  }

  /**
   * Connects a relay (cluster mode, see the module comment): events emitted from now on are also
   * published, and other instances' events reach this hub's streams (after `opts.received`).
   * Returns the function that disconnects it (also called by {@link closeAll}).
   * @throws Error when a relay is connected already.
   */
  connectRelay(opts: LocalRelayOptions): () => void {
    if (this.relay) throw new Error('local chat: a relay is connected already');
    this.relay = opts.relay;
    const unsubscribe = opts.relay.subscribe({
      event: (event) => {
        this.delivering = this.delivering
          .then(() => this.receive(event, opts))
          .catch((err: unknown) => {
            this.logger.warn({ err, name: event.name, ref: event.ref }, 'local chat: a relayed event could not be delivered');
          });
      },
      resync: () => {
        try {
          opts.resynced?.();
        } finally {
          this.resync();
        }
      },
      peerStopping: (notice) => this.inOrder('peer stopping', () => opts.peerStopping?.(notice)),
      peerStopped: (notice) => this.inOrder('peer stopped', () => opts.peerStopped?.(notice)),
      peerStarted: (id) => this.inOrder('peer started', () => opts.peerStarted?.(id)),
    });
    let connected = true;
    this.disconnect = () => {
      if (!connected) return;
      connected = false;
      unsubscribe();
      this.relay = undefined;
      this.disconnect = undefined;
    };
    return this.disconnect;
  }

  /** Runs `fn` after the relayed events received before it were delivered; a throw is logged. */
  private inOrder(what: string, fn: () => void): void {
    this.delivering = this.delivering.then(fn).catch((err: unknown) => this.logger.warn({ err, what }, 'local chat: a relayed notice could not be handled'));
  }

  /** Sends an event to this hub's streams only (not relayed): what this instance shows of another's notice. */
  emitHere(name: LocalEventName, channel: string, data: unknown): void {
    this.deliver(name, channel, data);
  }

  /**
   * Ends every open stream so that each page reconnects and loads its state again (events may
   * have been missed). The hub stays usable.
   */
  resync(): void {
    if (this.clients.size === 0) return;
    this.logger.info({ streams: this.clients.size }, 'local chat: ending the event streams so pages reload (events may have been missed)');
    for (const client of this.clients) client.res.end();
    this.clients.clear();
    this.stopHeartbeat();
  }

  /** An event from another instance: its data (loaded by `ref` when absent) to this hub's streams only. */
  private async receive(event: LocalRelayEvent, opts: LocalRelayOptions): Promise<void> {
    let data = event.data;
    if (data === undefined) {
      if (event.ref === undefined) return;
      data = await opts.load(event.ref);
      if (data === undefined) return; // gone meanwhile (pruned)
    }
    opts.received?.(event.name, event.channel, data);
    this.deliver(event.name, event.channel, data);
  }

  /** Writes an event to this hub's streams of `channel` (or of every channel). */
  private deliver(name: LocalEventName, channel: string, data: unknown): void {
    if (this.clients.size === 0) return;
    const frame = `event: ${name}\ndata: ${JSON.stringify(data)}\n\n`;
    for (const client of this.clients) {
      if (client.channel !== undefined && client.channel !== channel) continue;
      this.write(client, frame);
    }
  }

  /** Ends every open stream and disconnects the relay (used on stop). */
  closeAll(): void {
    this.disconnect?.();
    for (const client of this.clients) client.res.end();
    this.clients.clear();
    this.stopHeartbeat();
  }

  private write(client: Client, frame: string): void {
    const { res } = client;
    if (res.writableEnded || res.destroyed) {
      this.clients.delete(client);
      return;
    }
    if (res.writableLength > MAX_BUFFERED_BYTES) {
      this.logger.warn('local chat: dropping an event stream that stopped reading');
      this.clients.delete(client);
      res.destroy();
      return;
    }
    res.write(frame);
  }

  private startHeartbeat(): void {
    if (this.heartbeat) return;
    this.heartbeat = setInterval(() => {
      for (const client of this.clients) this.write(client, ': ping\n\n');
    }, this.heartbeatMs);
    this.heartbeat.unref();
  }

  private stopHeartbeat(): void {
    if (this.heartbeat) clearInterval(this.heartbeat);
    this.heartbeat = undefined;
  }
}
