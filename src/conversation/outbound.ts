/**
 * The one outbound path: every message agentbridge posts in a conversation — a turn's answer,
 * command replies, access refusals, restart and interruption notices, the agent's
 * `post_message`, scheduler notices — goes through {@link Outbound.say} (or
 * {@link Outbound.enqueue} plus {@link Outbound.deliver} when the caller must note that the rows
 * are stored before delivering them, like a turn).
 *
 * `say` renders the Markdown with the platform adapter (`PlatformAdapter.render`: the platform's
 * format, mentions neutralised — invariant 6), chunks it to the platform's message limit (fenced
 * code blocks closed and reopened across chunks; `platforms/render.ts`), writes the chunks to the
 * outbox in one transaction (with the caller's own bookkeeping, `alsoInTx`), and delivers them:
 * durable, in order per conversation, each posted once (docs/ARCHITECTURE.md §3, invariant 2; `./outbox.ts`). Each
 * delivered chunk becomes a posted message of the given kind.
 *
 * Not through here: the progress message (posted and edited in place by `./turn-output.ts`, its
 * text neutralised with `PlatformAdapter.neutraliseMentions`), and slash-command responses
 * Slack and Discord require within 3 s (possibly ephemeral; sent by the adapters, rendered by
 * the same `render()` through `platforms/render.ts`). Posts here are never ephemeral: a reply to
 * a command written as a message is posted in its conversation for everyone.
 */
import type { CardAction } from '../core/interactions.js';
import type { ReplyTarget } from '../core/messages.js';
import type { PostedMessageKind } from '../core/ids.js';
import { chunkMarkdown } from '../core/chunk.js';
import { platformModule } from '../platforms/registry.js';
import { renderMessages } from '../platforms/render.js';
import type { OutboxFile, OutboxRow, Store } from '../store/types.js';
import type { OutboxDelivery } from './outbox.js';

/** Where a message goes: the conversation it belongs to (outbox order) and its reply target. An `InboundMessage` is one. */
export interface OutboundTarget {
  /** Conversation id; rows of one conversation are delivered in order. Need not have a conversation row (see outbox.ts). */
  conversationId: string;
  replyTarget: ReplyTarget;
}

/**
 * The outbox key of a notice that belongs to no conversation (e.g. a restart asked for with a
 * slash command in a channel): `notice:<platform>:<channel>[:<thread>]`. It only orders the
 * outbox rows of that place; no conversation row has it, so the post is not recorded as a
 * posted message.
 */
export function placeKey(target: ReplyTarget): string {
  return `notice:${target.platform}:${target.channel}${target.thread ? `:${target.thread}` : ''}`;
}

/** Options of {@link Outbound.say} and {@link Outbound.enqueue}. */
export interface SayOptions {
  /** The posted-message kind: `answer` (a turn's answer) or `notice` (default: `answer` with a `sessionEntryId`, else `notice`). */
  kind?: Exclude<PostedMessageKind, 'progress'>;
  /** The transcript entry an answer belongs to (thread seeding, posted messages); null/absent for notices. */
  sessionEntryId?: number | null;
  /** A message the bot posted (the turn's progress message) that the first chunk replaces by an edit. */
  editRef?: string;
  /**
   * A progress message to retire instead of posting: the row deletes it, or edits it to the
   * (one-chunk) text when the adapter cannot delete (outbox.ts, retire rows).
   */
  retireRef?: string;
  /**
   * Runs inside the transaction that writes the rows (after them), given that transaction's store
   * `tx` — every store call of it must go through `tx` (pass `{ tx }` to a nested `enqueue`):
   * bookkeeping that must commit with the message or not at all (closing inbox rows, clearing a
   * restart request, more rows). A rejection rolls the rows back and is rethrown.
   */
  alsoInTx?: (tx: Store) => Promise<void>;
  /**
   * The caller's open transaction (its store `tx`), when `enqueue` is called inside one (e.g. in
   * another `alsoInTx`): the rows are written in it, as a savepoint, and commit with it. Absent:
   * the rows get a transaction of their own (then `enqueue` must not be called inside a
   * transaction — the store refuses it with `StoreMisuseError`).
   */
  tx?: Store;
  /** Posted when the Markdown renders to nothing (default {@link EMPTY_TEXT}). */
  emptyText?: string;
  /** Buttons under the message (a card; on an `editRow` edit: the buttons after it, none when absent). */
  actions?: CardAction[];
  /**
   * Edit the message posted for this outbox row (a card) instead of posting: the Markdown must
   * render to one message (only the first chunk is used).
   */
  editRow?: number;
}

/**
 * Chunk size for Markdown kept while `platform` is not running: 90 % of its message limit, so
 * the rendering done at delivery (escapes, neutralised mentions) still fits. Characters.
 */
function unrenderedChunkChars(platform: string): number {
  const limit = platformModule(platform)?.limits.maxMessageChars ?? 2_000;
  return Math.floor(limit * 0.9);
}

/** What is posted for a message that renders to nothing (empty or whitespace only). */
export const EMPTY_TEXT = '(empty message)';

/** What the outbound path needs of the outbox: writing rows, delivering them, and the platform adapters. */
export type OutboundOutbox = Pick<OutboxDelivery, 'enqueue' | 'deliver' | 'adapter'>;

/** The outbound path on top of an {@link OutboxDelivery} (stateless; make one per outbox, or several). */
export class Outbound {
  constructor(private readonly outbox: OutboundOutbox) {}

  /**
   * The messages `markdown` becomes on `platform`: rendered by its adapter and chunked to its
   * limit; `[emptyText]` when nothing is left. While the platform is not running (no adapter):
   * the Markdown chunked to 90 % of the platform's limit, its rows marked `unrendered` and
   * rendered by the outbox when they are delivered (mentions are neutralised either way).
   */
  messages(platform: ReplyTarget['platform'], markdown: string, emptyText = EMPTY_TEXT): string[] {
    const adapter = this.outbox.adapter(platform);
    const chunks = adapter ? renderMessages(adapter, markdown) : chunkMarkdown(markdown, unrenderedChunkChars(platform));
    return chunks.length ? chunks : [emptyText];
  }

  /**
   * Renders and writes `markdown` to the outbox (one row per chunk, one transaction with
   * `options.alsoInTx`; inside `options.tx` when given) without delivering it; resolves to the
   * rows. Call {@link deliver} after.
   * @throws the store's error (e.g. `SqliteError` SQLITE_FULL) when the rows cannot be written;
   *   nothing was written then.
   */
  async enqueue(target: OutboundTarget, markdown: string, options: SayOptions = {}): Promise<OutboxRow[]> {
    const sessionEntryId = options.sessionEntryId ?? null;
    const kind = options.kind ?? (sessionEntryId !== null ? 'answer' : 'notice');
    const all = this.messages(target.replyTarget.platform, markdown, options.emptyText);
    const texts = options.editRow !== undefined ? all.slice(0, 1) : all;
    const unrendered = !this.reachable(target.replyTarget.platform);
    return this.outbox.enqueue(
      target.conversationId,
      {
        ...target.replyTarget,
        kind,
        ...(options.editRef ? { editRef: options.editRef } : {}),
        ...(options.retireRef ? { retireRef: options.retireRef } : {}),
        ...(unrendered ? { unrendered } : {}),
        ...(options.actions ? { actions: options.actions } : {}),
        ...(options.editRow !== undefined ? { editRow: options.editRow } : {}),
      },
      texts,
      sessionEntryId,
      options.alsoInTx,
      options.tx,
    );
  }

  /**
   * Posts `markdown` in the conversation: {@link enqueue}, then {@link deliver}. Resolves once
   * delivered or deferred for a retry (a platform failure is retried by the outbox, also after
   * a restart); returns the rows written.
   * @throws like {@link enqueue} when the rows cannot be written (then nothing is posted).
   */
  async say(target: OutboundTarget, markdown: string, options: SayOptions = {}): Promise<OutboxRow[]> {
    const rows = await this.enqueue(target, markdown, options);
    await this.outbox.deliver(target.conversationId);
    return rows;
  }

  /**
   * Writes one outbox row that posts a file (`target.file`: the copy already in the data
   * directory, `src/store/outgoing-files.ts`) with `comment` rendered for the platform as its text,
   * in one transaction with `options.alsoInTx` (inside `options.tx` when given, as in
   * {@link enqueue}); resolves to the row. Nothing is posted yet: call {@link deliver}.
   * @param comment Markdown shown with the file; at most one message long (longer is cut).
   * @throws like {@link enqueue} when the row cannot be written.
   */
  async enqueueFile(target: OutboundTarget, file: OutboxFile, comment = '', options: Pick<SayOptions, 'alsoInTx' | 'tx'> = {}): Promise<OutboxRow> {
    const platform = target.replyTarget.platform;
    const unrendered = !this.reachable(platform);
    const text = comment.trim() ? (this.messages(platform, comment)[0] ?? '') : '';
    const [row] = await this.outbox.enqueue(
      target.conversationId,
      { ...target.replyTarget, kind: 'notice', file, ...(unrendered ? { unrendered } : {}) },
      [text],
      null,
      options.alsoInTx,
      options.tx,
    );
    return row!;
  }

  /**
   * Posts a file (the agent's `send_file`, the patch of `/agent diff`): {@link enqueueFile}, then
   * delivers it like any row (once, in order, retried also after a restart).
   * @param comment Markdown shown with the file; at most one message long (longer is cut).
   * @throws like {@link enqueue} when the row cannot be written.
   */
  async sendFile(target: OutboundTarget, file: OutboxFile, comment = ''): Promise<OutboxRow> {
    const row = await this.enqueueFile(target, file, comment);
    await this.outbox.deliver(target.conversationId);
    return row;
  }

  /** True when `platform`'s adapter runs here (a post is delivered now, not kept until it runs again). */
  reachable(platform: ReplyTarget['platform']): boolean {
    return this.outbox.adapter(platform) !== undefined;
  }

  /** Delivers the conversation's pending rows in order (see {@link OutboxDelivery.deliver}). */
  deliver(conversationId: string): Promise<void> {
    return this.outbox.deliver(conversationId);
  }
}
