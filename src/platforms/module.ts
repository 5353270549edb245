/**
 * What a platform module is: everything agentbridge knows about one chat platform, in one object
 * exported by `src/platforms/<name>/index.ts` and listed once in `./registry.ts`. The config
 * loader, the cron service, the cron CLI and the app derive their platform lists, variables,
 * validation and help texts from the registry; no other file names a platform.
 */
import type { z } from 'zod';
import type { Config } from '../core/config.js';
import type { PlatformConfigs, PlatformName } from '../core/platforms.js';
import type { HttpServer } from '../http/server.js';
import type { Logger } from '../logger.js';
import type { LocalEventRelay } from './local/events.js';
import type { LocalMessagesRepo, LocalUploadsRepo, LocalUsersRepo } from '../store/types.js';
import type { PlatformAdapter, PlatformLimits } from './types.js';

/** What an adapter needs from the app to be created (`PlatformModule.create`). */
export interface PlatformDeps {
  /** The whole configuration (the module's own part is `config[name]`). */
  config: Config;
  http: HttpServer;
  /** The app's logger; the module adds its `platform` binding. */
  logger: Logger;
  localMessages: LocalMessagesRepo;
  /** Local chat logins (`agentbridge users …`). */
  localUsers: LocalUsersRepo;
  /** Files uploaded in the local chat (`POST /api/local/files`). */
  localUploads: LocalUploadsRepo;
  /** Cluster mode: the local chat's live updates are relayed to and from the other instances (src/cluster/local-relay.ts). */
  localRelay?: LocalEventRelay;
}

/**
 * A platform's environment variables: their zod schemas and how they become the platform's
 * settings. Build one with {@link platformConfig} (it keeps the schema and `read` in step).
 */
export interface PlatformConfigSpec<C> {
  /** Variable name → zod schema of its raw value (blank values arrive as `undefined`). Merged into the one schema of `src/config.ts`. */
  readonly env: z.ZodRawShape;
  /**
   * Problems between variables, each `NAME: what to do` (no values of secrets), checked on the
   * raw values (blank = undefined) next to the schema's own problems, so one error names all.
   */
  check?(raw: Readonly<Record<string, string | undefined>>): string[];
  /** The platform's settings from the parsed variables (all of them, by name); undefined = not configured. */
  read(values: Readonly<Record<string, unknown>>): C | undefined;
  /**
   * Variables the agent processes must not see (names, or prefixes ending in `*`, as in
   * AGENTBRIDGE_AGENT_ENV_DENY), besides the ones in {@link env} (always kept from agents).
   */
  readonly agentEnvDeny?: readonly string[];
}

/**
 * A {@link PlatformConfigSpec} whose `read` gets the schema's parsed output type.
 * @param spec `env`: the variables; `read(values)`: the settings, undefined when not configured
 */
export function platformConfig<S extends z.ZodRawShape, C>(spec: {
  env: S;
  check?: (raw: Readonly<Record<string, string | undefined>>) => string[];
  read: (values: z.output<z.ZodObject<S>>) => C | undefined;
  agentEnvDeny?: readonly string[];
}): PlatformConfigSpec<C> {
  return { ...spec, read: (values) => spec.read(values as z.output<z.ZodObject<S>>) };
}

/** A conversation id split into its parts (`<platform>:…`); at least the platform, channel and thread. */
export interface ParsedConversationIdBase<N extends PlatformName = PlatformName> {
  platform: N;
  /** Platform channel id (for a Discord thread: its parent channel). */
  channel: string;
  /** Thread id, where the conversation is a thread. */
  thread?: string;
}

/** What the platform can do; the core and the help texts go by it. */
export interface PlatformCapabilities {
  /** Messages the bot posted can be edited (progress messages are edited into answers). */
  edit: boolean;
  /** Messages the bot posted can be deleted (`PlatformAdapter.delete`). */
  delete: boolean;
  /** Conversations can be threads in a channel. */
  threads: boolean;
  /** Reactions on the user's message show progress (`PlatformAdapter.react`). */
  reactions: boolean;
  /** A native typing/status indicator (`PlatformAdapter.setStatus`). */
  status: boolean;
  /** Command replies can be shown to the caller only. */
  ephemeralReplies: boolean;
  /** Platform slash commands (`/agent …`); without them commands are messages addressed to the bot. */
  slashCommands: boolean;
  /** A repeated post with the same idempotency key shows once (`PostOptions.idempotencyKey`). */
  idempotentPosts: boolean;
}

/**
 * One chat platform: see the file header. `N` is its registered {@link PlatformName}, `R` what
 * its conversation ids parse into.
 */
export interface PlatformModule<N extends PlatformName = PlatformName, R extends ParsedConversationIdBase<N> = ParsedConversationIdBase<N>> {
  /** The platform's name: conversation-id prefix, `platform` of messages, `--platform` of the cron CLI. */
  readonly name: N;
  /** How people call it in help texts, e.g. `Slack`. */
  readonly title: string;
  /** Its environment variables and settings (`config[name]`). */
  readonly config: PlatformConfigSpec<PlatformConfigs[N]>;
  /** Its conversation ids. */
  readonly ids: {
    /** The format, for help texts and errors, e.g. `slack:<team>:<channel>:<thread_ts>`. */
    readonly format: string;
    /**
     * Splits an id of this platform (`parts`: everything after `<name>:`, none empty) back into
     * what its builder was given.
     * @throws InvalidConversationIdError when the parts do not fit the format
     */
    parse(id: string, parts: readonly string[]): R;
  };
  /** Its channel ids (cron job targets, `--channel`). */
  readonly channel: {
    readonly pattern: RegExp;
    /** What a valid one looks like, for errors, e.g. `a Slack channel id such as C0123ABCD`. */
    readonly description: string;
    /** What `--channel` takes, for help texts, e.g. `Slack channel id`. */
    readonly label: string;
  };
  /** An example platform-qualified user id for help texts and errors, e.g. `slack:U123`. */
  readonly userIdExample: string;
  readonly limits: PlatformLimits;
  readonly capabilities: PlatformCapabilities;
  /**
   * HTTP paths the adapter serves on agentbridge's server and authenticates every request of
   * itself (e.g. Slack's signed Events API): served whatever the Host header (`src/http/hosts.ts`).
   */
  readonly hostCheckExemptPaths?: readonly string[];
  /**
   * Whether the adapter runs (default: when its settings are present).
   * @param settings the module's settings (`config[name]`)
   * @param othersConfigured the other registered platforms that run because their settings are
   *   present (those without an `enabled` of their own), e.g. `['slack']`
   */
  enabled?(settings: PlatformConfigs[N] | undefined, othersConfigured: readonly PlatformName[]): boolean;
  /** Creates the adapter (not started); called only when enabled, with the module's settings. */
  create(settings: NonNullable<PlatformConfigs[N]>, deps: PlatformDeps): Promise<PlatformAdapter>;
}

/** Any registered platform's module (the registry's element type). */
export type AnyPlatformModule = { [N in PlatformName]: PlatformModule<N> }[PlatformName];

/** Declares a platform module with its types checked (identity). */
export function definePlatform<N extends PlatformName, R extends ParsedConversationIdBase<N>>(module: PlatformModule<N, R>): PlatformModule<N, R> {
  return module;
}
