/**
 * What a person sees while one turn runs: a progress message posted at the start of the turn
 * and edited in place (throttled to the platform's edit rate), the platform's reaction and
 * status indicators. The final answer replaces the progress message through the outbound path
 * (`./outbound.ts`, `editRef` = {@link TurnOutput.ref}).
 */
import type { Logger } from '../logger.js';
import type { ReplyTarget } from '../core/messages.js';
import type { PlatformAdapter, ReactionState } from '../platforms/types.js';
import type { RunEvent } from '../runners/types.js';
import type { Store } from '../store/types.js';
import { postedMessageKey } from '../core/ids.js';
import { ProgressView } from './progress.js';
import { EditThrottle } from './throttle.js';

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

  constructor(private readonly o: TurnOutputOptions) {
    this.now = o.now ?? Date.now;
    this.progressRef = o.progressRef;
    this.view = new ProgressView({ now: this.now, maxChars: Math.min(1500, o.adapter.limits.maxMessageChars) });
  }

  /** Platform message id of the progress message, once posted. */
  get ref(): string | undefined {
    return this.progressRef;
  }

  /** Posts the progress message (or edits the one of an earlier attempt) and sets the working indicators. */
  async begin(): Promise<void> {
    const { adapter, target, store, conversationId } = this.o;
    await Promise.all([this.react('working'), this.safe('setStatus', () => adapter.setStatus?.(target, 'is working…'))]);
    const text = this.progressText();
    const reused = this.o.progressRef;
    let ref: string;
    try {
      if (reused) {
        await adapter.edit(target, reused, text);
        ref = reused;
      } else {
        ref = (await adapter.post(target, text)).ref;
      }
    } catch (err) {
      // No progress message: the answer is still delivered as new messages.
      this.o.logger.warn({ err: String(err), conversationId }, 'could not post the progress message');
      this.progressRef = reused; // an earlier attempt's message is still the one to replace
      return;
    }
    this.progressRef = ref;
    this.throttle = new EditThrottle({
      minIntervalMs: adapter.limits.minEditIntervalMs,
      send: (t: string) => adapter.edit(target, ref, t),
      onError: (err: unknown) => this.o.logger.warn({ err: String(err), conversationId }, 'progress edit failed'),
    });
    if (reused) return; // recorded by the earlier attempt
    try {
      store.postedMessages.record({
        key: postedMessageKey(target.platform, target.channel, ref),
        conversationId,
        sessionEntryId: null,
        platformMessageRef: ref,
        assistantText: text,
        kind: 'progress',
      });
    } catch (err) {
      this.o.logger.warn({ err: String(err), conversationId }, 'could not record the progress message');
    }
  }

  /** Feeds a runner event into the progress view; schedules a throttled edit when it changed. */
  onEvent(event: RunEvent): void {
    if (this.view.apply(event)) this.throttle?.update(this.progressText());
  }

  /** The progress text with mentions neutralised: it shows the agent's streamed text (docs/ARCHITECTURE.md §3, invariant 6). */
  private progressText(): string {
    const text = this.view.render();
    return this.o.adapter.neutraliseMentions(text);
  }

  /** Stops progress edits (waits for an in-flight edit) before the final answer replaces it. */
  async end(outcome: ReactionState): Promise<void> {
    await this.throttle?.close();
    const { adapter, target } = this.o;
    await Promise.all([this.react(outcome), this.safe('setStatus', () => adapter.setStatus?.(target, null))]);
  }

  private async react(state: ReactionState): Promise<void> {
    const { adapter, target } = this.o;
    if (!adapter.react) return;
    for (const ref of this.o.messageRefs) await this.safe('react', () => adapter.react!(target, ref, state));
  }

  private async safe(what: string, fn: () => Promise<void> | undefined): Promise<void> {
    try {
      await fn();
    } catch (err) {
      this.o.logger.warn({ err: String(err), conversationId: this.o.conversationId }, `${what} failed`);
    }
  }
}
