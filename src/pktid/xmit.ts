/**
 * TX packet-id counter of one key slot (spec ovpn-kernel §3.8-3.9).
 *
 * Starts at 1; each sealed packet takes the next id. After 0xFFFFFFFF has been handed out the counter
 * becomes 0 and sticks there, like the kernel's fetch-add-unless-zero: 2^32 - 1 ids per key, never 0,
 * never a repeated nonce. `next()` returns 0 once exhausted; the caller then kills the key.
 */
export const PKTID_MAX = 0xffffffff;

export class TxPacketId {
  private seq = 1;

  /** The id for the next packet, or 0 if this key's id space is used up. */
  next(): number {
    const id = this.seq;
    if (id !== 0) this.seq = id === PKTID_MAX ? 0 : id + 1;
    return id;
  }

  /** The id the next call would return (0 = exhausted). */
  peek(): number {
    return this.seq;
  }

  /**
   * Moves the counter to `id` (1..0xFFFFFFFF, or 0 for exhausted). For tests and benchmarks that need
   * to reach the end of the id space without sending four billion packets.
   */
  setForTest(id: number): void {
    this.seq = id >>> 0;
  }
}
