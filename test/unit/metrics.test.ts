/** Prometheus metrics: counters after a few turns, gauges read at scrape time, GET /metrics. */
import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { apiErrorKind, createMetrics, registerMetricsRoute } from '../../src/http/metrics.js';
import { createHttpServer } from '../../src/http/server.js';
import type { InboundMessage } from '../../src/core/messages.js';
import { startCore } from '../helpers/core.js';
import { waitFor } from '../helpers/sandbox.js';

const logger = pino({ level: 'silent' });
const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

let n = 0;
function msg(thread: string, text: string, origin: 'platform' | 'scheduler' = 'platform'): InboundMessage {
  const key = `m${++n}`;
  return {
    platform: 'local',
    origin,
    conversationId: `local:general:${thread}`,
    channel: 'general',
    thread,
    author: { id: 'ann', name: 'ann' },
    text,
    eventKey: `${origin}:${key}`,
    replyTarget: { platform: 'local', channel: 'general', thread },
    receivedAt: Date.now(),
  };
}

/** The value of one sample line, e.g. `agentbridge_turns_total{platform="local",agent="claude",outcome="ok"}`. */
function sample(text: string, series: string): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

describe('metrics', () => {
  it('shows live agent sessions and approvals waiting for a decision', async () => {
    const metrics = createMetrics({ defaultMetrics: false });
    let live = 2;
    metrics.observe({
      queue: () => ({ queued: 0, waitingForSlot: 0, running: 0 }),
      inboxBacklog: () => 0,
      liveSessions: () => live,
      pendingInteractions: () => 1,
    });
    let text = await metrics.render();
    expect(sample(text, 'agentbridge_live_sessions')).toBe(2);
    expect(sample(text, 'agentbridge_pending_interactions')).toBe(1);
    live = 0;
    text = await metrics.render();
    expect(sample(text, 'agentbridge_live_sessions')).toBe(0);
  });

  it('counts turns by platform, agent and outcome, with durations, queue depth, inbox backlog, API errors and cron runs', async () => {
    const metrics = createMetrics({ defaultMetrics: false });
    const { store, adapter, runner, router, ...core } = startCore({
      concurrency: 1,
      retryDelaysMs: [10],
      onDeliveryError: (p, err) => metrics.apiError(p, apiErrorKind(err)),
      onTurnEnd: (_id, outcome, ms, info) => metrics.turnEnded(info.platform, info.agent, outcome, ms),
    });
    metrics.observe({ queue: () => core.bridges.queueStats(), inboxBacklog: async () => ((c) => c.queued + c.running)(await store.inbox.countByState()) });
    cleanups.push(
      () => core.removeDir(),
      () => core.close(),
    );

    await router.accept(msg('a', 'one'));
    await runner.waitRuns(1);
    await router.accept(msg('a', 'two'));
    await router.accept(msg('b', 'other conversation'));
    let text = await metrics.render();
    expect(sample(text, 'agentbridge_queue_depth')).toBe(2); // "two" queued in a, "other conversation" in b (waiting for the slot)
    expect(sample(text, 'agentbridge_turns_waiting')).toBe(1);
    expect(sample(text, 'agentbridge_turns_running')).toBe(1);
    expect(sample(text, 'agentbridge_inbox_backlog')).toBe(3);

    // delivering the first answer fails once (edit of the progress message, then the fallback post)
    adapter.failEdits = 1;
    adapter.failPosts = 1;
    runner.runs[0]!.finish({ text: 'ok one' });
    await runner.waitRuns(2);
    runner.runs[1]!.finish({ ok: false, text: '', error: { kind: 'crashed', message: 'boom' } });
    await runner.waitRuns(3);
    runner.runs[2]!.finish({ text: 'ok three' });
    await router.accept(msg('c', 'from cron', 'scheduler'));
    await runner.waitRuns(4);
    runner.runs[3]!.finish({ text: 'ok four' });
    await waitFor(() => adapter.texts().includes('ok four') && adapter.texts().includes('ok one'));
    metrics.apiError('slack', 'rate_limited');
    metrics.cronRun('ok');
    metrics.cronRun('ok');
    metrics.cronRun('failed');

    text = await metrics.render();
    expect(sample(text, 'agentbridge_turns_total{platform="local",agent="claude",outcome="ok"}')).toBe(2);
    expect(sample(text, 'agentbridge_turns_total{platform="local",agent="claude",outcome="failed"}')).toBe(1);
    expect(sample(text, 'agentbridge_turns_total{platform="scheduler",agent="claude",outcome="ok"}')).toBe(1);
    expect(sample(text, 'agentbridge_turn_duration_seconds_count{platform="local",agent="claude"}')).toBe(3);
    expect(text).toContain('agentbridge_turn_duration_seconds_bucket{le="1",platform="local",agent="claude"}');
    expect(sample(text, 'agentbridge_queue_depth')).toBe(0);
    expect(sample(text, 'agentbridge_inbox_backlog')).toBe(0);
    expect(sample(text, 'agentbridge_platform_api_errors_total{platform="local",kind="error"}')).toBe(1); // the failed post
    expect(sample(text, 'agentbridge_platform_api_errors_total{platform="slack",kind="rate_limited"}')).toBe(1);
    expect(sample(text, 'agentbridge_cron_runs_total{outcome="ok"}')).toBe(2);
    expect(sample(text, 'agentbridge_cron_runs_total{outcome="failed"}')).toBe(1);
  });

  it('serves GET /metrics in the Prometheus text format, with the default process metrics', async () => {
    const http = createHttpServer({ host: '127.0.0.1', port: 0, logger });
    const metrics = createMetrics();
    registerMetricsRoute(http, metrics);
    const { url } = await http.listen();
    cleanups.push(() => http.close());
    metrics.turnEnded('local', 'claude', 'ok', 1500);
    const res = await fetch(`${url}/metrics`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toContain('text/plain');
    const text = await res.text();
    expect(text).toContain('# TYPE agentbridge_turns_total counter');
    expect(sample(text, 'agentbridge_turns_total{platform="local",agent="claude",outcome="ok"}')).toBe(1);
    expect(text).toContain('process_cpu_user_seconds_total');
    expect(text).toContain('nodejs_heap_size_used_bytes');
  });

  it('shows seconds since the last inbound event per running platform', async () => {
    let t = 1_700_000_000_000;
    const metrics = createMetrics({ defaultMetrics: false, now: () => t });
    let text = await metrics.render();
    expect(text).not.toContain('agentbridge_seconds_since_last_inbound_event{');
    metrics.platformStarted('slack');
    metrics.platformStarted('discord');
    metrics.platformStarted('local');
    t += 30_000;
    metrics.inboundEvent('slack');
    t += 12_500;
    metrics.platformStarted('slack'); // a restart of the adapter does not reset it
    text = await metrics.render();
    expect(sample(text, 'agentbridge_seconds_since_last_inbound_event{platform="slack"}')).toBe(12.5);
    expect(sample(text, 'agentbridge_seconds_since_last_inbound_event{platform="discord"}')).toBe(42.5);
    expect(sample(text, 'agentbridge_seconds_since_last_inbound_event{platform="local"}')).toBe(42.5);
    metrics.inboundEvent('local');
    t += 1_000;
    text = await metrics.render();
    expect(sample(text, 'agentbridge_seconds_since_last_inbound_event{platform="local"}')).toBe(1);
    expect(sample(text, 'agentbridge_seconds_since_last_inbound_event{platform="slack"}')).toBe(13.5);
  });

  it('classifies platform errors: 429 / rate limits vs other errors', () => {
    expect(apiErrorKind(Object.assign(new Error('x'), { status: 429 }))).toBe('rate_limited');
    expect(apiErrorKind(Object.assign(new Error('A rate-limit error occurred'), { code: 'slack_webapi_rate_limited_error' }))).toBe('rate_limited');
    expect(apiErrorKind(new Error('HTTP 429 Too Many Requests'))).toBe('rate_limited');
    expect(apiErrorKind(new Error('channel_not_found'))).toBe('error');
    expect(apiErrorKind('boom')).toBe('error');
  });
});
