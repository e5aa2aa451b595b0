/**
 * Socket attachment (spec ovpn-kernel §5.1): the socket a control plane hands over is identified by its
 * inode, so that peers given the same UDP socket (even through different fds) share one transport. A
 * UDP socket belongs to at most one device; a TCP socket to exactly one peer. We keep our own dup of
 * the fd, as the kernel keeps its own reference to the socket: the caller's fd stays theirs.
 */
import { readlinkSync } from 'node:fs';
import { OvpnError } from '../errors/ovpn-error.js';
import { close, dup, getsockoptInt, IPPROTO_TCP, IPPROTO_UDP, SO_PROTOCOL, SOL_SOCKET } from '../sys/libc.js';
import type { PeerSocket, TcpPeerSocket, UdpPeerSocket } from '../transport/peer-socket.js';
import { TcpTransport } from '../transport/tcp.js';
import { UdpTransport } from '../transport/udp.js';

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

/**
 * Takes a reference on the UDP socket behind `fd` for device `owner`, attaching it on first use.
 * Throws ENOTSOCK if it is not a UDP socket or is attached to another device.
 */
export function acquireUdpSocket(
  owner: object,
  fd: number,
  batchSize: number,
  onAttach: (s: UdpPeerSocket) => void,
): UdpPeerSocket {
  const inode = socketInode(fd);
  const known = attached.get(inode);
  if (known !== undefined) {
    const sock = known.sock;
    if (known.owner !== owner || sock.proto !== 'udp') {
      throw new OvpnError('ENOTSOCK', 'socket is already used by another ovpn device', 'socket');
    }
    sock.refs++;
    return sock;
  }
  const own = dup(fd);
  if (own < 0) throw new OvpnError('ENOTSOCK', `cannot take a reference on fd ${fd}`, 'socket');
  let transport: UdpTransport;
  try {
    transport = UdpTransport.attach(own, batchSize);
  } catch (e) {
    close(own);
    throw e;
  }
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
export function acquireTcpSocket(owner: object, fd: number): TcpPeerSocket {
  const inode = socketInode(fd);
  if (attached.has(inode))
    throw new OvpnError('ENOTSOCK', 'the TCP socket is already attached to a peer', 'socket');
  const own = dup(fd);
  if (own < 0) throw new OvpnError('ENOTSOCK', `cannot take a reference on fd ${fd}`, 'socket');
  let transport: TcpTransport;
  try {
    transport = TcpTransport.attach(own);
  } catch (e) {
    close(own);
    throw new OvpnError('ENOTSOCK', `cannot attach the TCP socket: ${(e as Error).message}`, 'socket');
  }
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
