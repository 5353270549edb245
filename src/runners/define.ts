/**
 * `defineRunner`: what one agent CLI is, declared once — and the ONE implementation of `run` and
 * `probe` on top of the shared process driver (./process.ts) that every runner uses.
 *
 * A {@link RunnerDefinition} says how to start the CLI for a turn (argv, environment, the prompt
 * on stdin, how agentbridge's MCP server is wired), how to read its JSON lines (an
 * {@link EventParser}) and decide the outcome, how to probe it (version flag, credentials) and what
 * it can do ({@link RunnerCapabilities}). {@link createRunner} turns a definition into a
 * {@link Runner}. Each runner lives in its own folder (`src/runners/<name>/index.ts` exports its
 * definition) and is listed once in ./registry.ts.
 *
 * What is the same for every runner (so it is decided here, not per runner):
 * - the executable: `<BIN variable>` (an explicit path or a name looked up on PATH) or the
 *   definition's `command` on the request's PATH (./bin.ts); none → `not_installed`;
 * - the prompt goes to stdin, never argv (see ./process.ts);
 * - a spawn failure (ENOENT/EACCES/ENOTDIR → `not_installed`, else `crashed`), and a runner bug
 *   (an exception) → `crashed`; `run` never throws;
 * - the MCP token in the child env as AGENTBRIDGE_MCP_TOKEN (./mcp-config.ts), never argv;
 * - the probe: `<bin> --version` in {@link PROBE_CWD} with {@link VERSION_TIMEOUT_MS} and
 *   {@link PROBE_KILL_GRACE_MS}, the first `x.y.z` of its output, and one {@link RunnerProbe} shape.
 */
import os from 'node:os';
import { resolveBin } from './bin.js';
import { runError } from './errors.js';
import { withMcpToken } from './mcp-config.js';
import { drive, trackProcessCleanup, type DriveResult } from './process.js';
import type { RunError, Runner, RunEvent, RunnerProbe, RunRequest, RunResult } from './types.js';
import type { AgentSession, SessionCapabilities, SessionOptions } from './session/types.js';
import { failedSession } from './session/failed.js';
import type { SessionFileLocation, SessionFilesContext } from './session-files.js';

/**
 * Limit for `<bin> --version` in a probe, ms (the slowest CLI, a Node program, starts in 1–3 s on a
 * loaded 2-core machine). Every agent is probed at once (`probeAll`), so doctor and start-up wait at
 * most this plus the kill grace, whatever the number of agents.
 */
export const VERSION_TIMEOUT_MS = 10_000;
/** Kill grace (SIGINT→SIGTERM→SIGKILL steps) for a probe that overruns, ms. */
export const PROBE_KILL_GRACE_MS = 1000;
/** Working directory of a probe: neutral, always present, holds no project settings. */
export const PROBE_CWD = os.tmpdir();

/** Turns stdout lines of one turn into {@link RunEvent}s; one instance per turn. */
export interface EventParser {
  /** Parses one non-empty stdout line; unknown or malformed lines give []. */
  push(line: string): RunEvent[];
  /** Called once after the process ended (flushes pending events). */
  finish?(): RunEvent[];
}

/** What the CLI can do beyond a plain turn; agentbridge's features check these, never agent names. */
export interface RunnerCapabilities {
  /** Resume a session into a new one (`RunRequest.forkSession`): thread seeding forks the origin's session. */
  fork: boolean;
  /** Resume a session only up to a given message (`RunRequest.resumeAt`, `RunResult.resumeAt`): re-runs of cut turns. */
  resumeAt: boolean;
  /** `RunRequest.systemPrompt` is passed to the agent. */
  systemPrompt: boolean;
  /** agentbridge's tools (`RunRequest.mcp`) reach the agent. */
  mcp: boolean;
}

/** Options of one runner instance (from the configuration, or a test). */
export interface RunnerOptions {
  /** The `<binVariable>` setting: an explicit path, or a command name looked up on the request's PATH. */
  bin?: string;
  /** Delay between SIGINT→SIGTERM→SIGKILL when a turn is stopped, ms (default: the definition's, else the driver's 3000). */
  killGraceMs?: number;
  /** Runner-specific extra settings, e.g. codex `-c key=value` overrides; runners without such settings ignore them. */
  configOverrides?: string[];
  /** Limit of the probe's version check, ms (default {@link VERSION_TIMEOUT_MS}; tests shorten it). */
  versionTimeoutMs?: number;
}

/** The child environment for a turn's MCP server when argv cannot carry it (Gemini: an overlay home). */
export interface McpEnvironment {
  env: NodeJS.ProcessEnv;
  /** Called after the process ended; never throws. */
  finish(): void;
}

/** Everything {@link RunnerDefinition.outcome} may use besides the parser. */
export interface OutcomeContext {
  req: RunRequest;
  /** The resolved executable. */
  bin: string;
  /** The driver's result; never has `spawnError` here (handled before). */
  done: DriveResult;
}

/**
 * One agent CLI, declared. `P` is the runner's event parser (its state feeds `outcome`).
 * Only `name`, `displayName`, `command`, `binVariable`, `capabilities`, `args`, `parser`,
 * `outcome` and `auth` are required.
 */
/** How often a run whose CLI missed its prompt ({@link RunnerDefinition.promptMissed}) is started again. */
export const PROMPT_MISSED_RETRIES = 2;

export interface RunnerDefinition<N extends string = string, P extends EventParser = EventParser> {
  /** The agent name in configuration, commands and the database: lower case letters, digits, `-`. */
  readonly name: N;
  /** For people: "Claude Code". */
  readonly displayName: string;
  /** The executable's default name, looked up on PATH ("claude"). */
  readonly command: string;
  /** The environment variable that overrides the executable ("CLAUDE_BIN"); never passed to agents. */
  readonly binVariable: string;
  readonly capabilities: RunnerCapabilities;
  /**
   * argv (after the executable) for one turn. With `mcp: 'argv'` it also carries the MCP server
   * (`req.mcp`; the token only as an env reference — see ./mcp-config.ts).
   */
  args(req: RunRequest, opts: RunnerOptions): string[];
  /**
   * The child environment from `base` (the request's env for a turn; the caller's env for a probe,
   * `req` undefined then). Default: `base` unchanged.
   */
  env?(base: NodeJS.ProcessEnv, req?: RunRequest): NodeJS.ProcessEnv;
  /** The text written to stdin for `prompt` (default the prompt itself). */
  stdin?(prompt: string): string;
  /**
   * How the turn's MCP server reaches the CLI: `'argv'` (args() adds it; the token is added to
   * the env here), or a function preparing the child env of **every** turn, with or without
   * `req.mcp` (it receives the env with the token when the turn has tools; Gemini: an overlay
   * home whose settings also make attached files readable). It returning undefined → the turn runs
   * with the env unchanged (with `req.mcp`: without tools, and a warning event says so). Absent: no tools.
   */
  mcp?: 'argv' | ((env: NodeJS.ProcessEnv, req: RunRequest) => McpEnvironment | undefined);
  /** A new parser for one turn. */
  parser(req: RunRequest): P;
  /**
   * True once `parser` has seen the CLI's final event of the turn (claude `result`, codex
   * `turn.completed`/`turn.failed`, gemini `result`) and the outcome no longer depends on the exit
   * code: the run then resolves right away (`DriveResult.endedAtFinalEvent`, usually `exitCode`
   * null) and the process group is ended in the background (../process.ts). Checked after every
   * stdout line. Absent: the run ends when the process group is gone.
   */
  finalEvent?(parser: P): boolean;
  /**
   * The turn's result from the parsed lines and the process outcome (process started fine). With
   * `done.endedAtFinalEvent` the final event decides (the exit code is not known).
   */
  outcome(parser: P, ctx: OutcomeContext): RunResult;
  /** Whether credentials are present, from env and files only (never calls a model). */
  auth(env: NodeJS.ProcessEnv): { authenticated: boolean | 'unknown'; detail: string };
  /** argv of the version check (default `['--version']`). */
  versionArgs?: readonly string[];
  /** Kill grace of a stopped turn, ms (default the driver's 3000). */
  killGraceMs?: number;
  /**
   * True when a failed resume means the agent's stored session is gone (its files lost, or the
   * workdir changed): the turn then continues from agentbridge's transcript. Gets `RunError.message`.
   */
  isMissingSession?(message: string): boolean;
  /**
   * True when the CLI ended without having read the prompt, so nothing ran (Gemini CLI waits
   * only 500 ms for piped input and then exits 42 "No input provided via stdin" — on a CPU-starved
   * machine its own start-up can outlast that). Such a run is started again, at most
   * {@link PROMPT_MISSED_RETRIES} times. Absent: never.
   */
  promptMissed?(done: DriveResult): boolean;
  /**
   * ms: a run that prints no line at all for this long after it was spawned is ended and counted
   * as {@link promptMissed} (started again, at most {@link PROMPT_MISSED_RETRIES} times). For a
   * CLI that can stall before its first line when it misses its prompt: Gemini CLI 0.61.0 resumed
   * with `--resume` and no piped input in time was seen to hang until the turn timeout. Absent: no watchdog.
   */
  silentStartMs?: number;
  /** Live agent sessions over the CLI's interactive protocol; absent = one-shot turns only. */
  session?: SessionBackend;
  /**
   * Where the CLI keeps the files of session `ctx.sessionId` (./session-files.ts), given the
   * child environment (`env` through the definition's {@link env}), the workdir and the id: cluster
   * mode saves them after a turn and restores them on another worker before a resume. Absent: the
   * session cannot follow the conversation to another worker (the transcript continuation takes over).
   */
  sessionFiles?(ctx: SessionFilesContext): SessionFileLocation;
}

/** What a live-session backend gets besides the session's options. */
export interface SessionContext {
  /** The resolved executable. */
  bin: string;
  /** The runner instance's options (kill grace, config overrides). */
  runnerOptions: RunnerOptions;
  /** The child environment: `options.env` through the definition's `env`, with the MCP token (AGENTBRIDGE_MCP_TOKEN) when `options.mcp` is set. */
  env: NodeJS.ProcessEnv;
}

/**
 * A runner's live agent sessions (./session/types.ts): one long-lived process per conversation,
 * driven over the CLI's interactive protocol. Runners without it run one process per turn only.
 */
export interface SessionBackend {
  readonly capabilities: SessionCapabilities;
  /** Starts the process (the returned session reports start failures from its first `send`). Never throws. */
  open(options: SessionOptions, ctx: SessionContext): AgentSession;
}

/** A definition of any runner (the registry's element type). */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type AnyRunnerDefinition = RunnerDefinition<string, any>;

const NAME = /^[a-z][a-z0-9-]*$/;
const ENV_NAME = /^[A-Z_][A-Z0-9_]*$/;

/**
 * Declares a runner. Returns `def` unchanged (typed, with its literal name).
 * @throws Error when the name or the bin variable is malformed, or `capabilities.mcp` disagrees with `mcp`.
 */
export function defineRunner<const N extends string, P extends EventParser>(def: RunnerDefinition<N, P>): RunnerDefinition<N, P> {
  if (!NAME.test(def.name)) throw new Error(`runner name "${def.name}": use lower-case letters, digits and "-", starting with a letter`);
  if (!ENV_NAME.test(def.binVariable)) throw new Error(`runner ${def.name}: binVariable "${def.binVariable}" is not an environment variable name`);
  if (def.capabilities.mcp !== (def.mcp !== undefined))
    throw new Error(`runner ${def.name}: capabilities.mcp must be true exactly when \`mcp\` says how the tools are wired`);
  return def;
}

/** The {@link Runner} of a definition: `run` and `probe` as described in the module doc. */
export function createRunner(def: AnyRunnerDefinition, opts: RunnerOptions = {}): Runner {
  return {
    agent: def.name,
    run: (req, onEvent) => runTurn(def, opts, req, onEvent),
    probe: (env) => probe(def, opts, env),
    ...(def.session ? { sessionCapabilities: def.session.capabilities, openSession: (o: SessionOptions) => openSession(def, opts, o) } : {}),
    ...(def.sessionFiles ? { sessionFiles: (ctx: SessionFilesContext) => def.sessionFiles!({ ...ctx, env: def.env ? def.env(ctx.env) : ctx.env }) } : {}),
  };
}

function openSession(def: AnyRunnerDefinition, opts: RunnerOptions, options: SessionOptions): AgentSession {
  const backend = def.session!;
  try {
    const bin = resolveBin(def.command, opts.bin, options.env['PATH']);
    if (!bin)
      return failedSession(def.name, options, runError('not_installed', `${def.command} executable not found (${opts.bin ?? `${def.command} on PATH`})`));
    let env = def.env ? def.env(options.env) : options.env;
    if (options.mcp) env = withMcpToken(env, options.mcp);
    return backend.open(options, { bin, runnerOptions: opts, env });
  } catch (err) {
    return failedSession(def.name, options, runError('crashed', `runner failure: ${String(err)}`));
  }
}

async function runTurn(def: AnyRunnerDefinition, opts: RunnerOptions, req: RunRequest, onEvent: (event: RunEvent) => void): Promise<RunResult> {
  const emit = (events: RunEvent[]) => {
    for (const e of events) {
      try {
        onEvent(e);
      } catch {
        /* a listener bug must not break the turn */
      }
    }
  };
  try {
    const bin = resolveBin(def.command, opts.bin, req.env['PATH']);
    if (!bin) {
      return {
        ok: false,
        text: '',
        exitCode: null,
        error: runError('not_installed', `${def.command} executable not found (${opts.bin ?? `${def.command} on PATH`})`),
      };
    }
    let env = def.env ? def.env(req.env, req) : req.env;
    let wiring: McpEnvironment | undefined;
    if (req.mcp && def.mcp) env = withMcpToken(env, req.mcp);
    if (def.mcp && def.mcp !== 'argv') {
      wiring = def.mcp(env, req);
      if (wiring) env = wiring.env;
      else if (req.mcp)
        emit([{ type: 'warning', message: `agentbridge tools are not available in this turn: the ${def.displayName} settings could not be prepared` }]);
    }
    const killGraceMs = opts.killGraceMs ?? def.killGraceMs;
    let parser = def.parser(req);
    let done: DriveResult;
    let gone: Promise<void> | undefined;
    let silent = false;
    try {
      for (let attempt = 0; ; attempt++) {
        const current = parser;
        // A CLI that prints nothing for `silentStartMs` never got going (see RunnerDefinition.silentStartMs): end it.
        const watchdog = def.silentStartMs ? new AbortController() : undefined;
        const signals = [req.signal, watchdog?.signal].filter((x): x is AbortSignal => x !== undefined);
        const signal = signals.length > 1 ? AbortSignal.any(signals) : signals[0];
        let printed = false;
        const timer = watchdog && setTimeout(() => printed || watchdog.abort('silent start'), def.silentStartMs);
        try {
          done = await drive({
            bin,
            args: def.args(req, opts),
            stdin: def.stdin ? def.stdin(req.prompt) : req.prompt,
            cwd: req.cwd,
            env,
            timeoutMs: req.timeoutMs,
            ...(signal ? { signal } : {}),
            ...(killGraceMs !== undefined ? { killGraceMs } : {}),
            onLine: (line) => {
              printed = true;
              emit(current.push(line));
            },
            ...(def.finalEvent ? { isFinal: () => def.finalEvent!(current) } : {}),
          });
        } finally {
          clearTimeout(timer);
        }
        gone = done.gone;
        silent = !!watchdog?.signal.aborted && !req.signal?.aborted;
        const missed = silent || (def.promptMissed?.(done) ?? false);
        if (attempt >= PROMPT_MISSED_RETRIES || req.signal?.aborted || done.spawnError || !missed) break;
        parser = def.parser(req);
      }
    } finally {
      // The wiring is the CLI's (e.g. Gemini's overlay home): undone once its process group is gone.
      const w = wiring;
      if (w && gone) void trackProcessCleanup(gone.then(() => w.finish()));
      else w?.finish();
    }
    if (silent) {
      const s = Math.round((def.silentStartMs ?? 0) / 1000);
      return {
        ok: false,
        text: '',
        exitCode: done.exitCode,
        error: runError('crashed', `${def.displayName} printed nothing within ${s} s of starting, ${PROMPT_MISSED_RETRIES + 1} times; nothing ran`),
      };
    }
    if (parser.finish) emit(parser.finish());
    if (done.spawnError) {
      const code = done.spawnError.code ?? '';
      const kind = code === 'ENOENT' || code === 'EACCES' || code === 'ENOTDIR' ? 'not_installed' : 'crashed';
      return { ok: false, text: '', exitCode: done.exitCode, error: runError(kind, `cannot start ${bin}: ${code || done.spawnError.message}`) };
    }
    return def.outcome(parser, { req, bin, done });
  } catch (err) {
    return { ok: false, text: '', exitCode: null, error: runError('crashed', `runner failure: ${String(err)}`) };
  }
}

/**
 * installed: the executable resolves (BIN variable or PATH) and starts; version: the first
 * `x.y.z…` of `<bin> --version`; authenticated/detail: the definition's `auth`. Never calls a model.
 */
async function probe(def: AnyRunnerDefinition, opts: RunnerOptions, callerEnv: NodeJS.ProcessEnv): Promise<RunnerProbe> {
  const auth = def.auth(callerEnv);
  const base = { agent: def.name, authenticated: auth.authenticated };
  const bin = resolveBin(def.command, opts.bin, callerEnv['PATH']);
  if (!bin) return { ...base, installed: false, detail: `${def.command} not found (${opts.bin ?? 'PATH'}); ${auth.detail}` };
  const versionArgs = [...(def.versionArgs ?? ['--version'])];
  const timeoutMs = opts.versionTimeoutMs ?? VERSION_TIMEOUT_MS;
  let out = '';
  let r: DriveResult;
  try {
    r = await drive({
      bin,
      args: versionArgs,
      cwd: PROBE_CWD,
      env: def.env ? def.env(callerEnv) : callerEnv,
      timeoutMs,
      killGraceMs: PROBE_KILL_GRACE_MS,
      onLine: (line) => {
        out += `${line}\n`;
      },
    });
  } catch (err) {
    const versionError = `\`${def.command} ${versionArgs.join(' ')}\` could not run: ${String(err)}`;
    return { ...base, installed: true, bin, versionError, detail: `${def.command} version unknown: ${versionError} at ${bin}; ${auth.detail}` };
  }
  if (r.spawnError) return { ...base, installed: false, bin, detail: `cannot run ${bin}: ${r.spawnError.code ?? r.spawnError.message}; ${auth.detail}` };
  const version = /\d+\.\d+\.\d+[\w.+-]*/.exec(out)?.[0];
  if (version) return { ...base, installed: true, bin, version, detail: `${def.command} ${version} at ${bin}; ${auth.detail}` };
  const versionError = versionProblem(`${def.command} ${versionArgs.join(' ')}`, r, timeoutMs);
  return { ...base, installed: true, bin, versionError, detail: `${def.command} version unknown: ${versionError} at ${bin}; ${auth.detail}` };
}

/**
 * Why a version check printed no version (pure), for people:
 * `` `gemini --version` timed out after 10 s ``, `` `gemini --version` failed (exit code 3): <last stderr line> ``
 * or `` no x.y.z in the output of `gemini --version` ``.
 */
export function versionProblem(command: string, r: Pick<DriveResult, 'stoppedBy' | 'exitCode' | 'exitSignal' | 'stderr'>, timeoutMs: number): string {
  if (r.stoppedBy === 'timeout') return `\`${command}\` timed out after ${Math.round(timeoutMs / 1000)} s`;
  if (r.exitCode !== 0) {
    const last = r.stderr.trim().split('\n').at(-1)?.trim();
    return `\`${command}\` failed (${r.exitCode === null ? `killed by ${r.exitSignal ?? 'a signal'}` : `exit code ${r.exitCode}`})${last ? `: ${last.slice(0, 200)}` : ''}`;
  }
  return `no x.y.z in the output of \`${command}\``;
}

/** The error of a turn the driver stopped (abort → `stopped`, time limit → `timeout`). */
export function stoppedError(done: DriveResult, timeoutMs: number): RunError | undefined {
  if (!done.stoppedBy) return undefined;
  return runError(done.stoppedBy, done.stoppedBy === 'timeout' ? `no answer within ${Math.round(timeoutMs / 1000)} s` : 'stopped on request');
}

/** "exit code N", "killed by SIG…" or, for a run that ended at its final event before the exit, "ended its turn", for error messages. */
export function howEnded(done: Pick<DriveResult, 'exitCode' | 'exitSignal' | 'endedAtFinalEvent'>): string {
  if (done.exitCode === null && done.exitSignal === null && done.endedAtFinalEvent) return 'ended its turn';
  return done.exitCode === null ? `killed by ${done.exitSignal ?? 'a signal'}` : `exit code ${done.exitCode}`;
}
