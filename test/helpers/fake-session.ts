/**
 * A runner with live agent sessions whose turns the test drives by hand: it sees each prompt,
 * asks the conversation (approvals, questions, plans) through the turn's `onInteraction`,
 * accepts or refuses steered text, and finishes the turn. For unit tests of the conversation
 * layer (interactions, steering, live-session reuse) without a real CLI.
 */
import type { InteractionDecision, InteractionRequest } from '../../src/core/interactions.js';
import type { AgentSession, SessionOptions, SessionTurnHandlers, SessionTurnOptions, SteerResult } from '../../src/runners/session/types.js';
import type { Runner, RunResult } from '../../src/runners/types.js';

/** One turn in a {@link ManualSession}. */
export interface ManualTurn {
  session: ManualSession;
  prompt: string;
  opts: SessionTurnOptions;
  /** Asks through the turn's handler (as the CLI's approval request would). */
  ask(request: InteractionRequest): Promise<InteractionDecision>;
  /** Texts steered into this turn. */
  steered: string[];
  finish(r?: Partial<RunResult>): void;
  /** Resolves with the turn's result once it ended. */
  done: Promise<RunResult>;
}

let sessionCounter = 0;

export class ManualSession implements AgentSession {
  readonly turns: ManualTurn[] = [];
  sessionId: string | undefined;
  alive = true;
  busy = false;
  readonly pid = undefined;
  closed = false;
  /** What `steer` answers while a turn runs (default `taken`). */
  steerAnswer: SteerResult = 'taken';
  private current?: ManualTurn;

  constructor(
    readonly agent: string,
    readonly options: SessionOptions,
    private readonly owner: ManualSessionRunner,
  ) {
    this.sessionId = options.resumeSessionId && !options.forkSession ? options.resumeSessionId : `fake-${++sessionCounter}`;
  }

  send(prompt: string, handlers: SessionTurnHandlers, opts: SessionTurnOptions): Promise<RunResult> {
    this.busy = true;
    let resolve!: (r: RunResult) => void;
    const done = new Promise<RunResult>((r) => (resolve = r));
    const end = (r: RunResult) => {
      if (this.current !== turn) return;
      this.current = undefined;
      this.busy = false;
      resolve(r);
    };
    const turn: ManualTurn = {
      session: this,
      prompt,
      opts,
      steered: [],
      ask: (request) => handlers.onInteraction(request),
      finish: (r = {}) => end({ ok: true, text: `answer to ${prompt}`, exitCode: 0, sessionId: this.sessionId, ...r }),
      done,
    };
    this.current = turn;
    handlers.onEvent({ type: 'session', sessionId: this.sessionId! });
    opts.signal?.addEventListener(
      'abort',
      () => end({ ok: false, text: '', exitCode: null, sessionId: this.sessionId, error: { kind: 'stopped', message: 'stopped on request' } }),
      {
        once: true,
      },
    );
    this.turns.push(turn);
    this.owner.notify();
    return done;
  }

  async steer(text: string): Promise<SteerResult> {
    if (!this.current) return 'not-running';
    if (this.steerAnswer !== 'taken') return this.steerAnswer;
    this.current.steered.push(text);
    return 'taken';
  }

  async close(): Promise<void> {
    this.closed = true;
    this.alive = false;
    this.current?.finish({ ok: false, error: { kind: 'stopped', message: 'closed' } });
  }
}

/** A runner whose one-shot `run` is unused and whose sessions are {@link ManualSession}s. */
export class ManualSessionRunner implements Runner {
  readonly sessions: ManualSession[] = [];
  readonly sessionCapabilities = { steer: true, resume: true, fork: true };
  private listeners: Array<() => void> = [];

  constructor(readonly agent = 'claude') {}

  async run(): Promise<RunResult> {
    throw new Error('ManualSessionRunner: one-shot run was not expected');
  }
  async probe() {
    return { agent: this.agent, installed: true, authenticated: true as const, detail: '' };
  }
  openSession(options: SessionOptions): AgentSession {
    const s = new ManualSession(this.agent, options, this);
    this.sessions.push(s);
    return s;
  }
  /** Every turn of every session, in start order. */
  get turns(): ManualTurn[] {
    return this.sessions.flatMap((s) => s.turns).sort((a, b) => this.order.indexOf(a) - this.order.indexOf(b));
  }
  private readonly order: ManualTurn[] = [];
  notify(): void {
    for (const s of this.sessions) for (const t of s.turns) if (!this.order.includes(t)) this.order.push(t);
    this.listeners.forEach((l) => l());
  }
  /** Resolves with the `n`th turn (1-based) once it started. */
  waitTurn(n: number): Promise<ManualTurn> {
    return new Promise((resolve) => {
      const check = () => {
        if (this.order.length >= n) resolve(this.order[n - 1]!);
      };
      this.listeners.push(check);
      check();
    });
  }
}
