#!/usr/bin/env node
// echo-agent: a stand-in agent CLI for the runner-registry test (test/unit/runner-registry.test.ts).
// `--version` prints a version. A turn reads the prompt from stdin and writes JSON lines:
// {"type":"session","id":…} {"type":"text","text":…} then {"type":"done","tokens":N} (exit 0), or
// {"type":"error","message":…} (exit 3) when the prompt contains FAIL. `--resume <id>` continues a session.
const argv = process.argv.slice(2);
if (argv.includes('--version')) {
  console.log('echo-agent 1.2.3');
  process.exit(0);
}
const at = argv.indexOf('--resume');
const resumed = at >= 0 ? argv[at + 1] : undefined;
let input = '';
process.stdin.setEncoding('utf8');
process.stdin.on('data', (chunk) => (input += chunk));
process.stdin.on('end', () => {
  const out = (line) => process.stdout.write(`${JSON.stringify(line)}\n`);
  out({ type: 'session', id: resumed ?? `echo-session-${process.pid}` });
  out({ type: 'text', text: `echo${resumed ? ` (resumed ${resumed})` : ''}: ${input.trim().split('\n').pop()}` });
  if (input.includes('FAIL')) {
    out({ type: 'error', message: 'asked to fail' });
    process.exit(3);
  }
  out({ type: 'done', tokens: input.length });
});
