/**
 * The Events API over HTTP: `POST /slack/events` on agentbridge's shared HTTP server.
 *
 * Slack rules (api.slack.com Events API docs; docs/ARCHITECTURE.md §7; test/e2e/slack-http.test.ts):
 * - each request is signed (see `signature.ts`); a missing, wrong or more than 5 minutes old
 *   signature → 401, nothing else is read or done;
 * - `{type: "url_verification", challenge}` (sent when the Request URL is saved in the app
 *   settings) → 200 `{challenge}`;
 * - `{type: "event_callback", event_id, event, …}` → handled, then 200 with an empty body;
 *   Slack expects the answer within 3 seconds and otherwise retries with the same `event_id`
 *   (`X-Slack-Retry-Num`, `X-Slack-Retry-Reason`);
 * - other envelope types (e.g. `app_rate_limited`) → 200, ignored.
 * A signed body that is not a JSON object (or an event_callback without an event) → 400.
 * When handling fails (the inbox could not take the message) → 500, so Slack retries.
 * Rejections are logged at warn with the reason only — never the body, headers or secret.
 * A request whose signature was accepted before (a replay within the 5-minute window) → 401,
 * logged, nothing done (`replay-cache.ts`; Slack's own retries carry a new signature).
 *
 * Slash commands (`/agent …`) arrive as form-encoded bodies (`application/x-www-form-urlencoded`,
 * fields `command, text, user_id, channel_id, team_id, response_url, …`), signed the same way,
 * at the command's Request URL: `POST /slack/commands`, or `POST /slack/events` (a form body there
 * is read as a command, as Bolt's receiver does). The answer is 200 with the JSON response
 * `{response_type, text}` (Slack shows it; it must come within 3 seconds), or 200 empty.
 *
 * Interactions (button clicks on cards; `interactions.ts`) arrive at the app's Interactivity
 * Request URL `POST /slack/interactions` (a form body with a `payload` field is taken at the other
 * two paths as well, as Bolt's receiver does): form-encoded with a single field `payload`, the
 * JSON interaction payload, signed the same way (same signature check and replay cache). Slack
 * expects an empty 200 within 3 seconds. A `payload` that is not a JSON object → 400; what the
 * adapter's handler answers otherwise (it validates the payload and acknowledges).
 * A form body with neither `command` nor `payload` → 200, ignored.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { HttpServer } from '../../http/server.js';
import { sendJson } from '../../http/json.js';
import type { Logger } from '../../logger.js';
import { ReplayCache } from './replay-cache.js';
import { verifySlackSignature } from './signature.js';

/** Path of the endpoint; the Request URL in the app settings is `https://<host><path>`. */
export const SLACK_EVENTS_PATH = '/slack/events';
/** Request URL for slash commands (form bodies are also taken at {@link SLACK_EVENTS_PATH}). */
export const SLACK_COMMANDS_PATH = '/slack/commands';
/** Interactivity Request URL (button clicks; form bodies with `payload` are also taken at the other paths). */
export const SLACK_INTERACTIONS_PATH = '/slack/interactions';

/** Largest accepted request body, bytes (Slack's event payloads are a few KB). */
export const MAX_EVENT_BODY_BYTES = 1024 * 1024;

export interface SlackEventsRouteOptions {
  signingSecret: string;
  logger: Logger;
  /** False before the adapter started and after it stopped: requests get 503 (Slack retries). */
  ready(): boolean;
  /** Handles a verified `event_callback` envelope; resolves once it is safely accepted (or ignored). */
  handle(body: Record<string, unknown>, retry: { num?: number; reason?: string }): Promise<void>;
  /**
   * Handles a verified slash command (the form fields); resolves with the response body to send
   * (or undefined for an empty 200). Must resolve within Slack's 3 seconds.
   */
  handleCommand?(fields: Record<string, string>): Promise<Record<string, unknown> | undefined>;
  /**
   * Handles a verified interaction (the parsed `payload` JSON object, not yet validated);
   * resolves with the HTTP status to answer (200 once acknowledged, 400 for a payload it refuses).
   * Must resolve within Slack's 3 seconds.
   */
  handleInteraction?(payload: Record<string, unknown>): Promise<number>;
  /** Clock for the timestamp check, ms (tests). */
  now?: () => number;
  /** Signatures already accepted (default: a new {@link ReplayCache} per registration). */
  replayCache?: ReplayCache;
}

/** Registers `POST /slack/events`, `POST /slack/commands` and `POST /slack/interactions` on the shared server (one replay cache). */
export function registerSlackEventsRoute(http: HttpServer, options: SlackEventsRouteOptions): void {
  const opts = { ...options, replayCache: options.replayCache ?? new ReplayCache({ now: options.now }) };
  for (const path of [SLACK_EVENTS_PATH, SLACK_COMMANDS_PATH, SLACK_INTERACTIONS_PATH]) {
    http.route('POST', path, (req, res) => handleRequest(req, res, opts, path));
  }
}

async function handleRequest(
  req: IncomingMessage,
  res: ServerResponse,
  opts: SlackEventsRouteOptions & { replayCache: ReplayCache },
  path: string,
): Promise<void> {
  const { logger } = opts;
  const reject = (status: number, reason: string) => {
    logger.warn({ status, reason, path }, 'slack: Events API request rejected');
    sendJson(res, status, { error: reason }, status === 413 ? { connection: 'close' } : {});
  };
  if (!opts.ready()) return reject(503, 'not accepting events right now');

  const raw = await readRaw(req, MAX_EVENT_BODY_BYTES);
  if (raw === 'too large') return reject(413, 'request body too large');
  if (raw === 'aborted') return reject(400, 'request body could not be read');

  const check = verifySlackSignature({
    signingSecret: opts.signingSecret,
    timestamp: header(req, 'x-slack-request-timestamp'),
    signature: header(req, 'x-slack-signature'),
    rawBody: raw,
    now: opts.now?.(),
  });
  if (!check.ok) return reject(401, `invalid request signature (${check.reason})`);
  // Verified: the signature and timestamp headers are present and well-formed.
  if (!opts.replayCache.accept(header(req, 'x-slack-signature')!, Number(header(req, 'x-slack-request-timestamp')!.trim()))) {
    return reject(401, 'replayed request (this signature was already accepted)');
  }

  if (/^application\/x-www-form-urlencoded\b/i.test(header(req, 'content-type') ?? '')) return handleForm(raw, res, opts, reject);

  let body: unknown;
  try {
    body = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(raw));
  } catch {
    return reject(400, 'body is not JSON');
  }
  if (!body || typeof body !== 'object' || Array.isArray(body)) return reject(400, 'body is not a JSON object');
  const envelope = body as Record<string, unknown>;

  if (envelope.type === 'url_verification') {
    if (typeof envelope.challenge !== 'string') return reject(400, 'url_verification without a challenge');
    sendJson(res, 200, { challenge: envelope.challenge });
    return;
  }
  if (envelope.type !== 'event_callback') {
    logger.debug({ type: String(envelope.type) }, 'slack: Events API envelope ignored');
    res.writeHead(200).end();
    return;
  }
  const event = envelope.event;
  if (!event || typeof event !== 'object' || Array.isArray(event)) return reject(400, 'event_callback without an event');

  const retryNum = Number(header(req, 'x-slack-retry-num'));
  try {
    await opts.handle(envelope, { num: Number.isFinite(retryNum) ? retryNum : undefined, reason: header(req, 'x-slack-retry-reason') });
  } catch (err) {
    logger.error({ err: err instanceof Error ? err.message : String(err), eventId: String(envelope.event_id) }, 'slack: event not accepted; Slack will retry');
    sendJson(res, 500, { error: 'event not accepted, retry later' });
    return;
  }
  res.writeHead(200).end();
}

/** A verified form-encoded body: a slash command (or something agentbridge does not use). */
async function handleForm(raw: Buffer, res: ServerResponse, opts: SlackEventsRouteOptions, reject: (status: number, reason: string) => void): Promise<void> {
  let fields: Record<string, string>;
  try {
    fields = Object.fromEntries(new URLSearchParams(new TextDecoder('utf-8', { fatal: true }).decode(raw)));
  } catch {
    return reject(400, 'body is not form-encoded text');
  }
  if (typeof fields.payload === 'string' && fields.command === undefined) return handleInteractionForm(fields.payload, res, opts, reject);
  if (typeof fields.command !== 'string' || !fields.command.startsWith('/')) {
    opts.logger.debug('slack: form request without a slash command ignored');
    res.writeHead(200).end();
    return;
  }
  if (!opts.handleCommand) return reject(404, 'slash commands are not handled here');
  let answer: Record<string, unknown> | undefined;
  try {
    answer = await opts.handleCommand(fields);
  } catch (err) {
    opts.logger.error({ err: err instanceof Error ? err.message : String(err), command: fields.command }, 'slack: slash command not handled');
    sendJson(res, 200, { response_type: 'ephemeral', text: '⚠️ agentbridge could not run this command; see its log.' });
    return;
  }
  if (answer === undefined) res.writeHead(200).end();
  else sendJson(res, 200, answer);
}

/** A verified interaction: the `payload` field parsed as a JSON object and handed to the adapter. */
async function handleInteractionForm(
  raw: string,
  res: ServerResponse,
  opts: SlackEventsRouteOptions,
  reject: (status: number, reason: string) => void,
): Promise<void> {
  let payload: unknown;
  try {
    payload = JSON.parse(raw);
  } catch {
    return reject(400, 'interaction payload is not JSON');
  }
  if (!payload || typeof payload !== 'object' || Array.isArray(payload)) return reject(400, 'interaction payload is not a JSON object');
  if (!opts.handleInteraction) return reject(404, 'interactions are not handled here');
  let status: number;
  try {
    status = await opts.handleInteraction(payload as Record<string, unknown>);
  } catch (err) {
    opts.logger.error({ err: err instanceof Error ? err.message : String(err) }, 'slack: interaction not handled');
    status = 500;
  }
  if (status === 200) res.writeHead(200).end();
  else sendJson(res, status, { error: status === 400 ? 'invalid interaction payload' : 'interaction not handled' });
}

function header(req: IncomingMessage, name: string): string | undefined {
  const v = req.headers[name];
  return Array.isArray(v) ? v[0] : v;
}

/** Reads the whole body as bytes, up to `limit`. */
function readRaw(req: IncomingMessage, limit: number): Promise<Buffer | 'too large' | 'aborted'> {
  const declared = Number(req.headers['content-length']);
  if (Number.isFinite(declared) && declared > limit) return Promise.resolve('too large');
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let done = false;
    const finish = (v: Buffer | 'too large' | 'aborted') => {
      if (done) return;
      done = true;
      req.off('data', onData);
      req.off('end', onEnd);
      req.off('error', onError);
      req.off('aborted', onError);
      resolve(v);
    };
    const onData = (chunk: Buffer) => {
      size += chunk.length;
      if (size > limit) {
        req.pause();
        finish('too large');
        return;
      }
      chunks.push(chunk);
    };
    const onEnd = () => finish(Buffer.concat(chunks, size));
    const onError = () => finish('aborted');
    req.on('data', onData);
    req.on('end', onEnd);
    req.on('error', onError);
    req.on('aborted', onError);
  });
}
