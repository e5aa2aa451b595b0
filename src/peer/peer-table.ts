/**
 * Where a device finds its peers (spec ovpn-kernel §4.2, §4.3). P2P holds one peer; MP indexes peers
 * by id, by VPN IPv4, by VPN IPv6 and by transport address. Lookups return undefined, never throw,
 * and allocate nothing. IPv4 addresses are uint32 numbers; IPv6 addresses and transport addresses are
 * found by a 32-bit hash and compared in place. The routing decisions built on these lookups (peer
 * by destination, reverse-path check) are beside this file, in peer-route.ts.
 */
import type { Endpoint } from '../net/endpoint.js';
import type { DatagramTransport } from '../transport/transport.js';
import type { Peer } from './peer.js';

export interface PeerTable {
  readonly mode: 'p2p' | 'mp';
  readonly size: number;
  getById(id: number): Peer | undefined;
  getByVpn4(addr: number): Peer | undefined;
  /** The peer whose VPN IPv6 is `buf[off, off+16)`. */
  getByVpn6(buf: Buffer, off: number): Peer | undefined;
  /** The UDP peer whose remote endpoint sent received slot `slot` of `t` (the kernel's get_by_transp_addr). */
  getBySource(t: DatagramTransport, slot: number): Peer | undefined;
  /** The peer whose remote endpoint is `ep`. */
  getByRemote(ep: Endpoint): Peer | undefined;
  /** The only peer (P2P) or undefined (MP, or no peer). */
  single(): Peer | undefined;
  /** Inserts `peer`; in P2P returns the peer it replaced. MP: the caller has checked the id is free. */
  add(peer: Peer): Peer | undefined;
  del(peer: Peer): boolean;
  /** Re-indexes a peer whose VPN addresses or transport address changed. */
  rehash(peer: Peer): void;
  all(): IterableIterator<Peer>;
}

/** A 32-bit hash of the 16 bytes at `buf[off]`. */
export function vpn6Hash(buf: Buffer, off: number): number {
  const a = buf.readUInt32BE(off);
  const b = buf.readUInt32BE(off + 4);
  const c = buf.readUInt32BE(off + 8);
  const d = buf.readUInt32BE(off + 12);
  return (Math.imul(a ^ (b >>> 7), 0x9e3779b1) ^ Math.imul(c ^ (d << 3), 0x85ebca6b) ^ d) >>> 0;
}

export class P2pPeerTable implements PeerTable {
  readonly mode = 'p2p';
  private peer: Peer | undefined;

  get size(): number {
    return this.peer === undefined ? 0 : 1;
  }
  getById(id: number): Peer | undefined {
    return this.peer !== undefined && this.peer.id === id ? this.peer : undefined;
  }
  getByVpn4(): Peer | undefined {
    return undefined;
  }
  getByVpn6(): Peer | undefined {
    return undefined;
  }
  getBySource(t: DatagramTransport, slot: number): Peer | undefined {
    const remote = this.peer?.remote;
    return remote !== undefined && t.sourceMatches(slot, remote) ? this.peer : undefined;
  }
  getByRemote(ep: Endpoint): Peer | undefined {
    return this.peer?.remote?.equals(ep) ? this.peer : undefined;
  }
  single(): Peer | undefined {
    return this.peer;
  }
  add(peer: Peer): Peer | undefined {
    const old = this.peer;
    this.peer = peer;
    return old;
  }
  del(peer: Peer): boolean {
    if (this.peer !== peer) return false;
    this.peer = undefined;
    return true;
  }
  rehash(): void {}
  *all(): IterableIterator<Peer> {
    if (this.peer !== undefined) yield this.peer;
  }
}

export class MpPeerTable implements PeerTable {
  readonly mode = 'mp';
  private readonly byId = new Map<number, Peer>();
  private readonly byVpn4 = new Map<number, Peer>();
  private readonly byVpn6 = new Map<number, Peer[]>();
  private readonly byTransport = new Map<number, Peer[]>();
  /** The keys each peer is indexed under, so that rehash/del remove exactly those. */
  private readonly keys = new Map<Peer, IndexKeys>();

  get size(): number {
    return this.byId.size;
  }
  getById(id: number): Peer | undefined {
    return this.byId.get(id);
  }
  getByVpn4(addr: number): Peer | undefined {
    return this.byVpn4.get(addr);
  }
  getByVpn6(buf: Buffer, off: number): Peer | undefined {
    const bucket = this.byVpn6.get(vpn6Hash(buf, off));
    if (bucket === undefined) return undefined;
    for (let i = 0; i < bucket.length; i++) {
      const v6 = bucket[i].vpnIpv6;
      if (v6 !== undefined && v6.compare(buf, off, off + 16) === 0) return bucket[i];
    }
    return undefined;
  }
  getBySource(t: DatagramTransport, slot: number): Peer | undefined {
    const h = t.sourceHash(slot);
    const bucket = h < 0 ? undefined : this.byTransport.get(h);
    if (bucket === undefined) return undefined;
    for (let i = 0; i < bucket.length; i++) {
      const remote = bucket[i].remote;
      if (remote !== undefined && t.sourceMatches(slot, remote)) return bucket[i];
    }
    return undefined;
  }
  getByRemote(ep: Endpoint): Peer | undefined {
    const bucket = this.byTransport.get(ep.hash);
    if (bucket === undefined) return undefined;
    for (let i = 0; i < bucket.length; i++) if (bucket[i].remote?.equals(ep)) return bucket[i];
    return undefined;
  }
  single(): Peer | undefined {
    return undefined;
  }
  add(peer: Peer): Peer | undefined {
    this.byId.set(peer.id, peer);
    this.index(peer);
    return undefined;
  }
  del(peer: Peer): boolean {
    if (this.byId.get(peer.id) !== peer) return false;
    this.byId.delete(peer.id);
    this.unindex(peer);
    return true;
  }
  rehash(peer: Peer): void {
    if (this.byId.get(peer.id) !== peer) return;
    this.unindex(peer);
    this.index(peer);
  }
  all(): IterableIterator<Peer> {
    return this.byId.values();
  }

  private index(peer: Peer): void {
    const v6 = peer.vpnIpv6;
    const remote = peer.remote;
    const k: IndexKeys = {
      v4: peer.vpnIpv4,
      v6: v6 === undefined ? -1 : vpn6Hash(v6, 0),
      tr: remote === undefined ? -1 : remote.hash,
    };
    if (k.v4 !== 0) this.byVpn4.set(k.v4, peer);
    if (k.v6 >= 0) addTo(this.byVpn6, k.v6, peer);
    if (k.tr >= 0) addTo(this.byTransport, k.tr, peer);
    this.keys.set(peer, k);
  }

  private unindex(peer: Peer): void {
    const k = this.keys.get(peer);
    if (k === undefined) return;
    if (k.v4 !== 0 && this.byVpn4.get(k.v4) === peer) this.byVpn4.delete(k.v4);
    if (k.v6 >= 0) removeFrom(this.byVpn6, k.v6, peer);
    if (k.tr >= 0) removeFrom(this.byTransport, k.tr, peer);
    this.keys.delete(peer);
  }
}

/** The keys a peer is indexed under: VPN IPv4 (0 none), hashes of VPN IPv6 and remote (-1 none). */
interface IndexKeys {
  v4: number;
  v6: number;
  tr: number;
}

/** Adds `peer` in front of its bucket (the newest peer with a key wins, as the kernel's hlist_add_head). */
function addTo(map: Map<number, Peer[]>, key: number, peer: Peer): void {
  const bucket = map.get(key);
  if (bucket === undefined) map.set(key, [peer]);
  else bucket.unshift(peer);
}

function removeFrom(map: Map<number, Peer[]>, key: number, peer: Peer): void {
  const bucket = map.get(key);
  const i = bucket?.indexOf(peer) ?? -1;
  if (bucket === undefined || i < 0) return;
  bucket.splice(i, 1);
  if (bucket.length === 0) map.delete(key);
}
