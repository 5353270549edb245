/**
 * One agent turn in one conversation: record the users' messages, run the agent (resuming its
 * session), show progress, store the agent session id and the answer, and hand the answer to
 * the outbox. The inbox rows of the turn are marked done/failed in the same transaction that
 * writes the answer to the outbox, so a crash at any point either re-runs the turn or delivers
 * its stored answer — never both, never neither.
 *
 * A turn whose inbox rows were started before (a re-run after a crash or shutdown, ./rerun.ts)
 * resumes the agent at the last point agentbridge committed — not where the CLI's own session
 * file ended — and its prompt starts with a note that the previous attempt may have partly run.
 * That point (Claude: the last assistant message's uuid) is stored with the agent session id in
 * the committing transaction; an interrupted run stores nothing.
 */
import type { Logger } from '../logger.js';
import type { InboundMessage, ReplyTarget } from '../core/messages.js';
import type { TurnOutcome } from '../core/turn.js';
import { agentNames, describeRunError, isMissingSessionError } from '../runners/registry.js';
import type { AgentName, PermissionMode } from '../core/agents.js';
import type { Runner, RunResult } from '../runners/types.js';
import type { ConversationRow, SessionEntryRow, Store } from '../store/types.js';
import type { AdapterLookup } from './outbox.js';
import type { Outbound, SayOptions } from './outbound.js';
import { combineMessages } from './prompt.js';
import type { Inbox } from './inbox.js';
import { committedPoint, planRerun, rerunPrompt } from './rerun.js';
import { continuationPrompt, LOST_SESSION_NOTICE, planSeed, seededPrompt, seedNotice, seedRecord } from './seeding.js';
import { TurnOutput } from './turn-output.js';
import { SUPERSEDED } from './abort.js';
import type { Interactions } from './interactions.js';
import type { LiveSessions } from './live-sessions.js';
import { runAgent, SUPERSEDED_NOTICE, type LiveTurn, type Resume, type TurnToolAccess } from './run-agent.js';
import { qualify } from './access.js';
import type { ChangeSummaries } from './git-changes.js';
import { fetchAttachments, imageFiles, type MessageAttachments } from './attachments.js';
import { attachmentPromptText, notAttachedNotice, withFileNames } from '../core/attachments.js';
import type { PlatformAdapter } from '../platforms/types.js';
import type { OutboundTarget } from './outbound.js';
import type { AgentSessionFiles } from './session-files.js';

export { SHUTDOWN } from './abort.js';
import { SHUTDOWN } from './abort.js';

export interface TurnDefaults {
  /** Agent for conversations that did not choose one; undefined when no agent is usable. */
  agent?: AgentName;
  model?: string;
  workdir: string;
  permissionMode: PermissionMode;
  /** ms */
  turnTimeoutMs: number;
}

export type { TurnToolAccess } from './run-agent.js';

/** The store parts a turn uses (its inbox rows and a missing conversation row go through {@link Inbox}). */
export type TurnStore = Pick<Store, 'entries' | 'postedMessages' | 'transaction'> & { conversations: Omit<Store['conversations'], 'ensure'> };

export interface TurnDeps {
  store: TurnStore;
  /** The inbox owner: the turn starts and finishes its rows there (and ensures the conversation row). */
  inbox: Inbox;
  /** The runners by agent name (src/runners/index.ts `createRunners`). */
  runners: Readonly<Record<AgentName, Runner>>;
  adapters: AdapterLookup;
  /** The outbound path: the answer is rendered, chunked and written to the outbox there, then delivered. */
  outbound: Pick<Outbound, 'enqueue' | 'deliver'>;
  defaults: TurnDefaults;
  /** Environment for agent processes. */
  env: NodeJS.ProcessEnv;
  /**
   * The directory the agent works in for this conversation (./worktrees.ts `conversationWorkdir`:
   * its own workdir, its channel's project or its worktree — made here at the first turn — or the
   * default). Absent: the conversation's workdir, else `defaults.workdir`. A rejection fails the
   * turn with a notice naming the reason.
   */
  resolveWorkdir?: (conversation: ConversationRow) => Promise<string>;
  logger: Logger;
  /** Agent tools over MCP; turns run without tools when absent. */
  tools?: TurnToolAccess;
  /**
   * Live agent sessions (one process per conversation, kept between turns). Absent, or for a
   * runner without them, every turn runs its own one-shot process.
   */
  sessions?: LiveSessions;
  /** Asks the conversation when the agent wants an approval, an answer or a plan decision; absent: such requests are denied. */
  interactions?: Interactions;
  /**
   * The change summary line (AGENTBRIDGE_CHANGE_SUMMARY, ./git-changes.ts): in a git work tree the
   * answer ends with what the turn changed. Absent: no line.
   */
  changes?: Pick<ChangeSummaries, 'watch'>;
  /**
   * AGENTBRIDGE_MAX_FILE_MB in bytes: the largest file of a message fetched for the agent
   * (./attachments.ts). Absent: 25 MB.
   */
  maxFileBytes?: number;
  /**
   * Cluster mode (src/cluster/session-files.ts): the agent CLI's session files are restored before
   * a turn that resumes a stored agent session and saved after the turn committed, so the next turn
   * may run on another worker. Absent (one instance, or a shared workspace volume): nothing is synced.
   */
  sessionFiles?: AgentSessionFiles;
  now?: () => number;
}

/**
 * What an attempt of a turn already did, carried to the retry of the same batch after a storage
 * fault (the bridge keeps it; see bridge.ts): the retry records the users' messages once, reuses
 * the progress message, does not run the agent again when its answer is known, and does not
 * write the answer twice. Filled in by {@link executeTurn} as it goes.
 */
export interface TurnAttempt {
  /** Ids of the user transcript entries recorded for the batch (the inbox rows are `running`). */
  entryIds?: number[];
  /** Whether the batch is a re-run of a turn cut by a crash or shutdown (./rerun.ts), decided once. */
  rerun?: boolean;
  /** The progress message posted by an earlier attempt (edited, not posted again). */
  progressRef?: string;
  /** The agent's finished run, kept until the answer is committed; `changes` is the change summary line, if any. */
  ran?: { agent: AgentName; model?: string; result: RunResult; seed: Awaited<ReturnType<typeof planSeed>>; lostSession: boolean; changes?: string };
  /** The answer is in the outbox and the inbox rows are closed: only delivery is left. */
  committed?: TurnOutcome;
  /**
   * Set while the agent runs in a live session that can be steered: adds `message` to the
   * running turn (AGENTBRIDGE_BUSY_MODE=steer). True when the agent took it — it is then
   * recorded as part of this turn (its inbox row runs and closes with the turn); false when it
   * must wait for the next turn.
   */
  steer?: (message: InboundMessage) => Promise<boolean>;
  /** Event keys of the messages the agent took into this turn (closed with the turn's answer, also by a retry). */
  steeredKeys?: string[];
  /** Cluster mode: the fencing token the attempt's inbox rows are started and closed under (set by the bridge). */
  claim?: string;
}

/**
 * Runs one turn for `batch` (≥ 1 messages of one conversation, in arrival order).
 * Never throws for agent or platform failures; throws the store's error (e.g. `SqliteError`
 * SQLITE_FULL) when the database cannot be written — `attempt` then says how far it got, and
 * calling again with the same `attempt` continues from there.
 */
export async function executeTurn(deps: TurnDeps, batch: InboundMessage[], signal: AbortSignal, attempt: TurnAttempt = {}): Promise<TurnOutcome> {
  const { store, logger } = deps;
  const last = batch[batch.length - 1]!;
  const conversationId = last.conversationId;
  // Grows when messages are steered into the running turn (kept in `attempt` for a retry of the commit).
  const keys = [...batch.map((m) => m.eventKey), ...(attempt.steeredKeys ?? [])];
  const target = last.replyTarget;
  const log = logger.child({ conversationId });

  if (attempt.committed) {
    await deps.outbound.deliver(conversationId);
    return attempt.committed;
  }
  // Created when the first message was accepted (router); ensure() covers older inbox rows.
  let conversation = await deps.inbox.ensureConversation({
    id: conversationId,
    platform: last.platform,
    channel: target.channel,
    thread: target.thread ?? null,
    workdir: null,
  });
  const agent = attempt.ran?.agent ?? conversation.agent ?? deps.defaults.agent;
  const model = attempt.ran ? attempt.ran.model : (conversation.model ?? deps.defaults.model);
  const multiUser = await isMultiUser(store, conversationId, batch);

  const adapter = deps.adapters(target.platform);
  if (!adapter) {
    log.error({ platform: target.platform }, 'no adapter for the reply platform; turn skipped and kept for retry');
    // Nothing recorded yet: the messages stay queued in the inbox for when the platform runs again.
    return 'undeliverable';
  }
  if (!attempt.entryIds) {
    attempt.entryIds = await store.transaction(async (tx) => {
      // Marks the rows running; true when one of them was started before (a re-run).
      attempt.rerun = await deps.inbox.start(keys, tx);
      // The cut attempt recorded these messages already but never committed: record them once.
      if (attempt.rerun) await tx.entries.removeUncommitted(conversationId);
      const ids: number[] = [];
      for (const m of batch) {
        const e = await tx.entries.append({
          conversationId,
          role: 'user',
          author: m.author.name,
          text: withFileNames(m),
          agent: agent ?? null,
          model: model ?? null,
          usage: null,
          costUsd: null,
        });
        ids.push(e.id);
      }
      return ids;
    });
  }
  const batchEntryIds = new Set(attempt.entryIds);
  const rerun = attempt.rerun ?? false;

  const output = new TurnOutput({
    adapter,
    target,
    conversationId,
    store,
    logger: log,
    messageRefs: batch.flatMap((m) => (m.messageRef ? [m.messageRef] : [])),
    now: deps.now,
    progressRef: attempt.progressRef,
  });

  if (!agent) {
    const text = `⚠️ No agent CLI is available on the agentbridge host (none of ${agentNames().join(', ')} is installed and logged in). An admin can run \`agentbridge doctor\` to see what is missing.`;
    await finish(deps, { conversationId, replyTarget: target }, text, { kind: 'notice' }, keys, 'failed');
    await deps.outbound.deliver(conversationId);
    return 'failed';
  }

  if (!attempt.ran && deps.resolveWorkdir) {
    // The project of the conversation's channel (its worktree made at the first turn); its own workdir wins.
    try {
      conversation = { ...conversation, workdir: await deps.resolveWorkdir(conversation) };
    } catch (err) {
      const why = err instanceof Error ? err.message : String(err);
      log.error({ err }, "the conversation's working directory could not be prepared");
      await finish(
        deps,
        { conversationId, replyTarget: target },
        `⚠️ This conversation's working directory could not be prepared: ${why}`,
        { kind: 'notice' },
        keys,
        'failed',
      );
      await deps.outbound.deliver(conversationId);
      return 'failed';
    }
  }

  let ran = attempt.ran;
  if (!ran) {
    // The agent starts now; the 👀 reaction and the progress post go out alongside (TurnOutput).
    output.begin();
    const started = (deps.now ?? Date.now)();
    // Files of the messages, fetched into the working directory before the change summary's "before" snapshot.
    const files = await prepareFiles(
      deps,
      adapter,
      conversation.workdir ?? deps.defaults.workdir,
      batch,
      signal,
      { conversationId, replyTarget: target },
      rerun,
    );
    // In a git work tree: the "before" snapshot of the change summary starts now and is awaited just
    // before the agent gets its prompt (opening a live session overlaps it); elsewhere nothing runs.
    const watch = deps.changes?.watch(conversation.workdir ?? deps.defaults.workdir);
    let prompted = false;
    const beforePrompt = watch
      ? async () => {
          await watch.ready;
          prompted = true;
        }
      : undefined;
    let seed = await planSeed(store, conversation, agent);
    const combined = combineMessages(withAttachments(batch, files), { multiUser });
    const messages = rerun ? rerunPrompt(combined) : combined;
    let prompt = seed?.mode === 'transcript' ? seededPrompt(seed, messages) : messages;
    let resume: Resume | undefined = seed?.mode === 'fork' ? { id: seed.sessionId, fork: true } : sameAgentSession(conversation, agent);
    if (rerun && !seed) {
      const plan = planRerun(conversation, agent);
      log.info({ agent, mode: plan.mode }, 'interrupted turn runs again from the last committed point');
      if (plan.mode === 'resume-at') {
        resume = { id: plan.sessionId, fork: false, at: plan.at };
      } else {
        resume = undefined;
        if (plan.mode === 'transcript') prompt = continuationPrompt(await committedEntries(store, conversationId, batchEntryIds), messages);
      }
    }
    if (resume && deps.sessionFiles) {
      // Another worker may have run the previous turn: its session files come from the database (a fork: the origin's).
      const owner = seed?.mode === 'fork' ? seed.originId : conversationId;
      await deps.sessionFiles
        .restore({ conversationId: owner, agent, sessionId: resume.id, workdir: conversation.workdir ?? deps.defaults.workdir, env: deps.env })
        .catch((err: unknown) => log.warn({ err: err instanceof Error ? err.message : String(err) }, 'agent session files could not be restored'));
    }
    const requester = batch[0]!.origin === 'scheduler' ? null : { id: qualify(batch[0]!.platform, batch[0]!.author.id), name: batch[0]!.author.name };
    const live: LiveTurn = {
      requester,
      target,
      onSteer: async (session, m) => {
        // A message with files waits for the next turn, which fetches them.
        if (!session.busy || m.files?.length) return false;
        const steering = session.steer(combineMessages([m], { multiUser: true }));
        log.info({ eventKey: m.eventKey }, 'message offered to the running turn');
        const answer = await steering;
        if (answer !== 'taken') {
          log.info({ eventKey: m.eventKey, answer }, 'the running turn did not take the message; it waits for the next turn');
          return false;
        }
        // The agent has it: it is part of this turn from now on (answered with it, closed with it —
        // also by a retry of the commit after a storage fault).
        keys.push(m.eventKey);
        attempt.steeredKeys = [...(attempt.steeredKeys ?? []), m.eventKey];
        try {
          await store.transaction(async (tx) => {
            await deps.inbox.start([m.eventKey], tx);
            const e = await tx.entries.append({
              conversationId,
              role: 'user',
              author: m.author.name,
              text: m.text,
              agent,
              model: model ?? null,
              usage: null,
              costUsd: null,
            });
            attempt.entryIds?.push(e.id);
            batchEntryIds.add(e.id);
          });
        } catch (err) {
          // The agent took it anyway: it is closed with the turn (not run again); only its transcript entry is missing.
          log.warn(
            { eventKey: m.eventKey, err: err instanceof Error ? err.message : String(err) },
            'could not record the steered message; it is still answered in this turn',
          );
        }
        log.info({ eventKey: m.eventKey }, 'message steered into the running turn');
        if (m.messageRef) void adapter.react?.(m.replyTarget, m.messageRef, 'steered').catch(() => {});
        return true;
      },
      attempt,
    };
    const oneShotAccess = () => deps.tools?.grant({ conversationId, replyTarget: target, ttlMs: deps.defaults.turnTimeoutMs + 60_000 });
    const run = (p: string, r?: Resume) =>
      runAgent(
        deps,
        deps.runners[agent],
        conversation,
        { agent, model, prompt: p, resume: r, beforePrompt, images: imageFiles(files.values()).map((f) => ({ path: f.path, mediaType: f.mimeType })) },
        signal,
        (e) => output.onEvent(e),
        oneShotAccess,
        live,
      );
    let result: RunResult;
    let lostSession = false;
    try {
      result = await run(prompt, resume);
      if (!result.ok && resume && !signal.aborted && isMissingSessionError(result.error, agent)) {
        // The agent's own session is gone (e.g. its files were lost): continue once from our transcript.
        log.warn({ agent, sessionId: resume.id, err: result.error?.message }, 'agent session could not be resumed; continuing from the transcript');
        lostSession = true;
        if (resume.fork) {
          seed = await planSeed(store, conversation, agent, { allowFork: false });
          result = await run(seed?.mode === 'transcript' ? seededPrompt(seed, messages) : messages);
        } else {
          await store.conversations.setAgentSession(conversationId, null, null);
          result = await run(continuationPrompt(await committedEntries(store, conversationId, batchEntryIds), messages));
        }
      }
    } finally {
      attempt.steer = undefined;
    }
    if (signal.aborted && signal.reason === SUPERSEDED && result.error?.kind === 'stopped') {
      result = { ...result, error: { kind: 'stopped', message: SUPERSEDED_NOTICE } };
    }
    log.info({ agent, ok: result.ok, error: result.error?.kind, ms: (deps.now ?? Date.now)() - started }, 'turn finished');

    if (signal.aborted && signal.reason === SHUTDOWN) {
      // Left as `running`: after the restart the users are told and the turn runs again. Its agent
      // session is NOT stored: the re-run resumes at the last committed point (./rerun.ts).
      await output.settle();
      attempt.progressRef = output.ref;
      output.finish('failed');
      return 'interrupted';
    }
    // The "after" snapshot (only when the agent got its prompt) runs while the progress decoration settles.
    const line = watch && prompted ? (await Promise.all([watch.summary(), output.settle()]))[0] : undefined;
    ran = { agent, model, result, seed, lostSession, ...(line ? { changes: line } : {}) };
    attempt.ran = ran;
  } else {
    log.info({ agent }, 'committing the answer of an earlier attempt (the agent is not run again)');
  }
  const { result, seed, lostSession, changes } = ran;

  const notice = !result.ok ? undefined : lostSession && !seed ? LOST_SESSION_NOTICE : seed ? seedNotice(seed) : undefined;
  const answer = (notice ? `${notice}\n\n` : '') + answerText(agent, result, deps.defaults.turnTimeoutMs);
  // What is posted ends with the change summary line; the transcript keeps the answer without it
  // (the transcript seeds threads and continues lost sessions: the line is not the agent's words).
  const posted = changes ? `${answer}\n\n${changes}` : answer;
  // Progress decoration still waiting is dropped; the answer replaces the progress message if it got out.
  await output.settle();
  attempt.progressRef = output.ref;
  // One transaction: the agent session id, the transcript entry, the answer in the outbox and the
  // inbox rows closed — a crash leaves either all of it (answer delivered later) or none (re-run).
  await store.transaction(async (tx) => {
    if (result.sessionId) await tx.conversations.setAgentSession(conversationId, agent, result.sessionId, committedPoint(conversation, agent, result));
    if (seed && result.ok) {
      await tx.conversations.update(conversationId, { seededAt: Date.now() });
      await tx.entries.append({
        conversationId,
        role: 'system',
        author: 'agentbridge',
        text: seedRecord(seed),
        agent,
        model: model ?? null,
        usage: null,
        costUsd: null,
      });
    }
    const entry = await tx.entries.append({
      conversationId,
      role: result.ok ? 'assistant' : 'system',
      author: null,
      text: answer,
      agent,
      model: model ?? null,
      usage: result.usage ?? null,
      costUsd: result.usage?.costUsd ?? null,
    });
    await finish(
      deps,
      { conversationId, replyTarget: target },
      posted,
      { kind: 'answer', sessionEntryId: entry.id, editRef: output.ref, emptyText: EMPTY_ANSWER, tx },
      keys,
      result.ok ? 'done' : 'failed',
    );
  });
  const outcome: TurnOutcome = result.ok ? 'ok' : result.error?.kind === 'stopped' ? 'stopped' : result.error?.kind === 'timeout' ? 'timeout' : 'failed';
  attempt.committed = outcome;
  attempt.ran = undefined;
  // The session as committed goes to the database for the next turn, wherever it runs (alongside the delivery; done before the turn ends).
  const saving =
    result.sessionId && deps.sessionFiles
      ? deps.sessionFiles
          .save({ conversationId, agent, sessionId: result.sessionId, workdir: conversation.workdir ?? deps.defaults.workdir, env: deps.env })
          .catch((err: unknown) => log.warn({ err: err instanceof Error ? err.message : String(err) }, 'agent session files could not be saved'))
      : undefined;
  try {
    await deps.outbound.deliver(conversationId);
  } catch (err) {
    await saving;
    throw err;
  }
  // The answer first, then ✅/❌ (in the background).
  output.finish(result.ok ? 'done' : 'failed');
  await saving;
  return outcome;
}

/** What is posted for an answer that renders to nothing. */
const EMPTY_ANSWER = '(the agent returned an empty answer)';

/**
 * Writes the answer (rendered and chunked by the outbound path) to the outbox and closes the
 * inbox rows, atomically (inside the caller's transaction when `options.tx` is given). Delivery
 * follows once the caller noted the turn as committed.
 */
async function finish(
  deps: TurnDeps,
  to: { conversationId: string; replyTarget: ReplyTarget },
  markdown: string,
  options: SayOptions,
  keys: string[],
  state: 'done' | 'failed',
): Promise<void> {
  await deps.outbound.enqueue(to, markdown, { ...options, alsoInTx: (tx) => deps.inbox.finish(keys, state, tx) });
}

/** The conversation's committed transcript before this turn (its own entries excluded), newest 200. */
async function committedEntries(store: Pick<Store, 'entries'>, conversationId: string, batchEntryIds: ReadonlySet<number>): Promise<SessionEntryRow[]> {
  return (await store.entries.list(conversationId, { limit: 200 })).filter((e) => !batchEntryIds.has(e.id));
}

/** The stored agent session to resume: only one that belongs to the same agent. */
function sameAgentSession(conv: ConversationRow, agent: AgentName): Resume | undefined {
  return conv.agentSessionAgent === agent && conv.agentSessionId ? { id: conv.agentSessionId, fork: false } : undefined;
}

/** The text the user sees: the answer, or what went wrong (with any partial answer kept). */
function answerText(agent: AgentName, result: RunResult, timeoutMs: number): string {
  if (result.ok) return result.text.trim() ? result.text : '(the agent finished without a text answer)';
  if (result.error?.kind === 'stopped' && result.error.message === SUPERSEDED_NOTICE) {
    const why = '⏹️ Stopped to take the newer message (AGENTBRIDGE_BUSY_MODE=interrupt); it is answered next.';
    return result.text.trim() ? `${result.text}\n\n${why}` : why;
  }
  const why = describeRunError(agent, result.error ?? { kind: 'crashed', message: '' }, Math.round(timeoutMs / 1000));
  return result.text.trim() ? `${result.text}\n\n${why}` : why;
}

/** True when more than one person has written in this conversation (history or this batch). */
async function isMultiUser(store: Pick<Store, 'entries'>, conversationId: string, batch: InboundMessage[]): Promise<boolean> {
  const authors = new Set(batch.map((m) => m.author.name));
  for (const a of await store.entries.authors(conversationId, 2)) authors.add(a);
  return authors.size > 1;
}

/** AGENTBRIDGE_MAX_FILE_MB's default, bytes. */
const DEFAULT_MAX_FILE_BYTES = 25 * 1024 * 1024;

/**
 * Fetches the batch's files into `workdir` (./attachments.ts) and posts the thread's note about
 * files left out — once: not again when the batch runs again after a crash or shutdown (its
 * first attempt posted it; the prompt still lists them as not attached).
 */
async function prepareFiles(
  deps: TurnDeps,
  adapter: PlatformAdapter,
  workdir: string,
  batch: readonly InboundMessage[],
  signal: AbortSignal,
  target: OutboundTarget,
  rerun: boolean,
): Promise<Map<string, MessageAttachments>> {
  if (!batch.some((m) => m.files?.length)) return new Map();
  const files = await fetchAttachments({ adapter, maxFileBytes: deps.maxFileBytes ?? DEFAULT_MAX_FILE_BYTES, logger: deps.logger }, workdir, batch, signal);
  const notice = notAttachedNotice([...files.values()].flatMap((f) => f.skipped));
  if (notice && !rerun && !signal.aborted) {
    try {
      await deps.outbound.enqueue(target, notice, { kind: 'notice' });
      void deps.outbound
        .deliver(target.conversationId)
        .catch((err: unknown) => deps.logger.error({ err }, 'delivering the note about files not attached failed'));
    } catch (err) {
      deps.logger.warn({ err: err instanceof Error ? err.message : String(err) }, 'could not post the note about files not attached');
    }
  }
  return files;
}

/** The batch with each message's text followed by its files' `Attached:`/`Not attached:` lines. */
function withAttachments(batch: readonly InboundMessage[], files: Map<string, MessageAttachments>): InboundMessage[] {
  return batch.map((m) => {
    const f = files.get(m.eventKey);
    const extra = f ? attachmentPromptText(f.saved, f.skipped) : '';
    return extra ? { ...m, text: m.text.trim() ? `${m.text}\n\n${extra}` : extra } : m;
  });
}
