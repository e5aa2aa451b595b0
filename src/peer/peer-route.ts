/**
 * The routing decisions of an MP device, on top of the peer table (the kernel keeps them in peer.c:
 * ovpn_peer_get_by_dst and ovpn_peer_check_by_src, spec ovpn-kernel §4.4, §4.5): which peer an inner
 * packet goes to, and whether a peer may send a packet with a given inner source. Both read addresses
 * in place and allocate nothing; the kernel's routing table is asked only when the address is not a
 * peer's own VPN address.
 */
import type { RouteLookup } from '../routing/route-lookup.js';
import { IPV4_DST, IPV4_SRC, IPV6_DST, IPV6_SRC } from '../wire/inner-ip.js';
import type { Peer } from './peer.js';
import type { PeerTable } from './peer-table.js';

/** What the decisions need: the table, the MP route lookup, and 16 bytes for an IPv6 next hop. */
export interface PeerRouting {
  readonly peers: PeerTable;
  /** Undefined in P2P. */
  readonly routes: RouteLookup | undefined;
  readonly nextHop6: Buffer;
}

/**
 * The peer for the inner IPv`ver` packet at `buf[off]`: in P2P the only peer; in MP the peer owning
 * the destination as VPN address, else the peer owning the next hop of the kernel's route to it.
 */
export function peerByDst(r: PeerRouting, buf: Buffer, off: number, ver: 4 | 6): Peer | undefined {
  const peers = r.peers;
  if (peers.mode === 'p2p') return peers.single();
  if (ver === 4) {
    const dst = buf.readUInt32BE(off + IPV4_DST);
    const direct = peers.getByVpn4(dst);
    if (direct !== undefined || r.routes === undefined) return direct;
    const hop = r.routes.nextHop4(dst);
    return hop === 0 || hop === dst ? undefined : peers.getByVpn4(hop);
  }
  const direct = peers.getByVpn6(buf, off + IPV6_DST);
  if (direct !== undefined || r.routes === undefined) return direct;
  if (!r.routes.nextHop6(buf, off + IPV6_DST, r.nextHop6, 0)) return undefined;
  return peers.getByVpn6(r.nextHop6, 0);
}

/**
 * The reverse-path check (MP only; P2P always passes): the inner source of the packet at `buf[off]`
 * must be `peer`'s own VPN address, or an address the kernel routes via it. (The kernel always does
 * the route lookup; checking the peer's own address first gives the same answer for the usual on-link
 * route to it, and keeps the lookup off the common path.)
 */
export function checkBySrc(r: PeerRouting, peer: Peer, buf: Buffer, off: number, ver: 4 | 6): boolean {
  if (r.peers.mode === 'p2p') return true;
  if (ver === 4) {
    const src = buf.readUInt32BE(off + IPV4_SRC);
    if (src === peer.vpnIpv4) return true;
    if (r.routes === undefined) return false;
    const hop = r.routes.nextHop4(src);
    return hop !== 0 && r.peers.getByVpn4(hop) === peer;
  }
  const v6 = peer.vpnIpv6;
  if (v6 !== undefined && v6.compare(buf, off + IPV6_SRC, off + IPV6_SRC + 16) === 0) return true;
  if (r.routes === undefined || !r.routes.nextHop6(buf, off + IPV6_SRC, r.nextHop6, 0)) return false;
  return r.peers.getByVpn6(r.nextHop6, 0) === peer;
}
