/**
 * Pure mapping between `gemini --acp` (Agent Client Protocol v1, gemini-cli 0.61.0) and
 * agentbridge's session types: permission modes → ACP session modes, `session/request_permission`
 * → {@link InteractionRequest} and back, `session/update` notifications → {@link RunEvent}s, the
 * prompt response → usage and outcome. No I/O; the live session (./session.ts) drives it.
 *
 * Shapes verified with gemini 0.61.0 on this machine (test/runners/gemini-session.test.ts):
 * - `session/new` advertises the modes `default`, `autoEdit`, `yolo`, `plan`.
 * - `session/request_permission` `{sessionId, toolCall:{toolCallId, kind, status:"pending", title,
 *   content, locations}, options:[{optionId, name, kind}]}`. For a shell command `kind` is
 *   `execute`, `title` the command and `content` one text item `[current working directory …]`;
 *   an edit carries a `diff` item `{path, oldText, newText}`. Options: `proceed_always`
 *   (allow_always), `proceed_once` (allow_once), `cancel` (reject_once); MCP tools offer
 *   `proceed_always_server` / `proceed_always_tool` instead of `proceed_always` (bundle source).
 * - A call that needs no approval is announced by `tool_call` (status `in_progress`); one that
 *   was approved is not — only its final `tool_call_update` (status `completed`/`failed`)
 *   follows. A rejected call gets no update at all. `toolCallId` is `<tool name>__<call id>`.
 * - Text comes as `agent_message_chunk` `{content:{type:"text",text}}`; thoughts as
 *   `agent_thought_chunk` (not forwarded). A change of the approval mode (`session/set_mode`, or
 *   the agent leaving plan mode) is announced as a fake `agent_message_chunk` with the text
 *   `[MODE_UPDATE] <mode>` (bundle source `handleApprovalModeChanged`); it is dropped here.
 * - The `session/prompt` response is `{stopReason, _meta:{quota:{token_count:{input_tokens,
 *   output_tokens}}}}`; API failures come back as JSON-RPC errors instead.
 * - A prompt whose text starts with `/` or `$` (after trimming) runs as a CLI command, not a
 *   model turn (bundle source: `Session.prompt` → `handleCommand`).
 */
import type { PermissionMode, Usage } from '../../core/agents.js';
import type { InteractionDecision, InteractionRequest } from '../../core/interactions.js';
import type { RunEvent } from '../types.js';
import { oneLine } from './events.js';

/** agentbridge permission → ACP session mode id of gemini 0.61.0. */
export const GEMINI_ACP_MODE: Record<PermissionMode, string> = {
  'read-only': 'plan',
  ask: 'default',
  edit: 'autoEdit',
  full: 'yolo',
};

/**
 * Chat text as an ACP prompt: text starting with `/` or `$` would run as a gemini command, so it
 * is prefixed to reach the model as a message (like the one-shot runner's `chatPrompt`).
 */
export function acpPromptText(prompt: string): string {
  return /^\s*[/$]/.test(prompt) ? `Message: ${prompt}` : prompt;
}

/** The parts of an ACP tool call this module reads (all optional, as in `ToolCallUpdate`). */
export interface AcpToolCall {
  toolCallId: string;
  kind?: string | null;
  title?: string | null;
  status?: string | null;
  content?: ReadonlyArray<AcpToolContent> | null;
  locations?: ReadonlyArray<{ path: string; line?: number | null }> | null;
  rawInput?: unknown;
}

/** ACP `ToolCallContent` as far as it matters here. */
export type AcpToolContent =
  | { type: 'content'; content: { type: string; text?: string } }
  | { type: 'diff'; path: string; oldText?: string | null; newText: string }
  | { type: 'terminal'; terminalId: string };

/** An ACP permission option. */
export interface AcpPermissionOption {
  optionId: string;
  kind: string;
  name?: string;
}

/** The answer to `session/request_permission` (ACP `RequestPermissionOutcome`). */
export type AcpPermissionOutcome = { outcome: 'cancelled' } | { outcome: 'selected'; optionId: string };

/**
 * Commands whose second word says what they do (`git push` vs `git status`): an "always" rule for
 * them covers the first two words, for any other command the first word.
 */
const TWO_WORD_COMMANDS = new Set(['git', 'npm', 'npx', 'pnpm', 'yarn', 'cargo', 'go', 'docker', 'kubectl', 'pip', 'pip3', 'make', 'gh', 'bun', 'deno']);

/**
 * What an "always" rule for a shell command matches: its first word (two for
 * {@link TWO_WORD_COMMANDS}), leading `VAR=value` assignments skipped; undefined for an empty command.
 * E.g. `git push origin main` → `git push`, `FOO=1 ls -la` → `ls`.
 */
export function commandRuleKey(command: string): string | undefined {
  const words = command.trim().split(/\s+/).filter(Boolean);
  while (words.length && /^[A-Za-z_][A-Za-z0-9_]*=/.test(words[0]!)) words.shift();
  const first = words[0];
  if (!first) return undefined;
  const second = words[1];
  if (TWO_WORD_COMMANDS.has(first) && second && /^[A-Za-z][\w:.-]*$/.test(second)) return `${first} ${second}`;
  return first;
}

/**
 * A readable diff of one edit: `--- path` / `+++ path`, then the changed middle (lines common to
 * the start and end dropped) as `-old` and `+new` lines. Not a minimal diff; the card truncates it.
 */
export function editPreview(edit: { path: string; oldText?: string | null; newText: string }): string {
  const oldLines = edit.oldText ? edit.oldText.split('\n') : [];
  const newLines = edit.newText.split('\n');
  let start = 0;
  while (start < oldLines.length && start < newLines.length && oldLines[start] === newLines[start]) start++;
  let endOld = oldLines.length;
  let endNew = newLines.length;
  while (endOld > start && endNew > start && oldLines[endOld - 1] === newLines[endNew - 1]) {
    endOld--;
    endNew--;
  }
  const header = [edit.oldText ? `--- ${edit.path}` : '--- /dev/null', `+++ ${edit.path}`, `@@ line ${start + 1} @@`];
  return [...header, ...oldLines.slice(start, endOld).map((l) => `-${l}`), ...newLines.slice(start, endNew).map((l) => `+${l}`)].join('\n');
}

/** The tool's name from an ACP tool call id `<tool>__<call id>` (gemini 0.61.0), else the call's kind, else `tool`. */
export function toolNameOf(call: Pick<AcpToolCall, 'toolCallId' | 'kind'>): string {
  const m = /^([A-Za-z0-9_.-]+?)__/.exec(call.toolCallId);
  return m?.[1] ?? call.kind ?? 'tool';
}

function diffOf(call: AcpToolCall): Extract<AcpToolContent, { type: 'diff' }> | undefined {
  return call.content?.find((c): c is Extract<AcpToolContent, { type: 'diff' }> => c.type === 'diff');
}

/**
 * The approval card's request for an ACP permission request:
 * - `tool`: the tool's name ({@link toolNameOf}); `reason`: the title when it is not the preview;
 * - `preview`: the command for `execute` calls (their title), the diff for calls with a diff item,
 *   else the tool call as JSON (title, kind, locations, text content, raw input);
 * - `ruleKey`: {@link commandRuleKey} of the command, or the edited path (diff, else first location);
 *   undefined for other kinds.
 */
export function permissionToInteraction(call: AcpToolCall): Extract<InteractionRequest, { kind: 'approval' }> {
  const tool = toolNameOf(call);
  const title = call.title ?? '';
  const diff = diffOf(call);
  if (call.kind === 'execute' && title) {
    const ruleKey = commandRuleKey(title);
    return { kind: 'approval', tool, preview: { format: 'command', text: title }, ...(ruleKey ? { ruleKey } : {}) };
  }
  const path = diff?.path ?? call.locations?.[0]?.path;
  const pathRule = path && (call.kind === 'edit' || call.kind === 'delete' || call.kind === 'move' || diff) ? { ruleKey: path } : {};
  if (diff) return { kind: 'approval', tool, preview: { format: 'diff', text: editPreview(diff) }, ...pathRule, ...(title ? { reason: title } : {}) };
  const texts = (call.content ?? []).flatMap((c) => (c.type === 'content' && typeof c.content.text === 'string' ? [c.content.text] : []));
  const shown = {
    ...(title ? { title } : {}),
    ...(call.kind ? { kind: call.kind } : {}),
    ...(call.locations?.length ? { locations: call.locations.map((l) => l.path) } : {}),
    ...(texts.length ? { content: texts } : {}),
    ...(call.rawInput !== undefined ? { input: call.rawInput } : {}),
  };
  return { kind: 'approval', tool, preview: { format: 'json', text: JSON.stringify(shown, null, 2) }, ...pathRule };
}

/**
 * The ACP answer for a decision, chosen by option kind (ACP `PermissionOptionKind`), preferring
 * gemini's ids: allow → `allow_once` (`proceed_once`); allow+always → the first `allow_always`
 * (`proceed_always`; for MCP tools `proceed_always_server`), else allow once; deny/cancel/anything
 * else → `reject_once` (`cancel`), else `reject_always`, else the `cancelled` outcome. An allow
 * without a matching option is also answered `cancelled` (never allow by accident).
 */
export function decisionToOutcome(decision: InteractionDecision, options: ReadonlyArray<AcpPermissionOption>): AcpPermissionOutcome {
  const pick = (kind: string, preferred: string) => options.find((o) => o.kind === kind && o.optionId === preferred) ?? options.find((o) => o.kind === kind);
  let chosen: AcpPermissionOption | undefined;
  if (decision.kind === 'allow') {
    chosen = (decision.always ? pick('allow_always', 'proceed_always') : undefined) ?? pick('allow_once', 'proceed_once');
  } else {
    chosen = pick('reject_once', 'cancel') ?? pick('reject_always', 'cancel');
  }
  return chosen ? { outcome: 'selected', optionId: chosen.optionId } : { outcome: 'cancelled' };
}

/** Token counts from the prompt response's `_meta.quota.token_count` (gemini 0.61.0); undefined when absent. */
export function usageFromPromptMeta(meta: unknown): Usage | undefined {
  const quota = isObj(meta) && isObj(meta['quota']) ? meta['quota'] : undefined;
  const counts = quota && isObj(quota['token_count']) ? quota['token_count'] : undefined;
  if (!counts) return undefined;
  const inputTokens = num(counts['input_tokens']);
  const outputTokens = num(counts['output_tokens']);
  if (inputTokens === undefined && outputTokens === undefined) return undefined;
  return { ...(inputTokens !== undefined ? { inputTokens } : {}), ...(outputTokens !== undefined ? { outputTokens } : {}) };
}

/** A `session/update` payload as far as this module reads it. */
export type AcpSessionUpdate =
  | { sessionUpdate: 'agent_message_chunk'; content: { type: string; text?: string } }
  | ({ sessionUpdate: 'tool_call' } & AcpToolCall)
  | ({ sessionUpdate: 'tool_call_update' } & AcpToolCall)
  | { sessionUpdate: string };

/** gemini 0.61.0's announcement of an approval mode change, sent as assistant text. */
const MODE_UPDATE = /^\[MODE_UPDATE\] [A-Za-z_-]+$/;

/**
 * Turns one turn's `session/update` notifications into {@link RunEvent}s and keeps the answer text.
 * One instance per turn.
 */
export class AcpTurnMapper {
  /** Concatenated assistant text of the turn. */
  text = '';
  private readonly started = new Map<string, string>();
  private readonly ended = new Set<string>();

  /**
   * Events for one update: text deltas; `tool_call` → `tool_start`; a final `tool_call_update`
   * (`completed`/`failed`) → `tool_end` (preceded by `tool_start` when the call was not announced,
   * as for approved calls). Thoughts, plans, mode and command updates give none.
   */
  push(update: AcpSessionUpdate): RunEvent[] {
    switch (update.sessionUpdate) {
      case 'agent_message_chunk': {
        const content = (update as { content: { type: string; text?: string } }).content;
        if (content.type !== 'text' || !content.text || MODE_UPDATE.test(content.text)) return [];
        this.text += content.text;
        return [{ type: 'text', delta: content.text }];
      }
      case 'tool_call':
      case 'tool_call_update': {
        const call = update as AcpToolCall;
        const out: RunEvent[] = [];
        if (!this.started.has(call.toolCallId)) {
          const name = toolNameOf(call);
          this.started.set(call.toolCallId, name);
          out.push({ type: 'tool_start', id: call.toolCallId, name, summary: toolSummary(call) });
        }
        if ((call.status === 'completed' || call.status === 'failed') && !this.ended.has(call.toolCallId)) {
          this.ended.add(call.toolCallId);
          const summary = resultSummary(call);
          out.push({
            type: 'tool_end',
            id: call.toolCallId,
            name: this.started.get(call.toolCallId)!,
            ok: call.status === 'completed',
            ...(summary ? { summary } : {}),
          });
        }
        return out;
      }
      default:
        return [];
    }
  }
}

/** One line: `$ <command>` for execute calls, `<kind> <title>` otherwise. */
export function toolSummary(call: AcpToolCall): string {
  const title = call.title ?? '';
  if (call.kind === 'execute' && title) return oneLine(`$ ${title}`);
  return oneLine([call.kind ?? toolNameOf(call), title].filter(Boolean).join(' '));
}

function resultSummary(call: AcpToolCall): string | undefined {
  for (const c of call.content ?? []) {
    if (c.type === 'content' && c.content.text) return oneLine(c.content.text);
    if (c.type === 'diff') return oneLine(`edited ${c.path}`);
  }
  return undefined;
}

function isObj(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function num(v: unknown): number | undefined {
  return typeof v === 'number' && Number.isFinite(v) ? v : undefined;
}
