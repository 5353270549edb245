/**
 * What a person sees while one turn runs: a progress message posted at the start of the turn
 * and edited in place (throttled to the platform's edit rate), the platform's reaction and
 * status indicators. The final answer replaces the progress message through the outbound path
 * (`./outbound.ts`, `editRef` = {@link TurnOutput.ref}).
 *
 * None of it is on the turn's critical path (docs/ARCHITECTURE.md §1.4):
 * - {@link TurnOutput.begin} only starts the 👀 reaction and the progress post — as decoration in
 *   the adapter's Web API budget — and returns at once, so the agent starts right after the inbox
 *   write;
 * - {@link TurnOutput.settle} (before the answer) drops decoration still waiting and waits only for
 *   calls already on the wire, so the answer can replace the progress message (or is posted as a
 *   new message when the progress message never got out);
 * - {@link TurnOutput.finish} (after the answer was handed to the platform) adds ✅/❌ in the
 *   background.
 * A status indicator is set only while no progress message is visible (its post failed or was
 * dropped): a reply clears it on Slack and Discord.
 */
import type { Logger } from '../logger.js';
import type { ReplyTarget } from '../core/messages.js';
import type { PlatformAdapter, ReactionState } from '../platforms/types.js';
import { isDroppedCall } from '../platforms/budget.js';
import type { RunEvent } from '../runners/types.js';
import type { Store } from '../store/types.js';
import { ProgressView } from './progress.js';
import { EditThrottle } from './throttle.js';
import { recordProgressMessage } from './progress-record.js';

/** How often the progress message's elapsed time is brought up to date while nothing else changes, ms. */
export const ELAPSED_TICK_MS = 5_000;

export interface TurnOutputOptions {
  adapter: PlatformAdapter;
  target: ReplyTarget;
  conversationId: string;
  store: Pick<Store, 'postedMessages'>;
  logger: Logger;
  /** Platform message ids of the users' messages (for reactions). */
  messageRefs: string[];
  now?: () => number;
  /** Progress message of an earlier attempt of the same turn: edited by `begin()` instead of posting a new one. */
  progressRef?: string;
}

/** Progress and indicators of one turn. All platform calls are best effort: failures are logged. */
export class TurnOutput {
  private progressRef?: string;
  private throttle?: EditThrottle;
  private readonly view: ProgressView;
  private readonly now: () => number;
  /** Aborted by {@link settle}: decoration still waiting in the budget is dropped. */
  private readonly decoration = new AbortController();
  /** The progress post (or the first edit of an earlier attempt's message), started by begin(). */
  private posting?: Promise<void>;
  private statusSet = false;
  /** The view changed before progress edits could start (while the message was being posted). */
  private changedBeforeEdits = false;
  /** Advances the elapsed time in the message while nothing else changes. */
  private ticker?: NodeJS.Timeout;

  constructor(private readonly o: TurnOutputOptions) {
    this.now = o.now ?? Date.now;
    this.progressRef = o.progressRef;
    this.view = new ProgressView({ now: this.now, maxChars: Math.min(1500, o.adapter.limits.maxMessageChars) });
  }

  /** Platform message id of the progress message, once posted. */
  get ref(): string | undefined {
    return this.progressRef;
  }

  /**
   * Starts the progress post (or the edit of an earlier attempt's or the queued progress message)
   * in the background and returns at once. Never throws.
   */
  begin(): void {
    // 👀 was added when the messages were taken (Bridge.enqueue).
    this.posting = this.postProgress();
  }

  private async postProgress(): Promise<void> {
    const { adapter, target, store, conversationId } = this.o;
    const text = this.progressText();
    const reused = this.o.progressRef;
    const decoration = { signal: this.decoration.signal };
    let ref: string;
    try {
      if (reused) {
        await adapter.edit(target, reused, text, { decoration });
        ref = reused;
      } else {
        ref = (await adapter.post(target, text, { decoration })).ref;
      }
    } catch (err) {
      // No progress message: the answer is still delivered as a new message.
      if (isDroppedCall(err)) this.o.logger.debug({ conversationId }, 'progress message not posted (the answer came first)');
      else this.o.logger.warn({ err: String(err), conversationId }, 'could not post the progress message');
      this.progressRef = reused; // an earlier attempt's message is still the one to replace
      if (!reused && !this.decoration.signal.aborted) void this.status('is working…');
      return;
    }
    this.progressRef = ref;
    // Not when the turn ended while the message was being posted: the answer replaces it now.
    if (!this.decoration.signal.aborted) this.startEdits(ref, text);
    if (reused) return; // recorded by the earlier attempt
    await recordProgressMessage(store, this.o.logger, { target, conversationId, ref, text });
  }

  private startEdits(ref: string, text: string): void {
    const { adapter, target, conversationId } = this.o;
    const decoration = { signal: this.decoration.signal };
    this.throttle = new EditThrottle({
      minIntervalMs: adapter.limits.minEditIntervalMs,
      initialText: text,
      lastSentAt: Date.now(), // the throttle measures with its own clock (Date.now)
      send: (t: string) => adapter.edit(target, ref, t, { decoration }),
      onError: (err: unknown) => {
        if (!isDroppedCall(err)) this.o.logger.warn({ err: String(err), conversationId }, 'progress edit failed');
      },
    });
    // Steps or text that came while the message was being posted.
    if (this.changedBeforeEdits) this.throttle.update(this.progressText());
    // The elapsed time moves on even when the agent is quiet (a frozen "elapsed 0 s" looks hung);
    // the throttle and the budget keep it within the platform's limits.
    this.ticker = setInterval(() => this.throttle?.update(this.progressText()), Math.max(ELAPSED_TICK_MS, adapter.limits.minEditIntervalMs));
    this.ticker.unref();
  }

  /** Feeds a runner event into the progress view; schedules a throttled edit when it changed. */
  onEvent(event: RunEvent): void {
    if (!this.view.apply(event)) return;
    if (this.throttle) this.throttle.update(this.progressText());
    else this.changedBeforeEdits = true;
  }

  /** The progress text with mentions neutralised: it shows the agent's streamed text (docs/ARCHITECTURE.md §3, invariant 6). */
  private progressText(): string {
    const text = this.view.render();
    return this.o.adapter.neutraliseMentions(text);
  }

  /**
   * Before the answer replaces the progress message: drops the progress post and edits still
   * waiting in the budget and waits for those already sent (at most one round trip), so that
   * {@link ref} is final and no progress edit lands after the answer. Never throws.
   */
  async settle(): Promise<void> {
    this.decoration.abort();
    clearInterval(this.ticker);
    await this.posting;
    await this.throttle?.close();
  }

  /** After the answer was delivered: ✅/❌ (and the status cleared) in the background. Never throws. */
  finish(outcome: ReactionState): void {
    void this.react(outcome);
    if (this.statusSet) void this.safe('setStatus', () => this.o.adapter.setStatus?.(this.o.target, null));
  }

  private async status(text: string): Promise<void> {
    if (!this.o.adapter.setStatus) return;
    this.statusSet = true;
    await this.safe('setStatus', () => this.o.adapter.setStatus?.(this.o.target, text));
  }

  private async react(state: ReactionState): Promise<void> {
    const { adapter, target } = this.o;
    if (!adapter.react) return;
    await Promise.all(this.o.messageRefs.map((ref) => this.safe('react', () => adapter.react!(target, ref, state))));
  }

  private async safe(what: string, fn: () => Promise<void> | undefined): Promise<void> {
    try {
      await fn();
    } catch (err) {
      this.o.logger.warn({ err: String(err), conversationId: this.o.conversationId }, `${what} failed`);
    }
  }
}
