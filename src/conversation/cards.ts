/**
 * The texts and buttons of interaction cards (an approval, a question, a plan) and of their
 * final states. Pure: Markdown in, Markdown out; the outbound path renders it for the platform
 * and neutralises mentions (docs/ARCHITECTURE.md §3, invariant 6). Agent-supplied text (a
 * command, a diff, a plan, a question) is stripped of control characters, truncated, and shown
 * in a code block it cannot break out of.
 */
import { actionId, MAX_ACTION_LABEL_CHARS, type CardAction, type InteractionDecision, type InteractionRequest } from '../core/interactions.js';
import { stripControlChars } from '../platforms/control-chars.js';
import type { InteractionRow, InteractionState, Person } from '../store/types.js';

/** Longest preview shown on a card, characters (fits Slack's 3,000-character section text and Discord's 2,000 message limit with the frame). */
export const PREVIEW_MAX_CHARS = 1200;
/** Longest plan shown on a card, characters (the full plan is in the agent's transcript). */
export const PLAN_MAX_CHARS = 1500;

/** `text` cut to `max` characters with a note of how much was left out. */
export function truncate(text: string, max: number): string {
  if (text.length <= max) return text;
  return `${text.slice(0, max)}\n… (${text.length - max} more characters)`;
}

/**
 * `text` as a fenced code block that nothing inside can close: control characters stripped,
 * truncated to `max`, and the fence longer than any backtick run in the text.
 */
export function codeBlock(text: string, lang = '', max = PREVIEW_MAX_CHARS): string {
  const body = truncate(stripControlChars(text), max);
  const longest = Math.max(0, ...[...body.matchAll(/`+/g)].map((m) => m[0].length));
  const fence = '`'.repeat(Math.max(3, longest + 1));
  return `${fence}${lang}\n${body}\n${fence}`;
}

/** Inline text from the agent: one line, control characters stripped, at most `max` characters, backticks removed. */
export function inline(text: string, max = 120): string {
  const one = stripControlChars(text).replace(/\s+/g, ' ').replace(/`/g, "'").trim();
  return one.length > max ? `${one.slice(0, max - 1)}…` : one;
}

/** Minutes, rounded up, for "times out in N min". */
function minutes(ms: number): number {
  return Math.max(1, Math.ceil(ms / 60_000));
}

/** "HH:MM UTC" of `ms`. */
export function clock(ms: number): string {
  return `${new Date(ms).toISOString().slice(11, 16)} UTC`;
}

/** What is being asked, as Markdown (the body shared by the open card and its final state). */
export function requestBody(request: InteractionRequest, agentLabel: string, previewMax = PREVIEW_MAX_CHARS): string {
  switch (request.kind) {
    case 'approval': {
      const what =
        request.preview.format === 'command' ? 'run a command' : request.preview.format === 'diff' ? 'change a file' : `use ${inline(request.tool, 60)}`;
      const lang = request.preview.format === 'command' ? 'sh' : request.preview.format === 'diff' ? 'diff' : request.preview.format === 'json' ? 'json' : '';
      const reason = request.reason ? `\n_Why:_ ${inline(request.reason, 300)}` : '';
      return `🔐 **${agentLabel} wants to ${what}** (\`${inline(request.tool, 60)}\`)${reason}\n${codeBlock(request.preview.text, lang, previewMax)}`;
    }
    case 'question': {
      const qs = request.questions.map((q) => {
        const opts = q.options.map((o) => `• ${inline(o.label, 80)}${o.description ? ` — ${inline(o.description, 200)}` : ''}`).join('\n');
        return `**${inline(q.header ? `${q.header}: ${q.question}` : q.question, 300)}**${opts ? `\n${opts}` : ''}`;
      });
      return `❓ **${agentLabel} asks:**\n${qs.join('\n\n')}`;
    }
    case 'plan':
      return `📋 **${agentLabel} has a plan and asks to go ahead:**\n${codeBlock(request.plan, 'markdown', Math.round(previewMax * (PLAN_MAX_CHARS / PREVIEW_MAX_CHARS)))}`;
  }
}

/** Who may decide, for people: "Alice (who started this turn) or an admin". */
export function decidersText(requester: Person | null, approvers: { requester: boolean; admins: boolean; users: string[] }): string {
  const who: string[] = [];
  if (approvers.requester && requester) who.push(`${inline(requester.name, 60)} (who started this turn)`);
  if (approvers.admins) who.push('an admin');
  if (approvers.users.length) who.push('a listed approver');
  return who.length ? who.join(' or ') : 'nobody (AGENTBRIDGE_APPROVERS names no one for this turn)';
}

/** The open card: the request, who may decide, what to do, and when it times out. */
export function openCardText(
  row: Pick<InteractionRow, 'request' | 'requester' | 'expiresAt' | 'createdAt'>,
  agentLabel: string,
  deciders: string,
  previewMax = PREVIEW_MAX_CHARS,
): string {
  const how =
    row.request.kind === 'approval'
      ? 'Approve it, approve it always for this conversation, or deny it.'
      : row.request.kind === 'question'
        ? 'Pick an answer, or reply in this thread with your own.'
        : 'Approve the plan (the agent may then edit files), or keep planning and reply in this thread with what to change.';
  const mins = minutes(row.expiresAt - row.createdAt);
  return `${requestBody(row.request, agentLabel, previewMax)}\n${how} Who can decide: ${deciders}. Without a decision within ${mins} min it is denied.`;
}

/** A plan kept in planning: waiting for the feedback message. */
export function awaitingFeedbackText(row: Pick<InteractionRow, 'request'>, agentLabel: string, by: Person, previewMax = PREVIEW_MAX_CHARS): string {
  return `${requestBody(row.request, agentLabel, previewMax)}\n✏️ ${inline(by.name, 60)} chose to keep planning: reply in this thread with what to change.`;
}

/** The buttons of an open card. */
export function cardActions(id: string, request: InteractionRequest): CardAction[] {
  switch (request.kind) {
    case 'approval':
      return [
        { id: actionId(id, 'approve'), label: 'Approve', style: 'primary' },
        { id: actionId(id, 'always'), label: 'Always in this conversation' },
        { id: actionId(id, 'deny'), label: 'Deny', style: 'danger' },
      ];
    case 'question': {
      // Buttons for a single question's options (up to 20); several questions are answered in a reply.
      if (request.questions.length !== 1) return [];
      return request.questions[0]!.options.slice(0, 20).map((o, i) => ({
        id: actionId(id, `opt-${i}`),
        label: inline(o.label, MAX_ACTION_LABEL_CHARS) || `Option ${i + 1}`,
      }));
    }
    case 'plan':
      return [
        { id: actionId(id, 'approve-plan'), label: 'Approve plan', style: 'primary' },
        { id: actionId(id, 'keep-planning'), label: 'Keep planning' },
      ];
  }
}

/**
 * The decision a button stands for; undefined when `choice` is not one of the request's buttons.
 * `keep-planning` gives undefined here: it waits for the feedback message instead.
 */
export function decisionFor(request: InteractionRequest, choice: string, by: Person): InteractionDecision | undefined {
  switch (request.kind) {
    case 'approval':
      if (choice === 'approve') return { kind: 'allow' };
      if (choice === 'always') return { kind: 'allow', always: true };
      if (choice === 'deny') return { kind: 'deny', message: `${by.name} denied this in the chat.` };
      return undefined;
    case 'question': {
      const m = /^opt-(\d+)$/.exec(choice);
      const q = request.questions.length === 1 ? request.questions[0] : undefined;
      const opt = m && q ? q.options[Number(m[1])] : undefined;
      return q && opt ? { kind: 'answer', answers: { [q.id]: opt.label } } : undefined;
    }
    case 'plan':
      return choice === 'approve-plan' ? { kind: 'approve-plan' } : undefined;
  }
}

/** The decision a free-text reply stands for (a question's answer, or a plan's feedback). */
export function textDecision(request: InteractionRequest, text: string): InteractionDecision | undefined {
  if (request.kind === 'question') return { kind: 'answer', answers: Object.fromEntries(request.questions.map((q) => [q.id, text])) };
  if (request.kind === 'plan') return { kind: 'deny', message: `Keep planning. Feedback: ${text}` };
  return undefined;
}

/** One line saying how it ended: "✅ Approved by Alice at 14:03 UTC." */
export function outcomeLine(
  state: Exclude<InteractionState, 'pending'>,
  decision: InteractionDecision | null,
  by: Person | null,
  at: number,
  timeoutMs: number,
): string {
  const who = by ? ` by ${inline(by.name, 60)}` : '';
  switch (state) {
    case 'decided':
      switch (decision?.kind) {
        case 'allow':
          return decision.always
            ? `✅ Approved${who} at ${clock(at)}, also for later matching requests in this conversation (\`reset\` clears that).`
            : `✅ Approved${who} at ${clock(at)}.`;
        case 'deny':
          return `⛔ ${decision.message.startsWith('Keep planning') ? 'Kept in planning' : 'Denied'}${who} at ${clock(at)}.`;
        case 'answer':
          return `💬 Answered${who} at ${clock(at)}: ${Object.values(decision.answers)
            .map((a) => inline(a, 200))
            .join('; ')}`;
        case 'approve-plan':
          return `✅ Plan approved${who} at ${clock(at)}; the conversation now runs in \`edit\` mode.`;
        default:
          return `Decided${who} at ${clock(at)}.`;
      }
    case 'timed_out':
      return `⌛ No decision within ${minutes(timeoutMs)} min, so it was denied (${clock(at)}). Ask again in the thread if it is still needed.`;
    case 'expired':
      return `♻️ Expired at ${clock(at)}: agentbridge restarted while this was open. The turn runs again and may ask again.`;
    case 'cancelled':
      return `✖️ Cancelled at ${clock(at)}: the turn ended (stopped, timed out or failed) before a decision.`;
  }
}

/** The card's final text: the request and how it ended. */
export function finalCardText(row: Pick<InteractionRow, 'request'>, agentLabel: string, line: string, previewMax = PREVIEW_MAX_CHARS): string {
  return `${requestBody(row.request, agentLabel, previewMax)}\n${line}`;
}

/** What the clicker is told when it was decided before. */
export function alreadyDecidedText(row: InteractionRow): string {
  const at = row.decidedAt ? clock(row.decidedAt) : 'earlier';
  if (row.state === 'decided') return `Already decided${row.decidedBy ? ` by ${inline(row.decidedBy.name, 60)}` : ''} at ${at}.`;
  if (row.state === 'timed_out') return `This timed out at ${at} and was denied.`;
  if (row.state === 'expired') return `This expired at ${at} when agentbridge restarted.`;
  return `This was cancelled at ${at}: the turn ended.`;
}
