import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../../src/config.js';
import { createLogger, maskSecrets } from '../../src/logger.js';

describe('configuration', () => {
  it('applies the documented defaults', () => {
    // Turn slots: derived from the machine (test/unit/slots.test.ts); 2 cores, 8 GiB → 4.
    const c = loadConfig({}, '/srv', undefined, () => ({ cpus: 2, memoryBytes: 8 * 2 ** 30 }));
    expect(c.dataDir).toBe('/srv/data');
    expect(c.dbPath).toBe('/srv/data/agentbridge.db');
    expect(c.http).toEqual({ host: '127.0.0.1', port: 8080 });
    expect(c.agent).toBe('auto');
    expect(c.model).toBeUndefined();
    expect(c.workdir).toBe('/srv/workspace');
    expect(c.permissionMode).toBe('edit');
    expect(c.changeSummary).toBe(true);
    expect(c.maxConcurrentTurns).toBe(4);
    expect(c.turnTimeoutMs).toBe(1_800_000);
    expect(c.logLevel).toBe('info');
    expect(c.slack).toBeUndefined();
    expect(c.discord).toBeUndefined();
  });

  it('reads every variable and passes the whole environment to agents unchanged', () => {
    const env = {
      AGENTBRIDGE_DATA_DIR: '/d',
      AGENTBRIDGE_HTTP_HOST: '0.0.0.0',
      AGENTBRIDGE_HTTP_PORT: '9000',
      AGENTBRIDGE_AGENT: 'codex',
      AGENTBRIDGE_MODEL: 'gpt-5',
      AGENTBRIDGE_WORKDIR: '/w',
      AGENTBRIDGE_PERMISSION_MODE: 'full',
      AGENTBRIDGE_MAX_CONCURRENT_TURNS: '2',
      AGENTBRIDGE_TURN_TIMEOUT_S: '30',
      CLAUDE_BIN: '/opt/claude',
      LOG_LEVEL: 'debug',
      ANTHROPIC_API_KEY: 'sk-ant-secret',
      OPENAI_BASE_URL: 'http://proxy',
    };
    const c = loadConfig(env, '/');
    expect(c).toMatchObject({
      dataDir: '/d',
      agent: 'codex',
      model: 'gpt-5',
      workdir: '/w',
      permissionMode: 'full',
      maxConcurrentTurns: 2,
      turnTimeoutMs: 30_000,
      logLevel: 'debug',
    });
    expect(c.http).toEqual({ host: '0.0.0.0', port: 9000 });
    expect(c.bins.claude).toBe('/opt/claude');
    expect(c.agentEnv.ANTHROPIC_API_KEY).toBe('sk-ant-secret');
    expect(c.agentEnv.OPENAI_BASE_URL).toBe('http://proxy');
  });

  it('names every invalid variable in one error, without echoing secret values', () => {
    let err: unknown;
    try {
      loadConfig({
        AGENTBRIDGE_HTTP_PORT: 'eighty',
        AGENTBRIDGE_AGENT: 'gpt',
        AGENTBRIDGE_PERMISSION_MODE: 'root',
        AGENTBRIDGE_MAX_CONCURRENT_TURNS: '0',
        AGENTBRIDGE_TURN_TIMEOUT_S: '-5',
        LOG_LEVEL: 'loud',
        SLACK_BOT_TOKEN: 'not-a-token-SECRETVALUE',
        SLACK_APP_TOKEN: 'xapp-1-SECRET2',
      });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ConfigError);
    const e = err as ConfigError;
    for (const name of [
      'AGENTBRIDGE_HTTP_PORT',
      'AGENTBRIDGE_AGENT',
      'AGENTBRIDGE_PERMISSION_MODE',
      'AGENTBRIDGE_MAX_CONCURRENT_TURNS',
      'AGENTBRIDGE_TURN_TIMEOUT_S',
      'LOG_LEVEL',
      'SLACK_BOT_TOKEN',
    ]) {
      expect(e.message).toContain(name);
    }
    expect(e.problems.length).toBeGreaterThanOrEqual(7);
    expect(e.message).not.toContain('SECRETVALUE');
    expect(e.message).not.toContain('SECRET2');
  });

  it('requires a Slack mode with the bot token, and parses Discord channels', () => {
    expect(() => loadConfig({ SLACK_BOT_TOKEN: 'xoxb-1' })).toThrow(/SLACK_APP_TOKEN \(Socket Mode\) or SLACK_SIGNING_SECRET/);
    expect(() => loadConfig({ SLACK_SIGNING_SECRET: 's' })).toThrow(/SLACK_BOT_TOKEN: required/);
    const c = loadConfig({
      SLACK_BOT_TOKEN: 'xoxb-1',
      SLACK_APP_TOKEN: 'xapp-1',
      SLACK_API_URL: 'http://127.0.0.1:9/',
      DISCORD_BOT_TOKEN: 't',
      DISCORD_CHANNELS: '1, 22,333',
      DISCORD_API_URL: 'http://127.0.0.1:9/api/',
    });
    expect(c.slack).toMatchObject({ botToken: 'xoxb-1', appToken: 'xapp-1', apiUrl: 'http://127.0.0.1:9/api/', allowBots: false });
    expect(c.discord).toMatchObject({ channels: ['1', '22', '333'], apiUrl: 'http://127.0.0.1:9/api' });
    expect(() => loadConfig({ DISCORD_BOT_TOKEN: 't', DISCORD_CHANNELS: 'general' })).toThrow(/DISCORD_CHANNELS/);
  });

  it('reads the Socket Mode idle timeout (default 60 s) and refuses a non-positive one', () => {
    const slack = { SLACK_BOT_TOKEN: 'xoxb-1', SLACK_APP_TOKEN: 'xapp-1' };
    expect(loadConfig(slack).slack?.socketIdleMs).toBe(60_000);
    expect(loadConfig({ ...slack, AGENTBRIDGE_SLACK_SOCKET_IDLE_S: '5' }).slack?.socketIdleMs).toBe(5_000);
    expect(() => loadConfig({ ...slack, AGENTBRIDGE_SLACK_SOCKET_IDLE_S: '0' })).toThrow(/AGENTBRIDGE_SLACK_SOCKET_IDLE_S/);
    expect(() => loadConfig({ ...slack, AGENTBRIDGE_SLACK_SOCKET_IDLE_S: 'soon' })).toThrow(/AGENTBRIDGE_SLACK_SOCKET_IDLE_S/);
  });

  it('echoes the bad value in every problem, except for secrets', () => {
    const problems = (env: NodeJS.ProcessEnv): string[] => {
      try {
        loadConfig(env);
      } catch (e) {
        if (e instanceof ConfigError) return e.problems;
        throw e;
      }
      return [];
    };
    expect(problems({ AGENTBRIDGE_AGENT: 'foo' })).toEqual(["AGENTBRIDGE_AGENT: 'foo' is not one of auto, claude, codex, gemini"]);
    expect(problems({ AGENTBRIDGE_PERMISSION_MODE: 'root' })).toEqual(["AGENTBRIDGE_PERMISSION_MODE: 'root' is not one of read-only, ask, edit, full"]);
    expect(problems({ LOG_LEVEL: 'loud' })[0]).toMatch(/^LOG_LEVEL: 'loud' is not one of fatal, error, /);
    expect(problems({ AGENTBRIDGE_RESTART_MODE: 'never' })).toEqual(["AGENTBRIDGE_RESTART_MODE: 'never' is not one of auto, spawn, exit"]);
    expect(problems({ AGENTBRIDGE_HTTP_PORT: 'eighty' })).toEqual(["AGENTBRIDGE_HTTP_PORT: 'eighty' must be a port number 0–65535"]);
    expect(problems({ AGENTBRIDGE_MAX_CONCURRENT_TURNS: '0' })).toEqual(["AGENTBRIDGE_MAX_CONCURRENT_TURNS: '0' must be a whole number ≥ 1"]);
    expect(problems({ AGENTBRIDGE_SHUTDOWN_GRACE_S: 'soon' })).toEqual(["AGENTBRIDGE_SHUTDOWN_GRACE_S: 'soon' must be a whole number ≥ 0"]);
    expect(problems({ AGENTBRIDGE_PUBLIC_URL: 'ftp://x' })[0]).toMatch(/^AGENTBRIDGE_PUBLIC_URL: 'ftp:\/\/x' must be an http\(s\) URL/);
    expect(problems({ DISCORD_BOT_TOKEN: 't', DISCORD_CHANNELS: 'general' })).toEqual([
      "DISCORD_CHANNELS: 'general' must be a comma-separated list of channel ids (digits)",
    ]);
    // A list item is quoted once, by the message itself.
    expect(problems({ AGENTBRIDGE_ADMINS: 'local:you,bob' })[0]).toMatch(/^AGENTBRIDGE_ADMINS: "bob" is not a platform-qualified id/);
    // Secrets: the name and the rule, never the value.
    const secret = problems({ SLACK_BOT_TOKEN: 'not-a-token-SECRETVALUE', SLACK_APP_TOKEN: 'xapp-1' });
    expect(secret).toEqual(['SLACK_BOT_TOKEN: must be a bot token starting with "xoxb-"']);
  });

  it('reads AGENTBRIDGE_CHANGE_SUMMARY (on|off, default on) and names a bad value', () => {
    expect(loadConfig({ AGENTBRIDGE_CHANGE_SUMMARY: 'off' }).changeSummary).toBe(false);
    expect(loadConfig({ AGENTBRIDGE_CHANGE_SUMMARY: 'on' }).changeSummary).toBe(true);
    expect(loadConfig({ AGENTBRIDGE_CHANGE_SUMMARY: '' }).changeSummary).toBe(true);
    expect(() => loadConfig({ AGENTBRIDGE_CHANGE_SUMMARY: 'sometimes' })).toThrow(
      "AGENTBRIDGE_CHANGE_SUMMARY: 'sometimes' is not one of 0, 1, on, off, true, false, yes, no",
    );
  });

  it('treats empty values as unset', () => {
    expect(loadConfig({ AGENTBRIDGE_MODEL: '', AGENTBRIDGE_HTTP_PORT: '' }).http.port).toBe(8080);
  });
});

describe('logging', () => {
  it('redacts tokens and keys in logged objects and token-shaped strings in messages', () => {
    const lines: string[] = [];
    const sink = new Writable({
      write(chunk, _enc, cb) {
        lines.push(String(chunk));
        cb();
      },
    });
    const log = createLogger('info', sink);
    log.info(
      { token: 'xoxb-123-abc', config: { token: 'xapp-1-zzz', apiKey: 'k-999' }, headers: { authorization: 'Bearer abc.def' } },
      'connected with xoxb-123-abc',
    );
    log.info({ env: { ANTHROPIC_API_KEY: 'sk-ant-api03-verysecret' } }, 'spawn');
    const out = lines.join('');
    for (const secret of ['xoxb-123-abc', 'xapp-1-zzz', 'k-999', 'Bearer abc.def', 'sk-ant-api03-verysecret']) expect(out).not.toContain(secret);
    expect(out).toContain('[redacted]');
    expect(maskSecrets('key sk-proj-abcdefghijkl and xoxp-1-2')).toBe('key [redacted] and [redacted]');
    expect(maskSecrets('at postgres://ab:s3cr%40t@db:5432/x and postgresql://u:p@h/d')).toBe('at postgres://ab:***@db:5432/x and postgresql://u:***@h/d');
  });
});

describe('AGENTBRIDGE_DATABASE_URL', () => {
  const problems = (env: NodeJS.ProcessEnv): string[] => {
    try {
      loadConfig(env, '/srv', undefined, () => ({ cpus: 2, memoryBytes: 8 * 2 ** 30 }));
    } catch (e) {
      if (e instanceof ConfigError) return e.problems;
      throw e;
    }
    return [];
  };

  it('unset (or blank): SQLite in the data directory', () => {
    for (const env of [{}, { AGENTBRIDGE_DATABASE_URL: '' }]) {
      const c = loadConfig(env, '/srv', undefined, () => ({ cpus: 2, memoryBytes: 8 * 2 ** 30 }));
      expect(c.database).toEqual({ backend: 'sqlite', path: '/srv/data/agentbridge.db' });
      expect(c.dbPath).toBe('/srv/data/agentbridge.db');
    }
  });

  it('a postgres:// or postgresql:// URL selects PostgreSQL; the URL never reaches the agents', () => {
    for (const url of ['postgres://ab:pw@db.example:5432/agentbridge', 'postgresql://ab@127.0.0.1/agentbridge?sslmode=require']) {
      const c = loadConfig({ AGENTBRIDGE_DATABASE_URL: url, PATH: '/usr/bin' }, '/srv', undefined, () => ({ cpus: 2, memoryBytes: 8 * 2 ** 30 }));
      expect(c.database).toEqual({ backend: 'postgres', url });
      expect(c.agentEnv).not.toHaveProperty('AGENTBRIDGE_DATABASE_URL');
      expect(Object.values(c.agentEnv)).not.toContain(url);
    }
  });

  it('anything else is a configuration problem naming the variable, with the password redacted', () => {
    for (const bad of [
      'mysql://ab:hunter2-SECRET@db/agentbridge',
      'sqlite:/var/lib/agentbridge.db',
      'ab:hunter2-SECRET@db',
      'http://ab:hunter2-SECRET@db/x?password=hunter2-SECRET',
    ]) {
      const p = problems({ AGENTBRIDGE_DATABASE_URL: bad });
      expect(p).toHaveLength(1);
      expect(p[0]).toMatch(/^AGENTBRIDGE_DATABASE_URL: .* is not a PostgreSQL URL: use postgres:\/\//);
      expect(p[0]).not.toContain('hunter2');
    }
    expect(problems({ AGENTBRIDGE_DATABASE_URL: 'mysql://ab:hunter2-SECRET@db/agentbridge' })[0]).toContain('mysql://ab:***@db/agentbridge');
    // In the one combined message with the other problems.
    const all = problems({ AGENTBRIDGE_DATABASE_URL: 'mysql://ab:hunter2-SECRET@db/x', AGENTBRIDGE_HTTP_PORT: 'eighty' });
    expect(all).toHaveLength(2);
  });
});
