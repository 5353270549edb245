/**
 * The local web chat platform: a small Slack-like chat served by agentbridge itself.
 *
 * Channels hold threads; every top-level message starts a thread (its id is the thread id)
 * and each thread is one conversation (`local:<channel>:<thread>`). Messages live in the
 * store's {@link LocalMessagesRepo}; the page gets live updates over Server-Sent Events.
 * A thread whose first message is the bot's (a cron post) is seeded like a Slack or Discord thread
 * on a bot message: the first reply in it carries `seedFrom` (see {@link LocalAdapter.receive}).
 * Routes: see `./api.ts`. The routes are registered when the adapter is constructed; a
 * message posted before `start()` or after `stop()` is refused with 503.
 */
import type { Logger } from '../../logger.js';
import type { HttpServer } from '../../http/server.js';
import { HttpError } from '../../http/json.js';
import type { LocalMessageRow, LocalMessagesRepo, LocalUploadsRepo } from '../../store/types.js';
import { StoreUnavailableError } from '../../store/health.js';
import type { InboundFile, InboundMessage, ReplyTarget } from '../../core/messages.js';
import { parseActionId } from '../../core/interactions.js';
import { postedMessageKey } from '../../core/ids.js';
import type {
  AcceptHooks,
  AdapterContext,
  EditOptions,
  InboundSink,
  OutgoingFile,
  PlatformAdapter,
  PlatformLimits,
  PostedMessage,
  PostFileOptions,
  PostOptions,
  ReactionState,
} from '../types.js';
import { mimeTypeOf, type LocalFiles } from './files.js';
import { actionAnswer, checkCardActions, type ActionHttpAnswer } from './actions.js';
import { registerLocalRoutes, toApiMessage, type LocalActionInput, type LocalApiBackend, type LocalPostInput } from './api.js';
import type { LocalAuth } from './auth.js';
import { LocalEventHub, type LocalEventRelay, type PeerStoppedNotice, type PeerStoppingNotice } from './events.js';
import { localThreadsOf, peerStoppedStatus, peerStoppingStatus } from './peer-restart.js';
import { CHANNEL_PATTERN, createMessageIdGenerator, localConversationId } from './ids.js';
import { LOCAL_LIMITS } from './limits.js';
import { uploadUrl, type LocalUploads } from './uploads.js';

export interface LocalAdapterOptions {
  repo: LocalMessagesRepo;
  /** The shared server; the adapter registers its routes on it. */
  http: HttpServer;
  logger: Logger;
  /** Display name of the bot's messages (default "agentbridge"). */
  botName?: string;
  /** Interval of the SSE comment heartbeat, in ms (default 15,000). */
  heartbeatMs?: number;
  /** The login (`./auth.ts`); without it the body's `user` names the author and nobody logs in. */
  auth?: LocalAuth;
  /** Where files of bot messages are kept (`./files.ts`); without it the adapter posts no files. */
  files?: LocalFiles;
  /** Largest file posted or uploaded, bytes (AGENTBRIDGE_MAX_FILE_MB; default `LOCAL_LIMITS.maxFileBytes`, 25 MiB). */
  maxFileBytes?: number;
  /** The uploads people send with messages (`./uploads.ts`); without it nobody can attach files. */
  uploads?: LocalUploads;
  /**
   * Cluster mode: carries this chat's live events to the pages connected to other instances and
   * theirs to this one's (`./events.ts`; src/cluster/local-relay.ts). Messages relayed by id are
   * loaded from `repo` (the shared store); relayed thread statuses are kept for page loads too.
   */
  relay?: LocalEventRelay;
}

/** Most thread statuses remembered (for page loads); the oldest are forgotten first. */
const MAX_STATUSES = 1_000;

export class LocalAdapter implements PlatformAdapter, LocalApiBackend {
  readonly name = 'local' as const;
  readonly limits: PlatformLimits;
  readonly files?: LocalFiles;
  readonly repo: LocalMessagesRepo;
  readonly events: LocalEventHub;
  readonly botName: string;
  readonly auth?: LocalAuth;
  readonly uploads?: LocalUploads;
  readonly maxUploadBytes: number;

  private readonly logger: Logger;
  private readonly nextId = createMessageIdGenerator();
  private sink: InboundSink | undefined;
  /** Started with `context.inbound === false` (a cluster instance without the ingress role): the 503 says so. */
  private postOnly = false;
  private context: AdapterContext | undefined;
  /** Current status per thread, keyed `<channel>\n<thread>`. */
  private readonly statuses = new Map<string, string>();
  /** Keys of {@link statuses} that came from other instances (cluster mode), forgotten when events may have been missed. */
  private readonly relayedStatuses = new Set<string>();
  /** Stop notices of other instances shown in threads (key `channel\nthread`): which instance, and the status text shown. */
  private readonly peerStatuses = new Map<string, { instanceId: string; status: string; cut?: true }>();

  constructor(options: LocalAdapterOptions) {
    this.repo = options.repo;
    this.logger = options.logger.child({ platform: 'local' });
    this.botName = options.botName ?? 'agentbridge';
    this.auth = options.auth;
    this.files = options.files;
    this.uploads = options.uploads;
    this.maxUploadBytes = options.maxFileBytes ?? LOCAL_LIMITS.maxFileBytes!;
    const { maxFileBytes: _default, ...noFiles } = LOCAL_LIMITS;
    this.limits = !options.files ? noFiles : options.maxFileBytes !== undefined ? { ...LOCAL_LIMITS, maxFileBytes: options.maxFileBytes } : LOCAL_LIMITS;
    this.events = new LocalEventHub(this.logger, options.heartbeatMs);
    if (options.relay) {
      this.events.connectRelay({
        relay: options.relay,
        load: async (id) => {
          const row = await this.repo.get(id);
          return row ? toApiMessage(row) : undefined;
        },
        received: (name, _channel, data) => {
          if (name === 'message.created') {
            const m = data as { channel?: unknown; thread?: unknown; bot?: unknown };
            if (m.bot === true && typeof m.channel === 'string' && typeof m.thread === 'string') this.botPosted(m.channel, m.thread);
            return;
          }
          if (name !== 'thread.status') return;
          const s = data as { channel?: unknown; thread?: unknown; status?: unknown };
          if (typeof s.channel !== 'string' || typeof s.thread !== 'string') return;
          const status = typeof s.status === 'string' ? s.status : null;
          this.rememberStatus(s.channel, s.thread, status);
          this.peerStatuses.delete(`${s.channel}\n${s.thread}`);
          if (status === null) this.relayedStatuses.delete(`${s.channel}\n${s.thread}`);
          else this.relayedStatuses.add(`${s.channel}\n${s.thread}`);
        },
        // A relayed "working…" whose end was missed would stay forever: forget them (the next update of a running turn sets it again).
        resynced: () => {
          for (const key of this.relayedStatuses) this.statuses.delete(key);
          this.relayedStatuses.clear();
          this.peerStatuses.clear();
        },
        peerStopping: (notice) => this.showPeerStopping(notice),
        peerStopped: (notice) => this.showPeerStopped(notice),
        peerStarted: (instanceId) => this.clearPeerStatuses(instanceId),
      });
    }
    registerLocalRoutes(options.http, this);
  }

  /** Starts delivering posted messages to `sink` (and card button clicks to `context.onAction`). */
  async start(sink: InboundSink, context?: AdapterContext): Promise<void> {
    // A cluster instance without the ingress role posts only: new messages are refused (503).
    this.postOnly = context?.inbound === false;
    this.sink = this.postOnly ? undefined : sink;
    this.context = context;
    this.logger.info('local chat started');
  }

  /** Stops delivering messages (POST answers 503 afterwards) and ends the open event streams. */
  async stop(): Promise<void> {
    this.sink = undefined;
    this.postOnly = false;
    this.context = undefined;
    this.events.closeAll();
  }

  /** Why `what` (messages, clicks) is refused while there is no sink. */
  private refusal(what: 'messages' | 'clicks'): string {
    return this.postOnly
      ? `this agentbridge instance does not take ${what}: its cluster roles do not include ingress (AGENTBRIDGE_ROLES); nothing was stored — send it to an instance with the ingress role`
      : `local chat is not accepting ${what} (not started or shutting down)`;
  }

  /**
   * Hands a user's message to the core, which stores it in the inbox together with its row in the
   * local history (one transaction, {@link AcceptHooks}); the page is told only after that commit.
   * So a message is in the history exactly when the core took it, and a refused one leaves no
   * trace (no history row, no inbox row, no event).
   *
   * Files (`input.files`, upload ids): checked before anything is stored — each must be an
   * upload of `input.uploader`, unsent, its bytes there (`./uploads.ts` → `check`) — then marked
   * sent with this message in the same transaction as the inbox row (through the transaction's
   * store the hook gets; a compare-and-set, so one sent meanwhile fails it), and handed to the core as
   * `files` (`url` = `local-upload:<id>`); the history row lists them for the page.
   *
   * Thread seeding: the first message of a thread (no conversation for it yet) whose root the bot
   * posted — a cron post, or any other top-level bot message — carries `seedFrom` =
   * `postedMessageKey('local', channel, thread)`, so the thread starts from that post's context,
   * as a Slack reply under a bot message (src/platforms/slack/events.ts) or a Discord thread on
   * one (src/platforms/discord/normalise.ts) does.
   * @returns the new message's id and its thread id.
   * @throws HttpError 400 when `input.thread` is not a thread of `input.channel`, or a file is
   *   not the sender's unsent upload (also when it was sent with another message meanwhile);
   *   503 when not started, when started post-only (a cluster instance without the ingress role:
   *   the error says so), or when the core refused the message (e.g. the database cannot be
   *   written): nothing was stored, the sender should send it again later.
   */
  async receive(input: LocalPostInput): Promise<{ message: string; thread: string }> {
    const sink = this.sink;
    if (!sink) throw new HttpError(503, this.refusal('messages'));
    if (input.thread !== undefined && !(await this.isThread(input.channel, input.thread))) {
      throw new HttpError(400, `unknown thread ${input.thread} in channel ${input.channel}`);
    }
    const fileIds = input.files ?? [];
    if (fileIds.length > 0 && !this.uploads) throw new HttpError(400, 'files: file uploads are not enabled on this server');
    const uploads = this.uploads && fileIds.length > 0 ? await this.uploads.check(fileIds, input.uploader ?? null) : [];
    const id = this.nextId();
    const thread = input.thread ?? id;
    const ts = Date.now();
    let row: LocalMessageRow | undefined;
    let committed = false;
    const message: InboundMessage = {
      platform: 'local',
      conversationId: localConversationId(input.channel, thread),
      channel: input.channel,
      thread,
      author: { id: input.user, name: input.user },
      text: input.text,
      eventKey: `local:${id}`,
      replyTarget: { platform: 'local', channel: input.channel, thread },
      messageRef: id,
      // The local chat's way to address the bot: `/agent <command>` (every message reaches the agent anyway).
      addressed: /^\/agent(\s|$)/i.test(input.text.trimStart()),
      receivedAt: ts,
    };
    if (uploads.length > 0) {
      message.files = uploads.map((u): InboundFile => ({ id: u.id, name: u.name, mimeType: u.type, size: u.size, url: uploadUrl(u.id) }));
    }
    const files = uploads.map((u) => ({ id: u.id, name: u.name, size: u.size, type: u.type }));
    const seedFrom = input.thread === undefined ? undefined : await this.seedOf(input.channel, input.thread, message.conversationId);
    if (seedFrom) message.seedFrom = seedFrom;
    /** Stores the history row and marks the files sent, through `repos` (the transaction's). */
    const record = async (repos: { messages: LocalMessagesRepo; uploads?: LocalUploadsRepo }) => {
      row = await repos.messages.insert({
        id,
        channel: input.channel,
        thread,
        user: input.user,
        text: input.text,
        bot: false,
        ts,
        ...(files.length > 0 ? { files } : {}),
      });
      if (uploads.length > 0) await this.uploads!.markSent(fileIds, input.uploader ?? null, id, repos.uploads);
    };
    const hooks: AcceptHooks = {
      inTransaction: (tx) => record({ messages: tx.localMessages, uploads: tx.localUploads }),
      afterCommit: () => {
        committed = true;
        if (row) this.events.emit('message.created', row.channel, toApiMessage(row));
      },
    };
    try {
      await sink(message, hooks);
    } catch (err) {
      if (committed) {
        // Stored and announced, but something after the commit failed: the core has the message.
        this.logger.error({ err, eventKey: message.eventKey }, 'local chat: the core failed after storing a message');
        return { message: id, thread };
      }
      // A file taken by another message between the check and the transaction: the client's error.
      if (err instanceof HttpError) throw err;
      this.logger.warn({ err: err instanceof Error ? err.message : String(err), eventKey: message.eventKey }, 'local chat: message refused; nothing stored');
      const why = err instanceof StoreUnavailableError ? err.message : 'the message could not be accepted; nothing was stored — please send it again later';
      throw new HttpError(503, why);
    }
    if (!committed) {
      // A sink that does not run hooks (test doubles): store and announce after the accept.
      await record({ messages: this.repo });
      hooks.afterCommit!();
    }
    this.logger.debug({ eventKey: message.eventKey, conversationId: message.conversationId }, 'local chat: message accepted');
    return { message: id, thread };
  }

  /**
   * Posts a bot message into `target.thread` (or starts a new thread when there is none), with
   * `opts.actions` as its buttons (stored with the message; `[]` or absent: none).
   * `PostOptions.idempotencyKey` is ignored (the local chat has no equivalent).
   * @throws Error for a target of another platform, a bad channel name, an unknown thread, or
   *   invalid buttons (`./actions.ts`).
   */
  async post(target: ReplyTarget, text: string, opts?: PostOptions): Promise<PostedMessage> {
    const channel = this.checkTarget(target);
    if (target.thread !== undefined && !(await this.isThread(channel, target.thread))) {
      throw new Error(`local chat: unknown thread ${target.thread} in channel ${channel}`);
    }
    const actions = opts?.actions ? checkCardActions(opts.actions) : [];
    const id = this.nextId();
    const row = await this.repo.insert({
      id,
      channel,
      thread: target.thread ?? id,
      user: this.botName,
      text,
      bot: true,
      ts: Date.now(),
      ...(actions.length > 0 ? { actions } : {}),
    });
    this.events.emit('message.created', channel, toApiMessage(row));
    this.botPosted(channel, row.thread);
    return { ref: id, channel };
  }

  /**
   * Posts a bot message carrying a file: the bytes are copied to `<dataDir>/local-files/<message
   * id>` (`./files.ts`) before the message is stored, so the page never links a missing file; the
   * message text is `opts.comment` ('' for none). The idempotency key is ignored (as for `post`).
   * @throws Error like {@link post}, when the adapter has no file store, for a file over
   *   `limits.maxFileBytes`, or the file system's error.
   */
  async postFile(target: ReplyTarget, file: OutgoingFile, opts?: PostFileOptions): Promise<PostedMessage> {
    const channel = this.checkTarget(target);
    if (!this.files) throw new Error('local chat: no file store');
    if (file.size > (this.limits.maxFileBytes ?? 0)) throw new Error(`local chat: ${file.name} is over the file size limit`);
    if (target.thread !== undefined && !(await this.isThread(channel, target.thread))) {
      throw new Error(`local chat: unknown thread ${target.thread} in channel ${channel}`);
    }
    const id = this.nextId();
    this.files.store(id, file.path);
    const row = await this.repo.insert({
      id,
      channel,
      thread: target.thread ?? id,
      user: this.botName,
      text: opts?.comment ?? '',
      bot: true,
      ts: Date.now(),
      file: { name: file.name, size: file.size, type: mimeTypeOf(file.name) },
    });
    this.events.emit('message.created', channel, toApiMessage(row));
    this.botPosted(channel, row.thread);
    return { ref: id, channel };
  }

  /**
   * Opens the bytes of a file a user sent (`file.url` = `local-upload:<id>`, `./uploads.ts`) for
   * the turn, as a stream of the file under the data directory; the caller counts and caps them.
   * @throws Error `the uploaded file is gone` for an unknown upload, a missing file, or no upload store
   */
  async fetchFile(file: InboundFile, opts?: { signal?: AbortSignal }): Promise<AsyncIterable<Uint8Array>> {
    if (!this.uploads) throw new Error('the uploaded file is gone');
    return this.uploads.open(file.url, opts?.signal);
  }

  /**
   * Replaces the text of a bot message and, when `opts.actions` is given, its buttons (`[]`
   * removes them; absent keeps them). The page learns it from a `message.updated` event carrying
   * the whole message (without `actions` once there are none).
   * @throws Error when `ref` is unknown, in another channel, or not a bot message, or for invalid
   *   buttons (`./actions.ts`).
   */
  async edit(target: ReplyTarget, ref: string, text: string, opts?: EditOptions): Promise<void> {
    const channel = this.checkTarget(target);
    const existing: LocalMessageRow | undefined = await this.repo.get(ref);
    if (!existing || existing.channel !== channel) throw new Error(`local chat: unknown message ${ref} in channel ${channel}`);
    if (!existing.bot) throw new Error(`local chat: message ${ref} is not a bot message`);
    const actions = opts?.actions ? checkCardActions(opts.actions) : undefined;
    const row = await this.repo.update(ref, text, actions);
    if (!row) throw new Error(`local chat: unknown message ${ref} in channel ${channel}`);
    this.events.emit('message.updated', channel, toApiMessage(row));
  }

  /**
   * A card button click from the page (`POST /api/local/actions`): checks that `input.message`
   * is a bot message of `input.channel` (in `input.thread` when given) carrying `input.action` —
   * or a closed card (no buttons left) and `input.action` a card action id (`parseActionId`), so a
   * click that raced the decision or came from a stale page is told by the core who decided and
   * when (409) — then asks the core (`AdapterContext.onAction`) with the clicker as identity and
   * the message's own thread, and maps its reply (`./actions.ts`).
   * @returns 404 `{ok: false, error}` for a message or action that does not exist (logged: a
   *   forged click), else the mapped reply.
   * @throws HttpError 503 when not started, when the core takes no clicks, or when `onAction`
   *   failed (logged; the clicker may try again).
   */
  async click(input: LocalActionInput): Promise<ActionHttpAnswer> {
    const onAction = this.context?.onAction?.bind(this.context);
    if (!this.sink) throw new HttpError(503, this.refusal('clicks'));
    const row = await this.repo.get(input.message);
    const inPlace = row !== undefined && row.channel === input.channel && (input.thread === undefined || row.thread === input.thread) && row.bot;
    const carries = inPlace && (row.actions ?? []).some((a) => a.id === input.action);
    // The buttons are gone once the core edited the card to its outcome, which may happen between
    // two clicks sent at once: the later one is still the core's to answer ("Already decided by …").
    const closedCard = inPlace && (row.actions ?? []).length === 0 && parseActionId(input.action) !== undefined;
    if (!row || !(carries || closedCard)) {
      this.logger.info({ channel: input.channel, message: input.message, action: input.action }, 'local chat: click on an unknown message or button refused');
      return { status: 404, body: { ok: false, error: `no button ${input.action} on message ${input.message} in channel ${input.channel}` } };
    }
    if (!onAction) throw new HttpError(503, 'buttons are not handled by this agentbridge right now; try again later');
    let reply;
    try {
      reply = await onAction({
        platform: 'local',
        userId: input.user,
        userName: input.user,
        channel: row.channel,
        thread: row.thread,
        messageRef: row.id,
        actionId: input.action,
      });
    } catch (err) {
      this.logger.error({ err, message: row.id, action: input.action }, 'local chat: handling a button click failed');
      throw new HttpError(503, 'the click could not be handled; please try again');
    }
    this.logger.debug({ message: row.id, action: input.action, status: reply.status }, 'local chat: button click handled');
    return actionAnswer(reply);
  }

  /**
   * Marks a message (the core: 👀 `working` when it accepted a user's message, then ✅ `done`,
   * ❌ `failed` or ↪ `steered`): stored with the message (the latest state replaces the earlier
   * one, so a reload shows it) and sent to the page as a `message.updated` event. A message of
   * another channel, or gone (pruned), is skipped with a debug log — a mark is decoration.
   * @throws Error for a target of another platform or a bad channel name.
   */
  async react(target: ReplyTarget, messageRef: string, state: ReactionState): Promise<void> {
    const channel = this.checkTarget(target);
    const existing = await this.repo.get(messageRef);
    if (!existing || existing.channel !== channel) {
      this.logger.debug({ channel, messageRef, state }, 'local chat: reaction on an unknown message skipped');
      return;
    }
    if (existing.reaction === state) return;
    const row = await this.repo.setReaction(messageRef, state);
    if (row) this.events.emit('message.updated', channel, toApiMessage(row));
  }

  /** The page renders the Markdown itself (marked + DOMPurify, raw HTML shown as text) and has no mentions that notify: unchanged. */
  render(markdown: string): string {
    return markdown;
  }

  /** Nothing in the local chat pings anyone: unchanged. */
  neutraliseMentions(text: string): string {
    return text;
  }

  /**
   * Shows (or with `null` clears) the bot's status in a thread: a `thread.status` event
   * `{channel, thread, status}` the page shows as "agentbridge is working…". Targets without a
   * thread are ignored.
   */
  async setStatus(target: ReplyTarget, status: string | null): Promise<void> {
    const channel = this.checkTarget(target);
    const thread = target.thread;
    if (thread === undefined) return;
    this.rememberStatus(channel, thread, status);
    this.relayedStatuses.delete(`${channel}\n${thread}`);
    this.peerStatuses.delete(`${channel}\n${thread}`);
    this.events.emit('thread.status', channel, { channel, thread, status });
  }

  /**
   * Cluster mode: another instance, which runs turns of local threads, began a graceful stop.
   * Each such thread's status line says so on this instance's pages ({@link peerStoppingStatus});
   * not relayed (every instance shows it on its own pages). The turn's next status (its end, or
   * "working…" where it runs again) replaces it, and so does the instance's `started` notice.
   */
  private showPeerStopping(notice: PeerStoppingNotice): void {
    const status = peerStoppingStatus(notice);
    for (const { channel, thread } of localThreadsOf(notice.turns)) this.setPeerStatus(`${channel}\n${thread}`, notice.instanceId, status);
  }

  /**
   * Cluster mode: the turns of instance `notice.instanceId` ended after its stop notice. The
   * threads of the turns it cut say that another instance runs them again
   * ({@link peerStoppedStatus}); the notices of those that finished are cleared. A thread whose
   * status changed since the notice is left alone.
   */
  private showPeerStopped(notice: PeerStoppedNotice): void {
    const cut = new Set(localThreadsOf(notice.cut).map(({ channel, thread }) => `${channel}\n${thread}`));
    this.replacePeerStatuses(notice.instanceId, (key) => (cut.has(key) ? peerStoppedStatus(notice) : null));
  }

  /**
   * A bot message was posted in the thread (here or, relayed, on another instance). A cut turn's
   * notice ("… runs it again and answers here") has served once the turn runs again and posts
   * (its interrupted notice comes first): it is cleared. A `stopping` notice waits for `stopped`.
   */
  private botPosted(channel: string, thread: string): void {
    const key = `${channel}\n${thread}`;
    const shown = this.peerStatuses.get(key);
    if (!shown?.cut) return;
    if (this.statuses.get(key) === shown.status) this.setPeerStatus(key, shown.instanceId, null);
    else this.peerStatuses.delete(key);
  }

  /** Cluster mode: instance `instanceId` (re)joined: the stop notices shown for it that nothing replaced are cleared. */
  private clearPeerStatuses(instanceId: string): void {
    this.replacePeerStatuses(instanceId, () => null);
  }

  /** Replaces the notices shown for `instanceId` that nothing replaced meanwhile with `next(key)` (null clears; a cleared one is forgotten). */
  private replacePeerStatuses(instanceId: string, next: (key: string) => string | null): void {
    for (const [key, shown] of this.peerStatuses) {
      if (shown.instanceId !== instanceId) continue;
      if (this.statuses.get(key) !== shown.status) {
        this.peerStatuses.delete(key);
        continue;
      }
      this.setPeerStatus(key, instanceId, next(key), true);
    }
  }

  /**
   * Shows `status` as instance `instanceId`'s notice in the thread of `key` (`channel\nthread`;
   * `cut`: a cut turn's notice, cleared by the next bot message there), or with `null` clears it;
   * kept for page loads like a relayed status, and sent to this instance's streams only.
   */
  private setPeerStatus(key: string, instanceId: string, status: string | null, cut = false): void {
    const [channel, thread] = key.split('\n') as [string, string];
    this.rememberStatus(channel, thread, status);
    if (status === null) {
      this.peerStatuses.delete(key);
      this.relayedStatuses.delete(key);
    } else {
      this.relayedStatuses.add(key);
      this.peerStatuses.set(key, cut ? { instanceId, status, cut } : { instanceId, status });
    }
    this.events.emitHere('thread.status', channel, { channel, thread, status });
  }

  /** Keeps (or with `null` forgets) a thread's status for page loads; the oldest are forgotten past {@link MAX_STATUSES}. */
  private rememberStatus(channel: string, thread: string, status: string | null): void {
    const key = `${channel}\n${thread}`;
    this.statuses.delete(key);
    if (status !== null) {
      this.statuses.set(key, status);
      if (this.statuses.size > MAX_STATUSES) {
        const oldest = this.statuses.keys().next().value!;
        this.statuses.delete(oldest);
        this.relayedStatuses.delete(oldest);
      }
    }
  }

  /** The bot's current status text in a thread, or null. */
  statusOf(channel: string, thread: string): string | null {
    return this.statuses.get(`${channel}\n${thread}`) ?? null;
  }

  /**
   * The posted-message key to seed a new conversation from: set when the thread's root is a
   * message the bot posted and the core has no conversation for the thread yet; else undefined.
   */
  private async seedOf(channel: string, thread: string, conversationId: string): Promise<string | undefined> {
    const context = this.context;
    if (!context || (await context.hasConversation(conversationId))) return undefined;
    const key = postedMessageKey('local', channel, thread);
    return (await context.isBotMessage(key)) ? key : undefined;
  }

  /** True when `thread` is the id of a thread-starting message of `channel`. */
  private async isThread(channel: string, thread: string): Promise<boolean> {
    const root = await this.repo.get(thread);
    return root !== undefined && root.channel === channel && root.thread === root.id;
  }

  /** Validates an output target; returns its channel. */
  private checkTarget(target: ReplyTarget): string {
    if (target.platform !== 'local') throw new Error(`local chat: cannot deliver to platform ${target.platform}`);
    if (!CHANNEL_PATTERN.test(target.channel)) throw new Error(`local chat: invalid channel name ${JSON.stringify(target.channel)}`);
    return target.channel;
  }
}
