/**
 * An ovpn device (spec ovpn-kernel §1): a TUN interface in P2P or MP mode, its peers, the sockets they
 * use, and the wiring of readiness callbacks to the data path. It implements the data path's context
 * and turns the data path's events into device events for the management layer.
 *
 * Lifecycle follows the kernel: carrier always on in MP, on in P2P only while a peer exists; deleting
 * the device removes every peer with reason teardown (each one notified) before the TUN goes away.
 */
import { BATCH_MAX_PACKET, PacketBatch } from '../batch/packet-batch.js';
import { type Clock, monotonicClock } from '../clock/clock.js';
import type { ControlPacket, DatapathContext, DeviceCounters } from '../datapath/context.js';
import { DropCounters } from '../datapath/drop-reason.js';
import type { DataplaneEvents } from '../datapath/events.js';
import { recvFromUdp } from '../datapath/recv.js';
import { tcpFrameHandlers } from '../datapath/recv-tcp.js';
import { xmitFromTun, xmitKeepalive } from '../datapath/xmit.js';
import type { Endpoint, LocalAddress } from '../net/endpoint.js';
import { DelReason } from '../peer/del-reason.js';
import type { Peer } from '../peer/peer.js';
import { MpPeerTable, P2pPeerTable, type PeerTable } from '../peer/peer-table.js';
import { RouteLookup } from '../routing/route-lookup.js';
import type { PeerSocket, TcpPeerSocket, UdpPeerSocket } from '../transport/peer-socket.js';
import type { TunDevice } from '../tun/tun.js';
import { createTun } from '../tun/tun-linux.js';
import { KeepaliveTimer } from './keepalive.js';
import { acquireTcpSocket, acquireUdpSocket, releaseSocket } from './sockets.js';

export type OvpnMode = 'p2p' | 'mp';

/** Default packets per batch: enough to amortise a syscall, small enough to stay in cache. */
export const DEFAULT_BATCH_SIZE = 64;

/** What the device reports upwards; the management layer implements it. */
export interface DeviceListener {
  peerDeleted(dev: OvpnDevice, peer: Peer, reason: DelReason): void;
  keySwapNeeded(dev: OvpnDevice, peer: Peer, keyId: number): void;
  peerFloated(dev: OvpnDevice, peer: Peer): void;
  /** A non-data packet from the network; return false if nobody takes control packets. */
  control(dev: OvpnDevice, pkt: ControlPacket): boolean;
}

export interface OvpnDeviceOptions {
  mtu?: number;
  clock?: Clock;
  batchSize?: number;
  listener?: DeviceListener;
}

export class OvpnDevice implements DatapathContext {
  readonly name: string;
  readonly ifindex: number;
  readonly mode: OvpnMode;
  readonly tun: TunDevice;
  readonly peers: PeerTable;
  readonly routes: RouteLookup | undefined;
  readonly drops = new DropCounters();
  readonly clock: Clock;
  readonly txBatch: PacketBatch;
  readonly rxBatch: PacketBatch;
  readonly kaBatch = new PacketBatch(1, 256);
  readonly keepalive: KeepaliveTimer;
  readonly slots: Uint16Array;
  readonly slotPeers: (Peer | undefined)[];
  readonly slotDests: (Endpoint | undefined)[];
  readonly slotSrcs: (LocalAddress | undefined)[];
  readonly nextHop6 = Buffer.alloc(16);
  readonly counters: DeviceCounters = { rxPackets: 0, rxBytes: 0, txPackets: 0, txBytes: 0, controlIn: 0 };
  readonly events: DataplaneEvents;
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
    this.batchSize = opts.batchSize ?? DEFAULT_BATCH_SIZE;
    this.peers = mode === 'p2p' ? new P2pPeerTable() : new MpPeerTable();
    this.txBatch = new PacketBatch(this.batchSize, BATCH_MAX_PACKET);
    this.rxBatch = new PacketBatch(this.batchSize, BATCH_MAX_PACKET);
    this.slots = new Uint16Array(this.batchSize);
    this.slotPeers = new Array<Peer | undefined>(this.batchSize).fill(undefined);
    this.slotDests = new Array<Endpoint | undefined>(this.batchSize).fill(undefined);
    this.slotSrcs = new Array<LocalAddress | undefined>(this.batchSize).fill(undefined);
    this.events = {
      keySwapNeeded: (peer, keyId) => this.listener?.keySwapNeeded(this, peer, keyId),
      peerFloated: (peer) => this.listener?.peerFloated(this, peer),
    };
    this.routes = mode === 'mp' ? new RouteLookup() : undefined;
    this.keepalive = new KeepaliveTimer({
      peers: this.peers,
      clock: this.clock,
      removePeer: (peer, reason) => this.removePeer(peer, reason),
      sendKeepalive: (peer) => xmitKeepalive(this, peer),
    });
    tun.setCarrier(mode === 'mp');
    tun.onReadable(() => xmitFromTun(this));
  }

  /** Creates the TUN interface `name` and the device around it. Throws OvpnError. */
  static create(name: string, mode: OvpnMode, opts: OvpnDeviceOptions = {}): OvpnDevice {
    const tun = createTun(name, { mtu: opts.mtu });
    try {
      return new OvpnDevice(tun, mode, opts);
    } catch (e) {
      tun.close();
      throw e;
    }
  }

  /** Takes a reference on the UDP socket behind the caller's `fd` (see sockets.ts). */
  acquireUdp(fd: number): UdpPeerSocket {
    return acquireUdpSocket(this, fd, this.batchSize, (sock) => {
      sock.transport.onReadable(() => recvFromUdp(this, sock));
      // a stored local address that is no longer on the host is forgotten; routing chooses (spec §5.3)
      sock.transport.onStaleSource = (src) => {
        for (const peer of this.peers.all()) if (peer.local === src) peer.local = undefined;
      };
    });
  }

  /** Takes over the established TCP socket behind `fd` (reading starts when its peer is added: addPeer). */
  acquireTcp(fd: number): TcpPeerSocket {
    return acquireTcpSocket(this, fd);
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
    if (sock?.proto === 'tcp') {
      // The stream ending removes the peer: the remote closing it is a disconnect, anything else an error.
      sock.transport.start(
        tcpFrameHandlers(this, peer, sock, (how) =>
          this.removePeer(
            peer,
            how === 'disconnect' ? DelReason.TRANSPORT_DISCONNECT : DelReason.TRANSPORT_ERROR,
          ),
        ),
      );
    }
  }

  /** Removes `peer` with `reason`: unhash, carrier (P2P), notify, release the socket, free keys. */
  removePeer(peer: Peer, reason: DelReason): boolean {
    if (peer.dead || !this.peers.del(peer)) return false;
    this.finishRemoval(peer, reason);
    return true;
  }

  private finishRemoval(peer: Peer, reason: DelReason): void {
    if (this.mode === 'p2p' && this.peers.size === 0) this.tun.setCarrier(false);
    if (!peer.release(reason)) return;
    this.listener?.peerDeleted(this, peer, reason);
    const sock = peer.sock;
    peer.sock = undefined;
    if (sock !== undefined) releaseSocket(sock);
  }

  /** Called by the control path of the data plane. */
  control(pkt: ControlPacket): boolean {
    return this.listener?.control(this, pkt) ?? false;
  }

  /** Deletes the device: every peer removed with reason teardown, then the TUN closed. Idempotent. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.keepalive.close();
    for (const peer of [...this.peers.all()]) this.removePeer(peer, DelReason.TEARDOWN);
    this.tun.close();
    this.routes?.close();
  }
}
