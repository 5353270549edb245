/**
 * PostgreSQL LISTEN/NOTIFY for cluster mode's cross-instance signals (docs/ARCHITECTURE.md §10).
 *
 * - {@link notify}: `SELECT pg_notify($1, $2)` on any pool or client (the store's pool). A
 *   notification is sent when the sender's transaction commits (immediately outside one).
 * - {@link PgListener}: `LISTEN <channel>` on a dedicated `pg.Client` (not one of the pool: a
 *   pooled connection would be handed to other queries and its LISTEN lost when it is replaced).
 *   When that connection is lost (server restart, `pg_terminate_backend`, network; a silent loss
 *   shows up through the heartbeat) it connects again with backoff — 0.5 s doubling to 5 s — and
 *   emits `reconnect` once it listens again: notifications sent meanwhile are gone (PostgreSQL
 *   queues them only for sessions listening at commit time), so a receiver resyncs.
 *
 * PostgreSQL facts (docs: "NOTIFY", https://www.postgresql.org/docs/15/sql-notify.html): the
 * payload must be shorter than 8,000 bytes in the default configuration; a channel is an SQL
 * identifier; notifications of one transaction are delivered in order, and a session gets its own
 * notifications too.
 */
import { EventEmitter } from 'node:events';
import pg from 'pg';
import type { Logger } from '../logger.js';
import { backoffDelay } from './health.js';
import { redactUrl } from './postgres.js';

/**
 * Largest payload {@link notify} sends, bytes of UTF-8: PostgreSQL's limit is 8,000 bytes (the
 * payload must be shorter), this leaves room so a payload never fails there.
 */
export const NOTIFY_MAX_PAYLOAD_BYTES = 7_900;

/** A channel name this module accepts: a lowercase unquoted SQL identifier, at most 63 bytes (PostgreSQL's NAMEDATALEN − 1). */
const CHANNEL_PATTERN = /^[a-z_][a-z0-9_]{0,62}$/;

/** A payload over {@link NOTIFY_MAX_PAYLOAD_BYTES}: nothing was sent. */
export class NotifyPayloadTooLargeError extends Error {
  override readonly name = 'NotifyPayloadTooLargeError';
  constructor(
    readonly channel: string,
    /** The payload's size, bytes of UTF-8. */
    readonly bytes: number,
  ) {
    super(`NOTIFY payload on channel ${channel} is ${bytes} bytes; at most ${NOTIFY_MAX_PAYLOAD_BYTES} bytes are sent (PostgreSQL's limit is 8,000)`);
  }
}

/**
 * Checks a channel name: lowercase letters, digits and `_`, not starting with a digit, 1–63
 * characters (so it is the same identifier quoted or not). Returns it.
 * @throws Error for any other name.
 */
export function checkChannelName(channel: string): string {
  if (!CHANNEL_PATTERN.test(channel)) throw new Error(`invalid NOTIFY channel name ${JSON.stringify(channel)}: use [a-z_][a-z0-9_]*, at most 63 characters`);
  return channel;
}

/** Something that runs a parameterised query: a `pg.Pool`, a `pg.Client` or a pool client. */
export interface Queryable {
  query(text: string, values: unknown[]): Promise<unknown>;
}

/**
 * Sends `payload` on `channel` (`SELECT pg_notify($1, $2)`) through `db`.
 * @throws NotifyPayloadTooLargeError when `payload` is over {@link NOTIFY_MAX_PAYLOAD_BYTES} bytes
 *   of UTF-8 (nothing sent); Error for an invalid channel name ({@link checkChannelName}); the
 *   query's error when the database cannot be reached.
 */
export async function notify(db: Queryable, channel: string, payload: string): Promise<void> {
  checkChannelName(channel);
  const bytes = Buffer.byteLength(payload, 'utf8');
  if (bytes > NOTIFY_MAX_PAYLOAD_BYTES) throw new NotifyPayloadTooLargeError(channel, bytes);
  await db.query('SELECT pg_notify($1, $2)', [channel, payload]);
}

/** Options of {@link PgListener}. */
export interface PgListenerOptions {
  /** `postgres://…` connection string (the store's database). */
  url: string;
  /** The channel to LISTEN on ({@link checkChannelName}). */
  channel: string;
  logger: Logger;
  /** The connection's `application_name` (default `agentbridge listener`). */
  applicationName?: string;
  /** First reconnect delay, ms (default 500); doubles per failed attempt. */
  initialDelayMs?: number;
  /** Longest reconnect delay, ms (default 5,000). */
  maxDelayMs?: number;
  /** Every this many ms a `SELECT 1` checks the connection (a silent network loss shows up); default 30,000; 0 turns it off. */
  heartbeatMs?: number;
}

/** Events of a {@link PgListener}. */
export interface PgListenerEvents {
  /** A notification on the channel: its payload ('' when sent without). Also this session's own notifications. */
  notification: [payload: string];
  /** The connection was lost (reconnecting starts). */
  lost: [err: Error];
  /** Listening again after a loss: notifications sent in between were missed; resync. */
  reconnect: [];
}

/**
 * `LISTEN <channel>` on a dedicated connection, kept up across losses (see the module comment).
 * Use: `const l = new PgListener(opts); l.on('notification', …); l.on('reconnect', …); await l.start();`
 * … `await l.close()`. Listeners that throw are logged, never crash the process.
 */
export class PgListener extends EventEmitter<PgListenerEvents> {
  private client: pg.Client | undefined;
  private state: 'new' | 'listening' | 'reconnecting' | 'closed' = 'new';
  private attempt = 0;
  private timer: NodeJS.Timeout | undefined;
  private heartbeat: NodeJS.Timeout | undefined;
  private readonly redactedUrl: string;
  private readonly channel: string;

  constructor(private readonly opts: PgListenerOptions) {
    super({ captureRejections: false });
    this.channel = checkChannelName(opts.channel);
    this.redactedUrl = redactUrl(opts.url);
  }

  /** 'listening' while the LISTEN connection is up; 'reconnecting' after a loss; 'closed' after {@link close}. */
  get status(): 'new' | 'listening' | 'reconnecting' | 'closed' {
    return this.state;
  }

  /** The server process id of the listening session (tests end it with `pg_terminate_backend`); undefined while not connected. */
  get backendPid(): number | undefined {
    return (this.client as (pg.Client & { processID?: number }) | undefined)?.processID ?? undefined;
  }

  /**
   * Connects and listens. Resolves once `LISTEN` ran.
   * @throws Error naming the redacted URL when the first connection fails (no retry: the caller
   *   decides), and an Error when called twice or after {@link close}.
   */
  async start(): Promise<void> {
    if (this.state !== 'new') throw new Error(`PgListener on ${this.channel}: start() called when ${this.state}`);
    const client = await this.connect();
    if ((this.state as string) === 'closed') {
      await client.end().catch(() => {});
      return;
    }
    this.adopt(client);
  }

  /** Stops listening and closes the connection. Idempotent; never throws. */
  async close(): Promise<void> {
    if (this.state === 'closed') return;
    this.state = 'closed';
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    this.stopHeartbeat();
    const client = this.client;
    this.client = undefined;
    if (client) await client.end().catch(() => {});
  }

  /** A new connection that listens on the channel; throws (connection closed) when either step fails. */
  private async connect(): Promise<pg.Client> {
    const heartbeatMs = this.opts.heartbeatMs ?? 30_000;
    const client = new pg.Client({
      connectionString: this.opts.url,
      application_name: (this.opts.applicationName ?? 'agentbridge listener').replace(/[^\x20-\x7e]/gu, '?').slice(0, 63),
      connectionTimeoutMillis: 5000,
      keepAlive: true,
      ...(heartbeatMs > 0 ? { query_timeout: Math.max(heartbeatMs, 10_000) } : {}),
    });
    client.on('error', () => {}); // until adopted: an error event must not crash the process
    try {
      await client.connect();
      // The channel passed checkChannelName: a plain lowercase identifier, safe to quote.
      await client.query(`LISTEN "${this.channel}"`);
    } catch (err) {
      await client.end().catch(() => {});
      throw new Error(`cannot LISTEN on ${this.channel} at ${this.redactedUrl}: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
    }
    return client;
  }

  /** Makes `client` the listening connection and watches it. */
  private adopt(client: pg.Client): void {
    this.client = client;
    this.state = 'listening';
    this.attempt = 0;
    client.on('notification', (msg) => {
      if (this.client !== client || msg.channel !== this.channel) return;
      this.safeEmit('notification', msg.payload ?? '');
    });
    client.on('error', (err) => this.lost(client, err));
    client.on('end', () => this.lost(client, new Error(`the LISTEN connection of ${this.channel} to ${this.redactedUrl} closed`)));
    const heartbeatMs = this.opts.heartbeatMs ?? 30_000;
    if (heartbeatMs > 0) {
      this.heartbeat = setInterval(() => {
        client.query('SELECT 1').catch((err: unknown) => this.lost(client, err instanceof Error ? err : new Error(String(err))));
      }, heartbeatMs);
      this.heartbeat.unref();
    }
  }

  private lost(from: pg.Client, err: Error): void {
    if (this.state !== 'listening' || from !== this.client) return;
    this.state = 'reconnecting';
    this.client = undefined;
    this.stopHeartbeat();
    from.end().catch(() => {});
    this.opts.logger.warn({ err, channel: this.channel, url: this.redactedUrl }, 'pg listener: connection lost; reconnecting');
    this.safeEmit('lost', err);
    this.scheduleReconnect();
  }

  private scheduleReconnect(): void {
    if (this.state !== 'reconnecting') return;
    const delay = backoffDelay(this.attempt++, this.opts.initialDelayMs ?? 500, this.opts.maxDelayMs ?? 5_000);
    this.timer = setTimeout(() => {
      this.timer = undefined;
      void this.reconnect();
    }, delay);
    this.timer.unref();
  }

  private async reconnect(): Promise<void> {
    if (this.state !== 'reconnecting') return;
    let client: pg.Client;
    try {
      client = await this.connect();
    } catch (err) {
      this.opts.logger.debug({ err, channel: this.channel, attempt: this.attempt }, 'pg listener: reconnect failed; trying again');
      this.scheduleReconnect();
      return;
    }
    if (this.state !== 'reconnecting') {
      await client.end().catch(() => {}); // closed meanwhile
      return;
    }
    this.adopt(client);
    this.opts.logger.info({ channel: this.channel, url: this.redactedUrl }, 'pg listener: listening again');
    this.safeEmit('reconnect');
  }

  private stopHeartbeat(): void {
    if (this.heartbeat) clearInterval(this.heartbeat);
    this.heartbeat = undefined;
  }

  /** Emits to every listener; one that throws is logged and the others still run. */
  private safeEmit<K extends keyof PgListenerEvents>(event: K, ...args: PgListenerEvents[K]): void {
    for (const listener of this.listeners(event) as Array<(...a: PgListenerEvents[K]) => void>) {
      try {
        listener(...args);
      } catch (err) {
        this.opts.logger.error({ err, channel: this.channel, event }, 'pg listener: a listener failed');
      }
    }
  }
}
