/**
 * Cross-instance signals of cluster mode (docs/ARCHITECTURE.md §10 "Cluster mode — signals"):
 * small typed messages every instance sends to every other over PostgreSQL LISTEN/NOTIFY
 * (`src/store/pg-notify.ts`), on the channel {@link SIGNALS_CHANNEL}.
 *
 * Wire format: one JSON object per notification, `{v: 1, from: <instance id>, ...signal}`:
 * - `{kind: 'stop', conversationId}` — stop that conversation's running turn wherever it runs;
 * - `{kind: 'local', event}` — a live update of the local web chat (`LocalRelayEvent`);
 * - `{kind: 'restart', phase: 'stopping', again, graceS, turns}` — the sender began a graceful stop
 *   (`again`: `/agent restart`, else a shutdown); `turns` are the conversations whose turns run on
 *   it (they get `graceS` seconds to finish, then another worker runs them again). Many turns are
 *   sent as several signals ({@link restartSignals});
 * - `{kind: 'restart', phase: 'stopped', again, turns}` — the sender's turns have ended; `turns`
 *   are those it cut (another worker runs them again), the others finished;
 * - `{kind: 'restart', phase: 'started'}` — the sender (re)joined the cluster and takes work.
 * Each message is checked with zod on receipt: a malformed one (another version, junk sent by
 * hand) is logged and dropped. A message an instance sent itself is ignored on receipt (the
 * sender acted locally already). Delivery is at most once: an instance whose LISTEN connection
 * was lost misses what was sent meanwhile and gets `resync` when it listens again.
 */
import { z } from 'zod';
import type { Logger } from '../logger.js';
import { LOCAL_EVENT_NAMES } from '../platforms/local/events.js';
import { notify, NOTIFY_MAX_PAYLOAD_BYTES, PgListener, type Queryable } from '../store/pg-notify.js';

/** The NOTIFY channel of cluster signals. */
export const SIGNALS_CHANNEL = 'agentbridge_signals';

/** Version of the wire format; a message of another version is dropped. */
const WIRE_VERSION = 1;

const stopSignal = z.object({ kind: z.literal('stop'), conversationId: z.string().min(1).max(1000) });
const localSignal = z.object({
  kind: z.literal('local'),
  event: z
    .object({
      name: z.enum(LOCAL_EVENT_NAMES),
      channel: z.string().min(1).max(200),
      data: z.unknown().optional(),
      ref: z.string().min(1).max(200).optional(),
    })
    .refine((e) => e.data !== undefined || e.ref !== undefined, 'a local event carries data or ref'),
});
/** Most conversations one `restart` signal names (more go in further signals). */
export const MAX_RESTART_TURNS = 200;
const restartSignal = z.object({
  kind: z.literal('restart'),
  phase: z.enum(['stopping', 'stopped', 'started']),
  /** `stopping`, `stopped`: true for `/agent restart` (the instance comes back), false for a shutdown. */
  again: z.boolean().optional(),
  /** `stopping`: seconds the running turns get to finish (AGENTBRIDGE_SHUTDOWN_GRACE_S). */
  graceS: z.number().int().min(0).max(86_400).optional(),
  /** `stopping`: the conversations whose turns run on the sender; `stopped`: those of them it cut. */
  turns: z.array(z.string().min(1).max(1000)).max(MAX_RESTART_TURNS).optional(),
});
const signalSchema = z.discriminatedUnion('kind', [stopSignal, localSignal, restartSignal]);
const envelopeSchema = z.object({ v: z.literal(WIRE_VERSION), from: z.string().min(1).max(200) }).and(signalSchema);

/** A signal: `stop` a conversation's turn, a `local` chat event, or a `restart` notice. */
export type ClusterSignal = z.infer<typeof signalSchema>;
export type ClusterSignalKind = ClusterSignal['kind'];
/** The signal of one kind. */
export type SignalOf<K extends ClusterSignalKind> = Extract<ClusterSignal, { kind: K }>;
/** A handler of received signals of one kind; `from` is the sender's instance id. */
export type SignalHandler<K extends ClusterSignalKind> = (signal: SignalOf<K>, from: string) => void;

/**
 * Parses one notification payload. Returns the signal and its sender, or an `error` text for a
 * payload that is not JSON or not a valid signal of this version. Pure.
 */
export function parseSignal(payload: string): { signal: ClusterSignal; from: string } | { error: string } {
  let json: unknown;
  try {
    json = JSON.parse(payload);
  } catch {
    return { error: 'not JSON' };
  }
  const r = envelopeSchema.safeParse(json);
  if (!r.success) return { error: z.prettifyError(r.error) };
  const { v: _v, from, ...signal } = r.data;
  return { signal: signal as ClusterSignal, from };
}

/** The notification payload of `signal` sent by instance `from` (JSON, see the module comment). Pure. */
export function encodeSignal(signal: ClusterSignal, from: string): string {
  return JSON.stringify({ v: WIRE_VERSION, from, ...signal });
}

/** A `restart` signal. */
export type RestartSignal = z.infer<typeof restartSignal>;

/**
 * The signals of instance `from` for `phase` `stopping` (it begins a graceful stop:
 * `{phase, again, graceS, turns}` with the turns running on it) or `stopped` (its turns ended:
 * `{phase, again, turns}` with the turns it cut): one signal per slice of `turns` small enough for
 * a notification (at most {@link MAX_RESTART_TURNS} conversations and
 * {@link NOTIFY_MAX_PAYLOAD_BYTES} bytes each); one signal with `turns: []` when there are none. A
 * conversation id too long to fit alone is left out. Pure.
 * @param graceS `stopping`: seconds the running turns get to finish (rounded down); ignored for `stopped`
 */
export function restartSignals(from: string, phase: 'stopping' | 'stopped', again: boolean, graceS: number, turns: readonly string[]): RestartSignal[] {
  const base =
    phase === 'stopping'
      ? { kind: 'restart' as const, phase, again, graceS: Math.max(0, Math.min(86_400, Math.floor(graceS))) }
      : { kind: 'restart' as const, phase, again };
  const fits = (s: RestartSignal) => Buffer.byteLength(encodeSignal(s, from), 'utf8') <= NOTIFY_MAX_PAYLOAD_BYTES;
  const out: RestartSignal[] = [];
  let slice: string[] = [];
  for (const id of turns) {
    if (!fits({ ...base, turns: [id] })) continue;
    if (slice.length >= MAX_RESTART_TURNS || !fits({ ...base, turns: [...slice, id] })) {
      out.push({ ...base, turns: slice });
      slice = [];
    }
    slice.push(id);
  }
  if (slice.length > 0 || out.length === 0) out.push({ ...base, turns: slice });
  return out;
}

/** Options of {@link ClusterSignals}. */
export interface ClusterSignalsOptions {
  /** `postgres://…` URL of the shared database (the listener's own connection). */
  url: string;
  /** Where `publish` runs `pg_notify` (the store's pool). */
  pool: Queryable;
  /** This instance's id (AGENTBRIDGE_INSTANCE_ID): its own signals are ignored on receipt. */
  instanceId: string;
  logger: Logger;
  /** The NOTIFY channel (default {@link SIGNALS_CHANNEL}; tests use their own). */
  channel?: string;
  /** Reconnect delays of the listener, ms (default 500 doubling to 5,000). */
  initialDelayMs?: number;
  maxDelayMs?: number;
  /** Listener connection heartbeat, ms (default 30,000; 0 = off). */
  heartbeatMs?: number;
}

/**
 * Cluster signals of one instance: `publish` to the others, `on(kind, handler)` for theirs,
 * `onResync` after the listener's connection came back (signals may have been missed).
 * `start()` before use, `close()` at shutdown. Handlers that throw are logged, never crash.
 */
export class ClusterSignals {
  private readonly listener: PgListener;
  private readonly handlers = new Map<ClusterSignalKind, Set<(signal: ClusterSignal, from: string) => void>>();
  private readonly resyncHandlers = new Set<() => void>();
  private readonly channel: string;
  private readonly logger: Logger;

  constructor(private readonly opts: ClusterSignalsOptions) {
    this.channel = opts.channel ?? SIGNALS_CHANNEL;
    this.logger = opts.logger.child({ part: 'cluster-signals' });
    this.listener = new PgListener({
      url: opts.url,
      channel: this.channel,
      logger: this.logger,
      applicationName: `agentbridge signals ${opts.instanceId}`,
      ...(opts.initialDelayMs !== undefined ? { initialDelayMs: opts.initialDelayMs } : {}),
      ...(opts.maxDelayMs !== undefined ? { maxDelayMs: opts.maxDelayMs } : {}),
      ...(opts.heartbeatMs !== undefined ? { heartbeatMs: opts.heartbeatMs } : {}),
    });
    this.listener.on('notification', (payload) => this.receive(payload));
    this.listener.on('reconnect', () => {
      for (const h of this.resyncHandlers) this.safely('resync', () => h());
    });
  }

  /** This instance's id. */
  get instanceId(): string {
    return this.opts.instanceId;
  }

  /** The listener (its `status`, `backendPid`; tests end its session). */
  get connection(): PgListener {
    return this.listener;
  }

  /** Starts listening. @throws Error naming the redacted URL when the database cannot be reached. */
  start(): Promise<void> {
    return this.listener.start();
  }

  /** Stops listening. Idempotent; never throws. */
  close(): Promise<void> {
    return this.listener.close();
  }

  /**
   * Sends `signal` to every other instance (and, ignored, to this one).
   * @throws NotifyPayloadTooLargeError when its JSON is over 7,900 bytes (nothing sent); the
   *   database's error when it cannot be reached.
   */
  async publish(signal: ClusterSignal): Promise<void> {
    await notify(this.opts.pool, this.channel, encodeSignal(signal, this.opts.instanceId));
  }

  /** Calls `handler` for each valid signal of `kind` from another instance. Returns the function that removes it. */
  on<K extends ClusterSignalKind>(kind: K, handler: SignalHandler<K>): () => void {
    let set = this.handlers.get(kind);
    if (!set) this.handlers.set(kind, (set = new Set()));
    const h = handler as (signal: ClusterSignal, from: string) => void;
    set.add(h);
    return () => set.delete(h);
  }

  /** Calls `handler` after the listener reconnected (signals sent meanwhile were missed). Returns the function that removes it. */
  onResync(handler: () => void): () => void {
    this.resyncHandlers.add(handler);
    return () => this.resyncHandlers.delete(handler);
  }

  private receive(payload: string): void {
    const parsed = parseSignal(payload);
    if ('error' in parsed) {
      this.logger.warn({ channel: this.channel, bytes: Buffer.byteLength(payload), error: parsed.error }, 'cluster signals: malformed signal dropped');
      return;
    }
    if (parsed.from === this.opts.instanceId) return;
    for (const h of this.handlers.get(parsed.signal.kind) ?? []) this.safely(parsed.signal.kind, () => h(parsed.signal, parsed.from));
  }

  private safely(what: string, fn: () => void): void {
    try {
      fn();
    } catch (err) {
      this.logger.error({ err, what }, 'cluster signals: a handler failed');
    }
  }
}
