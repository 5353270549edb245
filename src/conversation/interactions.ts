/**
 * Interactions: a running agent's approvals, questions and plans, decided by people in the chat
 * (docs/ARCHITECTURE.md §9).
 *
 * `ask` — called by a turn when the agent asks — first applies the conversation's "always"
 * rules (a covered approval is allowed without a card), else stores the request (table
 * `interactions`) and posts its card through the outbound path (rendered, mentions neutralised,
 * delivered once) in one transaction, then waits for the first of: a decision (a button, or a
 * free-text reply for a question or plan), the approval timeout (denied: fails closed), or the
 * turn's end (cancelled; at shutdown: expired). Every way out ends the row with one atomic
 * `UPDATE … WHERE state = 'pending'` (the first decision wins) and edits the card to its final
 * state through the outbox, so no live buttons are left on a dead request. Pending rows a
 * process left behind (a crash) are expired by {@link Interactions.expireStale} at start; their
 * turns run again through recovery and may ask again.
 */
import crypto from 'node:crypto';
import type { ApproversConfig } from '../core/config.js';
import { parseActionId, type ActionReply, type ActionRequest, type InteractionDecision, type InteractionRequest } from '../core/interactions.js';
import type { InboundMessage, ReplyTarget } from '../core/messages.js';
import type { Logger } from '../logger.js';
import type { InteractionRow, InteractionState, Person, Store } from '../store/types.js';
import { qualify } from './access.js';
import { SHUTDOWN } from './abort.js';
import {
  PREVIEW_MAX_CHARS,
  alreadyDecidedText,
  awaitingFeedbackText,
  cardActions,
  decidersText,
  decisionFor,
  finalCardText,
  openCardText,
  outcomeLine,
  textDecision,
} from './cards.js';
import type { Outbound } from './outbound.js';

export interface InteractionsDeps {
  store: Pick<Store, 'interactions' | 'approvalRules' | 'conversations' | 'outbox' | 'transaction'>;
  outbound: Pick<Outbound, 'enqueue' | 'deliver' | 'messages'>;
  logger: Logger;
  approvers: ApproversConfig;
  /** Platform-qualified ids of admins (AGENTBRIDGE_ADMINS). */
  admins: readonly string[];
  /** How long a request waits for a decision before it is denied, ms. */
  timeoutMs: number;
  /** The agent's name for people ("Claude Code"), by agent name. */
  agentLabel(agent: string): string;
  /**
   * The agent of conversations that name none (AGENTBRIDGE_AGENT as resolved at start): names the
   * agent on a card edited after a restart, when no running turn says which agent asked.
   */
  defaultAgent?: string;
  now?: () => number;
  /**
   * Cluster mode: how often (ms) a waiting request reads its row, so a decision another instance
   * recorded (a click or an answer that reached another instance's ingress) reaches the turn.
   * Absent: only decisions made in this process wake the turn.
   */
  pollMs?: number;
}

/** Where and for whom a turn asks. */
export interface AskContext {
  conversationId: string;
  replyTarget: ReplyTarget;
  agent: string;
  /** The person whose message started the turn (qualified id); null for scheduler turns. */
  requester: Person | null;
  /** The turn's signal: aborting it cancels the request (at shutdown: expires it). */
  signal: AbortSignal;
}

interface Waiter {
  resolve(decision: InteractionDecision): void;
  ctx: AskContext;
}

/** Random interaction id: 12 characters of base64url (72 bits). */
function newId(): string {
  return crypto.randomBytes(9).toString('base64url');
}

export class Interactions {
  private readonly waiters = new Map<string, Waiter>();
  private readonly now: () => number;

  constructor(private readonly deps: InteractionsDeps) {
    this.now = deps.now ?? Date.now;
  }

  /**
   * Asks the people of the conversation; resolves with the decision (never rejects). An
   * approval covered by an "always" rule resolves `allow` at once, without a card.
   * @throws the store's error when the request cannot be stored (the turn then fails like any storage fault)
   */
  async ask(ctx: AskContext, request: InteractionRequest): Promise<InteractionDecision> {
    const { store, logger } = this.deps;
    if (request.kind === 'approval' && (await this.covered(ctx.conversationId, request))) {
      logger.info(
        { conversationId: ctx.conversationId, tool: request.tool, ruleKey: request.ruleKey },
        'approval granted by an always-rule of the conversation',
      );
      return { kind: 'allow' };
    }
    if (ctx.signal.aborted) return { kind: 'cancel', message: 'The turn was stopped.' };
    const id = newId();
    const created = this.now();
    const label = this.deps.agentLabel(ctx.agent);
    // The waiter is registered before the row exists, so a decision that comes as soon as the
    // transaction committed (the card may be delivered by a delivery already running) finds it.
    const decided = new Promise<InteractionDecision>((resolve) => this.waiters.set(id, { resolve, ctx }));
    let row: InteractionRow;
    try {
      row = await store.transaction(async (tx) => {
        const row = await tx.interactions.create({
          id,
          conversationId: ctx.conversationId,
          request,
          requester: ctx.requester,
          expiresAt: created + this.deps.timeoutMs,
        });
        const deciders = decidersText(ctx.requester, this.deps.approvers);
        const text = this.fit(ctx.replyTarget, (max) => openCardText(row, label, deciders, max));
        const rows = await this.deps.outbound.enqueue(ctx, text, { kind: 'notice', actions: cardActions(id, request), tx });
        await tx.interactions.setCard(id, rows[rows.length - 1]!.id);
        return { ...row, outboxId: rows[rows.length - 1]!.id };
      });
    } catch (err) {
      this.waiters.delete(id);
      throw err;
    }
    logger.info({ conversationId: ctx.conversationId, interaction: id, kind: request.kind }, 'asking the conversation');
    void this.deps.outbound.deliver(ctx.conversationId);
    const timer = setTimeout(
      () => void this.end(row.id, 'timed_out', { kind: 'deny', message: 'Nobody decided in time, so it was denied.' }, null),
      this.deps.timeoutMs,
    );
    const onAbort = () => {
      const state: InteractionState = ctx.signal.reason === SHUTDOWN ? 'expired' : 'cancelled';
      void this.end(row.id, state, { kind: 'cancel', message: state === 'expired' ? 'agentbridge is restarting.' : 'The turn was stopped.' }, null);
    };
    ctx.signal.addEventListener('abort', onAbort, { once: true });
    // Stopped while the request was being stored: the listener came too late to hear it.
    if (ctx.signal.aborted) onAbort();
    const poll = this.deps.pollMs ? setInterval(() => void this.pollDecision(id), this.deps.pollMs) : undefined;
    try {
      return await decided;
    } finally {
      clearInterval(poll);
      clearTimeout(timer);
      ctx.signal.removeEventListener('abort', onAbort);
      this.waiters.delete(id);
    }
  }

  /** Cluster mode: a request another instance ended (its row is no longer pending) wakes its waiting turn with the recorded decision. */
  private async pollDecision(id: string): Promise<void> {
    const waiter = this.waiters.get(id);
    if (!waiter) return;
    const row = await this.deps.store.interactions.get(id).catch(() => undefined);
    if (!row || row.state === 'pending') return;
    this.deps.logger.info({ conversationId: row.conversationId, interaction: id, state: row.state }, 'interaction ended on another instance');
    waiter.resolve(
      row.decision ??
        (row.state === 'timed_out'
          ? { kind: 'deny', message: 'Nobody decided in time, so it was denied.' }
          : { kind: 'cancel', message: 'The request expired.' }),
    );
  }

  /** True when `request` is an approval an always-rule of the conversation covers (`ask` then allows it without a card). */
  async covered(conversationId: string, request: InteractionRequest): Promise<boolean> {
    return request.kind === 'approval' && (await this.deps.store.approvalRules.covers(conversationId, request.tool, request.ruleKey));
  }

  /** A button click (identity from the platform). */
  async onAction(req: ActionRequest): Promise<ActionReply> {
    const parsed = parseActionId(req.actionId);
    const row = parsed && (await this.deps.store.interactions.get(parsed.interactionId));
    if (!parsed || !row) return { status: 'unknown', text: 'This button is no longer active.' };
    const by: Person = { id: qualify(req.platform, req.userId), name: req.userName || req.userId };
    if (row.state !== 'pending') return { status: 'decided', text: alreadyDecidedText(row) };
    if (!this.mayDecide(by, row)) {
      this.deps.logger.info({ interaction: row.id, user: by.id }, 'refused a decision: not an approver');
      return { status: 'forbidden', text: `You cannot decide this: ${decidersText(row.requester, this.deps.approvers)} can.` };
    }
    if (row.request.kind === 'plan' && parsed.choice === 'keep-planning') {
      if (await this.keepPlanning(row, by)) return { status: 'ok', text: '' };
      const now = await this.deps.store.interactions.get(row.id);
      return { status: 'decided', text: now ? alreadyDecidedText(now) : 'Already decided.' };
    }
    const decision = decisionFor(row.request, parsed.choice, by);
    if (!decision) return { status: 'unknown', text: 'This button is no longer active.' };
    if (!(await this.end(row.id, 'decided', decision, by))) {
      const now = await this.deps.store.interactions.get(row.id);
      return { status: 'decided', text: now ? alreadyDecidedText(now) : 'Already decided.' };
    }
    return { status: 'ok', text: '' };
  }

  /**
   * A message in the conversation while a question, or a plan, waits: from an approver it is
   * the answer (or the plan's feedback) and is consumed — true; otherwise false (it is a normal message).
   */
  async answerWithText(conversationId: string, author: Person, text: string): Promise<boolean> {
    const row = (await this.openForText(conversationId)).find((r) => this.mayDecide(author, r));
    if (!row) return false;
    const decision = textDecision(row.request, text);
    if (!decision) return false;
    return this.end(row.id, 'decided', decision, author);
  }

  /** The router's answer stage (./router.ts `AnswerStage`): messages that answer an open question or plan. */
  readonly answerStage = {
    wouldAnswer: async (m: InboundMessage): Promise<boolean> => {
      if (m.origin === 'scheduler' || !m.text.trim()) return false;
      const person = { id: qualify(m.platform, m.author.id), name: m.author.name };
      return (await this.openForText(m.conversationId)).some((r) => this.mayDecide(person, r));
    },
    answer: (m: InboundMessage): Promise<boolean> =>
      this.answerWithText(m.conversationId, { id: qualify(m.platform, m.author.id), name: m.author.name }, m.text),
  };

  private async openForText(conversationId: string): Promise<InteractionRow[]> {
    return (await this.deps.store.interactions.pending(conversationId)).filter((r) => r.request.kind === 'question' || r.request.kind === 'plan');
  }

  /** Pending requests of a conversation (for `status`). */
  pending(conversationId: string): Promise<InteractionRow[]> {
    return this.deps.store.interactions.pending(conversationId);
  }

  /** True when a question or plan of the conversation waits for a decision (messages may answer it). */
  async hasOpenQuestion(conversationId: string): Promise<boolean> {
    return (await this.deps.store.interactions.pending(conversationId)).some((r) => r.request.kind !== 'approval');
  }

  /**
   * At start: every request still pending was left by a process that ended; it is expired and
   * its card edited (its turn runs again through recovery). Returns how many.
   */
  async expireStale(conversationId?: string): Promise<number> {
    const stale = (await this.deps.store.interactions.pending(conversationId)).filter((r) => !this.waiters.has(r.id));
    for (const r of stale) await this.end(r.id, 'expired', null, null);
    if (stale.length) this.deps.logger.info({ count: stale.length }, 'expired approvals and questions left open by the previous run');
    return stale.length;
  }

  /** Whether `person` may decide `row` (AGENTBRIDGE_APPROVERS). */
  mayDecide(person: Person, row: Pick<InteractionRow, 'requester'>): boolean {
    const a = this.deps.approvers;
    return (
      (a.requester && row.requester !== null && row.requester.id === person.id) ||
      (a.admins && this.deps.admins.includes(person.id)) ||
      a.users.includes(person.id)
    );
  }

  /**
   * A plan kept in planning: the next message of an approver is its feedback; the card says so.
   * False (nothing changed) when the plan was no longer pending.
   */
  private async keepPlanning(row: InteractionRow, by: Person): Promise<boolean> {
    const { store } = this.deps;
    const label = await this.labelOf(row);
    const kept = await store.transaction(async (tx) => {
      // Still pending? (A decision may have ended it since it was read; its final card stays.)
      if ((await tx.interactions.get(row.id))?.state !== 'pending') return false;
      await tx.interactions.setAwaitingText(row.id, true);
      if (row.outboxId === null) return true;
      const to = await this.targetOf(row, tx);
      const text = this.fit(
        to.replyTarget,
        (max) => awaitingFeedbackText(row, label, by, max),
        `✏️ ${by.name} chose to keep planning: reply in this thread with what to change.`,
      );
      await this.deps.outbound.enqueue(to, text, { kind: 'notice', editRow: row.outboxId, actions: [], tx });
      return true;
    });
    if (kept) void this.deps.outbound.deliver(row.conversationId);
    return kept;
  }

  /**
   * Ends a pending request (first call wins), edits its card, applies what the decision implies
   * (an always-rule, a plan's mode switch) and wakes the waiting turn. False when it had already
   * ended (or was unknown). Never rejects: when the store fails, the error is logged and the
   * waiting turn goes on with the decision (or a denial).
   */
  private async end(id: string, state: Exclude<InteractionState, 'pending'>, decision: InteractionDecision | null, by: Person | null): Promise<boolean> {
    const { store, logger } = this.deps;
    const at = this.now();
    const waiter = this.waiters.get(id);
    let row: InteractionRow | undefined;
    let won: boolean;
    try {
      row = await store.interactions.get(id);
      if (!row) return false;
      const known = row;
      const label = await this.labelOf(known);
      // `finish` is a compare-and-set (UPDATE … WHERE state = 'pending'): of concurrent ends, the first wins; the rest change nothing.
      won = await store.transaction(async (tx) => {
        if (!(await tx.interactions.finish(id, state, decision, by, at))) return false;
        if (decision?.kind === 'allow' && decision.always && known.request.kind === 'approval')
          await tx.approvalRules.add({
            conversationId: known.conversationId,
            tool: known.request.tool,
            ruleKey: known.request.ruleKey ?? '',
            createdBy: by?.id ?? null,
          });
        if (decision?.kind === 'approve-plan') await tx.conversations.update(known.conversationId, { permissionMode: 'edit' });
        if (known.outboxId !== null) {
          const to = await this.targetOf(known, tx);
          const line = outcomeLine(state, decision, by, at, this.deps.timeoutMs);
          const text = this.fit(to.replyTarget, (max) => finalCardText(known, label, line, max), line);
          await this.deps.outbound.enqueue(to, text, { kind: 'notice', editRow: known.outboxId, actions: [], tx });
        }
        return true;
      });
    } catch (err) {
      logger.error({ err, interaction: id }, 'could not record the decision');
      // The turn must not hang: it goes on with the decision (or a denial), the row is expired at the next start.
      waiter?.resolve(decision ?? { kind: 'cancel', message: 'The decision could not be recorded.' });
      return false;
    }
    if (!won) return false;
    logger.info({ conversationId: row.conversationId, interaction: id, state, decision: decision?.kind, by: by?.id }, 'interaction ended');
    void this.deps.outbound.deliver(row.conversationId);
    waiter?.resolve(decision ?? { kind: 'cancel', message: 'The request expired.' });
    return true;
  }

  /**
   * A card text that renders to ONE message on the target's platform: built with a shorter
   * preview until it fits; when even a short one does not, `fallback` (when given) or the
   * shortest build (then the card spans several messages and its buttons are on the last).
   */
  private fit(target: ReplyTarget, build: (previewMax: number) => string, fallback?: string): string {
    let text = '';
    for (let max = PREVIEW_MAX_CHARS; max >= 100; max = Math.floor(max / 2)) {
      text = build(max);
      if (this.deps.outbound.messages(target.platform, text).length === 1) return text;
    }
    return fallback ?? text;
  }

  /**
   * The name of the agent that asked, for its card: the waiting turn's agent; after a restart
   * (no turn waits) the conversation's agent, else the default agent, else "The agent".
   */
  private async labelOf(row: InteractionRow): Promise<string> {
    const agent = this.waiters.get(row.id)?.ctx.agent ?? (await this.deps.store.conversations.get(row.conversationId))?.agent ?? this.deps.defaultAgent;
    return agent ? this.deps.agentLabel(agent) : 'The agent';
  }

  /** Where the card of `row` is (`row.outboxId` set); `store`: the caller's transaction. */
  private async targetOf(row: InteractionRow, store: Pick<Store, 'outbox'>): Promise<{ conversationId: string; replyTarget: ReplyTarget }> {
    const waiter = this.waiters.get(row.id);
    if (waiter) return { conversationId: row.conversationId, replyTarget: waiter.ctx.replyTarget };
    // After a restart: where the card was posted (its outbox row's target).
    const { platform, channel, thread } = (await store.outbox.get(row.outboxId!))!.target;
    return { conversationId: row.conversationId, replyTarget: { platform, channel, ...(thread ? { thread } : {}) } };
  }
}
