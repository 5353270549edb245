/**
 * Interactions: what a running agent asks the people in a conversation — approve a tool call,
 * answer a question, approve a plan — and what they decide. Plain data shared by every layer:
 * runners produce {@link InteractionRequest}s and receive {@link InteractionDecision}s; the
 * conversation layer turns a request into a card (a posted message with {@link CardAction}
 * buttons) and platform adapters turn button clicks into {@link ActionRequest}s.
 *
 * Pure functions only (action ids).
 */
import type { PlatformName } from './platforms.js';

/** A button on a posted message. */
export interface CardAction {
  /**
   * The action id carried back by the platform when clicked ({@link actionId}): at most
   * {@link MAX_ACTION_ID_CHARS} characters of `[A-Za-z0-9:_-]` (Discord `custom_id` ≤ 100
   * characters, Slack `action_id` ≤ 255: Discord API "Message Components", Slack Block Kit
   * "Button element").
   */
  id: string;
  /** Button text, at most {@link MAX_ACTION_LABEL_CHARS} characters (Discord label ≤ 80, Slack button text ≤ 75). */
  label: string;
  /** `primary` (green/blue), `danger` (red) or plain. */
  style?: 'primary' | 'danger';
}

/** Longest {@link CardAction.id}, characters. */
export const MAX_ACTION_ID_CHARS = 100;
/** Longest {@link CardAction.label}, characters (Slack's plain_text button limit is 75). */
export const MAX_ACTION_LABEL_CHARS = 75;

/** An option of a question the agent asks. */
export interface QuestionOption {
  label: string;
  description?: string;
}

/** One question (Claude `AskUserQuestion` has 1–4; Codex `requestUserInput` has one or more). */
export interface Question {
  /** Stable key of the question in the answer map (Claude: the question text; Codex: its id). */
  id: string;
  /** Short header, when the agent gives one. */
  header?: string;
  question: string;
  options: QuestionOption[];
  /** More than one option may be chosen (answered with labels joined by ", "). */
  multiSelect?: boolean;
}

/**
 * What the agent asks, as the runner saw it.
 * - `approval`: a tool call that needs permission. `tool` is the tool's name as the agent calls it
 *   (Claude `Bash`, `Write`, `Edit`, an MCP tool; Codex `command`/`fileChange`/`permissions`;
 *   Gemini the ACP tool call's kind or title). `preview` is the raw text to show (the command, a
 *   diff, or the input as JSON) — the card truncates and neutralises it. `ruleKey` is what an
 *   "always" rule matches on (the command's first word(s), or the path), undefined when an
 *   always-rule cannot be scoped.
 * - `question`: questions with options; free text is allowed as an answer.
 * - `plan`: a plan to approve before the agent leaves read-only (Claude `ExitPlanMode`).
 */
export type InteractionRequest =
  | { kind: 'approval'; tool: string; preview: { format: 'command' | 'diff' | 'json' | 'text'; text: string }; ruleKey?: string; reason?: string }
  | { kind: 'question'; questions: Question[] }
  | { kind: 'plan'; plan: string };

/**
 * A decision on an {@link InteractionRequest}.
 * - `allow` (approval): run the tool; `always` = also for later matching requests of the conversation.
 * - `deny` (approval, or a plan kept in planning): do not run it; `message` goes to the agent.
 * - `answer` (question): answers by {@link Question.id} (an option's label, or free text).
 * - `approve-plan` (plan): leave plan mode (agentbridge switches the conversation to `edit`).
 * - `cancel`: the request is void (stop, shutdown, timeout handled as deny): the runner declines
 *   and, where the protocol has it, cancels.
 */
export type InteractionDecision =
  | { kind: 'allow'; always?: boolean }
  | { kind: 'deny'; message: string }
  | { kind: 'answer'; answers: Record<string, string> }
  | { kind: 'approve-plan' }
  | { kind: 'cancel'; message: string };

/**
 * A button click from a platform, for the core (`AdapterContext.onAction`). Identity comes from
 * the platform (a verified interaction payload or the local chat login), never from the body.
 */
export interface ActionRequest {
  platform: PlatformName;
  /** Platform user id (not qualified), e.g. Slack `U123`, Discord snowflake, local user name. */
  userId: string;
  userName: string;
  channel: string;
  thread?: string;
  /** The posted message the button is on. */
  messageRef: string;
  /** {@link CardAction.id} of the clicked button. */
  actionId: string;
}

/**
 * The core's answer to a click.
 * - `ok`: decided by this click (the card is edited to its final state by the core).
 * - `decided`: someone decided before, or the request expired/timed out; `text` says who and when.
 * - `forbidden`: this user may not decide; `text` says who may.
 * - `unknown`: not an agentbridge action, or the request is gone.
 * `text` is shown to the clicker only (ephemeral) when not `ok`; plain text, no mentions.
 */
export interface ActionReply {
  status: 'ok' | 'decided' | 'forbidden' | 'unknown';
  text: string;
}

/** Action id prefix of agentbridge's buttons. */
const PREFIX = 'ab';
const ID = /^[A-Za-z0-9_-]{1,40}$/;
const CHOICE = /^[a-z0-9-]{1,30}$/;

/**
 * The action id of a button: `ab:<interactionId>:<choice>`.
 * @throws Error when `interactionId` or `choice` has other characters or is too long.
 */
export function actionId(interactionId: string, choice: string): string {
  if (!ID.test(interactionId)) throw new Error(`interaction id "${interactionId}" must be 1–40 characters of [A-Za-z0-9_-]`);
  if (!CHOICE.test(choice)) throw new Error(`choice "${choice}" must be 1–30 characters of [a-z0-9-]`);
  return `${PREFIX}:${interactionId}:${choice}`;
}

/** The parts of an action id made by {@link actionId}; undefined for anything else. */
export function parseActionId(id: string): { interactionId: string; choice: string } | undefined {
  const parts = id.split(':');
  if (parts.length !== 3 || parts[0] !== PREFIX || !ID.test(parts[1]!) || !CHOICE.test(parts[2]!)) return undefined;
  return { interactionId: parts[1]!, choice: parts[2]! };
}
