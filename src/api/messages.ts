/**
 * Shapes of what the API returns and emits, in YNL's JSON form (spec ovpn-kernel §2.4, §2.5):
 * kebab-case attribute names, addresses as text, enums by name, counters as numbers (bigint past 2^53).
 */
import type { DeviceCounters } from '../datapath/datapath.js';
import type { PeerStatsSnapshot } from '../peer/stats.js';

export type Counter = number | bigint;

/** A peer's eight counters, as peer-get writes them. */
export type PeerCounters = { [K in keyof PeerStatsSnapshot]: Counter };

export interface PeerInfo {
  id: number;
  'tx-id': number;
  'vpn-ipv4'?: string;
  'vpn-ipv6'?: string;
  'keepalive-interval': number;
  'keepalive-timeout': number;
  'remote-ipv4'?: string;
  'remote-ipv6'?: string;
  'remote-ipv6-scope-id'?: number;
  'remote-port'?: number;
  'local-ipv4'?: string;
  'local-ipv6'?: string;
  'local-port'?: number;
  /** Ours: only when set (not 0 / not none), so that kernel-shaped replies stay as they were. */
  'mss-clamp'?: number;
  'comp-framing'?: string;
  'vpn-rx-bytes': Counter;
  'vpn-rx-packets': Counter;
  'vpn-tx-bytes': Counter;
  'vpn-tx-packets': Counter;
  'link-rx-bytes': Counter;
  'link-rx-packets': Counter;
  'link-tx-bytes': Counter;
  'link-tx-packets': Counter;
}

export interface KeyInfo {
  'peer-id': number;
  slot: 'primary' | 'secondary';
  'key-id': number;
  'cipher-alg': 'aes-gcm' | 'chacha20-poly1305';
}

export interface DevInfo {
  ifindex: number;
  ifname: string;
  mode: 'p2p' | 'mp';
}

export interface PeerDelNtf {
  name: 'peer-del-ntf';
  msg: { ifindex: number; peer: { 'del-reason': string; id: number } };
}

export interface KeySwapNtf {
  name: 'key-swap-ntf';
  msg: { ifindex: number; keyconf: { 'peer-id': number; 'key-id': number } };
}

export interface PeerFloatNtf {
  name: 'peer-float-ntf';
  msg: {
    ifindex: number;
    peer: {
      id: number;
      'remote-ipv4'?: string;
      'remote-ipv6'?: string;
      'remote-ipv6-scope-id'?: number;
      'remote-port': number;
    };
  };
}

export type Notification = PeerDelNtf | KeySwapNtf | PeerFloatNtf;

/** A non-data packet from a device's socket, for the control plane. */
export interface ControlMessage {
  ifindex: number;
  /** Identity of the socket it arrived on (as returned by `socketId`). */
  socket: string;
  'remote-addr': string;
  'remote-port': number;
  packet: Buffer;
}

/** Device counters and drops by cause (op `dev-stats`). */
export interface DevStats extends DeviceCounters {
  'rx-dropped': number;
  'tx-dropped': number;
  /** Drops by reason name, only the causes that happened. */
  drops: Record<string, number>;
}

/** The one writer of a peer's counters: the data plane's snapshot, each as a JSON-safe Counter. */
export function peerCounters(s: PeerStatsSnapshot): PeerCounters {
  const out = {} as PeerCounters;
  for (const k of Object.keys(s) as (keyof PeerStatsSnapshot)[]) out[k] = counter(s[k]);
  return out;
}

/** A u64 counter as a JSON-safe number when it fits, else a bigint. */
export function counter(v: bigint): Counter {
  return v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v;
}
