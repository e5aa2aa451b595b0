/**
 * The TUN side of an ovpn device: an L3 (IFF_TUN | IFF_NO_PI) interface whose fd is non-blocking and
 * watched on Node's event loop. Batch-first: one call reads or writes many packets, so that kernel
 * offloads (IFF_VNET_HDR with TSO/GRO) can later move whole super-packets through the same interface.
 */
import type { PacketBatch } from '../batch/packet-batch.js';

export interface TunDevice {
  readonly name: string;
  readonly ifindex: number;
  /** Owned fd of /dev/net/tun. */
  readonly fd: number;

  /**
   * Reads up to `batch.size` packets into slots 0.. at `batch.dataStart(i)`, setting `offs`/`lens` and
   * `batch.count`. Returns the count (0 = nothing to read now). Never throws for EAGAIN; a fatal error
   * (device gone) returns -1.
   */
  readBatch(batch: PacketBatch): number;

  /**
   * Writes the packets of slots `slots[0..n)` (each at `batch.offs[s]`, `batch.lens[s]` bytes) to the
   * device, and sets `status[j]` to 1 for each one the kernel took, 0 for each it refused (EINVAL for a
   * non-IP packet, EAGAIN when full; a refused merged write refuses all its members). Refused packets
   * are not retried. Returns how many were written.
   */
  writeBatch(batch: PacketBatch, slots: Uint16Array, n: number, status: Uint8Array): number;

  /** Sets the link carrier (TUNSETCARRIER): P2P devices have carrier only while a peer exists. */
  setCarrier(on: boolean): void;

  /** Registers the readiness callback (once); it is called whenever the fd becomes readable. */
  onReadable(cb: () => void): void;

  /** Closes the fd; the kernel removes the interface. Idempotent. */
  close(): void;
}
