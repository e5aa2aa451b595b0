/**
 * Time for the data plane: monotonic milliseconds, never wall time (the kernel moved keepalive off
 * wall-clock seconds for the same reason: a clock step must not expire or revive peers; spec §3.7).
 * Injectable so that tests can drive the 30 s replay expiry and keepalive timeouts.
 */
export interface Clock {
  /** Milliseconds on a monotonic clock with an arbitrary origin. */
  nowMs(): number;
}

export const monotonicClock: Clock = {
  nowMs: () => performance.now(),
};

/** A clock that moves only when told to, for tests. */
export class ManualClock implements Clock {
  constructor(private ms = 0) {}
  nowMs(): number {
    return this.ms;
  }
  advance(ms: number): void {
    this.ms += ms;
  }
}
