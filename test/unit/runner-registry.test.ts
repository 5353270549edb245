/**
 * The runner registry: a runner added in one folder (test/fake-runner/: a definition and a tiny
 * script that prints JSON lines) and registered with `registerRunner` is picked up by everything
 * that lists agents — the configuration (AGENTBRIDGE_AGENT, its ECHO_AGENT_BIN variable, the
 * agent environment), the probe and doctor lines, `/agent agent echo`, the cron command — and the
 * app itself (src/app.ts `startApp`, unchanged) runs turns with it, resuming its session.
 * Also: the built-in runners' definitions and the shared run/probe behaviour.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startApp, type RunningApp } from '../../src/app.js';
import { doctorLines } from '../../src/cli/doctor.js';
import { loadConfig } from '../../src/config.js';
import { parseCommand } from '../../src/conversation/commands/index.js';
import { usageLine } from '../../src/conversation/commands/help.js';
import { localConversationId } from '../../src/platforms/local/ids.js';
import type { InboundMessage } from '../../src/core/messages.js';
import { PACKAGE_BIN_DIR, withPackageBin } from '../../src/runners/bin.js';
import { createRunner, defineRunner, PROBE_CWD, VERSION_TIMEOUT_MS, versionProblem } from '../../src/runners/define.js';
import { createRunners, probeAll, resolveDefaultAgent } from '../../src/runners/index.js';
import { agentLabel, agentNames, BUILTIN_RUNNERS, capabilitiesOf, registerRunner, runnerDefinitions } from '../../src/runners/registry.js';
import type { RunEvent } from '../../src/runners/types.js';
import { echo } from '../fake-runner/index.js';

const SCRIPT = fileURLToPath(new URL('../fake-runner/echo-agent.mjs', import.meta.url));

let dir: string;
let bin: string;

beforeAll(() => {
  registerRunner(echo);
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'runner-registry-'));
  bin = path.join(dir, 'echo-agent');
  fs.copyFileSync(SCRIPT, bin);
  fs.chmodSync(bin, 0o755);
});
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

describe('the runner registry', () => {
  it('lists the built-in runners first, in auto order, then registered ones', () => {
    expect(BUILTIN_RUNNERS.map((d) => d.name)).toEqual(['claude', 'codex', 'gemini']);
    expect(agentNames()).toEqual(['claude', 'codex', 'gemini', 'echo']);
    expect(runnerDefinitions().map((d) => d.binVariable)).toEqual(['CLAUDE_BIN', 'CODEX_BIN', 'GEMINI_BIN', 'ECHO_AGENT_BIN']);
    expect(agentLabel('claude')).toBe('Claude Code');
    expect(agentLabel('echo')).toBe('Echo Agent');
    expect(capabilitiesOf('claude')).toMatchObject({ fork: true, resumeAt: true });
    expect(capabilitiesOf('codex')).toMatchObject({ fork: false, resumeAt: false });
    expect(capabilitiesOf('unknown')).toMatchObject({ fork: false, resumeAt: false, mcp: false });
  });

  it('refuses a second runner of the same name or bin variable, and malformed definitions', () => {
    expect(() => registerRunner(echo)).toThrow(/clashes/);
    expect(() => registerRunner({ ...echo, name: 'other' })).toThrow(/ECHO_AGENT_BIN/);
    expect(() => defineRunner({ ...echo, name: 'Bad Name' })).toThrow(/runner name/);
    expect(() => defineRunner({ ...echo, binVariable: 'echo-bin' })).toThrow(/binVariable/);
    expect(() => defineRunner({ ...echo, capabilities: { ...echo.capabilities, mcp: true } })).toThrow(/capabilities.mcp/);
  });

  it('derives the configuration: AGENTBRIDGE_AGENT values, the bin variable, the agent environment', () => {
    const c = loadConfig({ AGENTBRIDGE_AGENT: 'echo', ECHO_AGENT_BIN: bin, CLAUDE_BIN: '/opt/claude', ECHO_AGENT_KEY: 'k' }, dir);
    expect(c.agent).toBe('echo');
    expect(c.bins).toEqual({ claude: '/opt/claude', codex: undefined, gemini: undefined, echo: bin });
    expect(c.agentEnv).toMatchObject({ ECHO_AGENT_KEY: 'k' });
    expect(c.agentEnv).not.toHaveProperty('ECHO_AGENT_BIN');
    expect(c.agentEnv).not.toHaveProperty('CLAUDE_BIN');
    expect(() => loadConfig({ AGENTBRIDGE_AGENT: 'nope' })).toThrow(/AGENTBRIDGE_AGENT/);
  });

  it('derives `/agent agent <name>`, the cron --agent option and their help', () => {
    expect(parseCommand('/agent agent echo')).toMatchObject({ kind: 'command', args: 'echo' });
    expect(parseCommand('agent nope')).toBeUndefined();
    const agentCommand = parseCommand('/agent agent echo');
    expect(agentCommand?.kind === 'command' && usageLine(agentCommand.command)).toBe('`/agent agent <claude|codex|gemini|echo>`');
    expect(parseCommand('/agent cron add job "every 1h" --agent echo hi')).toMatchObject({ kind: 'command', args: { agent: 'echo' } });
    const cron = parseCommand('/agent cron list');
    expect(cron?.kind === 'command' && cron.command.details).toContain('--agent <claude|codex|gemini|echo>');
  });

  it('probes every runner in one shape; doctor prints them in one format', async () => {
    const env = { ...process.env, ECHO_AGENT_KEY: 'k' };
    const runners = createRunners({ bins: { echo: bin, claude: '/nonexistent/claude', codex: '/nonexistent/codex', gemini: '/nonexistent/gemini' } });
    expect(Object.keys(runners)).toEqual(['claude', 'codex', 'gemini', 'echo']);
    const probes = await probeAll(runners, env);
    expect(probes.map((p) => [p.agent, p.installed])).toEqual([
      ['claude', false],
      ['codex', false],
      ['gemini', false],
      ['echo', true],
    ]);
    expect(probes[3]).toEqual({
      agent: 'echo',
      installed: true,
      bin,
      version: '1.2.3',
      authenticated: true,
      detail: `echo-agent 1.2.3 at ${bin}; ECHO_AGENT_KEY is set`,
    });
    expect(probes[0]).toMatchObject({ detail: expect.stringMatching(/^claude not found \(\/nonexistent\/claude\); /) });
    expect(resolveDefaultAgent('auto', probes)).toBe('echo');
    const lines = doctorLines(probes);
    expect(lines).toContain(`  ${'Echo Agent'.padEnd(12)} installed  1.2.3  authenticated  ${bin}`);
    expect(lines).toContain(`  ${'Codex CLI'.padEnd(12)} not installed`);
    expect((await createRunner(echo, { bin }).probe({ ...process.env, ECHO_AGENT_KEY: '' })).authenticated).toBe(false);
    expect(VERSION_TIMEOUT_MS).toBe(10_000);
    expect(fs.existsSync(PROBE_CWD)).toBe(true);
  });

  it('says why a version could not be read: a version check that times out or fails', async () => {
    const slow = path.join(dir, 'slow-agent');
    fs.writeFileSync(slow, '#!/bin/sh\nsleep 30\n', { mode: 0o755 });
    const broken = path.join(dir, 'broken-agent');
    fs.writeFileSync(broken, '#!/bin/sh\necho "config file is corrupt" >&2\nexit 3\n', { mode: 0o755 });
    const env = { ...process.env, ECHO_AGENT_KEY: 'k' };
    const t0 = Date.now();
    const timedOut = await createRunner(echo, { bin: slow, versionTimeoutMs: 1000 }).probe(env);
    expect(Date.now() - t0).toBeLessThan(8000);
    expect(timedOut).toMatchObject({ installed: true, versionError: '`echo-agent --version` timed out after 1 s' });
    expect(timedOut.version).toBeUndefined();
    expect(doctorLines([timedOut])[0]).toContain('(version unknown: `echo-agent --version` timed out after 1 s)');
    const failed = await createRunner(echo, { bin: broken }).probe(env);
    expect(failed.versionError).toBe('`echo-agent --version` failed (exit code 3): config file is corrupt');
    expect(versionProblem('x --version', { stoppedBy: null, exitCode: 0, exitSignal: null, stderr: '' }, 1000)).toBe('no x.y.z in the output of `x --version`');
  });

  it("puts agentbridge's node_modules/.bin on the agents' PATH once, first, as npm does", () => {
    expect(withPackageBin('/usr/bin:/bin', '/app/node_modules/.bin')).toBe('/app/node_modules/.bin:/usr/bin:/bin');
    expect(withPackageBin(undefined, '/app/node_modules/.bin')).toBe('/app/node_modules/.bin');
    // Under npm start / npx, npm already put it there (after its own helper folder): unchanged.
    const npmPath = '/usr/lib/node_modules/npm/bin/node-gyp-bin:/app/node_modules/.bin:/usr/bin';
    expect(withPackageBin(npmPath, '/app/node_modules/.bin')).toBe(npmPath);
    expect(PACKAGE_BIN_DIR).toBe(path.resolve(import.meta.dirname, '../../node_modules/.bin'));
    expect(loadConfig({ PATH: '/usr/bin' }).agentEnv['PATH']).toBe(`${PACKAGE_BIN_DIR}:/usr/bin`);
  });

  it('runs a turn through the shared run: prompt on stdin, events, not_installed, failure', async () => {
    const runner = createRunner(echo, { bin });
    const events: RunEvent[] = [];
    const req = { prompt: '-x starts like a flag', cwd: dir, permissionMode: 'edit' as const, timeoutMs: 20_000, env: process.env };
    const ok = await runner.run(req, (e) => events.push(e));
    expect(ok).toMatchObject({ ok: true, text: 'echo: -x starts like a flag', exitCode: 0 });
    expect(events.map((e) => e.type)).toEqual(['session', 'text', 'usage']);
    const again = await runner.run({ ...req, prompt: 'more', resumeSessionId: ok.sessionId }, () => {});
    expect(again.text).toBe(`echo (resumed ${ok.sessionId}): more`);
    const failed = await runner.run({ ...req, prompt: 'FAIL please' }, () => {});
    expect(failed).toMatchObject({ ok: false, exitCode: 3, error: { kind: 'api_error', message: 'asked to fail' } });
    const missing = await createRunner(echo, { bin: path.join(dir, 'nope') }).run(req, () => {});
    expect(missing.error?.kind).toBe('not_installed');
  });
});

describe('the app with a registered runner', () => {
  let app: RunningApp | undefined;
  afterAll(async () => {
    await app?.stop();
  });

  it('starts with AGENTBRIDGE_AGENT=echo and answers through the fake CLI, resuming its session', async () => {
    const config = loadConfig(
      {
        ...process.env,
        AGENTBRIDGE_DATA_DIR: path.join(dir, 'data'),
        AGENTBRIDGE_WORKDIR: path.join(dir, 'work'),
        AGENTBRIDGE_HTTP_HOST: '127.0.0.1',
        AGENTBRIDGE_HTTP_PORT: '0',
        AGENTBRIDGE_LOCAL_CHAT: 'on',
        AGENTBRIDGE_AGENT: 'echo',
        ECHO_AGENT_BIN: bin,
        ECHO_AGENT_KEY: 'k',
        SLACK_BOT_TOKEN: '',
        DISCORD_BOT_TOKEN: '',
      },
      dir,
    );
    app = await startApp(config, pino({ level: 'silent' }));
    expect(app.defaultAgent).toBe('echo');

    const conversationId = localConversationId('general', 't1');
    let n = 0;
    const message = (text: string): InboundMessage => ({
      platform: 'local',
      conversationId,
      channel: 'general',
      thread: 't1',
      author: { id: 'alice', name: 'alice' },
      text,
      eventKey: `local:m${++n}`,
      replyTarget: { platform: 'local', channel: 'general', thread: 't1' },
      receivedAt: Date.now(),
    });
    const answers = async (count: number) => {
      const deadline = Date.now() + 30_000;
      for (;;) {
        const found = (await app!.store.entries.list(conversationId)).filter((e) => e.role === 'assistant');
        if (found.length >= count || Date.now() > deadline) return found;
        await new Promise((r) => setTimeout(r, 50));
      }
    };

    expect(await app.router.accept(message('hello from the test'))).toBe('accepted');
    const [first] = await answers(1);
    expect(first).toMatchObject({ agent: 'echo', text: 'echo: hello from the test' });
    const conv = (await app.store.conversations.get(conversationId))!;
    expect(conv.agentSessionAgent).toBe('echo');
    expect(conv.agentSessionId).toMatch(/^echo-session-\d+$/);

    await app.router.accept(message('and again'));
    const second = (await answers(2))[1];
    expect(second?.text).toBe(`echo (resumed ${conv.agentSessionId}): and again`);
  });
});
