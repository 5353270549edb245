/**
 * The runner registry: which agent CLIs agentbridge knows. Everything that lists agents reads
 * it — the AGENTBRIDGE_AGENT values and `*_BIN` variables (src/config.ts), the variables kept
 * from agents (./agent-env.ts), `/agent agent <name>`, `/agent cron add --agent`, help texts,
 * `agentbridge doctor`, the `auto` order and the capability checks of thread seeding and re-runs.
 *
 * Adding a runner: a folder `src/runners/<name>/` whose index.ts exports `defineRunner({ … })`
 * (./define.ts), and one line in {@link BUILTIN_RUNNERS} (README "Extending").
 *
 * {@link registerRunner} adds a definition at run time, before the configuration is loaded —
 * for tests (a fake CLI) and embedders; the list is process-wide, like ./process.ts's hooks.
 * Names are runtime data, so `AgentName` (src/core/agents.ts) is a string; the built-in names
 * stay a static union ({@link BuiltinAgentName}) derived from the `as const` list below.
 */
import type { AgentName } from '../core/agents.js';
import { claude } from './claude/index.js';
import { codex } from './codex/index.js';
import type { AnyRunnerDefinition, RunnerCapabilities } from './define.js';
import { gemini } from './gemini/index.js';
import type { RunError } from './types.js';

/** The built-in runners, in `AGENTBRIDGE_AGENT=auto` order (the first usable one is the default). */
export const BUILTIN_RUNNERS = [claude, codex, gemini] as const;

/** `'claude' | 'codex' | 'gemini'`. */
export type BuiltinAgentName = (typeof BUILTIN_RUNNERS)[number]['name'];

const registered: AnyRunnerDefinition[] = [...BUILTIN_RUNNERS];

/**
 * Adds a runner after the built-in ones (last in the `auto` order).
 * @throws Error when a runner of that name, or with that bin variable, is registered already.
 */
export function registerRunner(def: AnyRunnerDefinition): void {
  const clash = registered.find((d) => d.name === def.name || d.binVariable === def.binVariable);
  if (clash) throw new Error(`runner "${def.name}" (${def.binVariable}) clashes with the registered runner "${clash.name}" (${clash.binVariable})`);
  registered.push(def);
}

/** Every registered runner, built-in ones first. */
export function runnerDefinitions(): readonly AnyRunnerDefinition[] {
  return registered;
}

/** The definition of `agent`, or undefined for a name no runner has (e.g. one removed since a row was written). */
export function runnerDefinition(agent: AgentName): AnyRunnerDefinition | undefined {
  return registered.find((d) => d.name === agent);
}

/** The registered agent names, in registry order. */
export function agentNames(): AgentName[] {
  return registered.map((d) => d.name);
}

/** True when `name` is a registered agent. */
export function isAgentName(name: string): name is AgentName {
  return registered.some((d) => d.name === name);
}

/** Human-readable agent name ("Claude Code"); the name itself for an unknown agent. */
export function agentLabel(agent: AgentName): string {
  return runnerDefinition(agent)?.displayName ?? agent;
}

const NONE: RunnerCapabilities = { fork: false, resumeAt: false, systemPrompt: false, mcp: false };

/** What `agent` can do; nothing for an unknown agent. */
export function capabilitiesOf(agent: AgentName): RunnerCapabilities {
  return runnerDefinition(agent)?.capabilities ?? NONE;
}

/** A message some CLI may word this way for a lost session, whatever the runner says. */
const GENERIC_MISSING_SESSION = /session .{0,40}not found/i;

/**
 * True when a turn failed because the agent's stored session no longer exists (its files were
 * lost, e.g. a container recreated without the agent's home, or the working directory changed):
 * the runner's `isMissingSession` — of `agent`, or of any registered runner when `agent` is not
 * given — or the generic "session … not found". Stops and timeouts never count.
 */
export function isMissingSessionError(err: RunError | undefined, agent?: AgentName): boolean {
  if (!err || err.kind === 'stopped' || err.kind === 'timeout') return false;
  if (GENERIC_MISSING_SESSION.test(err.message)) return true;
  const defs = agent === undefined ? registered : registered.filter((d) => d.name === agent);
  return defs.some((d) => d.isMissingSession?.(err.message) ?? false);
}

/**
 * The text shown to the user for a failed turn: what happened and what to do next.
 * `timeoutS` is used for the timeout wording.
 */
export function describeRunError(agent: AgentName, err: RunError, timeoutS?: number): string {
  const name = agentLabel(agent);
  const detail = err.message ? ` (${err.message})` : '';
  switch (err.kind) {
    case 'not_installed':
      return `⚠️ ${name} is not installed on the agentbridge host${detail}. An admin can install it or pick another agent; \`agentbridge doctor\` shows what is available.`;
    case 'not_authenticated':
      return `⚠️ ${name} is not logged in${detail}. An admin needs to log the CLI in (or set its API key) on the agentbridge host, then send your message again.`;
    case 'usage_limit':
      return `⚠️ ${name} hit a usage or rate limit${detail}. Wait a little and send your message again.`;
    case 'api_error':
      return `⚠️ ${name} reported an error${detail}. Send your message again; if it keeps failing, an admin can check the logs.`;
    case 'timeout':
      return `⏱️ The turn took longer than ${timeoutS ? `${timeoutS} s` : 'the time limit'} and was stopped. Ask for a smaller step, or an admin can raise AGENTBRIDGE_TURN_TIMEOUT_S.`;
    case 'stopped':
      return `⏹️ The turn was stopped. Send a new message to continue.`;
    case 'crashed':
      return `⚠️ ${name} ended unexpectedly${detail}. Send your message again; if it keeps failing, an admin can check the logs.`;
  }
}
