/**
 * A CLI that ended without reading its prompt (Gemini CLI's 500 ms wait for piped input, on a
 * CPU-starved machine) is started again by the shared run (src/runners/define.ts), at most
 * PROMPT_MISSED_RETRIES times; a CLI that did read it is never started twice.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { createRunner, defineRunner, PROMPT_MISSED_RETRIES } from '../../src/runners/define.js';
import type { RunRequest } from '../../src/runners/types.js';
import { echo } from '../fake-runner/index.js';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'prompt-missed-'));
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

/**
 * An echo-agent that, for its first `misses` starts, exits 42 "No input provided via stdin" —
 * or, with `stall`, prints nothing and waits a minute — (starts counted in a file).
 */
function lateAgent(misses: number, stall = false): string {
  const counter = path.join(dir, `starts-${misses}-${Math.random().toString(36).slice(2)}`);
  const bin = path.join(dir, `late-agent-${path.basename(counter)}.mjs`);
  const echoAgent = path.resolve(import.meta.dirname, '../fake-runner/echo-agent.mjs');
  fs.writeFileSync(
    bin,
    `#!/usr/bin/env node
import fs from 'node:fs';
const n = fs.existsSync(${JSON.stringify(counter)}) ? Number(fs.readFileSync(${JSON.stringify(counter)}, 'utf8')) : 0;
fs.writeFileSync(${JSON.stringify(counter)}, String(n + 1));
if (n < ${misses} && ${stall}) await new Promise((r) => setTimeout(r, 60_000));
if (n < ${misses}) { process.stderr.write('No input provided via stdin.\\n'); process.exit(42); }
await import(${JSON.stringify(echoAgent)});
`,
    { mode: 0o755 },
  );
  return bin;
}

const late = defineRunner({
  ...echo,
  name: 'late',
  binVariable: 'LATE_AGENT_BIN',
  promptMissed: (done) => done.exitCode === 42 && /no input provided via stdin/i.test(done.stderr),
});

const req = (): RunRequest => ({ prompt: 'hello there', cwd: dir, env: { ...process.env }, permissionMode: 'read-only', timeoutMs: 30_000 });
const starts = (bin: string) => Number(fs.readFileSync(path.join(dir, path.basename(bin).replace(/^late-agent-|\.mjs$/g, '')), 'utf8'));

describe('a CLI that missed its prompt', () => {
  it('is started again, and the turn succeeds with the prompt', async () => {
    const bin = lateAgent(1);
    const result = await createRunner(late, { bin }).run(req(), () => {});
    expect(result.ok).toBe(true);
    expect(result.text).toContain('echo: hello there');
    expect(starts(bin)).toBe(2);
  });

  it(`gives up after ${PROMPT_MISSED_RETRIES} retries with the CLI's failure`, async () => {
    const bin = lateAgent(10);
    const result = await createRunner(late, { bin }).run(req(), () => {});
    expect(result.ok).toBe(false);
    expect(starts(bin)).toBe(PROMPT_MISSED_RETRIES + 1);
  });

  it('a start that prints nothing within silentStartMs is ended and started again', async () => {
    const bin = lateAgent(1, true);
    const t0 = Date.now();
    const result = await createRunner({ ...late, promptMissed: undefined, silentStartMs: 1_000 }, { bin }).run(req(), () => {});
    expect(result.ok).toBe(true);
    expect(result.text).toContain('echo: hello there');
    expect(starts(bin)).toBe(2);
    expect(Date.now() - t0).toBeLessThan(20_000);
  });

  it('a runner without the rule is never started twice', async () => {
    const bin = lateAgent(1);
    const result = await createRunner({ ...late, promptMissed: undefined }, { bin }).run(req(), () => {});
    expect(result.ok).toBe(false);
    expect(starts(bin)).toBe(1);
  });
});
