/**
 * The data path of one device: everything the per-packet pipelines (xmit.ts, recv.ts, recv-tcp.ts)
 * read and write, owned in one place — the TUN and peer table it works on, the MP route lookup, its
 * batches and scratch (allocated once), its counters and drops, the clock, and the queue of upcalls
 * that carries events to the device at batch boundaries (upcalls.ts). The device (src/device/) keeps
 * the lifecycle: peers, sockets, carrier, keepalive; it never reaches into a batch.
 */
import { BATCH_MAX_PACKET, PacketBatch } from '../batch/packet-batch.js';
import type { Clock } from '../clock/clock.js';
import type { Peer } from '../peer/peer.js';
import type { PeerRouting } from '../peer/peer-route.js';
import type { PeerTable } from '../peer/peer-table.js';
import type { RouteLookup } from '../routing/route-lookup.js';
import type { TunDevice } from '../tun/tun.js';
import { DropCounters } from './drop-reason.js';
import { RxScratch, TxScratch } from './scratch.js';
import { type KeyEvents, type Upcall, UpcallQueue } from './upcalls.js';

/** Packets the device moved, for `ip -s link`-like reporting. */
export interface DeviceCounters {
  /** Inner packets (and their bytes) the TUN took from the data path. */
  rxPackets: number;
  rxBytes: number;
  /** DATA_V2 packets (and bytes) the transports took, keepalives included. */
  txPackets: number;
  txBytes: number;
  /** Control packets handed to the control plane. */
  controlIn: number;
  /** Keepalives received (authenticated, consumed) and sent (taken by the transport). */
  keepaliveIn: number;
  keepaliveOut: number;
}

export interface DataPathOptions {
  tun: TunDevice;
  peers: PeerTable;
  routes: RouteLookup | undefined;
  clock: Clock;
  batchSize: number;
  /** Receives every upcall, at a batch boundary. */
  deliver: (u: Upcall) => void;
}

export class DataPath implements PeerRouting, KeyEvents {
  readonly tun: TunDevice;
  readonly peers: PeerTable;
  readonly routes: RouteLookup | undefined;
  readonly clock: Clock;
  readonly drops = new DropCounters();
  readonly counters: DeviceCounters = {
    rxPackets: 0,
    rxBytes: 0,
    txPackets: 0,
    txBytes: 0,
    controlIn: 0,
    keepaliveIn: 0,
    keepaliveOut: 0,
  };
  /** TUN -> network, and its scratch. */
  readonly txBatch: PacketBatch;
  readonly tx: TxScratch;
  /** When one TX batch goes to several sockets: one socket's entries, gathered in order. */
  readonly txGroup: TxScratch;
  readonly txGrouped: Uint8Array;
  /** Network -> TUN (UDP datagrams, or TCP frames copied out of a stream), and its scratch. */
  readonly rxBatch: PacketBatch;
  readonly rx: RxScratch;
  /** Keepalives: their own one-slot batch and scratch, usable whatever else is in flight. */
  readonly kaBatch = new PacketBatch(1, 256);
  readonly ka = new TxScratch(1);
  /**
   * client-to-client (ours beyond the kernel's ovpn, which leaves it to the system's routing): a
   * packet from one peer to another peer's VPN address is sent straight to it (xmit.ts forwardToPeer).
   */
  clientToClient = false;
  private fwd: PacketBatch | undefined;
  /** The one-slot batch client-to-client forwarding seals in (made on first use). */
  get fwdBatch(): PacketBatch {
    this.fwd ??= new PacketBatch(1, BATCH_MAX_PACKET);
    return this.fwd;
  }
  /** 16 bytes for an IPv6 next hop (peer-route.ts). */
  readonly nextHop6 = Buffer.alloc(16);
  readonly upcalls: UpcallQueue;

  constructor(o: DataPathOptions) {
    this.tun = o.tun;
    this.peers = o.peers;
    this.routes = o.routes;
    this.clock = o.clock;
    this.txBatch = new PacketBatch(o.batchSize, BATCH_MAX_PACKET);
    this.rxBatch = new PacketBatch(o.batchSize, BATCH_MAX_PACKET);
    this.tx = new TxScratch(o.batchSize);
    this.txGroup = new TxScratch(o.batchSize);
    this.txGrouped = new Uint8Array(o.batchSize);
    this.rx = new RxScratch(o.batchSize);
    this.upcalls = new UpcallQueue(o.deliver);
  }

  keySwapNeeded(peer: Peer, keyId: number): void {
    this.upcalls.post({ kind: 'key-swap', peer, keyId });
  }
}
