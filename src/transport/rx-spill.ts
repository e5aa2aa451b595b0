/**
 * Datagrams split off UDP GRO receives that did not fit the caller's batch (one coalesced receive can
 * hold up to 128 of them, more than a batch has slots). They wait here, in order, until the next
 * `UdpTransport.recvBatch` hands them out ahead of anything newer.
 *
 * Memory is plain (unpinned: only copied from JS) and grows, rarely, to the largest overflow seen.
 * The source and destination addresses are kept once per received entry (`meta`), not per datagram.
 */

/**
 * 32-bit words kept per received entry in `addrs`: its source sockaddr (7 words: a sockaddr_in6 is
 * 28 bytes), its destination address (4) and the interface it arrived on (1).
 */
export const SPILL_ADDR_WORDS = 12;

export class RxSpill {
  /** Datagram bytes: datagram q is `mem[off[q], off[q] + len[q])`. */
  mem: Buffer = Buffer.alloc(0);
  off = new Uint32Array(0);
  len = new Uint32Array(0);
  /** Received entry datagram q was split from: index into addrs/family. */
  meta = new Uint16Array(0);
  /** Per received entry: addresses, SPILL_ADDR_WORDS words apart, and the destination's family. */
  readonly addrs: Uint32Array;
  readonly family: Uint8Array;
  /** Next datagram to hand out, and the number held. */
  head = 0;
  count = 0;

  /** `entries`: the most entries one recvmmsg returns (the transport's batch size). */
  constructor(entries: number) {
    this.addrs = new Uint32Array(entries * SPILL_ADDR_WORDS);
    this.family = new Uint8Array(entries);
  }

  /** Datagrams waiting. */
  get pending(): number {
    return this.count - this.head;
  }

  /** Empties the store and makes room for `count` datagrams of `bytes` bytes in all. */
  reset(count: number, bytes: number): void {
    if (this.off.length < count) {
      const cap = Math.max(count, this.off.length * 2, 64);
      this.off = new Uint32Array(cap);
      this.len = new Uint32Array(cap);
      this.meta = new Uint16Array(cap);
    }
    if (this.mem.length < bytes) this.mem = Buffer.allocUnsafeSlow(Math.max(bytes, this.mem.length * 2));
    this.head = 0;
    this.count = count;
  }

  /** Forgets everything held. */
  clear(): void {
    this.head = 0;
    this.count = 0;
  }
}
