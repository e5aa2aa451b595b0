/**
 * An ovpn device (spec ovpn-kernel §1; the kernel's main.c): a TUN interface in P2P or MP mode, its
 * peers, the sockets they use, its keepalive timer, and its data path (src/datapath/), whose upcalls it
 * turns into device events for the management layer. The device owns the lifecycle; the data path
 * owns the batches.
 *
 * Lifecycle follows the kernel: carrier always on in MP, on in P2P only while a peer exists; deleting
 * the device removes every peer with reason teardown (each one notified) before the TUN goes away.
 * Every event reaches the listener at a batch boundary (datapath/upcalls.ts), so a listener may call
 * any operation of the device from inside any event.
 */
import { type Clock, monotonicClock } from '../clock/clock.js';
import { DataPath, type DeviceCounters } from '../datapath/datapath.js';
import { type DropCounters, DropReason } from '../datapath/drop-reason.js';
import { recvFromUdp } from '../datapath/recv.js';
import { streamHandlers } from '../datapath/recv-tcp.js';
import type { ControlPacket, Upcall } from '../datapath/upcalls.js';
import { xmitFromTun, xmitKeepalive } from '../datapath/xmit.js';
import { DelReason } from '../peer/del-reason.js';
import type { Peer } from '../peer/peer.js';
import { MpPeerTable, P2pPeerTable, type PeerTable } from '../peer/peer-table.js';
import { RouteLookup } from '../routing/route-lookup.js';
import type { PeerSocket, TcpPeerSocket, UdpPeerSocket } from '../transport/peer-socket.js';
import type { TunDevice } from '../tun/tun.js';
import { createTun, type TunOptions } from '../tun/tun-linux.js';
import { KeepaliveTimer } from './keepalive.js';
import {
  acquireTcpSocket,
  acquireUdpSocket,
  kernelSockets,
  releaseSocket,
  type SocketSource,
} from './sockets.js';

export type OvpnMode = 'p2p' | 'mp';

/** Default packets per batch: enough to amortise a syscall, small enough to stay in cache. */
export const DEFAULT_BATCH_SIZE = 64;

/** What the device reports upwards; the management layer implements it. Called at batch boundaries. */
export interface DeviceListener {
  peerDeleted(dev: OvpnDevice, peer: Peer, reason: DelReason): void;
  keySwapNeeded(dev: OvpnDevice, peer: Peer, keyId: number): void;
  peerFloated(dev: OvpnDevice, peer: Peer): void;
  /** A non-data packet from the network; return false if nobody takes control packets. */
  control(dev: OvpnDevice, pkt: ControlPacket): boolean;
}

/**
 * Offloads, each on by default where the kernel has it: TUN TSO/GRO with the virtio header, UDP GSO
 * on send and UDP GRO on receive for the device's UDP sockets. Off only for measurements and for
 * kernels or setups where an offload misbehaves.
 */
export interface Offloads {
  tun?: boolean;
  udpGso?: boolean;
  udpGro?: boolean;
}

export interface OvpnDeviceOptions {
  mtu?: number;
  clock?: Clock;
  batchSize?: number;
  listener?: DeviceListener;
  offloads?: Offloads;
  /** Makes the TUN (default: a Linux TUN interface, tun-linux.ts). */
  createTun?: (name: string, opts: TunOptions) => TunDevice;
  /** Where sockets handed over by fd come from (default: the kernel's, sockets.ts). */
  sockets?: SocketSource;
}

export class OvpnDevice {
  readonly name: string;
  readonly ifindex: number;
  readonly mode: OvpnMode;
  readonly tun: TunDevice;
  readonly peers: PeerTable;
  readonly routes: RouteLookup | undefined;
  readonly clock: Clock;
  readonly keepalive: KeepaliveTimer;
  readonly dp: DataPath;
  readonly sockets: SocketSource;
  readonly offloads: Readonly<Offloads>;
  listener: DeviceListener | undefined;
  private closed = false;
  private readonly batchSize: number;

  private constructor(tun: TunDevice, mode: OvpnMode, opts: OvpnDeviceOptions) {
    this.tun = tun;
    this.name = tun.name;
    this.ifindex = tun.ifindex;
    this.mode = mode;
    this.clock = opts.clock ?? monotonicClock;
    this.listener = opts.listener;
    this.sockets = opts.sockets ?? kernelSockets;
    this.offloads = { ...opts.offloads };
    this.batchSize = opts.batchSize ?? DEFAULT_BATCH_SIZE;
    this.peers = mode === 'p2p' ? new P2pPeerTable() : new MpPeerTable();
    this.routes = mode === 'mp' ? new RouteLookup() : undefined;
    this.dp = new DataPath({
      tun,
      peers: this.peers,
      routes: this.routes,
      clock: this.clock,
      batchSize: this.batchSize,
      deliver: (u) => this.upcall(u),
    });
    this.keepalive = new KeepaliveTimer({
      peers: this.peers,
      clock: this.clock,
      upcalls: this.dp.upcalls,
      removePeer: (peer, reason) => this.removePeer(peer, reason),
      sendKeepalive: (peer) => xmitKeepalive(this.dp, peer),
    });
    tun.setCarrier(mode === 'mp');
    tun.onReadable(() => xmitFromTun(this.dp));
  }

  /**
   * Creates the TUN interface `name` and the device around it. Throws OvpnError. With
   * `opts.createTun` (tests: an in-memory TUN) no interface is created.
   */
  static create(name: string, mode: OvpnMode, opts: OvpnDeviceOptions = {}): OvpnDevice {
    const tunOpts: TunOptions = { mtu: opts.mtu, offload: opts.offloads?.tun };
    const tun = (opts.createTun ?? createTun)(name, tunOpts);
    try {
      return new OvpnDevice(tun, mode, opts);
    } catch (e) {
      tun.close();
      throw e;
    }
  }

  /** Drops by cause. */
  get drops(): DropCounters {
    return this.dp.drops;
  }

  /** Packets moved. */
  get counters(): DeviceCounters {
    return this.dp.counters;
  }

  /** Takes a reference on the UDP socket behind the caller's `fd` (see sockets.ts). */
  acquireUdp(fd: number): UdpPeerSocket {
    const opts = { gso: this.offloads.udpGso, gro: this.offloads.udpGro };
    return acquireUdpSocket(this, this.sockets, fd, this.batchSize, opts, (sock) => {
      sock.transport.onReadable(() => recvFromUdp(this.dp, sock));
      // a stored local address that is no longer on the host is forgotten; routing chooses (spec §5.3)
      sock.transport.onStaleSource = (src) => {
        for (const peer of this.peers.all()) if (peer.local === src) peer.local = undefined;
      };
    });
  }

  /** Takes over the established TCP socket behind `fd` (reading starts when its peer is added: addPeer). */
  acquireTcp(fd: number): TcpPeerSocket {
    return acquireTcpSocket(this, this.sockets, fd);
  }

  /** Drops a socket reference taken for a peer that was never added. */
  releaseSock(sock: PeerSocket): void {
    releaseSocket(sock);
  }

  /**
   * Inserts a fully configured peer. P2P: an existing peer is replaced and removed with reason
   * teardown; the carrier goes on. MP: the caller has checked the id and VPN addresses are free.
   */
  addPeer(peer: Peer): void {
    const old = this.peers.add(peer);
    if (old !== undefined && old !== peer) this.finishRemoval(old, DelReason.TEARDOWN);
    if (this.mode === 'p2p') this.tun.setCarrier(true);
    const sock = peer.sock;
    if (sock?.proto === 'tcp') sock.transport.start(streamHandlers(this.dp, peer, sock));
  }

  /** Removes `peer` with `reason`: unhash, carrier (P2P), release the socket, free keys, notify. */
  removePeer(peer: Peer, reason: DelReason): boolean {
    if (peer.dead || !this.peers.del(peer)) return false;
    this.finishRemoval(peer, reason);
    return true;
  }

  private finishRemoval(peer: Peer, reason: DelReason): void {
    if (this.mode === 'p2p' && this.peers.size === 0) this.tun.setCarrier(false);
    if (!peer.release(reason)) return;
    const sock = peer.sock;
    peer.sock = undefined;
    if (sock !== undefined) releaseSocket(sock);
    // peer-del-ntf goes through the same queue as every other event: in order, at a batch boundary
    this.dp.upcalls.post({ kind: 'removed', peer, reason });
  }

  /** One event from the data path, delivered at a batch boundary. */
  private upcall(u: Upcall): void {
    const l = this.listener;
    switch (u.kind) {
      case 'control':
        if (l?.control(this, u.pkt)) this.dp.counters.controlIn++;
        else this.dp.drops.add(DropReason.RX_CONTROL_UNCLAIMED);
        return;
      case 'key-swap':
        l?.keySwapNeeded(this, u.peer, u.keyId);
        return;
      case 'float':
        if (!u.peer.dead) l?.peerFloated(this, u.peer);
        return;
      case 'stream-end':
        this.removePeer(
          u.peer,
          u.how === 'disconnect' ? DelReason.TRANSPORT_DISCONNECT : DelReason.TRANSPORT_ERROR,
        );
        return;
      case 'removed':
        l?.peerDeleted(this, u.peer, u.reason);
        return;
    }
  }

  /** Deletes the device: every peer removed with reason teardown, then the TUN closed. Idempotent. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.dp.upcalls.enter();
    try {
      this.keepalive.close();
      for (const peer of [...this.peers.all()]) this.removePeer(peer, DelReason.TEARDOWN);
      this.tun.close();
      this.routes?.close();
    } finally {
      this.dp.upcalls.leave();
    }
  }
}
