/**
 * Runs the agent once for a turn (`executeTurn` in ./turn.ts): in the conversation's live agent
 * session when the runner has live sessions and the resume plan allows it ({@link canRunLive}),
 * else as a one-shot process — with the same working directory, resume plan, model, permission
 * mode (the conversation's own, else the default), environment and system prompt either way.
 * In a live session the agent's approvals, questions and plans go to ./interactions.ts (the
 * progress message shows the wait), and messages can be steered into the running turn
 * (`TurnAttempt.steer`, docs/ARCHITECTURE.md §1.5).
 */
import type { AgentName, PermissionMode } from '../core/agents.js';
import type { InteractionDecision, InteractionRequest } from '../core/interactions.js';
import type { InboundMessage, ReplyTarget } from '../core/messages.js';
import { runError } from '../runners/errors.js';
import type { AgentSession, PromptImage } from '../runners/session/types.js';
import type { Runner, RunResult } from '../runners/types.js';
import type { ConversationRow } from '../store/types.js';
import type { Interactions } from './interactions.js';
import type { LiveSessions } from './live-sessions.js';

/**
 * Gives a turn access to agentbridge's tools (the MCP server): a bearer token scoped to the
 * conversation, valid until `revoke()` (when a one-shot turn ends, or a live session closes) or `ttlMs`.
 */
export interface TurnToolAccess {
  grant(turn: { conversationId: string; replyTarget: ReplyTarget; ttlMs: number }): { url: string; token: string; revoke(): void };
}

/** What running the agent needs of the turn's dependencies (a `TurnDeps` fits). */
export interface AgentRunDeps {
  defaults: { workdir: string; permissionMode: PermissionMode; turnTimeoutMs: number };
  /** Environment for agent processes. */
  env: NodeJS.ProcessEnv;
  tools?: TurnToolAccess;
  sessions?: LiveSessions;
  interactions?: Interactions;
}

/** Appended to the agent's system prompt (where the CLI supports it). */
export const SYSTEM_PROMPT =
  'You are talking with a team through a chat platform via agentbridge. When several people write, each message is prefixed with "[Name]:". Answer in Markdown; keep answers focused. To give them a file from your working directory (a plot, a report, a patch), call the agentbridge send_file tool with its path; the chat shows it once, and your answer can refer to it. Files people attach to a message are saved in your working directory under .agentbridge/files/ and listed after the message as "Attached:" with their paths; read them from there.';

/** How long a live session's tool grant lasts, ms: its maximum age plus a margin (live-sessions.ts replaces older sessions). */
const SESSION_GRANT_MS = 13 * 3600_000;

/** Which agent session a run resumes: `fork` into a new one (Claude), or only up to message `at` (Claude). */
export interface Resume {
  id: string;
  fork: boolean;
  at?: string;
}

/** What a turn run in a live session needs besides the run itself. */
export interface LiveTurn {
  requester: { id: string; name: string } | null;
  target: ReplyTarget;
  /** Records a message the session took into the running turn (see `TurnAttempt.steer` in ./turn.ts). */
  onSteer(session: AgentSession, message: InboundMessage): Promise<boolean>;
  /** The turn's attempt: its `steer` is set while a steerable live session runs. */
  attempt: { steer?: (message: InboundMessage) => Promise<boolean> };
}

/** What an interaction waits for, for the progress message. */
function waitingFor(request: InteractionRequest): string {
  return request.kind === 'approval' ? `approval of ${request.tool}` : request.kind === 'question' ? 'an answer' : 'plan approval';
}

/** The text of a turn stopped by AGENTBRIDGE_BUSY_MODE=interrupt. */
export const SUPERSEDED_NOTICE = 'stopped to take the newer message';

/**
 * Runs the agent once: in the conversation's live session when the runner has them and the
 * resume plan allows it (see {@link canRunLive}), else as a one-shot process.
 */
export async function runAgent(
  deps: AgentRunDeps,
  runner: Runner | undefined,
  conv: ConversationRow,
  turn: {
    agent: AgentName;
    model?: string;
    prompt: string;
    resume?: Resume;
    /** Images given with the prompt where the agent's live session takes image content (Claude); a one-shot run names them by path only. */
    images?: PromptImage[];
    /** Awaited just before the prompt goes to the agent — after a live session is acquired (opening one overlaps it), before a one-shot spawn. */
    beforePrompt?: () => Promise<void>;
  },
  signal: AbortSignal,
  onEvent: Parameters<Runner['run']>[1],
  oneShotAccess: () => { url: string; token: string; revoke(): void } | undefined,
  live: LiveTurn,
): Promise<RunResult> {
  // A conversation may name an agent no runner has any more (e.g. one removed from the registry).
  if (!runner) return { ok: false, text: '', exitCode: null, error: runError('not_installed', `agentbridge has no runner named "${turn.agent}"`) };
  // What a live session and a one-shot run are started with alike.
  const common = {
    cwd: conv.workdir ?? deps.defaults.workdir,
    resumeSessionId: turn.resume?.id,
    forkSession: turn.resume?.fork,
    resumeAt: turn.resume?.at,
    model: turn.model,
    permissionMode: conv.permissionMode ?? deps.defaults.permissionMode,
    env: deps.env,
    systemPrompt: SYSTEM_PROMPT,
  };
  if (deps.sessions && canRunLive(runner, deps.sessions, conv.id, turn.resume)) {
    const grant = () => {
      const g = deps.tools?.grant({ conversationId: conv.id, replyTarget: live.target, ttlMs: SESSION_GRANT_MS });
      return g && { mcp: { url: g.url, token: g.token }, revoke: g.revoke };
    };
    const session = await deps.sessions.acquire(
      conv.id,
      runner,
      {
        agent: turn.agent,
        fresh: !!turn.resume?.fork,
        options: common,
      },
      grant,
    );
    let waits = 0;
    try {
      await turn.beforePrompt?.();
      if (runner.sessionCapabilities?.steer) live.attempt.steer = (m) => live.onSteer(session, m);
      return await session.send(
        turn.prompt,
        {
          onEvent,
          onInteraction: async (request): Promise<InteractionDecision> => {
            const interactions = deps.interactions;
            if (!interactions) return { kind: 'deny', message: 'agentbridge cannot ask anyone here, so it denied this.' };
            const ctx = { conversationId: conv.id, replyTarget: live.target, agent: turn.agent, requester: live.requester, signal };
            if (await interactions.covered(conv.id, request)) return interactions.ask(ctx, request);
            // The progress message shows that the turn waits for people, until they decided.
            const id = `agentbridge-wait-${++waits}`;
            onEvent({ type: 'tool_start', id, name: 'waiting', summary: `${waitingFor(request)}: decide on the card below` });
            const decision = await interactions.ask(ctx, request);
            onEvent({ type: 'tool_end', id, name: 'waiting', ok: decision.kind !== 'deny' && decision.kind !== 'cancel' });
            return decision;
          },
        },
        { signal, timeoutMs: deps.defaults.turnTimeoutMs, images: turn.images },
      );
    } finally {
      live.attempt.steer = undefined;
      deps.sessions.release(conv.id, session);
    }
  }
  await turn.beforePrompt?.();
  const access = oneShotAccess();
  try {
    return await runner.run(
      { ...common, prompt: turn.prompt, signal, timeoutMs: deps.defaults.turnTimeoutMs, mcp: access ? { url: access.url, token: access.token } : undefined },
      onEvent,
    );
  } finally {
    access?.revoke();
  }
}

/**
 * Whether a turn can run in a live session: the runner has them, and the resume plan is one it
 * can follow — a fork needs the `fork` capability; resuming a stored agent session needs
 * `resume`, unless the live process already holds that session (Gemini 0.61 cannot load a stored
 * session into a new process, so such a turn runs one-shot with `--resume`). A turn re-run at the
 * last committed point (`resume.at`, after a crash) runs one-shot: `--resume-session-at` is
 * verified in `-p` mode (invariant 8); with stream-json input the chaos kill loop saw the cut
 * attempt's messages twice in the model's context (the killed instance's agent had gone on
 * writing its session until reaped).
 */
function canRunLive(runner: Runner, sessions: LiveSessions, conversationId: string, resume: Resume | undefined): boolean {
  const caps = runner.sessionCapabilities;
  if (!runner.openSession || !caps) return false;
  if (!resume) return true;
  if (resume.at) return false;
  if (resume.fork) return caps.fork;
  return caps.resume || sessions.get(conversationId)?.sessionId === resume.id;
}
