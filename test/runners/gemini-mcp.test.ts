/**
 * The real `gemini` CLI reaching agentbridge's MCP server through the per-turn overlay Gemini home
 * (src/runners/mcp-config.ts): tools are offered as `mcp_agentbridge_<tool>`, calls carry the turn
 * token, the user's settings.json and workdir stay untouched, and sessions still resume.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { settleProcessCleanups } from '../../src/runners/process.js';
import { createRunner } from '../../src/runners/define.js';
import { gemini } from '../../src/runners/gemini/index.js';
import { prepareGeminiHome } from '../../src/runners/mcp-config.js';
import type { RunEvent, RunRequest } from '../../src/runners/types.js';
import { startMcpHarness, type McpHarness } from '../helpers/mcp-harness.js';
import { makeSandbox, type Sandbox } from '../helpers/sandbox.js';
import { allText, sequence, startGeminiModel, type GeminiModel } from '../models/gemini.js';

let model: GeminiModel;
let mcp: McpHarness;
let sb: Sandbox;
let settingsFile: string;
const USER_SETTINGS = `{
  // the user's own settings (comments allowed, as gemini reads them)
  "security": { "auth": { "selectedType": "gemini-api-key" } },
  "general": { "maxAttempts": 1, "enableAutoUpdate": false, "enableAutoUpdateNotification": false },
  "privacy": { "usageStatisticsEnabled": false },
  "mcpServers": { "mine": { "httpUrl": "http://127.0.0.1:9/none", "trust": false } }
}
`;

beforeEach(async () => {
  model = await startGeminiModel();
  mcp = await startMcpHarness();
  sb = makeSandbox({ GEMINI_API_KEY: 'x', GOOGLE_GEMINI_BASE_URL: model.url, GEMINI_CLI_TRUST_WORKSPACE: 'true' });
  settingsFile = path.join(sb.home, '.gemini', 'settings.json');
  fs.writeFileSync(settingsFile, USER_SETTINGS);
});

const TMPDIR = process.env.TMPDIR;

afterEach(async () => {
  // A turn ends at the CLI's final event; its process may still be exiting (and writing into the sandbox).
  await settleProcessCleanups(30_000);
  if (TMPDIR === undefined) delete process.env.TMPDIR;
  else process.env.TMPDIR = TMPDIR;
  await model.close();
  await mcp.close();
  sb.cleanup();
});

const target = { platform: 'local' as const, channel: 'general', thread: 't1' };

function request(over: Partial<RunRequest>): RunRequest {
  return { prompt: 'hello', cwd: sb.workdir, env: sb.env, permissionMode: 'read-only', timeoutMs: 60_000, ...over };
}

async function run(req: RunRequest) {
  const events: RunEvent[] = [];
  const result = await createRunner(gemini).run(req, (e) => events.push(e));
  return { result, events };
}

describe('the overlay Gemini home', () => {
  it("adds the server to a copy of the user's settings, links everything else, and cleans up", () => {
    fs.mkdirSync(path.join(sb.home, '.gemini', 'tmp'));
    fs.writeFileSync(path.join(sb.home, '.gemini', 'GEMINI.md'), 'memory');
    const home = prepareGeminiHome(sb.env, { mcp: { url: 'http://127.0.0.1:9/mcp', token: 'tok' }, cwd: sb.workdir }, sb.root)!;
    const overlay = home.env.GEMINI_CLI_HOME!;
    expect(path.dirname(overlay)).toBe(sb.root);
    expect(home.env.AGENTBRIDGE_MCP_TOKEN).toBe('tok');
    const merged = JSON.parse(fs.readFileSync(path.join(overlay, '.gemini', 'settings.json'), 'utf8'));
    expect(merged.security.auth.selectedType).toBe('gemini-api-key');
    expect(merged.mcpServers).toEqual({
      mine: { httpUrl: 'http://127.0.0.1:9/none', trust: false },
      agentbridge: { httpUrl: 'http://127.0.0.1:9/mcp', headers: { Authorization: 'Bearer ${AGENTBRIDGE_MCP_TOKEN}' }, trust: true },
    });
    expect(JSON.stringify(merged)).not.toContain('tok"');
    expect(fs.readlinkSync(path.join(overlay, '.gemini', 'tmp'))).toBe(path.join(sb.home, '.gemini', 'tmp'));
    expect(fs.readlinkSync(path.join(overlay, '.gemini', 'GEMINI.md'))).toBe(path.join(sb.home, '.gemini', 'GEMINI.md'));
    // A file gemini creates or replaces by rename in the overlay goes back to the real home.
    fs.rmSync(path.join(overlay, '.gemini', 'GEMINI.md'));
    fs.writeFileSync(path.join(overlay, '.gemini', 'GEMINI.md'), 'memory v2');
    fs.writeFileSync(path.join(overlay, '.gemini', 'projects.json'), '{}');
    home.finish();
    expect(fs.existsSync(overlay)).toBe(false);
    expect(fs.readFileSync(path.join(sb.home, '.gemini', 'GEMINI.md'), 'utf8')).toBe('memory v2');
    expect(fs.readFileSync(path.join(sb.home, '.gemini', 'projects.json'), 'utf8')).toBe('{}');
    expect(fs.readFileSync(settingsFile, 'utf8')).toBe(USER_SETTINGS);
  });

  it('gives up (no tools) when the user settings cannot be parsed', () => {
    fs.writeFileSync(settingsFile, '{ broken');
    expect(prepareGeminiHome(sb.env, { mcp: { url: 'http://x/mcp', token: 't' }, cwd: sb.workdir }, sb.root)).toBeUndefined();
  });
});

describe('the gemini runner with agentbridge tools (real gemini CLI)', () => {
  it('schedules and posts with the turn token in default approval mode; sessions still resume', async () => {
    model.setResponder(
      sequence(
        { functionCall: { name: 'mcp_agentbridge_schedule_message', args: { text: 'follow-up check', delay_seconds: 2 } } },
        { functionCall: { name: 'mcp_agentbridge_post_message', args: { text: 'working on it' } } },
        { text: 'All set.' },
      ),
    );
    // The runner makes the overlay in os.tmpdir(): here a folder of this test's own, so that overlays of other
    // processes in the machine's shared /tmp (other test runs at the same time) neither come nor go in the count.
    process.env.TMPDIR = path.join(sb.root, 'tmp');
    fs.mkdirSync(process.env.TMPDIR);
    const overlays = () => fs.readdirSync(os.tmpdir()).filter((n) => n.startsWith('agentbridge-gemini-'));
    const before = overlays();
    expect(before).toEqual([]);
    const grant = mcp.access.grant({ conversationId: 'local:general:t1', replyTarget: target, ttlMs: 120_000 });
    const { result } = await run(request({ prompt: 'check again in 2 seconds remember KESTREL', mcp: { url: grant.url, token: grant.token } }));
    grant.revoke();

    expect(result.error).toBeUndefined();
    expect(result.text).toBe('All set.');
    expect(mcp.seen.length).toBeGreaterThan(0);
    expect(mcp.seen.every((s) => s.token === grant.token && 'conversationId' in s.result)).toBe(true);
    expect(mcp.scheduled.items).toMatchObject([{ conversationId: 'local:general:t1', text: 'follow-up check', createdBy: 'agent' }]);
    expect(mcp.posted).toEqual([{ conversationId: 'local:general:t1', target: { ...target, kind: 'notice' }, texts: ['working on it'] }]);
    const offered = model.mainRequests()[0]!.body.tools as Array<{ functionDeclarations?: Array<{ name: string }> }>;
    expect(offered.flatMap((t) => t.functionDeclarations ?? []).map((f) => f.name)).toEqual(
      expect.arrayContaining(['mcp_agentbridge_schedule_message', 'mcp_agentbridge_post_message']),
    );
    expect(allText(model.mainRequests().at(-1)!)).toContain('Scheduled sm-1');

    // Nothing written into the workdir; the user's settings untouched; no overlay left behind
    // (removed once the gemini process group is gone, after the run resolved at its final event).
    await settleProcessCleanups(30_000);
    expect(fs.readdirSync(sb.workdir)).toEqual([]);
    expect(fs.readFileSync(settingsFile, 'utf8')).toBe(USER_SETTINGS);
    expect(overlays()).toEqual(before);

    // The session lives in the real Gemini home: the next turn (tools again) resumes it.
    model.setResponder(sequence({ text: 'resumed' }));
    const grant2 = mcp.access.grant({ conversationId: 'local:general:t1', replyTarget: target, ttlMs: 120_000 });
    const second = await run(request({ prompt: 'what was the word?', resumeSessionId: result.sessionId!, mcp: { url: grant2.url, token: grant2.token } }));
    grant2.revoke();
    expect(second.result.error).toBeUndefined();
    expect(allText(model.mainRequests().at(-1)!)).toContain('KESTREL');
  });

  it('a revoked token is refused: the tools never run', async () => {
    model.setResponder(sequence({ functionCall: { name: 'mcp_agentbridge_schedule_message', args: { text: 'x', delay_seconds: 5 } } }, { text: 'tried' }));
    const grant = mcp.access.grant({ conversationId: 'local:general:t1', replyTarget: target, ttlMs: 120_000 });
    grant.revoke();
    const { result } = await run(request({ prompt: 'schedule something', mcp: { url: grant.url, token: grant.token } }));
    expect(result.ok).toBe(true);
    expect(mcp.seen.length).toBeGreaterThan(0);
    expect(mcp.seen.every((s) => 'refused' in s.result)).toBe(true);
    expect(mcp.scheduled.items).toEqual([]);
  });
});
