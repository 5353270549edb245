/**
 * The pure part of the Claude live session's results (./session.ts): a turn's outcome from its
 * runs, a start failure's error, and per-turn usage from `result` lines (whose `total_cost_usd`
 * is the process's running total — verified with claude 2.1.197: it grows across the turns of
 * one process).
 */
import type { Usage } from '../../core/agents.js';
import { howEnded } from '../define.js';
import { classifyErrorText, runError, stderrTail } from '../errors.js';
import type { LiveProcessExit } from '../session/live-process.js';
import type { RunError } from '../types.js';

/** One run's result (a turn has one per run: more when a steered message got a run of its own). */
export interface SessionRun {
  isError: boolean;
  subtype?: string;
  /** The run's answer: `result.result`, else the text streamed during the run. */
  text: string;
  errorText?: string;
  apiErrorStatus?: number;
}

/** What {@link turnOutcome} needs of a turn. */
export interface TurnSoFar {
  /** Set when the turn was interrupted on request or by its time limit. */
  stopping?: 'stopped' | 'timeout';
  /** The turn's limit, ms (for the timeout message). */
  timeoutMs: number;
  /** Its runs' results, in order. */
  runs: SessionRun[];
  /** True when every user message of the turn (prompt, steered texts) was answered. */
  answered: boolean;
  /** All answer text streamed during the turn. */
  streamed: string;
}

/**
 * A finished turn's `ok`, `text` and `error`:
 * - stopped/time limit (whatever the runs said) → `stopped`/`timeout`, the text streamed so far;
 * - every run succeeded → ok; `text` is the runs' answers in order, separated by a blank line
 *   (one run normally; a steered message that got a run of its own adds its answer);
 * - the last run failed (`is_error`) → its error text (prefixed with `api_error_status`) classified
 *   like a one-shot turn (`classifyErrorText`);
 * - the process ended before the turn did → `crashed` with the exit and the end of stderr.
 */
export function turnOutcome(turn: TurnSoFar, exit: LiveProcessExit | undefined): { ok: boolean; text: string; error?: RunError } {
  const streamed = turn.streamed;
  if (turn.stopping) {
    const message = turn.stopping === 'timeout' ? `no answer within ${Math.round(turn.timeoutMs / 1000)} s` : 'stopped on request';
    return { ok: false, text: streamed, error: runError(turn.stopping, message) };
  }
  const last = turn.runs.at(-1);
  if (last && turn.answered && !last.isError) {
    return {
      ok: true,
      text:
        turn.runs
          .map((r) => (r.text.trim() ? r.text : ''))
          .filter(Boolean)
          .join('\n\n') || streamed,
    };
  }
  if (last && turn.answered && last.isError) {
    const text = last.errorText ?? 'claude reported an error';
    const kind = classifyErrorText(last.apiErrorStatus ? `${last.apiErrorStatus} ${text}` : text);
    return { ok: false, text: streamed, error: runError(kind, text) };
  }
  const detail = exit ? stderrTail(exit.stderr) : '';
  return {
    ok: false,
    text: streamed,
    error: runError('crashed', `claude ended during the turn (${exit ? howEnded(exit) : 'stdin closed'})${detail ? `: ${detail}` : ''}`),
  };
}

/** The error of a process that ended (or could not start) before it was ready. */
export function startFailure(info: LiveProcessExit): RunError {
  if (info.spawnError) {
    const code = info.spawnError.code ?? '';
    const kind = code === 'ENOENT' || code === 'EACCES' || code === 'ENOTDIR' ? 'not_installed' : 'crashed';
    return runError(kind, `cannot start claude: ${code || info.spawnError.message}`);
  }
  const detail = stderrTail(info.stderr);
  if (!detail) return runError('crashed', `claude ended before it was ready (${howEnded(info)})`);
  const kind = classifyErrorText(detail);
  return runError(kind === 'api_error' ? 'crashed' : kind, detail);
}

/** One run's usage: tokens (input includes cache reads/writes) and the cost added since `costBefore`. */
export function runUsage(json: Record<string, unknown>, costBefore: number): Usage | undefined {
  const u = (typeof json.usage === 'object' && json.usage !== null ? json.usage : {}) as Record<string, unknown>;
  const n = (v: unknown) => (typeof v === 'number' && Number.isFinite(v) ? v : undefined);
  const usage: Usage = {};
  const input = n(u.input_tokens);
  if (input !== undefined) usage.inputTokens = input + (n(u.cache_creation_input_tokens) ?? 0) + (n(u.cache_read_input_tokens) ?? 0);
  const output = n(u.output_tokens);
  if (output !== undefined) usage.outputTokens = output;
  const total = n(json.total_cost_usd);
  if (total !== undefined) usage.costUsd = Math.max(0, total - costBefore);
  return Object.keys(usage).length ? usage : undefined;
}

/** `a + b`, field by field (a field absent from both stays absent). */
export function addUsage(a: Usage | undefined, b: Usage): Usage {
  if (!a) return { ...b };
  const sum = (x?: number, y?: number) => (x === undefined && y === undefined ? undefined : (x ?? 0) + (y ?? 0));
  const out: Usage = {};
  const i = sum(a.inputTokens, b.inputTokens);
  const o = sum(a.outputTokens, b.outputTokens);
  const c = sum(a.costUsd, b.costUsd);
  if (i !== undefined) out.inputTokens = i;
  if (o !== undefined) out.outputTokens = o;
  if (c !== undefined) out.costUsd = c;
  return out;
}
