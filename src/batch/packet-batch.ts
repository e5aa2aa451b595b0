/**
 * A batch of packets in one pinned slab: the unit every device and transport reads and writes
 * (batch-first interfaces, as wireguard-go's tun.Device and conn.Bind).
 *
 * ```
 *  slab: | slot 0                          | slot 1                          | ...
 *        | headroom ... | packet ...       | headroom ... | packet ...       |
 *        ^ i*slotSize   ^ offs[i]                 (offs[i] may move into the headroom)
 * ```
 *
 * `offs[i]`/`lens[i]` say where the current packet of slot i lies inside `mem.buf`. Layers move
 * `offs` back to prepend headers (sealing prepends 24 bytes) or forward to strip them (opening
 * strips 24), so a packet is never copied between layers. Whoever fills a batch owns it until it has
 * been passed on; nobody keeps a slot across batches.
 */
import { allocPinned, type PinnedBuffer } from '../sys/address.js';

/** Room in front of every packet: DATA_V2 header and tag (24), TCP length (2), virtio header (10), spare. */
export const BATCH_HEADROOM = 64;
/** Largest packet a slot holds: a full 64 KiB IP packet or UDP datagram. */
export const BATCH_MAX_PACKET = 65536;

export class PacketBatch {
  readonly size: number;
  readonly slotSize: number;
  readonly headroom: number;
  /** The slab. Its memory never moves; `mem.addr` is `mem.buf[0]`'s address. */
  readonly mem: PinnedBuffer;
  /** Start of the current packet in slot i, as an offset into `mem.buf`. */
  readonly offs: Uint32Array;
  /** Length of the current packet in slot i. */
  readonly lens: Uint32Array;
  /** Number of valid slots, set by whoever filled the batch. */
  count = 0;

  constructor(size: number, maxPacket = BATCH_MAX_PACKET, headroom = BATCH_HEADROOM) {
    this.size = size;
    this.headroom = headroom;
    this.slotSize = headroom + maxPacket;
    this.mem = allocPinned(size * this.slotSize);
    this.offs = new Uint32Array(size);
    this.lens = new Uint32Array(size);
    this.reset();
  }

  /** Offset of slot i's first byte (start of its headroom). */
  slotStart(i: number): number {
    return i * this.slotSize;
  }

  /** Offset where a packet written into slot i by a reader starts (after the headroom). */
  dataStart(i: number): number {
    return i * this.slotSize + this.headroom;
  }

  /** Room for a packet read into slot i at `dataStart(i)`. */
  get maxPacket(): number {
    return this.slotSize - this.headroom;
  }

  /** Points every slot at its data start with length 0, and empties the batch. */
  reset(): void {
    for (let i = 0; i < this.size; i++) {
      this.offs[i] = i * this.slotSize + this.headroom;
      this.lens[i] = 0;
    }
    this.count = 0;
  }
}
