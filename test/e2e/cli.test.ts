/**
 * The `agentbridge` command as a user runs it: configuration errors, doctor (with the turn slots
 * derived from this machine), the single-owner lock, db maintenance and session inspection, and a
 * corrupt database at start.
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { deriveTurnSlots, describeMachine, describeTurnSlots } from '../../src/core/slots.js';
import { readMachineFacts } from '../../src/machine.js';
import { LocalChat, runCli, startAgentbridge, type AgentbridgeProcess } from '../helpers/agentbridge.js';
import { processesMentioning } from '../helpers/procs.js';
import { makeSandbox, waitFor, type Sandbox } from '../helpers/sandbox.js';

let sb: Sandbox;
const running: AgentbridgeProcess[] = [];
/** What agentbridge derives on this machine when AGENTBRIDGE_MAX_CONCURRENT_TURNS is unset. */
const facts = readMachineFacts();
const derivedSlots = describeTurnSlots(deriveTurnSlots(facts).slots, describeMachine(facts));

function env(extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  return {
    ...sb.env,
    AGENTBRIDGE_DATA_DIR: path.join(sb.root, 'data'),
    AGENTBRIDGE_WORKDIR: sb.workdir,
    ANTHROPIC_API_KEY: 'test-key',
    LOG_LEVEL: 'info',
    ...extra,
  };
}

beforeAll(() => {
  sb = makeSandbox();
});
afterEach(async () => {
  for (const p of running.splice(0)) await p.stop();
});
afterAll(() => {
  expect(processesMentioning(sb.root)).toEqual([]);
  sb.cleanup();
});

describe('agentbridge CLI', () => {
  it('refuses invalid configuration with one message naming every problem, exit 2', async () => {
    const r = await runCli(
      ['start'],
      env({ AGENTBRIDGE_HTTP_PORT: 'eighty', AGENTBRIDGE_AGENT: 'gpt', AGENTBRIDGE_TURN_TIMEOUT_S: '0', SLACK_BOT_TOKEN: 'oops-secret-value' }),
      sb.root,
    );
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('Invalid configuration');
    for (const name of ['AGENTBRIDGE_HTTP_PORT', 'AGENTBRIDGE_AGENT', 'AGENTBRIDGE_TURN_TIMEOUT_S', 'SLACK_BOT_TOKEN']) expect(r.stderr).toContain(name);
    expect(r.stderr).not.toContain('oops-secret-value');
    expect(fs.existsSync(path.join(sb.root, 'data', 'agentbridge.db'))).toBe(false);
  });

  it('doctor reports each agent and the one it will use; exits 1 when none is usable', async () => {
    const ok = await runCli(['doctor'], env(), sb.root, 60_000);
    expect(ok.code).toBe(0);
    expect(ok.stdout).toMatch(/Claude Code\s+installed\s+2\.1\.197.*authenticated/);
    expect(ok.stdout).toMatch(/Codex CLI\s+installed/);
    expect(ok.stdout).toMatch(/Gemini CLI\s+installed/);
    expect(ok.stdout).toContain('agentbridge will use: Claude Code');
    expect(derivedSlots).toMatch(/^\d+ turn slots? \([\d.]+ cores?.*, [\d.]+ GiB.*\)$/);
    expect(ok.stdout).toContain(`Turns at once: ${derivedSlots}; live agent sessions at most: ${2 * deriveTurnSlots(facts).slots}`);
    const set = await runCli(['doctor'], env({ AGENTBRIDGE_MAX_CONCURRENT_TURNS: '3' }), sb.root, 60_000);
    expect(set.stdout).toContain('Turns at once: 3 turn slots (AGENTBRIDGE_MAX_CONCURRENT_TURNS); live agent sessions at most: 6');

    // Started with node instead of npm/npx (no node_modules/.bin on PATH): the same CLIs, the same report.
    // The folder of the node running the tests stays on PATH: the CLIs' `#!/usr/bin/env node` needs a
    // Node 22 (under .ci/run on an older machine, /usr/bin/node is not one).
    const plain = await runCli(['doctor'], env({ PATH: `${path.dirname(process.execPath)}:/usr/bin:/bin` }), sb.root, 60_000);
    expect(plain.code).toBe(0);
    const installedLines = (out: string) => out.split('\n').filter((l) => /^\s+\S.*\s(installed|not installed)/.test(l));
    expect(installedLines(plain.stdout)).toEqual(installedLines(ok.stdout));
    expect(installedLines(ok.stdout)).toHaveLength(3);

    const nowhere = { CLAUDE_BIN: '/nonexistent/claude', CODEX_BIN: '/nonexistent/codex', GEMINI_BIN: '/nonexistent/gemini' };
    const none = await runCli(['doctor'], env({ ...nowhere, ANTHROPIC_API_KEY: '' }), sb.root, 60_000);
    expect(none.code).toBe(1);
    expect(none.stdout).toMatch(/Claude Code\s+not installed/);
    expect(none.stdout).toContain('No usable agent');
  });

  it('allows one owner per data directory; maintenance commands respect it', async () => {
    // The model endpoint is a closed port: turns fail at once with a clear message.
    const ab = await startAgentbridge(env({ AGENTBRIDGE_AGENT: 'claude', ANTHROPIC_BASE_URL: 'http://127.0.0.1:9', CLAUDE_CODE_MAX_RETRIES: '0' }), sb.root);
    running.push(ab);
    // The startup log says how many turns run at once, and why.
    expect(ab.logs.find((l) => l.turnSlots !== undefined)?.msg).toBe(derivedSlots);
    // A second service on the same data directory exits with a clear error.
    const second = await runCli(['start'], env({ AGENTBRIDGE_AGENT: 'claude', AGENTBRIDGE_HTTP_PORT: '0' }), sb.root);
    expect(second.code).toBe(1);
    expect(second.stderr).toContain(`another agentbridge (pid ${ab.child.pid})`);

    // Reads and WAL checkpoints are safe while it runs; vacuum and prune refuse.
    const list = await runCli(['sessions', 'list'], env(), sb.root);
    expect(list.code).toBe(0);
    expect(list.stdout).toContain('no conversations yet');
    const cp = await runCli(['db', 'checkpoint'], env(), sb.root);
    expect(cp.code).toBe(0);
    expect(cp.stdout).toMatch(/checkpoint: \d+ of \d+ WAL frames/);
    const vac = await runCli(['db', 'vacuum'], env(), sb.root);
    expect(vac.code).toBe(1);
    expect(vac.stderr).toContain('only while agentbridge is stopped');
    const prn = await runCli(['db', 'prune', '--before', '30d'], env(), sb.root);
    expect(prn.code).toBe(1);
    expect(prn.stderr).toContain('only while agentbridge is stopped');

    // Put a conversation in through the local chat, then stop and prune.
    const res = await fetch(`${ab.url}/api/local/messages`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ channel: 'general', text: 'hi' }),
    });
    const { thread } = (await res.json()) as { thread: string };
    const id = `local:general:${thread}`;
    const chat = new LocalChat(ab.url);
    const failure = await waitFor(async () => (await chat.botTexts('general', thread)).find((t) => t.startsWith('⚠️')), 30_000, 'the error answer');
    expect(failure).toContain('Claude Code');
    const del = await runCli(['sessions', 'delete', id], env(), sb.root);
    expect(del.code).toBe(1);
    expect(del.stderr).toContain('only while agentbridge is stopped');
    const listed = await runCli(['sessions', 'list'], env(), sb.root);
    expect(listed.stdout).toContain(id);
    expect(await ab.stop()).toBe(0);

    const show = await runCli(['sessions', 'show', id], env(), sb.root);
    expect(show.code).toBe(0);
    expect(show.stdout).toContain(`conversation   ${id}`);
    expect(show.stdout).toMatch(/you: hi/);

    const vac2 = await runCli(['db', 'vacuum'], env(), sb.root);
    expect(vac2.code).toBe(0);
    expect(vac2.stdout).toMatch(/vacuum: .* → \d+ bytes/);
    const badDate = await runCli(['db', 'prune', '--before', 'someday'], env(), sb.root);
    expect(badDate.code).toBe(2);
    expect(badDate.stderr).toContain('is not a date');
    const tomorrow = new Date(Date.now() + 86_400_000).toISOString();
    // Without --yes: the plan, nothing deleted, exit 1 with the command to run.
    const asked = await runCli(['db', 'prune', '--before', tomorrow], env(), sb.root);
    expect(asked.code).toBe(1);
    expect(asked.stdout).toMatch(/prune: would remove rows older than .*\n {2}conversations: 1\n/);
    expect(asked.stderr).toContain(`nothing was deleted. To delete these`);
    expect(asked.stderr).toContain(`agentbridge db prune --before ${tomorrow} --yes`);
    const dry = await runCli(['db', 'prune', '--before', tomorrow, '--dry-run'], env(), sb.root);
    expect(dry.code).toBe(0);
    expect(dry.stdout).toMatch(/would remove .*\n {2}conversations: 1\n/);
    expect((await runCli(['sessions', 'show', id], env(), sb.root)).code).toBe(0); // still there
    const prune = await runCli(['db', 'prune', '--before', tomorrow, '--yes'], env(), sb.root);
    expect(prune.code).toBe(0);
    expect(prune.stdout).toMatch(/prune: removed rows older than/);
    expect(prune.stdout).toMatch(/conversations: 1/);
    expect(prune.stdout).toMatch(/local_messages: [1-9]/);
    const after = await runCli(['sessions', 'show', id], env(), sb.root);
    expect(after.code).toBe(1);
  });

  it('moves a corrupt database aside, starts with a fresh one and logs the error', async () => {
    const dataDir = path.join(sb.root, 'corrupt-data');
    fs.mkdirSync(dataDir, { recursive: true });
    fs.writeFileSync(path.join(dataDir, 'agentbridge.db'), Buffer.alloc(8192, 0x5a));
    const ab = await startAgentbridge(env({ AGENTBRIDGE_DATA_DIR: dataDir, AGENTBRIDGE_AGENT: 'claude' }), sb.root);
    running.push(ab);
    expect((await fetch(`${ab.url}/healthz`)).status).toBe(200);
    const moved = fs.readdirSync(dataDir).filter((f) => f.startsWith('agentbridge.db.corrupt-'));
    expect(moved).toHaveLength(1);
    expect(ab.logs.some((l) => l.level === 50 && String(l.msg).includes('is corrupt'))).toBe(true);
  });
});
