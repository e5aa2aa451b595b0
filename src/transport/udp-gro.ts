/**
 * The receive side of UdpTransport.recvBatch after each recvmmsg: the entries read into the RX arena
 * (udp-arena.ts) become batch slots, and UDP GRO receives are split back into one datagram per slot.
 *
 * Under UDP GRO the kernel hands over a run of datagrams of one flow as one coalesced buffer with a
 * UDP_GRO cmsg giving the segment size. Its datagrams are copied into consecutive slots (each keeps
 * the buffer's source and destination address); those past the batch's end wait in an RxSpill
 * (rx-spill.ts) for the next recvBatch, which hands them out first.
 */

import type { PacketBatch } from '../batch/packet-batch.js';
import { MSG_TRUNC, setsockoptInt } from '../sys/libc.js';
import { RxSpill } from './rx-spill.js';
import { type RxArena, SOL_UDP, UDP_GRO, W_CONTROLLEN, W_FLAGS, W_LEN } from './udp-arena.js';
import { readRxCmsgs } from './udp-cmsg.js';

/**
 * Slot size needed to turn UDP GRO on: a coalesced receive is at most 65535 bytes of IP packet
 * (the kernel stops coalescing before 64 KiB), a local GSO send at most 65527 bytes of payload.
 */
export const GRO_MIN_SLOT = 65535;
/** recvmmsg calls one recvBatch may make while GRO keeps them small (see `segs`). */
export const GRO_MAX_READS = 8;

/** The transport's receive counters, kept up to date here. */
export interface RxCounters {
  rxTruncated: number;
  rxGroSplits: number;
}

export class GroReceiver {
  /** The socket should receive with UDP GRO (option, and the kernel has it). */
  wanted: boolean;
  /** The socket receives with UDP GRO. */
  on: boolean;
  /** Most datagrams one entry held in the last recvmmsg: under GRO it sizes the next one. */
  segs = 1;
  /** Datagrams split off that did not fit the batch. */
  readonly spill: RxSpill;
  /** Per entry of the last recvmmsg: its GRO segment size (0: one datagram) and datagram count. */
  private readonly rxSeg: Uint32Array;
  private readonly rxSegs: Uint32Array;

  constructor(
    B: number,
    private readonly rx: RxArena,
    private readonly counters: RxCounters,
    wanted: boolean,
    on: boolean,
  ) {
    this.wanted = wanted;
    this.on = on;
    this.rxSeg = new Uint32Array(B);
    this.rxSegs = new Uint32Array(B);
    this.spill = new RxSpill(B);
  }

  /** Turns UDP GRO on socket `fd` on or off to match `batch`'s slot size. */
  configure(fd: number, batch: PacketBatch): void {
    const gro = this.wanted && batch.maxPacket >= GRO_MIN_SLOT;
    if (gro !== this.on) {
      if (setsockoptInt(fd, SOL_UDP, UDP_GRO, gro ? 1 : 0) === 0) this.on = gro;
      else if (gro) this.wanted = false; // no UDP_GRO (Linux < 5.0)
    }
    if (!this.on) this.segs = 1;
  }

  /**
   * Fills offs/lens and the address arrays for the n entries just read into slots [pos, pos + n),
   * splitting coalesced ones. Returns the next free slot.
   */
  take(batch: PacketBatch, pos: number, n: number, S: number): number {
    const rx = this.rx;
    const u = rx.u32;
    const { offs, lens } = batch;
    let total = 0;
    let most = 1;
    for (let i = 0; i < n; i++) {
      const e = pos + i;
      const w = e << 4;
      offs[e] = batch.dataStart(e);
      let len = 0;
      if ((u[w + W_FLAGS] & MSG_TRUNC) !== 0) this.counters.rxTruncated++;
      else len = u[w + W_LEN];
      lens[e] = len;
      rx.localFamily[e] = 0;
      rx.localIfindex[e] = 0;
      const clen = u[w + W_CONTROLLEN];
      const seg = clen >= 16 ? readRxCmsgs(rx, e, clen) : 0;
      const segs = seg > 0 && len > seg ? Math.ceil(len / seg) : 1;
      this.rxSeg[i] = segs > 1 ? seg : 0;
      this.rxSegs[i] = segs;
      total += segs;
      if (segs > most) most = segs;
    }
    this.segs = most;
    return total === n ? pos + n : this.split(batch, pos, n, total, S);
  }

  /**
   * Spreads the n entries in slots [pos, pos + n), `total` datagrams in all, over slots
   * [pos, pos + total) in order; the datagrams past slot S - 1 go to the spill. Walks backwards, so
   * that a slot is only written once the entry read into it has been moved out. Returns the next
   * free slot.
   */
  private split(batch: PacketBatch, pos: number, n: number, total: number, S: number): number {
    const { offs, lens } = batch;
    const buf = batch.mem.buf;
    const { rxSeg, rxSegs, spill, rx } = this;
    const end = pos + total;
    let spillBytes = 0;
    if (end > S) {
      // Forward pass: how many bytes go to the spill.
      let t = pos;
      for (let i = 0; i < n; i++) {
        const segs = rxSegs[i];
        const seg = rxSeg[i];
        const len = lens[pos + i];
        for (let j = 0; j < segs; j++, t++) {
          if (t >= S) spillBytes += segs === 1 ? len : Math.min(seg, len - j * seg);
        }
      }
      spill.reset(end - S, spillBytes);
    }
    let t = end;
    let sb = spillBytes;
    for (let i = n - 1; i >= 0; i--) {
      const e = pos + i;
      const segs = rxSegs[i];
      const seg = rxSeg[i];
      const len = lens[e];
      const from = offs[e];
      const first = t - segs;
      if (t > S) {
        // Some of this entry's datagrams wait in the spill: keep its addresses there.
        rx.saveAddrs(e, spill, i);
      }
      for (let j = segs - 1; j >= 0; j--) {
        const to = first + j;
        const off = j * seg;
        const sl = segs === 1 ? len : Math.min(seg, len - off);
        if (to >= S) {
          sb -= sl;
          buf.copy(spill.mem, sb, from + off, from + off + sl);
          const q = to - S;
          spill.off[q] = sb;
          spill.len[q] = sl;
          spill.meta[q] = i;
        } else if (to !== e) {
          const d = batch.dataStart(to);
          buf.copyWithin(d, from + off, from + off + sl);
          offs[to] = d;
          lens[to] = sl;
          rx.copyAddrs(e, to);
        } else {
          lens[e] = sl; // the first datagram stays where it was read
        }
      }
      if (segs > 1) this.counters.rxGroSplits++;
      t = first;
    }
    return Math.min(end, S);
  }

  /** Hands out datagrams waiting in the spill into slots 0.. (up to S); returns how many. */
  drain(batch: PacketBatch, S: number): number {
    const spill = this.spill;
    const { offs, lens } = batch;
    const buf = batch.mem.buf;
    const max = batch.maxPacket;
    let pos = 0;
    while (pos < S && spill.head < spill.count) {
      const q = spill.head++;
      const m = spill.meta[q];
      const len = spill.len[q];
      const d = batch.dataStart(pos);
      offs[pos] = d;
      if (len <= max) {
        spill.mem.copy(buf, d, spill.off[q], spill.off[q] + len);
        lens[pos] = len;
      } else {
        lens[pos] = 0; // a smaller batch than the one it was received for
        this.counters.rxTruncated++;
      }
      this.rx.loadAddrs(spill, m, pos);
      pos++;
    }
    if (spill.head === spill.count) spill.clear();
    return pos;
  }
}
