/**
 * Re-runs of interrupted turns (a crash, SIGKILL or shutdown while the agent worked): the agent
 * CLI had already written the turn's prompt (and maybe part of its answer and tool calls) into
 * its own session before agentbridge committed the turn. Resuming that session and sending the
 * prompt again would give the agent the prompt twice and may repeat its side effects. So a
 * re-run resumes the agent at the last point agentbridge committed, and tells the agent that the
 * previous attempt may have partly run.
 *
 * - Detection ({@link isRerun}): a batch is a re-run when one of its inbox rows was started
 *   before (`attempts` > 0 before this turn marks it running).
 * - Where to resume ({@link planRerun}), by the runner's `resumeAt` capability (src/runners/define.ts):
 *   - Claude Code: `--resume <id> --resume-session-at <uuid of the last committed assistant
 *     message>` (verified with 2.1.197: the session up to that message only, same session id).
 *   - Codex CLI 0.169.0 and Gemini CLI 0.61.0 have no way to resume a session at an earlier
 *     message in headless mode (`codex fork` is interactive only; gemini's `--resume` takes the
 *     whole session), so the re-run starts a new agent session with the committed transcript
 *     as context (`continuationPrompt`, src/conversation/seeding.ts).
 *   - No committed agent session for this agent yet (the cut turn was the first): a new agent
 *     session with the plain prompt.
 */
import type { AgentName } from '../core/agents.js';
import { capabilitiesOf } from '../runners/registry.js';
import type { ConversationRow, InboxRow } from '../store/types.js';

/** Prepended (with a blank line) to the prompt of a re-run turn. */
export const RERUN_NOTE =
  '[agentbridge: your previous attempt at the following message was interrupted (agentbridge stopped or restarted) and may have partly run. Check the current state (files, commands already run, messages already posted) before repeating anything with side effects.]';

/**
 * True when the batch re-runs an interrupted turn: one of its inbox rows (as read BEFORE this
 * turn's `markRunning`) was already started once (`attempts` > 0). Unknown rows (undefined) count
 * as new.
 */
export function isRerun(rowsBefore: ReadonlyArray<Pick<InboxRow, 'attempts'> | undefined>): boolean {
  return rowsBefore.some((r) => (r?.attempts ?? 0) > 0);
}

/** How a re-run turn starts its agent. */
export type RerunPlan =
  /** Resume `sessionId` only up to the committed assistant message `at` (Claude). */
  | { mode: 'resume-at'; sessionId: string; at: string }
  /** A new agent session, given the committed transcript as context. */
  | { mode: 'transcript' }
  /** A new agent session with the plain prompt (nothing committed with this agent yet). */
  | { mode: 'fresh' };

/**
 * Where a re-run of `conv`'s turn with `agent` starts (see the module doc). Pure.
 * A stored session of another agent counts as none (a session id is only valid for its agent).
 */
export function planRerun(conv: Pick<ConversationRow, 'agentSessionId' | 'agentSessionAgent' | 'agentSessionAt'>, agent: AgentName): RerunPlan {
  if (!conv.agentSessionId || conv.agentSessionAgent !== agent) return { mode: 'fresh' };
  if (capabilitiesOf(agent).resumeAt && conv.agentSessionAt) return { mode: 'resume-at', sessionId: conv.agentSessionId, at: conv.agentSessionAt };
  return { mode: 'transcript' };
}

/** The prompt of a re-run: {@link RERUN_NOTE}, a blank line, then `prompt`. */
export function rerunPrompt(prompt: string): string {
  return `${RERUN_NOTE}\n\n${prompt}`;
}

/**
 * The committed point to store with a turn's result: the run's own (`resumeAt`), else — when the
 * agent session did not change — the point stored before (a turn without an assistant message
 * adds none), else null.
 */
export function committedPoint(
  conv: Pick<ConversationRow, 'agentSessionId' | 'agentSessionAgent' | 'agentSessionAt'>,
  agent: AgentName,
  result: { sessionId?: string; resumeAt?: string },
): string | null {
  if (result.resumeAt) return result.resumeAt;
  if (result.sessionId && conv.agentSessionAgent === agent && conv.agentSessionId === result.sessionId) return conv.agentSessionAt;
  return null;
}
