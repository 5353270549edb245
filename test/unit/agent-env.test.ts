/** The agent process environment filter (src/runners/agent-env.ts) and its config variable. */
import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../../src/config.js';
import { agentEnvironment, isDeniedForAgent, isEnvDenyPattern, parseEnvDenyList } from '../../src/runners/agent-env.js';

const FULL: NodeJS.ProcessEnv = {
  PATH: '/usr/bin',
  HOME: '/home/a',
  ANTHROPIC_API_KEY: 'sk-ant',
  ANTHROPIC_BASE_URL: 'http://model',
  CLAUDE_CODE_MAX_RETRIES: '0',
  CLAUDE_CONFIG_DIR: '/c',
  OPENAI_API_KEY: 'sk-oai',
  OPENAI_BASE_URL: 'http://oai',
  CODEX_HOME: '/codex',
  CODEX_API_KEY: 'ck',
  GEMINI_API_KEY: 'gk',
  GOOGLE_GEMINI_BASE_URL: 'http://g',
  GOOGLE_APPLICATION_CREDENTIALS: '/creds.json',
  HTTP_PROXY: 'http://proxy:3128',
  HTTPS_PROXY: 'http://proxy:3128',
  NO_PROXY: 'localhost',
  https_proxy: 'http://proxy:3128',
  AGENTBRIDGE_DATA_DIR: '/data',
  AGENTBRIDGE_AGENT_ENV_DENY: 'AWS_*,DATABASE_URL',
  AGENTBRIDGE_MCP_TOKEN: 'stale-token',
  CLAUDE_BIN: '/opt/claude',
  CODEX_BIN: '/opt/codex',
  GEMINI_BIN: '/opt/gemini',
  LOG_LEVEL: 'debug',
  SLACK_BOT_TOKEN: 'xoxb-1',
  SLACK_APP_TOKEN: 'xapp-1',
  SLACK_SIGNING_SECRET: 'sss',
  SLACK_API_URL: 'http://slack',
  DISCORD_BOT_TOKEN: 'dtok',
  DISCORD_CHANNELS: '1',
  AWS_SECRET_ACCESS_KEY: 'aws',
  AWS_REGION: 'eu',
  AWSOME: 'kept: the glob is AWS_*',
  DATABASE_URL: 'postgres://x',
  DATABASE_URL_RO: 'kept: exact names match exactly',
};

describe('agentEnvironment', () => {
  it('removes agentbridge variables, the bins, LOG_LEVEL and every SLACK_*/DISCORD_* by default', () => {
    const env = agentEnvironment(FULL);
    for (const k of Object.keys(env)) expect(k).not.toMatch(/^(AGENTBRIDGE_|SLACK_|DISCORD_)/);
    for (const k of ['CLAUDE_BIN', 'CODEX_BIN', 'GEMINI_BIN', 'LOG_LEVEL']) expect(env).not.toHaveProperty(k);
    // Without a deny list, other names pass.
    expect(env.AWS_SECRET_ACCESS_KEY).toBe('aws');
    expect(env.DATABASE_URL).toBe('postgres://x');
  });

  it("keeps the agents' keys, base URLs and settings, proxies, PATH and HOME", () => {
    const env = agentEnvironment(FULL, ['AWS_*']);
    for (const k of [
      'PATH',
      'HOME',
      'ANTHROPIC_API_KEY',
      'ANTHROPIC_BASE_URL',
      'CLAUDE_CODE_MAX_RETRIES',
      'CLAUDE_CONFIG_DIR',
      'OPENAI_API_KEY',
      'OPENAI_BASE_URL',
      'CODEX_HOME',
      'CODEX_API_KEY',
      'GEMINI_API_KEY',
      'GOOGLE_GEMINI_BASE_URL',
      'GOOGLE_APPLICATION_CREDENTIALS',
      'HTTP_PROXY',
      'HTTPS_PROXY',
      'NO_PROXY',
      'https_proxy',
    ]) {
      expect(env[k], k).toBe(FULL[k]);
    }
  });

  it('removes deny-listed exact names and PREFIX_* globs, nothing more', () => {
    const env = agentEnvironment(FULL, ['AWS_*', 'DATABASE_URL']);
    expect(env).not.toHaveProperty('AWS_SECRET_ACCESS_KEY');
    expect(env).not.toHaveProperty('AWS_REGION');
    expect(env).not.toHaveProperty('DATABASE_URL');
    expect(env.AWSOME).toBe(FULL.AWSOME);
    expect(env.DATABASE_URL_RO).toBe(FULL.DATABASE_URL_RO);
    // Case matters (Linux environment names are case-sensitive).
    expect(isDeniedForAgent('database_url', ['DATABASE_URL'])).toBe(false);
    // An operator may deny an agent key too.
    expect(agentEnvironment(FULL, ['OPENAI_API_KEY'])).not.toHaveProperty('OPENAI_API_KEY');
  });

  it('is pure and drops undefined entries', () => {
    const input = { ...FULL, UNSET: undefined };
    const copy = { ...input };
    const env = agentEnvironment(input);
    expect(input).toEqual(copy);
    expect(Object.hasOwn(env, 'UNSET')).toBe(false);
  });
});

describe('AGENTBRIDGE_AGENT_ENV_DENY', () => {
  it('parses and validates items', () => {
    expect(parseEnvDenyList(' AWS_* , DATABASE_URL,,')).toEqual(['AWS_*', 'DATABASE_URL']);
    expect(parseEnvDenyList(undefined)).toEqual([]);
    for (const ok of ['AWS_*', 'DATABASE_URL', 'x', '_A1', 'A*']) expect(isEnvDenyPattern(ok), ok).toBe(true);
    for (const bad of ['*', 'A B', '1ABC', 'A*B', 'A**', 'FOO-BAR', '']) expect(isEnvDenyPattern(bad), bad).toBe(false);
  });

  it('is applied by loadConfig to agentEnv', () => {
    const c = loadConfig({ ...FULL, AGENTBRIDGE_DATA_DIR: '/d', SLACK_API_URL: 'http://slack' }, '/');
    expect(c.agentEnv).not.toHaveProperty('AWS_REGION');
    expect(c.agentEnv).not.toHaveProperty('DATABASE_URL');
    expect(c.agentEnv).not.toHaveProperty('SLACK_BOT_TOKEN');
    expect(c.agentEnv).not.toHaveProperty('AGENTBRIDGE_DATA_DIR');
    expect(c.agentEnv.ANTHROPIC_API_KEY).toBe('sk-ant');
  });

  it('rejects invalid items with one message naming them (exit-2 path)', () => {
    let err: unknown;
    try {
      loadConfig({ AGENTBRIDGE_AGENT_ENV_DENY: 'AWS_*,*,FOO-BAR' });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ConfigError);
    const problems = (err as ConfigError).problems;
    expect(problems).toHaveLength(1);
    expect(problems[0]).toMatch(/^AGENTBRIDGE_AGENT_ENV_DENY: "\*", "FOO-BAR"/);
  });
});
