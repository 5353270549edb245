/**
 * `agentbridge start`: runs the service until SIGTERM/SIGINT, then shuts down gracefully:
 * no new turns, running turns get AGENTBRIDGE_SHUTDOWN_GRACE_S to finish, the rest are stopped
 * and re-run after the next start (a second signal exits at once).
 *
 * `/agent restart` does the same graceful stop, then brings agentbridge back
 * (AGENTBRIDGE_RESTART_MODE):
 * - `spawn`: starts a new process — same executable, arguments, environment and working
 *   directory, detached, stdio inherited — and exits 0. The new process takes the data
 *   directory's lock once this one released it.
 * - `exit`: exits with code 75 so a supervisor starts it again (Docker `restart: unless-stopped`,
 *   systemd `Restart=always`/`on-failure`, Kubernetes). Use this in containers: a process spawned
 *   by the container's main process dies with the container.
 * - `auto` (default): `exit` when running as pid 1 (a container's main process); in place when
 *   stdin is a terminal (someone ran it in a shell); else `spawn`.
 * In place (./restart-in-place.ts): this process, its service stopped, starts the new one attached
 * — same process group, stdio inherited — and waits for it, so the shell keeps waiting and Ctrl-C
 * (sent by the terminal to the whole foreground group) still stops the service. `process.execve`
 * is experimental and only in Node 22.15 and later, hence a waiting parent rather than a true re-exec.
 * A signal that arrives during a restart turns it into a plain shutdown.
 */
import { spawn } from 'node:child_process';
import type { RunningApp } from '../app.js';
import { StartRefusedError, startApp } from '../app.js';
import type { Config } from '../core/config.js';
import type { Logger } from '../logger.js';
import { DirectoryError } from '../store/files.js';
import { DatabaseMissingError } from '../store/marker.js';
import { directoryErrorMessage, fail, setup } from './env.js';
import { superviseInPlace } from './restart-in-place.js';

/** Exit code of a restart left to a supervisor (EX_TEMPFAIL). */
export const RESTART_EXIT_CODE = 75;

export async function runStart(): Promise<void> {
  const { config, logger } = setup();
  let app: RunningApp | undefined;
  let shuttingDown = false;
  let relaunchAfterStop = false;
  let restartAsked = false;
  /** Exit code after a shutdown that is not a restart: 1 when the PostgreSQL owner lock went to another agentbridge. */
  let exitCode = 0;
  let ownerLost = false;

  const shutdown = () => {
    if (shuttingDown || !app) return;
    shuttingDown = true;
    const running = app;
    void running.stop().then(
      () => (relaunchAfterStop ? relaunch(config, logger) : process.exit(exitCode)),
      (err) => {
        logger.error({ err: String(err) }, 'error during shutdown');
        process.exit(1);
      },
    );
  };
  const onRestartRequested = () => {
    if (shuttingDown) return;
    logger.info('restart requested: stopping gracefully, then starting again');
    relaunchAfterStop = true;
    restartAsked = true;
    shutdown();
  };
  // Another agentbridge took the PostgreSQL database while our lock's connection was gone (logged by
  // src/store/open.ts): two owners must never run, so this one stops (no restart) and exits 1.
  const onOwnerLost = () => {
    ownerLost = true;
    relaunchAfterStop = false;
    exitCode = 1;
    shutdown();
  };

  try {
    app = await startApp(config, logger, { onRestartRequested, onOwnerLost });
  } catch (err) {
    const e = err as Error;
    if (err instanceof DirectoryError) fail(directoryErrorMessage(err, config), 2);
    logger.fatal({ err: e.message }, 'agentbridge could not start');
    // A refused start (non-loopback bind without users) or a database that disappeared (its
    // marker is there) is a setup problem the operator must decide on: exit 2.
    fail(e.message, e instanceof StartRefusedError ? e.exitCode : err instanceof DatabaseMissingError ? 2 : 1);
  }
  if (process.stdout.isTTY) process.stdout.write(`\nagentbridge is running: open ${app.url}/ in your browser.\n\n`);
  if (restartAsked || ownerLost) shutdown(); // asked for (or the owner lock lost) while starting up

  let signals = 0;
  const onSignal = (sig: NodeJS.Signals) => {
    signals++;
    if (signals > 1) process.exit(130);
    logger.info({ signal: sig }, relaunchAfterStop ? 'signal received during a restart: shutting down instead' : 'signal received');
    relaunchAfterStop = false;
    shutdown();
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
  // A library promise nobody handles (e.g. a platform client's background reconnect) must not
  // take the service down: log it; the affected part recovers or reports on its own.
  process.on('unhandledRejection', (reason) => {
    logger.error({ err: reason instanceof Error ? reason.message : String(reason) }, 'unhandled promise rejection (kept running)');
  });
}

/** How `/agent restart` brings agentbridge back: see the module doc. */
export type RestartAction = 'exit' | 'spawn' | 'in-place';

/**
 * The restart action for `mode` (AGENTBRIDGE_RESTART_MODE) in this process (pure): `auto` is
 * `exit` as pid 1, `in-place` with a terminal on stdin, else `spawn`; `spawn` and `exit` are taken as set.
 */
export function restartAction(mode: Config['restartMode'], proc: { pid: number; stdinIsTTY: boolean }): RestartAction {
  if (mode !== 'auto') return mode;
  if (proc.pid === 1) return 'exit';
  return proc.stdinIsTTY ? 'in-place' : 'spawn';
}

/**
 * The environment of the process started again by `/agent restart` (pure): this one's, and in
 * cluster mode AGENTBRIDGE_INSTANCE_ID pinned to this instance's id, so that an id defaulted from
 * the pid survives and the new process announces the restart it was asked for
 * (src/conversation/commands/restart.ts). A supervisor that starts agentbridge again (`exit`
 * mode) needs AGENTBRIDGE_INSTANCE_ID set for the same (docker-compose.yml sets it).
 */
export function relaunchEnv(env: NodeJS.ProcessEnv, instanceId: string | undefined): NodeJS.ProcessEnv {
  return instanceId === undefined ? env : { ...env, AGENTBRIDGE_INSTANCE_ID: instanceId };
}

/** After a graceful stop for `/agent restart`: starts the new process or leaves it to the supervisor. Never returns. */
function relaunch(config: Config, logger: Logger): void {
  const mode = restartAction(config.restartMode, { pid: process.pid, stdinIsTTY: process.stdin.isTTY === true });
  const env = relaunchEnv(process.env, config.cluster?.instanceId);
  if (mode === 'in-place') {
    logger.info('restart: starting agentbridge again in this terminal (Ctrl-C stops it)');
    // Our signal handlers belong to the service that just stopped; the supervisor sets its own.
    for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.removeAllListeners(sig);
    superviseInPlace({ execPath: process.execPath, args: [...process.execArgv, ...process.argv.slice(1)], cwd: process.cwd(), env }, (err) => {
      logger.error({ err: String(err) }, 'restart: could not start the new process; start agentbridge again by hand');
    });
    return;
  }
  if (mode === 'exit') {
    logger.info({ code: RESTART_EXIT_CODE }, 'restart: exiting so the supervisor starts agentbridge again');
    process.exit(RESTART_EXIT_CODE);
  }
  try {
    const child = spawn(process.execPath, [...process.execArgv, ...process.argv.slice(1)], {
      cwd: process.cwd(),
      env,
      detached: true,
      stdio: 'inherit',
    });
    child.unref();
    logger.info({ pid: child.pid }, 'restart: the new agentbridge process is starting');
    process.exit(0);
  } catch (err) {
    logger.error({ err: String(err) }, 'restart: could not start the new process; start agentbridge again by hand');
    process.exit(1);
  }
}
