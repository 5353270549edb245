/**
 * The platform registry drives configuration, cron targets, adapter creation and conversation
 * ids: a test-only platform module (test/fixtures/platforms/fakechat/, one folder) added to a copy
 * of the registry is accepted everywhere, with no edit to any other file; without it, its
 * variables are ignored and its names refused. And every registered module's declared limits and
 * capabilities match its adapter.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../../src/config.js';
import { HostAllowList } from '../../src/http/hosts.js';
import { createHttpServer } from '../../src/http/server.js';
import { createAdapters, enabledPlatforms, parseConversationId, PLATFORMS, platformModule, platformNames } from '../../src/platforms/registry.js';
import type { PlatformDeps } from '../../src/platforms/module.js';
import { CronJobService } from '../../src/scheduler/cron-service.js';
import { ScheduleError } from '../../src/scheduler/types.js';
import { openStore, type SqliteStore } from '../../src/store/store.js';
import { FakeChatAdapter, fakeChatConversationId, fakeChatPlatform } from '../fixtures/platforms/fakechat/index.js';

const WITH_FAKE = [...PLATFORMS, fakeChatPlatform];
const logger = pino({ level: 'silent' });
let dir: string | undefined;
let store: SqliteStore | undefined;

afterEach(async () => {
  await store?.close();
  store = undefined;
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
  dir = undefined;
});

function openTempStore(): SqliteStore {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ab-registry-'));
  store = openStore({ dbPath: path.join(dir, 'agentbridge.db'), logger });
  return store;
}

describe('the platform registry', () => {
  it('lists slack, discord and local', () => {
    expect(platformNames()).toEqual(['slack', 'discord', 'local']);
    expect(platformNames(WITH_FAKE)).toEqual(['slack', 'discord', 'local', 'fakechat']);
  });

  it('runs the configured platforms, and the local chat when no other is configured (AGENTBRIDGE_LOCAL_CHAT=auto)', () => {
    const slack = { SLACK_BOT_TOKEN: 'xoxb-1', SLACK_APP_TOKEN: 'xapp-1' };
    expect(enabledPlatforms(loadConfig({}, '/srv'))).toEqual(['local']);
    expect(enabledPlatforms(loadConfig({ AGENTBRIDGE_LOCAL_CHAT: 'off' }, '/srv'))).toEqual([]);
    expect(enabledPlatforms(loadConfig(slack, '/srv'))).toEqual(['slack']);
    expect(enabledPlatforms(loadConfig({ ...slack, DISCORD_BOT_TOKEN: 'd' }, '/srv'))).toEqual(['slack', 'discord']);
    expect(enabledPlatforms(loadConfig({ ...slack, AGENTBRIDGE_LOCAL_CHAT: 'on' }, '/srv'))).toEqual(['slack', 'local']);
    expect(loadConfig({}, '/srv').local).toEqual({ chat: 'auto' });
  });

  it("makes the configuration read a registered platform's variables, and only then", () => {
    const env = { FAKECHAT_TOKEN: 'fc-secret', FAKECHAT_ROOMS: 'room-1,room-2', AGENTBRIDGE_ADMINS: 'fakechat:u1' };
    const c = loadConfig(env, '/srv', WITH_FAKE);
    expect(c.fakechat).toEqual({ token: 'fc-secret', rooms: ['room-1', 'room-2'] });
    expect(c.access.admins).toEqual(['fakechat:u1']);
    expect(c.agentEnv).not.toHaveProperty('FAKECHAT_TOKEN');
    expect(c.agentEnv).not.toHaveProperty('FAKECHAT_ROOMS');
    // The local chat's `auto` now sees another platform configured, so it stays off.
    expect(enabledPlatforms(c, WITH_FAKE)).toEqual(['fakechat']);

    // Without the module: its variables mean nothing, its ids are not platform-qualified ids.
    expect(loadConfig({ FAKECHAT_TOKEN: 'fc-secret' }, '/srv').fakechat).toBeUndefined();
    expect(enabledPlatforms(loadConfig({ FAKECHAT_TOKEN: 'fc-secret' }, '/srv'))).toEqual(['local']);
    expect(() => loadConfig({ AGENTBRIDGE_ADMINS: 'fakechat:u1' }, '/srv')).toThrow(
      /AGENTBRIDGE_ADMINS: "fakechat:u1" is not a platform-qualified id like slack:U123, discord:456 or local:alice/,
    );
  });

  it("names a registered platform's problems in the one configuration error, next to the others", () => {
    let err: unknown;
    try {
      loadConfig({ FAKECHAT_TOKEN: 'wrong-SECRETVALUE', AGENTBRIDGE_HTTP_PORT: 'eighty', SLACK_SIGNING_SECRET: 's' }, '/srv', WITH_FAKE);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ConfigError);
    const problems = (err as ConfigError).problems;
    expect(problems).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/^AGENTBRIDGE_HTTP_PORT: /),
        'SLACK_BOT_TOKEN: required when SLACK_APP_TOKEN or SLACK_SIGNING_SECRET is set',
        'FAKECHAT_TOKEN: must be a token starting with "fc-"',
      ]),
    );
    expect((err as ConfigError).message).not.toContain('SECRETVALUE');
    expect(() => loadConfig({ FAKECHAT_ROOMS: 'room-1' }, '/srv', WITH_FAKE)).toThrow(/FAKECHAT_TOKEN: required when FAKECHAT_ROOMS is set/);
  });

  it("makes the cron service accept a registered platform's channel ids by its pattern", async () => {
    const s = openTempStore();
    const target = { platform: 'fakechat' as const, channel: 'room-7' };
    const input = { name: 'digest', schedule: 'every 1h', target, prompt: 'summarise', createdBy: 'cli' };
    const cron = new CronJobService({ store: s, registry: WITH_FAKE, platforms: ['fakechat'] });
    expect((await cron.add(input)).target).toEqual(target);
    await expect(cron.add({ ...input, name: 'bad', target: { platform: 'fakechat', channel: 'lobby' } })).rejects.toThrow(
      /invalid channel "lobby" for fakechat: expected a fakechat room such as room-1/,
    );
    // The default registry does not know it.
    await expect(new CronJobService({ store: s }).add({ ...input, name: 'other' })).rejects.toThrow(ScheduleError);
    await expect(new CronJobService({ store: s }).add({ ...input, name: 'other' })).rejects.toThrow(/unknown platform "fakechat": use slack, discord, local/);
  });

  it("creates a registered platform's adapter when it is configured, and parses its conversation ids", async () => {
    const config = loadConfig({ FAKECHAT_TOKEN: 'fc-1' }, '/srv', WITH_FAKE);
    const adapters = await createAdapters({ config, logger } as unknown as PlatformDeps, WITH_FAKE);
    expect(adapters.map((a) => a.name)).toEqual(['fakechat']);
    expect(adapters[0]).toBeInstanceOf(FakeChatAdapter);
    expect((adapters[0] as FakeChatAdapter).settings.token).toBe('fc-1');

    const id = fakeChatConversationId('room-1', 't1');
    expect(parseConversationId(id, WITH_FAKE)).toEqual({ platform: 'fakechat', channel: 'room-1', thread: 't1' });
    expect(() => parseConversationId(id)).toThrow(/unknown platform "fakechat"/);
  });
});

describe('every registered platform module', () => {
  it('has a unique name and an anchored channel pattern', () => {
    expect(new Set(platformNames()).size).toBe(PLATFORMS.length);
    for (const m of PLATFORMS) expect(m.channel.pattern.source, m.name).toMatch(/^\^.*\$$/);
  });

  it('declares the limits and the optional methods of its adapter', async () => {
    const s = openTempStore();
    const config = loadConfig({ SLACK_BOT_TOKEN: 'xoxb-1', SLACK_APP_TOKEN: 'xapp-1', DISCORD_BOT_TOKEN: 'd', AGENTBRIDGE_LOCAL_CHAT: 'on' }, dir!);
    const http = createHttpServer({ host: '127.0.0.1', port: 0, logger, hosts: new HostAllowList() });
    const adapters = await createAdapters({ config, http, logger, localMessages: s.localMessages, localUsers: s.localUsers, localUploads: s.localUploads });
    expect(adapters.map((a) => a.name)).toEqual(platformNames());
    for (const a of adapters) {
      const m = platformModule(a.name)!;
      expect(a.limits, a.name).toEqual(m.limits);
      expect(typeof a.delete === 'function', `${a.name} delete`).toBe(m.capabilities.delete);
      expect(typeof a.react === 'function', `${a.name} react`).toBe(m.capabilities.reactions);
      expect(typeof a.setStatus === 'function', `${a.name} setStatus`).toBe(m.capabilities.status);
    }
  });
});
