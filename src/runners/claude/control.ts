/**
 * The pure part of the Claude live session (./session.ts): the stdin messages agentbridge writes
 * to `claude -p --input-format stream-json`, the stdout control lines it reads (zod-checked), and
 * the mapping between Claude's `can_use_tool` permission requests and agentbridge's
 * {@link InteractionRequest}/{@link InteractionDecision}.
 *
 * Protocol facts (verified with claude 2.1.197 on this machine against the scripted model,
 * test/runners/claude-session.test.ts; see ../../../docs/ARCHITECTURE.md §7):
 * - stdin `{"type":"control_request","request_id","request":{"subtype":"initialize"}}` → stdout
 *   `{"type":"control_response","response":{"subtype":"success","request_id",…}}` once ready.
 * - stdin user message `{"type":"user","uuid","message":{"role":"user","content"},
 *   "parent_tool_use_id":null,"session_id"}`: a turn ending in one `result` line. With
 *   `--replay-user-messages` the CLI echoes each user message when it takes it into the
 *   conversation: `{"type":"user","isReplay":true,"uuid":<the uuid we sent>,…}`; the echo always
 *   precedes the `result` of the run that answers it.
 * - stdout `{"type":"control_request","request_id","request":{"subtype":"can_use_tool",
 *   "tool_name","input","tool_use_id","permission_suggestions"?,…}}` → stdin
 *   `{"type":"control_response","response":{"subtype":"success","request_id","response":
 *   {"behavior":"allow","updatedInput"[,"updatedPermissions"]}}}` or `{"behavior":"deny","message"}`
 *   (the model gets an `is_error` tool_result with the message, and the turn goes on).
 * - stdout `{"type":"control_cancel_request","request_id"}`: the CLI withdrew a pending
 *   `can_use_tool` (after an interrupt); a late answer to it is ignored by the CLI.
 * - stdin `{"type":"control_request","request_id","request":{"subtype":"interrupt"}}`: the running
 *   turn ends with `result` subtype `error_during_execution` within ~40 ms.
 */
import { z } from 'zod';
import type { InteractionDecision, InteractionRequest, Question } from '../../core/interactions.js';

/** An image for a user message: its MIME type and its bytes in base64. */
export interface ImageContent {
  mediaType: string;
  base64: string;
}

/**
 * A stdin line: a user message with our `uuid` (echoed back by `--replay-user-messages`). With
 * `images`, the content is a list — the text block, then one Anthropic Messages API image block
 * per image (`{"type":"image","source":{"type":"base64","media_type","data"}}`); else the text.
 */
export function userMessage(text: string, uuid: string, sessionId: string | undefined, images: readonly ImageContent[] = []): object {
  const content = images.length
    ? [{ type: 'text', text }, ...images.map((i) => ({ type: 'image', source: { type: 'base64', media_type: i.mediaType, data: i.base64 } }))]
    : text;
  return { type: 'user', uuid, message: { role: 'user', content }, parent_tool_use_id: null, session_id: sessionId ?? '' };
}

/** A stdin control request (`initialize`, `interrupt`, `set_permission_mode`, …). */
export function controlRequest(requestId: string, request: { subtype: string; [key: string]: unknown }): object {
  return { type: 'control_request', request_id: requestId, request };
}

/** The answer to a `can_use_tool` request. */
export type PermissionAnswer =
  { behavior: 'allow'; updatedInput: Record<string, unknown>; updatedPermissions?: object[] } | { behavior: 'deny'; message: string };

/** A stdin control response answering the CLI's request `requestId`. */
export function controlResponse(requestId: string, response: PermissionAnswer): object {
  return { type: 'control_response', response: { subtype: 'success', request_id: requestId, response } };
}

/** A stdin control response refusing the CLI's request `requestId` (a subtype agentbridge does not serve). */
export function controlError(requestId: string, error: string): object {
  return { type: 'control_response', response: { subtype: 'error', request_id: requestId, error } };
}

const CanUseTool = z.object({
  type: z.literal('control_request'),
  request_id: z.string().min(1),
  request: z.object({
    subtype: z.literal('can_use_tool'),
    tool_name: z.string().min(1),
    input: z.record(z.string(), z.unknown()),
    tool_use_id: z.string().optional(),
  }),
});
const ControlResponse = z.object({
  type: z.literal('control_response'),
  response: z.object({ subtype: z.string(), request_id: z.string(), error: z.string().optional() }),
});
const CancelRequest = z.object({ type: z.literal('control_cancel_request'), request_id: z.string() });
const Replay = z.object({ type: z.literal('user'), isReplay: z.literal(true), uuid: z.string() });
const OtherControlRequest = z.object({ type: z.literal('control_request'), request_id: z.string().min(1) });

/** A stdout line the session itself handles (the rest goes to the event parser, ./events.ts). */
export type ControlLine =
  | { kind: 'can_use_tool'; requestId: string; toolName: string; input: Record<string, unknown>; toolUseId?: string }
  /** A `control_request` of a subtype we do not serve, or a malformed `can_use_tool` (answer it with an error). */
  | { kind: 'unsupported_request'; requestId: string }
  | { kind: 'control_response'; requestId: string; ok: boolean; error?: string }
  | { kind: 'cancel'; requestId: string }
  | { kind: 'replay'; uuid: string };

/** Classifies a parsed stdout JSON value; undefined for lines that are not control lines. */
export function parseControlLine(msg: unknown): ControlLine | undefined {
  const t = (msg as { type?: unknown } | null)?.type;
  if (t === 'control_request') {
    const c = CanUseTool.safeParse(msg);
    if (c.success) {
      const r = c.data.request;
      return {
        kind: 'can_use_tool',
        requestId: c.data.request_id,
        toolName: r.tool_name,
        input: r.input,
        ...(r.tool_use_id ? { toolUseId: r.tool_use_id } : {}),
      };
    }
    const o = OtherControlRequest.safeParse(msg);
    return o.success ? { kind: 'unsupported_request', requestId: o.data.request_id } : undefined;
  }
  if (t === 'control_response') {
    const r = ControlResponse.safeParse(msg);
    if (!r.success) return undefined;
    const { subtype, request_id, error } = r.data.response;
    return { kind: 'control_response', requestId: request_id, ok: subtype === 'success', ...(error ? { error } : {}) };
  }
  if (t === 'control_cancel_request') {
    const r = CancelRequest.safeParse(msg);
    return r.success ? { kind: 'cancel', requestId: r.data.request_id } : undefined;
  }
  if (t === 'user') {
    const r = Replay.safeParse(msg);
    return r.success ? { kind: 'replay', uuid: r.data.uuid } : undefined;
  }
  return undefined;
}

/** Programs whose first argument is a sub-command: their rule key is two words (`git commit`, `npm run`). */
const SUBCOMMAND_PROGRAMS = new Set([
  'git',
  'npm',
  'pnpm',
  'yarn',
  'bun',
  'npx',
  'cargo',
  'go',
  'docker',
  'kubectl',
  'gh',
  'pip',
  'pip3',
  'make',
  'deno',
  'uv',
]);
/** Shell syntax that chains, substitutes or redirects: such a command is only ever covered by an identical one. */
const SHELL_SYNTAX = /[;&|<>`\n\r]|\$\(/;

/**
 * The "always" rule key of a Bash command: its first word (`ls`, `rm`), or its first two words
 * when the program takes a sub-command (`git commit`, `npm run`, `docker compose`; a second word
 * starting with `-` is not a sub-command). A command with shell syntax that could hide another
 * command (`;`, `&`, `|`, `<`, `>`, backticks, `$(`, a line break) gets the whole command as its
 * key, so an "always" rule made for it covers only that exact command: a rule for `ls` must not
 * cover `ls; rm -rf ~`. An empty command gets `"<empty>"` (the core treats an empty key as
 * "every use of the tool").
 */
export function claudeRuleKey(command: string): string {
  const text = command.trim();
  if (!text) return '<empty>';
  if (SHELL_SYNTAX.test(text)) return text;
  const words = text.split(/\s+/);
  const first = words[0]!;
  const second = words[1];
  if (SUBCOMMAND_PROGRAMS.has(first) && second && !second.startsWith('-')) return `${first} ${second}`;
  return first;
}

const str = (v: unknown): string | undefined => (typeof v === 'string' ? v : undefined);

/** `text` as diff lines with `prefix` ("+" / "-"). */
function diffLines(text: string, prefix: string): string {
  return text
    .split('\n')
    .map((l) => `${prefix}${l}`)
    .join('\n');
}

/**
 * A unified-ish diff preview of a file tool's input (no line numbers: the tools carry none):
 * - `Write {file_path, content}`: `--- /dev/null`, `+++ <path>`, every line `+`;
 * - `Edit {file_path, old_string, new_string, replace_all?}`: `--- <path>`, `+++ <path>`, old lines `-`, new lines `+`;
 * - `MultiEdit {file_path, edits[]}`: one `@@` hunk per edit;
 * - `NotebookEdit {notebook_path, new_source, cell_id?, edit_mode?}`: the new cell source as `+` lines.
 */
export function fileToolDiff(tool: string, input: Record<string, unknown>): string {
  const file = str(input.file_path) ?? str(input.notebook_path) ?? '?';
  const hunk = (oldText: string, newText: string) => [diffLines(oldText, '-'), diffLines(newText, '+')].join('\n');
  switch (tool) {
    case 'Write':
      return `--- /dev/null\n+++ ${file}\n${diffLines(str(input.content) ?? '', '+')}`;
    case 'Edit':
      return `--- ${file}\n+++ ${file}${input.replace_all === true ? ' (every occurrence)' : ''}\n${hunk(str(input.old_string) ?? '', str(input.new_string) ?? '')}`;
    case 'MultiEdit': {
      const edits = Array.isArray(input.edits) ? (input.edits as Array<Record<string, unknown>>) : [];
      const hunks = edits.map((e) => `@@\n${hunk(str(e?.old_string) ?? '', str(e?.new_string) ?? '')}`);
      return `--- ${file}\n+++ ${file}\n${hunks.join('\n')}`;
    }
    default: {
      const where = [str(input.cell_id) && `cell ${str(input.cell_id)}`, str(input.edit_mode)].filter(Boolean).join(', ');
      return `--- ${file}\n+++ ${file}${where ? ` (${where})` : ''}\n${diffLines(str(input.new_source) ?? '', '+')}`;
    }
  }
}

const FILE_TOOLS = new Set(['Write', 'Edit', 'MultiEdit', 'NotebookEdit']);

const AskInput = z.object({
  questions: z
    .array(
      z.object({
        question: z.string().min(1),
        header: z.string().optional(),
        options: z.array(z.object({ label: z.string().min(1), description: z.string().optional() })).default([]),
        multiSelect: z.boolean().optional(),
      }),
    )
    .min(1),
});
const PlanInput = z.object({ plan: z.string() });

/**
 * What a `can_use_tool` request asks people (verified with claude 2.1.197):
 * - `AskUserQuestion {questions:[{question, header, options:[{label, description}], multiSelect}]}`
 *   → `question` (ids are the question texts: the CLI keys answers by question text). It asks
 *   in every permission mode, `bypassPermissions` included.
 * - `ExitPlanMode {plan}` → `plan` (asked in `plan` mode).
 * - `Bash {command, description}` → approval, preview `command`, rule key {@link claudeRuleKey},
 *   the description as the reason.
 * - `Write`/`Edit`/`MultiEdit`/`NotebookEdit` → approval, preview {@link fileToolDiff}, rule key the file path.
 * - anything else (MCP tools, WebFetch, …) → approval, preview the input as JSON, no rule key.
 * A malformed `AskUserQuestion`/`ExitPlanMode` input is shown as an approval of the raw input.
 */
export function toInteraction(tool: string, input: Record<string, unknown>): InteractionRequest {
  if (tool === 'AskUserQuestion') {
    const q = AskInput.safeParse(input);
    if (q.success) {
      const questions: Question[] = q.data.questions.map((x) => ({
        id: x.question,
        question: x.question,
        ...(x.header ? { header: x.header } : {}),
        options: x.options.map((o) => ({ label: o.label, ...(o.description ? { description: o.description } : {}) })),
        ...(x.multiSelect !== undefined ? { multiSelect: x.multiSelect } : {}),
      }));
      return { kind: 'question', questions };
    }
  }
  if (tool === 'ExitPlanMode') {
    const p = PlanInput.safeParse(input);
    if (p.success) return { kind: 'plan', plan: p.data.plan };
  }
  if (tool === 'Bash') {
    const command = str(input.command) ?? '';
    const reason = str(input.description);
    return { kind: 'approval', tool, preview: { format: 'command', text: command }, ruleKey: claudeRuleKey(command), ...(reason ? { reason } : {}) };
  }
  if (FILE_TOOLS.has(tool)) {
    const file = str(input.file_path) ?? str(input.notebook_path);
    return { kind: 'approval', tool, preview: { format: 'diff', text: fileToolDiff(tool, input) }, ...(file ? { ruleKey: file } : {}) };
  }
  return { kind: 'approval', tool, preview: { format: 'json', text: JSON.stringify(input, null, 2) } };
}

/**
 * The permission mode a plan approval switches the live process to: `acceptEdits` (agentbridge's
 * `edit`), sent as `updatedPermissions: [{type:"setMode",mode:"acceptEdits",destination:"session"}]`
 * with the allow — atomic with it. Verified with claude 2.1.197: without it, allowing
 * `ExitPlanMode` switches the process to `default` (every edit then asks); with it a `system`
 * `status` line reports `permissionMode:"acceptEdits"` and a following Write runs without asking.
 * (A separate `control_request {subtype:"set_permission_mode", mode}` also works.)
 */
export const PLAN_APPROVED_MODE = 'acceptEdits';

/**
 * The answer to a `can_use_tool` request of `tool` with `input`, for `decision` (see
 * {@link toInteraction} for the request side). Verified with claude 2.1.197:
 * - `allow` → allow with `updatedInput` = the input unchanged ("always" is the core's rule; the
 *   CLI's own `permission_suggestions` are not applied).
 * - `answer` (AskUserQuestion) → allow with `updatedInput: {...input, answers: {<question text>: <answer>}}`;
 *   the model then gets the tool result `Your questions have been answered: "Q"="A". …` (free text works too).
 * - `approve-plan` (ExitPlanMode) → allow, switching the process to {@link PLAN_APPROVED_MODE}.
 * - `deny` / `cancel` → deny with the message (the model gets it as an `is_error` tool result;
 *   for a plan, that is the "keep planning" feedback).
 * A decision that does not fit the request (e.g. `answer` to a Bash approval) is a deny.
 */
export function permissionAnswer(tool: string, input: Record<string, unknown>, decision: InteractionDecision): PermissionAnswer {
  switch (decision.kind) {
    case 'deny':
    case 'cancel':
      return { behavior: 'deny', message: decision.message || 'Denied.' };
    case 'answer':
      if (tool !== 'AskUserQuestion') break;
      return { behavior: 'allow', updatedInput: { ...input, answers: { ...decision.answers } } };
    case 'approve-plan':
      if (tool !== 'ExitPlanMode') break;
      return { behavior: 'allow', updatedInput: input, updatedPermissions: [{ type: 'setMode', mode: PLAN_APPROVED_MODE, destination: 'session' }] };
    case 'allow':
      if (tool === 'AskUserQuestion') return { behavior: 'deny', message: 'The question was not answered.' };
      if (tool === 'ExitPlanMode')
        return { behavior: 'allow', updatedInput: input, updatedPermissions: [{ type: 'setMode', mode: PLAN_APPROVED_MODE, destination: 'session' }] };
      return { behavior: 'allow', updatedInput: input };
  }
  return { behavior: 'deny', message: `Not allowed (the decision "${decision.kind}" does not apply to ${tool}).` };
}
