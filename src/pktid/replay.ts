/**
 * RX replay window of one key slot: the kernel's `ovpn_pktid_recv` (spec ovpn-kernel §3.8), itself
 * OpenVPN's sequence-number backtrack check without the time field.
 *
 * - a window of 2048 packet ids, kept as a ring of bits; `base` is the bit of the highest id seen
 *   (`id`), bit `base + d` (mod 2048) stands for id `id - d`;
 * - `extent` says how many of those bits carry history (it grows with the ids seen, up to 2048);
 * - after 30 s without an accepted packet, ids at or below the current highest can no longer be
 *   accepted (`idFloor`);
 * - id 0 is never valid.
 *
 * `check` must be called only for packets that passed authentication, as the kernel does: a forged
 * packet must not be able to move the window.
 */
export const REPLAY_WINDOW_SIZE = 2048;
export const PKTID_RECV_EXPIRE_MS = 30_000;

const WORDS = REPLAY_WINDOW_SIZE / 32;
const MASK = REPLAY_WINDOW_SIZE - 1;

export class ReplayWindow {
  private readonly history = new Uint32Array(WORDS);
  private base = 0;
  private extent = 0;
  private id = 0;
  private idFloor = 0;
  /** Monotonic ms after which backtracking below `id` is refused; 0 = already expired. */
  private expireMs = 0;

  /**
   * Accepts and records `pktId` received at `nowMs` (monotonic milliseconds), or refuses it as a
   * replay, too old, or 0. Returns true if accepted.
   */
  check(pktId: number, nowMs: number): boolean {
    if (pktId === 0) return false;
    if (nowMs >= this.expireMs) this.idFloor = this.id;

    if (pktId === this.id + 1) {
      this.base = (this.base - 1) & MASK;
      this.setBit(this.base);
      if (this.extent < REPLAY_WINDOW_SIZE) this.extent++;
      this.id = pktId;
    } else if (pktId > this.id) {
      const delta = pktId - this.id;
      if (delta < REPLAY_WINDOW_SIZE) {
        this.base = (this.base - delta) & MASK;
        this.setBit(this.base);
        this.extent = Math.min(this.extent + delta, REPLAY_WINDOW_SIZE);
        for (let i = 1; i < delta; i++) this.clearBit((this.base + i) & MASK);
      } else {
        this.base = 0;
        this.extent = REPLAY_WINDOW_SIZE;
        this.history.fill(0);
        this.history[0] = 1;
      }
      this.id = pktId;
    } else {
      const delta = this.id - pktId;
      if (delta >= this.extent || pktId <= this.idFloor) return false;
      const bit = (this.base + delta) & MASK;
      if (this.testBit(bit)) return false;
      this.setBit(bit);
    }
    this.expireMs = nowMs + PKTID_RECV_EXPIRE_MS;
    return true;
  }

  /** Highest id accepted so far (0 before the first packet). */
  get highest(): number {
    return this.id;
  }

  private setBit(i: number): void {
    this.history[i >>> 5] |= 1 << (i & 31);
  }

  private clearBit(i: number): void {
    this.history[i >>> 5] &= ~(1 << (i & 31));
  }

  private testBit(i: number): boolean {
    return (this.history[i >>> 5] & (1 << (i & 31))) !== 0;
  }
}
