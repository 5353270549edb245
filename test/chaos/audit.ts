/**
 * Pure bookkeeping for the chaos scenarios: every message carries a unique token, the scripted
 * model's answer names the tokens of the prompt it answered, and these functions check the
 * answers (lost / duplicated / reordered) and the agent's context (each prompt exactly once).
 *
 * Token shape: `tok-t<thread, 3 digits>-m<message, 4 digits>`, e.g. `tok-t007-m0123` — letters,
 * digits and hyphens only, so no platform's Markdown conversion changes it.
 */
import type { MessagesBody, RecordedRequest } from '../models/anthropic.js';

const TOKEN_RE = /tok-t\d{3}-m\d{4}/g;

/** The token of message `msg` (0-based, unique in the run) in thread `thread` (0-based). */
export function tokenFor(thread: number, msg: number): string {
  return `tok-t${String(thread).padStart(3, '0')}-m${String(msg).padStart(4, '0')}`;
}

/** The thread number a token belongs to. */
export function threadOf(token: string): number {
  return Number(token.slice(5, 8));
}

/** Tokens in `text`, in order of appearance (repeats kept). */
export function tokensIn(text: string): string[] {
  return text.match(TOKEN_RE) ?? [];
}

/** What the scripted model answers to a prompt: `answered <tokens of the prompt, in order>`. */
export function answerFor(prompt: string): string {
  const tokens = tokensIn(prompt);
  return tokens.length ? `answered ${tokens.join(' ')}` : `answered nothing: ${prompt.slice(0, 200)}`;
}

/** Bot message texts that are still a progress message (the progress view starts with "⏳"). */
export function isProgressText(text: string): boolean {
  return text.startsWith('⏳');
}

export interface AnswerAudit {
  /** Accepted messages. */
  messages: number;
  /** Tokens that appear in no answer. */
  lost: string[];
  /** Tokens answered more than once, with the number of answers naming them. */
  duplicated: Array<{ token: string; answers: number }>;
  /** Threads whose answers name their messages out of order. */
  reordered: Array<{ thread: string; order: string[] }>;
  /** Tokens answered in a thread they were not sent to. */
  misplaced: string[];
}

/**
 * Checks answers against the accepted messages.
 * @param accepted thread key → tokens of its accepted messages, in the order they were sent
 * @param answers thread key → texts of the bot's answers in that thread (progress messages
 *   excluded), in the order they appear in the thread
 */
export function auditAnswers(accepted: ReadonlyMap<string, readonly string[]>, answers: ReadonlyMap<string, readonly string[]>): AnswerAudit {
  const owner = new Map<string, string>();
  for (const [thread, tokens] of accepted) for (const t of tokens) owner.set(t, thread);
  const counts = new Map<string, number>();
  const misplaced: string[] = [];
  const reordered: AnswerAudit['reordered'] = [];
  for (const [thread, texts] of answers) {
    const seen: string[] = [];
    for (const text of texts) {
      // One answer naming a token twice is still one answer for it.
      for (const t of new Set(tokensIn(text))) {
        counts.set(t, (counts.get(t) ?? 0) + 1);
        if (owner.get(t) !== thread) misplaced.push(t);
        if (!seen.includes(t)) seen.push(t);
      }
    }
    const expected = (accepted.get(thread) ?? []).filter((t) => seen.includes(t));
    const order = seen.filter((t) => owner.get(t) === thread);
    if (order.join() !== expected.join()) reordered.push({ thread, order });
  }
  const all = [...owner.keys()];
  return {
    messages: all.length,
    lost: all.filter((t) => !counts.has(t)),
    duplicated: [...counts].filter(([, n]) => n > 1).map(([token, n]) => ({ token, answers: n })),
    reordered,
    misplaced,
  };
}

/** All text of the `user` messages of a request (strings, text blocks, tool results), joined by newlines. */
export function userContentText(req: RecordedRequest | MessagesBody): string {
  const body = 'body' in req ? (req as RecordedRequest).body : (req as MessagesBody);
  const out: string[] = [];
  const walk = (content: unknown): void => {
    if (typeof content === 'string') out.push(content);
    else if (Array.isArray(content)) {
      for (const b of content as Array<{ type?: string; text?: unknown; content?: unknown }>) {
        if (b.type === 'text' && typeof b.text === 'string') out.push(b.text);
        else if (b.type === 'tool_result') walk(b.content);
      }
    }
  };
  for (const m of body.messages ?? []) if (m.role === 'user') walk(m.content);
  return out.join('\n');
}

export interface ContextAudit {
  /** Main requests examined. */
  requests: number;
  /** Tokens that appear more than once in the user content of some request (any request). */
  repeatedInSomeRequest: Array<{ token: string; times: number; request: number }>;
  /** Per thread: tokens whose count in the user content of the thread's last request is not exactly 1. */
  lastRequestWrong: Array<{ token: string; times: number }>;
  /** Tokens sent as the newest prompt in more than one request (reruns; informational). */
  promptedMoreThanOnce: number;
}

/**
 * Checks the agent's context: in the last main request of each thread, each accepted token of
 * that thread appears exactly once in the user content; in no request does a token appear more
 * than once.
 * @param accepted thread key → tokens of its accepted messages
 * @param requests the model's main requests in arrival order
 * @param newestPrompt the newest user prompt of a request (e.g. `lastUserText`)
 */
export function auditContext(
  accepted: ReadonlyMap<string, readonly string[]>,
  requests: readonly RecordedRequest[],
  newestPrompt: (r: RecordedRequest) => string,
): ContextAudit {
  const repeated: ContextAudit['repeatedInSomeRequest'] = [];
  const lastByThread = new Map<number, Map<string, number>>();
  const prompted = new Map<string, number>();
  for (const r of requests) {
    const counts = new Map<string, number>();
    for (const t of tokensIn(userContentText(r))) counts.set(t, (counts.get(t) ?? 0) + 1);
    for (const [token, times] of counts) if (times > 1) repeated.push({ token, times, request: r.index });
    for (const thread of new Set([...counts.keys()].map(threadOf))) lastByThread.set(thread, counts);
    for (const t of new Set(tokensIn(newestPrompt(r)))) prompted.set(t, (prompted.get(t) ?? 0) + 1);
  }
  const wrong: ContextAudit['lastRequestWrong'] = [];
  for (const tokens of accepted.values()) {
    for (const token of tokens) {
      const times = lastByThread.get(threadOf(token))?.get(token) ?? 0;
      if (times !== 1) wrong.push({ token, times });
    }
  }
  return {
    requests: requests.length,
    repeatedInSomeRequest: repeated,
    lastRequestWrong: wrong,
    promptedMoreThanOnce: [...prompted.values()].filter((n) => n > 1).length,
  };
}

/** The end of a chaos run, audited: answers by thread (progress messages left out), stale progress texts, both audits. */
export interface RunAudit {
  /** Thread key → the bot's answer texts in that thread, progress messages excluded. */
  answers: Map<string, string[]>;
  /** Bot texts still a progress message ("⏳ Working…"). */
  stale: string[];
  audit: AnswerAudit;
  context: ContextAudit;
}

/**
 * True when every accepted token is named by some bot text that is not a progress message.
 * @param bot thread key → texts of the bot's messages in that thread (progress messages included)
 * @param accepted thread key → tokens of its accepted messages
 */
export function allAnswered(bot: ReadonlyMap<string, readonly string[]>, accepted: ReadonlyMap<string, readonly string[]>): boolean {
  const seen = new Set(
    [...bot.values()]
      .flat()
      .filter((x) => !isProgressText(x))
      .flatMap(tokensIn),
  );
  return [...accepted.values()].flat().every((tk) => seen.has(tk));
}

/**
 * Audits a finished run: {@link auditAnswers} on the bot's non-progress texts and
 * {@link auditContext} on the model's main requests.
 * @param bot thread key → texts of the bot's messages in that thread, in thread order (progress messages included)
 */
export function auditRun(
  bot: ReadonlyMap<string, readonly string[]>,
  accepted: ReadonlyMap<string, readonly string[]>,
  requests: readonly RecordedRequest[],
  newestPrompt: (r: RecordedRequest) => string,
): RunAudit {
  const answers = new Map([...bot].map(([th, texts]) => [th, texts.filter((x) => !isProgressText(x))]));
  const stale = [...bot.values()].flat().filter(isProgressText);
  return { answers, stale, audit: auditAnswers(accepted, answers), context: auditContext(accepted, requests, newestPrompt) };
}

/** The counts of a {@link RunAudit} for a scenario's results file (all counts of tokens or requests). */
export function runFigures(r: RunAudit) {
  const { audit, context } = r;
  return {
    lost: audit.lost.length,
    duplicated: audit.duplicated.length,
    reordered: audit.reordered.length,
    misplaced: audit.misplaced.length,
    staleProgress: r.stale.length,
    modelRequests: context.requests,
    promptsRepeatedInContext: new Set([...context.repeatedInSomeRequest.map((x) => x.token), ...context.lastRequestWrong.map((w) => w.token)]).size,
    lastRequestWrong: context.lastRequestWrong.length,
    promptsSentAgain: context.promptedMoreThanOnce,
  };
}

/** The findings of a {@link RunAudit} for a results file's `details` (context findings capped at 50 each). */
export function runDetails(r: RunAudit) {
  return {
    lost: r.audit.lost,
    duplicated: r.audit.duplicated,
    reordered: r.audit.reordered,
    misplaced: r.audit.misplaced,
    stale: r.stale,
    context: r.context.lastRequestWrong.slice(0, 50),
    repeated: r.context.repeatedInSomeRequest.slice(0, 50),
  };
}
