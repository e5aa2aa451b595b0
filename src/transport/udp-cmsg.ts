/**
 * The ancillary data (cmsgs) of the UDP transport, read and written in place in its arenas
 * (udp-arena.ts): IP_PKTINFO / IPV6_PKTINFO both ways (the destination address of a received
 * datagram, the source address of a sent one), UDP_GRO on receive and UDP_SEGMENT on send.
 */

import type { Endpoint } from '../net/endpoint.js';
import {
  EADDRNOTAVAIL,
  EINVAL,
  ENETUNREACH,
  IP_PKTINFO,
  IPPROTO_IP,
  IPPROTO_IPV6,
  IPV6_PKTINFO,
} from '../sys/libc.js';
import { LOCAL, RX_CTRL, type RxArena, SEG_CMSG, SOL_UDP, UDP_GRO, UDP_SEGMENT } from './udp-arena.js';

/**
 * A local (source) address to send from: what the kernel keeps as a peer's local IP (spec §5.3).
 * `addr` holds 4 or 16 bytes; `ifindex` (IPv6 only, 0 = any) pins the outgoing interface.
 */
export interface SourceAddress {
  readonly family: 4 | 6;
  readonly addr: Buffer;
  readonly ifindex?: number;
}

/**
 * Errors the kernel gives for a source address that is not (or no longer) local: EINVAL (IPv6, and
 * IPv4 on some paths) or ENETUNREACH (IPv4 route lookup with a foreign source). The datagram is sent
 * again without a source; only if that works was the source the problem.
 */
export function badSource(e: number): boolean {
  return e === EINVAL || e === EADDRNOTAVAIL || e === ENETUNREACH;
}

/**
 * Walks RX slot i's cmsgs (`clen` bytes): records the destination address from IP_PKTINFO /
 * IPV6_PKTINFO in the arena's local arrays, and returns the UDP_GRO segment size (0 if none: the
 * slot holds one datagram).
 */
export function readRxCmsgs(rx: RxArena, i: number, clen: number): number {
  let seg = 0;
  const u = rx.u32;
  const cw = (rx.ctrlOff + i * RX_CTRL) >>> 2;
  const lw = (rx.localOff + i * LOCAL) >>> 2;
  const end = Math.min(clen, RX_CTRL);
  let p = 0;
  while (p + 16 <= end) {
    const w = cw + (p >>> 2);
    const len = u[w];
    if (len < 16 || u[w + 1] !== 0 || p + len > end) break;
    const level = u[w + 2];
    const type = u[w + 3];
    if (level === IPPROTO_IP && type === IP_PKTINFO && len >= 28) {
      rx.localIfindex[i] = u[w + 4];
      u[lw] = u[w + 6]; // ipi_addr: the header's destination address
      u[lw + 1] = 0;
      u[lw + 2] = 0;
      u[lw + 3] = 0;
      rx.localFamily[i] = 4;
    } else if (level === IPPROTO_IPV6 && type === IPV6_PKTINFO && len >= 36) {
      rx.localIfindex[i] = u[w + 8];
      if (u[w + 4] === 0 && u[w + 5] === 0 && u[w + 6] === 0xffff0000) {
        u[lw] = u[w + 7];
        u[lw + 1] = 0;
        u[lw + 2] = 0;
        u[lw + 3] = 0;
        rx.localFamily[i] = 4;
      } else {
        u[lw] = u[w + 4];
        u[lw + 1] = u[w + 5];
        u[lw + 2] = u[w + 6];
        u[lw + 3] = u[w + 7];
        rx.localFamily[i] = 6;
      }
    } else if (level === SOL_UDP && type === UDP_GRO && len >= 20) {
      seg = u[w + 4];
    }
    p += (len + 7) & ~7;
  }
  return seg;
}

/** Writes a UDP_SEGMENT cmsg of segment size `seg` at word index `w`; returns its length. */
export function writeSegmentCmsg(u: Uint32Array, w: number, seg: number): number {
  u[w] = 18; // CMSG_LEN(sizeof(u16))
  u[w + 1] = 0;
  u[w + 2] = SOL_UDP;
  u[w + 3] = UDP_SEGMENT;
  u[w + 4] = seg; // u16, little-endian, then padding
  u[w + 5] = 0;
  return SEG_CMSG;
}

/** Writes an IP_PKTINFO/IPV6_PKTINFO cmsg for `src` at word index `w`; returns its length. */
export function writeSourceCmsg(u: Uint32Array, w: number, src: SourceAddress, dest: Endpoint): number {
  if (src.family === 4 && dest.family === 4) {
    // struct in_pktinfo { int ifindex; in_addr spec_dst; in_addr addr }: spec_dst is the source.
    u[w] = 28;
    u[w + 1] = 0;
    u[w + 2] = IPPROTO_IP;
    u[w + 3] = IP_PKTINFO;
    u[w + 4] = 0;
    u[w + 5] = src.addr.readUInt32LE(0);
    u[w + 6] = 0;
    u[w + 7] = 0;
    return 32;
  }
  if (src.family === 6 && dest.family === 6) {
    // struct in6_pktinfo { in6_addr addr; int ifindex }
    u[w] = 36;
    u[w + 1] = 0;
    u[w + 2] = IPPROTO_IPV6;
    u[w + 3] = IPV6_PKTINFO;
    u[w + 4] = src.addr.readUInt32LE(0);
    u[w + 5] = src.addr.readUInt32LE(4);
    u[w + 6] = src.addr.readUInt32LE(8);
    u[w + 7] = src.addr.readUInt32LE(12);
    u[w + 8] = src.ifindex ?? 0;
    u[w + 9] = 0;
    return 40;
  }
  return 0;
}
