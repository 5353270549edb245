/**
 * Slack's `/agent <subcommand>` slash command, run through the core's command service
 * (`AdapterContext.runCommand`) and answered through the command's acknowledgement.
 *
 * Slack rules encoded (docs/ARCHITECTURE.md §7; test/unit/slack-commands.test.ts; api.slack.com
 * "Implementing slash commands"):
 * - the payload has `command, text, user_id, user_name, channel_id, channel_name, team_id,
 *   response_url, trigger_id, …` — over Socket Mode as the `payload` of a `slash_commands`
 *   envelope, over HTTP as a form-encoded (`application/x-www-form-urlencoded`) body signed like
 *   every request (`signature.ts`);
 * - it must be acknowledged within 3 seconds (else the user sees "dispatch_failed"/"operation
 *   timed out"); the acknowledgement may carry the response `{response_type, text}`
 *   (`ephemeral` = only the caller sees it, the default; `in_channel` = everyone in the channel);
 * - later responses go to `response_url` (HTTP POST, JSON body of the same shape; at most 5
 *   within 30 minutes);
 * - slash commands cannot be used inside threads, so the payload never names a thread: a
 *   command in a channel is about no conversation (the command service then points to the
 *   thread form `@agentbridge <command>`). In a DM with the bot the command is about the DM's
 *   conversation the person used last (each top-level DM is its own conversation).
 *
 * Timing: a command answered within {@link ACK_DEADLINE_MS} is acknowledged with its reply. One
 * that takes longer is acknowledged with a short "working on it" and its reply is POSTed to
 * `response_url` when it is ready. `restart` and `cron` (they change the service) are
 * acknowledged with "working on it" at once and run only after that acknowledgement went out.
 *
 * These responses are a transport detail of Slack (due within 3 s, possibly ephemeral, one
 * message each), so they are sent here rather than through the outbox; their text is the
 * adapter's `render()` (`SlashCommandDeps.format`), the same rendering as every post of the
 * outbound path, cut at {@link MAX_RESPONSE_CHARS} instead of chunked.
 */
import { splitConversationId } from '../../core/ids.js';
import { parseSlackConversationId } from './ids.js';
import type { Logger } from '../../logger.js';
import type { CommandReply, CommandRequest } from '../types.js';

/** Longest wait for the command service before acknowledging with "working on it", ms (Slack allows 3 s). */
export const ACK_DEADLINE_MS = 2_000;
/** Longest wait for the caller's display name (cached after the first lookup), ms. */
export const NAME_LOOKUP_MS = 500;
/** Subcommands acknowledged at once, their reply following through `response_url`. */
export const SLOW_SUBCOMMANDS: ReadonlySet<string> = new Set(['restart', 'cron']);
/** Slack shows at most this much text in one message; longer replies are cut (with a note). */
export const MAX_RESPONSE_CHARS = 39_000;

/** The fields of a slash command payload agentbridge reads. */
export interface SlashCommandPayload {
  command?: string;
  text?: string;
  user_id?: string;
  user_name?: string;
  channel_id?: string;
  channel_name?: string;
  team_id?: string;
  response_url?: string;
  trigger_id?: string;
}

/** What is sent back: the acknowledgement body and `response_url` bodies. */
export interface SlashResponse {
  response_type: 'ephemeral' | 'in_channel';
  text: string;
  /** Interactions only: `false` keeps the message the button is on (Slack's default for `response_url` posts may replace it). */
  replace_original?: boolean;
}

export interface SlashCommandDeps {
  runCommand(req: CommandRequest): Promise<CommandReply>;
  /** The caller's display name (may resolve late; the payload's `user_name` is the fallback). */
  displayName(userId: string): Promise<string>;
  /** The conversation a command in this DM channel is about, if any (rejects on a store error). */
  dmConversation(team: string, channel: string): Promise<string | undefined>;
  /** True for a DM channel id. */
  isDm(channel: string): boolean;
  /** The reply's Markdown in Slack's format, mentions neutralised: the adapter's `render()`. */
  format(markdown: string): string;
  /** POSTs a later response to the command's `response_url`. */
  respond(url: string, body: SlashResponse): Promise<void>;
  logger: Logger;
  ackDeadlineMs?: number;
  nameLookupMs?: number;
}

/** The subcommand name of a slash command's text (`cron add …` → `cron`), lower case. */
export function subcommandOf(text: string): string {
  return (
    text
      .trim()
      .replace(/^\/agent\b/i, '')
      .trim()
      .split(/\s+/)[0] ?? ''
  )
    .toLowerCase()
    .replace(/[.!?]+$/, '');
}

/**
 * The command text as typed: Slack encodes `&`, `<`, `>` in text as `&amp;`, `&lt;`, `&gt;`, and
 * with escaping on (`should_escape: true`) sends mentions, channels and links as `<@U1|name>`,
 * `<#C1|name>`, `<https://…|label>` — all turned back into plain text here.
 */
export function slashCommandText(raw: string): string {
  return raw
    .replace(/<@([UW][A-Za-z0-9]+)(?:\|([^>]*))?>/g, (_m, id: string, label?: string) => `@${label || id}`)
    .replace(/<#([CGD][A-Za-z0-9]+)(?:\|([^>]*))?>/g, (_m, id: string, label?: string) => `#${label || id}`)
    .replace(/<((?:https?|mailto):[^>|]*)(?:\|[^>]*)?>/g, '$1')
    .replace(/&lt;/g, '<')
    .replace(/&gt;/g, '>')
    .replace(/&amp;/g, '&');
}

/** The body Slack shows for a command reply. */
export function toSlashResponse(reply: CommandReply, format: (markdown: string) => string): SlashResponse {
  let text = format(reply.text);
  if (text.length > MAX_RESPONSE_CHARS) text = `${text.slice(0, MAX_RESPONSE_CHARS)}\n… (cut: too long for one Slack message)`;
  return { response_type: reply.ephemeral ? 'ephemeral' : 'in_channel', text: text || '(no reply)' };
}

/** The acknowledgement sent when the reply follows through `response_url`. */
export function workingResponse(sub: string): SlashResponse {
  return { response_type: 'ephemeral', text: `⏳ Working on \`/agent${sub ? ` ${sub}` : ''}\`…` };
}

/**
 * Handles one slash command. Resolves with the acknowledgement body (to send within 3 s) and,
 * when the reply comes later, `followUp`: call it once the acknowledgement went out; it waits
 * for the reply and POSTs it to `response_url` (never rejects; failures are logged).
 */
export async function handleSlashCommand(
  payload: SlashCommandPayload,
  deps: SlashCommandDeps,
): Promise<{ ack: SlashResponse; followUp?: () => Promise<void> }> {
  const started = Date.now();
  const channel = str(payload.channel_id);
  const userId = str(payload.user_id);
  const team = str(payload.team_id);
  const text = slashCommandText(str(payload.text));
  if (!channel || !userId)
    return { ack: { response_type: 'ephemeral', text: '⚠️ This command came without a user or channel, so agentbridge cannot run it.' } };

  const sub = subcommandOf(text);
  const conversationId = deps.isDm(channel) && team ? await deps.dmConversation(team, channel) : undefined;
  const thread = conversationId ? threadOf(conversationId) : undefined;
  const fallbackName = str(payload.user_name) || userId;
  const looked = await withDeadline(
    deps.displayName(userId).catch(() => userId),
    deps.nameLookupMs ?? NAME_LOOKUP_MS,
    userId,
  );
  const userName = looked && looked !== userId ? looked : fallbackName;
  const req: CommandRequest = {
    platform: 'slack',
    userId,
    userName,
    channel,
    ...(conversationId ? { conversationId } : {}),
    text,
    replyTarget: { platform: 'slack', channel, ...(thread ? { thread } : {}) },
  };
  const failed = (err: unknown): CommandReply => {
    deps.logger.error({ err: err instanceof Error ? err.message : String(err), command: sub }, 'slack: slash command failed');
    return { text: '⚠️ agentbridge could not run this command; see its log.', ephemeral: true };
  };
  // A slow command starts only once "working on it" went out (a restart must not race its ack).
  const slow = SLOW_SUBCOMMANDS.has(sub);
  let running = slow ? undefined : deps.runCommand(req).catch(failed);
  const budget = Math.max(0, (deps.ackDeadlineMs ?? ACK_DEADLINE_MS) - (Date.now() - started));
  const quick = running && budget > 0 ? await withDeadline(running, budget, undefined) : undefined;
  if (quick) return { ack: toSlashResponse(quick, deps.format) };

  const url = str(payload.response_url);
  const followUp = async () => {
    running ??= deps.runCommand(req).catch(failed);
    const reply = await running;
    if (!url) {
      deps.logger.warn({ command: sub }, 'slack: slash command reply could not be sent (no response_url)');
      return;
    }
    try {
      await deps.respond(url, toSlashResponse(reply, deps.format));
    } catch (err) {
      deps.logger.warn({ command: sub, err: err instanceof Error ? err.message : String(err) }, 'slack: posting a slash command reply to response_url failed');
    }
  };
  return { ack: workingResponse(sub), followUp };
}

/** Options of {@link postToResponseUrl}. */
export interface ResponseUrlOptions {
  /** Attempts in all (network errors, 429 and 5xx are retried; default 3). */
  attempts?: number;
  timeoutMs?: number;
  /** Called for each 429 / failed attempt (metrics). */
  onError?(kind: 'rate_limited' | 'error'): void;
}

/**
 * POSTs `body` as JSON to a slash command's `response_url`. Retries network errors, 429 (after
 * `Retry-After`, at most 10 s) and 5xx. @throws after the last attempt.
 */
export async function postToResponseUrl(url: string, body: SlashResponse, opts: ResponseUrlOptions = {}): Promise<void> {
  const attempts = opts.attempts ?? 3;
  let last = '';
  for (let i = 1; i <= attempts; i++) {
    let wait = 500 * i;
    try {
      const res = await fetch(url, {
        method: 'POST',
        headers: { 'content-type': 'application/json; charset=utf-8' },
        body: JSON.stringify(body),
        signal: AbortSignal.timeout(opts.timeoutMs ?? 10_000),
      });
      const answer = await res.text().catch(() => '');
      if (res.ok) return;
      last = `HTTP ${res.status}${answer ? ` ${answer.slice(0, 100)}` : ''}`;
      if (res.status === 429) {
        opts.onError?.('rate_limited');
        wait = Math.min(10, Number(res.headers.get('retry-after')) || 1) * 1000;
      } else {
        opts.onError?.('error');
        if (res.status < 500) break; // expired or used-up URL: retrying changes nothing
      }
    } catch (err) {
      opts.onError?.('error');
      last = err instanceof Error ? err.message : String(err);
    }
    if (i < attempts) await new Promise((r) => setTimeout(r, wait));
  }
  throw new Error(`response_url: ${last}`);
}

/** The thread `ts` of a Slack conversation id. */
function threadOf(conversationId: string): string | undefined {
  try {
    const { platform, parts } = splitConversationId(conversationId);
    return platform === 'slack' ? parseSlackConversationId(conversationId, parts).thread : undefined;
  } catch {
    return undefined;
  }
}

function str(v: unknown): string {
  return typeof v === 'string' ? v : '';
}

/** `p`'s value, or `fallback` when it takes longer than `ms`. */
function withDeadline<T, F>(p: Promise<T>, ms: number, fallback: F): Promise<T | F> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([p, new Promise<F>((r) => (timer = setTimeout(() => r(fallback), ms)))]).finally(() => clearTimeout(timer));
}
