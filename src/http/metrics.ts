/**
 * Prometheus metrics (prom-client, a registry of our own with the default process metrics),
 * served as `GET /metrics` in the text exposition format.
 *
 * | metric | type | labels |
 * |---|---|---|
 * | `agentbridge_turns_total` | counter | platform, agent, outcome (ok, failed, stopped, timeout, interrupted, undeliverable) |
 * | `agentbridge_turn_duration_seconds` | histogram | platform, agent |
 * | `agentbridge_queue_depth` | gauge | — messages queued in conversations (including those waiting for a turn slot) |
 * | `agentbridge_turns_waiting` | gauge | — conversations waiting for a global turn slot |
 * | `agentbridge_turns_running` | gauge | — |
 * | `agentbridge_inbox_backlog` | gauge | — unfinished inbox rows (queued + running) |
 * | `agentbridge_platform_api_errors_total` | counter | platform, kind (rate_limited, error) |
 * | `agentbridge_cron_runs_total` | counter | outcome |
 * | `agentbridge_seconds_since_last_inbound_event` | gauge | platform (slack, discord, local: each running one) — seconds since the platform last delivered a message, or since its adapter started when none came yet |
 *
 * `platform` of a turn is the platform of its last message (`scheduler` for cron runs and
 * scheduled messages). Gauges are read from their sources at scrape time.
 *
 * In cluster mode every series (ours and the process metrics) also carries `instance="<id>"`
 * (`createMetrics({ instance })`, the registry's default labels): several instances scraped into
 * one Prometheus stay apart even behind one load balancer address.
 */
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { HttpServer } from './server.js';

export type ApiErrorKind = 'rate_limited' | 'error';

/** Where the gauges read their values, at scrape time (a store-backed source may resolve later; a rejection fails the scrape). */
export interface MetricSources {
  queue(): { queued: number; waitingForSlot: number; running: number };
  /** Unfinished inbox rows. */
  inboxBacklog(): number | Promise<number>;
  /** Live agent sessions (processes kept between turns); absent = 0. */
  liveSessions?(): number;
  /** Approvals, questions and plans waiting for a decision; absent = 0. */
  pendingInteractions?(): number | Promise<number>;
}

export interface Metrics {
  readonly registry: Registry;
  /** A turn ended (the bridges' `turnEnded` event). */
  turnEnded(platform: string, agent: string, outcome: string, ms: number): void;
  /** A platform API call failed (AdapterContext.reportApiError, outbox delivery failures). */
  apiError(platform: string, kind: ApiErrorKind): void;
  /** A cron run ended; for the scheduler (`outcome`: ok, failed, skipped, …). */
  cronRun(outcome: string): void;
  /** A platform adapter started: its inbound-event gauge counts from now until the first event. */
  platformStarted(platform: string): void;
  /** A platform delivered an inbound message (the adapter handed it to the core). */
  inboundEvent(platform: string): void;
  /** Connects the gauges to their sources. */
  observe(sources: MetricSources): void;
  /** The text exposition. */
  render(): Promise<string>;
  readonly contentType: string;
}

/** Buckets of the turn duration histogram, seconds (turns run from seconds to the 30 min timeout). */
const TURN_BUCKETS = [1, 2, 5, 10, 20, 30, 60, 120, 300, 600, 1200, 1800, 3600];

/**
 * Creates the registry and every metric. `defaultMetrics: false` leaves out the process metrics
 * (tests). `instance`: the label `instance` with this value on every series (cluster mode: the
 * instance id); absent or empty: no such label.
 */
export function createMetrics(opts: { defaultMetrics?: boolean; now?: () => number; instance?: string } = {}): Metrics {
  const now = opts.now ?? Date.now;
  const registry = new Registry();
  // Before any metric is registered: prom-client applies default labels to every series of the registry.
  if (opts.instance) registry.setDefaultLabels({ instance: opts.instance });
  /** Platform → time of its last inbound event (or of its start), ms since the epoch. */
  const lastInbound = new Map<string, number>();
  if (opts.defaultMetrics !== false) collectDefaultMetrics({ register: registry });
  let sources: MetricSources | undefined;

  const turns = new Counter({
    name: 'agentbridge_turns_total',
    help: 'Agent turns by platform, agent and outcome.',
    labelNames: ['platform', 'agent', 'outcome'] as const,
    registers: [registry],
  });
  const duration = new Histogram({
    name: 'agentbridge_turn_duration_seconds',
    help: 'Duration of agent turns, seconds.',
    labelNames: ['platform', 'agent'] as const,
    buckets: TURN_BUCKETS,
    registers: [registry],
  });
  new Gauge({
    name: 'agentbridge_queue_depth',
    help: 'Messages queued in conversations for their next turn (including conversations waiting for a turn slot).',
    registers: [registry],
    collect() {
      if (sources) this.set(sources.queue().queued);
    },
  });
  new Gauge({
    name: 'agentbridge_turns_waiting',
    help: 'Conversations waiting for a global turn slot (AGENTBRIDGE_MAX_CONCURRENT_TURNS).',
    registers: [registry],
    collect() {
      if (sources) this.set(sources.queue().waitingForSlot);
    },
  });
  new Gauge({
    name: 'agentbridge_turns_running',
    help: 'Agent turns running now.',
    registers: [registry],
    collect() {
      if (sources) this.set(sources.queue().running);
    },
  });
  new Gauge({
    name: 'agentbridge_inbox_backlog',
    help: 'Accepted messages not yet answered (inbox rows queued or running).',
    registers: [registry],
    async collect() {
      if (sources) this.set(await sources.inboxBacklog());
    },
  });
  new Gauge({
    name: 'agentbridge_live_sessions',
    help: 'Live agent sessions: agent processes kept between turns (bounded by AGENTBRIDGE_MAX_LIVE_SESSIONS).',
    registers: [registry],
    collect() {
      if (sources) this.set(sources.liveSessions?.() ?? 0);
    },
  });
  new Gauge({
    name: 'agentbridge_pending_interactions',
    help: 'Approvals, questions and plans waiting for a decision in the chat.',
    registers: [registry],
    async collect() {
      if (sources) this.set((await sources.pendingInteractions?.()) ?? 0);
    },
  });
  const apiErrors = new Counter({
    name: 'agentbridge_platform_api_errors_total',
    help: 'Failed platform API calls by platform and kind (rate_limited = HTTP 429).',
    labelNames: ['platform', 'kind'] as const,
    registers: [registry],
  });
  new Gauge({
    name: 'agentbridge_seconds_since_last_inbound_event',
    help: 'Seconds since each running platform last delivered a message (since its start when none came yet).',
    labelNames: ['platform'] as const,
    registers: [registry],
    collect() {
      const t = now();
      for (const [platform, at] of lastInbound) this.set({ platform }, Math.max(0, (t - at) / 1000));
    },
  });
  const cronRuns = new Counter({
    name: 'agentbridge_cron_runs_total',
    help: 'Cron job runs by outcome.',
    labelNames: ['outcome'] as const,
    registers: [registry],
  });

  return {
    registry,
    contentType: registry.contentType,
    turnEnded(platform, agent, outcome, ms) {
      turns.inc({ platform, agent, outcome });
      duration.observe({ platform, agent }, ms / 1000);
    },
    apiError(platform, kind) {
      apiErrors.inc({ platform, kind });
    },
    cronRun(outcome) {
      cronRuns.inc({ outcome });
    },
    platformStarted(platform) {
      if (!lastInbound.has(platform)) lastInbound.set(platform, now());
    },
    inboundEvent(platform) {
      lastInbound.set(platform, now());
    },
    observe(s) {
      sources = s;
    },
    render: () => registry.metrics(),
  };
}

/** Classifies a thrown platform error: 429 / rate limiting → `rate_limited`, else `error`. */
export function apiErrorKind(err: unknown): ApiErrorKind {
  const e = err as { status?: unknown; statusCode?: unknown; code?: unknown; message?: unknown } | null;
  if (e && (e.status === 429 || e.statusCode === 429)) return 'rate_limited';
  const text = `${String(e?.code ?? '')} ${String(e?.message ?? err ?? '')}`;
  return /\b429\b|rate.?limit/i.test(text) ? 'rate_limited' : 'error';
}

/** Registers `GET /metrics` on the shared server. */
export function registerMetricsRoute(http: HttpServer, metrics: Metrics): void {
  http.route('GET', '/metrics', async (_req, res) => {
    const body = await metrics.render();
    res.writeHead(200, { 'content-type': metrics.contentType, 'cache-control': 'no-store' }).end(body);
  });
}
