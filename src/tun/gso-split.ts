/**
 * The read side of the TUN offloads: turns one read of an IFF_VNET_HDR TUN (a virtio_net_hdr and an IP
 * packet, possibly a 64 KiB TSO/USO super-packet, possibly with a partial checksum) into plain,
 * fully checksummed IP packets of at most one MTU, one per batch slot. The algorithm follows
 * wireguard-go's `handleVirtioRead`/`gsoSplit` (tun/offload_linux.go) and the kernel's own TCP/UDP GSO:
 *
 * - TCP (GSO_TCPV4/TCPV6): every segment gets a copy of the IP and TCP headers; IPv4 total length, ID
 *   (+1 per segment) and header checksum, or the IPv6 payload length, are rewritten; the sequence number
 *   advances by gso_size per segment; FIN and PSH stay on the last segment only, CWR on the first only;
 *   the TCP checksum is computed from scratch (pseudo-header + header + payload).
 * - UDP (GSO_UDP_L4, "USO"): the same with the UDP length and checksum (0 is sent as 0xffff).
 * - No GSO but NEEDS_CSUM: the partial checksum at csum_start + csum_offset (which holds the
 *   pseudo-header sum) is completed over [csum_start, end).
 *
 * `hdr_len` from the kernel is not trusted (it can be the whole first packet on the forwarding path):
 * it is recomputed from csum_start and the L4 header, as wireguard-go does.
 *
 * The read goes into a separate pinned staging buffer; segments are copied into the slots, the copy
 * and the payload checksum done in one pass (`copyAndSum`). A slot's packet is placed at
 * `dataStart(i)` moved back by 0..3 bytes so that source and destination payloads share their 4-byte
 * alignment (word copies); it always stays at least 24 bytes into the slot (room for the DATA_V2
 * header the sealer prepends). When the batch fills up before the last segment, the rest stays
 * pending here and `emit` delivers it first next time.
 */
import type { PacketBatch } from '../batch/packet-batch.js';
import { allocPinned, type PinnedBuffer } from '../sys/address.js';
import { addressSum, copyAndSum, copyBytes, fold, onesSum } from './checksum.js';
import {
  VIRTIO_NET_HDR_F_NEEDS_CSUM,
  VIRTIO_NET_HDR_GSO_ECN,
  VIRTIO_NET_HDR_GSO_NONE,
  VIRTIO_NET_HDR_GSO_TCPV4,
  VIRTIO_NET_HDR_GSO_TCPV6,
  VIRTIO_NET_HDR_GSO_UDP_L4,
  VIRTIO_NET_HDR_LEN,
  VirtioNetHdr,
} from './virtio-hdr.js';

/** Largest IP packet (IPv4 total length / what a TUN read returns after the virtio header). */
export const MAX_IP_PACKET = 65535;
/** Bytes a slot's packet must leave in front of it (the DATA_V2 header and tag). */
const MIN_LEADING_ROOM = 24;

const IPPROTO_TCP = 6;
const IPPROTO_UDP = 17;
const TCP_FIN = 0x01;
const TCP_PSH = 0x08;
const TCP_CWR = 0x80;

/** `-x` in ones'-complement arithmetic for the 16-bit word at `buf[at]`: adding it removes x from a sum. */
function minus16(buf: Buffer, at: number): number {
  return ~((buf[at] << 8) | buf[at + 1]) & 0xffff;
}

/** What the current read is: nothing, a plain packet, a TCP or a UDP super-packet. */
const KIND_NONE = 0;
const KIND_PLAIN = 1;
const KIND_TCP = 2;
const KIND_UDP = 3;

/** Counters of what the splitter has seen (for tests and statistics). */
export interface GsoSplitStats {
  /** Reads accepted (plain packets and super-packets). */
  packets: number;
  /** Super-packets (gso_type != NONE). */
  superPackets: number;
  /** Segments produced from super-packets. */
  segments: number;
  /** Plain packets whose partial checksum was completed. */
  csumCompleted: number;
  /** Reads dropped: malformed header, unsupported GSO type, or a segment larger than a slot. */
  dropped: number;
}

export class GsoSplitter {
  /** Staging memory; a TUN read goes to `readOffset` (virtio header first), `readCapacity` bytes. */
  readonly staging: PinnedBuffer;
  /** The IP packet then starts at `readOffset + 10`, which is 4-byte aligned. */
  readonly readOffset = 2;
  readonly readCapacity = VIRTIO_NET_HDR_LEN + MAX_IP_PACKET;
  readonly stats: GsoSplitStats = { packets: 0, superPackets: 0, segments: 0, csumCompleted: 0, dropped: 0 };
  private readonly hdr = new VirtioNetHdr();

  // The packet being delivered (valid while `remaining > 0`).
  private kind = KIND_NONE;
  private remaining = 0;
  /** Offsets in `staging.buf`: IP header, end of packet, L4 header, first payload byte not yet sent. */
  private ip = 0;
  private end = 0;
  private l4 = 0;
  private next = 0;
  /** IP + L4 header length copied in front of each segment; the L4 part alone. */
  private hdrLen = 0;
  private l4HdrLen = 0;
  private gsoSize = 0;
  private segIndex = 0;
  private v6 = false;
  private ipv4Id = 0;
  private tcpSeq = 0;
  private addrSum = 0;
  /**
   * Sums of the template headers without the fields that change per segment (ones'-complement
   * subtraction: adding `~x`): IPv4 header without total length, ID and checksum; L4 header without
   * checksum and, for TCP, sequence number and flags byte, for UDP, length. Per segment only the new
   * field values are added.
   */
  private ipSum = 0;
  private l4Sum = 0;
  private csumAt = 0;

  constructor() {
    this.staging = allocPinned(this.readOffset + this.readCapacity);
  }

  /** Address to read() into. */
  get readAddr(): number {
    return this.staging.addr + this.readOffset;
  }

  /** True while segments of the last packet wait for room in a batch. */
  get pending(): boolean {
    return this.remaining > 0;
  }

  /** True right after `accept` of a TSO/USO super-packet (until its last segment is delivered). */
  get isSuper(): boolean {
    return this.kind === KIND_TCP || this.kind === KIND_UDP;
  }

  /** Packets (segments) still to deliver from the current read. */
  get pendingCount(): number {
    return this.remaining;
  }

  /** Forgets a pending remainder. */
  clear(): void {
    this.remaining = 0;
    this.kind = KIND_NONE;
  }

  /**
   * Takes the `n` bytes just read into `staging.buf[readOffset...]` (virtio header + IP packet).
   * Returns how many packets it will yield, 0 when the read is dropped (counted in `stats.dropped`).
   */
  accept(n: number): number {
    const buf = this.staging.buf;
    const ip = this.readOffset + VIRTIO_NET_HDR_LEN;
    const len = n - VIRTIO_NET_HDR_LEN;
    this.remaining = 0;
    if (len <= 0 || n > this.readCapacity) return this.drop();
    const h = this.hdr.decode(buf, this.readOffset);
    this.ip = ip;
    this.end = ip + len;
    this.stats.packets++;
    const gsoType = h.gsoType & ~VIRTIO_NET_HDR_GSO_ECN;
    if (gsoType === VIRTIO_NET_HDR_GSO_NONE) {
      this.kind = KIND_PLAIN;
      this.csumAt = -1;
      if ((h.flags & VIRTIO_NET_HDR_F_NEEDS_CSUM) !== 0) {
        if (h.csumStart + h.csumOffset + 2 > len) return this.drop();
        this.l4 = ip + h.csumStart;
        this.csumAt = this.l4 + h.csumOffset;
      }
      this.remaining = 1;
      return 1;
    }
    if (len < 20) return this.drop();
    const version = buf[ip] >>> 4;
    const v6 = version === 6;
    if (version !== 4 && !v6) return this.drop();
    let kind: number;
    if (gsoType === VIRTIO_NET_HDR_GSO_TCPV4 && !v6) kind = KIND_TCP;
    else if (gsoType === VIRTIO_NET_HDR_GSO_TCPV6 && v6) kind = KIND_TCP;
    else if (gsoType === VIRTIO_NET_HDR_GSO_UDP_L4) kind = KIND_UDP;
    else return this.drop();
    // csum_start is the L4 header; without NEEDS_CSUM (not seen in practice) take it from the IP header.
    let cs = h.csumStart;
    if ((h.flags & VIRTIO_NET_HDR_F_NEEDS_CSUM) === 0) {
      cs = v6 ? 40 : (buf[ip] & 0x0f) * 4;
      if (v6 && buf[ip + 6] !== (kind === KIND_TCP ? IPPROTO_TCP : IPPROTO_UDP)) return this.drop();
    }
    if (v6 ? cs < 40 : cs !== (buf[ip] & 0x0f) * 4 || cs < 20) return this.drop();
    let l4HdrLen = 8;
    if (kind === KIND_TCP) {
      if (cs + 20 > len) return this.drop();
      l4HdrLen = (buf[ip + cs + 12] >>> 4) * 4;
      if (l4HdrLen < 20) return this.drop();
    }
    const hdrLen = cs + l4HdrLen;
    if (hdrLen >= len || h.gsoSize === 0) return this.drop();
    this.kind = kind;
    this.v6 = v6;
    this.l4 = ip + cs;
    this.hdrLen = hdrLen;
    this.l4HdrLen = l4HdrLen;
    this.gsoSize = h.gsoSize;
    this.next = ip + hdrLen;
    this.segIndex = 0;
    this.ipv4Id = v6 ? 0 : buf.readUInt16BE(ip + 4);
    this.tcpSeq = kind === KIND_TCP ? buf.readUInt32BE(this.l4 + 4) : 0;
    this.addrSum = addressSum(buf, ip, v6) + (kind === KIND_TCP ? IPPROTO_TCP : IPPROTO_UDP);
    if (!v6)
      this.ipSum = onesSum(buf, ip, cs, minus16(buf, ip + 2) + minus16(buf, ip + 4) + minus16(buf, ip + 10));
    const l4 = this.l4;
    this.l4Sum =
      kind === KIND_TCP
        ? onesSum(buf, l4, l4HdrLen, minus16(buf, l4 + 4) + minus16(buf, l4 + 6) + (~buf[l4 + 13] & 0xffff)) +
          minus16(buf, l4 + 16)
        : onesSum(buf, l4, 8, minus16(buf, l4 + 4) + minus16(buf, l4 + 6));
    this.remaining = Math.ceil((len - hdrLen) / h.gsoSize);
    this.stats.superPackets++;
    return this.remaining;
  }

  /**
   * Writes pending packets into slots `first..batch.size` of `batch` (setting `offs`/`lens`), and
   * returns how many. Anything that does not fit stays pending. A packet larger than a slot drops the
   * whole read (counted), and 0 is returned for it.
   */
  emit(batch: PacketBatch, first: number): number {
    let slot = first;
    if (this.kind === KIND_PLAIN) {
      if (this.remaining === 0 || slot >= batch.size) return 0;
      if (!this.emitPlain(batch, slot)) {
        this.drop();
        return 0;
      }
      this.remaining = 0;
      this.kind = KIND_NONE;
      return 1;
    }
    while (this.remaining > 0 && slot < batch.size) {
      if (!this.emitSegment(batch, slot)) {
        this.drop();
        break;
      }
      slot++;
    }
    return slot - first;
  }

  private drop(): number {
    this.remaining = 0;
    this.kind = KIND_NONE;
    this.stats.dropped++;
    return 0;
  }

  /**
   * Where slot `slot`'s packet starts so that byte `at` of it lines up (mod 4) with `srcAt` in the
   * staging buffer: `dataStart` moved back by 0..3 bytes when the headroom allows it.
   */
  private placeFor(batch: PacketBatch, slot: number, at: number, srcAt: number): number {
    const start = batch.dataStart(slot);
    if (batch.headroom < MIN_LEADING_ROOM + 3) return start;
    const d = (batch.mem.buf.byteOffset + start + at - (this.staging.buf.byteOffset + srcAt)) & 3;
    return start - d;
  }

  private emitPlain(batch: PacketBatch, slot: number): boolean {
    const src = this.staging.buf;
    const len = this.end - this.ip;
    if (len > batch.maxPacket) return false;
    const dst = batch.mem.buf;
    const o = this.placeFor(batch, slot, 0, this.ip);
    if (this.csumAt < 0) copyBytes(src, this.ip, dst, o, len);
    else {
      // The field holds the pseudo-header sum: summing it in place completes the checksum.
      const head = this.l4 - this.ip;
      copyBytes(src, this.ip, dst, o, head);
      const sum = copyAndSum(src, this.l4, dst, o + head, this.end - this.l4);
      const c = ~sum & 0xffff;
      dst.writeUInt16BE(c === 0 ? 0xffff : c, o + (this.csumAt - this.ip));
      this.stats.csumCompleted++;
    }
    batch.offs[slot] = o;
    batch.lens[slot] = len;
    return true;
  }

  private emitSegment(batch: PacketBatch, slot: number): boolean {
    const src = this.staging.buf;
    const dst = batch.mem.buf;
    const hdrLen = this.hdrLen;
    const payload = this.next;
    const segLen = Math.min(this.gsoSize, this.end - payload);
    const total = hdrLen + segLen;
    if (total > batch.maxPacket) return false;
    const i = this.segIndex;
    const last = payload + segLen >= this.end;
    const o = this.placeFor(batch, slot, hdrLen, payload);
    const l4 = o + (this.l4 - this.ip);
    const l4Len = this.l4HdrLen + segLen;

    copyBytes(src, this.ip, dst, o, hdrLen);
    if (this.v6) dst.writeUInt16BE(total - 40, o + 4);
    else {
      const id = (this.ipv4Id + i) & 0xffff;
      dst.writeUInt16BE(total, o + 2);
      dst.writeUInt16BE(id, o + 4);
      dst.writeUInt16BE(~fold(this.ipSum + total + id) & 0xffff, o + 10);
    }
    let csumAt: number;
    let sum = this.l4Sum + this.addrSum + l4Len;
    if (this.kind === KIND_TCP) {
      const seq = (this.tcpSeq + i * this.gsoSize) >>> 0;
      dst.writeUInt32BE(seq, l4 + 4);
      let flags = dst[l4 + 13];
      if (!last) flags &= ~(TCP_FIN | TCP_PSH);
      if (i > 0) flags &= ~TCP_CWR;
      dst[l4 + 13] = flags;
      sum += (seq >>> 16) + (seq & 0xffff) + flags;
      csumAt = l4 + 16;
    } else {
      dst.writeUInt16BE(l4Len, l4 + 4);
      sum += l4Len;
      csumAt = l4 + 6;
    }
    sum += copyAndSum(src, payload, dst, o + hdrLen, segLen);
    const c = ~fold(sum) & 0xffff;
    dst.writeUInt16BE(c === 0 && this.kind === KIND_UDP ? 0xffff : c, csumAt);

    batch.offs[slot] = o;
    batch.lens[slot] = total;
    this.next = payload + segLen;
    this.segIndex = i + 1;
    this.remaining--;
    this.stats.segments++;
    if (this.remaining === 0) this.kind = KIND_NONE;
    return true;
  }
}
