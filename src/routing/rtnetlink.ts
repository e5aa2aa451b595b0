/**
 * The few rtnetlink messages route lookups need, encoded into and decoded from caller-owned Buffers
 * without allocating: an RTM_GETROUTE request (nlmsghdr + rtmsg + RTA_DST) and its answer
 * (RTM_NEWROUTE with RTA_GATEWAY, or NLMSG_ERROR), plus a scan of monitor datagrams for changes.
 *
 * Netlink headers are in host byte order; this module assumes a little-endian host (x86-64, arm64).
 * Addresses inside attributes are in network byte order.
 *
 * ```
 *  nlmsghdr (16): len u32 | type u16 | flags u16 | seq u32 | pid u32
 *  rtmsg    (12): family | dst_len | src_len | tos | table | protocol | scope | type | flags u32
 *  rtattr   ( 4): len u16 | type u16, then the payload, padded to 4 bytes
 * ```
 */

export const NETLINK_ROUTE = 0;
export const SOL_NETLINK = 270;
export const NETLINK_ADD_MEMBERSHIP = 1;

export const NLMSG_HDRLEN = 16;
export const RTMSG_LEN = 12;
export const RTA_HDRLEN = 4;

export const NLMSG_NOOP = 1;
export const NLMSG_ERROR = 2;
export const NLMSG_DONE = 3;
export const NLMSG_OVERRUN = 4;
export const NLM_F_REQUEST = 1;

export const RTM_NEWLINK = 16;
export const RTM_DELLINK = 17;
export const RTM_NEWADDR = 20;
export const RTM_DELADDR = 21;
export const RTM_NEWROUTE = 24;
export const RTM_DELROUTE = 25;
export const RTM_GETROUTE = 26;

export const RTA_DST = 1;
export const RTA_OIF = 4;
export const RTA_GATEWAY = 5;
export const RTA_VIA = 18;

export const RTN_UNICAST = 1;
export const RTN_LOCAL = 2;
export const RTN_BLACKHOLE = 6;
export const RTN_UNREACHABLE = 7;
export const RTN_PROHIBIT = 8;
export const RTN_THROW = 9;

/** Multicast groups (numbers for NETLINK_ADD_MEMBERSHIP, not bit masks). */
export const RTNLGRP_LINK = 1;
export const RTNLGRP_IPV4_IFADDR = 5;
export const RTNLGRP_IPV4_ROUTE = 7;
export const RTNLGRP_IPV6_IFADDR = 9;
export const RTNLGRP_IPV6_ROUTE = 11;

const FAMILY_INET = 2;
const FAMILY_INET6 = 10;

/** Rounds a netlink length up to the 4-byte alignment of messages and attributes. */
export function nlAlign(n: number): number {
  return (n + 3) & ~3;
}

function writeHeader(buf: Buffer, off: number, len: number, type: number, flags: number, seq: number): void {
  buf.writeUInt32LE(len, off);
  buf.writeUInt16LE(type, off + 4);
  buf.writeUInt16LE(flags, off + 6);
  buf.writeUInt32LE(seq >>> 0, off + 8);
  buf.writeUInt32LE(0, off + 12);
}

function writeRtmsg(buf: Buffer, off: number, family: number, dstLen: number): void {
  buf.fill(0, off, off + RTMSG_LEN);
  buf[off] = family;
  buf[off + 1] = dstLen;
}

/** Writes an RTM_GETROUTE request for IPv4 `dst` (a uint32) at `off`; returns its length (36). */
export function encodeGetRoute4(buf: Buffer, off: number, seq: number, dst: number): number {
  const len = NLMSG_HDRLEN + RTMSG_LEN + RTA_HDRLEN + 4;
  writeHeader(buf, off, len, RTM_GETROUTE, NLM_F_REQUEST, seq);
  writeRtmsg(buf, off + NLMSG_HDRLEN, FAMILY_INET, 32);
  const a = off + NLMSG_HDRLEN + RTMSG_LEN;
  buf.writeUInt16LE(RTA_HDRLEN + 4, a);
  buf.writeUInt16LE(RTA_DST, a + 2);
  buf.writeUInt32BE(dst >>> 0, a + 4);
  return len;
}

/** Writes an RTM_GETROUTE request for the IPv6 address `src[srcOff..+16)` at `off`; returns 48. */
export function encodeGetRoute6(buf: Buffer, off: number, seq: number, src: Buffer, srcOff: number): number {
  const len = NLMSG_HDRLEN + RTMSG_LEN + RTA_HDRLEN + 16;
  writeHeader(buf, off, len, RTM_GETROUTE, NLM_F_REQUEST, seq);
  writeRtmsg(buf, off + NLMSG_HDRLEN, FAMILY_INET6, 128);
  const a = off + NLMSG_HDRLEN + RTMSG_LEN;
  buf.writeUInt16LE(RTA_HDRLEN + 16, a);
  buf.writeUInt16LE(RTA_DST, a + 2);
  src.copy(buf, a + 4, srcOff, srcOff + 16);
  return len;
}

export function nlmsgLen(buf: Buffer, off: number): number {
  return buf.readUInt32LE(off);
}

export function nlmsgType(buf: Buffer, off: number): number {
  return buf.readUInt16LE(off + 4);
}

export function nlmsgSeq(buf: Buffer, off: number): number {
  return buf.readUInt32LE(off + 8);
}

/**
 * Offset of the next message after the one at `off` inside `buf[0, end)`, or -1 when the message at
 * `off` is not complete (so iteration stops).
 */
export function nlmsgNext(buf: Buffer, off: number, end: number): number {
  if (off + NLMSG_HDRLEN > end) return -1;
  const len = buf.readUInt32LE(off);
  if (len < NLMSG_HDRLEN || off + len > end) return -1;
  return off + nlAlign(len);
}

/** The errno (positive; 0 for an ack) carried by the NLMSG_ERROR message at `off`. */
export function nlmsgErrno(buf: Buffer, off: number): number {
  return -buf.readInt32LE(off + NLMSG_HDRLEN);
}

/**
 * Offset of the payload of the first attribute of `type` in the rtmsg-based message at `off`, or -1.
 * Its payload length is `rtaPayloadLen(buf, result)`.
 */
export function rtmFindAttr(buf: Buffer, off: number, type: number): number {
  const end = off + buf.readUInt32LE(off);
  let a = off + NLMSG_HDRLEN + RTMSG_LEN;
  while (a + RTA_HDRLEN <= end) {
    const alen = buf.readUInt16LE(a);
    if (alen < RTA_HDRLEN || a + alen > end) return -1;
    if ((buf.readUInt16LE(a + 2) & 0x3fff) === type) return a + RTA_HDRLEN;
    a += nlAlign(alen);
  }
  return -1;
}

/** Payload length of the attribute whose payload starts at `payloadOff`. */
export function rtaPayloadLen(buf: Buffer, payloadOff: number): number {
  return buf.readUInt16LE(payloadOff - RTA_HDRLEN) - RTA_HDRLEN;
}

/** What a route reply said. */
export const ROUTE_NONE = 0;
export const ROUTE_DIRECT = 1;
export const ROUTE_GATEWAY = 2;

/** The decoded answer to one RTM_GETROUTE request; reused between lookups. */
export class RouteReply {
  /** ROUTE_NONE (no usable route), ROUTE_DIRECT (no gateway) or ROUTE_GATEWAY. */
  kind = ROUTE_NONE;
  /** The errno of an NLMSG_ERROR answer (ENETUNREACH...), else 0. */
  error = 0;
  /** rtm_type of the route (RTN_UNICAST, RTN_LOCAL...), 0 for an error answer. */
  rtmType = 0;
  /** For ROUTE_GATEWAY: offset of the gateway address in the parsed Buffer, and its family. */
  gatewayOff = -1;
  gatewayFamily = 0;
}

function unusable(rtmType: number): boolean {
  return (
    rtmType === RTN_BLACKHOLE ||
    rtmType === RTN_UNREACHABLE ||
    rtmType === RTN_PROHIBIT ||
    rtmType === RTN_THROW
  );
}

/**
 * Looks in the datagram `buf[0, len)` for the answer to the request numbered `seq` and decodes it
 * into `out`. Returns false when the datagram holds no answer to `seq` (a stale answer to an earlier
 * request, for instance). `family` is the request's address family.
 */
export function parseRouteReply(
  buf: Buffer,
  len: number,
  seq: number,
  family: number,
  out: RouteReply,
): boolean {
  const want = seq >>> 0;
  for (let off = 0; off >= 0 && off < len; off = nlmsgNext(buf, off, len)) {
    if (nlmsgNext(buf, off, len) < 0) return false;
    if (nlmsgSeq(buf, off) !== want) continue;
    const type = nlmsgType(buf, off);
    out.kind = ROUTE_NONE;
    out.error = 0;
    out.rtmType = 0;
    out.gatewayOff = -1;
    out.gatewayFamily = 0;
    if (type === NLMSG_ERROR) {
      out.error = nlmsgErrno(buf, off);
      return true;
    }
    if (type !== RTM_NEWROUTE || nlmsgLen(buf, off) < NLMSG_HDRLEN + RTMSG_LEN) continue;
    out.rtmType = buf[off + NLMSG_HDRLEN + 7];
    if (unusable(out.rtmType)) return true;
    out.kind = ROUTE_DIRECT;
    const alen = family === FAMILY_INET ? 4 : 16;
    const gw = rtmFindAttr(buf, off, RTA_GATEWAY);
    if (gw >= 0 && rtaPayloadLen(buf, gw) === alen) {
      out.kind = ROUTE_GATEWAY;
      out.gatewayOff = gw;
      out.gatewayFamily = family;
      return true;
    }
    const via = rtmFindAttr(buf, off, RTA_VIA);
    if (via >= 0 && rtaPayloadLen(buf, via) >= 2) {
      // struct rtvia: u16 family (host order), then the address.
      const vf = buf.readUInt16LE(via);
      const vlen = vf === FAMILY_INET ? 4 : vf === FAMILY_INET6 ? 16 : -1;
      if (vlen > 0 && rtaPayloadLen(buf, via) >= 2 + vlen) {
        out.kind = ROUTE_GATEWAY;
        out.gatewayOff = via + 2;
        out.gatewayFamily = vf;
      }
    }
    return true;
  }
  return false;
}

/** True for the rtnetlink message types after which cached route answers may be stale. */
export function isRoutingChange(type: number): boolean {
  return (
    type === RTM_NEWROUTE ||
    type === RTM_DELROUTE ||
    type === RTM_NEWADDR ||
    type === RTM_DELADDR ||
    type === RTM_NEWLINK ||
    type === RTM_DELLINK
  );
}

/** Number of messages in the monitor datagram `buf[0, len)` that may change route answers. */
export function countRoutingChanges(buf: Buffer, len: number): number {
  let n = 0;
  for (let off = 0; off >= 0 && off < len; off = nlmsgNext(buf, off, len)) {
    if (nlmsgNext(buf, off, len) < 0) break;
    const t = nlmsgType(buf, off);
    if (isRoutingChange(t) || t === NLMSG_OVERRUN) n++;
  }
  return n;
}
