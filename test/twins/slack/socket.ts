/**
 * The Slack twin's Socket Mode endpoint (WebSocket, `ws` library).
 *
 * Wire facts (api.slack.com Socket Mode docs, docs/ARCHITECTURE.md §7; verified with @slack/socket-mode by test/e2e/slack-socket.test.ts):
 * - the client gets a one-time URL from `apps.connections.open` and connects; the server sends
 *   `{"type":"hello",…}` and from then on envelopes `{envelope_id, type:"events_api", payload,
 *   accepts_response_payload, retry_attempt, retry_reason}`;
 * - the client acknowledges with `{"envelope_id": id, "payload": {…}}`;
 * - `{"type":"disconnect","reason":"refresh_requested"}` asks the client to reconnect (it calls
 *   apps.connections.open again); a dropped TCP connection makes it reconnect too.
 * Slack redelivers events that were not acknowledged: here, when a new connection says hello,
 * every event whose deliveries were all unacknowledged is sent again (`retry_attempt` + 1,
 * `retry_reason: "timeout"`), then events that arrived while nobody was connected.
 * Events go to the newest open connection.
 *
 * Slash commands: `{envelope_id, type: "slash_commands", payload: {command, text, user_id, …},
 * accepts_response_payload: true}`; the client's ack `{envelope_id, payload: {response_type,
 * text}}` is the response Slack shows. They are never redelivered (Slack does not retry slash
 * commands; the user sees an error when no ack came within 3 s).
 *
 * Interactions (button clicks): `{envelope_id, type: "interactive", payload: {type:
 * "block_actions", …}, accepts_response_payload: false}`, acknowledged like a command (an empty
 * ack is expected). Slack does not redeliver them either; {@link SocketHub.sendInteractive} can
 * be called again with the same payload to simulate a duplicate delivery.
 */
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { WebSocketServer, type WebSocket } from 'ws';

/** One envelope as sent. */
export interface SentEnvelope {
  envelope_id: string;
  event_id: string;
  payload: Record<string, unknown>;
  retry_attempt: number;
  retry_reason: string;
  /** 1-based number of the connection it was sent on. */
  connection: number;
  sentAt: number;
  acked: boolean;
}

export interface ReceivedAck {
  envelope_id: string;
  payload: unknown;
  at: number;
}

/** A slash command or interactive envelope as sent, with its acknowledgement once it came. */
export interface SentCommand {
  envelope_id: string;
  payload: Record<string, unknown>;
  connection: number;
  sentAt: number;
  /** The ack's `payload` (the response), once acknowledged. */
  ack?: unknown;
  ackedAt?: number;
  /** Resolves once the command is acknowledged. */
  acked: Promise<void>;
}

interface Queued {
  payload: Record<string, unknown>;
  retry_attempt: number;
  retry_reason: string;
}

export class SocketHub {
  readonly envelopes: SentEnvelope[] = [];
  readonly acks: ReceivedAck[] = [];
  readonly commands: SentCommand[] = [];
  /** `interactive` envelopes sent (button clicks), oldest first. */
  readonly interactive: SentCommand[] = [];
  private readonly ackWaiters = new Map<string, () => void>();
  /** Connections that completed the hello, ever. */
  connectionsOpened = 0;
  /** When set, the twin pings each connection this often, ms (Slack's server pings). */
  pingIntervalMs?: number;
  /** Pings received from clients. */
  pingsReceived = 0;
  private readonly wss = new WebSocketServer({ noServer: true, autoPong: false });
  private readonly silent = new Set<WebSocket>();
  private readonly sockets = new Set<WebSocket>();
  private current?: { ws: WebSocket; n: number };
  /** Every open connection (hello sent) and its number. */
  private readonly open = new Map<WebSocket, number>();
  private readonly queue: Queued[] = [];
  private readonly tickets = new Set<string>();
  private envelopeCounter = 0;
  private ticketCounter = 0;

  /** A one-time socket URL for `apps.connections.open`. */
  newUrl(base: string): string {
    const ticket = `t${++this.ticketCounter}-${Math.random().toString(36).slice(2, 10)}`;
    this.tickets.add(ticket);
    return `${base.replace(/^http/, 'ws')}/socket?ticket=${ticket}`;
  }

  /** How many connections are open now (cluster mode: one per instance in Socket Mode). */
  get openConnections(): number {
    return this.open.size;
  }

  /** True while a client is connected (hello sent). */
  get connected(): boolean {
    return this.current !== undefined;
  }

  /** Handles an HTTP upgrade to `/socket?ticket=…`; other upgrades are refused. */
  handleUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    const url = new URL(req.url ?? '/', 'http://twin');
    const ticket = url.searchParams.get('ticket') ?? '';
    if (url.pathname !== '/socket' || !this.tickets.delete(ticket)) {
      socket.end('HTTP/1.1 401 Unauthorized\r\nconnection: close\r\ncontent-length: 0\r\n\r\n');
      return;
    }
    this.wss.handleUpgrade(req, socket, head, (ws) => this.onConnection(ws));
  }

  /**
   * The current connection goes silent but stays open: no pongs, no pings, no events (they wait
   * for the next connection). New connections are not silent.
   */
  silence(): void {
    if (this.current) this.silent.add(this.current.ws);
  }

  /**
   * Sends an Events API payload now, or when a client connects. With several open connections of
   * the app (cluster mode: one per instance) Slack sends each event to one of them at random
   * ("Using Socket Mode": up to 10 connections, events distributed among them); silent ones are
   * skipped.
   */
  send(payload: Record<string, unknown>, retry_attempt = 0, retry_reason = ''): void {
    const open = [...this.open].filter(([ws]) => !this.silent.has(ws) && ws.readyState === ws.OPEN);
    if (open.length === 0) {
      this.queue.push({ payload, retry_attempt, retry_reason });
      return;
    }
    const [ws, n] = open[Math.floor(Math.random() * open.length)]!;
    this.write({ ws, n }, payload, retry_attempt, retry_reason);
  }

  /** Sends a `slash_commands` envelope to the connected client. @throws when nobody is connected. */
  sendCommand(payload: Record<string, unknown>): SentCommand {
    return this.sendAckable('slash_commands', payload, this.commands, true);
  }

  /** Sends an `interactive` envelope (a button click) to the connected client. @throws when nobody is connected. */
  sendInteractive(payload: unknown): SentCommand {
    return this.sendAckable('interactive', payload as Record<string, unknown>, this.interactive, false);
  }

  private sendAckable(type: string, payload: Record<string, unknown>, into: SentCommand[], acceptsResponse: boolean): SentCommand {
    if (!this.current) throw new Error('no Socket Mode client is connected');
    const envelope_id = `env-${++this.envelopeCounter}`;
    let resolve!: () => void;
    const acked = new Promise<void>((r) => (resolve = r));
    const sent: SentCommand = { envelope_id, payload, connection: this.current.n, sentAt: Date.now(), acked };
    this.ackWaiters.set(envelope_id, resolve);
    into.push(sent);
    this.current.ws.send(JSON.stringify({ envelope_id, type, payload, accepts_response_payload: acceptsResponse }));
    return sent;
  }

  /** Sends an event again as a retry (by envelope id or event id; latest delivery wins). */
  redeliver(id: string): SentEnvelope | undefined {
    const last = [...this.envelopes].reverse().find((e) => e.envelope_id === id || e.event_id === id);
    if (!last) throw new Error(`no envelope or event ${id} was sent`);
    const retries = this.envelopes.filter((e) => e.event_id === last.event_id).length;
    this.send(last.payload, retries, 'timeout');
    return this.envelopes.at(-1)?.event_id === last.event_id ? this.envelopes.at(-1) : undefined;
  }

  /** Closes every connection abruptly (no close frame), as a network failure would. */
  drop(): void {
    for (const ws of this.sockets) ws.terminate();
  }

  /** Asks the connected client to reconnect (`disconnect`, `refresh_requested`). */
  requestRefresh(): void {
    this.current?.ws.send(JSON.stringify({ type: 'disconnect', reason: 'refresh_requested', debug_info: { host: 'twin' } }));
  }

  close(): void {
    this.drop();
    this.wss.close();
  }

  private onConnection(ws: WebSocket): void {
    this.sockets.add(ws);
    const n = ++this.connectionsOpened;
    ws.on('message', (data) => this.onMessage(data.toString()));
    ws.on('ping', (data) => {
      this.pingsReceived++;
      if (!this.silent.has(ws)) ws.pong(data);
    });
    const pinger = this.pingIntervalMs
      ? setInterval(() => {
          if (!this.silent.has(ws) && ws.readyState === ws.OPEN) ws.ping(Buffer.from('twin ping'));
        }, this.pingIntervalMs)
      : undefined;
    ws.on('close', () => {
      clearInterval(pinger);
      this.sockets.delete(ws);
      this.silent.delete(ws);
      this.open.delete(ws);
      if (this.current?.ws === ws) this.current = [...this.open].map(([w, k]) => ({ ws: w, n: k })).at(-1);
    });
    ws.on('error', () => {});
    ws.send(
      JSON.stringify({
        type: 'hello',
        num_connections: this.sockets.size,
        debug_info: { host: 'twin', approximate_connection_time: 18060 },
        connection_info: { app_id: 'A0TWIN' },
      }),
    );
    this.current = { ws, n };
    this.open.set(ws, n);
    // Slack retries unacknowledged events; then what arrived while nobody was connected.
    const byEvent = new Map<string, SentEnvelope[]>();
    for (const e of this.envelopes) byEvent.set(e.event_id, [...(byEvent.get(e.event_id) ?? []), e]);
    for (const sent of byEvent.values()) {
      const last = sent[sent.length - 1]!;
      if (sent.every((e) => !e.acked) && last.connection < n) this.write(this.current, last.payload, sent.length, 'timeout');
    }
    for (const q of this.queue.splice(0)) this.write(this.current, q.payload, q.retry_attempt, q.retry_reason);
  }

  private write(to: { ws: WebSocket; n: number }, payload: Record<string, unknown>, retry_attempt: number, retry_reason: string): void {
    const envelope_id = `env-${++this.envelopeCounter}`;
    this.envelopes.push({
      envelope_id,
      event_id: String(payload.event_id),
      payload,
      retry_attempt,
      retry_reason,
      connection: to.n,
      sentAt: Date.now(),
      acked: false,
    });
    to.ws.send(JSON.stringify({ envelope_id, type: 'events_api', payload, accepts_response_payload: false, retry_attempt, retry_reason }));
  }

  private onMessage(text: string): void {
    let msg: { envelope_id?: unknown; payload?: unknown };
    try {
      msg = JSON.parse(text) as typeof msg;
    } catch {
      return;
    }
    if (typeof msg.envelope_id !== 'string') return;
    this.acks.push({ envelope_id: msg.envelope_id, payload: msg.payload, at: Date.now() });
    const e = this.envelopes.find((x) => x.envelope_id === msg.envelope_id);
    if (e) e.acked = true;
    const c = this.commands.find((x) => x.envelope_id === msg.envelope_id) ?? this.interactive.find((x) => x.envelope_id === msg.envelope_id);
    if (c && c.ackedAt === undefined) {
      c.ack = msg.payload;
      c.ackedAt = Date.now();
      this.ackWaiters.get(c.envelope_id)?.();
      this.ackWaiters.delete(c.envelope_id);
    }
  }
}
