#!/usr/bin/env node
// claude-linger: a stand-in for the `claude` CLI that answers at once and then keeps running — it
// shows that a turn ends at the CLI's final event (`result`), not at its exit (issue 16).
//
// It speaks what agentbridge's Claude runner reads (src/runners/claude/events.ts, control.ts;
// shapes as claude 2.1.197 prints them, ../shared/reference/agent-clis.md):
// - `--version` → "2.1.197 (Claude Code)".
// - one-shot (`-p --output-format stream-json --verbose [--resume ID] …`): reads the prompt from
//   stdin until EOF, starts a child in its process group (`sleep`), prints `system/init`, one
//   `assistant` text message and a `result`, then keeps running FAKE_CLAUDE_LINGER_MS
//   (default 2000) before it exits 0 — the child sleeps as long. With FAKE_CLAUDE_IGNORE_TERM
//   set it ignores SIGTERM (its child does not).
// - live session (`--input-format stream-json`): answers control requests (`initialize` and the
//   rest) with success; each user message is echoed (`--replay-user-messages`) and answered the
//   same way, at once — except a prompt containing "HANG", which gets no answer until an
//   `interrupt` control request (then a `result` with `error_during_execution`, as claude does).
//   Exits when stdin closes.
// - The answer text is `echo: <last line of the prompt>`.
// - With FAKE_CLAUDE_LOG set, one JSON line per answered turn is appended to that file:
//   {pid, mode: "oneshot"|"live", resultAt (ms since the epoch), args}.
import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import fs from 'node:fs';
import { setTimeout } from 'node:timers';
import { assistantLine, initLine } from './claude-lines.mjs';

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
const lingerMs = Number(process.env.FAKE_CLAUDE_LINGER_MS ?? 2000);

const out = (line) => process.stdout.write(`${JSON.stringify(line)}\n`);

function answer(prompt) {
  const text = `echo: ${prompt.trim().split('\n').at(-1)}`;
  out(initLine({ sessionId, model: 'fake-linger', mcpServers: [], apiKeySource: 'ANTHROPIC_API_KEY' }));
  out(assistantLine({ sessionId, model: 'fake-linger', text }));
  result({ subtype: 'success', is_error: false, result: text });
}

function result(fields) {
  // Logged first: a reader that saw the result line finds the log line.
  if (process.env.FAKE_CLAUDE_LOG) {
    fs.appendFileSync(
      process.env.FAKE_CLAUDE_LOG,
      `${JSON.stringify({ pid: process.pid, mode: live ? 'live' : 'oneshot', resultAt: Date.now(), args: argv })}\n`,
    );
  }
  out({
    type: 'result',
    ...fields,
    duration_ms: 1,
    num_turns: 1,
    session_id: sessionId,
    total_cost_usd: 0,
    usage: { input_tokens: 10, cache_creation_input_tokens: 0, cache_read_input_tokens: 0, output_tokens: 5 },
  });
}

process.stdin.setEncoding('utf8');
if (!live) {
  let input = '';
  process.stdin.on('data', (d) => (input += d));
  process.stdin.on('end', () => {
    if (process.env.FAKE_CLAUDE_IGNORE_TERM) process.on('SIGTERM', () => {});
    // A child in the same process group that lingers too, started before the answer.
    spawn('sleep', [String(lingerMs / 1000)], { stdio: 'ignore' }).once('spawn', () => {
      answer(input);
      setTimeout(() => process.exit(0), lingerMs);
    });
  });
} else {
  let buffer = '';
  let hanging = false;
  process.stdin.on('data', (d) => {
    buffer += d;
    let nl;
    while ((nl = buffer.indexOf('\n')) >= 0) {
      const line = buffer.slice(0, nl);
      buffer = buffer.slice(nl + 1);
      let msg;
      try {
        msg = JSON.parse(line);
      } catch {
        continue;
      }
      if (msg.type === 'control_request') {
        const subtype = msg.request?.subtype;
        const response = subtype === 'initialize' ? { commands: [], models: [], account: {} } : {};
        out({ type: 'control_response', response: { subtype: 'success', request_id: msg.request_id, response } });
        if (subtype === 'interrupt' && hanging) {
          hanging = false;
          result({ subtype: 'error_during_execution', is_error: true, errors: [] });
        }
      } else if (msg.type === 'user') {
        const content = msg.message?.content;
        const prompt = typeof content === 'string' ? content : Array.isArray(content) ? content.map((c) => c?.text ?? '').join('\n') : '';
        out({ ...msg, isReplay: true, session_id: sessionId });
        if (prompt.includes('HANG')) hanging = true;
        else answer(prompt);
      }
    }
  });
  process.stdin.on('end', () => process.exit(0));
}
