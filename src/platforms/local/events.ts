/**
 * Server-Sent Events for the local web chat: one hub, many browser connections.
 *
 * Wire format per event: `event: <name>\ndata: <one line of JSON>\n\n`. A comment line
 * (`: ping`) is sent every `heartbeatMs` so proxies and browsers keep the stream open.
 * A client that stops reading (more than 4 MiB buffered) is disconnected; EventSource
 * reconnects by itself and the page reloads its state on reconnect.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Logger } from '../../logger.js';

/** Event names the page listens to. */
export type LocalEventName = 'message.created' | 'message.updated' | 'thread.status';

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

  /** Sends an event to every stream subscribed to `channel` (or to all channels). */
  emit(name: LocalEventName, channel: string, data: unknown): void {
    if (this.clients.size === 0) return;
    const frame = `event: ${name}\ndata: ${JSON.stringify(data)}\n\n`;
    for (const client of this.clients) {
      if (client.channel !== undefined && client.channel !== channel) continue;
      this.write(client, frame);
    }
  }

  /** Ends every open stream (used on stop). */
  closeAll(): void {
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
