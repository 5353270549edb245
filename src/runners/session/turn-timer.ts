/**
 * The time limit of a live-session turn, paused while people decide: the wait for an approval,
 * an answer or a plan decision is not charged to the turn (AGENTBRIDGE_TURN_TIMEOUT_S counts the
 * agent's own time only; the wait has its own limit, AGENTBRIDGE_APPROVAL_TIMEOUT_S).
 */
export class TurnTimer {
  private remainingMs: number;
  private startedAt?: number;
  private timer?: NodeJS.Timeout;
  private pauses = 0;
  private fired = false;

  /**
   * Starts counting at once.
   * @param limitMs the limit, ms
   * @param onExpire called once when the running time reaches the limit
   */
  constructor(
    limitMs: number,
    private readonly onExpire: () => void,
  ) {
    this.remainingMs = limitMs;
    this.run();
  }

  /** True once the limit was reached. */
  get expired(): boolean {
    return this.fired;
  }

  /** Stops counting until a matching {@link resume} (nested pauses count). */
  pause(): void {
    if (this.pauses++ === 0 && this.timer) {
      clearTimeout(this.timer);
      this.timer = undefined;
      this.remainingMs -= Date.now() - (this.startedAt ?? Date.now());
    }
  }

  /** Undoes one {@link pause}; counting goes on when none is left. */
  resume(): void {
    if (this.pauses === 0) return;
    if (--this.pauses === 0) this.run();
  }

  /** Runs `wait` with the timer paused. */
  async paused<T>(wait: Promise<T>): Promise<T> {
    this.pause();
    try {
      return await wait;
    } finally {
      this.resume();
    }
  }

  /** Stops the timer for good. */
  clear(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    this.fired = this.fired || false;
    this.pauses = Number.POSITIVE_INFINITY;
  }

  private run(): void {
    if (this.fired) return;
    this.startedAt = Date.now();
    this.timer = setTimeout(
      () => {
        this.fired = true;
        this.timer = undefined;
        this.onExpire();
      },
      Math.max(0, this.remainingMs),
    );
  }
}
