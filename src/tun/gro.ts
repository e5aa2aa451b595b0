/**
 * The write side of the TUN offloads: TCP receive coalescing ("GRO") over the packets of one
 * `writeBatch`. Consecutive segments of one TCP flow are merged into one super-packet that the kernel
 * takes in a single write, with a virtio_net_hdr saying GSO_TCPV4/TCPV6, gso_size = the segments'
 * payload size, and NEEDS_CSUM (the TCP checksum field holds the pseudo-header sum; the kernel treats
 * the packet as CHECKSUM_PARTIAL). The rules follow wireguard-go's `tcpGRO` (tun/offload_linux.go) and
 * the kernel's own tcp_gro_receive:
 *
 * - same flow: IP version, source and destination addresses, source and destination ports;
 * - IPv4 without options or fragmentation, total length = packet length, same TOS, TTL and DF bits
 *   (the IP ID sequence is not checked); IPv6 without extension headers, payload length = packet
 *   length - 40, same version/traffic class/flow label word and hop limit;
 * - TCP: only ACK or ACK|PSH set, a payload, same data offset byte, ACK number, window and option
 *   bytes (timestamps included: equal options mean equal TSval/TSecr), sequence number = the end of
 *   what is merged so far;
 * - every segment but the last has the first one's payload size; a shorter segment or one with PSH ends
 *   the super-packet (PSH is then set on it); the merged IP packet stays <= 65535 bytes and <= 64
 *   segments.
 *
 * Packets are never reordered within a flow: a flow has at most one open super-packet; any later packet
 * of that flow that cannot join it (a FIN, a pure ACK, a gap, a new ACK number...) closes it first. The
 * super-packet is written at the position of its first segment; everything else is written alone, in
 * input order.
 *
 * Checksums: the kernel's ovpn driver hands decrypted packets up as CHECKSUM_NONE ("we can't guarantee
 * the packet wasn't corrupted before entering the VPN"), so the inner stack verifies them. A merged
 * packet is CHECKSUM_PARTIAL, which the stack does not verify; so, like wireguard-go, each segment's TCP
 * checksum is verified before it is merged (`verifyChecksums`, on by default), and a segment that fails
 * is written alone for the kernel to drop. Packets written alone get an all-zero virtio header
 * (CHECKSUM_NONE: the TUN ignores DATA_VALID on writes anyway).
 *
 * This module only plans and rewrites headers in place; the caller gathers the pieces with writev():
 * the head packet whole, then each member's payload (`headerLength` bytes in). Nothing is copied.
 */
import { checksum, fold, onesSum, pseudoSum4, pseudoSum6 } from './checksum.js';
import {
  VIRTIO_NET_HDR_F_NEEDS_CSUM,
  VIRTIO_NET_HDR_GSO_TCPV4,
  VIRTIO_NET_HDR_GSO_TCPV6,
  writeVirtioNetHdr,
  writeZeroVirtioNetHdr,
} from './virtio-hdr.js';

/** Largest merged IP packet. */
export const GRO_MAX_PACKET = 65535;
/** Most segments in one super-packet (bounds the writev() vector for tiny segments). */
export const GRO_MAX_SEGMENTS = 64;

const IPPROTO_TCP = 6;
const TCP_ACK = 0x10;
const TCP_PSH = 0x08;

/** classify(): not TCP (or no ports to read); TCP that cannot be merged; a merge candidate. */
const CLASS_OTHER = 0;
const CLASS_TCP = 1;
const CLASS_CANDIDATE = 2;

const ROLE_SINGLE = 0;
const ROLE_HEAD = 1;
const ROLE_MEMBER = 2;

const CSUM_UNKNOWN = 0;
const CSUM_GOOD = 1;
const CSUM_BAD = 2;

export interface GroStats {
  /** Packets seen. */
  packets: number;
  /** Super-packets built (each from 2 or more segments). */
  superPackets: number;
  /** Segments merged into a super-packet (its first segment included). */
  merged: number;
  /** Segments not merged because their checksum was wrong. */
  badChecksums: number;
}

export interface TcpGroOptions {
  /** Verify each segment's TCP checksum before merging it (default true). */
  verifyChecksums?: boolean;
}

export class TcpGro {
  readonly stats: GroStats = { packets: 0, superPackets: 0, merged: 0, badChecksums: 0 };
  verifyChecksums: boolean;
  private cap = 0;
  // Per input position.
  private role = new Uint8Array(0);
  private next = new Int32Array(0);
  private csum = new Uint8Array(0);
  // Per super-packet, indexed by the position of its first segment.
  private count = new Uint16Array(0);
  private total = new Uint32Array(0);
  private gso = new Uint16Array(0);
  private ipLen = new Uint8Array(0);
  private tcpLen = new Uint8Array(0);
  private v6 = new Uint8Array(0);
  private psh = new Uint8Array(0);
  private last = new Int32Array(0);
  private nextSeq = new Uint32Array(0);
  // Open super-packets: head positions and flow hashes.
  private open = new Int32Array(0);
  private openHash = new Int32Array(0);
  private openN = 0;
  // The packet being classified (fields instead of a result object).
  private cV6 = false;
  private cIpLen = 0;
  private cTcpLen = 0;
  private cPayload = 0;
  private cSeq = 0;
  private cFlags = 0;
  private cHash = 0;

  constructor(capacity = 64, opts: TcpGroOptions = {}) {
    this.verifyChecksums = opts.verifyChecksums ?? true;
    this.grow(capacity);
  }

  private grow(cap: number): void {
    this.cap = cap;
    this.role = new Uint8Array(cap);
    this.next = new Int32Array(cap);
    this.csum = new Uint8Array(cap);
    this.count = new Uint16Array(cap);
    this.total = new Uint32Array(cap);
    this.gso = new Uint16Array(cap);
    this.ipLen = new Uint8Array(cap);
    this.tcpLen = new Uint8Array(cap);
    this.v6 = new Uint8Array(cap);
    this.psh = new Uint8Array(cap);
    this.last = new Int32Array(cap);
    this.nextSeq = new Uint32Array(cap);
    this.open = new Int32Array(cap);
    this.openHash = new Int32Array(cap);
  }

  /**
   * Plans the writes for packets `slots[0..n)` of `buf` (each at `offs[s]`, `lens[s]` bytes). Returns
   * the number of writes. Then, for each position p in 0..n with `!isMember(p)`, in order: write
   * `writeHeader(p, ...)` and the packet of `slots[p]`, followed by the payloads of its members
   * (`nextMember`). Headers of merged packets are rewritten in place by `writeHeader`.
   */
  plan(buf: Buffer, offs: Uint32Array, lens: Uint32Array, slots: Uint16Array, n: number): number {
    if (n > this.cap) this.grow(Math.max(n, this.cap * 2));
    this.openN = 0;
    let writes = 0;
    for (let p = 0; p < n; p++) {
      this.role[p] = ROLE_SINGLE;
      this.next[p] = -1;
      this.csum[p] = CSUM_UNKNOWN;
      this.count[p] = 1;
      const s = slots[p];
      const off = offs[s];
      const len = lens[s];
      const cls = this.classify(buf, off, len);
      if (cls === CLASS_OTHER) {
        writes++;
        continue;
      }
      const k = this.findOpen(buf, offs, slots, off);
      if (k >= 0) {
        const h = this.open[k];
        if (cls === CLASS_CANDIDATE && this.canAppend(buf, offs[slots[h]], h, off)) {
          if (this.verified(buf, offs[slots[h]], lens[slots[h]], h) && this.verified(buf, off, len, p)) {
            this.append(h, p, k);
            continue;
          }
          // The first segment is bad: it goes alone and this one may start a new super-packet.
          if (this.csum[h] === CSUM_BAD) this.closeAt(k);
          else {
            writes++;
            continue;
          }
        } else this.closeAt(k);
      }
      writes++;
      if (cls === CLASS_CANDIDATE) this.start(p, len);
    }
    for (let p = 0; p < n; p++) {
      if (this.role[p] === ROLE_HEAD && this.count[p] > 1) {
        this.stats.superPackets++;
        this.stats.merged += this.count[p];
      }
    }
    this.stats.packets += n;
    return writes;
  }

  /** True when position p was merged into an earlier packet (nothing to write for it). */
  isMember(p: number): boolean {
    return this.role[p] === ROLE_MEMBER;
  }

  /** How many input packets the write at position p carries (1 for a packet written alone). */
  memberCount(p: number): number {
    return this.role[p] === ROLE_HEAD ? this.count[p] : 1;
  }

  /** The position merged after p, or -1. */
  nextMember(p: number): number {
    return this.next[p];
  }

  /** Header bytes (IP + TCP) of the super-packet headed at p: members contribute what follows them. */
  headerLength(p: number): number {
    return this.ipLen[p] + this.tcpLen[p];
  }

  /** Length of the write at position p (merged length for a super-packet). */
  writeLength(p: number, lens: Uint32Array, slots: Uint16Array): number {
    return this.role[p] === ROLE_HEAD && this.count[p] > 1 ? this.total[p] : lens[slots[p]];
  }

  /**
   * Writes the virtio header for position p at `out[outOff]`. For a super-packet this also rewrites the
   * first segment's headers in `buf` in place: IPv4 total length and header checksum or IPv6 payload
   * length, PSH when the last segment had it, and the TCP checksum field = the pseudo-header sum.
   */
  writeHeader(
    p: number,
    buf: Buffer,
    offs: Uint32Array,
    slots: Uint16Array,
    out: Buffer,
    outOff: number,
  ): void {
    if (this.role[p] !== ROLE_HEAD || this.count[p] < 2) {
      writeZeroVirtioNetHdr(out, outOff);
      return;
    }
    const off = offs[slots[p]];
    const ipLen = this.ipLen[p];
    const total = this.total[p];
    const tcp = off + ipLen;
    const v6 = this.v6[p] === 1;
    if (v6) buf.writeUInt16BE(total - 40, off + 4);
    else {
      buf.writeUInt16BE(total, off + 2);
      buf[off + 10] = 0;
      buf[off + 11] = 0;
      buf.writeUInt16BE(checksum(buf, off, ipLen), off + 10);
    }
    if (this.psh[p] === 1) buf[tcp + 13] |= TCP_PSH;
    const l4Len = total - ipLen;
    const pseudo = v6 ? pseudoSum6(buf, off, IPPROTO_TCP, l4Len) : pseudoSum4(buf, off, IPPROTO_TCP, l4Len);
    buf.writeUInt16BE(fold(pseudo), tcp + 16);
    writeVirtioNetHdr(
      out,
      outOff,
      VIRTIO_NET_HDR_F_NEEDS_CSUM,
      v6 ? VIRTIO_NET_HDR_GSO_TCPV6 : VIRTIO_NET_HDR_GSO_TCPV4,
      ipLen + this.tcpLen[p],
      this.gso[p],
      ipLen,
      16,
    );
  }

  /** Sets the c* fields for the packet at `buf[off]` and says what it is. */
  private classify(buf: Buffer, off: number, len: number): number {
    if (len < 20) return CLASS_OTHER;
    const ver = buf[off] >>> 4;
    let ipLen: number;
    let candidate = true;
    if (ver === 4) {
      ipLen = (buf[off] & 0x0f) * 4;
      if (ipLen < 20 || buf[off + 9] !== IPPROTO_TCP || len < ipLen + 20) return CLASS_OTHER;
      const frag = buf.readUInt16BE(off + 6);
      if ((frag & 0x1fff) !== 0) return CLASS_OTHER; // a later fragment: no TCP header
      if ((frag & 0x2000) !== 0 || ipLen !== 20 || buf.readUInt16BE(off + 2) !== len) candidate = false;
      this.cV6 = false;
      this.cHash = buf.readInt32BE(off + 12) ^ buf.readInt32BE(off + 16);
    } else if (ver === 6) {
      ipLen = 40;
      if (len < 60 || buf[off + 6] !== IPPROTO_TCP) return CLASS_OTHER;
      if (buf.readUInt16BE(off + 4) !== len - 40) candidate = false;
      this.cV6 = true;
      let h = 0x6;
      for (let a = off + 8; a < off + 40; a += 4) h ^= buf.readInt32BE(a);
      this.cHash = h;
    } else return CLASS_OTHER;
    const tcp = off + ipLen;
    this.cHash ^= buf.readInt32BE(tcp);
    const tcpLen = (buf[tcp + 12] >>> 4) * 4;
    const flags = buf[tcp + 13];
    this.cIpLen = ipLen;
    this.cTcpLen = tcpLen;
    this.cFlags = flags;
    if (!candidate || tcpLen < 20 || ipLen + tcpLen >= len || len > GRO_MAX_PACKET) return CLASS_TCP;
    if (flags !== TCP_ACK && flags !== (TCP_ACK | TCP_PSH)) return CLASS_TCP;
    this.cPayload = len - ipLen - tcpLen;
    this.cSeq = buf.readUInt32BE(tcp + 4);
    return CLASS_CANDIDATE;
  }

  /** Index in the open list of the super-packet of the classified packet's flow, or -1. */
  private findOpen(buf: Buffer, offs: Uint32Array, slots: Uint16Array, off: number): number {
    const hash = this.cHash;
    const v6 = this.cV6 ? 1 : 0;
    for (let k = 0; k < this.openN; k++) {
      if (this.openHash[k] !== hash) continue;
      const h = this.open[k];
      if (this.v6[h] !== v6) continue;
      const ho = offs[slots[h]];
      // Ports: at the TCP header; the open packet's IP header length is fixed (20 or 40).
      if (buf.readInt32BE(ho + this.ipLen[h]) !== buf.readInt32BE(off + this.cIpLen)) continue;
      let same = true;
      const start = v6 === 1 ? 8 : 12;
      const end = v6 === 1 ? 40 : 20;
      for (let a = start; a < end; a += 4) {
        if (buf.readInt32BE(ho + a) !== buf.readInt32BE(off + a)) {
          same = false;
          break;
        }
      }
      if (same) return k;
    }
    return -1;
  }

  /** Whether the classified candidate at `off` may follow the open super-packet headed at h (`ho`). */
  private canAppend(buf: Buffer, ho: number, h: number, off: number): boolean {
    const ipLen = this.cIpLen;
    const tcpLen = this.cTcpLen;
    if (this.ipLen[h] !== ipLen || this.tcpLen[h] !== tcpLen) return false;
    if (this.cSeq !== this.nextSeq[h] || this.cPayload > this.gso[h]) return false;
    if (this.total[h] + this.cPayload > GRO_MAX_PACKET || this.count[h] >= GRO_MAX_SEGMENTS) return false;
    if (this.cV6) {
      if (buf.readInt32BE(ho) !== buf.readInt32BE(off) || buf[ho + 7] !== buf[off + 7]) return false;
    } else if (
      buf[ho + 1] !== buf[off + 1] ||
      buf[ho + 6] >>> 5 !== buf[off + 6] >>> 5 ||
      buf[ho + 8] !== buf[off + 8]
    )
      return false;
    const ht = ho + ipLen;
    const pt = off + ipLen;
    // ACK number, then data offset byte and window, then the options word by word.
    if (buf.readInt32BE(ht + 8) !== buf.readInt32BE(pt + 8)) return false;
    if (buf[ht + 12] !== buf[pt + 12] || buf.readUInt16BE(ht + 14) !== buf.readUInt16BE(pt + 14))
      return false;
    for (let a = 20; a < tcpLen; a += 4)
      if (buf.readInt32BE(ht + a) !== buf.readInt32BE(pt + a)) return false;
    return true;
  }

  /**
   * Whether the TCP checksum (and IPv4 header checksum) of the packet at position p is right; cached,
   * always true when not verifying.
   */
  private verified(buf: Buffer, off: number, len: number, p: number): boolean {
    if (!this.verifyChecksums) return true;
    let c = this.csum[p];
    if (c === CSUM_UNKNOWN) {
      const v6 = buf[off] >>> 4 === 6;
      const ipLen = v6 ? 40 : (buf[off] & 0x0f) * 4;
      const l4Len = len - ipLen;
      const pseudo = v6 ? pseudoSum6(buf, off, IPPROTO_TCP, l4Len) : pseudoSum4(buf, off, IPPROTO_TCP, l4Len);
      const ok =
        onesSum(buf, off + ipLen, l4Len, pseudo) === 0xffff && (v6 || checksum(buf, off, ipLen) === 0);
      c = ok ? CSUM_GOOD : CSUM_BAD;
      if (c === CSUM_BAD) this.stats.badChecksums++;
      this.csum[p] = c;
    }
    return c === CSUM_GOOD;
  }

  /** Makes the classified candidate at position p the first segment of a new super-packet. */
  private start(p: number, len: number): void {
    this.role[p] = ROLE_HEAD;
    this.count[p] = 1;
    this.total[p] = len;
    this.gso[p] = this.cPayload;
    this.ipLen[p] = this.cIpLen;
    this.tcpLen[p] = this.cTcpLen;
    this.v6[p] = this.cV6 ? 1 : 0;
    this.last[p] = p;
    this.nextSeq[p] = (this.cSeq + this.cPayload) >>> 0;
    const psh = (this.cFlags & TCP_PSH) !== 0;
    this.psh[p] = 0;
    // A segment with PSH ends a super-packet: nothing may follow it.
    if (psh) return;
    this.open[this.openN] = p;
    this.openHash[this.openN] = this.cHash;
    this.openN++;
  }

  /** Appends the classified candidate at position p to the super-packet headed at h (open index k). */
  private append(h: number, p: number, k: number): void {
    this.role[p] = ROLE_MEMBER;
    this.next[this.last[h]] = p;
    this.last[h] = p;
    this.count[h]++;
    this.total[h] += this.cPayload;
    this.nextSeq[h] = (this.cSeq + this.cPayload) >>> 0;
    const psh = (this.cFlags & TCP_PSH) !== 0;
    if (psh) this.psh[h] = 1;
    if (psh || this.cPayload < this.gso[h]) this.closeAt(k);
  }

  private closeAt(k: number): void {
    const lastK = --this.openN;
    this.open[k] = this.open[lastK];
    this.openHash[k] = this.openHash[lastK];
  }
}
