/**
 * Targeted faults for the Slack twin's Web API (used by the chaos suite), beside the simple
 * {@link SlackTwin.failNext} queue:
 *
 * - a rule can match only some calls of a method (`match(params)`, e.g. the answer's text);
 * - `when: 'after'` runs the method first (the message IS created / updated) and then answers
 *   the fault status — Slack's ambiguous failure: the post exists but the client saw a 5xx or
 *   429, so its retry (or the core's) can post it again;
 * - `when: 'before'` answers the fault without running the method (nothing changes).
 *
 * Answers: 429 → `{ok:false, error:"ratelimited"}` with `Retry-After`; any other status →
 * `{ok:false, error:"internal_error"}`. Each rule applies `times` times, then is dropped.
 */
import type { Params } from './web-api.js';

export interface FaultRule {
  /** Web API method, e.g. `chat.postMessage`. */
  method: string;
  /** HTTP status to answer (e.g. 500, 503, 429). */
  status: number;
  /** Seconds for `Retry-After` on a 429 (default 1). */
  retryAfter?: number;
  /** `before` (default): the call has no effect; `after`: the call takes effect, then fails. */
  when?: 'before' | 'after';
  /** Only calls whose parameters match (default: every call of the method). */
  match?: (params: Params) => boolean;
  /** How many matching calls get the fault (default 1). */
  times?: number;
  /** A label for the record (e.g. `probe-500-after-create`). */
  label?: string;
}

/** A fault as applied to one call. */
export interface AppliedFault {
  method: string;
  status: number;
  when: 'before' | 'after';
  label?: string;
  params: Params;
  at: number;
}

interface ActiveRule extends FaultRule {
  left: number;
}

/** The rules of one twin, consulted for every Web API call. */
export class FaultRules {
  private readonly rules: ActiveRule[] = [];
  /** Every fault applied so far, in order. */
  readonly applied: AppliedFault[] = [];

  /** Adds a rule (see {@link FaultRule}). */
  add(rule: FaultRule): void {
    this.rules.push({ ...rule, left: rule.times ?? 1 });
  }

  /** Rules still armed (with calls left). */
  get pending(): number {
    return this.rules.filter((r) => r.left > 0).length;
  }

  /** Drops every rule. */
  clear(): void {
    this.rules.length = 0;
  }

  /**
   * The fault for this call at this stage, if a rule matches (and counts it down).
   * @returns the HTTP answer to send instead of / after the real one, or undefined
   */
  take(
    method: string,
    params: Params,
    stage: 'before' | 'after',
  ): { status: number; body: Record<string, unknown>; headers?: Record<string, string> } | undefined {
    const rule = this.rules.find((r) => r.left > 0 && r.method === method && (r.when ?? 'before') === stage && (!r.match || r.match(params)));
    if (!rule) return undefined;
    rule.left--;
    this.applied.push({ method, status: rule.status, when: stage, label: rule.label, params, at: Date.now() });
    if (rule.status === 429) return { status: 429, body: { ok: false, error: 'ratelimited' }, headers: { 'retry-after': String(rule.retryAfter ?? 1) } };
    return { status: rule.status, body: { ok: false, error: 'internal_error' } };
  }
}
