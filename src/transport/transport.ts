/**
 * What the pipelines need from a transport, and nothing more (as wireguard-go's conn.Bind, and the
 * kernel's udp.c/tcp.c seen from io.c): a datagram transport that moves whole batches, with per-slot
 * accessors for where each received datagram came from and was sent to; and a stream transport that
 * de-frames reads into packets and frames batches for writing. The Linux implementations are
 * `UdpTransport` (udp.ts) and `TcpTransport` (tcp.ts); tests use in-memory ones. The pipelines never
 * see a concrete class's arenas.
 */
import type { PacketBatch } from '../batch/packet-batch.js';
import type { Endpoint, LocalAddress } from '../net/endpoint.js';

export interface DatagramTransport {
  /** True once closed: reads return -1 and sends refuse everything. */
  readonly closed: boolean;
  /** The port the socket is bound to (peer-get's local-port). */
  readonly localPort: number;

  /**
   * Reads up to `batch.size` datagrams into slots 0.. (offs/lens/count set). Returns the count, 0 when
   * nothing is queued, -1 when the transport is unusable. The per-slot accessors below describe the
   * slots of the last read until the next one.
   */
  recvBatch(batch: PacketBatch): number;
  /** True if received slot `slot` came from `ep` (address and port). Allocates nothing. */
  sourceMatches(slot: number, ep: Endpoint): boolean;
  /** `Endpoint.hash` of slot `slot`'s source, -1 if it is not an IP endpoint. Allocates nothing. */
  sourceHash(slot: number): number;
  /** The source of slot `slot` as an Endpoint, with the arrival interface as scope for link-local IPv6 (allocates). */
  source(slot: number): Endpoint | undefined;
  /** True if slot `slot` was sent to `lo`, or its destination is unknown. Allocates nothing. */
  localMatches(slot: number, lo: LocalAddress | undefined): boolean;
  /** The local address slot `slot` was sent to, if known (allocates). */
  local(slot: number): LocalAddress | undefined;

  /**
   * Sends the datagrams of slots `slots[k]` to `dests[k]`, from `srcs[k]` when set, for k in
   * [from, from+n). Sets `txStatus[k]` to 1 for each one the kernel took, 0 otherwise. Returns how many
   * were sent. Allocates nothing.
   */
  sendBatch(
    batch: PacketBatch,
    slots: Uint16Array,
    dests: readonly (Endpoint | undefined)[],
    srcs: readonly (LocalAddress | undefined)[],
    from: number,
    n: number,
  ): number;
  /** Per position of the last sendBatch: 1 sent, 0 not. At least as long as the positions used. */
  readonly txStatus: Uint8Array;
  /** Sends one datagram from any Buffer (control plane). Returns true if taken. */
  sendOne(buf: Buffer, off: number, len: number, dest: Endpoint, src?: LocalAddress): boolean;
  /** True if this transport can send to `dest`'s address family. */
  canReach(dest: Endpoint): boolean;

  /** Registers the readiness callback; it is called whenever datagrams may be waiting. */
  onReadable(cb: () => void): void;
  /**
   * Called when a source address given to a send is no longer on the host; the datagram was sent with
   * a source chosen by routing, and the owner should forget that local address (spec §5.3).
   */
  onStaleSource: ((src: LocalAddress) => void) | undefined;
  close(): void;
}

/** Why a stream ended. */
export type StreamCloseReason = 'eof' | 'error' | 'framing';

export interface StreamHandlers {
  /** One complete packet at buf[start, end); the 2-byte length prefix is at buf[start-2, start). */
  frame(buf: Buffer, start: number, end: number): void;
  /** End of one read: deliver what the frames staged. */
  flush(): void;
  /** The stream is over (reported once); the owner removes the peer. */
  closed(why: StreamCloseReason, detail: string): void;
}

export interface StreamTransport {
  readonly closed: boolean;
  /** The port of the local end (peer-get's local-port). */
  readonly localPort: number;
  /** The connected remote end. */
  readonly remote: Endpoint;
  /** Starts reading: frames, flushes and the end of the stream go to `handlers`. */
  start(handlers: StreamHandlers): void;
  /** Stops delivering frames after a protocol error found by the owner (e.g. DATA_V1). */
  abort(): void;
  /**
   * Frames and sends the packets of slots `slots[from..from+n)` (at least 2 bytes of headroom before
   * each). Returns how many were accepted, always a prefix: written, or queued whole in the bounded
   * send queue. The rest were refused (queue full, stream over) and are the caller's to count.
   */
  sendFrames(batch: PacketBatch, slots: Uint16Array, from: number, n: number): number;
  /** Queues one whole framed control packet (length prefix included) in order with the data. */
  sendControl(frame: Buffer): boolean;
  close(): void;
}
