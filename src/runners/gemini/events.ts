/**
 * Parsing `gemini --output-format stream-json` lines (gemini-cli 0.61.0) into {@link RunEvent}s.
 * Pure: no I/O. Shapes (Gemini CLI docs; docs/ARCHITECTURE.md §7; verified by test/runners/gemini.test.ts), one JSON object per line:
 * - `{"type":"init","session_id","model"}`
 * - `{"type":"message","role":"user"|"assistant","content","delta":true}` — assistant deltas concatenate
 * - `{"type":"tool_use","tool_name","tool_id","parameters"}`
 * - `{"type":"tool_result","tool_id","status":"success"|"error","output"?,"error"?:{type,message}}`
 * - `{"type":"error","severity":"warning"|"error","message"}` — non-fatal
 * - `{"type":"result","status":"success"|"error","error"?:{type,message},"stats":{input_tokens,output_tokens,…}}`
 * Unknown types and fields are ignored.
 */
import type { Usage } from '../../core/agents.js';
import type { RunEvent } from '../types.js';

const SUMMARY_MAX = 200;

type Json = Record<string, unknown>;

function isObj(v: unknown): v is Json {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function str(v: unknown): string | undefined {
  return typeof v === 'string' ? v : undefined;
}

function num(v: unknown): number | undefined {
  return typeof v === 'number' && Number.isFinite(v) ? v : undefined;
}

/** Collapses whitespace and cuts to `max` characters (with an ellipsis). */
export function oneLine(text: string, max = SUMMARY_MAX): string {
  const t = text.replace(/\s+/g, ' ').trim();
  return t.length > max ? `${t.slice(0, max - 1)}…` : t;
}

/** A one-line description of a tool call, e.g. `$ ls -la` or `read_file src/a.ts`. */
export function summarizeTool(name: string, params: unknown): string {
  const p = isObj(params) ? params : {};
  const command = str(p['command']);
  if (command !== undefined) return oneLine(`$ ${command}`);
  const target =
    str(p['file_path']) ?? str(p['absolute_path']) ?? str(p['path']) ?? str(p['dir_path']) ?? str(p['pattern']) ?? str(p['url']) ?? str(p['query']);
  if (target !== undefined) return oneLine(`${name} ${target}`);
  const args = Object.keys(p).length ? ` ${JSON.stringify(p)}` : '';
  return oneLine(`${name}${args}`);
}

/** The final `result` line, as far as it matters to the runner. */
export interface GeminiResultLine {
  status: string;
  errorMessage?: string;
  errorType?: string;
}

/**
 * Stateful parser for one turn's stdout. Feed it every line; read the accumulated state at the end.
 */
export class GeminiEventParser {
  sessionId?: string;
  model?: string;
  /** Concatenated assistant text. */
  text = '';
  usage?: Usage;
  result?: GeminiResultLine;
  /** The last `error` event's message (these are non-fatal warnings on their own). */
  lastError?: string;
  private readonly tools = new Map<string, string>();

  /** Parses one stdout line; returns the events it produces (none for non-JSON or unknown lines). */
  push(line: string): RunEvent[] {
    const trimmed = line.trim();
    if (!trimmed.startsWith('{')) return [];
    let ev: unknown;
    try {
      ev = JSON.parse(trimmed);
    } catch {
      return [];
    }
    if (!isObj(ev)) return [];
    switch (ev['type']) {
      case 'init': {
        const id = str(ev['session_id']);
        this.model = str(ev['model']) ?? this.model;
        if (!id) return [];
        this.sessionId = id;
        return [{ type: 'session', sessionId: id }];
      }
      case 'message': {
        if (ev['role'] !== 'assistant') return [];
        const delta = str(ev['content']);
        if (!delta) return [];
        this.text += delta;
        return [{ type: 'text', delta }];
      }
      case 'tool_use': {
        const name = str(ev['tool_name']) ?? 'tool';
        const id = str(ev['tool_id']) ?? `${name}-${this.tools.size}`;
        this.tools.set(id, name);
        return [{ type: 'tool_start', id, name, summary: summarizeTool(name, ev['parameters']) }];
      }
      case 'tool_result': {
        const id = str(ev['tool_id']) ?? '';
        const name = this.tools.get(id) ?? 'tool';
        const ok = ev['status'] === 'success';
        const err = isObj(ev['error']) ? str(ev['error']['message']) : undefined;
        const out = ok ? str(ev['output']) : (err ?? str(ev['output']));
        const summary = out ? oneLine(out) : undefined;
        return [{ type: 'tool_end', id, name, ok, ...(summary ? { summary } : {}) }];
      }
      case 'error': {
        const message = str(ev['message']);
        if (!message) return [];
        this.lastError = message;
        return [{ type: 'warning', message }];
      }
      case 'result': {
        const err = isObj(ev['error']) ? ev['error'] : undefined;
        this.result = {
          status: str(ev['status']) ?? 'error',
          ...(err && str(err['message']) ? { errorMessage: str(err['message']) } : {}),
          ...(err && str(err['type']) ? { errorType: str(err['type']) } : {}),
        };
        const usage = usageFromStats(ev['stats']);
        if (!usage) return [];
        this.usage = usage;
        return [{ type: 'usage', usage }];
      }
      default:
        return [];
    }
  }
}

/** Token counts from `result.stats` (`input_tokens`, `output_tokens`); undefined when absent. */
export function usageFromStats(stats: unknown): Usage | undefined {
  if (!isObj(stats)) return undefined;
  const inputTokens = num(stats['input_tokens']);
  const outputTokens = num(stats['output_tokens']);
  if (inputTokens === undefined && outputTokens === undefined) return undefined;
  return { ...(inputTokens !== undefined ? { inputTokens } : {}), ...(outputTokens !== undefined ? { outputTokens } : {}) };
}

/**
 * The provider's message from a gemini error text. gemini wraps API failures as
 * `[API Error: <message or Google error JSON>]` followed by advice; this returns
 * `<message> (<code> <STATUS>)` for the JSON form and the text without the wrapper otherwise.
 */
export function providerMessage(text: string): string {
  const m = /\[API Error: ([\s\S]*?)\](?:\s*$|\n)/.exec(text) ?? /\[API Error: ([\s\S]*)\]/.exec(text);
  if (!m) return text.trim();
  const inner = m[1]!.trim();
  const rest = text.slice((m.index ?? 0) + m[0].length).trim();
  let core = inner;
  try {
    const parsed: unknown = JSON.parse(inner);
    const e = isObj(parsed) && isObj(parsed['error']) ? parsed['error'] : undefined;
    if (e && str(e['message'])) {
      const tag = [num(e['code']), str(e['status'])].filter((x) => x !== undefined).join(' ');
      core = `${str(e['message'])}${tag ? ` (${tag})` : ''}`;
    }
  } catch {
    /* not JSON */
  }
  if (!rest) return core;
  return `${core}${/[.!?]$/.test(core) ? '' : '.'} ${rest}`;
}

const STDERR_NOISE = [
  /^\s+at /,
  /^Warning: 256-color support/,
  /YOLO mode is enabled/,
  /^Ripgrep is not available/,
  /^Loaded cached credentials/,
  /^\s*[{}]\s*$/,
];

/** The meaningful tail of gemini's stderr (noise and stack frames dropped), or ''. */
export function stderrTail(stderr: string, maxLines = 4): string {
  const lines = stderr
    // eslint-disable-next-line no-control-regex -- ANSI escape sequences start with ESC
    .replace(/\x1b\[[0-9;]*m/g, '')
    .split('\n')
    .map((l) => l.trimEnd());
  const kept = lines.filter((l) => l.trim() && !STDERR_NOISE.some((re) => re.test(l)));
  return kept.slice(-maxLines).join(' ').trim();
}
