/**
 * Pure mapping of `codex app-server` notifications of one turn to {@link RunEvent}s, and what the
 * turn's result is made of (answer text, usage, end). Facts (verified with @openai/codex 0.169.0
 * against the scripted Responses API server, test/runners/codex-session.test.ts):
 *
 * - A turn: `turn/started {threadId, turn}` … `turn/completed {threadId, turn: {id, status:
 *   "completed"|"interrupted"|"failed", error: {message}|null}}`. `turn.items` there holds only a
 *   summary (the agent messages), so items are followed as they come.
 * - Items: `item/started` / `item/completed {item, threadId, turnId}` with `item.type`
 *   `userMessage` (also for a steered text), `agentMessage {text}`, `commandExecution {command:
 *   "/bin/bash -lc '<cmd>'", status: inProgress|completed|failed|declined, exitCode}`,
 *   `fileChange {changes: [{path, kind: {type}, diff}], status}`, `mcpToolCall {server, tool,
 *   arguments, status, error}`, `dynamicToolCall`, `webSearch {query}`, `reasoning`, … (others ignored).
 *   A declined command completes with status `declined` and exitCode null.
 * - Text: `item/agentMessage/delta {itemId, delta}` streams each agent message; its
 *   `item/completed` carries the whole text.
 * - Usage: `thread/tokenUsage/updated {tokenUsage: {total, last}}` after each model call; `total`
 *   is cumulative over the thread (the same meaning as `codex exec`'s `turn.completed.usage`,
 *   ./events.ts), reported once at the turn's end.
 * - `error {error: {message}, willRetry}` (a retry notice, or the error that fails the turn) and
 *   `warning {message}` (e.g. "Model metadata for `gpt-5` not found…") become warnings.
 *
 * Malformed notification params (zod) are ignored.
 */
import { z } from 'zod';
import { closeOpenTools, unwrapShell } from './events.js';
import type { Usage } from '../../core/agents.js';
import type { RunEvent } from '../types.js';
import type { FileUpdateChange, TurnStatus } from './protocol/types.js';

const SUMMARY_MAX = 200;

const turnSchema = z.object({
  id: z.string(),
  status: z.enum(['completed', 'interrupted', 'failed', 'inProgress']),
  error: z.object({ message: z.string() }).nullish(),
});
const turnNote = z.object({ threadId: z.string(), turn: turnSchema });
const itemNote = z.object({ threadId: z.string(), turnId: z.string(), item: z.object({ type: z.string(), id: z.string() }).passthrough() });
const deltaNote = z.object({ threadId: z.string(), turnId: z.string(), itemId: z.string(), delta: z.string() });
const breakdown = z.object({ inputTokens: z.number(), outputTokens: z.number() });
const usageNote = z.object({ threadId: z.string(), turnId: z.string(), tokenUsage: z.object({ total: breakdown }) });
const errorNote = z.object({ threadId: z.string(), turnId: z.string(), willRetry: z.boolean(), error: z.object({ message: z.string() }) });
const warningNote = z.object({ threadId: z.string().nullish(), message: z.string() });

const commandItem = z.object({ command: z.string(), status: z.string(), exitCode: z.number().nullish() });
const fileChangeSchema = z.object({ path: z.string(), kind: z.object({ type: z.string() }), diff: z.string() });
const fileChangeItem = z.object({ changes: z.array(fileChangeSchema), status: z.string() });
const mcpItem = z.object({
  server: z.string(),
  tool: z.string(),
  status: z.string(),
  arguments: z.unknown(),
  error: z.object({ message: z.string() }).nullish(),
});
const dynamicItem = z.object({ tool: z.string(), namespace: z.string().nullish(), status: z.string(), success: z.boolean().nullish() });
const webSearchItem = z.object({ query: z.string() });
const agentMessageItem = z.object({ text: z.string() });

type Item = z.infer<typeof itemNote>['item'];

/** How a turn ended (from `turn/completed`). */
export interface CodexTurnEnd {
  status: TurnStatus;
  /** `turn.error.message` when set. */
  error?: string;
}

/** Follows one turn of one thread: feed it every notification; it returns the events to report. */
export class CodexTurnEvents {
  /** The answer so far: the turn's agent messages joined with a blank line. */
  text = '';
  /** Thread-cumulative tokens from the last `thread/tokenUsage/updated` of the turn. */
  usage?: Usage;
  /** Set by `turn/completed`. */
  end?: CodexTurnEnd;
  /** Last non-retried `error` notification message. */
  lastError?: string;
  private turnId?: string;
  /** Agent message item id → text emitted for it so far. */
  private readonly messages = new Map<string, string>();
  /** Tool items started and not yet ended: id → name. */
  private readonly open = new Map<string, string>();
  /** fileChange items seen (for approval previews): id → changes. */
  private readonly changes = new Map<string, FileUpdateChange[]>();

  /**
   * @param threadId the session's thread: notifications of other threads are ignored
   * @param cwd the working directory: file paths under it are shown relative
   */
  constructor(
    private readonly threadId: string,
    private readonly cwd?: string,
  ) {}

  /** The turn id (from the `turn/start` answer); until set, notifications of any turn of the thread count. */
  setTurnId(turnId: string): void {
    this.turnId = turnId;
  }

  /** The changes of a fileChange item seen in this turn (the preview of its approval). */
  fileChanges(itemId: string): FileUpdateChange[] | undefined {
    return this.changes.get(itemId);
  }

  /** Maps one notification; [] for unknown, malformed or foreign (other thread/turn) ones. */
  push(method: string, params: unknown): RunEvent[] {
    switch (method) {
      case 'item/agentMessage/delta': {
        const p = deltaNote.safeParse(params);
        if (!p.success || !this.mine(p.data)) return [];
        return this.appendText(p.data.itemId, p.data.delta);
      }
      case 'item/started': {
        const p = itemNote.safeParse(params);
        if (!p.success || !this.mine(p.data)) return [];
        return this.itemStarted(p.data.item);
      }
      case 'item/completed': {
        const p = itemNote.safeParse(params);
        if (!p.success || !this.mine(p.data)) return [];
        return this.itemCompleted(p.data.item);
      }
      case 'thread/tokenUsage/updated': {
        const p = usageNote.safeParse(params);
        if (!p.success || !this.mine(p.data)) return [];
        this.usage = { inputTokens: p.data.tokenUsage.total.inputTokens, outputTokens: p.data.tokenUsage.total.outputTokens };
        return [];
      }
      case 'error': {
        const p = errorNote.safeParse(params);
        if (!p.success || !this.mine(p.data)) return [];
        if (!p.data.willRetry) this.lastError = p.data.error.message;
        return [{ type: 'warning', message: p.data.error.message }];
      }
      case 'warning': {
        const p = warningNote.safeParse(params);
        if (!p.success || (p.data.threadId && p.data.threadId !== this.threadId)) return [];
        return [{ type: 'warning', message: p.data.message }];
      }
      case 'turn/completed': {
        const p = turnNote.safeParse(params);
        if (!p.success || !this.mine({ threadId: p.data.threadId, turnId: p.data.turn.id })) return [];
        this.end = { status: p.data.turn.status, ...(p.data.turn.error?.message ? { error: p.data.turn.error.message } : {}) };
        return [...this.finish(), ...(this.usage ? [{ type: 'usage' as const, usage: this.usage }] : [])];
      }
      default:
        return [];
    }
  }

  /** Closes tools still open (the turn was interrupted or the process died) as failed. */
  finish(): RunEvent[] {
    return closeOpenTools(this.open);
  }

  private mine(p: { threadId: string; turnId: string }): boolean {
    return p.threadId === this.threadId && (this.turnId === undefined || p.turnId === this.turnId);
  }

  private appendText(itemId: string, delta: string): RunEvent[] {
    if (!delta) return [];
    const before = this.messages.get(itemId);
    const sep = before === undefined && this.text ? '\n\n' : '';
    this.messages.set(itemId, (before ?? '') + delta);
    this.text += sep + delta;
    return [{ type: 'text', delta: sep + delta }];
  }

  private itemStarted(item: Item): RunEvent[] {
    if (item.type === 'fileChange') this.rememberChanges(item);
    const tool = this.describeTool(item);
    if (!tool || this.open.has(item.id)) return [];
    this.open.set(item.id, tool.name);
    return [{ type: 'tool_start', id: item.id, name: tool.name, summary: tool.summary }];
  }

  private itemCompleted(item: Item): RunEvent[] {
    if (item.type === 'agentMessage') {
      const m = agentMessageItem.safeParse(item);
      if (!m.success) return [];
      // Deltas normally carried the text already; emit what they did not.
      const seen = this.messages.get(item.id) ?? '';
      if (m.data.text.startsWith(seen)) return this.appendText(item.id, m.data.text.slice(seen.length));
      return [];
    }
    if (item.type === 'fileChange') this.rememberChanges(item);
    const tool = this.describeTool(item);
    if (!tool) return [];
    const out: RunEvent[] = [];
    if (!this.open.has(item.id)) out.push({ type: 'tool_start', id: item.id, name: tool.name, summary: tool.summary });
    this.open.delete(item.id);
    out.push({ type: 'tool_end', id: item.id, name: tool.name, ...toolOutcome(item) });
    return out;
  }

  private rememberChanges(item: Item): void {
    const f = fileChangeItem.safeParse(item);
    if (f.success)
      this.changes.set(
        item.id,
        f.data.changes.map((c) => ({ ...c, kind: c.kind as FileUpdateChange['kind'] })),
      );
  }

  /** Name and one-line summary of a tool item; undefined when the item is not a tool (or malformed). */
  private describeTool(item: Item): { name: string; summary: string } | undefined {
    switch (item.type) {
      case 'commandExecution': {
        const c = commandItem.safeParse(item);
        return c.success ? { name: 'shell', summary: oneLine(unwrapShell(c.data.command)) } : undefined;
      }
      case 'fileChange': {
        const f = fileChangeItem.safeParse(item);
        if (!f.success) return undefined;
        const list = f.data.changes.map((c) => `${c.kind.type} ${this.relative(c.path)}`).join(', ');
        return { name: 'apply_patch', summary: oneLine(list || 'file change') };
      }
      case 'mcpToolCall': {
        const m = mcpItem.safeParse(item);
        if (!m.success) return undefined;
        const name = [m.data.server, m.data.tool].filter(Boolean).join('.') || 'mcp';
        const args = m.data.arguments === undefined || m.data.arguments === null ? '' : ` ${JSON.stringify(m.data.arguments)}`;
        return { name, summary: oneLine(`${name}${args}`) };
      }
      case 'dynamicToolCall': {
        const d = dynamicItem.safeParse(item);
        if (!d.success) return undefined;
        const name = [d.data.namespace, d.data.tool].filter(Boolean).join('.');
        return { name, summary: oneLine(name) };
      }
      case 'webSearch': {
        const w = webSearchItem.safeParse(item);
        return w.success ? { name: 'web_search', summary: oneLine(w.data.query || 'web search') } : undefined;
      }
      default:
        return undefined;
    }
  }

  private relative(p: string): string {
    if (!this.cwd || !p.startsWith(`${this.cwd}/`)) return p;
    return p.slice(this.cwd.length + 1);
  }
}

/** ok/summary of a completed tool item. */
function toolOutcome(item: Item): { ok: boolean; summary?: string } {
  const status = typeof item.status === 'string' ? item.status : '';
  if (item.type === 'commandExecution') {
    const code = typeof item.exitCode === 'number' ? item.exitCode : undefined;
    return { ok: code === 0 && status !== 'failed' && status !== 'declined', summary: code === undefined ? status || undefined : `exit ${code}` };
  }
  if (item.type === 'mcpToolCall') {
    const err = mcpItem.safeParse(item);
    const message = err.success ? err.data.error?.message : undefined;
    return { ok: !message && status !== 'failed', summary: message ? oneLine(message) : status || undefined };
  }
  if (item.type === 'dynamicToolCall' && item.success === false) return { ok: false, summary: status || undefined };
  return { ok: status !== 'failed' && status !== 'declined', summary: status || undefined };
}

/** Collapses whitespace and cuts to {@link SUMMARY_MAX} characters. */
function oneLine(s: string): string {
  const t = s.replace(/\s+/g, ' ').trim();
  return t.length > SUMMARY_MAX ? `${t.slice(0, SUMMARY_MAX - 1)}…` : t;
}
