/**
 * The runners of this process: one {@link Runner} per registered agent (./registry.ts), and the
 * resolution of `AGENTBRIDGE_AGENT=auto` (the first registered agent that is installed and
 * authenticated: claude, codex, gemini, then any added ones).
 */
import type { Config } from '../core/config.js';
import type { AgentName } from '../core/agents.js';
import { createRunner } from './define.js';
import { runnerDefinitions } from './registry.js';
import type { Runner, RunnerProbe } from './types.js';

/** The runners by agent name; a name missing from it has no runner. */
export type RunnerSet = Readonly<Record<AgentName, Runner>>;

/** Creates a runner for every registered agent with its configured binary (`config.bins`: CLAUDE_BIN, …). */
export function createRunners(config: Pick<Config, 'bins'>): RunnerSet {
  return Object.fromEntries(runnerDefinitions().map((d) => [d.name, createRunner(d, { bin: config.bins[d.name] })]));
}

/** Probes every runner of `runners` in parallel, in registry order; never calls a model. */
export async function probeAll(runners: RunnerSet, env: NodeJS.ProcessEnv): Promise<RunnerProbe[]> {
  return Promise.all(Object.values(runners).map((r) => r.probe(env)));
}

/**
 * The agent to use by default.
 * @returns the configured agent, or for `auto` the first probed agent (registry order) that is
 *   installed and authenticated (`'unknown'` authentication counts as usable), or undefined
 *   when none is.
 */
export function resolveDefaultAgent(setting: Config['agent'], probes: RunnerProbe[]): AgentName | undefined {
  if (setting !== 'auto') return setting;
  return probes.find((p) => p.installed && p.authenticated !== false)?.agent;
}
