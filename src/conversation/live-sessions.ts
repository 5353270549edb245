/**
 * Live agent sessions: at most one long-lived agent process per conversation
 * (src/runners/session/types.ts), kept between turns so a follow-up skips the CLI's start-up,
 * and so people can approve, answer and steer while it runs.
 *
 * - A session unused for `idleMs` (AGENTBRIDGE_SESSION_IDLE_S) is closed by a sweep; the next
 *   message resumes the stored agent session id in a new process.
 * - At most `max` (AGENTBRIDGE_MAX_LIVE_SESSIONS) are live: opening one more first closes the
 *   least recently used idle one, and the new process is started only once the closed one has
 *   exited (so the bound holds for processes, not only for the map). Sessions running a turn are
 *   never closed for the bound; the bound is restored as soon as one is idle.
 * - A session is reused only when it still matches what the turn needs (same agent, workdir,
 *   model and permission mode, and it holds the agent session the turn resumes); otherwise it is
 *   closed and a new one opened. Forks and resume-at points always open a new process.
 * - Each session holds a tool-access grant (agentbridge's MCP server) for its lifetime, revoked
 *   when it closes; sessions older than `maxAgeMs` are replaced before their grant runs out.
 */
import type { Logger } from '../logger.js';
import type { AgentSession, SessionOptions } from '../runners/session/types.js';
import type { Runner } from '../runners/types.js';

export interface LiveSessionsOptions {
  /** Close a session unused this long, ms. */
  idleMs: number;
  /** Most sessions live at once. */
  max: number;
  logger: Logger;
  /** A session this old (ms) is replaced at its next turn (its tool grant's lifetime); default 12 h. */
  maxAgeMs?: number;
  /** Sweep period, ms (default min(idleMs / 4, 30 s)). */
  sweepMs?: number;
  now?: () => number;
}

interface Entry {
  session: AgentSession;
  openedAt: number;
  lastUsed: number;
  /** Turns using it right now (0 or 1: one turn per conversation). */
  inUse: number;
  /** Ends its tool grant. */
  release?: () => void;
}

/** What the turn wants of a session; compared with a live one to decide reuse. */
export interface SessionWant {
  agent: string;
  options: SessionOptions;
  /** Open a new process whatever is live (a fork, a resume-at point, a lost session). */
  fresh: boolean;
}

/** Default replacement age of a session, ms (12 h). */
export const DEFAULT_SESSION_MAX_AGE_MS = 12 * 3600_000;

export class LiveSessions {
  private readonly entries = new Map<string, Entry>();
  private readonly closing = new Set<Promise<void>>();
  private readonly timer: NodeJS.Timeout;
  private readonly now: () => number;
  private stopped = false;
  /** Sessions being opened (waiting for closed ones to exit): they count towards the bound. */
  private opening = 0;

  constructor(private readonly opts: LiveSessionsOptions) {
    this.now = opts.now ?? Date.now;
    this.timer = setInterval(() => this.sweep(), opts.sweepMs ?? Math.min(opts.idleMs / 4, 30_000));
    this.timer.unref();
  }

  /** Number of live sessions. */
  get size(): number {
    return this.entries.size;
  }

  /** The live session of a conversation, if any. */
  get(conversationId: string): AgentSession | undefined {
    return this.entries.get(conversationId)?.session;
  }

  /** Process ids of the live sessions (tests, metrics). */
  pids(): number[] {
    return [...this.entries.values()].flatMap((e) => (e.session.pid !== undefined ? [e.session.pid] : []));
  }

  /**
   * The session a turn of `conversationId` runs in: the live one when it matches `want`, else a
   * new one from `runner.openSession` (closing the old). Marks it in use until {@link release}.
   * `grant` is called for a new session and returns its MCP access and the function ending it.
   * A new session's process starts after the processes of the sessions closed for it (the
   * replaced one, least recently used ones over the bound) have exited — at most their kill grace.
   * @throws Error when the runner has no live sessions or this is stopped
   */
  async acquire(
    conversationId: string,
    runner: Runner,
    want: SessionWant,
    grant?: () => { mcp: { url: string; token: string }; revoke(): void } | undefined,
  ): Promise<AgentSession> {
    if (this.stopped) throw new Error('live sessions are stopped');
    if (!runner.openSession) throw new Error(`runner ${runner.agent} has no live sessions`);
    const live = this.entries.get(conversationId);
    if (
      live &&
      !want.fresh &&
      live.session.alive &&
      matches(live.session, want) &&
      this.now() - live.openedAt < (this.opts.maxAgeMs ?? DEFAULT_SESSION_MAX_AGE_MS)
    ) {
      live.inUse++;
      live.lastUsed = this.now();
      return live.session;
    }
    const closed: Array<Promise<void>> = [];
    if (live) closed.push(this.closeEntry(conversationId, live, live.session.alive ? 'replaced' : 'dead'));
    this.opening++;
    try {
      closed.push(...this.makeRoom(this.opts.max));
      await Promise.all(closed);
    } finally {
      this.opening--;
    }
    if (this.stopped) throw new Error('live sessions are stopped');
    const now = this.now();
    const access = grant?.();
    let session: AgentSession;
    try {
      session = runner.openSession({ ...want.options, ...(access ? { mcp: access.mcp } : {}) });
    } catch (err) {
      access?.revoke(); // no process got the token
      throw err;
    }
    this.entries.set(conversationId, { session, openedAt: now, lastUsed: now, inUse: 1, release: access?.revoke });
    this.opts.logger.info({ conversationId, agent: want.agent, live: this.entries.size, pid: session.pid }, 'live agent session opened');
    return session;
  }

  /** The turn is done with the conversation's session; a dead one is dropped. */
  release(conversationId: string, session: AgentSession): void {
    const e = this.entries.get(conversationId);
    if (!e || e.session !== session) return;
    e.inUse = Math.max(0, e.inUse - 1);
    e.lastUsed = this.now();
    if (!session.alive)
      void this.closeEntry(conversationId, e, 'dead'); // never rejects (its close error is dropped)
    else void Promise.all(this.makeRoom(this.opts.max)).catch((err: unknown) => this.opts.logger.warn({ err }, 'closing idle live sessions failed'));
  }

  /** Closes the conversation's session (e.g. `reset`, a changed agent or workdir). */
  close(conversationId: string, why = 'closed'): Promise<void> {
    const e = this.entries.get(conversationId);
    return e ? this.closeEntry(conversationId, e, why) : Promise.resolve();
  }

  /** Closes idle sessions past the idle time. */
  sweep(): void {
    const now = this.now();
    for (const [id, e] of this.entries) if (e.inUse === 0 && (now - e.lastUsed >= this.opts.idleMs || !e.session.alive)) void this.closeEntry(id, e, 'idle');
  }

  /** Closes every session and stops the sweep; resolves when their processes are gone. */
  async stop(): Promise<void> {
    this.stopped = true;
    clearInterval(this.timer);
    for (const [id, e] of this.entries) void this.closeEntry(id, e, 'shutdown');
    await Promise.allSettled([...this.closing]);
  }

  /**
   * Closes least-recently-used idle sessions until at most `limit` are live (sessions being
   * opened count too); resolves each closed one's process exit.
   */
  private makeRoom(limit: number): Array<Promise<void>> {
    const closed: Array<Promise<void>> = [];
    while (this.entries.size + this.opening > limit) {
      const idle = [...this.entries].filter(([, e]) => e.inUse === 0).sort((a, b) => a[1].lastUsed - b[1].lastUsed)[0];
      if (!idle) break;
      closed.push(this.closeEntry(idle[0], idle[1], 'lru'));
    }
    return closed;
  }

  private closeEntry(conversationId: string, e: Entry, why: string): Promise<void> {
    if (this.entries.get(conversationId) === e) this.entries.delete(conversationId);
    // Its tool grant ends at once: a closing process gets no more tool calls through.
    e.release?.();
    this.opts.logger.info({ conversationId, why, pid: e.session.pid, live: this.entries.size }, 'live agent session closed');
    const p = e.session
      .close()
      .catch(() => {})
      .finally(() => {
        this.closing.delete(p);
        this.opts.logger.info({ conversationId, pid: e.session.pid }, 'live agent session ended');
      });
    this.closing.add(p);
    return p;
  }
}

/** True when the live `session` can run a turn that wants `want`. */
function matches(session: AgentSession, want: SessionWant): boolean {
  const a = session.options;
  const b = want.options;
  return (
    session.agent === want.agent &&
    a.cwd === b.cwd &&
    a.model === b.model &&
    a.permissionMode === b.permissionMode &&
    // It must hold the agent session the turn resumes (none stored: a reset or a new conversation wants a new process).
    b.resumeSessionId !== undefined &&
    session.sessionId === b.resumeSessionId
  );
}
