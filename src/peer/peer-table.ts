/**
 * Where a device finds its peers (spec ovpn-kernel §4.2, §4.3). P2P holds one peer; MP indexes peers
 * by id, by VPN IPv4, by VPN IPv6 and by transport address. Lookups return undefined, never throw.
 * IPv4 addresses are uint32 numbers, IPv6 addresses their 16 bytes as a latin1 string key.
 */
import type { Peer } from './peer.js';

export interface PeerTable {
  readonly mode: 'p2p' | 'mp';
  readonly size: number;
  getById(id: number): Peer | undefined;
  getByVpn4(addr: number): Peer | undefined;
  /** The peer whose VPN IPv6 is `buf[off, off+16)`. */
  getByVpn6(buf: Buffer, off: number): Peer | undefined;
  getByTransport(key: string): Peer | undefined;
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
  getByTransport(key: string): Peer | undefined {
    return this.peer?.remote?.key === key ? this.peer : undefined;
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
  private readonly byTransport = new Map<string, Peer>();
  /** The keys each peer is indexed under, so that rehash/del remove exactly those. */
  private readonly keys = new Map<Peer, { v4: number; v6: number; v6set: boolean; tr: string }>();

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
  getByTransport(key: string): Peer | undefined {
    return this.byTransport.get(key);
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
    const k = {
      v4: peer.vpnIpv4,
      v6: v6 === undefined ? 0 : vpn6Hash(v6, 0),
      v6set: v6 !== undefined,
      tr: peer.remote?.key ?? '',
    };
    if (k.v4 !== 0) this.byVpn4.set(k.v4, peer);
    if (k.v6set) {
      const bucket = this.byVpn6.get(k.v6);
      if (bucket === undefined) this.byVpn6.set(k.v6, [peer]);
      else bucket.unshift(peer);
    }
    if (k.tr !== '') this.byTransport.set(k.tr, peer);
    this.keys.set(peer, k);
  }

  private unindex(peer: Peer): void {
    const k = this.keys.get(peer);
    if (k === undefined) return;
    if (k.v4 !== 0 && this.byVpn4.get(k.v4) === peer) this.byVpn4.delete(k.v4);
    if (k.v6set) {
      const bucket = this.byVpn6.get(k.v6);
      const i = bucket?.indexOf(peer) ?? -1;
      if (bucket !== undefined && i >= 0) {
        bucket.splice(i, 1);
        if (bucket.length === 0) this.byVpn6.delete(k.v6);
      }
    }
    if (k.tr !== '' && this.byTransport.get(k.tr) === peer) this.byTransport.delete(k.tr);
    this.keys.delete(peer);
  }
}
