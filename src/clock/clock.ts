/**
 * Time for the data plane: monotonic milliseconds, never wall time (the kernel moved keepalive off
 * wall-clock seconds for the same reason: a clock step must not expire or revive peers; spec §3.7),
 * and one-shot timers on that clock. Injectable so that tests drive the 30 s replay expiry, keepalive
 * sends and timeouts without waiting: `ManualClock` fires its timers when it is advanced.
 */
export interface Clock {
  /** Milliseconds on a monotonic clock with an arbitrary origin. */
  nowMs(): number;
  /** Calls `cb` once, `ms` milliseconds from now (at least 1). The timer never keeps the process alive. */
  schedule(ms: number, cb: () => void): Timer;
}

export interface Timer {
  /** Stops the timer if it has not fired. Idempotent. */
  cancel(): void;
}

export const monotonicClock: Clock = {
  nowMs: () => performance.now(),
  schedule(ms, cb) {
    const t = setTimeout(cb, Math.max(1, ms));
    t.unref();
    return { cancel: () => clearTimeout(t) };
  },
};

interface ManualTimer extends Timer {
  at: number;
  cb: (() => void) | undefined;
}

/** A clock that moves only when told to, for tests. */
export class ManualClock implements Clock {
  private timers: ManualTimer[] = [];

  constructor(private ms = 0) {}

  nowMs(): number {
    return this.ms;
  }

  schedule(ms: number, cb: () => void): Timer {
    const t: ManualTimer = {
      at: this.ms + Math.max(1, ms),
      cb,
      cancel: () => {
        t.cb = undefined;
      },
    };
    this.timers.push(t);
    return t;
  }

  /** Timers scheduled and neither fired nor cancelled. */
  get pending(): number {
    return this.timers.filter((t) => t.cb !== undefined).length;
  }

  /**
   * Moves time forward by `ms`, firing every timer that falls due on the way, in order of due time,
   * each with the clock set to its due time (a timer scheduled by a firing one fires too if it falls due).
   */
  advance(ms: number): void {
    const end = this.ms + ms;
    for (;;) {
      this.timers = this.timers.filter((t) => t.cb !== undefined);
      let next: ManualTimer | undefined;
      for (const t of this.timers) if (t.at <= end && (next === undefined || t.at < next.at)) next = t;
      if (next === undefined) break;
      this.ms = Math.max(this.ms, next.at);
      const cb = next.cb;
      next.cb = undefined;
      cb?.();
    }
    this.ms = end;
  }
}
