/**
 * Micro-bench: agentbridge CPU per MCP request cycle (issue 16).
 *
 * The MCP endpoint (src/tools/mcp-server.ts) runs in this process on a loopback HTTP server; a
 * child process plays the agent CLI and sends, per turn, what claude sends: `initialize`,
 * `notifications/initialized`, `tools/list` (POSTs with the turn's bearer token) and a `GET`
 * (SSE stream open). Only this process's CPU is counted (`process.cpuUsage`, user + system), so
 * the client's own work is not in the figure. Tokens are issued before the measured window.
 *
 * Usage: `node --import tsx scripts/mcp-cycle-bench.ts [turns=400] [concurrency=4] [warm-up turns=100]`
 * Prints: CPU ms per turn (4 requests) and per request, wall time.
 */
import { spawn } from 'node:child_process';
import readline from 'node:readline';
import { createHttpServer } from '../src/http/server.js';
import { createLogger } from '../src/logger.js';
import { registerMcpRoutes } from '../src/tools/mcp-server.js';
import { ToolTokens } from '../src/tools/tokens.js';

const turns = Number(process.argv[2] ?? 400);
const concurrency = Number(process.argv[3] ?? 4);
const warmup = Number(process.argv[4] ?? 100);

/** The client: runs `turns` turns `concurrency` at a time; prints `ready` after the warm-up and `done` at the end. */
const CLIENT = `
const http = require('node:http');
const [url, warmup, concurrency] = [process.argv[1], Number(process.argv[2]), Number(process.argv[3])];
const agent = new http.Agent({ keepAlive: true, maxSockets: concurrency });
const u = new URL(url);
function req(method, token, body) {
  return new Promise((resolve, reject) => {
    const data = body ? JSON.stringify(body) : undefined;
    const r = http.request({ host: u.hostname, port: u.port, path: u.pathname, method, agent,
      headers: { authorization: 'Bearer ' + token, accept: 'application/json, text/event-stream',
        ...(data ? { 'content-type': 'application/json', 'content-length': Buffer.byteLength(data) } : {}) } }, (res) => {
      const chunks = []; res.on('data', (c) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode, text: Buffer.concat(chunks).toString() }));
    });
    r.on('error', reject); r.end(data);
  });
}
async function turn(token) {
  const a = await req('POST', token, { jsonrpc: '2.0', id: 0, method: 'initialize', params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'bench', version: '1' } } });
  if (a.status !== 200) throw new Error('initialize: ' + a.status + ' ' + a.text);
  const b = await req('POST', token, { jsonrpc: '2.0', method: 'notifications/initialized' });
  if (b.status !== 202) throw new Error('initialized: ' + b.status);
  const c = await req('POST', token, { jsonrpc: '2.0', id: 1, method: 'tools/list', params: {} });
  if (c.status !== 200 || !c.text.includes('post_message')) throw new Error('tools/list: ' + c.status);
  const d = await req('GET', token);
  if (d.status !== 405) throw new Error('GET: ' + d.status);
}
async function run(tokens) {
  let i = 0;
  await Promise.all(Array.from({ length: concurrency }, async () => { while (i < tokens.length) await turn(tokens[i++]); }));
}
let input = '';
process.stdin.on('data', (d) => (input += d));
process.stdin.on('end', async () => {
  const tokens = JSON.parse(input);
  await run(tokens.slice(0, warmup));
  console.log('ready');
  await run(tokens.slice(warmup));
  console.log('done');
  agent.destroy();
});
`;

const logger = createLogger('silent');
const tokens = new ToolTokens(new Uint8Array(32).fill(3));
const http = createHttpServer({ host: '127.0.0.1', port: 0, logger });
registerMcpRoutes(http, {
  tokens,
  outbound: { say: async () => {}, reachable: () => true },
  scheduled: { add: () => ({}), list: () => [], cancel: () => false, reset: () => 0 } as never,
  logger,
});
const base = (await http.listen()).url;
const target = { platform: 'local' as const, channel: 'general', thread: 't' };
const list = Array.from({ length: warmup + turns }, (_, i) => tokens.issue({ conversationId: `c${i}`, turnId: `turn-${i}`, target, ttlMs: 600_000 }));

const child = spawn(process.execPath, ['-e', CLIENT, `${base}/mcp`, String(warmup), String(concurrency)], { stdio: ['pipe', 'pipe', 'inherit'] });
child.stdin.end(JSON.stringify(list));
let start: NodeJS.CpuUsage | undefined;
let t0 = 0;
for await (const line of readline.createInterface({ input: child.stdout })) {
  if (line === 'ready') {
    if (global.gc) global.gc();
    start = process.cpuUsage();
    t0 = performance.now();
  } else if (line === 'done') {
    const cpu = process.cpuUsage(start);
    const wall = performance.now() - t0;
    const ms = (cpu.user + cpu.system) / 1000;
    console.log(
      `${turns} turns × 4 MCP requests, concurrency ${concurrency}: ${(ms / turns).toFixed(2)} ms CPU per turn, ` +
        `${(ms / turns / 4).toFixed(2)} ms per request (user ${(cpu.user / 1000 / turns).toFixed(2)}, system ${(cpu.system / 1000 / turns).toFixed(2)} per turn); wall ${(wall / turns).toFixed(2)} ms per turn`,
    );
    break;
  }
}
await new Promise((r) => child.once('exit', r));
await http.close();
