/**
 * What the data plane reports upwards, and when. The pipelines never call a listener from inside a
 * per-packet loop: they post an upcall, and the queue delivers it at the next batch boundary (as the
 * kernel multicasts its notifications and queues control packets to the socket's owner instead of
 * calling userspace). A listener may therefore call any management operation from inside any event —
 * answer a control packet, set keepalive, swap or delete keys, delete peers or the device — without
 * touching a batch that is still in flight. Outside a batch an upcall is delivered at once. Upcalls
 * posted while one is being delivered are delivered after it, in order.
 */
import type { Endpoint } from '../net/endpoint.js';
import type { DelReason } from '../peer/del-reason.js';
import type { Peer } from '../peer/peer.js';
import type { PeerSocket } from '../transport/peer-socket.js';

/** A non-data packet received on a device's socket, handed to the control plane unchanged. */
export interface ControlPacket {
  /** The socket it arrived on. */
  sock: PeerSocket;
  /** Where it came from. */
  from: Endpoint;
  /** A copy of the packet (on TCP one whole frame, 2-byte length included). */
  packet: Buffer;
}

/** How a peer's stream ended: the remote closed it, or an error (framing, I/O, protocol). */
export type StreamEnd = 'disconnect' | 'error';

export type Upcall =
  | { readonly kind: 'control'; readonly pkt: ControlPacket }
  /** A key was killed because its TX packet-ids ran out: userspace must install a new one. */
  | { readonly kind: 'key-swap'; readonly peer: Peer; readonly keyId: number }
  /** A UDP peer moved to a new remote address (`peer.remote`), learnt from an authenticated packet. */
  | { readonly kind: 'float'; readonly peer: Peer }
  /** A peer's TCP stream is over: the device removes the peer. */
  | { readonly kind: 'stream-end'; readonly peer: Peer; readonly how: StreamEnd }
  /** The device removed a peer (posted by the device, so that peer-del-ntf keeps its place in order). */
  | { readonly kind: 'removed'; readonly peer: Peer; readonly reason: DelReason };

/** Where a key killed by packet-id exhaustion is reported (the data path posts an upcall). */
export interface KeyEvents {
  keySwapNeeded(peer: Peer, keyId: number): void;
}

export class UpcallQueue {
  private readonly queue: (Upcall | undefined)[] = [];
  private head = 0;
  private depth = 0;
  private delivering = false;

  constructor(private readonly deliver: (u: Upcall) => void) {}

  /** Queues `u`; delivers it now if no batch is in flight and nothing is being delivered. */
  post(u: Upcall): void {
    this.queue.push(u);
    if (this.depth === 0) this.drain();
  }

  /** A batch starts: upcalls wait until the matching `leave`. */
  enter(): void {
    this.depth++;
  }

  /** A batch ended: at the outermost level, delivers what it posted. */
  leave(): void {
    if (--this.depth === 0) this.drain();
  }

  /** Upcalls waiting for delivery. */
  get pending(): number {
    return this.queue.length - this.head;
  }

  private drain(): void {
    if (this.delivering) return;
    this.delivering = true;
    try {
      while (this.head < this.queue.length) {
        const u = this.queue[this.head]!;
        this.queue[this.head++] = undefined;
        this.deliver(u);
      }
    } finally {
      // a listener that threw leaves the rest queued for the next boundary
      if (this.head === this.queue.length) {
        this.queue.length = 0;
        this.head = 0;
      }
      this.delivering = false;
    }
  }
}
