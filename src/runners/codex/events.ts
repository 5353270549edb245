/**
 * Pure parser for `codex exec --json` output (one JSON object per stdout line) into
 * {@link RunEvent}s. Facts (codex 0.169.0, seen against a scripted Responses API server):
 *
 * - `{"type":"thread.started","thread_id":"<uuid>"}` comes first — also on `resume`, with the same id.
 * - `turn.started`, then items: `item.started` / `item.updated` / `item.completed` with
 *   `item: {id: "item_N", type, …}`:
 *   - `agent_message {text}` (only `item.completed` matters; several per turn are possible),
 *   - `command_execution {command: "/bin/bash -lc '<cmd>'", aggregated_output, exit_code: number|null,
 *     status: "in_progress"|"completed"|"failed"|"declined"}`,
 *   - `file_change {changes: [{path (absolute), kind: "add"|"update"|"delete"}], status}`,
 *   - `mcp_tool_call {server, tool, arguments, result, error?, status}`, `web_search {query}`,
 *   - `reasoning`, `todo_list` (ignored), and `error {message}` — a non-fatal warning, e.g.
 *     "Model metadata for `gpt-5` not found. Defaulting to fallback metadata…".
 * - Top-level `{"type":"error","message"}`: a retry notice ("Reconnecting... 1/5 (…)") or the
 *   error that ends the turn (then repeated in `turn.failed`).
 * - `turn.completed {usage: {input_tokens, cached_input_tokens, output_tokens, reasoning_output_tokens}}`
 *   — tokens are **cumulative over the whole thread** (a resumed turn reports the earlier turns
 *   too), not per turn.
 * - `turn.failed {error: {message}}` ends a failed turn (exit code 1).
 * - A command the read-only sandbox refused ("Read-only file system") may produce no
 *   command_execution items at all; its output still goes to the model.
 *
 * Unknown event types and fields are ignored.
 */
import path from 'node:path';
import type { Usage } from '../../core/agents.js';
import type { RunEvent } from '../types.js';

/** What the parser learned about the turn so far. */
export interface CodexTurnState {
  /** Latest `thread.started.thread_id`. */
  sessionId?: string;
  /** The answer so far: agent messages joined with a blank line. */
  text: string;
  /** From the last `turn.completed` (thread-cumulative token counts). */
  usage?: Usage;
  turnCompleted: boolean;
  /** Set when `turn.failed` was seen: its `error.message` ('' when it had none). */
  turnFailed?: string;
  /** Last top-level `error` message (retry notices and fatal errors). */
  lastError?: string;
  /** Last `item.completed` of type `error` (warnings such as the model-metadata notice). */
  lastItemError?: string;
}

const SUMMARY_MAX = 200;

interface Item {
  id?: unknown;
  type?: unknown;
  [key: string]: unknown;
}

export class CodexEventParser {
  readonly state: CodexTurnState = { text: '', turnCompleted: false };
  /** Tool items started and not yet ended: id → name. */
  private readonly open = new Map<string, string>();

  /** @param cwd the turn's working directory; file paths under it are shown relative. */
  constructor(private readonly cwd?: string) {}

  /** Parses one stdout line; returns the events it yields (none for unknown or non-JSON lines). */
  push(line: string): RunEvent[] {
    let ev: Record<string, unknown>;
    try {
      const parsed: unknown = JSON.parse(line);
      if (!parsed || typeof parsed !== 'object') return [];
      ev = parsed as Record<string, unknown>;
    } catch {
      return [];
    }
    switch (ev.type) {
      case 'thread.started': {
        if (typeof ev.thread_id !== 'string' || !ev.thread_id) return [];
        this.state.sessionId = ev.thread_id;
        return [{ type: 'session', sessionId: ev.thread_id }];
      }
      case 'item.started':
        return this.itemStarted(asItem(ev.item));
      case 'item.completed':
        return this.itemCompleted(asItem(ev.item));
      case 'turn.completed': {
        this.state.turnCompleted = true;
        const usage = toUsage(ev.usage);
        if (!usage) return [];
        this.state.usage = usage;
        return [{ type: 'usage', usage }];
      }
      case 'turn.failed': {
        const err = ev.error as { message?: unknown } | undefined;
        this.state.turnFailed = typeof err?.message === 'string' ? err.message : '';
        return [];
      }
      case 'error': {
        if (typeof ev.message !== 'string' || !ev.message) return [];
        this.state.lastError = ev.message;
        return [{ type: 'warning', message: ev.message }];
      }
      default:
        return [];
    }
  }

  /** Closes tools still open (e.g. the turn was stopped) as failed. */
  finish(): RunEvent[] {
    return closeOpenTools(this.open);
  }

  /** The best error message for a failed turn: turn.failed, else last error, else last item error. */
  failureMessage(): string | undefined {
    return this.state.turnFailed || this.state.lastError || this.state.lastItemError || undefined;
  }

  private itemStarted(item: Item | undefined): RunEvent[] {
    if (!item) return [];
    const tool = this.describeTool(item);
    if (!tool) return [];
    const id = itemId(item);
    if (this.open.has(id)) return [];
    this.open.set(id, tool.name);
    return [{ type: 'tool_start', id, name: tool.name, summary: tool.summary }];
  }

  private itemCompleted(item: Item | undefined): RunEvent[] {
    if (!item) return [];
    if (item.type === 'agent_message') {
      if (typeof item.text !== 'string' || !item.text) return [];
      const delta = (this.state.text ? '\n\n' : '') + item.text;
      this.state.text += delta;
      return [{ type: 'text', delta }];
    }
    if (item.type === 'error') {
      if (typeof item.message !== 'string' || !item.message) return [];
      this.state.lastItemError = item.message;
      return [{ type: 'warning', message: item.message }];
    }
    const tool = this.describeTool(item);
    if (!tool) return [];
    const id = itemId(item);
    const out: RunEvent[] = [];
    if (!this.open.has(id)) out.push({ type: 'tool_start', id, name: tool.name, summary: tool.summary });
    this.open.delete(id);
    out.push({ type: 'tool_end', id, name: tool.name, ...toolOutcome(item) });
    return out;
  }

  /** Name and one-line summary of a tool item, or undefined when the item is not a tool. */
  private describeTool(item: Item): { name: string; summary: string } | undefined {
    switch (item.type) {
      case 'command_execution':
        return { name: 'shell', summary: oneLine(unwrapShell(str(item.command))) };
      case 'file_change': {
        const changes = Array.isArray(item.changes) ? (item.changes as Array<{ path?: unknown; kind?: unknown }>) : [];
        const list = changes.map((c) => `${str(c.kind) || 'change'} ${this.relative(str(c.path))}`).join(', ');
        return { name: 'apply_patch', summary: oneLine(list || 'file change') };
      }
      case 'mcp_tool_call': {
        const name = [str(item.server), str(item.tool)].filter(Boolean).join('.') || 'mcp';
        const args = item.arguments === undefined ? '' : ` ${JSON.stringify(item.arguments)}`;
        return { name, summary: oneLine(`${name}${args}`) };
      }
      case 'web_search':
        return { name: 'web_search', summary: oneLine(str(item.query) || 'web search') };
      default:
        return undefined;
    }
  }

  private relative(p: string): string {
    if (!this.cwd || !path.isAbsolute(p)) return p;
    const rel = path.relative(this.cwd, p);
    return rel && !rel.startsWith('..') && !path.isAbsolute(rel) ? rel : p;
  }
}

function asItem(v: unknown): Item | undefined {
  return v && typeof v === 'object' ? (v as Item) : undefined;
}

function itemId(item: Item): string {
  return typeof item.id === 'string' || typeof item.id === 'number' ? String(item.id) : `${str(item.type)}`;
}

function str(v: unknown): string {
  return typeof v === 'string' ? v : '';
}

/** ok/summary of a completed tool item. */
function toolOutcome(item: Item): { ok: boolean; summary?: string } {
  const status = str(item.status);
  switch (item.type) {
    case 'command_execution': {
      const code = typeof item.exit_code === 'number' ? item.exit_code : undefined;
      const ok = code === 0 && status !== 'failed' && status !== 'declined';
      return { ok, summary: code === undefined ? status || undefined : `exit ${code}` };
    }
    case 'mcp_tool_call': {
      const err = item.error as { message?: unknown } | null | undefined;
      const message = typeof err?.message === 'string' ? err.message : undefined;
      return { ok: !message && status !== 'failed', summary: message ? oneLine(message) : status || undefined };
    }
    default:
      return { ok: status !== 'failed' && status !== 'declined', summary: status || undefined };
  }
}

/** `/bin/bash -lc 'echo hi'` → `echo hi` (codex wraps every command in a login shell). */
export function unwrapShell(command: string): string {
  const m = /^(?:\/\S*\/)?(?:ba|z)?sh\s+-l?c\s+'((?:[^']|'\\'')*)'$/s.exec(command.trim());
  return m ? m[1]!.replace(/'\\''/g, "'") : command;
}

/** Collapses whitespace and cuts to {@link SUMMARY_MAX} characters. */
function oneLine(s: string): string {
  const t = s.replace(/\s+/g, ' ').trim();
  return t.length > SUMMARY_MAX ? `${t.slice(0, SUMMARY_MAX - 1)}…` : t;
}

/** codex usage `{input_tokens, output_tokens, …}` → {@link Usage}; undefined when absent. */
function toUsage(v: unknown): Usage | undefined {
  if (!v || typeof v !== 'object') return undefined;
  const u = v as Record<string, unknown>;
  const usage: Usage = {};
  if (typeof u.input_tokens === 'number') usage.inputTokens = u.input_tokens;
  if (typeof u.output_tokens === 'number') usage.outputTokens = u.output_tokens;
  return usage.inputTokens === undefined && usage.outputTokens === undefined ? undefined : usage;
}

/** `tool_end` (failed, "interrupted") for every tool still open in `open` (id → name), which is emptied. */
export function closeOpenTools(open: Map<string, string>): RunEvent[] {
  const out: RunEvent[] = [];
  for (const [id, name] of open) out.push({ type: 'tool_end', id, name, ok: false, summary: 'interrupted' });
  open.clear();
  return out;
}
