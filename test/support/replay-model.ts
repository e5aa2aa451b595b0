/**
 * A reference model of the kernel's replay window (spec ovpn-kernel §3.8), written from the rules
 * rather than the bitmap: it remembers every accepted id in a Set. The window's extent is
 * min(highest, 2048), so "highest - id < 2048" is the whole backtrack rule for any id ≥ 1.
 */
import { PKTID_RECV_EXPIRE_MS, REPLAY_WINDOW_SIZE } from '../../src/pktid/replay.js';

export class ReplayModel {
  highest = 0;
  floor = 0;
  expire = 0;
  readonly seen = new Set<number>();

  /** Accepts and records `id` at `nowMs`, or refuses it; the same contract as ReplayWindow.check. */
  check(id: number, nowMs: number): boolean {
    if (id === 0) return false;
    if (nowMs >= this.expire) this.floor = this.highest;
    const ok =
      id > this.highest || (this.highest - id < REPLAY_WINDOW_SIZE && id > this.floor && !this.seen.has(id));
    if (ok) {
      if (id > this.highest) this.highest = id;
      this.seen.add(id);
      this.expire = nowMs + PKTID_RECV_EXPIRE_MS;
    }
    return ok;
  }
}
