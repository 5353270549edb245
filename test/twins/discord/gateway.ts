/**
 * The Discord twin's Gateway: a WebSocket endpoint speaking JSON frames `{op, d, s, t}`
 * (no compression; discord.js without zlib-sync asks for none).
 *
 * Flow (verified against discord.js 14.28.1 / @discordjs/ws 1.2.3):
 * - on connect the server sends op 10 Hello `{heartbeat_interval}` (ms);
 * - op 2 Identify `{token, intents, properties, shard}` → dispatch READY `{v, user, guilds:
 *   [{id, unavailable:true}], session_id, resume_gateway_url, application}` then GUILD_CREATE
 *   with `channels` and `threads` (discord.js emits `messageCreate` only for cached channels);
 * - op 1 Heartbeat → op 11 Heartbeat ACK;
 * - dispatches are op 0 with `s` increasing by one per session;
 * - op 6 Resume `{token, session_id, seq}` on the `resume_gateway_url`: the missed dispatches
 *   (s > seq) are replayed, then RESUMED; a session that cannot resume gets op 9 Invalid
 *   Session `d:false` (discord.js then re-identifies: a new session, READY again);
 * - op 7 Reconnect asks the client to reconnect and resume.
 * Close code 4004 = authentication failed, 4014 = a privileged intent (Message Content,
 * 1 << 15) not enabled for the application (discord.js does not retry either); 4000 = unknown
 * error (discord.js resumes).
 */
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { randomBytes } from 'node:crypto';
import { WebSocketServer, type WebSocket } from 'ws';
import type { TwinWorld } from './state.js';

/** The privileged Message Content intent bit. */
const MESSAGE_CONTENT = 1 << 15;

/** One recorded gateway frame. `dir` is from the twin's point of view. */
export interface GatewayFrame {
  dir: 'in' | 'out';
  op: number;
  t?: string | null;
  s?: number | null;
  d: unknown;
  at: number;
  /** Connection number (1-based, in connection order). */
  conn: number;
}

interface Session {
  id: string;
  seq: number;
  /** Every dispatch of this session, for replay on resume. */
  sent: Array<{ op: 0; t: string; s: number; d: unknown }>;
  ws?: WebSocket;
  /** False once the twin decided this session cannot be resumed. */
  resumable: boolean;
}

export class TwinGateway {
  readonly frames: GatewayFrame[] = [];
  /** Paths of the WebSocket connections, in order (`/gateway` or `/gateway-resume`). */
  readonly connections: string[] = [];
  private readonly wss = new WebSocketServer({ noServer: true });
  private session?: Session;
  private readonly sockets = new Set<WebSocket>();

  constructor(
    private readonly world: TwinWorld,
    private readonly opts: { token: string; heartbeatIntervalMs: number; baseWsUrl: () => string; messageContentIntent: boolean },
  ) {}

  /** Handles an HTTP upgrade for `/gateway` and `/gateway-resume`; false for other paths. */
  upgrade(req: IncomingMessage, socket: Duplex, head: Buffer): boolean {
    const path = (req.url ?? '').split('?')[0];
    if (path !== '/gateway' && path !== '/gateway-resume') return false;
    this.wss.handleUpgrade(req, socket, head, (ws) => this.onConnection(ws, path));
    return true;
  }

  /** Identifies that came while another session still had a live connection (two gateway holders at once). */
  identifiedWhileLive = 0;

  /** True while an identified or resumed session has a live connection. */
  connected(): boolean {
    return this.session?.ws !== undefined;
  }

  /** Id of the current session (changes when the client identifies again). */
  sessionId(): string | undefined {
    return this.session?.id;
  }

  /**
   * Sends a dispatch to the current session. Without a live connection a resumable session
   * keeps it for replay; without a session it is dropped (the data stays in the world, so
   * REST history still has it).
   */
  dispatch(t: string, d: unknown): void {
    const s = this.session;
    if (!s || !s.resumable) return;
    const frame = { op: 0 as const, t, s: ++s.seq, d };
    s.sent.push(frame);
    if (s.ws) this.send(s.ws, frame);
  }

  /**
   * Drops the connection (close code 4000, which discord.js answers by resuming). With
   * `resumable: false` the session is forgotten at once: the resume gets op 9 `d:false`, and
   * dispatches until the next Identify are not delivered.
   */
  disconnect(opts: { resumable: boolean }): void {
    const s = this.session;
    if (!s) return;
    const ws = s.ws;
    s.ws = undefined;
    if (!opts.resumable) {
      s.resumable = false;
      this.session = undefined;
    }
    ws?.close(4000, 'twin: simulated disconnect');
  }

  /** Sends op 7 Reconnect (the client should reconnect and resume). */
  requestReconnect(): void {
    const ws = this.session?.ws;
    if (ws) this.send(ws, { op: 7, d: null });
  }

  async close(): Promise<void> {
    for (const ws of this.sockets) ws.terminate();
    await new Promise<void>((r) => this.wss.close(() => r()));
  }

  private onConnection(ws: WebSocket, path: string): void {
    this.connections.push(path);
    const conn = this.connections.length;
    this.sockets.add(ws);
    ws.on('close', () => {
      this.sockets.delete(ws);
      if (this.session?.ws === ws) this.session.ws = undefined;
    });
    ws.on('message', (raw) => {
      let frame: { op: number; d: unknown };
      try {
        frame = JSON.parse(String(raw)) as { op: number; d: unknown };
      } catch {
        ws.close(4002, 'Error while decoding payload.');
        return;
      }
      this.frames.push({ dir: 'in', op: frame.op, d: redactToken(frame.d), at: Date.now(), conn });
      this.onFrame(ws, frame);
    });
    (ws as WebSocket & { _twinConn?: number })._twinConn = conn;
    this.send(ws, { op: 10, d: { heartbeat_interval: this.opts.heartbeatIntervalMs } });
  }

  private onFrame(ws: WebSocket, frame: { op: number; d: unknown }): void {
    switch (frame.op) {
      case 1:
        this.send(ws, { op: 11, d: null });
        return;
      case 2: {
        const d = frame.d as { token?: string; intents?: number };
        if (d.token !== this.opts.token) {
          ws.close(4004, 'Authentication failed.');
          return;
        }
        if (!this.opts.messageContentIntent && ((d.intents ?? 0) & MESSAGE_CONTENT) !== 0) {
          ws.close(4014, 'Disallowed intent(s).');
          return;
        }
        if (this.session?.ws && this.session.ws !== ws) {
          // Two clients of one shard (Discord would send both every event): counted, and the older one replaced.
          this.identifiedWhileLive++;
          this.session.ws.close(4000, 'twin: replaced by a new session');
        }
        const session: Session = { id: randomBytes(16).toString('hex'), seq: 0, sent: [], ws, resumable: true };
        this.session = session;
        const w = this.world;
        this.dispatch('READY', {
          v: 10,
          user: { ...w.apiUser(w.bot), verified: true, mfa_enabled: false, flags: 0 },
          guilds: [{ id: w.guildId, unavailable: true }],
          session_id: session.id,
          resume_gateway_url: `${this.opts.baseWsUrl()}/gateway-resume`,
          session_type: 'normal',
          shard: [0, 1],
          application: { id: w.applicationId, flags: 0 },
          private_channels: [],
          relationships: [],
          guild_join_requests: [],
          user_settings: {},
        });
        this.dispatch('GUILD_CREATE', w.apiGuildCreate());
        return;
      }
      case 6: {
        const d = frame.d as { token?: string; session_id?: string; seq?: number };
        const s = this.session;
        if (d.token !== this.opts.token) {
          ws.close(4004, 'Authentication failed.');
          return;
        }
        if (!s || !s.resumable || s.id !== d.session_id) {
          this.send(ws, { op: 9, d: false });
          return;
        }
        s.ws = ws;
        for (const f of s.sent) if (f.s > (d.seq ?? 0)) this.send(ws, f);
        this.dispatch('RESUMED', {});
        return;
      }
      default:
        // Presence/voice updates etc.: accepted and ignored.
        return;
    }
  }

  private send(ws: WebSocket, frame: { op: number; d: unknown; t?: string; s?: number }): void {
    const conn = (ws as WebSocket & { _twinConn?: number })._twinConn ?? 0;
    this.frames.push({ dir: 'out', op: frame.op, t: frame.t ?? null, s: frame.s ?? null, d: frame.d, at: Date.now(), conn });
    if (ws.readyState === ws.OPEN) ws.send(JSON.stringify({ t: null, s: null, ...frame }));
  }
}

/** Identify/Resume carry the token: keep it out of the recording. */
function redactToken(d: unknown): unknown {
  if (d && typeof d === 'object' && 'token' in d) return { ...(d as object), token: '[token]' };
  return d;
}
