/**
 * The send side of UdpTransport.sendBatch: datagrams grouped into sendmmsg entries in the TX arena
 * (udp-arena.ts), UDP GSO, and what happens when the kernel refuses a send.
 *
 * UDP GSO (send): datagrams d of one sendBatch call fill iovec[d] in order; consecutive ones to the
 * same endpoint from the same source, all of length L but the last (<= L), at most GSO_MAX_SEGMENTS
 * and 65507 (IPv4) / 65527 (IPv6) bytes in all, share one mmsghdr entry whose iovecs are theirs, and
 * a UDP_SEGMENT cmsg of L makes the kernel send them as the same datagrams again. No byte is copied.
 *
 * A run the kernel refuses as GSO teaches a segment-size limit (or turns GSO off) and is built again
 * as plain datagrams; the limit is forgotten after GSO_REPROBE refusals, in case the path grew.
 */

import type { PacketBatch } from '../batch/packet-batch.js';
import type { Endpoint } from '../net/endpoint.js';
import {
  EAGAIN,
  EBADF,
  EFAULT,
  EINTR,
  EINVAL,
  EIO,
  EMSGSIZE,
  ENOBUFS,
  ENOTSOCK,
  errno,
  getsockoptInt,
  MSG_DONTWAIT,
  SOL_SOCKET,
  sendmmsg,
} from '../sys/libc.js';
import {
  SEG_CMSG,
  SO_NO_CHECK,
  SOL_UDP,
  TX_CTRL,
  type TxArena,
  UDP_SEGMENT,
  W_CONTROLLEN,
  W_IOVLEN,
} from './udp-arena.js';
import { badSource, type SourceAddress, writeSegmentCmsg, writeSourceCmsg } from './udp-cmsg.js';

/**
 * Most datagrams sent as one UDP GSO super-datagram. The kernel's UDP_MAX_SEGMENTS is 128 on this
 * kernel (6.18: 128 segments pass, 129 give EINVAL) but 64 on older ones; 64 is what wireguard-go
 * uses and is enough to amortise the call.
 */
export const GSO_MAX_SEGMENTS = 64;
/** Largest UDP payload of a GSO send: 65535 - IPv4 header (20) - UDP header (8). */
const GSO_MAX_BYTES_V4 = 65507;
/** Largest UDP payload of a GSO send over IPv6 (the payload length excludes the IPv6 header). */
const GSO_MAX_BYTES_V6 = 65527;
/** Largest GSO segment size tried (the UDP_SEGMENT value is a u16). */
const GSO_MAX_SEG = 65535;
/** A learned segment-size limit below this means GSO cannot work here at all: turn it off. */
const GSO_MIN_SEG = 256;
/** Datagrams refused GSO by a learned size limit before the limit is forgotten and re-probed. */
const GSO_REPROBE = 4096;

/**
 * True if the kernel takes UDP_SEGMENT on this socket: the option exists (Linux >= 4.18) and UDP
 * checksums are on (the kernel refuses GSO with SO_NO_CHECK).
 */
export function gsoSupported(fd: number): boolean {
  return (
    getsockoptInt(fd, SOL_UDP, UDP_SEGMENT) !== undefined && getsockoptInt(fd, SOL_SOCKET, SO_NO_CHECK) !== 1
  );
}

/** What the sender reports to, and asks of, its transport (whose counters these are). */
export interface TxOwner {
  txUnreachable: number;
  txErrors: number;
  txGsoSends: number;
  txGsoFallbacks: number;
  lastErrno: number;
  readonly onStaleSource: ((src: SourceAddress) => void) | undefined;
  canReach(dest: Endpoint): boolean;
}

export class GsoSender {
  /** True while runs go out as GSO super-datagrams. */
  on: boolean;
  /** TX datagram position d (iovec d) of the current flush carries datagram txK[d] of sendBatch. */
  private readonly txK: Uint32Array;
  /** TX entry (mmsghdr) e sends datagram positions [entFirst[e], entFirst[e] + entCount[e]). */
  private readonly entFirst: Uint16Array;
  private readonly entCount: Uint16Array;
  /** GSO segment size of TX entry e (the length of its first datagram), 0 if sent plainly. */
  private readonly entSeg: Uint32Array;
  private readonly entDest: (Endpoint | undefined)[];
  private readonly entSrc: (SourceAddress | undefined)[];
  /** Set by flush: the batch must stop (socket full or unusable). */
  private flushStop = false;
  /** Set by flush: datagram position to build the entries again from (a GSO send failed), or -1. */
  private flushResume = -1;
  /** Largest segment size sent with GSO (lowered when the kernel refuses one; see refused). */
  private maxSeg = GSO_MAX_SEG;
  private reprobe = GSO_REPROBE;

  constructor(
    private readonly batchSize: number,
    private readonly tx: TxArena,
    private readonly owner: TxOwner,
    gso: boolean,
  ) {
    const B = batchSize;
    this.on = gso;
    this.txK = new Uint32Array(B);
    this.entFirst = new Uint16Array(B);
    this.entCount = new Uint16Array(B);
    this.entSeg = new Uint32Array(B);
    this.entDest = new Array<Endpoint | undefined>(B).fill(undefined);
    this.entSrc = new Array<SourceAddress | undefined>(B).fill(undefined);
  }

  /**
   * The body of UdpTransport.sendBatch on the open socket `fd`: sends datagram k (`batch` slot
   * slots[k]) to dests[k] from srcs[k] for k in [from, end), setting status[k] to 1 for each one sent,
   * in sendmmsg calls of up to batchSize datagrams. Returns how many were sent.
   */
  send(
    fd: number,
    batch: PacketBatch,
    slots: Uint16Array,
    dests: readonly (Endpoint | undefined)[],
    srcs: readonly (SourceAddress | undefined)[],
    from: number,
    end: number,
    status: Uint8Array,
  ): number {
    const B = this.batchSize;
    const tx = this.tx;
    const base = batch.mem.addr;
    const lens = batch.lens;
    let sent = 0;
    let k = from;
    let scanned = from;
    while (k < end) {
      let m = 0; // datagram positions (iovecs) used
      let e = -1; // current entry (mmsghdr)
      let seg = 0; // the current entry's first length; 0 once it cannot grow
      let bytes = 0;
      let maxBytes = 0;
      let runDest: Endpoint | undefined;
      let runSrc: SourceAddress | undefined;
      for (; k < end && m < B; k++) {
        const dest = dests[k];
        if (dest === undefined || !this.owner.canReach(dest)) {
          if (k >= scanned) this.owner.txUnreachable++;
          continue;
        }
        const slot = slots[k];
        const len = lens[slot];
        const src = srcs[k];
        tx.setIovec(m, base + batch.offs[slot], len);
        this.txK[m] = k;
        if (
          len <= seg &&
          len > 0 &&
          bytes + len <= maxBytes &&
          src === runSrc &&
          (dest === runDest || dest.key === runDest?.key)
        ) {
          // Joins the current run.
          const c = ++this.entCount[e];
          bytes += len;
          if (len < seg || c === GSO_MAX_SEGMENTS) seg = 0;
        } else {
          if (e >= 0) this.finishEntry(e);
          e++;
          tx.startEntry(e, dest, m);
          this.entFirst[e] = m;
          this.entCount[e] = 1;
          this.entSeg[e] = len;
          this.entDest[e] = dest;
          this.entSrc[e] = src;
          runDest = dest;
          runSrc = src;
          bytes = len;
          maxBytes = dest.family === 4 ? GSO_MAX_BYTES_V4 : GSO_MAX_BYTES_V6;
          seg = this.segment(len);
        }
        m++;
      }
      if (k > scanned) scanned = k;
      if (e < 0) break;
      this.finishEntry(e);
      sent += this.flush(fd, e + 1, status);
      if (this.flushStop) break;
      if (this.flushResume >= 0) k = this.txK[this.flushResume];
    }
    return sent;
  }

  /**
   * The GSO segment size a run starting with a `len`-byte datagram may use: `len`, or 0 if it must
   * go out plainly. A size above a learned limit is refused, and after GSO_REPROBE such refusals the
   * limit is forgotten (the path MTU may have grown), costing one refused send if it has not.
   */
  private segment(len: number): number {
    if (!this.on || len === 0) return 0;
    if (len <= this.maxSeg) return len;
    if (--this.reprobe > 0) return 0;
    this.maxSeg = GSO_MAX_SEG;
    this.reprobe = GSO_REPROBE;
    return len;
  }

  /** Writes TX entry e's iovec count and cmsgs (UDP_SEGMENT for a run, then the source address). */
  private finishEntry(e: number): void {
    const u = this.tx.u32;
    const w = e << 4;
    const count = this.entCount[e];
    u[w + W_IOVLEN] = count;
    const ctrl = this.tx.ctrlOff + e * TX_CTRL;
    let clen = 0;
    if (count > 1) {
      clen = writeSegmentCmsg(u, ctrl >>> 2, this.entSeg[e]);
    } else {
      this.entSeg[e] = 0;
    }
    const src = this.entSrc[e];
    const dest = this.entDest[e];
    if (src !== undefined && dest !== undefined) clen += writeSourceCmsg(u, (ctrl + clen) >>> 2, src, dest);
    u[w + W_CONTROLLEN] = clen;
  }

  /**
   * sendmmsg of TX entries [0, E). Returns how many datagrams were sent. Sets `flushStop` if the
   * socket cannot take more (EAGAIN/ENOBUFS/fatal), and `flushResume` to the first datagram position
   * of a GSO entry the kernel refused as GSO: the caller builds the entries again from there, with
   * GSO now off or limited below that entry's segment size.
   */
  private flush(fd: number, E: number, status: Uint8Array): number {
    const u = this.tx.u32;
    const { entFirst, entCount, entSeg, txK, owner } = this;
    this.flushStop = false;
    this.flushResume = -1;
    let i = 0;
    let sent = 0;
    let retried = -1;
    let spins = 0;
    while (i < E) {
      const r = sendmmsg(fd, this.tx.entryAddr(i), E - i, MSG_DONTWAIT);
      if (r > 0) {
        if (retried === i) {
          const src = this.entSrc[i];
          if (src !== undefined) owner.onStaleSource?.(src);
        }
        for (let e = i; e < i + r; e++) {
          const first = entFirst[e];
          const count = entCount[e];
          for (let d = first; d < first + count; d++) status[txK[d]] = 1;
          sent += count;
          if (count > 1) owner.txGsoSends++;
        }
        i += r;
        continue;
      }
      const e = r < 0 ? errno() : EAGAIN;
      owner.lastErrno = e;
      if (e === EINTR && ++spins < 4) continue;
      if (e === EAGAIN || e === ENOBUFS || e === EBADF || e === ENOTSOCK || e === EFAULT || e === EINTR) {
        this.flushStop = true;
        return sent;
      }
      const w = i << 4;
      const segCmsg = entSeg[i] > 0 ? SEG_CMSG : 0;
      if (badSource(e) && u[w + W_CONTROLLEN] > segCmsg && retried !== i) {
        // The source address is no longer local: send it again letting routing choose (spec §5.3).
        // (The UDP_SEGMENT cmsg comes first, so dropping the source keeps it.)
        u[w + W_CONTROLLEN] = segCmsg;
        retried = i;
        continue;
      }
      if (segCmsg !== 0 && (e === EIO || e === EMSGSIZE || e === EINVAL)) {
        this.refused(e, entSeg[i]);
        this.flushResume = entFirst[i];
        return sent;
      }
      owner.txErrors += entCount[i];
      i++;
    }
    return sent;
  }

  /**
   * The kernel refused a GSO send of segment size `seg`. EIO: the route cannot do UDP GSO (no
   * checksum offload, IPsec): GSO goes off. EMSGSIZE (EINVAL before Linux 6.x): the segment does not
   * fit the path MTU (it would need IP fragmentation, which GSO cannot do) or the run is too long for
   * this route: runs of that size go out plainly from now on (until re-probed).
   */
  private refused(e: number, seg: number): void {
    this.owner.txGsoFallbacks++;
    if (e === EIO || seg - 1 < GSO_MIN_SEG) {
      this.on = false;
      return;
    }
    if (seg - 1 < this.maxSeg) this.maxSeg = seg - 1;
    this.reprobe = GSO_REPROBE;
  }
}
