/**
 * Shared start-up for CLI commands: load `.env` (dotenv; existing variables win), validate the
 * configuration, create the logger. Invalid configuration prints one message naming every
 * problem and exits with code 2.
 */
import dotenv from 'dotenv';
import type { Config } from '../core/config.js';
import { ConfigError, loadConfig } from '../config.js';
import { createLogger, type Logger } from '../logger.js';

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
