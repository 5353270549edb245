/** The process driver's `stdin` option (src/runners/process.ts): text in, then closed; EPIPE is harmless. */
import os from 'node:os';
import { describe, expect, it } from 'vitest';
import { drive } from '../../src/runners/process.js';

const base = { bin: process.execPath, cwd: os.tmpdir(), env: { PATH: process.env.PATH }, timeoutMs: 30_000, killGraceMs: 500 };

describe('drive() with stdin', () => {
  it('writes the text (any size, NUL and leading "-" included) and closes stdin', async () => {
    const text = `-x\u0000${'ü'.repeat(300_000)}`;
    const lines: string[] = [];
    const r = await drive({
      ...base,
      args: [
        '-e',
        'let s="";process.stdin.setEncoding("utf8").on("data",(d)=>{s+=d}).on("end",()=>{console.log(JSON.stringify({len:s.length,head:s.slice(0,3)}))})',
      ],
      stdin: text,
      onLine: (l) => lines.push(l),
    });
    expect(r.exitCode).toBe(0);
    expect(JSON.parse(lines[0]!)).toEqual({ len: text.length, head: '-x\u0000' });
  });

  it('a child that exits without reading does not break the driver (EPIPE ignored)', async () => {
    const r = await drive({ ...base, args: ['-e', 'process.exit(3)'], stdin: 'x'.repeat(4 * 1024 * 1024), onLine: () => {} });
    expect(r.exitCode).toBe(3);
    expect(r.spawnError).toBeUndefined();
  });

  it('without stdin the child sees a closed stdin', async () => {
    const lines: string[] = [];
    const r = await drive({
      ...base,
      args: ['-e', 'let s="";process.stdin.on("data",(d)=>{s+=d}).on("end",()=>console.log("eof:"+s.length))'],
      onLine: (l) => lines.push(l),
    });
    expect(r.exitCode).toBe(0);
    expect(lines).toEqual(['eof:0']);
  });
});
