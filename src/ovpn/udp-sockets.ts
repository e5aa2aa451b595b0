/**
 * UDP socket attachment (spec ovpn-kernel §5.1): the socket a control plane hands over is identified
 * by its inode, so that peers given the same socket (even through different fds) share one transport.
 * A socket belongs to at most one device. We keep our own dup of the fd, as the kernel keeps its own
 * reference to the socket: the caller's fd stays theirs (for sending control packets).
 */
import { readlinkSync } from 'node:fs';
import { OvpnError } from '../errors/ovpn-error.js';
import { close, dup, getsockoptInt, IPPROTO_TCP, IPPROTO_UDP, SO_PROTOCOL, SOL_SOCKET } from '../sys/libc.js';
import type { UdpPeerSocket } from '../transport/peer-socket.js';
import { UdpTransport } from '../transport/udp.js';

interface Attached {
  readonly owner: object;
  readonly sock: UdpPeerSocket;
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
    if (known.owner !== owner)
      throw new OvpnError('ENOTSOCK', 'socket is already used by another ovpn device', 'socket');
    known.sock.refs++;
    return known.sock;
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

/** Drops one reference; the last one closes our dup of the socket. */
export function releaseUdpSocket(sock: UdpPeerSocket): void {
  if (sock.refs <= 0) return;
  sock.refs--;
  if (sock.refs > 0) return;
  attached.delete(sock.inode);
  sock.transport.close();
}
