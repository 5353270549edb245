#!/usr/bin/env node
/**
 * The `agentbridge` command (commander): start, doctor, db, sessions, cron, users, projects, cluster.
 * Exit codes: 0 ok; 1 runtime failure (e.g. the data directory is owned by another process);
 * 2 invalid configuration or usage, or a database that disappeared (its marker is there; see `db init`).
 */
import { Command } from 'commander';
import { registerClusterCommands } from './cli/cluster.js';
import { LEASES } from './cluster/constants.js';
import { readLeaseHolders } from './store/pg-lease.js';
import { registerCronCommands } from './cli/cron.js';
import { registerDbCommands } from './cli/db.js';
import { runDoctor } from './cli/doctor.js';
import { configOrUndefined, failOnDirectoryError } from './cli/env.js';
import { registerSessionCommands } from './cli/sessions.js';
import { runStart } from './cli/start.js';
import { listText } from './cli/text.js';
import { registerUserCommands } from './cli/users.js';
import { registerProjectCommands } from './cli/projects.js';
import { PLATFORMS } from './platforms/registry.js';

const program = new Command();
program
  .name('agentbridge')
  .description(
    `Work with coding agents (Claude Code, Codex CLI, Gemini CLI) from ${listText(
      PLATFORMS.map((m) => m.title),
      'and',
    )}.`,
  )
  .showHelpAfterError()
  .exitOverride((err) => {
    process.exit(err.exitCode === 0 ? 0 : 2);
  });

program
  .command('start', { isDefault: true })
  .description(
    `run agentbridge on the platforms configured (${listText(
      PLATFORMS.map((m) => m.title),
      'or',
    )}; see README "Configuration")`,
  )
  .option(
    '--roles <roles>',
    'cluster mode (AGENTBRIDGE_CLUSTER=1): the roles of this instance, comma-separated: ingress, worker, leader (default all; same as AGENTBRIDGE_ROLES)',
  )
  .action((opts: { roles?: string }) => {
    if (opts.roles !== undefined) process.env.AGENTBRIDGE_ROLES = opts.roles;
    return runStart();
  });

program.command('doctor').description('check which agent CLIs are installed and logged in, and which one agentbridge will use').action(runDoctor);

registerDbCommands(program);
registerSessionCommands(program);
registerCronCommands(program);
registerUserCommands(program);
registerProjectCommands(program);
registerClusterCommands(program, {
  leaseHolders: (_store, config) => (config.database.backend === 'postgres' ? readLeaseHolders(config.database.url, LEASES) : Promise.resolve([])),
});

// A data directory that cannot be created or written (any command that opens the store): exit 2 with the reason.
await program.parseAsync(process.argv).catch((err: unknown) => failOnDirectoryError(err, configOrUndefined()));
