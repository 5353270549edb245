/**
 * Outbox delivery: every final answer (and every notice) is written to the outbox before it is
 * posted and marked posted after, so a crash or a platform outage neither drops nor repeats it
 * (docs/ARCHITECTURE.md §3, invariant 2). Rows of one conversation are delivered strictly in order; a failed delivery is
 * retried with backoff, and rows still pending at start are delivered then.
 *
 * Rows are written by the outbound path (`./outbound.ts`: rendered and chunked for the platform);
 * this module delivers them as they are. Every delivered message becomes a posted message
 * (platform + channel + message id → conversation, session entry, text, kind) — when its
 * conversation has a row: a notice outside any conversation (an access refusal before the first
 * accepted message, a restart notice for a channel) is delivered but not recorded.
 *
 * A delivery that fails on a storage fault (the database cannot be written: the local chat's post,
 * or recording the posted message) is reported to the store health and retried once the store is
 * healthy again, after a short backoff (0.5 s doubling to 5 s) — not the platform backoff. A
 * message that was posted but could not be marked posted is remembered in memory, so the retry
 * only records it instead of posting it again.
 *
 * Every post of a row carries the same idempotency key ({@link idempotencyKeyOf}), so an
 * adapter that supports one (Discord: message nonce; Slack: message metadata looked up) shows
 * the row once even when an earlier attempt created the message but its answer was lost, or the
 * process died before `markPosted`. A row that may have been posted before (it failed before, or
 * was left pending by an earlier process) is posted with `maybePostedSince` = its creation time.
 *
 * No stale progress message: when the first chunk of an answer cannot be edited into the turn's
 * progress message and is posted as a new message instead, a retire row (`target.retireRef`) is
 * enqueued in the same transaction as `markPosted`; delivering it deletes the progress message
 * (or edits it to {@link PROGRESS_RETIRED_TEXT} when the adapter cannot delete). It is retried
 * with backoff like any row, also after a restart, but a failing retire row does not hold up
 * later answers; after {@link MAX_RETIRE_ATTEMPTS} failed attempts it is given up (`failed`).
 */
import { existsSync } from 'node:fs';
import type { Logger } from '../logger.js';
import type { PlatformName } from '../core/messages.js';
import type { PlatformAdapter } from '../platforms/types.js';
import { backoffDelay, isStorageFault, type StoreHealth } from '../store/health.js';
import type { OutboxFile, OutboxRow, OutboxTarget, Store } from '../store/types.js';
import { postedMessageKey, type PostedMessageKind } from '../core/ids.js';
import type { OutgoingFiles } from '../store/outgoing-files.js';

/** Looks up the adapter that delivers to a platform; undefined when it is not running. */
export type AdapterLookup = (platform: PlatformName) => PlatformAdapter | undefined;

export interface OutboxOptions {
  store: Store;
  adapters: AdapterLookup;
  logger: Logger;
  /** A delivery attempt failed (metrics: platform API errors). */
  onDeliveryError?: (platform: PlatformName, err: unknown) => void;
  /** Delays between delivery attempts, ms; the last one repeats (default 1 s, 5 s, 15 s, 60 s, 5 min). */
  retryDelaysMs?: number[];
  /** Store health: storage faults are reported here, and their retries wait until it is healthy. */
  health?: StoreHealth;
  /** Backoff of storage-fault retries, ms (default 500 doubling to 5,000). */
  storageRetry?: { initialMs: number; maxMs: number };
  /** Copies of files sent by agents (file rows: `target.file`); without it a file row fails. */
  files?: Pick<OutgoingFiles, 'pathOf' | 'remove'>;
  /**
   * Cluster mode: a conversation's rows are delivered only under its delivery lease
   * (`store.deliveryLeases`, taken as `holder` — the instance id — for `ttlMs`, and renewed before
   * a row once a third of it has passed since it was last taken, so every row starts with at least
   * two thirds of `ttlMs` left), so two instances never post the same rows. A conversation whose
   * lease another instance holds is tried again after `busyRetryMs` (default 1 s).
   */
  lease?: { holder: string; ttlMs: number; busyRetryMs?: number };
}

const DEFAULT_RETRY_MS = [1_000, 5_000, 15_000, 60_000, 300_000];

/** Text of a retire row: what a progress message shows when it can only be edited, not deleted. */
export const PROGRESS_RETIRED_TEXT = '✅ Answered below.';
/** Failed attempts after which a retire row is given up (about 45 min with the default delays). */
export const MAX_RETIRE_ATTEMPTS = 12;

/** Delivers outbox rows through platform adapters. */
export class OutboxDelivery {
  private readonly chains = new Map<string, Promise<void>>();
  private readonly retryTimers = new Map<string, NodeJS.Timeout>();
  private readonly failures = new Map<string, number>();
  /** Storage-fault retries in a row, per conversation. */
  private readonly storageFailures = new Map<string, number>();
  /** Rows posted whose `markPosted` failed on a storage fault: row id → platform message ref. */
  private readonly postedUnrecorded = new Map<number, Delivered>();
  private stopped = false;
  private readonly retryDelaysMs: number[];
  /** Rows enqueued by this process and not attempted yet: their first post needs no lookup. */
  private readonly fresh = new Set<number>();

  constructor(private readonly opts: OutboxOptions) {
    this.retryDelaysMs = opts.retryDelaysMs ?? DEFAULT_RETRY_MS;
    // A storage fault also fails deliveries in ways the platform backoff counts (the local chat
    // stores every bot message): once the database can be written again, retry at once.
    this.unsubscribeHealth = opts.health?.onChange((healthy) => {
      if (healthy) this.retryNow();
    });
  }

  private readonly unsubscribeHealth?: () => void;

  /**
   * Cancels every scheduled retry, forgets the backoff, and delivers all pending rows now (the
   * store became healthy again). Rows of one conversation stay in order (one chain each).
   */
  retryNow(): void {
    if (this.stopped) return;
    for (const t of this.retryTimers.values()) clearTimeout(t);
    this.retryTimers.clear();
    this.failures.clear();
    this.storageFailures.clear();
    void this.deliverAll().catch((err: unknown) => this.opts.logger.error({ err }, 'outbox: retrying pending deliveries failed'));
  }

  /**
   * Writes the messages of one answer to the outbox (in one transaction with `alsoInTx`, e.g.
   * marking the inbox rows done; it gets the transaction's store and must use it) and resolves to
   * the rows. Nothing is posted yet: call {@link deliver}. Called inside a transaction of the
   * caller, pass its store `tx`: the rows are written in it (a savepoint).
   * @throws the store's error (nothing written) when the rows or `alsoInTx` fail
   */
  async enqueue(
    conversationId: string,
    target: OutboxTarget,
    texts: string[],
    sessionEntryId: number | null,
    alsoInTx?: (tx: Store) => Promise<void>,
    tx?: Store,
  ): Promise<OutboxRow[]> {
    const { actions, ...kinded }: OutboxTarget = { ...target, kind: target.kind ?? postedKind(target, sessionEntryId) };
    const rows = await (tx ?? this.opts.store).transaction(async (t) => {
      const rows: OutboxRow[] = [];
      for (const [i, text] of texts.entries()) {
        // Only the first chunk replaces the progress message and replies to the user's
        // message; the rest are plain follow-ups (no repeated reply header). A card's buttons
        // go under its last chunk.
        const base = i === 0 ? kinded : followUp(kinded);
        const withActions = actions && (i === texts.length - 1 || target.editRow !== undefined) ? { ...base, actions } : base;
        rows.push(await t.outbox.enqueue({ conversationId, target: withActions, text, sessionEntryId }));
      }
      await alsoInTx?.(t);
      return rows;
    });
    for (const row of rows) this.fresh.add(row.id);
    return rows;
  }

  /** Delivers the pending rows of `conversationId` in order; resolves when done or deferred for retry. */
  deliver(conversationId: string): Promise<void> {
    const prev = this.chains.get(conversationId) ?? Promise.resolve();
    const next = prev.then(() => this.drain(conversationId));
    this.chains.set(conversationId, next);
    // The caller gets `next` (and its error); this bookkeeping copy must not reject unhandled.
    void next
      .finally(() => {
        if (this.chains.get(conversationId) === next) this.chains.delete(conversationId);
      })
      .catch(() => {});
    return next;
  }

  /** Delivers every pending row (used at start). */
  async deliverAll(): Promise<void> {
    const ids = new Set((await this.opts.store.outbox.pending()).map((r) => r.conversationId));
    await Promise.all([...ids].map((id) => this.deliver(id)));
  }

  /** The adapter that delivers to `platform`; undefined when it is not running. */
  adapter(platform: PlatformName): PlatformAdapter | undefined {
    return this.opts.adapters(platform);
  }

  /** Number of rows waiting to be delivered. */
  pendingCount(): Promise<number> {
    return this.opts.store.outbox.pendingCount();
  }

  /** Stops retry timers; in-flight deliveries finish. */
  async stop(): Promise<void> {
    this.stopped = true;
    this.unsubscribeHealth?.();
    for (const t of this.retryTimers.values()) clearTimeout(t);
    this.retryTimers.clear();
    await Promise.allSettled([...this.chains.values()]);
  }

  private async drain(conversationId: string): Promise<void> {
    if (this.stopped) return;
    const lease = this.opts.lease;
    if (!lease) return this.drainRows(conversationId);
    const leases = this.opts.store.deliveryLeases;
    let held = false;
    try {
      // Taken (or renewed) at: measured before the query, so the lease lasts at least ttlMs from then.
      let takenAt = Date.now();
      held = await leases.take(conversationId, lease.holder, lease.ttlMs);
      if (!held) return this.scheduleBusyRetry(conversationId, lease.busyRetryMs ?? 1_000);
      const renew = async (): Promise<boolean> => {
        if (Date.now() - takenAt < lease.ttlMs / 3) return true;
        const at = Date.now();
        if (!(await leases.take(conversationId, lease.holder, lease.ttlMs))) return false;
        takenAt = at;
        return true;
      };
      await this.drainRows(conversationId, renew);
    } catch (err) {
      if (!isStorageFault(err)) throw err;
      this.opts.health?.report(err, 'outbox');
      this.scheduleStorageRetry(conversationId);
    } finally {
      if (held) await leases.release(conversationId, lease.holder).catch(() => {}); // lapses on its own otherwise
    }
  }

  /** Another instance delivers this conversation's rows now: look again shortly (its rows may not include ours). */
  private scheduleBusyRetry(conversationId: string, delayMs: number): void {
    if (this.stopped || this.retryTimers.has(conversationId)) return;
    this.deliverIn(conversationId, delayMs);
  }

  /** Delivers the conversation again after `delayMs` (one timer per conversation, unref'd). */
  private deliverIn(conversationId: string, delayMs: number): void {
    const timer = setTimeout(() => {
      this.retryTimers.delete(conversationId);
      this.deliverLogged(conversationId);
    }, delayMs);
    timer.unref();
    this.retryTimers.set(conversationId, timer);
  }

  /** Delivers the conversation's pending rows in order; `renew` (cluster mode: the lease still ours, renewed when due) must succeed before each row is posted. */
  private async drainRows(conversationId: string, renew?: () => Promise<boolean>): Promise<void> {
    try {
      const rows = await this.opts.store.outbox.pendingFor(conversationId);
      let retireFailed = false;
      for (const row of rows) {
        if (renew && !(await renew())) return this.scheduleBusyRetry(conversationId, this.opts.lease?.busyRetryMs ?? 1_000);
        const ok = await this.deliverRow(row);
        if (ok) continue;
        if (row.target.retireRef) {
          retireFailed = true; // a progress message to clean up: later answers need not wait for it
          continue;
        }
        this.scheduleRetry(conversationId);
        return; // keep order: later rows wait for this one
      }
      // Retire rows enqueued while draining (an answer posted instead of edited) go out now.
      if (!retireFailed && (await this.opts.store.outbox.pendingFor(conversationId)).some((r) => r.target.retireRef && !rows.some((x) => x.id === r.id))) {
        return await this.drainRows(conversationId, renew);
      }
      if (retireFailed) this.scheduleRetry(conversationId);
      else this.failures.delete(conversationId);
    } catch (err) {
      if (!isStorageFault(err)) throw err;
      this.opts.health?.report(err, 'outbox');
      this.opts.logger.warn(
        { conversationId, err: err instanceof Error ? err.message : String(err) },
        'outbox: storage fault; delivery retried once the database can be written',
      );
      this.scheduleStorageRetry(conversationId);
      return;
    }
    this.storageFailures.delete(conversationId);
  }

  /**
   * Delivers one row. False: a platform failure (retried with the platform backoff). Throws
   * storage faults; a message posted but not recorded is remembered and recorded on the retry.
   */
  private async deliverRow(row: OutboxRow): Promise<boolean> {
    const { store, adapters, logger } = this.opts;
    let delivered = this.postedUnrecorded.get(row.id);
    if (delivered === undefined) {
      const adapter = adapters(row.target.platform);
      if (!adapter) {
        logger.warn({ outboxId: row.id, platform: row.target.platform }, 'outbox: platform not running; answer kept for later');
        return false;
      }
      const maybePosted = row.attempts > 0 || !this.fresh.has(row.id);
      this.fresh.delete(row.id);
      try {
        if (row.target.editRow !== undefined) {
          const card = await store.outbox.get(row.target.editRow);
          if (!card?.postedRef) {
            // The card was never posted (it failed for good): nothing to edit.
            logger.warn({ outboxId: row.id, card: row.target.editRow }, 'outbox: the card to edit was never posted; edit dropped');
            await store.outbox.markAttemptFailed(row.id, 'card never posted', true);
            return true;
          }
          const text = row.target.unrendered ? adapter.render(row.text) : row.text;
          await adapter.edit(withoutEdit(row.target), card.postedRef, text, { actions: row.target.actions ?? [] });
          delivered = { ref: card.postedRef };
        } else {
          delivered = row.target.retireRef
            ? await retire(adapter, row, row.target.retireRef)
            : row.target.file
              ? await postFile(adapter, row, row.target.file, maybePosted, this.opts.files)
              : await postOrEdit(adapter, row, maybePosted, logger);
        }
      } catch (err) {
        if (isStorageFault(err)) throw err; // e.g. the local chat could not store the message
        const message = err instanceof Error ? err.message : String(err);
        this.opts.onDeliveryError?.(row.target.platform, err);
        // A file whose copy is gone can never be posted: give it up rather than hold up the conversation.
        // Cluster mode: the copy is in the data directory of the instance that took the file, which
        // delivers it once it holds the delivery lease — given up only after as many attempts as a retire row.
        const copyGone = err instanceof FileCopyGone && (!this.opts.lease || row.attempts + 1 >= MAX_RETIRE_ATTEMPTS);
        const giveUp = (row.target.retireRef !== undefined && row.attempts + 1 >= MAX_RETIRE_ATTEMPTS) || copyGone;
        await store.outbox.markAttemptFailed(row.id, message, giveUp);
        if (giveUp)
          logger.error({ outboxId: row.id, conversationId: row.conversationId, err: message }, 'outbox: could not retire the progress message; giving up');
        else
          logger.warn(
            { outboxId: row.id, conversationId: row.conversationId, err: message, attempts: row.attempts + 1 },
            'outbox: delivery failed; will retry',
          );
        return false;
      }
    }
    const done = delivered;
    try {
      await store.transaction(async (tx) => {
        if (row.target.retireRef) {
          // No longer a progress message: a restart must not retire it again.
          if (await tx.conversations.get(row.conversationId))
            await tx.postedMessages.record({
              key: postedMessageKey(row.target.platform, row.target.channel, done.ref),
              conversationId: row.conversationId,
              sessionEntryId: null,
              platformMessageRef: done.ref,
              assistantText: done.how === 'deleted' ? '' : row.text,
              kind: 'notice',
            });
          await tx.outbox.markPosted(row.id, done.ref);
          return;
        }
        if (done.unedited) {
          // The progress message still shows "Working…" (or an old text): retire it, durably.
          await tx.outbox.enqueue({
            conversationId: row.conversationId,
            target: { ...followUp(row.target), retireRef: done.unedited },
            text: PROGRESS_RETIRED_TEXT,
            sessionEntryId: null,
          });
        }
        if (await tx.conversations.get(row.conversationId))
          await tx.postedMessages.record({
            key: postedMessageKey(row.target.platform, row.target.channel, done.ref),
            conversationId: row.conversationId,
            sessionEntryId: row.sessionEntryId,
            platformMessageRef: done.ref,
            assistantText: row.text,
            kind: postedKind(row.target, row.sessionEntryId),
          });
        await tx.outbox.markPosted(row.id, done.ref);
      });
    } catch (err) {
      if (isStorageFault(err)) this.postedUnrecorded.set(row.id, done);
      throw err;
    }
    this.postedUnrecorded.delete(row.id);
    if (row.target.file) await this.dropCopy(row.target.file.id);
    if (row.target.retireRef)
      logger.info({ outboxId: row.id, conversationId: row.conversationId, ref: done.ref, how: done.how }, 'outbox: stale progress message retired');
    return true;
  }

  /** Deletes a delivered file's copy unless a pending row still posts the same bytes. */
  private async dropCopy(id: string): Promise<void> {
    const { files, store, logger } = this.opts;
    if (!files || (await store.outbox.pending()).some((r) => r.target.file?.id === id)) return;
    try {
      files.remove(id);
    } catch (err) {
      logger.warn({ file: id, err: err instanceof Error ? err.message : String(err) }, 'outbox: could not delete a delivered file copy; db prune removes it');
    }
  }

  /** {@link deliver} in the background (a retry); a failure is logged. */
  private deliverLogged(conversationId: string): void {
    void this.deliver(conversationId).catch((err: unknown) => this.opts.logger.error({ err, conversationId }, 'outbox: delivery failed'));
  }

  private scheduleRetry(conversationId: string): void {
    if (this.stopped || this.retryTimers.has(conversationId)) return;
    const n = this.failures.get(conversationId) ?? 0;
    this.failures.set(conversationId, n + 1);
    this.deliverIn(conversationId, this.retryDelaysMs[Math.min(n, this.retryDelaysMs.length - 1)] ?? 60_000);
  }

  /** After a storage fault: a short backoff, then once the store is healthy, delivers again. */
  private scheduleStorageRetry(conversationId: string): void {
    if (this.stopped || this.retryTimers.has(conversationId)) return;
    const n = this.storageFailures.get(conversationId) ?? 0;
    this.storageFailures.set(conversationId, n + 1);
    const { initialMs, maxMs } = this.opts.storageRetry ?? { initialMs: 500, maxMs: 5_000 };
    const timer = setTimeout(
      () => {
        void (this.opts.health?.whenHealthy() ?? Promise.resolve()).then(() => {
          if (this.retryTimers.get(conversationId) !== timer) return; // stopped meanwhile
          this.retryTimers.delete(conversationId);
          this.deliverLogged(conversationId);
        });
      },
      backoffDelay(n, initialMs, maxMs),
    );
    timer.unref();
    this.retryTimers.set(conversationId, timer);
  }
}

/** What one delivery did: the message id; for a post made instead of an edit, the message left unedited. */
interface Delivered {
  ref: string;
  unedited?: string;
  how?: 'deleted' | 'edited';
}

/**
 * Edits the progress message when the row names one, else (or when the edit fails) posts. With
 * `maybePosted`, the post asks the adapter to look for an earlier attempt first.
 */
async function postOrEdit(adapter: PlatformAdapter, row: OutboxRow, maybePosted: boolean, logger: Logger): Promise<Delivered> {
  const { editRef } = row.target;
  // Written while the platform was down (conversation/outbound.ts): rendered now, mentions neutralised.
  const text = row.target.unrendered ? adapter.render(row.text) : row.text;
  if (editRef) {
    try {
      await adapter.edit(withoutEdit(row.target), editRef, text);
      return { ref: editRef };
    } catch (err) {
      logger.warn({ outboxId: row.id, err: err instanceof Error ? err.message : String(err) }, 'outbox: editing the progress message failed; posting instead');
    }
  }
  const posted = await adapter.post(withoutEdit(row.target), text, {
    idempotencyKey: idempotencyKeyOf(row),
    ...(row.target.actions?.length ? { actions: row.target.actions } : {}),
    ...(maybePosted ? { maybePostedSince: row.createdAt } : {}),
  });
  return { ref: posted.ref, ...(editRef ? { unedited: editRef } : {}) };
}

/** The data directory no longer holds a file row's copy (deleted by hand): the row is given up. */
class FileCopyGone extends Error {
  override readonly name = 'FileCopyGone';
}

/**
 * Posts the file of a file row (its copy in the data directory) with the row's text as the
 * comment, under the row's idempotency key (an adapter that can find an earlier upload shows it
 * once). @throws when the adapter posts no files, the copy is gone, or the platform fails.
 */
async function postFile(adapter: PlatformAdapter, row: OutboxRow, file: OutboxFile, maybePosted: boolean, files: OutboxOptions['files']): Promise<Delivered> {
  if (!adapter.postFile) throw new Error(`${adapter.name} cannot post files`);
  if (!files) throw new Error('no store of outgoing files');
  if (!existsSync(files.pathOf(file.id))) throw new FileCopyGone(`the copy of ${file.name} is gone from the data directory`);
  const text = row.target.unrendered ? adapter.render(row.text) : row.text;
  const posted = await adapter.postFile(
    withoutEdit(row.target),
    { path: files.pathOf(file.id), name: file.name, size: file.size },
    {
      idempotencyKey: idempotencyKeyOf(row),
      ...(text ? { comment: text } : {}),
      ...(maybePosted ? { maybePostedSince: row.createdAt } : {}),
    },
  );
  return { ref: posted.ref };
}

/**
 * Retires a progress message: deletes it, or — when the adapter cannot delete or the delete
 * fails — edits it to the row's text. @throws the delete's (or edit's) error when neither worked.
 */
async function retire(adapter: PlatformAdapter, row: OutboxRow, ref: string): Promise<Delivered> {
  const target = withoutEdit(row.target);
  const { retireRef: _r, ...plain } = target;
  let deleteError: unknown;
  if (adapter.delete) {
    try {
      await adapter.delete(plain, ref);
      return { ref, how: 'deleted' };
    } catch (err) {
      deleteError = err;
    }
  }
  try {
    await adapter.edit(plain, ref, row.text);
    return { ref, how: 'edited' };
  } catch (err) {
    throw deleteError ?? err;
  }
}

/**
 * The idempotency key of an outbox row's post: `ab-o<row id>-<created at, ms, base 36>`, e.g.
 * `ab-o42-mbx3k9q1` (14 characters plus the id's digits: within Discord's 25 up to 11-digit ids).
 * Row ids never repeat within a database (`AUTOINCREMENT`); the creation time keeps a new
 * database's row 1 (the old one deleted and started again within minutes) from matching the old
 * row 1 — which Discord would answer with the old message instead of posting the new one.
 */
export function idempotencyKeyOf(row: Pick<OutboxRow, 'id' | 'createdAt'>): string {
  return `ab-o${row.id}-${row.createdAt.toString(36)}`;
}

/** The kind a delivered row is recorded with: its target's, else `answer` for a turn's answer (it has a session entry), else `notice`. */
function postedKind(target: OutboxTarget, sessionEntryId: number | null): Exclude<PostedMessageKind, 'progress'> {
  return target.kind ?? (sessionEntryId !== null ? 'answer' : 'notice');
}

function followUp(target: OutboxTarget): OutboxTarget {
  const { editRef: _edit, replyTo: _reply, actions: _actions, ...rest } = target;
  return rest;
}

function withoutEdit(target: OutboxTarget): OutboxTarget {
  const { editRef: _drop, unrendered: _unrendered, actions: _actions, editRow: _editRow, file: _file, ...rest } = target;
  return rest;
}
