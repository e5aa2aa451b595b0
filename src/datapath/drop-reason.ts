/**
 * Why the data plane dropped a packet. Bad input from the network is never an exception: each packet
 * that cannot go on gets one of these, and the owner counts it (spec ovpn-kernel §1.8 lists what the
 * kernel counts as rx_dropped / tx_dropped; we keep the cause too).
 */
export const DropReason = {
  NONE: 0,
  // RX
  /** Too short for the op word or for the DATA_V2 header and tag. */
  RX_SHORT: 1,
  /** DATA_V1: not supported by ovpn. */
  RX_DATA_V1: 2,
  /** No peer with that peer-id (or source address, for peer-id 0xFFFFFF). */
  RX_NO_PEER: 3,
  /** No key slot holds the packet's key-id. */
  RX_NO_KEY: 4,
  /** Authentication failed: forged, corrupted or for another key. */
  RX_AUTH: 5,
  /** Packet-id replayed, too old, or 0. */
  RX_REPLAY: 6,
  /** Decrypted payload is empty or not an IPv4/IPv6 packet (and not a keepalive). */
  RX_NOT_IP: 7,
  /** Reverse-path check failed: the inner source does not belong to this peer. */
  RX_RPF: 8,
  /** The TUN refused the decrypted packet. */
  RX_DEVICE: 15,
  /** A control packet arrived and nobody consumes control packets. */
  RX_CONTROL_UNCLAIMED: 16,
  /** The compression framing says compressed (never done here) or is malformed. */
  RX_COMPRESSED: 18,
  // TX
  /** Not an IPv4/IPv6 packet. */
  TX_NOT_IP: 9,
  /** No peer for the destination. */
  TX_NO_PEER: 10,
  /** The peer has no primary key. */
  TX_NO_KEY: 11,
  /** The primary key's packet-ids are used up (the key was killed). */
  TX_PKTID_EXHAUSTED: 12,
  /** OpenSSL failed to encrypt. */
  TX_CRYPTO: 13,
  /** The transport could not take the packet (queue full, socket gone). */
  TX_TRANSPORT: 14,
  /** The peer has no socket, or a UDP peer no remote endpoint, to send through (before sealing). */
  TX_NO_ENDPOINT: 17,
} as const;
export type DropReason = (typeof DropReason)[keyof typeof DropReason];

/** Names for printing, indexed by value. */
export const DROP_REASON_NAMES: readonly string[] = [
  'none',
  'rx-short',
  'rx-data-v1',
  'rx-no-peer',
  'rx-no-key',
  'rx-auth',
  'rx-replay',
  'rx-not-ip',
  'rx-rpf',
  'tx-not-ip',
  'tx-no-peer',
  'tx-no-key',
  'tx-pktid-exhausted',
  'tx-crypto',
  'tx-transport',
  'rx-device',
  'rx-control-unclaimed',
  'tx-no-endpoint',
  'rx-compressed',
];

export const DROP_REASON_COUNT = DROP_REASON_NAMES.length;
/** Which reasons count as RX and which as TX drops, from their names (a new reason cannot be missed). */
const RX_REASONS = DROP_REASON_NAMES.flatMap((n, r) => (n.startsWith('rx-') ? [r] : []));
const TX_REASONS = DROP_REASON_NAMES.flatMap((n, r) => (n.startsWith('tx-') ? [r] : []));

/** Drop counters by cause, for one device. Adding allocates nothing. */
export class DropCounters {
  readonly counts = new Float64Array(DROP_REASON_COUNT);

  add(reason: DropReason): void {
    this.counts[reason]++;
  }

  get(reason: DropReason): number {
    return this.counts[reason];
  }

  /** Total RX drops (the kernel's rx_dropped). */
  get rxDropped(): number {
    let n = 0;
    for (const r of RX_REASONS) n += this.counts[r];
    return n;
  }

  /** Total TX drops (the kernel's tx_dropped). */
  get txDropped(): number {
    let n = 0;
    for (const r of TX_REASONS) n += this.counts[r];
    return n;
  }

  /** Non-zero counters by name. */
  toJSON(): Record<string, number> {
    const out: Record<string, number> = {};
    for (let r = 1; r < DROP_REASON_COUNT; r++)
      if (this.counts[r] > 0) out[DROP_REASON_NAMES[r]] = this.counts[r];
    return out;
  }
}
