/**
 * The bench's instant stand-in for claude (bench/fake-claude.mjs) speaks what agentbridge's real
 * Claude runner reads: a one-shot turn and a live session (two turns in one process) end ok with
 * its answer, `--resume` keeps the session id, and it makes claude's MCP requests (POST
 * initialize, POST notifications/initialized, GET, POST tools/list) to the real endpoint with
 * the turn's token. If the runner's protocol changes and the fake no longer fits, the e2e bench
 * (bench/e2e-bench.ts) would measure nothing — this test says so first. No timing assertions.
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { claude } from '../../src/runners/claude/index.js';
import { createRunner } from '../../src/runners/define.js';
import { startMcpHarness, type McpHarness } from '../helpers/mcp-harness.js';
import { processesMentioning } from '../helpers/procs.js';
import { makeSandbox, type Sandbox } from '../helpers/sandbox.js';

const FAKE = path.resolve(import.meta.dirname, '../../bench/fake-claude.mjs');
const target = { platform: 'local' as const, channel: 'c', thread: 't' };

let sb: Sandbox;
let mcp: McpHarness;
let log: string;

beforeEach(async () => {
  sb = makeSandbox();
  mcp = await startMcpHarness();
  log = path.join(sb.root, 'fake.jsonl');
});

afterEach(async () => {
  await mcp.close();
  expect(processesMentioning(sb.root)).toEqual([]);
  sb.cleanup();
});

const logLines = () =>
  fs
    .readFileSync(log, 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as { turn: string; mode: string; firstInProcess: boolean; mcp?: { tools: number; get: number } });

describe('bench/fake-claude.mjs with the real Claude runner', () => {
  it('answers a one-shot turn, keeps a resumed session id and makes claude’s MCP requests', async () => {
    const grant = mcp.access.grant({ conversationId: 'local:c:t', replyTarget: target, ttlMs: 60_000 });
    const runner = createRunner(claude, { bin: FAKE });
    const r = await runner.run(
      {
        prompt: 'please answer turn-one',
        cwd: sb.workdir,
        env: { ...sb.env, BENCH_FAKE_LOG: log },
        timeoutMs: 30_000,
        permissionMode: 'edit',
        resumeSessionId: 'sess-1',
        mcp: { url: grant.url, token: grant.token },
      },
      () => {},
    );
    expect(r).toMatchObject({ ok: true, text: 'Answer to turn-one.', sessionId: 'sess-1' });
    expect([0, null]).toContain(r.exitCode); // null: the run ended at the result line, before the exit
    expect(mcp.seen.map((s) => `${s.method} ${s.token === grant.token && !('refused' in s.result)}`)).toEqual(['POST true', 'POST true', 'POST true']); // the GET is refused (405) before the endpoint looks at the token, so it is not among these
    expect(logLines()).toMatchObject([{ turn: 'turn-one', mode: 'oneshot', firstInProcess: true, mcp: { get: 405 } }]);
    expect(logLines()[0]!.mcp!.tools).toBeGreaterThan(0);
    expect((await runner.probe(sb.env)).version).toBe('2.1.197');
  });

  it('answers two turns in one live session', async () => {
    const grant = mcp.access.grant({ conversationId: 'local:c:t', replyTarget: target, ttlMs: 60_000 });
    const session = createRunner(claude, { bin: FAKE }).openSession!({
      cwd: sb.workdir,
      env: { ...sb.env, BENCH_FAKE_LOG: log },
      permissionMode: 'edit',
      mcp: { url: grant.url, token: grant.token },
    });
    try {
      const handlers = { onEvent: () => {}, onInteraction: async () => ({ kind: 'deny' as const, message: 'no' }) };
      expect(await session.send('first turn-a', handlers, { timeoutMs: 30_000 })).toMatchObject({ ok: true, text: 'Answer to turn-a.' });
      expect(await session.send('second turn-b', handlers, { timeoutMs: 30_000 })).toMatchObject({ ok: true, text: 'Answer to turn-b.' });
      expect(logLines()).toMatchObject([
        { turn: 'turn-a', mode: 'live', firstInProcess: true },
        { turn: 'turn-b', mode: 'live', firstInProcess: false },
      ]);
      expect(mcp.seen.map((s) => s.method)).toEqual(['POST', 'POST', 'POST']);
    } finally {
      await session.close();
    }
  });
});
