/**
 * `agentbridge doctor`: for each agent CLI, whether it is installed, its version and whether it
 * is authenticated, then the agent agentbridge will use. Exits 1 when no agent is usable.
 */
import { createRunners, probeAll, resolveDefaultAgent } from '../runners/index.js';
import { agentLabel } from '../runners/errors.js';
import { configOrExit } from './env.js';

export async function runDoctor(): Promise<void> {
  const config = configOrExit();
  const probes = await probeAll(createRunners(config), config.agentEnv);
  const out: string[] = ['agentbridge doctor', ''];
  for (const p of probes) {
    const auth = p.authenticated === true ? 'authenticated' : p.authenticated === false ? 'NOT authenticated' : 'authentication unknown';
    out.push(
      p.installed
        ? `  ${agentLabel(p.agent).padEnd(12)} installed  ${p.version ?? '(version unknown)'}  ${auth}  ${p.bin ?? ''}`
        : `  ${agentLabel(p.agent).padEnd(12)} not installed`,
    );
    if (p.detail) out.push(`  ${''.padEnd(12)} ${p.detail}`);
  }
  const agent = resolveDefaultAgent(config.agent, probes);
  const chosen = agent ? probes.find((p) => p.agent === agent) : undefined;
  out.push('');
  if (!agent || !chosen?.installed) {
    out.push(`No usable agent (AGENTBRIDGE_AGENT=${config.agent}). Install and log in one of: claude, codex, gemini — or set CLAUDE_BIN/CODEX_BIN/GEMINI_BIN.`);
    process.stdout.write(out.join('\n') + '\n');
    process.exit(1);
  }
  out.push(`agentbridge will use: ${agentLabel(agent)}${config.agent === 'auto' ? ' (AGENTBRIDGE_AGENT=auto)' : ''}${config.model ? `, model ${config.model}` : ''}`);
  process.stdout.write(out.join('\n') + '\n');
}
