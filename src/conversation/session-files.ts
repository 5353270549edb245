/**
 * What a turn needs to make the agent CLI's own session files follow the conversation between
 * workers (cluster mode, docs/ARCHITECTURE.md §10): implemented by src/cluster/session-files.ts
 * (`SessionFileSync`), given to the turn as `TurnDeps.sessionFiles` by the composition root — only
 * in cluster mode without a shared workspace volume. Declared here so that the conversation layer
 * does not import the cluster layer.
 */
import type { AgentName } from '../core/agents.js';

/** The agent session whose files are meant. */
export interface AgentSessionRef {
  /** The conversation the session belongs to (its files are stored under it). */
  conversationId: string;
  agent: AgentName;
  /** The agent's own session id. */
  sessionId: string;
  /** The turn's working directory (absolute; the same on every worker). */
  workdir: string;
  /** The agent process environment (its HOME etc. decide where the files go on this host). */
  env: NodeJS.ProcessEnv;
}

/** Saves and restores an agent session's files. Both never reject: a failure is logged and the turn goes on. */
export interface AgentSessionFiles {
  /**
   * Before a turn that resumes `ref.sessionId`: writes the stored files of that session whose local
   * copy is missing or shorter. A resume that still fails continues from the transcript.
   */
  restore(ref: AgentSessionRef): Promise<unknown>;
  /** After a turn committed: stores the session's files as they are now (replacing the conversation's stored set for the agent). */
  save(ref: AgentSessionRef): Promise<unknown>;
}
