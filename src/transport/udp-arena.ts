/**
 * The pinned memory of a UdpTransport: the mmsghdr, iovec, sockaddr and cmsg memory is laid out once
 * per transport in two arenas, and each call only rewrites pointers and lengths in place (an address
 * is written as two 32-bit words, low first; x86-64 and arm64 are little-endian). B = batchSize.
 *
 * ```
 *  RX arena (recvmmsg)                                     written by
 *  +0        mmsghdr[B]     64 B   name->names[i] namelen=32      us: before each call (namelen,
 *                                  iov->iovec[i]  iovlen=1            controllen); kernel: namelen,
 *                                  control->ctrl[i] controllen=128    controllen, flags, msg_len
 *  +64B      iovec[B]       16 B   base = batch.mem.addr + batch.dataStart(i), len = batch.maxPacket
 *  +80B      names[B]       32 B   source sockaddr_in / sockaddr_in6       kernel (exposed: `names`)
 *  +112B     ctrl[B]       128 B   cmsgs: IP_PKTINFO (in_pktinfo), IPV6_PKTINFO (in6_pktinfo)  kernel
 *  +240B     localAddr[B]   16 B   destination address from pktinfo; IPv4 in bytes 0-3   us (exposed)
 *
 *  TX arena (sendmmsg, sendmsg)
 *  +0        mmsghdr[B]     64 B   entry e: name -> dest.sockaddr (the Endpoint's own pinned sockaddr)
 *                                  iov -> iovec[first datagram of e] iovlen = datagrams in e,
 *                                  control -> ctrl[e], controllen 0..64
 *  +64B      iovec[B]       16 B   datagram d: base = batch.mem.addr + batch.offs[slot],
 *                                  len = batch.lens[slot]
 *  +80B      ctrl[B]        64 B   optional UDP_SEGMENT (24 B, entries of 2+ datagrams: GSO), then
 *                                  optional source address: IP_PKTINFO (32 B) or IPV6_PKTINFO (40 B)
 *  +144B     msghdr         64 B   sendOne: name -> dest.sockaddr, iov -> the iovec below
 *  +144B+64  iovec          16 B   base = copy buffer
 *  +144B+80  ctrl           64 B   sendOne's source address
 *  (one copy buffer of 65536 B per process, shared by every arena: sendOne copies the caller's
 *   bytes there and sends them at once, so no two sends ever use it at the same time)
 * ```
 *
 * struct msghdr (56 B, x86-64/arm64): name 0 | namelen 8 | iov 16 | iovlen 24 | control 32 |
 * controllen 40 | flags 48; struct mmsghdr appends msg_len at 56 (64 B in all).
 * struct cmsghdr: len (size_t) 0 | level 8 | type 12 | data 16, each cmsg padded to 8 bytes.
 *
 * Also here: the kernel numbers the UDP transport needs that sys/libc.ts does not export.
 */

import type { PacketBatch } from '../batch/packet-batch.js';
import type { Endpoint } from '../net/endpoint.js';
import { allocPinned, type PinnedBuffer, putPtr } from '../sys/address.js';
import { type RxSpill, SPILL_ADDR_WORDS } from './rx-spill.js';

const MMSG = 64;
const IOV = 16;
/** Bytes per slot in `names`: room for a sockaddr_in6 (28), 8-aligned. */
export const NAME_SIZE = 32;
/** Bytes of cmsg room per RX entry. */
export const RX_CTRL = 128;
/** A UDP_SEGMENT cmsg: CMSG_SPACE(sizeof(u16)). */
export const SEG_CMSG = 24;
/** Per TX entry: an optional UDP_SEGMENT cmsg, then an optional IP_PKTINFO (32) / IPV6_PKTINFO (40). */
export const TX_CTRL = SEG_CMSG + 40;
/** Bytes per slot in `localAddr`. */
export const LOCAL = 16;
/** Largest datagram sendOne takes (the size of its copy buffer). */
export const ONE_COPY = 65536;

// Offsets (in 32-bit words) inside an mmsghdr; entry e starts at word e << 4.
const W_NAME = 0;
const W_NAMELEN = 2;
const W_IOV = 4;
/** Word offset of msg_iovlen in an mmsghdr. */
export const W_IOVLEN = 6;
const W_CONTROL = 8;
/** Word offset of msg_controllen in an mmsghdr (the low word; the high one stays 0). */
export const W_CONTROLLEN = 10;
/** Word offset of msg_flags in an mmsghdr. */
export const W_FLAGS = 12;
/** Word offset of msg_len (bytes received or sent) in an mmsghdr. */
export const W_LEN = 14;

// UDP numbers sys/libc.ts does not export.
/** Socket option level (and cmsg level) of UDP_SEGMENT and UDP_GRO: IPPROTO_UDP. */
export const SOL_UDP = 17;
/** UDP GSO: socket option and cmsg giving the segment size of a send. */
export const UDP_SEGMENT = 103;
/** UDP GRO: socket option turning it on, and cmsg giving the segment size of a receive. */
export const UDP_GRO = 104;
/** SOL_SOCKET option: UDP checksums off (the kernel then refuses GSO). */
export const SO_NO_CHECK = 11;

/** The RX arena (recvmmsg), and the per-slot address arrays exposed by the transport. */
export class RxArena {
  readonly mem: PinnedBuffer;
  readonly u32: Uint32Array;
  readonly iovOff: number;
  readonly nameOff: number;
  readonly ctrlOff: number;
  readonly localOff: number;
  /** Source sockaddr of every received slot, NAME_SIZE bytes apart. */
  readonly names: Buffer;
  /** Destination address of every received slot, 16 bytes apart; IPv4 in the first 4 bytes. */
  readonly localAddr: Buffer;
  /** Family of the destination address of every received slot: 0 unknown, 4 or 6. */
  readonly localFamily: Uint8Array;
  /** Interface index the datagram of every received slot arrived on (from pktinfo; 0 unknown). */
  readonly localIfindex: Uint32Array;

  constructor(B: number) {
    this.iovOff = B * MMSG;
    this.nameOff = this.iovOff + B * IOV;
    this.ctrlOff = this.nameOff + B * NAME_SIZE;
    this.localOff = this.ctrlOff + B * RX_CTRL;
    this.mem = allocPinned(this.localOff + B * LOCAL);
    this.u32 = new Uint32Array(this.mem.buf.buffer, this.mem.buf.byteOffset, this.mem.buf.length >>> 2);
    this.names = this.mem.buf.subarray(this.nameOff, this.ctrlOff);
    this.localAddr = this.mem.buf.subarray(this.localOff, this.localOff + B * LOCAL);
    this.localFamily = new Uint8Array(B);
    this.localIfindex = new Uint32Array(B);
    const ru = this.u32;
    for (let i = 0; i < B; i++) {
      const w = (i * MMSG) >>> 2;
      putPtr(ru, w + W_NAME, this.mem.addr + this.nameOff + i * NAME_SIZE);
      putPtr(ru, w + W_IOV, this.mem.addr + this.iovOff + i * IOV);
      ru[w + W_IOVLEN] = 1;
      putPtr(ru, w + W_CONTROL, this.mem.addr + this.ctrlOff + i * RX_CTRL);
    }
  }

  /** Points iovecs [0, vlen) at `batch`'s slots and empties the rest (of B). */
  bindIovecs(batch: PacketBatch, vlen: number, B: number): void {
    const u = this.u32;
    for (let i = 0; i < B; i++) {
      const iw = (this.iovOff + i * IOV) >>> 2;
      if (i < vlen) {
        putPtr(u, iw, batch.mem.addr + batch.dataStart(i));
        u[iw + 2] = batch.maxPacket;
      } else {
        putPtr(u, iw, 0);
        u[iw + 2] = 0;
      }
    }
  }

  /** Address of mmsghdr `pos`, for recvmmsg. */
  entryAddr(pos: number): number {
    return this.mem.addr + pos * MMSG;
  }

  /** Resets namelen and controllen of mmsghdrs [pos, pos + vlen) before a recvmmsg. */
  arm(pos: number, vlen: number): void {
    const u = this.u32;
    for (let i = pos; i < pos + vlen; i++) {
      const w = i << 4;
      u[w + W_NAMELEN] = NAME_SIZE;
      u[w + W_CONTROLLEN] = RX_CTRL;
      u[w + W_CONTROLLEN + 1] = 0;
    }
  }

  /** Copies slot a's source sockaddr, destination address, family and ifindex to slot b. */
  copyAddrs(a: number, b: number): void {
    const u = this.u32;
    const na = (this.nameOff + a * NAME_SIZE) >>> 2;
    const nb = (this.nameOff + b * NAME_SIZE) >>> 2;
    for (let j = 0; j < 7; j++) u[nb + j] = u[na + j];
    const la = (this.localOff + a * LOCAL) >>> 2;
    const lb = (this.localOff + b * LOCAL) >>> 2;
    for (let j = 0; j < 4; j++) u[lb + j] = u[la + j];
    this.localFamily[b] = this.localFamily[a];
    this.localIfindex[b] = this.localIfindex[a];
  }

  /** Keeps slot e's addresses as `spill` entry m. */
  saveAddrs(e: number, spill: RxSpill, m: number): void {
    const u = this.u32;
    const a = spill.addrs;
    const s = m * SPILL_ADDR_WORDS;
    const n = (this.nameOff + e * NAME_SIZE) >>> 2;
    const l = (this.localOff + e * LOCAL) >>> 2;
    for (let j = 0; j < 7; j++) a[s + j] = u[n + j];
    for (let j = 0; j < 4; j++) a[s + 7 + j] = u[l + j];
    a[s + 11] = this.localIfindex[e];
    spill.family[m] = this.localFamily[e];
  }

  /** Gives slot pos the addresses of `spill` entry m. */
  loadAddrs(spill: RxSpill, m: number, pos: number): void {
    const u = this.u32;
    const a = spill.addrs;
    const s = m * SPILL_ADDR_WORDS;
    const n = (this.nameOff + pos * NAME_SIZE) >>> 2;
    const l = (this.localOff + pos * LOCAL) >>> 2;
    for (let j = 0; j < 7; j++) u[n + j] = a[s + j];
    for (let j = 0; j < 4; j++) u[l + j] = a[s + 7 + j];
    this.localIfindex[pos] = a[s + 11];
    this.localFamily[pos] = spill.family[m];
  }
}

let copyBuffer: PinnedBuffer | undefined;

/**
 * sendOne's copy buffer, one per process: the rare control packets do not need 64 KiB per socket
 * (a daemon that attaches thousands of sockets over its life would otherwise churn through them).
 */
function oneCopy(): PinnedBuffer {
  copyBuffer ??= allocPinned(ONE_COPY);
  return copyBuffer;
}

/** The TX arena (sendmmsg for sendBatch, sendmsg for sendOne). */
export class TxArena {
  readonly mem: PinnedBuffer;
  readonly u32: Uint32Array;
  readonly iovOff: number;
  readonly ctrlOff: number;
  /** sendOne's msghdr; its iovec, ctrl and copy buffer follow. */
  readonly oneOff: number;
  /** Word index of sendOne's ctrl area. */
  readonly oneCtrlWord: number;

  constructor(B: number) {
    this.iovOff = B * MMSG;
    this.ctrlOff = this.iovOff + B * IOV;
    this.oneOff = this.ctrlOff + B * TX_CTRL;
    this.oneCtrlWord = (this.oneOff + MMSG + IOV) >>> 2;
    this.mem = allocPinned(this.oneOff + MMSG + IOV + TX_CTRL);
    this.u32 = new Uint32Array(this.mem.buf.buffer, this.mem.buf.byteOffset, this.mem.buf.length >>> 2);
    const tu = this.u32;
    for (let j = 0; j <= B; j++) {
      // Entry B is sendOne's msghdr, laid out the same way after the per-batch ctrl area.
      const base = j < B ? j * MMSG : this.oneOff;
      const iov = j < B ? this.iovOff + j * IOV : this.oneOff + MMSG;
      const ctrl = j < B ? this.ctrlOff + j * TX_CTRL : this.oneOff + MMSG + IOV;
      const w = base >>> 2;
      putPtr(tu, w + W_IOV, this.mem.addr + iov);
      tu[w + W_IOVLEN] = 1;
      putPtr(tu, w + W_CONTROL, this.mem.addr + ctrl);
    }
    putPtr(tu, (this.oneOff + MMSG) >>> 2, oneCopy().addr);
  }

  /** Address of mmsghdr i, for sendmmsg. */
  entryAddr(i: number): number {
    return this.mem.addr + i * MMSG;
  }

  /** Address of sendOne's msghdr, for sendmsg. */
  get oneAddr(): number {
    return this.mem.addr + this.oneOff;
  }

  /** Points datagram position m's iovec at `len` bytes at address `addr`. */
  setIovec(m: number, addr: number, len: number): void {
    const iw = (this.iovOff + m * IOV) >>> 2;
    putPtr(this.u32, iw, addr);
    this.u32[iw + 2] = len;
  }

  /** Starts entry e: sends to `dest`, its iovecs begin at datagram position m. */
  startEntry(e: number, dest: Endpoint, m: number): void {
    const u = this.u32;
    const w = e << 4;
    putPtr(u, w + W_NAME, dest.sockaddr.addr);
    u[w + W_NAMELEN] = dest.sockaddrLen;
    putPtr(u, w + W_IOV, this.mem.addr + this.iovOff + m * IOV);
  }

  /**
   * Fills sendOne's msghdr: copies `len` bytes of `buf` at `off` into the copy buffer and addresses
   * them to `dest`. Returns the word index of the msghdr (its controllen is left to the caller).
   */
  loadOne(buf: Buffer, off: number, len: number, dest: Endpoint): number {
    const u = this.u32;
    buf.copy(oneCopy().buf, 0, off, off + len);
    const w = this.oneOff >>> 2;
    putPtr(u, w + W_NAME, dest.sockaddr.addr);
    u[w + W_NAMELEN] = dest.sockaddrLen;
    u[((this.oneOff + MMSG) >>> 2) + 2] = len;
    return w;
  }
}
