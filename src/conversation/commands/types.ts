/**
 * Types of the command service: what a command is, what it gets to work with, what it answers.
 * One command per file in this folder; `index.ts` holds the registry, parsing and dispatch.
 */
import type { Logger } from '../../logger.js';
import type { PlatformName, ReplyTarget } from '../../core/messages.js';
import type { AgentName, PermissionMode } from '../../core/agents.js';
import type { CronService, ScheduledMessagesService } from '../../scheduler/types.js';
import type { OutgoingFiles } from '../../store/outgoing-files.js';
import type { OutboxFile, Store } from '../../store/types.js';
import type { BridgeStatus } from '../bridge.js';
import type { Inbox } from '../inbox.js';

/** The person running a command. */
export interface Caller {
  platform: PlatformName;
  /** Platform user id (not qualified). */
  userId: string;
  userName: string;
  /** `platform:userId`, as in AGENTBRIDGE_ADMINS. */
  qualifiedId: string;
  admin: boolean;
}

/** Where the command was given. */
export interface CommandPlace {
  /** The conversation the command is about; absent for a slash command outside any conversation. */
  conversationId?: string;
  /** Platform channel id (for a thread: its parent channel where the platform has one). */
  channel: string;
  /** Where answers and notices for this place go. */
  replyTarget: ReplyTarget;
}

/** What the router offers commands. */
export interface RouterControl {
  stop(conversationId: string): boolean;
  status(conversationId: string): BridgeStatus;
  active(): BridgeStatus[];
}

/** A request to restart, recorded so the new process can report back. */
export interface RestartRequest {
  /** Cluster mode: the instance that restarts (only it announces its return). */
  instanceId?: string;
  conversationId?: string;
  replyTarget: ReplyTarget;
  /** Display name of who asked. */
  requestedBy: string;
  /** Platform-qualified id of who asked. */
  requestedById: string;
  at: number;
}

/** Everything commands may use. Optional parts are absent when that part of agentbridge is not running. */
/** The store parts commands use (conversation settings, transcripts, remembered platform state). */
export type CommandStore = Pick<Store, 'entries' | 'platformState' | 'transaction' | 'approvalRules' | 'interactions' | 'projects'> & {
  conversations: Omit<Store['conversations'], 'ensure'>;
};

export interface CommandDeps {
  store: CommandStore;
  /** Creates conversation rows (a slash command may name a conversation the store has not seen yet). */
  inbox: Pick<Inbox, 'ensureConversation'>;
  router: RouterControl;
  defaults: { agent?: AgentName; model?: string; workdir: string; permissionMode?: PermissionMode };
  /** The live agent sessions (absent: none run). */
  sessions?: {
    get(conversationId: string): { pid: number | undefined; alive: boolean } | undefined;
    close(conversationId: string, why?: string): Promise<void>;
  };
  /** Agents installed and logged in on this host. */
  availableAgents: AgentName[];
  /** `workdir` paths must resolve inside this directory. */
  workspacesRoot: string;
  /** Environment for git in `project`, `diff` and `worktree` (the agents' environment: the host's git configuration and credentials, nothing of agentbridge's). */
  gitEnv?: NodeJS.ProcessEnv;
  /**
   * Files commands post (`diff`'s patch): the store of copies kept in the data directory until
   * their outbox row is delivered, and the largest file a platform takes, bytes
   * (`PlatformLimits.maxFileBytes`; undefined when its adapter cannot post files). Absent: no
   * command posts a file.
   */
  files?: { copies: Pick<OutgoingFiles, 'put'>; maxBytes(platform: PlatformName): number | undefined };
  /** Shutdown grace, for the restart message (ms). */
  shutdownGraceMs: number;
  cron?: CronService;
  scheduled?: ScheduledMessagesService;
  /** Starts a graceful restart (after the reply went out); absent when this process cannot restart itself. */
  restart?: () => void;
  /** Cluster mode: this instance's id (AGENTBRIDGE_INSTANCE_ID): `restart` restarts this instance only and names it. Absent: single instance. */
  instanceId?: string;
  /**
   * Cluster mode: stops the conversation's running turn on whichever other instance runs it
   * (`/agent stop` when no turn of it runs here; src/cluster/stop.ts). Resolves true when the stop
   * was sent, false when it is known that no instance runs a turn of it; rejects when the other
   * instances cannot be reached. Absent: single instance.
   */
  stopElsewhere?: (conversationId: string) => Promise<boolean>;
  /** True while agentbridge is shutting down or restarting. */
  stopping?: () => boolean;
  /**
   * Cluster mode: the cluster's status as Markdown (src/cluster/status.ts `formatClusterStatus`),
   * appended to `status`'s reply; absent outside cluster mode. A rejection is shown as "unavailable".
   */
  clusterStatus?: () => Promise<string>;
  logger: Logger;
  now?: () => number;
}

/** What a command hands to its `run`. */
export interface CommandContext {
  caller: Caller;
  place: CommandPlace;
  deps: CommandDeps;
}

/** A command's answer. */
export interface CommandResult {
  /** Markdown. */
  text: string;
  /** Only the caller should see it (slash commands); messages in a conversation are always visible. */
  ephemeral: boolean;
  /** Runs after the answer went out (e.g. the restart itself). */
  after?: () => void;
  /**
   * A file posted in the conversation after `text` (e.g. `diff`'s patch): its copy already in the
   * data directory (`deps.files.copies`), posted once through the outbox like `send_file`'s.
   */
  file?: OutboxFile;
}

/** One chat command (`/agent <name> <args>`). */
export interface Command<A = unknown> {
  name: string;
  /** Only admins may run it. */
  admin: boolean;
  /** Works on the current conversation (refused where there is none). */
  needsConversation: boolean;
  /** Argument grammar for usage messages, e.g. `<claude|codex|gemini>` (a getter where it depends on a registry); '' for none. */
  args: string;
  /** One line for `help`. */
  summary: string;
  /** More lines for the usage message (optional). */
  details?: string;
  /**
   * Parses the argument text (everything after the command name, trimmed). Returns undefined
   * when the arguments do not fit the grammar — then an `@agentbridge …` message stays a prompt,
   * and `/agent …` gets the usage message.
   */
  parse(args: string): A | undefined;
  run(ctx: CommandContext, args: A): CommandResult | Promise<CommandResult>;
}

/** Builds a result. */
export function reply(text: string, ephemeral = false, after?: () => void): CommandResult {
  return after ? { text, ephemeral, after } : { text, ephemeral };
}

/** `<name>` with no arguments: accepts '' (and trailing punctuation like "stop!"). */
export function noArgs(args: string): true | undefined {
  return /^[.!?]*$/.test(args) ? true : undefined;
}

/**
 * Ensures the conversation row exists (a slash command may name a conversation the store has not
 * seen yet); resolves to its id once the row is stored.
 */
export async function ensureConversation(ctx: CommandContext): Promise<string> {
  const id = ctx.place.conversationId!;
  const t = ctx.place.replyTarget;
  await ctx.deps.inbox.ensureConversation({ id, platform: t.platform, channel: t.channel, thread: t.thread ?? null, workdir: null });
  return id;
}

/** "1h 02m", "3m 05s", "12s". */
export function formatDuration(ms: number): string {
  const s = Math.max(0, Math.round(ms / 1000));
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const sec = s % 60;
  if (h) return `${h}h ${String(m).padStart(2, '0')}m`;
  if (m) return `${m}m ${String(sec).padStart(2, '0')}s`;
  return `${sec}s`;
}
