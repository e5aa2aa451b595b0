/**
 * Creating the UDP sockets that control planes, the demo and tests hand to the data plane
 * (`UdpTransport.attach` takes a dup of the fd returned here).
 *
 * family 6 makes a dual-stack socket (IPV6_V6ONLY=0) bound to [::]:port, so one socket serves IPv4 and
 * IPv6 peers as the kernel selftest client's does (spec ovpn-kernel §5.1). family 4 binds 0.0.0.0:port.
 * An explicit `address` narrows the bind; on a family-6 socket an IPv4 address is bound as its
 * v4-mapped form (which makes the socket IPv4-only). IPv6 text may carry a scope ("fe80::1%eth0").
 *
 * Also the checks and settings `UdpTransport.attach` applies to the socket it is given.
 */
import { describe, OvpnError } from '../errors/ovpn-error.js';
import { parseIPv4, parseIPv6 } from '../net/ip-address.js';
import { errnoName, sysError } from '../sys/errno.js';
import {
  AF_INET,
  AF_INET6,
  bind,
  close,
  errno,
  getsockname,
  getsockoptInt,
  IP_PKTINFO,
  IPPROTO_IP,
  IPPROTO_IPV6,
  IPPROTO_UDP,
  IPV6_RECVPKTINFO,
  IPV6_V6ONLY,
  ifNameToIndex,
  SO_DOMAIN,
  SO_MARK,
  SO_PROTOCOL,
  SO_RCVBUF,
  SO_RCVBUFFORCE,
  SO_REUSEADDR,
  SO_REUSEPORT,
  SO_SNDBUF,
  SO_SNDBUFFORCE,
  SO_TYPE,
  SOCK_CLOEXEC,
  SOCK_DGRAM,
  SOL_SOCKET,
  setNonBlocking,
  setsockoptInt,
  socket,
} from '../sys/libc.js';

export interface UdpSocketOptions {
  /** 6: dual-stack AF_INET6 socket; 4: AF_INET socket. */
  family: 4 | 6;
  /** Port to bind; 0 lets the kernel pick one (read it back with `UdpTransport.localPort`). */
  port: number;
  /** Address to bind instead of the wildcard. */
  address?: string;
  /** SO_MARK for every packet sent from the socket (needs CAP_NET_ADMIN). */
  mark?: number;
  /** SO_REUSEADDR and SO_REUSEPORT. */
  reuse?: boolean;
  /** family 6: IPV6_V6ONLY on (IPv6 peers only; `bind ipv6only`). Default off: dual-stack. */
  v6only?: boolean;
}

/** Creates, configures and binds a UDP socket; returns its fd (close-on-exec, blocking). */
export function createUdpSocket(opts: UdpSocketOptions): number {
  const { family, port } = opts;
  if (family !== 4 && family !== 6)
    throw new OvpnError('EAFNOSUPPORT', `family must be 4 or 6, not ${describe(family)}`);
  if (!Number.isInteger(port) || port < 0 || port > 65535)
    throw new OvpnError('EINVAL', `not a UDP port: ${describe(port)}`, 'local-port');
  if (opts.address !== undefined && typeof opts.address !== 'string') {
    throw new OvpnError('EINVAL', `the address must be text, not ${describe(opts.address)}`, 'local-ip');
  }
  if (opts.mark !== undefined && (!Number.isInteger(opts.mark) || opts.mark < 0 || opts.mark > 0xffffffff)) {
    throw new OvpnError('EINVAL', `not a socket mark: ${describe(opts.mark)}`, 'mark');
  }
  const sa = encodeBindAddress(family, port, opts.address);
  const fd = socket(family === 6 ? AF_INET6 : AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, IPPROTO_UDP);
  if (fd < 0) throw sysError('socket', errno());
  try {
    const opt = (level: number, name: number, value: number, what: string) => {
      if (setsockoptInt(fd, level, name, value) !== 0) throw sysError(what, errno());
    };
    if (family === 6) opt(IPPROTO_IPV6, IPV6_V6ONLY, opts.v6only ? 1 : 0, 'setsockopt IPV6_V6ONLY');
    if (opts.reuse) {
      opt(SOL_SOCKET, SO_REUSEADDR, 1, 'setsockopt SO_REUSEADDR');
      opt(SOL_SOCKET, SO_REUSEPORT, 1, 'setsockopt SO_REUSEPORT');
    }
    if (opts.mark !== undefined) opt(SOL_SOCKET, SO_MARK, opts.mark | 0, `setsockopt SO_MARK ${opts.mark}`);
    if (bind(fd, sa, sa.length) !== 0) {
      const host = opts.address ?? (family === 6 ? '::' : '0.0.0.0');
      throw sysError(`bind ${family === 6 ? `[${host}]` : host}:${port}`, errno());
    }
  } catch (err) {
    close(fd);
    throw err;
  }
  return fd;
}

/** Socket buffer size asked for with SO_RCVBUFFORCE/SO_SNDBUFFORCE (the kernel doubles it). */
export const UDP_SOCKET_BUFFER = 4 << 20;

/** What `prepareUdpSocket` learned about a socket. */
export interface PreparedUdpSocket {
  /** Address family of the socket: 4 (AF_INET) or 6 (AF_INET6). */
  readonly domain: 4 | 6;
  /** AF_INET6 socket with IPV6_V6ONLY set. */
  readonly v6Only: boolean;
}

/**
 * Readies a UDP socket fd for UdpTransport: makes it non-blocking, turns on pktinfo reception and
 * raises its buffers to UDP_SOCKET_BUFFER. Throws ENOTSOCK for anything but a UDP socket, or the
 * closest code of a failed call; the fd stays open and owned by the caller either way.
 */
export function prepareUdpSocket(fd: number): PreparedUdpSocket {
  const type = getsockoptInt(fd, SOL_SOCKET, SO_TYPE);
  if (type === undefined) {
    const e = errno();
    throw new OvpnError('ENOTSOCK', `fd ${fd} is not a socket (${errnoName(e)})`, 'socket');
  }
  const proto = getsockoptInt(fd, SOL_SOCKET, SO_PROTOCOL);
  const dom = getsockoptInt(fd, SOL_SOCKET, SO_DOMAIN);
  if (type !== SOCK_DGRAM || proto !== IPPROTO_UDP || (dom !== AF_INET && dom !== AF_INET6)) {
    throw new OvpnError(
      'ENOTSOCK',
      `fd ${fd} is not a UDP socket (domain ${dom}, type ${type}, protocol ${proto})`,
      'socket',
    );
  }
  const domain: 4 | 6 = dom === AF_INET6 ? 6 : 4;
  if (!setNonBlocking(fd)) throw sysError('fcntl O_NONBLOCK', errno());
  if (setsockoptInt(fd, IPPROTO_IP, IP_PKTINFO, 1) !== 0 && domain === 4)
    throw sysError('setsockopt IP_PKTINFO', errno());
  let v6Only = false;
  if (domain === 6) {
    if (setsockoptInt(fd, IPPROTO_IPV6, IPV6_RECVPKTINFO, 1) !== 0)
      throw sysError('setsockopt IPV6_RECVPKTINFO', errno());
    v6Only = getsockoptInt(fd, IPPROTO_IPV6, IPV6_V6ONLY) === 1;
  }
  for (const [force, plain] of [
    [SO_RCVBUFFORCE, SO_RCVBUF],
    [SO_SNDBUFFORCE, SO_SNDBUF],
  ]) {
    if (setsockoptInt(fd, SOL_SOCKET, force, UDP_SOCKET_BUFFER) !== 0)
      setsockoptInt(fd, SOL_SOCKET, plain, UDP_SOCKET_BUFFER);
  }
  return { domain, v6Only };
}

/** The port socket `fd` is bound to (0 if unbound or on error). */
export function boundPort(fd: number): number {
  const sa = Buffer.alloc(32);
  const len = Buffer.alloc(4);
  len.writeUInt32LE(32, 0);
  return getsockname(fd, sa, len) === 0 ? sa.readUInt16BE(2) : 0;
}

/** sockaddr_in (16 bytes) or sockaddr_in6 (28 bytes) for bind. */
function encodeBindAddress(family: 4 | 6, port: number, address: string | undefined): Buffer {
  if (family === 4) {
    const sa = Buffer.alloc(16);
    sa.writeUInt16LE(AF_INET, 0);
    sa.writeUInt16BE(port, 2);
    if (address !== undefined) {
      if (address.includes(':'))
        throw new OvpnError('EAFNOSUPPORT', `cannot bind an IPv4 socket to ${address}`, 'local-ip');
      parseIPv4(address, 'local-ip').copy(sa, 4);
    }
    return sa;
  }
  const sa = Buffer.alloc(28);
  sa.writeUInt16LE(AF_INET6, 0);
  sa.writeUInt16BE(port, 2);
  if (address !== undefined) {
    if (address.includes(':')) {
      parseIPv6(address, 'local-ip').copy(sa, 8);
      const pct = address.indexOf('%');
      if (pct >= 0) sa.writeUInt32LE(scopeIndex(address.slice(pct + 1)), 24);
    } else {
      // v4-mapped: ::ffff:a.b.c.d
      sa.writeUInt16BE(0xffff, 18);
      parseIPv4(address, 'local-ip').copy(sa, 20);
    }
  }
  return sa;
}

function scopeIndex(scope: string): number {
  if (/^\d+$/.test(scope)) return Number(scope);
  const idx = ifNameToIndex(scope);
  if (idx === 0) throw new OvpnError('ENODEV', `no interface named ${scope}`, 'local-ip');
  return idx;
}
