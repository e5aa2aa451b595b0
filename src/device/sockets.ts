/**
 * Socket attachment (spec ovpn-kernel §5.1): the socket a control plane hands over is identified by its
 * inode, so that peers given the same UDP socket (even through different fds) share one transport. A
 * UDP socket belongs to at most one device; a TCP socket to exactly one peer. We keep our own dup of
 * the fd, as the kernel keeps its own reference to the socket: the caller's fd stays theirs.
 *
 * Where sockets come from is a `SocketSource`: the kernel's (`kernelSockets`: /proc, dup, the Linux
 * transports) by default; tests give a device an in-memory one.
 */
import { readlinkSync } from 'node:fs';
import { OvpnError } from '../errors/ovpn-error.js';
import { close, dup, getsockoptInt, IPPROTO_TCP, IPPROTO_UDP, SO_PROTOCOL, SOL_SOCKET } from '../sys/libc.js';
import type { PeerSocket, TcpPeerSocket, UdpPeerSocket } from '../transport/peer-socket.js';
import { TcpTransport } from '../transport/tcp.js';
import type { DatagramTransport, StreamTransport } from '../transport/transport.js';
import { UdpTransport, type UdpTransportOptions } from '../transport/udp.js';

/** Where a device's sockets come from, given the caller's fd number. */
export interface SocketSource {
  /** The identity of the socket behind `fd` (stable across fds of one socket). Throws ENOTSOCK. */
  identity(fd: number): string;
  /** Its transport protocol. Throws ENOTSOCK if `fd` is not a socket. */
  protocol(fd: number): 'udp' | 'tcp' | 'other';
  /** A datagram transport on our own reference to the UDP socket behind `fd`. Throws OvpnError. */
  openUdp(fd: number, batchSize: number, opts: UdpTransportOptions): DatagramTransport;
  /** A stream transport on our own reference to the established TCP socket behind `fd`. Throws ENOTSOCK. */
  openTcp(fd: number): StreamTransport;
}

interface Attached {
  readonly owner: object;
  readonly sock: PeerSocket;
}

const attached = new Map<string, Attached>();

/** The inode of the socket behind `fd` ("socket:[123]"), or throws ENOTSOCK. */
export function socketInode(fd: number): string {
  let link: string;
  try {
    link = readlinkSync(`/proc/self/fd/${fd}`);
  } catch {
    throw new OvpnError('ENOTSOCK', `fd ${fd} is not open`, 'socket');
  }
  if (!link.startsWith('socket:')) throw new OvpnError('ENOTSOCK', `fd ${fd} is not a socket`, 'socket');
  return link;
}

/** The transport protocol of the socket behind `fd`; throws ENOTSOCK if it is not a socket. */
export function socketProtocol(fd: number): 'udp' | 'tcp' | 'other' {
  socketInode(fd);
  const proto = getsockoptInt(fd, SOL_SOCKET, SO_PROTOCOL);
  if (proto === undefined) throw new OvpnError('ENOTSOCK', `fd ${fd} is not a socket`, 'socket');
  return proto === IPPROTO_UDP ? 'udp' : proto === IPPROTO_TCP ? 'tcp' : 'other';
}

/** The kernel's sockets: identified by inode, our own reference a dup, the Linux transports. */
export const kernelSockets: SocketSource = {
  identity: socketInode,
  protocol: socketProtocol,
  openUdp(fd, batchSize, opts) {
    const own = dup(fd);
    if (own < 0) throw new OvpnError('ENOTSOCK', `cannot take a reference on fd ${fd}`, 'socket');
    try {
      return UdpTransport.attach(own, batchSize, opts);
    } catch (e) {
      close(own);
      throw e;
    }
  },
  openTcp(fd) {
    const own = dup(fd);
    if (own < 0) throw new OvpnError('ENOTSOCK', `cannot take a reference on fd ${fd}`, 'socket');
    try {
      return TcpTransport.attach(own);
    } catch (e) {
      close(own);
      throw new OvpnError('ENOTSOCK', `cannot attach the TCP socket: ${(e as Error).message}`, 'socket');
    }
  },
};

/**
 * Takes a reference on the UDP socket behind `fd` for device `owner`, attaching it on first use.
 * Throws ENOTSOCK if it is not a UDP socket or is attached to another device.
 */
export function acquireUdpSocket(
  owner: object,
  source: SocketSource,
  fd: number,
  batchSize: number,
  opts: UdpTransportOptions,
  onAttach: (s: UdpPeerSocket) => void,
): UdpPeerSocket {
  const inode = source.identity(fd);
  const known = attached.get(inode);
  if (known !== undefined) {
    const sock = known.sock;
    if (known.owner !== owner || sock.proto !== 'udp') {
      throw new OvpnError('ENOTSOCK', 'socket is already used by another ovpn device', 'socket');
    }
    sock.refs++;
    return sock;
  }
  const transport = source.openUdp(fd, batchSize, opts);
  const sock: UdpPeerSocket = { proto: 'udp', transport, inode, refs: 1 };
  attached.set(inode, { owner, sock });
  onAttach(sock);
  return sock;
}

/**
 * Attaches the established TCP socket behind `fd` to one peer of `owner`. Throws ENOTSOCK if it is
 * already attached or cannot be taken over (not connected, not TCP), as the kernel reports any
 * encapsulation failure.
 */
export function acquireTcpSocket(owner: object, source: SocketSource, fd: number): TcpPeerSocket {
  const inode = source.identity(fd);
  if (attached.has(inode))
    throw new OvpnError('ENOTSOCK', 'the TCP socket is already attached to a peer', 'socket');
  const transport = source.openTcp(fd);
  const sock: TcpPeerSocket = { proto: 'tcp', transport, inode, refs: 1 };
  attached.set(inode, { owner, sock });
  return sock;
}

/** The attached socket with this inode, if it belongs to `owner`. */
export function attachedSocket(owner: object, inode: string): PeerSocket | undefined {
  const a = attached.get(inode);
  return a !== undefined && a.owner === owner ? a.sock : undefined;
}

/** Whether any device still uses the socket with this inode. */
export function isSocketAttached(inode: string): boolean {
  return attached.has(inode);
}

/** Drops one reference; the last one closes our dup of the socket. */
export function releaseSocket(sock: PeerSocket): void {
  if (sock.refs <= 0) return;
  sock.refs--;
  if (sock.refs > 0) return;
  attached.delete(sock.inode);
  sock.transport.close();
}
