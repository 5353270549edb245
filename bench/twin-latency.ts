/**
 * Web API round-trip latency for the Slack twin in the e2e bench.
 *
 * Uses the twin's own `setWebApiLatency(ms)` when it has one; until then a shim with the same
 * meaning wraps the twin's HTTP server: a `POST /api/<method>` request waits `ms` before the twin
 * handles it, then is carried out and answered at once — the whole round trip comes before the
 * effect, so a change is visible in the twin (its `calls[].at`) exactly when the caller has its
 * answer. Socket Mode and `response_url` posts are not delayed.
 */
import type http from 'node:http';
import type { SlackTwin } from '../test/twins/slack/twin.js';

type Listener = (req: http.IncomingMessage, res: http.ServerResponse) => void;

const shims = new WeakMap<SlackTwin, { latencyMs: number }>();

/** Sets the twin's Web API round trip to `ms` (0 = none). */
export function setWebApiLatency(twin: SlackTwin, ms: number): void {
  const own = (twin as unknown as { setWebApiLatency?: (ms: number) => void }).setWebApiLatency;
  if (typeof own === 'function') {
    own.call(twin, ms);
    return;
  }
  let shim = shims.get(twin);
  if (!shim) {
    const state = { latencyMs: ms };
    shim = state;
    shims.set(twin, state);
    const server = (twin as unknown as { server: http.Server }).server;
    const listeners = server.listeners('request') as Listener[];
    server.removeAllListeners('request');
    server.on('request', (req: http.IncomingMessage, res: http.ServerResponse) => {
      const delay = state.latencyMs;
      if (!delay || req.method !== 'POST' || !req.url?.startsWith('/api/')) {
        for (const l of listeners) l(req, res);
        return;
      }
      setTimeout(() => {
        for (const l of listeners) l(req, res);
      }, delay);
    });
  }
  shim.latencyMs = ms;
}
