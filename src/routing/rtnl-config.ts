/**
 * Configuring links, addresses and routes through rtnetlink, synchronously, each request acked: what
 * OpenVPN 2.6 does through networking_sitnl.c (net_iface_up, net_iface_mtu_set, net_addr_v4_add,
 * net_addr_ptp_v4_add, net_addr_v6_add, net_route_v4_add/_del, net_route_v6_add/_del, and the
 * RTM_GETROUTE lookups behind get_default_gateway).
 *
 * The encoders are pure (they fill a caller's Buffer and return the length) so that the byte layout
 * can be unit-tested; `Rtnl` owns one NETLINK_ROUTE socket and turns an NLMSG_ERROR answer into an
 * OvpnError naming the request and the errno ("RTM_NEWROUTE 10.99.1.0/24 via 10.98.0.1: EEXIST (File
 * exists)"). Host byte order is little-endian (as in rtnetlink.ts).
 *
 * ```
 *  ifinfomsg (16): family | pad | type u16 | index i32 | flags u32 | change u32
 *  ifaddrmsg  (8): family | prefixlen | flags | scope | index u32
 *  rtmsg     (12): family | dst_len | src_len | tos | table | protocol | scope | type | flags u32
 * ```
 */
import { OvpnError } from '../errors/ovpn-error.js';
import { formatIPv4, formatIPv6 } from '../net/ip-address.js';
import { allocPinned, type PinnedBuffer } from '../sys/address.js';
import { errnoCode, errnoName, sysError } from '../sys/errno.js';
import {
  AF_INET,
  AF_INET6,
  AF_NETLINK,
  bind,
  close,
  EINTR,
  errno,
  recv,
  SOCK_CLOEXEC,
  SOCK_RAW,
  SOL_SOCKET,
  sendto,
  setsockopt,
  socket,
  strerror,
} from '../sys/libc.js';
import {
  NETLINK_ROUTE,
  NLM_F_REQUEST,
  NLMSG_DONE,
  NLMSG_ERROR,
  NLMSG_HDRLEN,
  nlAlign,
  nlmsgNext,
  RTA_DST,
  RTA_GATEWAY,
  RTA_OIF,
  RTM_DELADDR,
  RTM_DELROUTE,
  RTM_GETROUTE,
  RTM_NEWADDR,
  RTM_NEWLINK,
  RTM_NEWROUTE,
  RTMSG_LEN,
  RTN_UNICAST,
} from './rtnetlink.js';

export const NLM_F_ACK = 0x4;
export const NLM_F_REPLACE = 0x100;
export const NLM_F_EXCL = 0x200;
export const NLM_F_CREATE = 0x400;
export const NLM_F_DUMP = 0x300;

export const IFINFOMSG_LEN = 16;
export const IFADDRMSG_LEN = 8;
export const IFLA_MTU = 4;
export const IFF_UP = 0x1;
export const IFA_ADDRESS = 1;
export const IFA_LOCAL = 2;
export const IFA_FLAGS = 8;
export const IFA_F_NODAD = 0x02;
export const RTA_PRIORITY = 6;
export const RTA_TABLE = 15;
export const RT_TABLE_MAIN = 254;
export const RTPROT_BOOT = 3;
export const RT_SCOPE_UNIVERSE = 0;
export const RT_SCOPE_LINK = 253;
export const RT_SCOPE_NOWHERE = 255;
/** rtm_flags: the next hop is on-link whatever the routes say. */
export const RTNH_F_ONLINK = 4;

const SO_RCVTIMEO = 20;
const BUF_SIZE = 65536;

/** 4 (IPv4) or 16 (IPv6) address bytes, in network order. */
export type AddrBytes = Buffer;

function familyOf(a: AddrBytes): number {
  return a.length === 4 ? AF_INET : AF_INET6;
}

function header(buf: Buffer, type: number, flags: number, seq: number): void {
  buf.writeUInt16LE(type, 4);
  buf.writeUInt16LE(flags, 6);
  buf.writeUInt32LE(seq >>> 0, 8);
  buf.writeUInt32LE(0, 12);
}

/** Appends an attribute at `off`; returns the offset after it (aligned). */
function attr(buf: Buffer, off: number, type: number, payload: Buffer): number {
  buf.writeUInt16LE(4 + payload.length, off);
  buf.writeUInt16LE(type, off + 2);
  payload.copy(buf, off + 4);
  const end = off + nlAlign(4 + payload.length);
  buf.fill(0, off + 4 + payload.length, end);
  return end;
}

function u32(v: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(v >>> 0);
  return b;
}

function finish(buf: Buffer, len: number): number {
  buf.writeUInt32LE(len, 0);
  return len;
}

/** RTM_NEWLINK for `ifindex`: IFF_UP set or cleared when `up` is given, IFLA_MTU when `mtu` is. */
export function encodeSetLink(
  buf: Buffer,
  seq: number,
  ifindex: number,
  opts: { up?: boolean; mtu?: number },
): number {
  header(buf, RTM_NEWLINK, NLM_F_REQUEST | NLM_F_ACK, seq);
  const m = NLMSG_HDRLEN;
  buf.fill(0, m, m + IFINFOMSG_LEN);
  buf.writeInt32LE(ifindex, m + 4);
  if (opts.up !== undefined) {
    buf.writeUInt32LE(opts.up ? IFF_UP : 0, m + 8);
    buf.writeUInt32LE(IFF_UP, m + 12);
  }
  let off = m + IFINFOMSG_LEN;
  if (opts.mtu !== undefined) off = attr(buf, off, IFLA_MTU, u32(opts.mtu));
  return finish(buf, off);
}

/**
 * RTM_NEWADDR (create, replace: as sitnl_addr_set) or RTM_DELADDR of `local`/`prefixLen` on
 * `ifindex`, with `peer` as IFA_ADDRESS for a point-to-point address; IPv6 addresses get NODAD.
 */
export function encodeAddr(
  buf: Buffer,
  seq: number,
  op: 'add' | 'del',
  ifindex: number,
  local: AddrBytes,
  prefixLen: number,
  peer?: AddrBytes,
): number {
  const add = op === 'add';
  header(
    buf,
    add ? RTM_NEWADDR : RTM_DELADDR,
    NLM_F_REQUEST | NLM_F_ACK | (add ? NLM_F_CREATE | NLM_F_REPLACE : 0),
    seq,
  );
  const m = NLMSG_HDRLEN;
  buf.fill(0, m, m + IFADDRMSG_LEN);
  const family = familyOf(local);
  buf[m] = family;
  buf[m + 1] = prefixLen;
  buf.writeUInt32LE(ifindex, m + 4);
  let off = m + IFADDRMSG_LEN;
  off = attr(buf, off, IFA_LOCAL, local);
  off = attr(buf, off, IFA_ADDRESS, peer ?? local);
  if (family === AF_INET6 && add) off = attr(buf, off, IFA_FLAGS, u32(IFA_F_NODAD));
  return finish(buf, off);
}

/** One route of the main table. */
export interface RouteSpec {
  /** The destination network (host bits are cleared by the kernel's checks, so pass them clear). */
  dst: AddrBytes;
  prefixLen: number;
  gateway?: AddrBytes;
  /** Output interface; with no gateway the route is on-link (scope link). */
  oif?: number;
  /** RTA_PRIORITY; absent or 0: none. */
  metric?: number;
  /**
   * RTNH_F_ONLINK: the gateway is taken as reachable on `oif` even when no on-link route covers it
   * (a server's iroute via a client VPN address that only a gatewayed route covers, as in net30).
   */
  onlink?: boolean;
}

/**
 * RTM_NEWROUTE (create, exclusive: an existing route is EEXIST and not ours to delete later) or
 * RTM_DELROUTE for `r` in the main table (sitnl_route_add / sitnl_route_del).
 */
export function encodeRoute(buf: Buffer, seq: number, op: 'add' | 'del', r: RouteSpec): number {
  const add = op === 'add';
  header(
    buf,
    add ? RTM_NEWROUTE : RTM_DELROUTE,
    NLM_F_REQUEST | NLM_F_ACK | (add ? NLM_F_CREATE | NLM_F_EXCL : 0),
    seq,
  );
  const m = NLMSG_HDRLEN;
  buf.fill(0, m, m + RTMSG_LEN);
  buf[m] = familyOf(r.dst);
  buf[m + 1] = r.prefixLen;
  buf[m + 4] = RT_TABLE_MAIN;
  if (add) {
    buf[m + 5] = RTPROT_BOOT;
    buf[m + 6] = r.gateway === undefined && r.oif !== undefined ? RT_SCOPE_LINK : RT_SCOPE_UNIVERSE;
    buf[m + 7] = RTN_UNICAST;
    if (r.onlink === true) buf.writeUInt32LE(RTNH_F_ONLINK, m + 8);
  } else {
    buf[m + 6] = RT_SCOPE_NOWHERE;
  }
  let off = m + RTMSG_LEN;
  off = attr(buf, off, RTA_DST, r.dst);
  if (r.gateway !== undefined) off = attr(buf, off, RTA_GATEWAY, r.gateway);
  if (r.oif !== undefined && r.oif > 0) off = attr(buf, off, RTA_OIF, u32(r.oif));
  if (r.metric !== undefined && r.metric > 0) off = attr(buf, off, RTA_PRIORITY, u32(r.metric));
  return finish(buf, off);
}

/** RTM_GETROUTE for one address (the kernel's answer for a packet to it). */
export function encodeGetRoute(buf: Buffer, seq: number, dst: AddrBytes): number {
  header(buf, RTM_GETROUTE, NLM_F_REQUEST, seq);
  const m = NLMSG_HDRLEN;
  buf.fill(0, m, m + RTMSG_LEN);
  buf[m] = familyOf(dst);
  buf[m + 1] = dst.length * 8;
  return finish(buf, attr(buf, m + RTMSG_LEN, RTA_DST, dst));
}

/** RTM_GETROUTE dump of a family's routes (to find the default route, as get_default_gateway). */
export function encodeDumpRoutes(buf: Buffer, seq: number, family: number): number {
  header(buf, RTM_GETROUTE, NLM_F_REQUEST | NLM_F_DUMP, seq);
  const m = NLMSG_HDRLEN;
  buf.fill(0, m, m + RTMSG_LEN);
  buf[m] = family;
  return finish(buf, m + RTMSG_LEN);
}

/** A route message decoded (only what the client needs). */
export interface RouteInfo {
  family: number;
  dstLen: number;
  table: number;
  type: number;
  dst: AddrBytes | undefined;
  gateway: AddrBytes | undefined;
  oif: number | undefined;
  metric: number;
}

/** Decodes the RTM_NEWROUTE message at `off` of `buf`. */
export function decodeRoute(buf: Buffer, off: number): RouteInfo {
  const len = buf.readUInt32LE(off);
  const m = off + NLMSG_HDRLEN;
  const r: RouteInfo = {
    family: buf[m],
    dstLen: buf[m + 1],
    table: buf[m + 4],
    type: buf[m + 7],
    dst: undefined,
    gateway: undefined,
    oif: undefined,
    metric: 0,
  };
  const end = off + len;
  for (let a = m + RTMSG_LEN; a + 4 <= end; ) {
    const alen = buf.readUInt16LE(a);
    if (alen < 4 || a + alen > end) break;
    const type = buf.readUInt16LE(a + 2) & 0x3fff;
    const p = buf.subarray(a + 4, a + alen);
    if (type === RTA_DST) r.dst = Buffer.from(p);
    else if (type === RTA_GATEWAY) r.gateway = Buffer.from(p);
    else if (type === RTA_OIF && p.length >= 4) r.oif = p.readUInt32LE(0);
    else if (type === RTA_PRIORITY && p.length >= 4) r.metric = p.readUInt32LE(0);
    else if (type === RTA_TABLE && p.length >= 4) r.table = p.readUInt32LE(0);
    a += nlAlign(alen);
  }
  return r;
}

/** Text of an address in network-order bytes. */
export function formatAddr(a: AddrBytes): string {
  return a.length === 4 ? formatIPv4(a) : formatIPv6(a);
}

/** `10.0.0.0/8 via 10.8.0.1 dev #5 metric 2`, for messages. */
export function describeRoute(r: RouteSpec): string {
  let s = `${formatAddr(r.dst)}/${r.prefixLen}`;
  if (r.gateway !== undefined) s += ` via ${formatAddr(r.gateway)}`;
  if (r.oif !== undefined) s += ` dev #${r.oif}`;
  if (r.metric !== undefined && r.metric > 0) s += ` metric ${r.metric}`;
  return s;
}

/** A failed rtnetlink request; `errno` is the kernel's (EEXIST, ESRCH, ENODEV...). */
export class RtnlError extends OvpnError {
  constructor(
    /** The kernel's errno (positive). */
    readonly sysErrno: number,
    what: string,
  ) {
    super(errnoCode(sysErrno), `${what}: ${errnoName(sysErrno)} (${strerror(sysErrno)})`);
  }
}

/** One NETLINK_ROUTE socket for synchronous requests. Close it when done. */
export class Rtnl {
  private readonly fd: number;
  private readonly tx: PinnedBuffer;
  private readonly rx: PinnedBuffer;
  private seq = Math.floor(Date.now() / 1000) >>> 0;
  private closed = false;

  constructor() {
    const fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
    if (fd < 0) throw sysError('rtnetlink socket', errno());
    const sa = Buffer.alloc(12);
    sa.writeUInt16LE(AF_NETLINK, 0);
    // a blocking socket whose reads give up after 2 s: the kernel answers inside sendto
    const tv = Buffer.alloc(16);
    tv.writeBigInt64LE(2n, 0);
    if (bind(fd, sa, sa.length) !== 0 || setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, tv, tv.length) !== 0) {
      const e = sysError('rtnetlink bind', errno());
      close(fd);
      throw e;
    }
    this.fd = fd;
    this.tx = allocPinned(4096);
    this.rx = allocPinned(BUF_SIZE);
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    close(this.fd);
  }

  /** Sets the link up/down and/or its MTU. */
  setLink(ifindex: number, opts: { up?: boolean; mtu?: number }): void {
    const what = `RTM_NEWLINK #${ifindex}${opts.up === undefined ? '' : opts.up ? ' up' : ' down'}${opts.mtu === undefined ? '' : ` mtu ${opts.mtu}`}`;
    this.request(encodeSetLink(this.tx.buf, this.nextSeq(), ifindex, opts), what);
  }

  addAddress(ifindex: number, local: AddrBytes, prefixLen: number, peer?: AddrBytes): void {
    const len = encodeAddr(this.tx.buf, this.nextSeq(), 'add', ifindex, local, prefixLen, peer);
    this.request(
      len,
      `RTM_NEWADDR ${formatAddr(local)}/${prefixLen}${peer ? ` peer ${formatAddr(peer)}` : ''}`,
    );
  }

  delAddress(ifindex: number, local: AddrBytes, prefixLen: number, peer?: AddrBytes): void {
    const len = encodeAddr(this.tx.buf, this.nextSeq(), 'del', ifindex, local, prefixLen, peer);
    this.request(len, `RTM_DELADDR ${formatAddr(local)}/${prefixLen}`);
  }

  addRoute(r: RouteSpec): void {
    this.request(encodeRoute(this.tx.buf, this.nextSeq(), 'add', r), `RTM_NEWROUTE ${describeRoute(r)}`);
  }

  delRoute(r: RouteSpec): void {
    this.request(encodeRoute(this.tx.buf, this.nextSeq(), 'del', r), `RTM_DELROUTE ${describeRoute(r)}`);
  }

  /** The route the kernel would use towards `dst`, or undefined when it has none (ENETUNREACH...). */
  getRoute(dst: AddrBytes): RouteInfo | undefined {
    const seq = this.nextSeq();
    this.send(encodeGetRoute(this.tx.buf, seq, dst), 'RTM_GETROUTE');
    let found: RouteInfo | undefined;
    this.readAnswers(seq, `RTM_GETROUTE ${formatAddr(dst)}`, (off, type) => {
      if (type === RTM_NEWROUTE) found = decodeRoute(this.rx.buf, off);
      return true;
    });
    return found;
  }

  /** The main table's default route of `family` with the lowest metric, if any (get_default_gateway). */
  defaultRoute(family: 4 | 6): RouteInfo | undefined {
    const seq = this.nextSeq();
    this.send(encodeDumpRoutes(this.tx.buf, seq, family === 4 ? AF_INET : AF_INET6), 'RTM_GETROUTE dump');
    let best: RouteInfo | undefined;
    this.readAnswers(seq, 'RTM_GETROUTE dump', (off, type) => {
      if (type === NLMSG_DONE) return true;
      if (type === RTM_NEWROUTE) {
        const r = decodeRoute(this.rx.buf, off);
        if (r.dstLen === 0 && r.table === RT_TABLE_MAIN && r.type === RTN_UNICAST) {
          if (best === undefined || r.metric < best.metric) best = r;
        }
      }
      return false;
    });
    return best;
  }

  private nextSeq(): number {
    this.seq = (this.seq + 1) >>> 0 || 1;
    return this.seq;
  }

  private send(len: number, what: string): void {
    if (this.closed) throw new OvpnError('EIO', `${what}: the rtnetlink socket is closed`);
    for (;;) {
      if (sendto(this.fd, this.tx.addr, len, 0, 0, 0) >= 0) return;
      const e = errno();
      if (e !== EINTR) throw new RtnlError(e, what);
    }
  }

  /** Sends an acked request and throws an RtnlError if the kernel refused it. */
  private request(len: number, what: string): void {
    const seq = this.tx.buf.readUInt32LE(8);
    this.send(len, what);
    this.readAnswers(seq, what, () => true);
  }

  /**
   * Reads datagrams until `onMessage` returns true for a message of `seq` (an NLMSG_ERROR with errno
   * 0, an ack, ends it too; a non-zero errno throws).
   */
  private readAnswers(seq: number, what: string, onMessage: (off: number, type: number) => boolean): void {
    for (;;) {
      const n = recv(this.fd, this.rx.addr, BUF_SIZE, 0);
      if (n < 0) {
        const e = errno();
        if (e === EINTR) continue;
        throw new RtnlError(e, `${what}: no answer`);
      }
      const buf = this.rx.buf;
      const end = Math.min(n, BUF_SIZE);
      for (let off = 0; off >= 0 && off < end; off = nlmsgNext(buf, off, end)) {
        if (nlmsgNext(buf, off, end) < 0) break;
        if (buf.readUInt32LE(off + 8) !== seq) continue;
        const type = buf.readUInt16LE(off + 4);
        if (type === NLMSG_ERROR) {
          const e = -buf.readInt32LE(off + NLMSG_HDRLEN);
          if (e !== 0) throw new RtnlError(e, what);
          return;
        }
        if (onMessage(off, type)) return;
      }
    }
  }
}
