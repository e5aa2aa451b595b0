/**
 * Per-peer counters of spec ovpn-kernel §6: VPN (inner packets) and link (OpenVPN packets) bytes and
 * packets in each direction. Each counter is a true unsigned 64-bit value, kept as two 32-bit halves in
 * a Float64Array so that adding to it on the data path allocates nothing (a BigInt would) and stays
 * exact past 2^53 (a plain number would not).
 */
export const Stat = {
  VPN_RX_BYTES: 0,
  VPN_RX_PACKETS: 1,
  VPN_TX_BYTES: 2,
  VPN_TX_PACKETS: 3,
  LINK_RX_BYTES: 4,
  LINK_RX_PACKETS: 5,
  LINK_TX_BYTES: 6,
  LINK_TX_PACKETS: 7,
} as const;
export type Stat = (typeof Stat)[keyof typeof Stat];

const STAT_COUNT = 8;
const TWO_32 = 4294967296;

/** The counters as YNL attribute names, in the order the kernel's peer-get reply lists them. */
export interface PeerStatsSnapshot {
  'vpn-rx-bytes': bigint;
  'vpn-rx-packets': bigint;
  'vpn-tx-bytes': bigint;
  'vpn-tx-packets': bigint;
  'link-rx-bytes': bigint;
  'link-rx-packets': bigint;
  'link-tx-bytes': bigint;
  'link-tx-packets': bigint;
}

export class PeerStats {
  /** [lo, hi] per counter; lo < 2^32 after every add, hi counts 2^32 units modulo 2^32. */
  private readonly c = new Float64Array(STAT_COUNT * 2);

  /** Adds one packet of `bytes` bytes to the packet/byte pair starting at `bytesStat`. */
  addPacket(bytesStat: Stat, bytes: number): void {
    this.add(bytesStat, bytes);
    this.add((bytesStat + 1) as Stat, 1);
  }

  /** Adds `n` (a non-negative integer below 2^53) to counter `s`. */
  add(s: Stat, n: number): void {
    const i = s * 2;
    const c = this.c;
    let lo = c[i] + n;
    if (lo >= TWO_32) {
      const carry = Math.floor(lo / TWO_32);
      lo -= carry * TWO_32;
      c[i + 1] = (c[i + 1] + carry) % TWO_32;
    }
    c[i] = lo;
  }

  /** Counter `s` as an exact unsigned 64-bit value. */
  get(s: Stat): bigint {
    const i = s * 2;
    return (BigInt(this.c[i + 1]) << 32n) | BigInt(this.c[i]);
  }

  /** All counters, for peer-get and for printing. */
  snapshot(): PeerStatsSnapshot {
    return {
      'vpn-rx-bytes': this.get(Stat.VPN_RX_BYTES),
      'vpn-rx-packets': this.get(Stat.VPN_RX_PACKETS),
      'vpn-tx-bytes': this.get(Stat.VPN_TX_BYTES),
      'vpn-tx-packets': this.get(Stat.VPN_TX_PACKETS),
      'link-rx-bytes': this.get(Stat.LINK_RX_BYTES),
      'link-rx-packets': this.get(Stat.LINK_RX_PACKETS),
      'link-tx-bytes': this.get(Stat.LINK_TX_BYTES),
      'link-tx-packets': this.get(Stat.LINK_TX_PACKETS),
    };
  }
}
