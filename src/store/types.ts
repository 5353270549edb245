/**
 * Row types and the repository contract of the session store. Only `src/store/` writes SQL;
 * everything else uses these typed repositories. Every repository method returns a Promise (the
 * same contract for SQLite and PostgreSQL); errors reject it. All times are ms since the epoch.
 */
import type { CardAction, InteractionDecision, InteractionRequest } from '../core/interactions.js';
import type { InboundMessage, PlatformName, ReplyTarget } from '../core/messages.js';
import type { AgentName, PermissionMode, Usage } from '../core/agents.js';
import type { CronJob, CronRun, ScheduledMessage } from '../core/schedule.js';
import type { PostedMessageKey, PostedMessageKind } from '../core/ids.js';
import type { ClusterRole } from '../core/config.js';

export interface ConversationRow {
  id: string;
  platform: PlatformName;
  channel: string;
  thread: string | null;
  /** Agent chosen for this conversation; null = the configured default. */
  agent: AgentName | null;
  model: string | null;
  /** The agent CLI's own session id, for resume. */
  agentSessionId: string | null;
  /** Which agent the stored session id belongs to (a session id is only valid for its agent). */
  agentSessionAgent: AgentName | null;
  /**
   * The last point of the agent session that agentbridge committed (written in the transaction
   * that commits a turn): for Claude the `uuid` of the last assistant message of that turn; null
   * when unknown (other agents, or no assistant message yet). A re-run resumes here.
   */
  agentSessionAt: string | null;
  workdir: string | null;
  /** What this conversation was seeded from (e.g. a posted-message key), once, if it was. */
  seededFrom: string | null;
  /** When the seeding was applied (its first turn ran with the origin's context); null = not yet. */
  seededAt: number | null;
  /** The conversation's own permission mode (set when a plan is approved); null = the configured default. */
  permissionMode: PermissionMode | null;
  createdAt: number;
  updatedAt: number;
}

export type EntryRole = 'user' | 'assistant' | 'system';

export interface SessionEntryRow {
  id: number;
  conversationId: string;
  role: EntryRole;
  /** Author display name for user entries; null otherwise. */
  author: string | null;
  text: string;
  agent: AgentName | null;
  model: string | null;
  usage: Usage | null;
  costUsd: number | null;
  createdAt: number;
}

export interface PostedMessageRow {
  /** `postedMessageKey(platform, channel, messageRef)` from src/core/ids.ts. */
  key: PostedMessageKey;
  conversationId: string;
  sessionEntryId: number | null;
  platformMessageRef: string;
  /** The text as posted (a progress message keeps its first text: its edits are not recorded). */
  assistantText: string;
  kind: PostedMessageKind;
  createdAt: number;
}

export type InboxState = 'queued' | 'running' | 'done' | 'failed';

export interface InboxRow {
  eventKey: string;
  conversationId: string;
  message: InboundMessage;
  state: InboxState;
  attempts: number;
  receivedAt: number;
  updatedAt: number;
}

export type OutboxState = 'pending' | 'posted' | 'failed';

/**
 * Where an outbox row goes. With `editRef`, delivery edits that message (the turn's progress
 * message) instead of posting a new one — an edit is idempotent, so redelivery after a crash
 * cannot duplicate it.
 */
export interface OutboxTarget extends ReplyTarget {
  editRef?: string;
  /**
   * A progress message this row retires: delivery deletes it (or, when the adapter cannot
   * delete, edits it to the row's text) instead of posting. Enqueued when a first answer chunk
   * could not be edited into the progress message and was posted as a new message.
   */
  retireRef?: string;
  /**
   * What the delivered message is, recorded with its posted-message row: set by
   * `OutboxDelivery.enqueue` (`answer` for a turn's answer, else `notice`). Rows enqueued before
   * it existed have none: `answer` when they have a session entry, else `notice`.
   */
  kind?: Exclude<PostedMessageKind, 'progress'>;
  /**
   * The text is still Markdown: it was written while the platform's adapter was not running, so
   * it is rendered (platform format, mentions neutralised) when it is delivered.
   */
  unrendered?: boolean;
  /**
   * Buttons of a card (an approval, question or plan: src/conversation/interactions.ts), posted
   * with the message; on an edit row (`editRow`/`editRef`) the buttons after the edit (`[]` or
   * absent = none).
   */
  actions?: CardAction[];
  /**
   * This row edits the message posted for outbox row `editRow` (a card changed to its outcome)
   * instead of posting: rows of a conversation are delivered in order, so that row is posted by
   * then. When it never was (it failed for good), this row is dropped.
   */
  editRow?: number;
  /**
   * This row posts a file the agent sent (`send_file`): the copy `id` in the data directory
   * (`src/store/outgoing-files.ts`), shown as `name`; the row's text is the comment posted with
   * it ('' for none). The copy is deleted once the row is delivered.
   */
  file?: OutboxFile;
}

/** A file an outbox row posts. */
export interface OutboxFile {
  /** Id of the copy in `<dataDir>/outgoing-files/` (SHA-256 of the bytes, hex). */
  id: string;
  /** File name people see (the base name of the file the agent sent). */
  name: string;
  /** Size, bytes. */
  size: number;
}

export interface OutboxRow {
  id: number;
  conversationId: string;
  target: OutboxTarget;
  text: string;
  /** Session entry the text belongs to (for the posted message), if any. */
  sessionEntryId: number | null;
  state: OutboxState;
  attempts: number;
  postedRef: string | null;
  lastError: string | null;
  createdAt: number;
}

export interface ConversationsRepo {
  get(id: string): Promise<ConversationRow | undefined>;
  /** Creates the row if missing (fields from `init`), returns the stored row. */
  ensure(init: { id: string; platform: PlatformName; channel: string; thread?: string | null; workdir?: string | null }): Promise<ConversationRow>;
  /** Stores the agent session (and its committed point `at`, default null); all null = none. */
  setAgentSession(id: string, agent: AgentName | null, agentSessionId: string | null, at?: string | null): Promise<void>;
  update(id: string, patch: Partial<Pick<ConversationRow, 'agent' | 'model' | 'workdir' | 'seededFrom' | 'seededAt' | 'permissionMode'>>): Promise<void>;
  list(opts?: { limit?: number }): Promise<ConversationRow[]>;
  /** Deletes the conversation and its entries, posted messages, inbox and outbox rows. Returns true if it existed. */
  delete(id: string): Promise<boolean>;
}

export interface EntriesRepo {
  append(e: Omit<SessionEntryRow, 'id' | 'createdAt'> & { createdAt?: number }): Promise<SessionEntryRow>;
  list(conversationId: string, opts?: { limit?: number; beforeId?: number }): Promise<SessionEntryRow[]>;
  get(id: number): Promise<SessionEntryRow | undefined>;
  /**
   * Deletes the conversation's `user` entries that come after its last non-user entry — the
   * messages of a turn that was cut (recorded when it started, never committed), about to be
   * recorded again by the re-run. Returns how many were deleted.
   */
  removeUncommitted(conversationId: string): Promise<number>;
  /** Distinct author names of user entries, at most `limit` (default 2) — "has more than one person written here?". */
  authors(conversationId: string, limit?: number): Promise<string[]>;
}

export interface PostedMessagesRepo {
  record(c: Omit<PostedMessageRow, 'createdAt'>): Promise<void>;
  get(key: string): Promise<PostedMessageRow | undefined>;
  /** The conversation's posted messages, oldest first; only those of `kind` when given. */
  listForConversation(conversationId: string, kind?: PostedMessageKind): Promise<PostedMessageRow[]>;
}

/**
 * Cluster mode's fence (docs/ARCHITECTURE.md §10): a turn attempt whose claim on its inbox rows is
 * gone — another worker took the conversation over after this one's job heartbeat lapsed. Its
 * writes are refused (the transaction rolls back), so nothing it did afterwards is posted.
 */
export class TurnFencedError extends Error {
  constructor(
    /** The attempt's claim, `<job id>:<attempt>`. */
    readonly claim: string,
    /** Where it was noticed: starting the turn or committing its answer. */
    readonly at: 'start' | 'finish',
  ) {
    super(`turn attempt ${claim} lost its claim on the conversation (${at}); another worker took it over`);
    this.name = 'TurnFencedError';
  }
}

export interface InboxRepo {
  /** Inserts the message as `queued`; returns false (and changes nothing) if its eventKey is known. */
  accept(message: InboundMessage): Promise<boolean>;
  /**
   * Marks rows running and increments attempts. With `claim` (cluster mode's fencing token,
   * `<job id>:<attempt>`): only rows that are `queued`, or `running` under the same claim, are
   * taken, and they carry the claim. Resolves to the number of rows changed.
   */
  markRunning(eventKeys: string[], claim?: string): Promise<number>;
  /** Closes the rows; with `claim` only those still carrying it. Resolves to the number of rows changed. */
  markDone(eventKeys: string[], claim?: string): Promise<number>;
  markFailed(eventKeys: string[], claim?: string): Promise<number>;
  /** A conversation's rows in state queued or running, oldest first. */
  unfinishedFor(conversationId: string): Promise<InboxRow[]>;
  /** Back to queued (e.g. a turn cut by shutdown). */
  requeue(eventKeys: string[]): Promise<void>;
  /** Rows in state queued or running, oldest first (by receivedAt, then insertion order). */
  unfinished(): Promise<InboxRow[]>;
  /** Ids of the conversations with a row in state queued or running last changed before `before` (ms since the epoch), sorted. */
  staleConversations(before: number): Promise<string[]>;
  get(eventKey: string): Promise<InboxRow | undefined>;
  countByState(): Promise<Record<InboxState, number>>;
  /**
   * Closes the conversation's unfinished rows (queued or running) as `failed` — `cluster skip` of
   * a blocked conversation — and resolves to their event keys, oldest first.
   */
  failUnfinished(conversationId: string): Promise<string[]>;
}

/** Wake-up jobs of cluster mode (src/store/sql/repos/turn-jobs.ts); nothing happens without a queue. */
export interface TurnJobsRepo {
  /** Enqueues a wake-up job for the conversation (in the caller's transaction when called on its `tx`). */
  wake(conversationId: string): Promise<void>;
}

/** Delivery leases of cluster mode (migration 014): who delivers a conversation's outbox rows. */
export interface DeliveryLeasesRepo {
  /** Takes or extends the lease for `ttlMs` (ms); false when another holder's lease has not lapsed. */
  take(conversationId: string, holder: string, ttlMs: number, now?: number): Promise<boolean>;
  /** Gives the lease up (only the holder's own). */
  release(conversationId: string, holder: string): Promise<void>;
}

export interface OutboxRepo {
  enqueue(o: { conversationId: string; target: OutboxTarget; text: string; sessionEntryId?: number | null }): Promise<OutboxRow>;
  markPosted(id: number, postedRef: string): Promise<void>;
  /** Records a failed attempt (attempts+1, lastError); state stays pending unless `final`. */
  markAttemptFailed(id: number, error: string, final?: boolean): Promise<void>;
  /** Pending rows, oldest first. */
  pending(): Promise<OutboxRow[]>;
  /** Pending rows of one conversation, in insertion order. */
  pendingFor(conversationId: string): Promise<OutboxRow[]>;
  pendingCount(): Promise<number>;
  get(id: number): Promise<OutboxRow | undefined>;
}

/** A message of the local web chat (the local platform's own message history). */
export interface LocalMessageRow {
  /** Sortable unique id (also the thread id when the message starts a thread). */
  id: string;
  channel: string;
  thread: string;
  /** Author display name; "agentbridge" for bot messages. */
  user: string;
  text: string;
  bot: boolean;
  /** Creation time, ms since the epoch. */
  ts: number;
  updatedAt: number;
  /**
   * The buttons under a bot message (a card; migration 009), in order. Present only while the
   * message has at least one; absent otherwise (never `[]`).
   */
  actions?: CardAction[];
  /**
   * The mark on a user's message (migration 010): the last {@link LocalReaction} the core set
   * with `react` (👀 working, ✅ done, ❌ failed, ↪ steered); absent when it never reacted.
   */
  reaction?: LocalReaction;
  /**
   * The file a bot message carries (migration 012; an agent's `send_file`), served at
   * `GET /api/local/files/<message id>`; absent for a message without one.
   */
  file?: LocalMessageFile;
  /**
   * The files a user's message carries (migration 013; uploaded with `POST /api/local/files`),
   * each served at `GET /api/local/files/<upload id>`; absent for none (never `[]`).
   */
  files?: LocalMessageUpload[];
}

/** A file a user sent with a local chat message: an upload (`local_uploads`) by its id. */
export interface LocalMessageUpload extends LocalMessageFile {
  /** Upload id. */
  id: string;
}

/** A file of a local chat message. */
export interface LocalMessageFile {
  /** File name people see (no path). */
  name: string;
  /** Size, bytes. */
  size: number;
  /** MIME type, from the name's extension (`application/octet-stream` when unknown). */
  type: string;
}

/** A reaction state of a local chat message (the platforms' `ReactionState`, kept here so the store stays below the platforms). */
export type LocalReaction = 'working' | 'done' | 'failed' | 'steered';

export interface LocalThreadSummary {
  thread: string;
  user: string;
  /** First message's text (the thread's title), ≤ 200 characters. */
  text: string;
  ts: number;
  replies: number;
  lastTs: number;
}

/** The state of an interaction: pending until decided, timed out (denied), expired (by a restart) or cancelled (turn ended). */
export type InteractionState = 'pending' | 'decided' | 'timed_out' | 'expired' | 'cancelled';

/** Someone in a conversation: a qualified user id (`<platform>:<user id>`) and a display name. */
export interface Person {
  id: string;
  name: string;
}

/** What a running agent asked the people of a conversation, and what came of it (src/conversation/interactions.ts). */
export interface InteractionRow {
  /** Random id, also in the card's action ids (`ab:<id>:<choice>`). */
  id: string;
  conversationId: string;
  request: InteractionRequest;
  /** The person whose message started the turn; null for scheduler turns. */
  requester: Person | null;
  /** The outbox row of the card (its posted message is that row's `postedRef`). */
  outboxId: number | null;
  state: InteractionState;
  /** A plan kept in planning: the next message of an approver is the feedback. */
  awaitingText: boolean;
  decision: InteractionDecision | null;
  decidedBy: Person | null;
  /** ms since the epoch. */
  decidedAt: number | null;
  createdAt: number;
  /** When it times out (denied), ms since the epoch. */
  expiresAt: number;
}

export interface InteractionsRepo {
  create(r: { id: string; conversationId: string; request: InteractionRequest; requester: Person | null; expiresAt: number }): Promise<InteractionRow>;
  get(id: string): Promise<InteractionRow | undefined>;
  setCard(id: string, outboxId: number): Promise<void>;
  setAwaitingText(id: string, awaiting: boolean): Promise<void>;
  /**
   * Ends a pending interaction: the first call wins (an UPDATE of a `pending` row). Returns true
   * when this call ended it, false when it was no longer pending.
   */
  finish(id: string, state: Exclude<InteractionState, 'pending'>, decision: InteractionDecision | null, by: Person | null, at: number): Promise<boolean>;
  /** Pending interactions, oldest first; of one conversation when given. */
  pending(conversationId?: string): Promise<InteractionRow[]>;
}

/** An "always for this conversation" rule: `tool` with `ruleKey` ('' = any use of the tool). */
export interface ApprovalRuleRow {
  conversationId: string;
  tool: string;
  ruleKey: string;
  createdBy: string | null;
  createdAt: number;
}

export interface ApprovalRulesRepo {
  /** Adds a rule (a repeated one is kept once). */
  add(r: { conversationId: string; tool: string; ruleKey: string; createdBy: string | null }): Promise<void>;
  list(conversationId: string): Promise<ApprovalRuleRow[]>;
  /** True when a rule of the conversation covers `tool` with `ruleKey` (same key, or a rule for any use of the tool). */
  covers(conversationId: string, tool: string, ruleKey: string | undefined): Promise<boolean>;
  /** Deletes the conversation's rules; returns how many. */
  clear(conversationId: string): Promise<number>;
}

/** One stored file of an agent CLI's session (table `agent_session_files`, migration 014; src/cluster/session-files.ts). */
export interface SessionFileRow {
  conversationId: string;
  agent: string;
  /** The agent's own session id the file belongs to. */
  sessionId: string;
  /** Symbolic root the runner declares (`claude-config`, `codex-home`), never a host path. */
  root: string;
  /** Relative to the root, `/` separators. */
  path: string;
  /** The file's text (UTF-8). */
  content: string;
  /** bytes (UTF-8 length of `content`). */
  size: number;
  /** ms since the epoch. */
  updatedAt: number;
}

export interface SessionFilesRepo {
  /**
   * Replaces the stored files of `conversationId` + `agent` by `files` (all of session
   * `sessionId`), atomically: a reader sees the old set or the new one. `files` empty: deletes them.
   */
  save(conversationId: string, agent: string, sessionId: string, files: ReadonlyArray<{ root: string; path: string; content: string }>): Promise<void>;
  /** The stored files of `conversationId` + `agent`, ordered by root then path (byte order). */
  load(conversationId: string, agent: string): Promise<SessionFileRow[]>;
  /** Deletes every stored file of the conversation (any agent); returns how many. */
  deleteFor(conversationId: string): Promise<number>;
}

export interface LocalMessagesRepo {
  /** Stores a message (`actions`: its buttons; absent or `[]` = none). */
  insert(row: Omit<LocalMessageRow, 'updatedAt'>): Promise<LocalMessageRow>;
  /**
   * Replaces the text and, when `actions` is given, the buttons (`[]` removes them; undefined
   * keeps them); returns the updated row or undefined when `id` is unknown.
   */
  update(id: string, text: string, actions?: CardAction[]): Promise<LocalMessageRow | undefined>;
  /**
   * Sets the mark of a message (`reaction`, migration 010) and moves `updatedAt` forward (at
   * least 1 ms, so the page takes the update as newer); returns the updated row or undefined
   * when `id` is unknown.
   */
  setReaction(id: string, reaction: LocalReaction): Promise<LocalMessageRow | undefined>;
  get(id: string): Promise<LocalMessageRow | undefined>;
  /** Messages of one thread, oldest first. */
  list(channel: string, thread: string): Promise<LocalMessageRow[]>;
  /** Threads of a channel, newest activity first, at most `limit` (default 100). */
  threads(channel: string, limit?: number): Promise<LocalThreadSummary[]>;
  /** Channels that have messages, alphabetically. */
  channels(): Promise<string[]>;
}

/** Durable key-value state for platform adapters (namespaced keys, string values). */
export interface PlatformStateRepo {
  get(key: string): Promise<string | undefined>;
  set(key: string, value: string): Promise<void>;
  /** Removes `key` (no error when absent). */
  delete(key: string): Promise<void>;
  /** Every entry whose key starts with `prefix`, in key order. */
  list(prefix: string): Promise<{ key: string; value: string }[]>;
}

/**
 * One agentbridge instance of a cluster (`cluster_instances`, migration 014), as its heartbeat
 * last wrote it. Times in ms since the epoch.
 */
export interface ClusterInstanceRow {
  /** The instance id (AGENTBRIDGE_INSTANCE_ID, else `<hostname>-<pid>`). */
  id: string;
  host: string;
  pid: number;
  /** Its roles as configured (ingress, worker, leader). */
  roles: ClusterRole[];
  /** Where its HTTP server listens (e.g. `http://10.0.0.5:8787`); null when unknown. */
  url: string | null;
  startedAt: number;
  /** Its last heartbeat. */
  heartbeatAt: number;
  /** Agent turns it ran at its last heartbeat. */
  turnsRunning: number;
  /** When it stopped gracefully; null while it runs (or after it was killed: it just stops beating). */
  stoppedAt: number | null;
}

/** The `cluster_instances` table: the instances' heartbeats (src/cluster/instances.ts). */
export interface ClusterInstancesRepo {
  /** Inserts or replaces the instance's row (by id) and clears its `stoppedAt`. */
  beat(row: Omit<ClusterInstanceRow, 'stoppedAt'>): Promise<void>;
  /** Every row, by id. */
  list(): Promise<ClusterInstanceRow[]>;
  /** Sets `stoppedAt` (and `turnsRunning` to 0); false when there is no such row. */
  markStopped(id: string, at: number): Promise<boolean>;
  /** Removes the rows whose last heartbeat is before `before` (ms); resolves to how many. */
  prune(before: number): Promise<number>;
}

/** Fields of a cron job that {@link CronJobsRepo.update} changes. */
export type CronJobPatch = Partial<Pick<CronJob, 'enabled' | 'consecutiveFailures' | 'nextRunAt' | 'lastRunAt'>>;

/** The `cron_jobs` table (scheduler). */
export interface CronJobsRepo {
  /** Inserts a job; rejects with the driver's unique-violation error (see {@link Store}) for a known id or name. */
  insert(job: Omit<CronJob, 'createdAt' | 'updatedAt'>): Promise<CronJob>;
  get(id: string): Promise<CronJob | undefined>;
  getByName(name: string): Promise<CronJob | undefined>;
  /** All jobs by name. */
  list(): Promise<CronJob[]>;
  /** Changes the given fields (and `updatedAt`); returns the updated job, undefined for an unknown id. */
  update(id: string, patch: CronJobPatch): Promise<CronJob | undefined>;
  /** Deletes the job and its runs; false for an unknown id. */
  delete(id: string): Promise<boolean>;
  /** Enabled jobs whose `nextRunAt` ≤ `now`, earliest first. */
  due(now: number): Promise<CronJob[]>;
  /** The earliest `nextRunAt` of enabled jobs, or null. */
  nextDue(): Promise<number | null>;
}

/** Fields of a run that {@link CronRunsRepo.update} changes. */
export type CronRunPatch = Partial<Pick<CronRun, 'status' | 'dueAt' | 'conversationId' | 'eventKey' | 'startedAt' | 'endedAt' | 'error' | 'postedKey'>>;

/** The `cron_runs` table: run history, queued retries and run-now requests. */
export interface CronRunsRepo {
  /**
   * Inserts a run; returns undefined (and changes nothing) when a run with the same
   * (jobId, scheduledFor, attempt) exists — a due time never runs twice.
   */
  insert(run: Omit<CronRun, 'id'>): Promise<CronRun | undefined>;
  get(id: number): Promise<CronRun | undefined>;
  /** Runs of a job, newest first, at most `limit` (default 50). */
  listForJob(jobId: string, limit?: number): Promise<CronRun[]>;
  /** Changes the given fields; returns the updated run, undefined for an unknown id. */
  update(id: number, patch: CronRunPatch): Promise<CronRun | undefined>;
  /**
   * Compare-and-set of the status: changes `patch` only if the run's status is `from`.
   * Returns false when it was not (another instance got there first).
   */
  transition(id: number, from: CronRun['status'], patch: CronRunPatch): Promise<boolean>;
  /** Runs in a status, oldest first; optionally of one job. */
  withStatus(status: CronRun['status'], jobId?: string): Promise<CronRun[]>;
  /** `running` runs submitted to a conversation. */
  runningIn(conversationId: string): Promise<CronRun[]>;
  /** `queued` runs whose `dueAt` ≤ `now`, earliest first. */
  dueQueued(now: number): Promise<CronRun[]>;
  /** The earliest `dueAt` of queued runs, or null. */
  nextQueuedDue(): Promise<number | null>;
}

/** The `scheduled_messages` table. Rows are deleted with their conversation. */
export interface ScheduledMessagesRepo {
  /** The conversation must exist (else rejects with the driver's foreign-key error, see {@link Store}). */
  insert(m: ScheduledMessage): Promise<ScheduledMessage>;
  get(id: string): Promise<ScheduledMessage | undefined>;
  /** Messages of a conversation, earliest due first. */
  listForConversation(conversationId: string): Promise<ScheduledMessage[]>;
  countForConversation(conversationId: string): Promise<number>;
  /** Deletes one message of that conversation; false when `id` is not one of its messages. */
  delete(conversationId: string, id: string): Promise<boolean>;
  /** Deletes every message of the conversation; returns how many. */
  deleteForConversation(conversationId: string): Promise<number>;
  /** Deletes the message only if it is still due at `dueAt` (compare-and-set). */
  deleteIfDue(id: string, dueAt: number): Promise<boolean>;
  /** Moves `dueAt` from `from` to `to` (compare-and-set); false when it was not at `from`. */
  reschedule(id: string, from: number, to: number): Promise<boolean>;
  /** Messages with `dueAt` ≤ `now`, earliest first. */
  due(now: number): Promise<ScheduledMessage[]>;
  /** The earliest `dueAt`, or null. */
  nextDue(): Promise<number | null>;
}

/** Counts of rows removed by `prune`, per table. */
// Local chat users and their tokens.

/** A person who can log in to the local chat; their chat id is `local:<name>`. */
export interface LocalUserRow {
  name: string;
  /** Admin for the chat commands (in addition to AGENTBRIDGE_ADMINS). */
  admin: boolean;
  createdAt: number;
}

/** A user with how many live tokens of each kind they hold (for `agentbridge users list`). */
export interface LocalUserSummary extends LocalUserRow {
  sessions: number;
  apiTokens: number;
  /** Unused, unexpired login links. */
  links: number;
}

export type LocalTokenKind = 'link' | 'session' | 'api';

export interface LocalUsersRepo {
  /** Adds a user; returns false (and changes nothing) when the name is taken. */
  add(name: string, admin: boolean, now?: number): Promise<boolean>;
  get(name: string): Promise<LocalUserRow | undefined>;
  /** Every user by name, with live token counts at `now`. */
  list(now?: number): Promise<LocalUserSummary[]>;
  /** Removes the user and all their tokens; false when unknown. */
  remove(name: string): Promise<boolean>;
  /** Number of users. */
  count(): Promise<number>;
  /**
   * Stores a token hash for `user`. `expiresAt` null = never.
   * Rejects with the driver's foreign-key error (see {@link Store}) for an unknown user.
   */
  addToken(t: { hash: string; user: string; kind: LocalTokenKind; expiresAt: number | null; now?: number }): Promise<void>;
  /**
   * Consumes a login link: deletes the unexpired `link` token with this hash in one statement
   * (`DELETE … RETURNING`, so two concurrent uses cannot both succeed) and returns its user, or
   * undefined when it is unknown, used or expired.
   */
  consumeLink(hash: string, now?: number): Promise<LocalUserRow | undefined>;
  /** The user of an unexpired token of one of `kinds`, or undefined. */
  findToken(hash: string, kinds: LocalTokenKind[], now?: number): Promise<LocalUserRow | undefined>;
  /** Deletes one token (logout); false when unknown. */
  deleteToken(hash: string): Promise<boolean>;
  /** Deletes a user's tokens of `kinds`; returns how many. */
  revoke(user: string, kinds: LocalTokenKind[]): Promise<number>;
  /** Deletes expired tokens; returns how many. */
  purgeExpired(now?: number): Promise<number>;
}

// Local chat uploads.

/** One upload. */
export interface LocalUploadRow {
  /** Upload id (random, `src/platforms/local/uploads.ts` → `UPLOAD_ID_PATTERN`). */
  id: string;
  /** The logged-in user who uploaded it; null for an anonymous page. */
  owner: string | null;
  /** File name as the uploader's browser gave it (path parts and control characters removed). */
  name: string;
  /** MIME type (the browser's, or from the name's extension). */
  type: string;
  /** Size, bytes. */
  size: number;
  createdAt: number;
  /** The local message it was sent with; null while unsent. */
  messageId: string | null;
}

export interface LocalUploadsRepo {
  /** Stores a new, unsent upload. Rejects with the driver's unique-violation error (see {@link Store}) for a known id. */
  insert(row: Omit<LocalUploadRow, 'messageId' | 'createdAt'> & { createdAt?: number }): Promise<LocalUploadRow>;
  get(id: string): Promise<LocalUploadRow | undefined>;
  /**
   * Marks every upload of `ids` as sent with message `messageId` — all or none (a savepoint, so
   * it can run inside the caller's transaction): each must exist, belong to `owner` (null: an
   * anonymous upload) and be unsent. Returns false, changing nothing, when one does not.
   */
  markSent(ids: readonly string[], owner: string | null, messageId: string): Promise<boolean>;
  /** Deletes unsent uploads created before `before`; returns their ids (their files are the caller's to delete). */
  deleteUnsent(before: number): Promise<string[]>;
}

// Projects, channel bindings and worktrees.

/** A project: a directory under the workspaces root, maybe a git clone. */
export interface ProjectRow {
  /** A slug (src/core/projects.ts `PROJECT_NAME`). */
  name: string;
  /** Absolute real path of the project's directory. */
  path: string;
  /** Where it was cloned from; null for a `--path` project. */
  gitUrl: string | null;
  /** The branch worktrees start from; null when not a git project. */
  branch: string | null;
  /** Each conversation gets its own git worktree. */
  worktrees: boolean;
  createdAt: number;
}

/** A platform channel bound to a project. */
export interface ChannelBindingRow {
  platform: string;
  /** Platform channel id (for a thread: its parent channel). */
  channel: string;
  project: string;
  /** Platform-qualified id of the admin who bound it. */
  boundBy: string;
  createdAt: number;
}

/** A conversation's git worktree. */
export interface WorktreeRow {
  conversationId: string;
  project: string;
  /** Absolute path of the worktree. */
  path: string;
  /** `agentbridge/<slug>`. */
  branch: string;
  /** The commit the branch started from (the diff base). */
  base: string;
  createdAt: number;
}

export interface ProjectsRepo {
  /** Adds a project; false (nothing changed) when the name is taken. */
  add(p: Omit<ProjectRow, 'createdAt'>, now?: number): Promise<boolean>;
  get(name: string): Promise<ProjectRow | undefined>;
  /** Every project by name. */
  list(): Promise<ProjectRow[]>;
  /** Removes a project and its channel bindings (not its worktree rows); false when unknown. */
  remove(name: string): Promise<boolean>;
  /** Binds a channel (replacing its binding). Rejects with the driver's foreign-key error (see {@link Store}) for an unknown project. */
  bind(b: Omit<ChannelBindingRow, 'createdAt'>, now?: number): Promise<void>;
  /** Unbinds a channel; false when it was not bound. */
  unbind(platform: string, channel: string): Promise<boolean>;
  binding(platform: string, channel: string): Promise<ChannelBindingRow | undefined>;
  /** Channels bound to `project`. */
  bindingsOf(project: string): Promise<ChannelBindingRow[]>;
  /** Records a conversation's worktree (replacing an earlier row of that conversation). */
  setWorktree(w: Omit<WorktreeRow, 'createdAt'>, now?: number): Promise<void>;
  worktree(conversationId: string): Promise<WorktreeRow | undefined>;
  /** Every worktree row, oldest first. */
  worktrees(): Promise<WorktreeRow[]>;
  /** Forgets a conversation's worktree row; false when there was none. */
  removeWorktree(conversationId: string): Promise<boolean>;
  /** Worktree rows whose conversation no longer exists (after `db prune`). */
  orphanWorktrees(): Promise<WorktreeRow[]>;
}

export type PruneReport = Record<string, number>;

/**
 * The session store, on SQLite (`openStore`, store.ts) or PostgreSQL (`openPostgresStore`,
 * postgres.ts), with the same repositories (sql/). A call that the database refuses rejects with
 * the driver's error: better-sqlite3's `SqliteError` (`code` e.g. SQLITE_CONSTRAINT_UNIQUE,
 * SQLITE_CONSTRAINT_FOREIGNKEY, SQLITE_FULL) or pg's `DatabaseError` (`code` a SQLSTATE, e.g.
 * 23505 unique_violation, 23503 foreign_key_violation, 53100 disk_full).
 */
export interface Store {
  readonly conversations: ConversationsRepo;
  readonly entries: EntriesRepo;
  readonly postedMessages: PostedMessagesRepo;
  readonly inbox: InboxRepo;
  readonly outbox: OutboxRepo;
  readonly localMessages: LocalMessagesRepo;
  readonly platformState: PlatformStateRepo;
  readonly cronJobs: CronJobsRepo;
  readonly cronRuns: CronRunsRepo;
  readonly scheduledMessages: ScheduledMessagesRepo;
  /** Local chat logins (migration 006). */
  readonly localUsers: LocalUsersRepo;
  /** Files uploaded in the local chat (migration 013). */
  readonly localUploads: LocalUploadsRepo;
  readonly interactions: InteractionsRepo;
  readonly approvalRules: ApprovalRulesRepo;
  /** Projects, channel bindings and conversation worktrees (migration 011). */
  readonly projects: ProjectsRepo;
  /** Cluster mode's wake-up jobs (a no-op without a queue). */
  readonly turnJobs: TurnJobsRepo;
  /** Cluster mode's delivery leases (migration 014). */
  readonly deliveryLeases: DeliveryLeasesRepo;
  /** The instances of a cluster and their heartbeats (migration 014). */
  readonly clusterInstances: ClusterInstancesRepo;
  /** Agent CLI session files saved for other workers (cluster mode, migration 014). */
  readonly sessionFiles: SessionFilesRepo;
  /**
   * Runs `fn` in one transaction and resolves to its result: committed when `fn` resolves,
   * rolled back (and the error rethrown) when it rejects. Every store call of the transaction
   * goes through `tx`, the store bound to it; a call on the outer store from inside `fn`'s async
   * context is refused (it would run outside the transaction) with {@link StoreMisuseError}.
   * A `transaction` of `tx` runs inside the same transaction, as a savepoint: when its callback
   * rejects, only its own writes are rolled back and the error goes to its caller. On SQLite (one
   * connection) other callers wait until the transaction has ended, in call order; on PostgreSQL
   * they run on other pooled connections. Calls of `tx` run one at a time in call order; one made
   * (concurrently) outside a nested transaction's callback while that one is open waits until it
   * has ended. The transaction commits only after every call and nested transaction started
   * inside it has ended. A call of `tx` after the transaction
   * ended rejects with {@link StoreMisuseError}. A failed `COMMIT` rolls back and rejects with its
   * error (e.g. SQLite's SQLITE_FULL, PostgreSQL's 53100 disk_full).
   */
  transaction<T>(fn: (tx: Store) => Promise<T>): Promise<T>;
  /**
   * Closes the connection(s) — on SQLite once an open transaction has ended — and rejects with
   * {@link StoreMisuseError} inside a transaction; calls after it fail.
   */
  close(): Promise<void>;
}

/** A store call that would escape its transaction (see {@link Store.transaction}). */
export class StoreMisuseError extends Error {
  override readonly name = 'StoreMisuseError';
}
