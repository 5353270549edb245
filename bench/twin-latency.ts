/**
 * Web API round-trip latency for the Slack twin in the e2e bench.
 *
 * Uses the twin's own `setWebApiLatency(ms)` when it has one; until then a shim wraps the twin's
 * HTTP server: a `POST /api/<method>` request waits `ms / 2` before the twin handles it (the
 * request's way to Slack) and its answer waits another `ms / 2` (the way back), so the call
 * takes effect — the twin records it in `calls` with `at` and a person would see it — half a
 * round trip after it was sent, and the caller has its answer a full round trip after. Socket
 * Mode and `response_url` posts are not delayed.
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
      const half = state.latencyMs / 2;
      if (!half || req.method !== 'POST' || !req.url?.startsWith('/api/')) {
        for (const l of listeners) l(req, res);
        return;
      }
      const end = res.end.bind(res) as (...args: unknown[]) => http.ServerResponse;
      res.end = ((...args: unknown[]) => {
        setTimeout(() => end(...args), half);
        return res;
      }) as typeof res.end;
      setTimeout(() => {
        for (const l of listeners) l(req, res);
      }, half);
    });
  }
  shim.latencyMs = ms;
}
