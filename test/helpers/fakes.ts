/**
 * In-process stand-ins for unit tests of the core: a runner whose turns the test finishes by
 * hand, and a platform adapter that records every call and can be told to fail.
 */
import type { InboundFile, InboundMessage, ReplyTarget } from '../../src/core/messages.js';
import type { EditOptions, PlatformAdapter, PlatformLimits, PostOptions, PostedMessage, ReactionState } from '../../src/platforms/types.js';
import type { CardAction } from '../../src/core/interactions.js';
import type { AgentName } from '../../src/core/agents.js';
import type { Runner, RunEvent, RunRequest, RunResult } from '../../src/runners/types.js';

export interface PendingRun {
  req: RunRequest;
  emit: (e: RunEvent) => void;
  finish: (r: Partial<RunResult>) => void;
}

/** A runner whose runs wait until the test calls `finish` (or the signal aborts). */
export class ManualRunner implements Runner {
  readonly runs: PendingRun[] = [];
  /** Highest number of runs in flight at once. */
  maxInFlight = 0;
  private inFlight = 0;
  /** When set, runs finish at once with this text builder. */
  auto?: (req: RunRequest) => Partial<RunResult>;
  private listeners: Array<() => void> = [];

  constructor(readonly agent: AgentName = 'claude') {}

  run(req: RunRequest, onEvent: (e: RunEvent) => void): Promise<RunResult> {
    this.inFlight++;
    this.maxInFlight = Math.max(this.maxInFlight, this.inFlight);
    return new Promise<RunResult>((resolve) => {
      const done = (r: Partial<RunResult>) => {
        this.inFlight--;
        resolve({ ok: true, text: '', exitCode: 0, ...r });
      };
      req.signal?.addEventListener('abort', () => done({ ok: false, error: { kind: 'stopped', message: '' }, exitCode: null }), { once: true });
      this.runs.push({ req, emit: onEvent, finish: done });
      this.listeners.forEach((l) => l());
      if (this.auto) done(this.auto(req));
    });
  }

  async probe() {
    return { agent: this.agent, installed: true, authenticated: true as const, detail: '' };
  }

  /** Resolves when at least `n` runs have started. */
  waitRuns(n: number): Promise<void> {
    return new Promise((resolve) => {
      const check = () => this.runs.length >= n && resolve();
      this.listeners.push(check);
      check();
    });
  }
}

export interface AdapterCall {
  op: 'post' | 'edit' | 'delete' | 'react' | 'status';
  target: ReplyTarget;
  ref?: string;
  text?: string;
  state?: ReactionState;
  /** Buttons posted with the message, or set by the edit (`[]` = removed). */
  actions?: CardAction[];
  /** Order of the call among every RecordingAdapter's calls in this process (to merge several adapters' logs in time order). */
  seq?: number;
}

/** Counts calls across adapters ({@link AdapterCall.seq}). */
let callCounter = 0;

/** Message refs are unique across adapters, like a platform's (a restarted process sees old refs). */
let refCounter = 0;

/**
 * Records every call; `failPosts` makes the next N posts throw, `failAfterPosts` the next N
 * posts throw after posting (the platform did it, the caller did not learn it); `failEdits` and
 * `failDeletes` the next N edits / deletes. Honours
 * idempotency keys like Discord's nonce: a repeated key returns the first message.
 */
export class RecordingAdapter implements PlatformAdapter {
  readonly name = 'local' as const;
  /** Replaceable by a test (e.g. to give it a `busyNoticeAt`). */
  limits: PlatformLimits = { maxMessageChars: 200, minEditIntervalMs: 0 };
  readonly calls: AdapterCall[] = [];
  /** Current text of every message, by ref. */
  readonly messages = new Map<string, string>();
  /** Every post attempt (also failed ones): its text and idempotency key. */
  readonly postAttempts: Array<{ text: string; key?: string }> = [];
  /** Idempotency key → ref of the message posted with it. */
  readonly keys = new Map<string, string>();
  failPosts = 0;
  failAfterPosts = 0;
  failEdits = 0;
  failDeletes = 0;
  /** Refs of deleted messages. */
  readonly deleted = new Set<string>();
  /** Current buttons of every message that has any, by ref. */
  readonly actions = new Map<string, CardAction[]>();

  /** Bytes `fetchFile` serves, by `InboundFile.url`; an Error fails that download; a missing url fails with `HTTP 404`. */
  readonly files = new Map<string, Buffer | Error>();
  /** Urls `fetchFile` was asked for, in order. */
  readonly fetched: string[] = [];

  async start() {}
  async stop() {}
  async fetchFile(file: InboundFile): Promise<AsyncIterable<Uint8Array>> {
    this.fetched.push(file.url);
    const bytes = this.files.get(file.url);
    if (bytes instanceof Error) throw bytes;
    if (!bytes) throw new Error('download failed: HTTP 404');
    // Served in 64 KB chunks, as a download arrives.
    return (async function* () {
      for (let i = 0; i < bytes.length; i += 65536) yield bytes.subarray(i, i + 65536);
    })();
  }
  async post(target: ReplyTarget, text: string, opts: PostOptions = {}): Promise<PostedMessage> {
    const key = opts.idempotencyKey;
    this.postAttempts.push({ text, ...(key ? { key } : {}) });
    if (this.failPosts > 0) {
      this.failPosts--;
      throw new Error('platform unavailable (test)');
    }
    const known = key ? this.keys.get(key) : undefined;
    if (known) return { ref: known, channel: target.channel };
    const ref = `b${++refCounter}`;
    this.calls.push({ op: 'post', target, ref, text, ...(opts.actions ? { actions: opts.actions } : {}), seq: ++callCounter });
    this.messages.set(ref, text);
    if (opts.actions?.length) this.actions.set(ref, opts.actions);
    if (key) this.keys.set(key, ref);
    if (this.failAfterPosts > 0) {
      this.failAfterPosts--;
      throw new Error('posted, but the answer was lost (test)');
    }
    return { ref, channel: target.channel };
  }
  async edit(target: ReplyTarget, ref: string, text: string, opts: EditOptions = {}): Promise<void> {
    if (this.failEdits > 0) {
      this.failEdits--;
      throw new Error('edit failed (test)');
    }
    this.calls.push({ op: 'edit', target, ref, text, ...(opts.actions ? { actions: opts.actions } : {}), seq: ++callCounter });
    this.messages.set(ref, text);
    if (opts.actions) {
      if (opts.actions.length) this.actions.set(ref, opts.actions);
      else this.actions.delete(ref);
    }
  }
  async delete(target: ReplyTarget, ref: string): Promise<void> {
    if (this.failDeletes > 0) {
      this.failDeletes--;
      throw new Error('delete failed (test)');
    }
    this.calls.push({ op: 'delete', target, ref });
    this.messages.delete(ref);
    this.deleted.add(ref);
  }
  async react(target: ReplyTarget, ref: string, state: ReactionState): Promise<void> {
    this.calls.push({ op: 'react', target, ref, state });
  }
  /** Like the local chat: Markdown kept, nothing to neutralise. */
  render(markdown: string): string {
    return markdown;
  }
  neutraliseMentions(text: string): string {
    return text;
  }
  /** Texts of all bot messages in a thread (deleted ones left out), by current text, in post order. */
  texts(thread?: string): string[] {
    return this.calls
      .filter((c) => c.op === 'post' && !this.deleted.has(c.ref!) && (thread === undefined || c.target.thread === thread))
      .map((c) => this.messages.get(c.ref!)!);
  }
}

let messageCounter = 0;
/**
 * A user's message in the local chat's `general` channel, thread `thread`, from "ann": a fresh
 * event key (`local:m<n>`) and message ref each call; `extra` overrides any field.
 */
export function localMessage(thread: string, text: string, extra: Partial<InboundMessage> = {}): InboundMessage {
  const key = `m${++messageCounter}`;
  return {
    platform: 'local',
    conversationId: `local:general:${thread}`,
    channel: 'general',
    thread,
    author: { id: 'ann', name: 'ann' },
    text,
    eventKey: `local:${key}`,
    replyTarget: { platform: 'local', channel: 'general', thread },
    messageRef: key,
    receivedAt: Date.now(),
    ...extra,
  };
}
