/**
 * The pure part of the Claude Code runner: turning `claude -p --output-format stream-json
 * --verbose` stdout lines into {@link RunEvent}s and remembering what the final decision needs.
 *
 * Line shapes it reads (verified with @anthropic-ai/claude-code 2.1.197, see
 * docs/ARCHITECTURE.md §7 and test/runners/claude.test.ts; unknown types, fields and non-JSON lines are ignored):
 * - `{"type":"system","subtype":"init","session_id",...}` → `session`.
 * - `{"type":"system","subtype":"api_retry",attempt,max_retries,retry_delay_ms,error_status,error}` → `warning` with
 *   the reason (`HTTP 529 overloaded`; `error_status: null, error: "unknown"` = no HTTP answer).
 * - `{"type":"assistant","message":{"model","content":[text | thinking | tool_use{id,name,input}]},
 *   "parent_tool_use_id"}` → `text` (one chunk per text block) and `tool_start`. Messages with
 *   `model: "<synthetic>"` are the CLI's own error notices ("API Error: …", "Not logged in …"):
 *   they are kept as the last error text, not streamed as answer text. Text of sub-agent
 *   messages (`parent_tool_use_id` set) is not part of the answer either.
 * - `{"type":"user","message":{"content":[tool_result{tool_use_id,content,is_error}]}}` → `tool_end`.
 * - `{"type":"result","subtype","is_error","api_error_status","result","session_id",
 *   "total_cost_usd","usage":{input_tokens,cache_creation_input_tokens,cache_read_input_tokens,
 *   output_tokens},"errors"}` → `usage`, and the turn's outcome. On SIGINT the CLI still
 *   writes `[Request interrupted by user]` (a user text message, ignored) and a result with
 *   `subtype:"error_during_execution"`, `is_error:true`, no `result` text,
 *   `terminal_reason:"aborted_streaming"`, then exits 0.
 */
import path from 'node:path';
import type { Usage } from '../../core/agents.js';
import type { RunEvent } from '../types.js';

/** Maximum length of a tool summary (one line). */
export const SUMMARY_MAX = 200;

/** What the final `result` line said. */
export interface ClaudeResultLine {
  isError: boolean;
  subtype?: string;
  /** `result.result`, the answer text (or the error text when `isError`). */
  text?: string;
  /** HTTP status of the failed model request, when the CLI reports one (`api_error_status`). */
  apiErrorStatus?: number;
  /** `errors[]` strings (seen on `error_during_execution`, which has no `result` text). */
  errors: string[];
}

type Json = Record<string, unknown>;

const isObj = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);
const str = (v: unknown): string | undefined => (typeof v === 'string' ? v : undefined);
const num = (v: unknown): number | undefined => (typeof v === 'number' && Number.isFinite(v) ? v : undefined);

/** Collapses whitespace to one line and cuts it to `max` characters (ending in "…" when cut). */
export function oneLine(text: string, max = SUMMARY_MAX): string {
  const t = text.replace(/\s+/g, ' ').trim();
  return t.length > max ? `${t.slice(0, max - 1)}…` : t;
}

/**
 * A one-line summary of a tool call, ≤ 200 characters: `Bash: ls -la`, `Edit: src/x.ts` (paths
 * inside `cwd` are shown relative), `Grep: pattern`, `WebFetch: url`, `Task: description`; the
 * bare tool name when nothing fits.
 */
export function summarizeToolUse(name: string, input: unknown, cwd?: string): string {
  const i = isObj(input) ? input : {};
  const rel = (p: string) => {
    if (!cwd || !path.isAbsolute(p)) return p;
    const r = path.relative(cwd, p);
    return r && !r.startsWith('..') && !path.isAbsolute(r) ? r : p;
  };
  const filePath = str(i.file_path) ?? str(i.notebook_path) ?? str(i.path);
  let detail: string | undefined;
  if (name === 'Bash') detail = str(i.command);
  else if (['Edit', 'MultiEdit', 'Write', 'Read', 'NotebookEdit'].includes(name) && filePath) detail = rel(filePath);
  else if (name === 'Grep' || name === 'Glob') detail = [str(i.pattern), str(i.path) && rel(str(i.path)!)].filter(Boolean).join(' in ');
  else if (name === 'WebFetch') detail = str(i.url);
  else if (name === 'WebSearch') detail = str(i.query);
  else if (name === 'Task' || name === 'Agent') detail = str(i.description) ?? str(i.prompt);
  else {
    detail = str(i.description) ?? str(i.command) ?? (filePath && rel(filePath)) ?? str(i.url) ?? str(i.query) ?? str(i.pattern) ?? str(i.prompt);
  }
  return oneLine(detail ? `${name}: ${detail}` : name);
}

/** Text of a tool_result `content` (string or array of text blocks). */
function toolResultText(content: unknown): string {
  if (typeof content === 'string') return content;
  if (Array.isArray(content)) {
    return content
      .filter(isObj)
      .map((b) => (b.type === 'text' ? (str(b.text) ?? '') : ''))
      .filter(Boolean)
      .join('\n');
  }
  return '';
}

/**
 * Stateful parser for one turn. Feed every stdout line to {@link push}; read the state
 * (`sessionId`, `result`, `text`, `usage`, `lastErrorText`) when the process has ended.
 */
export class ClaudeEventParser {
  /** Latest session id seen (init, any message line, result). */
  sessionId?: string;
  /** The `result` line, once seen. */
  result?: ClaudeResultLine;
  /** Usage from the result line: tokens (input includes cache reads/writes) and cost in USD. */
  usage?: Usage;
  /** The last error text the CLI printed as a synthetic assistant message. */
  lastErrorText?: string;
  /**
   * `uuid` of the last assistant line of the main agent (not a sub-agent's, not a synthetic
   * `<synthetic>` error notice): the point `--resume-session-at` can resume at after this turn.
   */
  lastAssistantUuid?: string;
  private readonly chunks: string[] = [];
  private readonly toolNames = new Map<string, string>();

  /** @param cwd the turn's working directory, to show file paths relative to it. */
  constructor(private readonly cwd?: string) {}

  /** The streamed answer so far: assistant text blocks separated by a blank line. */
  get text(): string {
    return this.chunks.join('\n\n');
  }

  /** Parses one stdout line into zero or more events. Never throws. */
  push(line: string): RunEvent[] {
    let msg: unknown;
    try {
      msg = JSON.parse(line);
    } catch {
      return [];
    }
    if (!isObj(msg)) return [];
    const events: RunEvent[] = [];
    const sid = str(msg.session_id);
    if (sid && sid !== this.sessionId) {
      this.sessionId = sid;
      events.push({ type: 'session', sessionId: sid });
    }
    switch (msg.type) {
      case 'system':
        if (msg.subtype === 'api_retry') events.push({ type: 'warning', message: retryMessage(msg) });
        break;
      case 'assistant':
        this.onAssistant(msg, events);
        break;
      case 'user':
        this.onUser(msg, events);
        break;
      case 'result':
        this.onResult(msg, events);
        break;
      default:
        break;
    }
    return events;
  }

  private onAssistant(msg: Json, events: RunEvent[]): void {
    const message = isObj(msg.message) ? msg.message : undefined;
    const content = Array.isArray(message?.content) ? message.content : [];
    const synthetic = message?.model === '<synthetic>';
    const subAgent = msg.parent_tool_use_id !== null && msg.parent_tool_use_id !== undefined;
    const uuid = str(msg.uuid);
    if (uuid && !synthetic && !subAgent) this.lastAssistantUuid = uuid;
    for (const block of content) {
      if (!isObj(block)) continue;
      if (block.type === 'text') {
        const text = str(block.text);
        if (!text) continue;
        if (synthetic) {
          this.lastErrorText = text;
          continue;
        }
        if (subAgent) continue;
        const delta = this.chunks.length ? `\n\n${text}` : text;
        this.chunks.push(text);
        events.push({ type: 'text', delta });
      } else if (block.type === 'tool_use') {
        const id = str(block.id) ?? '';
        const name = str(block.name) ?? 'tool';
        this.toolNames.set(id, name);
        events.push({ type: 'tool_start', id, name, summary: summarizeToolUse(name, block.input, this.cwd) });
      }
    }
  }

  private onUser(msg: Json, events: RunEvent[]): void {
    const message = isObj(msg.message) ? msg.message : undefined;
    const content = Array.isArray(message?.content) ? message.content : [];
    for (const block of content) {
      if (!isObj(block) || block.type !== 'tool_result') continue;
      const id = str(block.tool_use_id) ?? '';
      const output = oneLine(toolResultText(block.content));
      events.push({
        type: 'tool_end',
        id,
        name: this.toolNames.get(id) ?? 'tool',
        ok: block.is_error !== true,
        ...(output ? { summary: output } : {}),
      });
    }
  }

  private onResult(msg: Json, events: RunEvent[]): void {
    const u = isObj(msg.usage) ? msg.usage : {};
    const input = num(u.input_tokens);
    const cache = (num(u.cache_creation_input_tokens) ?? 0) + (num(u.cache_read_input_tokens) ?? 0);
    const usage: Usage = {};
    if (input !== undefined) usage.inputTokens = input + cache;
    const output = num(u.output_tokens);
    if (output !== undefined) usage.outputTokens = output;
    const cost = num(msg.total_cost_usd);
    if (cost !== undefined) usage.costUsd = cost;
    this.result = {
      isError: msg.is_error === true,
      subtype: str(msg.subtype),
      text: str(msg.result),
      apiErrorStatus: num(msg.api_error_status),
      errors: Array.isArray(msg.errors) ? msg.errors.filter((e): e is string => typeof e === 'string') : [],
    };
    if (Object.keys(usage).length) {
      this.usage = usage;
      events.push({ type: 'usage', usage });
    }
  }
}

function retryMessage(msg: Json): string {
  const attempt = num(msg.attempt);
  const max = num(msg.max_retries);
  const status = num(msg.error_status);
  const delayMs = num(msg.retry_delay_ms);
  const raw = str(msg.error) ?? (isObj(msg.error) ? str(msg.error.message) : undefined);
  // claude 2.1.197 says `"error_status": null, "error": "unknown"` when no HTTP answer came
  // (connection refused, reset or timed out) — checked against a closed port.
  const err = raw === 'unknown' ? undefined : raw;
  const why = status !== undefined ? `HTTP ${status}${err ? ` ${err}` : ''}` : (err ?? 'no answer from the model API (connection refused, reset or timed out)');
  const parts = ['Retrying the model request'];
  if (attempt !== undefined) parts.push(max !== undefined ? `(attempt ${attempt}/${max})` : `(attempt ${attempt})`);
  const next = delayMs !== undefined ? `; next try in ${Math.max(1, Math.round(delayMs / 1000))} s` : '';
  return oneLine(`${parts.join(' ')}: ${why}${next}`, 500);
}
