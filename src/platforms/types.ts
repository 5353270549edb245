/**
 * The contract between agentbridge's core and a platform adapter (local chat, Slack, Discord).
 *
 * An adapter turns platform events into {@link InboundMessage}s and hands them to an
 * {@link InboundSink}; it carries out output (post, edit, react, status) for the core.
 * It knows nothing about agents; the database it sees only through the repositories it is given
 * (the local chat's history, logins and uploads) and the store of an {@link AcceptHooks}
 * transaction. The message types themselves are core types
 * (`src/core/messages.ts`).
 */
import type { ActionReply, ActionRequest, CardAction } from '../core/interactions.js';
import type { InboundFile, InboundMessage, PlatformName, ReplyTarget } from '../core/messages.js';
import type { Store } from '../store/types.js';

/** Result of handing an inbound message to the core. */
export type AcceptResult = 'accepted' | 'duplicate';

/**
 * Work an adapter needs done atomically with the core's acceptance of a message (the local chat
 * stores its own history row this way, so a refused message leaves no trace and an accepted one
 * is never missing from the history).
 */
export interface AcceptHooks {
  /**
   * Runs inside the store transaction that takes the message (the inbox row; for a command also
   * its inbox row; for a refused writer the refusal record), with that transaction's store `tx`:
   * every store call of the hook goes through `tx`. A rejection rolls the whole transaction back
   * and the sink rejects. Not called for a duplicate.
   */
  inTransaction?: (tx: Store) => Promise<void>;
  /** Runs right after that transaction committed, before any turn or reply can start (e.g. announce the message). */
  afterCommit?: () => void;
}

/**
 * The core's entry point for adapters. Resolves once the message is durable in the inbox;
 * the adapter acknowledges the platform only after that. Rejects when it could not be stored
 * (e.g. `StoreUnavailableError` while the database cannot be written): then nothing was stored,
 * and the adapter must not acknowledge (the platform redelivers) or must answer 503.
 */
export type InboundSink = (message: InboundMessage, hooks?: AcceptHooks) => Promise<AcceptResult>;

/** A message the bot posted. */
export interface PostedMessage {
  /** Platform message id (Slack `ts`, Discord message id, local message id). */
  ref: string;
  channel: string;
}

/** Whether a post or edit is urgent (the default) or decoration. */
export interface CallPriority {
  /**
   * Marks the call as decoration (the progress message and its edits): it waits behind answers
   * and notices in the adapter's Web API budget (`budget.ts`), a later edit of the same message
   * replaces one still waiting, and aborting `signal` drops it while it waits. A dropped call
   * rejects with `DroppedCall` (`budget.ts` `isDroppedCall`). Absent: the call is urgent.
   * Adapters without a budget (the local chat) run it at once.
   */
  decoration?: { signal?: AbortSignal };
}

/** Options of {@link PlatformAdapter.post}. */
export interface PostOptions extends CallPriority {
  /**
   * A stable key of this message (the same for every attempt to post it), at most
   * {@link MAX_IDEMPOTENCY_KEY_CHARS} characters of `[A-Za-z0-9._-]`, e.g. the outbox's
   * `ab-o<row id>-<created at, base 36>`. An adapter that supports it makes a repeated post with
   * the same key return the message the first one created instead of creating another: a post
   * retried after "created, but the answer was lost" (a 5xx, a dropped connection, a crash
   * before the outbox marked it posted) then shows once.
   *
   * - Discord: sent as the message `nonce` with `enforce_nonce: true` (Discord API docs,
   *   "Create Message": a nonce is at most 25 characters; with `enforce_nonce` "if another
   *   message was created by the same author with the same nonce, that message will be returned
   *   and no new message will be created" — checked for the past few minutes only).
   * - Slack: sent as message metadata (`event_type: "agentbridge_post"`, `event_payload.key`);
   *   after an ambiguous failure (5xx, timeout, reset connection), or when
   *   {@link maybePostedSince} is set, the bot's messages are searched for the key first
   *   (`slack/idempotent-post.ts`).
   * - The local chat has no equivalent and ignores it.
   */
  idempotencyKey?: string;
  /**
   * Set when an earlier attempt with the same key may already have created the message (a
   * retried outbox row, or one left pending by an earlier process): the earliest time such an
   * attempt can have been made, ms since the epoch (the outbox row's creation time). An adapter
   * that can look messages up by key (Slack) does so before posting; others ignore it.
   */
  maybePostedSince?: number;
  /**
   * Buttons under the message (an approval, question or plan card; `src/core/interactions.ts`).
   * Slack: a Block Kit `section` with the text plus an `actions` block; Discord: an action row
   * of buttons (message components); local chat: the message's `actions`. A click reaches the
   * core through {@link AdapterContext.onAction}.
   */
  actions?: CardAction[];
}

/** Options of {@link PlatformAdapter.edit}. */
export interface EditOptions extends CallPriority {
  /** The message's buttons after the edit: `[]` removes them all; absent leaves them as they are. */
  actions?: CardAction[];
}

/** A file to post ({@link PlatformAdapter.postFile}): agentbridge's own copy of it. */
export interface OutgoingFile {
  /** Absolute path of the bytes to send (a copy in the data directory; the adapter only reads it). */
  path: string;
  /** File name people see. */
  name: string;
  /** Size, bytes. */
  size: number;
}

/** Options of {@link PlatformAdapter.postFile}: those of a post, plus the comment shown with the file. */
export interface PostFileOptions extends Pick<PostOptions, 'idempotencyKey' | 'maybePostedSince'> {
  /** Text posted with the file, already in the platform's format (rendered, mentions neutralised); absent: none. */
  comment?: string;
}

/** Longest {@link PostOptions.idempotencyKey}: Discord's limit for a message nonce. */
export const MAX_IDEMPOTENCY_KEY_CHARS = 25;

/** Reaction states shown on the user's message while it is being worked on. */
/** `steered`: the message was added to the running turn (↪). */
export type ReactionState = 'working' | 'done' | 'failed' | 'steered';

/** What a platform allows; the renderer obeys these. */
export interface PlatformLimits {
  /** Maximum characters in one posted message (Slack ~3,900 for readability of 40k; Discord 2,000). */
  maxMessageChars: number;
  /** Minimum interval between edits of one message, in ms. */
  minEditIntervalMs: number;
  /**
   * Conversations of one channel waiting for a turn slot at once from which the channel gets a
   * busy notice (`conversation/busy-notice.ts`); undefined: never (the platform shows every
   * message's 👀 at once).
   */
  busyNoticeAt?: number;
  /**
   * Largest file the bot can post, bytes ({@link PlatformAdapter.postFile}; the `send_file` tool
   * refuses larger ones). Undefined: the platform posts no files.
   */
  maxFileBytes?: number;
}

/** A slash command or interaction from a platform, for the command service. */
export interface CommandRequest {
  platform: PlatformName;
  /** Platform user id (not qualified), e.g. `U123`. */
  userId: string;
  userName: string;
  channel: string;
  /** The conversation the command is about, when the platform gives one (thread or chat channel). */
  conversationId?: string;
  /** Subcommand and arguments, e.g. `stop`, `model claude-sonnet-4-5`, `cron list`. */
  text: string;
  replyTarget: ReplyTarget;
}

/** The command service's answer; `ephemeral` = only the caller should see it. */
export interface CommandReply {
  text: string;
  ephemeral: boolean;
}

/** What the core offers an adapter besides the inbound sink. */
export interface AdapterContext {
  /** Resolves true when the core already has a conversation with this id (e.g. "the bot is part of this thread"); rejects on a store error. */
  hasConversation(conversationId: string): Promise<boolean>;
  /** Resolves true when the bot posted the message with this posted-message key (a posted-message row exists); rejects on a store error. */
  isBotMessage(postedKey: string): Promise<boolean>;
  /**
   * Small durable state for the adapter, e.g. the last message id seen per channel. Keys:
   * `<platform>:…`. `set` resolves once the value is stored; both reject on a store error.
   */
  state: { get(key: string): Promise<string | undefined>; set(key: string, value: string): Promise<void> };
  /** Runs a platform slash command (Slack `/agent`, Discord `/agent`); absent when commands are off. */
  runCommand?(req: CommandRequest): Promise<CommandReply>;
  /** Reports a failed platform API call for metrics (`kind`: 'rate_limited' for 429s, else 'error'). */
  reportApiError?(kind: 'rate_limited' | 'error', method: string): void;
  /**
   * A person clicked a button of a card (`PostOptions.actions`). The adapter verified the payload
   * (Slack signature or Socket Mode, Discord interaction from the Gateway, local login) and takes
   * the user from it. Resolves with what to tell the clicker: nothing visible for `ok` (the core
   * edits the card), an ephemeral message with `text` otherwise. Absent when nothing has buttons.
   */
  onAction?(req: ActionRequest): Promise<ActionReply>;
  /**
   * False on a cluster instance without the ingress role (docs/ARCHITECTURE.md §10): the adapter
   * posts (outbound) but takes no messages — Slack opens no Socket Mode connection and refuses HTTP
   * events (Slack retries them, reaching an ingress instance behind the load balancer), the local
   * chat refuses new messages with 503. Default true.
   */
  inbound?: boolean;
}

/** Options of {@link PlatformAdapter.start}. */
export interface AdapterStartOptions {
  /**
   * For an adapter with a {@link PlatformAdapter.gateway}: false starts only the outbound side
   * (cluster mode: the lease holder starts the gateway); default true (both, single instance).
   * Other adapters ignore it.
   */
  gateway?: boolean;
}

/**
 * An inbound connection that must be held by one instance at a time (Discord's Gateway: two
 * connections of one shard both get every event). Cluster mode runs it under a leader lease
 * (`src/cluster/leases.ts`); the next holder catches up from the adapter's stored cursors.
 */
export interface LeaderOnlyGateway {
  /**
   * Connects (after the adapter's `start`) and resolves once what was said while no instance held
   * it has been handed to the sink. Idempotent while running. Rejects when it cannot connect.
   */
  start(): Promise<void>;
  /** Drops the connection at once: no event is taken after it resolves. Idempotent; posting still works. */
  stop(): Promise<void>;
}

/** A platform adapter. Every method may throw on a platform error; the core retries via the outbox. */
export interface PlatformAdapter {
  readonly name: PlatformName;
  readonly limits: PlatformLimits;
  /** Connects and starts delivering messages to `sink` (see {@link AdapterStartOptions} for a leader-only gateway). */
  start(sink: InboundSink, context?: AdapterContext, opts?: AdapterStartOptions): Promise<void>;
  /** Present when the adapter's inbound connection is leader-only in cluster mode ({@link LeaderOnlyGateway}); Discord. */
  readonly gateway?: LeaderOnlyGateway;
  /** Disconnects; no more messages are delivered after it resolves. */
  stop(): Promise<void>;
  /**
   * Posts a new message; returns its platform id. With `opts.idempotencyKey` (see
   * {@link PostOptions}), an adapter that supports it returns the first message for a repeated
   * post with the same key instead of creating a second one; the others ignore the key.
   */
  post(target: ReplyTarget, text: string, opts?: PostOptions): Promise<PostedMessage>;
  /** Replaces the text of a message the bot posted (and, with `opts.actions`, its buttons). */
  edit(target: ReplyTarget, ref: string, text: string, opts?: EditOptions): Promise<void>;
  /**
   * Optional: posts a file into the target's thread (channel when it has none) with
   * `opts.comment`; returns the message that shows it. With `opts.idempotencyKey` an adapter that
   * can recognise an earlier attempt returns that message instead of posting the file twice
   * (see {@link PostOptions.idempotencyKey}). Files larger than `limits.maxFileBytes` are refused.
   */
  postFile?(target: ReplyTarget, file: OutgoingFile, opts?: PostFileOptions): Promise<PostedMessage>;
  /**
   * Optional: opens the bytes of a file attached to an inbound message (`InboundMessage.files`):
   * Slack downloads `url_private` with the bot token (scope `files:read`), Discord the
   * attachment URL, the local chat its upload store. The caller counts the bytes and stops
   * reading past its limit (AGENTBRIDGE_MAX_FILE_MB), so the adapter need not check sizes.
   * Adapters without it: files of their messages are noted as not attached.
   * @throws Error whose message says, for people, why the file could not be fetched
   *   (e.g. `download failed: HTTP 404`), when the request fails or is refused.
   */
  fetchFile?(file: InboundFile, opts?: { signal?: AbortSignal }): Promise<AsyncIterable<Uint8Array>>;
  /** Optional: deletes a message the bot posted (e.g. the progress message). */
  delete?(target: ReplyTarget, ref: string): Promise<void>;
  /**
   * Optional: shows a reaction on the user's message — decoration: it waits behind answers in the
   * adapter's budget, and a later state of the same message replaces one not yet shown. Adds only
   * (no removal calls): a finished message shows 👀 and ✅ (or ✅ alone when 👀 never got out).
   */
  react?(target: ReplyTarget, messageRef: string, state: ReactionState): Promise<void>;
  /**
   * Optional: platform-native typing/status indicator; `null` clears it. Decoration; the core sets
   * it only while no progress message is visible (a reply clears it on both platforms).
   */
  setStatus?(target: ReplyTarget, status: string | null): Promise<void>;
  /**
   * The text to post for `markdown` (the agent's GitHub-flavoured Markdown, or one of
   * agentbridge's notices): converted to the platform's format and with every mention
   * neutralised, so it pings no one (docs/ARCHITECTURE.md §3, invariant 6). Pure; the result is chunked to
   * `limits.maxMessageChars` afterwards (`./render.ts`), so a conversion must keep fenced code
   * blocks as fences. Every post and notice goes through it (`src/conversation/outbound.ts`;
   * slash-command responses through `./render.ts`); `post` and `edit` send their text as given.
   * - Slack: mrkdwn (slackify-markdown), then `<!here>`, `<!channel>`, `<!everyone>`,
   *   `<!subteam^…>`, `<@U…>` and plain `@here`/`@channel`/`@everyone` made inert;
   * - Discord: Markdown kept (Discord renders it), `@everyone`/`@here` broken outside code (every
   *   message is also sent with `allowed_mentions: { parse: [] }`);
   * - local chat: unchanged (the page renders Markdown and nothing in it can ping).
   */
  render(markdown: string): string;
  /**
   * Neutralises mentions in text that is already in the platform's format (the progress
   * message, which shows the agent's streamed text as is): the mention part of {@link render}
   * without the conversion. Pure and idempotent.
   */
  neutraliseMentions(text: string): string;
}
