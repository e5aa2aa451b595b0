/**
 * What the per-packet pipelines need from a device, and nothing more: the TUN, the peers, the route
 * lookup (MP), the batches and scratch arrays allocated once, the counters, the clock, and the two
 * upward channels (data-plane events and control packets). The device layer (src/ovpn/) implements it;
 * the pipelines never see management code.
 */
import type { PacketBatch } from '../batch/packet-batch.js';
import type { Clock } from '../clock/clock.js';
import type { Endpoint, LocalAddress } from '../net/endpoint.js';
import type { Peer } from '../peer/peer.js';
import type { PeerTable } from '../peer/peer-table.js';
import type { RouteLookup } from '../routing/route-lookup.js';
import type { PeerSocket } from '../transport/peer-socket.js';
import type { TunDevice } from '../tun/tun.js';
import type { DropCounters } from './drop-reason.js';
import type { DataplaneEvents } from './events.js';

/** A non-data packet received on a device's socket, handed to the control plane unchanged. */
export interface ControlPacket {
  /** The socket it arrived on. */
  sock: PeerSocket;
  /** Where it came from. */
  from: Endpoint;
  /** A copy of the packet. */
  packet: Buffer;
}

export interface DatapathContext {
  readonly tun: TunDevice;
  readonly peers: PeerTable;
  /** MP next-hop lookup through the kernel's routing table; undefined in P2P. */
  readonly routes: RouteLookup | undefined;
  readonly drops: DropCounters;
  readonly events: DataplaneEvents;
  readonly clock: Clock;
  /** Batches owned by the device: one for TUN -> network, one for network -> TUN. */
  readonly txBatch: PacketBatch;
  readonly rxBatch: PacketBatch;
  /** A one-slot batch for keepalives. */
  readonly kaBatch: PacketBatch;
  /** Scratch, sized to the batch: slot indices, their peers and destinations. */
  readonly slots: Uint16Array;
  readonly slotPeers: (Peer | undefined)[];
  readonly slotDests: (Endpoint | undefined)[];
  /** Per slot: the local address to send from (the peer's), or undefined to let routing choose. */
  readonly slotSrcs: (LocalAddress | undefined)[];
  /** 16 bytes for an IPv6 next hop. */
  readonly nextHop6: Buffer;
  /** Called for every non-data packet; returns false if nobody consumes control packets. */
  control(pkt: ControlPacket): boolean;
  /** Device counters beyond drops. */
  readonly counters: DeviceCounters;
}

/** Packets the device moved, for `ip -s link`-like reporting. */
export interface DeviceCounters {
  rxPackets: number;
  rxBytes: number;
  txPackets: number;
  txBytes: number;
  controlIn: number;
}
