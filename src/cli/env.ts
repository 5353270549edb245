/**
 * Shared start-up for CLI commands: load `.env` (dotenv; existing variables win), validate the
 * configuration, create the logger. Invalid configuration prints one message naming every
 * problem and exits with code 2.
 */
import dotenv from 'dotenv';
import type { Config } from '../core/config.js';
import { ConfigError, loadConfig } from '../config.js';
import { createLogger, type Logger } from '../logger.js';
import { DirectoryError } from '../store/files.js';

/** Loads `.env` and the config; exits 2 with every problem listed when it is invalid. */
export function configOrExit(): Config {
  dotenv.config({ quiet: true });
  try {
    return loadConfig(process.env);
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`agentbridge: ${err.message}\nSee .env.example for every variable and its allowed values.\n`);
      process.exit(2);
    }
    throw err;
  }
}

/** The config, or undefined when it is invalid (for messages after the fact). */
export function configOrUndefined(): Config | undefined {
  try {
    return loadConfig(process.env);
  } catch {
    return undefined;
  }
}

/** Config plus a logger at the configured level. */
export function setup(): { config: Config; logger: Logger } {
  const config = configOrExit();
  return { config, logger: createLogger(config.logLevel) };
}

/** Prints `message` to stderr and exits with `code`. */
export function fail(message: string, code = 1): never {
  process.stderr.write(`agentbridge: ${message}\n`);
  process.exit(code);
}

/**
 * The message for a {@link DirectoryError}, naming the setting behind the directory:
 * `the data directory /proc/nope (AGENTBRIDGE_DATA_DIR) cannot be used: ENOENT: …; set AGENTBRIDGE_DATA_DIR to a directory this user can write`.
 */
export function directoryErrorMessage(err: DirectoryError, config: Pick<Config, 'dataDir' | 'workdir'> | undefined): string {
  const setting =
    config && (err.dir === config.dataDir || err.dir.startsWith(config.dataDir + '/'))
      ? { what: 'the data directory', variable: 'AGENTBRIDGE_DATA_DIR' }
      : config && err.dir === config.workdir
        ? { what: 'the working directory', variable: 'AGENTBRIDGE_WORKDIR' }
        : undefined;
  if (!setting) return `the directory ${err.dir} cannot be used: ${err.reason}`;
  return `${setting.what} ${err.dir} (${setting.variable}) cannot be used: ${err.reason}\nSet ${setting.variable} to a directory this user can create and write.`;
}

/** Exits 2 with {@link directoryErrorMessage} for a DirectoryError; rethrows anything else. */
export function failOnDirectoryError(err: unknown, config?: Pick<Config, 'dataDir' | 'workdir'>): never {
  if (err instanceof DirectoryError) fail(directoryErrorMessage(err, config), 2);
  throw err;
}
