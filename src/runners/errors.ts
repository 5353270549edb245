/**
 * Turning agent failures into {@link RunError}s and into text a person can act on.
 */
import type { AgentName } from '../core/agents.js';
import type { RunError, RunErrorKind } from './types.js';

const AGENT_LABEL: Record<AgentName, string> = {
  claude: 'Claude Code',
  codex: 'Codex CLI',
  gemini: 'Gemini CLI',
};

/** Human-readable agent name ("Claude Code", "Codex CLI", "Gemini CLI"). */
export function agentLabel(agent: AgentName): string {
  return AGENT_LABEL[agent];
}

/**
 * Classifies a provider/CLI error text (any casing) into an error kind.
 * Rules: authentication words/401/403 → not_authenticated; usage/rate limit, quota, 429,
 * "credit balance" → usage_limit; anything else → api_error.
 */
export function classifyErrorText(text: string): RunErrorKind {
  const t = text.toLowerCase();
  if (/\b(401|403)\b|unauthori[sz]ed|authenticat|invalid (x-)?api[ -]?key|api key not valid|not logged in|please run \/login|login required|permission_error/.test(t)) {
    return 'not_authenticated';
  }
  if (/\b429\b|rate[ _-]?limit|usage limit|quota|resource_exhausted|too many requests|credit balance|insufficient_quota|limit reached/.test(t)) {
    return 'usage_limit';
  }
  return 'api_error';
}

/** Builds a RunError, trimming the message to one readable paragraph (≤ 500 characters). */
export function runError(kind: RunErrorKind, message: string): RunError {
  const oneLine = message.replace(/\s+/g, ' ').trim();
  return { kind, message: oneLine.length > 500 ? `${oneLine.slice(0, 497)}…` : oneLine };
}

/**
 * The text shown to the user for a failed turn: what happened and what to do next.
 * `timeoutS` is used for the timeout wording.
 */
export function describeRunError(agent: AgentName, err: RunError, timeoutS?: number): string {
  const name = agentLabel(agent);
  const detail = err.message ? ` (${err.message})` : '';
  switch (err.kind) {
    case 'not_installed':
      return `⚠️ ${name} is not installed on the agentbridge host${detail}. An admin can install it or pick another agent; \`agentbridge doctor\` shows what is available.`;
    case 'not_authenticated':
      return `⚠️ ${name} is not logged in${detail}. An admin needs to log the CLI in (or set its API key) on the agentbridge host, then send your message again.`;
    case 'usage_limit':
      return `⚠️ ${name} hit a usage or rate limit${detail}. Wait a little and send your message again.`;
    case 'api_error':
      return `⚠️ ${name} reported an error${detail}. Send your message again; if it keeps failing, an admin can check the logs.`;
    case 'timeout':
      return `⏱️ The turn took longer than ${timeoutS ? `${timeoutS} s` : 'the time limit'} and was stopped. Ask for a smaller step, or an admin can raise AGENTBRIDGE_TURN_TIMEOUT_S.`;
    case 'stopped':
      return `⏹️ The turn was stopped. Send a new message to continue.`;
    case 'crashed':
      return `⚠️ ${name} ended unexpectedly${detail}. Send your message again; if it keeps failing, an admin can check the logs.`;
  }
}

/**
 * True when a turn failed because the agent's stored session no longer exists (its files were
 * lost, e.g. a container recreated without the agent's home, or the working directory changed).
 * Messages verified on these machines: claude 2.1.197 "No conversation found with session ID: …"
 * (and, resuming at a message the session file does not hold, `--resume-session-at`:
 * "No message found with message.uuid of: …");
 * gemini 0.61.0 (exit 42) "Error resuming session: No previous sessions found for this project.";
 * codex 0.169.0 "thread/resume failed: no rollout found for thread id …".
 */
export function isMissingSessionError(err: RunError | undefined): boolean {
  if (!err || err.kind === 'stopped' || err.kind === 'timeout') return false;
  return /no conversation found with session id|no message found with message\.uuid|no previous sessions found|error resuming session|no rollout found for thread|thread\/resume failed|session .{0,40}not found/i.test(err.message);
}
