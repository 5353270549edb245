/**
 * A first-in-first-out mutex for promises: `lock()` resolves for one holder at a time, in the
 * order the calls to `lock()` were made (queued synchronously at the call).
 */
export class FifoMutex {
  private held = false;
  private readonly waiters: Array<() => void> = [];

  /** Whether someone holds the mutex. */
  get isHeld(): boolean {
    return this.held;
  }

  /** Resolves once the caller holds the mutex (at once, in the next microtask, when it is free). */
  lock(): Promise<void> {
    if (!this.held) {
      this.held = true;
      return Promise.resolve();
    }
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  /** Hands the mutex to the oldest waiter, or frees it. Called once per resolved `lock()`. */
  unlock(): void {
    const next = this.waiters.shift();
    if (next) next();
    else this.held = false;
  }

  /** Runs `op` while holding the mutex and settles with its outcome. */
  async run<T>(op: () => Promise<T>): Promise<T> {
    await this.lock();
    try {
      return await op();
    } finally {
      this.unlock();
    }
  }
}
