/**
 * The server's dynamic address pool, as OpenVPN 2.6's pool.c keeps it: one list of entries, each
 * entry (a "handle") giving an IPv4 address (or, in net30, a /30 of four addresses) and the IPv6
 * address at the same index, so one handle is one client's pair of addresses.
 *
 * - net30 (`topology net30` on a tun): the pool is cut in /30 steps from `start & ~3`; entry i is the
 *   /30 at base + 4i, the client gets base + 4i + 2 and its peer address (pushed as the ifconfig
 *   remote) is base + 4i + 1;
 * - subnet / p2p ("INDIV"): entry i is start + i, one address per client;
 * - IPv6 (`ifconfig-ipv6-pool base/bits`): entry i is base + i; a base whose low 32 host bits are zero
 *   starts at base + 1; with bits >= 112 the size is what fits, else 65536.
 * With both pools the smaller size is the pool's size.
 *
 * acquire(cn) as ifconfig_pool_find: a free entry last held by the same common name wins; else the
 * free, non-fixed entry released longest ago (entries never used or hard-released count as released
 * at time 0; ties go to the lowest index). With `duplicate-cn` the first free entry is taken and
 * names are not remembered (the shell passes no name then, as multi.c does).
 *
 * Ours beyond 2.6: `reserve()` takes the entries of addresses given out by `ifconfig-push`, so a
 * dynamic lease never collides with a static one (2.6 leaves that to the admin).
 *
 * Pure: time is handed in (`now`, seconds, as 2.6's `now`); no file is touched here.
 */
import type { ServerOptions } from '../../config/server-options.js';
import { einval } from '../../errors/index.js';
import { formatIPv4, formatIPv6, parseIPv4, parseIPv6 } from '../../net/ip-address.js';

/** pool.h IFCONFIG_POOL_MAX: most entries a pool has. */
export const IFCONFIG_POOL_MAX = 65536;

/** What 2.6 logs when acquire finds nothing (multi.c multi_select_virtual_addr). */
export const POOL_EXHAUSTED = 'MULTI: no free --ifconfig-pool addresses are available';

export interface IfconfigPoolOptions {
  /** The IPv4 pool: `net30` for a tun in topology net30, else `indiv`. */
  ipv4?: { type: 'net30' | 'indiv'; start: string; end: string };
  /** The IPv6 pool (`ifconfig-ipv6-pool base/bits`). */
  ipv6?: { base: string; bits: number };
  duplicateCn: boolean;
}

/** One acquired entry. */
export interface PoolLease {
  handle: number;
  /**
   * The client's IPv4 address (2.6's `remote` out-parameter, pushed as the first ifconfig word);
   * undefined without an IPv4 pool.
   */
  ipv4: string | undefined;
  /** net30 only: the /30's other address (pushed as the ifconfig remote); undefined in subnet. */
  ipv4Peer: string | undefined;
  /** The client's IPv6 address; undefined without an IPv6 pool. */
  ipv6: string | undefined;
}

/** One entry as the pool keeps it (for status and the persist file). */
export interface PoolEntry {
  handle: number;
  inUse: boolean;
  /** Common name of the last holder (kept after a soft release). */
  commonName: string | undefined;
  /** `now` of the last soft release (0: never used, or released hard). */
  lastRelease: number;
  /** Set from a persist file read with seconds 0: never given to another name. */
  fixed: boolean;
  /** Ours: the address belongs to an `ifconfig-push`; never handed out. */
  reserved: boolean;
}

/** ifconfig_pool_verify_range: start <= end and fewer than IFCONFIG_POOL_MAX addresses. */
export function verifyPoolRange(start: string, end: string): string | undefined {
  const s = v4(start);
  const e = v4(end);
  if (s > e) return `--ifconfig-pool start IP [${start}] is greater than end IP [${end}]`;
  if (e - s >= IFCONFIG_POOL_MAX) {
    return `--ifconfig-pool address range is too large [${start} -> ${end}].  Current maximum is ${IFCONFIG_POOL_MAX} addresses`;
  }
  return undefined;
}

export class IfconfigPool {
  readonly size: number;
  readonly duplicateCn: boolean;
  readonly ipv4Type: 'net30' | 'indiv' | undefined;
  /** What 2.6 logs at init about the two pools' sizes (M_INFO note or M_WARN). */
  readonly notes: string[] = [];
  private readonly v4Base: number;
  private readonly v6Base: bigint | undefined;
  private readonly list: PoolEntry[];

  constructor(opts: IfconfigPoolOptions) {
    if (!opts.ipv4 && !opts.ipv6) throw einval('an ifconfig pool needs an IPv4 or an IPv6 range');
    this.duplicateCn = opts.duplicateCn;
    let size4 = -1;
    let size6 = -1;
    this.v4Base = 0;
    if (opts.ipv4) {
      const bad = verifyPoolRange(opts.ipv4.start, opts.ipv4.end);
      if (bad) throw einval(bad, 'ifconfig-pool');
      const start = v4(opts.ipv4.start);
      const end = v4(opts.ipv4.end);
      this.ipv4Type = opts.ipv4.type;
      if (opts.ipv4.type === 'net30') {
        this.v4Base = (start & ~3) >>> 0;
        size4 = ((end | 3) >>> 0) + 1 - this.v4Base;
        size4 >>= 2;
      } else {
        this.v4Base = start;
        size4 = end - start + 1;
      }
      if (size4 < 2)
        throw einval(`IPv4 pool size is too small (${size4}), must be at least 2`, 'ifconfig-pool');
    }
    if (opts.ipv6) {
      const { bits } = opts.ipv6;
      if (!Number.isInteger(bits) || bits < 0 || bits > 128) throw einval(`bad IPv6 pool bits ${bits}`);
      let base = v6(opts.ipv6.base);
      let low = Number(base & 0xffffffffn);
      if (128 - bits < 32) low &= 2 ** (128 - bits) - 1;
      if (low === 0) {
        low++;
        base += 1n;
      }
      this.v6Base = base;
      size6 = bits >= 112 ? 2 ** (128 - bits) - low : IFCONFIG_POOL_MAX;
      if (size6 < 2) {
        throw einval(`IPv6 pool size is too small (${size6}), must be at least 2`, 'ifconfig-ipv6-pool');
      }
    }
    let size = size4;
    if (size <= 0 || (size6 > 0 && size6 < size)) size = size6;
    if (size4 > 0 && size6 > 0) {
      if (size4 < size6) {
        this.notes.push(
          `NOTE: IPv4 pool size is ${size4}, IPv6 pool size is ${size6}. IPv4 pool size limits the number of clients that can be served from the pool`,
        );
      } else if (size4 > size6) {
        this.notes.push(
          `WARNING: IPv4 pool size is ${size4}, IPv6 pool size is ${size6}. IPv6 pool size limits the number of clients that can be served from the pool. This is likely a MISTAKE - please check your configuration`,
        );
      }
    }
    this.size = size;
    this.list = Array.from({ length: size }, (_, handle) => ({
      handle,
      inUse: false,
      commonName: undefined,
      lastRelease: 0,
      fixed: false,
      reserved: false,
    }));
  }

  /**
   * An entry for `commonName` (undefined with duplicate-cn), or undefined when every entry is taken
   * (the shell logs POOL_EXHAUSTED and the client gets no pool address).
   */
  acquire(commonName: string | undefined): PoolLease | undefined {
    // with duplicate-cn 2.6 never hands the name to the pool (multi_select_virtual_addr)
    const cn = this.duplicateCn ? undefined : commonName;
    const i = this.find(cn);
    if (i < 0) return undefined;
    const e = this.list[i];
    e.inUse = true;
    e.lastRelease = 0;
    e.commonName = cn;
    return this.lease(i);
  }

  /**
   * Gives an entry back (ifconfig_pool_release). Soft (`hard` false, a client leaving): the name is
   * kept so the same client gets it again, and `now` orders reuse. Hard: forgotten entirely.
   * False for a handle outside the pool.
   */
  release(handle: number, hard: boolean, now: number): boolean {
    const e = this.list[handle];
    if (!Number.isInteger(handle) || !e) return false;
    e.inUse = false;
    if (hard) {
      e.commonName = undefined;
      e.lastRelease = 0;
    } else {
      e.lastRelease = now;
    }
    return true;
  }

  /** The addresses of an entry (for any handle in the pool, taken or not). */
  lease(handle: number): PoolLease {
    if (!this.list[handle]) throw einval(`pool handle ${handle} out of range`);
    let ipv4: string | undefined;
    let ipv4Peer: string | undefined;
    if (this.ipv4Type === 'net30') {
      const b = this.v4Base + handle * 4;
      ipv4 = v4s(b + 2);
      ipv4Peer = v4s(b + 1);
    } else if (this.ipv4Type === 'indiv') {
      ipv4 = v4s(this.v4Base + handle);
    }
    const ipv6 = this.v6Base === undefined ? undefined : v6s(this.v6Base + BigInt(handle));
    return { handle, ipv4, ipv4Peer, ipv6 };
  }

  /**
   * The handle an IPv4 address falls in (ifconfig_pool_ip_base_to_handle: in net30 any of the /30's
   * four addresses), or -1.
   */
  handleOfIpv4(address: string): number {
    if (this.ipv4Type === undefined) return -1;
    const d = v4(address) - this.v4Base;
    const h = this.ipv4Type === 'net30' ? Math.floor(d / 4) : d;
    return h >= 0 && h < this.size ? h : -1;
  }

  /** The handle of an IPv6 address (ifconfig_pool_ipv6_base_to_handle), or -1. */
  handleOfIpv6(address: string): number {
    if (this.v6Base === undefined) return -1;
    const a = v6(address);
    const mask96 = ~0xffffffffn;
    if ((a & mask96) !== (this.v6Base & mask96)) return -1;
    const h = Number(a & 0xffffffffn) - Number(this.v6Base & 0xffffffffn);
    return h >= 0 && h < this.size ? h : -1;
  }

  /**
   * Ours: keeps the entry holding `address` (IPv4 or IPv6, as given by `ifconfig-push` /
   * `ifconfig-ipv6-push`) out of dynamic use. Returns the handle, or -1 when the address is not in
   * the pool (then nothing can collide). An entry in use stays with its holder until released.
   */
  reserve(address: string): number {
    const h = address.includes(':') ? this.handleOfIpv6(address) : this.handleOfIpv4(address);
    if (h >= 0) this.list[h].reserved = true;
    return h;
  }

  /** Undoes reserve() (the static client went away, or the ccd file changed). */
  unreserve(address: string): number {
    const h = address.includes(':') ? this.handleOfIpv6(address) : this.handleOfIpv4(address);
    if (h >= 0) this.list[h].reserved = false;
    return h;
  }

  /**
   * ifconfig_pool_set: the entry belongs to `commonName` (free, remembered as released at `now`);
   * `fixed` keeps it from anyone else.
   */
  set(commonName: string, handle: number, fixed: boolean, now: number): void {
    const e = this.list[handle];
    if (!Number.isInteger(handle) || !e) throw einval(`pool handle ${handle} out of range`);
    e.inUse = false;
    e.commonName = commonName;
    e.lastRelease = now;
    e.fixed = fixed;
  }

  /** A copy of every entry. */
  entries(): PoolEntry[] {
    return this.list.map((e) => ({ ...e }));
  }

  /** Entries free for a client without a remembered entry. */
  freeCount(): number {
    return this.list.filter((e) => !e.inUse && !e.reserved && !e.fixed).length;
  }

  /** The pool-list form of an entry (ifconfig_pool_list): the /30's base in net30, '' without a pool. */
  listAddresses(handle: number): { ipv4: string; ipv6: string } {
    let ipv4 = '';
    if (this.ipv4Type === 'net30') ipv4 = v4s(this.v4Base + handle * 4);
    else if (this.ipv4Type === 'indiv') ipv4 = v4s(this.v4Base + handle);
    const ipv6 = this.v6Base === undefined ? '' : v6s(this.v6Base + BigInt(handle));
    return { ipv4, ipv6 };
  }

  /** ifconfig_pool_find (reserved entries are never candidates). */
  private find(commonName: string | undefined): number {
    let earliest = 0;
    let previous = -1;
    let fresh = -1;
    for (let i = 0; i < this.list.length; i++) {
      const e = this.list[i];
      if (e.inUse || e.reserved) continue;
      if (this.duplicateCn) return i;
      if ((fresh === -1 || e.lastRelease < earliest) && !e.fixed) {
        earliest = e.lastRelease;
        fresh = i;
      }
      if (previous < 0 && commonName !== undefined && e.commonName === commonName) previous = i;
    }
    return previous >= 0 ? previous : fresh;
  }
}

function v4(s: string): number {
  return parseIPv4(s).readUInt32BE(0);
}

function v4s(n: number): string {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(n >>> 0, 0);
  return formatIPv4(b);
}

function v6(s: string): bigint {
  const b = parseIPv6(s);
  return (b.readBigUInt64BE(0) << 64n) | b.readBigUInt64BE(8);
}

function v6s(n: bigint): string {
  const b = Buffer.alloc(16);
  const m = n & ((1n << 128n) - 1n);
  b.writeBigUInt64BE(m >> 64n, 0);
  b.writeBigUInt64BE(m & 0xffffffffffffffffn, 8);
  return formatIPv6(b);
}

/**
 * The pool a server config asks for (multi.c multi_init): net30 cuts /30s only for topology net30,
 * every other topology hands out single addresses. Undefined without `ifconfig-pool` and
 * `ifconfig-ipv6-pool`.
 */
export function poolOptionsFromServer(
  o: Pick<ServerOptions, 'topology' | 'pool' | 'poolIpv6' | 'duplicateCn'>,
): IfconfigPoolOptions | undefined {
  if (!o.pool && !o.poolIpv6) return undefined;
  const out: IfconfigPoolOptions = { duplicateCn: o.duplicateCn };
  if (o.pool) {
    out.ipv4 = { type: o.topology === 'net30' ? 'net30' : 'indiv', start: o.pool.start, end: o.pool.end };
  }
  if (o.poolIpv6) out.ipv6 = { base: o.poolIpv6.address, bits: o.poolIpv6.prefix };
  return out;
}
