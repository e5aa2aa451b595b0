/**
 * The socket a peer is attached to, as the kernel's `ovpn_socket` (spec ovpn-kernel §5.1): a datagram
 * socket shared by any number of peers of one device (reference-counted), or a stream owned by one
 * peer. The device layer creates these; peers point at them; the data path sends through them, only
 * through the transport interfaces (transport.ts).
 */
import type { DatagramTransport, StreamTransport } from './transport.js';

export interface UdpPeerSocket {
  readonly proto: 'udp';
  readonly transport: DatagramTransport;
  /** Identity of the underlying socket (its inode), to recognise the same socket passed twice. */
  readonly inode: string;
  /** Peers using it; the transport is closed when this drops to 0. */
  refs: number;
}

export interface TcpPeerSocket {
  readonly proto: 'tcp';
  readonly transport: StreamTransport;
  readonly inode: string;
  /** Always 1: a TCP stream belongs to exactly one peer. */
  refs: number;
}

export type PeerSocket = UdpPeerSocket | TcpPeerSocket;
