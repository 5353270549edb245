/**
 * The router: the core's entry point for every inbound message, a pipeline in a fixed order —
 * access control (a refused writer is told once, nothing is stored) → chat commands (run and
 * answered here, deduplicated through the inbox) → the inbox (durable; a known event key is a
 * duplicate and is dropped — invariant 2) → an answer to the agent's open question or plan
 * (./interactions.ts; the inbox row closes at once) → the conversation's bridge (./bridges.ts).
 * The stages are given at construction (src/compose.ts wires them); nothing calls back into
 * the router.
 */
import type { Logger } from '../logger.js';
import type { InboundMessage } from '../core/messages.js';
import type { AcceptHooks, AcceptResult, InboundSink } from '../platforms/types.js';
import type { Bridges } from './bridges.js';
import type { Inbox } from './inbox.js';

export type { QueueStats } from './bridges.js';

/**
 * Access control, the first stage. Resolves to `{ handled }` when the message ends here (a writer
 * who is not allowed: refused through {@link Inbox.refuse}, no inbox row), else whether the
 * writer is an admin. `hooks` run with what is stored for a handled message. Rejects when that
 * could not be stored.
 */
export interface AccessStage {
  checkAccess(message: InboundMessage, hooks?: AcceptHooks): Promise<{ handled: AcceptResult } | { admin: boolean }>;
}

/**
 * Chat commands, the second stage. `takeCommand` returns the accept result when the message was a
 * command (taken into the inbox and answered), undefined for an ordinary prompt.
 */
export interface CommandStage {
  takeCommand(message: InboundMessage, admin: boolean, hooks?: AcceptHooks): Promise<AcceptResult | undefined>;
  /** Start-up recovery: true for an unfinished inbox row that is a command, not a prompt (closed, not run). */
  isCommand(message: InboundMessage): boolean;
}

/**
 * Answers to the agent's open questions and plans, the third stage: a message from someone who
 * may decide, in a conversation where a question or plan waits, is that answer (or the plan's
 * feedback) rather than a new prompt.
 */
export interface AnswerStage {
  /** True when `message` would answer an open question or plan of its conversation. */
  wouldAnswer(message: InboundMessage): Promise<boolean>;
  /** Answers with `message`; false when nothing is open for it any more (it is then an ordinary prompt). */
  answer(message: InboundMessage): Promise<boolean>;
}

export interface RouterDeps {
  inbox: Inbox;
  bridges: Bridges;
  /** Absent: everyone may write (tests that do not exercise access control). */
  access?: AccessStage;
  /** Absent: every message is a prompt. */
  commands?: CommandStage;
  /** Absent: no message answers a question (interactive sessions are off). */
  answers?: AnswerStage;
  logger: Logger;
}

export class Router {
  readonly inbox: Inbox;
  readonly bridges: Bridges;

  constructor(private readonly deps: RouterDeps) {
    this.inbox = deps.inbox;
    this.bridges = deps.bridges;
  }

  /**
   * The sink adapters call. Resolves once the message is in the inbox (then the adapter may
   * acknowledge the platform). Rejects only when the database write fails, or at once with
   * `StoreUnavailableError` while the store health says the database cannot be written (nothing
   * is stored, not even by access control or a command) — the adapter must then not acknowledge,
   * so the platform redelivers. A storage fault of the write is reported to the store health.
   */
  readonly accept: InboundSink = async (message: InboundMessage, hooks?: AcceptHooks) => {
    if (this.bridges.closedForGood) throw new Error('agentbridge is shutting down; the message was not accepted');
    return this.inbox.guard(() => this.take(message, hooks));
  };

  private async take(message: InboundMessage, hooks?: AcceptHooks): Promise<AcceptResult> {
    const access = (await this.deps.access?.checkAccess(message, hooks)) ?? { admin: false };
    if ('handled' in access) return access.handled;
    const command = await this.deps.commands?.takeCommand(message, access.admin, hooks);
    if (command) return command;
    const answering = (await this.deps.answers?.wouldAnswer(message)) ?? false;
    // Cluster mode: a message that may answer an open question gets its wake-up job only once it
    // turned out to be a prompt after all — a worker must not run it while it is being taken as the answer.
    if (!(await this.inbox.accept(message, hooks, { wake: !answering }))) {
      this.deps.logger.info({ eventKey: message.eventKey, conversationId: message.conversationId }, 'duplicate delivery ignored');
      return 'duplicate';
    }
    if (answering && (await this.deps.answers!.answer(message))) {
      // The answer went to the agent's running turn; the message needs no turn of its own.
      await this.inbox.finish([message.eventKey], 'done');
      this.deps.logger.info({ eventKey: message.eventKey, conversationId: message.conversationId }, 'message answered an open question');
      return 'accepted';
    }
    if (answering) await this.inbox.wake(message.conversationId);
    this.bridges.admit(message);
    return 'accepted';
  }

  /** True once shutdown began. */
  get stopping(): boolean {
    return this.bridges.stopping;
  }

  /** Ends the recovery phase: from now on accepted messages are queued at once. */
  recovered(): void {
    this.bridges.recovered();
  }

  /**
   * Queues a message that is already in the inbox (recovery after a restart). A prompt is queued
   * before this returns (synchronously: resumes called in one go join one turn); the promise
   * settles once a command's row is closed.
   */
  async resume(message: InboundMessage): Promise<void> {
    if (this.deps.commands?.isCommand(message)) {
      // A command whose reply was never recorded (stopped mid-way): not a prompt, and not re-run.
      await this.inbox.finish([message.eventKey], 'failed');
      this.deps.logger.warn({ eventKey: message.eventKey, conversationId: message.conversationId }, 'unfinished command from before the restart dropped');
      return;
    }
    this.bridges.enqueue(message);
  }
}
