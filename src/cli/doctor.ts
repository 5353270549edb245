/**
 * `agentbridge doctor`: for each registered agent CLI (src/runners/registry.ts), whether it is
 * installed, its version and whether it is authenticated — one line per agent in one format, plus
 * the probe's detail — then the agent agentbridge will use and how many turns run at once (and
 * why: AGENTBRIDGE_MAX_CONCURRENT_TURNS or the machine). Exits 1 when no agent is usable.
 * The probe is start-up's (`probeAll`, every agent at once, each version check limited to 10 s) on
 * the same agent PATH (src/runners/bin.ts `withPackageBin`), so `npx agentbridge doctor`,
 * `node dist/cli.js doctor` and `npm start` agree.
 * Then the database (src/store/describe.ts, never its password): SQLite's path, library version,
 * schema version and size; PostgreSQL's redacted URL, server version, database, user and schema
 * version — or why it cannot be opened or reached (then the exit code is 1 too).
 */
import { describeTurnSlots } from '../core/slots.js';
import { inspectDatabase, type DatabaseReport } from '../store/describe.js';
import { createRunners, probeAll, resolveDefaultAgent } from '../runners/index.js';
import { agentLabel, runnerDefinitions } from '../runners/registry.js';
import type { RunnerProbe } from '../runners/types.js';
import { configOrExit } from './env.js';
import { cliLogger } from './store-access.js';

/**
 * The report lines of `probes` (pure): `  <label>  installed  <version>  <auth>  <bin>` (`<version>` is
 * `(version unknown: <why>)` when it could not be read) or `  <label>  not installed`, then the detail.
 */
export function doctorLines(probes: RunnerProbe[]): string[] {
  const width = Math.max(12, ...probes.map((p) => agentLabel(p.agent).length));
  const out: string[] = [];
  for (const p of probes) {
    const auth = p.authenticated === true ? 'authenticated' : p.authenticated === false ? 'NOT authenticated' : 'authentication unknown';
    out.push(
      p.installed
        ? `  ${agentLabel(p.agent).padEnd(width)} installed  ${p.version ?? `(version unknown: ${p.versionError ?? 'no reason given'})`}  ${auth}  ${p.bin ?? ''}`
        : `  ${agentLabel(p.agent).padEnd(width)} not installed`,
    );
    if (p.detail) out.push(`  ${''.padEnd(width)} ${p.detail}`);
  }
  return out;
}

/**
 * The database section of the report (pure): `Database: <what>` and indented facts. SQLite:
 * path, SQLite version, schema version, size (or "not created yet"); PostgreSQL: the redacted URL,
 * server version, database, user, schema version (or "not created yet") — or "NOT reachable: <why>".
 */
export function databaseLines(r: DatabaseReport): string[] {
  if (r.backend === 'sqlite') {
    if (r.state === 'missing') return [`Database: SQLite at ${r.path} (not created yet: agentbridge creates it at the first start)`];
    if (r.state === 'error') return [`Database: SQLite at ${r.path}`, `  CANNOT be opened: ${r.error}`];
    return [
      `Database: SQLite at ${r.path}`,
      `  SQLite ${r.version}, schema version ${r.schemaVersion}, ${(r.bytes / 1024 / 1024).toFixed(1)} MiB (${r.bytes} bytes with the WAL)`,
    ];
  }
  if (r.state === 'error') return [`Database: PostgreSQL at ${r.url}`, `  NOT reachable: ${r.error}`];
  const schema =
    r.schemaVersion === 0 ? 'no agentbridge schema yet (created at the first start, or by agentbridge db init)' : `schema version ${r.schemaVersion}`;
  return [`Database: PostgreSQL at ${r.url}`, `  PostgreSQL ${r.version}, database ${r.database}, user ${r.user}, ${schema}`];
}

export async function runDoctor(): Promise<void> {
  const config = configOrExit();
  const [probes, database] = await Promise.all([probeAll(createRunners(config), config.agentEnv), inspectDatabase(config.database, cliLogger())]);
  const dbLines = ['', ...databaseLines(database)];
  const out: string[] = ['agentbridge doctor', '', ...doctorLines(probes)];
  const agent = resolveDefaultAgent(config.agent, probes);
  const chosen = agent ? probes.find((p) => p.agent === agent) : undefined;
  out.push('');
  if (!agent || !chosen?.installed) {
    const defs = runnerDefinitions();
    out.push(
      `No usable agent (AGENTBRIDGE_AGENT=${config.agent}). Install and log in one of: ${defs.map((d) => d.name).join(', ')} — or set ${defs.map((d) => d.binVariable).join('/')}.`,
      ...dbLines,
    );
    process.stdout.write(out.join('\n') + '\n');
    process.exit(1);
  }
  out.push(
    `agentbridge will use: ${agentLabel(agent)}${config.agent === 'auto' ? ' (AGENTBRIDGE_AGENT=auto)' : ''}${config.model ? `, model ${config.model}` : ''}`,
    `Turns at once: ${describeTurnSlots(config.maxConcurrentTurns, config.maxConcurrentTurnsSource ?? 'configured')}; live agent sessions at most: ${config.maxLiveSessions}`,
    ...dbLines,
  );
  process.stdout.write(out.join('\n') + '\n');
  if (database.state === 'error') process.exit(1);
}
