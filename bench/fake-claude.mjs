#!/usr/bin/env node
// fake-claude: an instant stand-in for the `claude` CLI for the end-to-end bench (bench/e2e-bench.ts).
//
// It speaks what agentbridge's Claude runner reads (src/runners/claude/events.ts, control.ts):
// - `--version` → "2.1.197 (Claude Code)".
// - one-shot (`claude -p --output-format stream-json --verbose [--resume ID] [--mcp-config J] …`):
//   reads the prompt from stdin until EOF, prints `system/init`, one `assistant` text message and a
//   `result`, then exits 0.
// - live session (`--input-format stream-json`): answers the `initialize` control request, and for
//   each user message line echoes it (`isReplay`, as `--replay-user-messages` does), then prints
//   `system/init`, `assistant` and `result`; other control requests get a success answer; exits
//   when stdin closes.
// - MCP, like claude at start-up: with `--mcp-config <json|file>` it reads the `agentbridge` server's
//   URL and headers (`${VAR}` expanded from the environment, as claude does) and makes claude's
//   requests — POST `initialize`, POST `notifications/initialized`, GET (the server refuses it:
//   405), POST `tools/list` — with `Accept: application/json, text/event-stream`. Answers wait
//   for that handshake.
// - The answer is `Answer to <id>.` where <id> is the last `turn-…` token of the prompt; with
//   BENCH_FAKE_THINK_MS set it comes that many ms after the prompt (a model's time), else at once.
// - Timing: with BENCH_FAKE_LOG set, one JSON line per answered turn is appended to that file:
//   {turn, pid, mode, spawnAt, promptAt, resultAt, firstInProcess, mcp} (ms since the epoch;
//   spawnAt is the process start, `performance.timeOrigin`).
import { Buffer } from 'node:buffer';
import { randomUUID } from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { URL } from 'node:url';
import { assistantLine, initLine } from '../test/fakes/claude-lines.mjs';

const spawnAt = performance.timeOrigin;
const argv = process.argv.slice(2);
if (argv.includes('--version')) {
  process.stdout.write('2.1.197 (Claude Code)\n');
  process.exit(0);
}
const opt = (name) => {
  const i = argv.indexOf(name);
  return i >= 0 ? argv[i + 1] : undefined;
};
const live = opt('--input-format') === 'stream-json';
const resumed = opt('--resume');
const sessionId = resumed && !argv.includes('--fork-session') ? resumed : randomUUID();
const logFile = process.env.BENCH_FAKE_LOG;

const out = (line) => process.stdout.write(`${JSON.stringify(line)}\n`);

/** The `agentbridge` MCP server of `--mcp-config` (inline JSON or a file), headers expanded. */
function mcpServer() {
  const raw = opt('--mcp-config');
  if (!raw) return undefined;
  let config;
  try {
    config = JSON.parse(raw.trim().startsWith('{') ? raw : fs.readFileSync(raw, 'utf8'));
  } catch {
    return undefined;
  }
  const server = config?.mcpServers?.agentbridge;
  if (!server?.url) return undefined;
  const headers = {};
  for (const [k, v] of Object.entries(server.headers ?? {})) headers[k] = String(v).replace(/\$\{(\w+)\}/g, (_, n) => process.env[n] ?? '');
  return { url: new URL(server.url), headers };
}

const agent = new http.Agent({ keepAlive: true });

/** One HTTP request to the MCP endpoint; resolves with status and body text. */
function request(server, method, body, extra = {}) {
  return new Promise((resolve, reject) => {
    const text = body === undefined ? undefined : JSON.stringify(body);
    const req = http.request(
      server.url,
      {
        method,
        agent,
        headers: {
          ...server.headers,
          accept: method === 'GET' ? 'text/event-stream' : 'application/json, text/event-stream',
          ...(text ? { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) } : {}),
          ...extra,
        },
      },
      (res) => {
        let data = '';
        res.setEncoding('utf8');
        res.on('data', (d) => (data += d));
        res.on('end', () => resolve({ status: res.statusCode, body: data }));
      },
    );
    req.on('error', reject);
    req.end(text);
  });
}

/** claude's MCP start-up; resolves with a summary for the log (never rejects). */
async function mcpHandshake() {
  const server = mcpServer();
  if (!server) return { used: false };
  try {
    const init = await request(server, 'POST', {
      jsonrpc: '2.0',
      id: 0,
      method: 'initialize',
      params: { protocolVersion: '2025-06-18', capabilities: { roots: {} }, clientInfo: { name: 'claude-code', version: '2.1.197' } },
    });
    const version = JSON.parse(init.body)?.result?.protocolVersion ?? '2025-06-18';
    const proto = { 'mcp-protocol-version': version };
    const notified = await request(server, 'POST', { jsonrpc: '2.0', method: 'notifications/initialized' }, proto);
    const get = await request(server, 'GET', undefined, proto);
    const list = await request(server, 'POST', { jsonrpc: '2.0', id: 1, method: 'tools/list', params: {} }, proto);
    const tools = JSON.parse(list.body)?.result?.tools?.length ?? 0;
    return { used: true, init: init.status, initialized: notified.status, get: get.status, list: list.status, tools };
  } catch (err) {
    return { used: true, error: String(err) };
  } finally {
    agent.destroy();
  }
}

const mcp = mcpHandshake();
let answered = 0;

/** Prints one turn's lines for `prompt` and logs its timing. */
async function answer(prompt, promptAt) {
  const mcpSummary = await mcp;
  const think = Number(process.env.BENCH_FAKE_THINK_MS ?? 0);
  if (think > 0) await sleep(think);
  const turn = [...prompt.matchAll(/turn-[\w-]+/g)].at(-1)?.[0] ?? 'unknown';
  const text = `Answer to ${turn}.`;
  out(initLine({ sessionId, model: 'fake-instant', mcpServers: [{ name: 'agentbridge', status: 'connected' }], apiKeySource: 'none' }));
  out(assistantLine({ sessionId, model: 'fake-instant', text }));
  out({
    type: 'result',
    subtype: 'success',
    is_error: false,
    duration_ms: Math.round(Date.now() - promptAt),
    num_turns: 1,
    result: text,
    session_id: sessionId,
    total_cost_usd: 0,
    usage: { input_tokens: 10, cache_creation_input_tokens: 0, cache_read_input_tokens: 0, output_tokens: 5 },
  });
  const resultAt = Date.now();
  const first = answered++ === 0;
  if (logFile) {
    const line = {
      turn,
      pid: process.pid,
      mode: live ? 'live' : 'oneshot',
      spawnAt,
      promptAt,
      resultAt,
      firstInProcess: first,
      mcp: first ? mcpSummary : undefined,
    };
    fs.appendFileSync(logFile, `${JSON.stringify(line)}\n`);
  }
}

process.stdin.setEncoding('utf8');
if (!live) {
  let input = '';
  process.stdin.on('data', (d) => (input += d));
  process.stdin.on('end', () => {
    void answer(input, Date.now()).then(() => process.exit(0));
  });
} else {
  let buffer = '';
  let chain = Promise.resolve();
  process.stdin.on('data', (d) => {
    buffer += d;
    let nl;
    while ((nl = buffer.indexOf('\n')) >= 0) {
      const line = buffer.slice(0, nl);
      buffer = buffer.slice(nl + 1);
      const at = Date.now();
      let msg;
      try {
        msg = JSON.parse(line);
      } catch {
        continue;
      }
      if (msg.type === 'control_request') {
        const response = msg.request?.subtype === 'initialize' ? { commands: [], models: [], account: {} } : {};
        out({ type: 'control_response', response: { subtype: 'success', request_id: msg.request_id, response } });
      } else if (msg.type === 'user') {
        const content = msg.message?.content;
        const prompt = typeof content === 'string' ? content : Array.isArray(content) ? content.map((c) => c?.text ?? '').join('\n') : '';
        chain = chain.then(() => {
          out({ ...msg, isReplay: true, session_id: sessionId });
          return answer(prompt, at);
        });
      }
    }
  });
  process.stdin.on('end', () => void chain.then(() => process.exit(0)));
}
