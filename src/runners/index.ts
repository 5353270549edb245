/**
 * The runner registry: one Runner per agent, and the resolution of `AGENTBRIDGE_AGENT=auto`
 * (the first of claude, codex, gemini that is installed and authenticated).
 */
import type { Config } from '../core/config.js';
import { ClaudeRunner } from './claude.js';
import { CodexRunner } from './codex.js';
import { GeminiRunner } from './gemini.js';
import { AGENT_NAMES, type AgentName } from '../core/agents.js';
import type { Runner, RunnerProbe } from './types.js';

export type RunnerSet = Record<AgentName, Runner>;

/** Creates the three runners with the configured binaries (CLAUDE_BIN, CODEX_BIN, GEMINI_BIN). */
export function createRunners(config: Pick<Config, 'bins'>): RunnerSet {
  return {
    claude: new ClaudeRunner({ bin: config.bins.claude }),
    codex: new CodexRunner({ bin: config.bins.codex }),
    gemini: new GeminiRunner({ bin: config.bins.gemini }),
  };
}

/** Probes every agent in parallel; never calls a model. */
export async function probeAll(runners: RunnerSet, env: NodeJS.ProcessEnv): Promise<RunnerProbe[]> {
  return Promise.all(AGENT_NAMES.map((a) => runners[a].probe(env)));
}

/**
 * The agent to use by default.
 * @returns the configured agent, or for `auto` the first of claude, codex, gemini that is
 *   installed and authenticated (`'unknown'` authentication counts as usable), or undefined
 *   when none is.
 */
export function resolveDefaultAgent(setting: Config['agent'], probes: RunnerProbe[]): AgentName | undefined {
  if (setting !== 'auto') return setting;
  const usable = (p: RunnerProbe) => p.installed && p.authenticated !== false;
  return AGENT_NAMES.find((a) => {
    const p = probes.find((x) => x.agent === a);
    return p !== undefined && usable(p);
  });
}
