/**
 * pino logger: JSON lines, or readable output (pino-pretty) when stdout is a terminal.
 * Tokens, keys, secrets and authorization headers are redacted wherever they appear in a
 * logged object (docs/ARCHITECTURE.md §3, invariant 7: nothing secret is logged).
 */
import { pino, type Logger } from 'pino';

export type { Logger };

/** Object paths whose values are replaced by "[redacted]". */
export const REDACT_PATHS = [
  'token',
  '*.token',
  'apiKey',
  '*.apiKey',
  'secret',
  '*.secret',
  'password',
  '*.password',
  'authorization',
  '*.authorization',
  'headers.authorization',
  '*.headers.authorization',
  'headers.cookie',
  'env',
  '*.env',
  'agentEnv',
  '*.agentEnv',
];

/** Token-shaped strings (Slack xox*, xapp, Discord, Bearer, sk-…) masked inside messages. */
const TOKEN_PATTERN = /\b(xox[abprs]-[\w-]+|xapp-[\w-]+|sk-[\w-]{8,}|Bearer\s+[\w.~+/-]+=*|[MN][\w-]{23,25}\.[\w-]{6}\.[\w-]{27,})/g;

/** The password in a URL's user info (`postgres://user:PASSWORD@host`, any scheme): group 1 is kept. */
const URL_PASSWORD_PATTERN = /(\b[a-z][a-z0-9+.-]*:\/\/[^\s:/@]*:)[^\s@/]+@/gi;

/** Masks token-shaped substrings of `s`, and a password inside a URL (`postgres://user:***@host`). */
export function maskSecrets(s: string): string {
  return s.replace(TOKEN_PATTERN, '[redacted]').replace(URL_PASSWORD_PATTERN, '$1***@');
}

/** Creates the root logger. `destination` is for tests (defaults to stdout). */
export function createLogger(level: string, destination?: NodeJS.WritableStream): Logger {
  const pretty = !destination && process.stdout.isTTY;
  const options = {
    level,
    redact: { paths: REDACT_PATHS, censor: '[redacted]' },
    hooks: {
      logMethod(this: Logger, args: unknown[], method: (...a: unknown[]) => void) {
        method.apply(
          this,
          args.map((a) => (typeof a === 'string' ? maskSecrets(a) : a)),
        );
      },
    },
    base: { name: 'agentbridge' },
  };
  if (pretty) {
    return pino({ ...options, transport: { target: 'pino-pretty', options: { colorize: true } } });
  }
  return destination ? pino(options, destination as never) : pino(options);
}
