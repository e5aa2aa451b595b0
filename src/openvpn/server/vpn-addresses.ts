/**
 * The shell's own small address assignment until the real pool (ifconfig-pool.ts, with ccd and
 * ifconfig-pool-persist) plugs in at the same two calls: `acquire` when a client is admitted, `release`
 * when it goes (2.6 pool.c ifconfig_pool_acquire / release with its two pool types):
 * - net30: the pool is cut into /30 blocks; a client gets the block's second host address, its
 *   point-to-point peer the first (pushed `ifconfig <client> <peer>`);
 * - subnet: one address per client, pushed with the netmask (`ifconfig <client> <netmask>`);
 * - IPv6: the pool base plus the client's index, pushed as `ifconfig-ipv6 <addr>/<bits> <server>`.
 */
import type { ServerOptions } from '../../config/server-options.js';

export interface VpnAddresses {
  /** The client's IPv4 address, and the second word of its `ifconfig` push (net30 peer / netmask). */
  v4: { local: string; remoteOrNetmask: string } | undefined;
  v6: { address: string; prefix: number } | undefined;
  /** The pool slot, for `release`. */
  readonly slot: number;
}

export function ipv4ToU32(s: string): number {
  const p = s.split('.').map(Number);
  return ((p[0] << 24) | (p[1] << 16) | (p[2] << 8) | p[3]) >>> 0;
}

export function u32ToIpv4(v: number): string {
  return `${v >>> 24}.${(v >>> 16) & 255}.${(v >>> 8) & 255}.${v & 255}`;
}

export function netmaskToPrefix(mask: string): number {
  const v = ipv4ToU32(mask);
  let n = 0;
  while (n < 32 && (v & (0x80000000 >>> n)) !== 0) n++;
  return n;
}

export function prefixToNetmask(prefix: number): string {
  return u32ToIpv4(prefix === 0 ? 0 : (0xffffffff << (32 - prefix)) >>> 0);
}

/** `base` + `n` as IPv6 text (the low 32 bits added, no carry past them: pools are small). */
export function ipv6Add(base: string, n: number): string {
  const groups = expandIpv6(base);
  let lo = ((groups[6] << 16) | groups[7]) >>> 0;
  lo = (lo + n) >>> 0;
  groups[6] = lo >>> 16;
  groups[7] = lo & 0xffff;
  return groups.map((g) => g.toString(16)).join(':');
}

function expandIpv6(s: string): number[] {
  const [a, b] = s.split('::');
  const head = a === '' ? [] : a.split(':').map((g) => Number.parseInt(g, 16));
  const tail = b === undefined || b === '' ? [] : b.split(':').map((g) => Number.parseInt(g, 16));
  return [...head, ...new Array<number>(8 - head.length - tail.length).fill(0), ...tail];
}

export class AddressAssigner {
  private readonly used = new Set<number>();
  private readonly size: number;
  private readonly base: number;

  constructor(private readonly o: ServerOptions) {
    if (o.pool === undefined) {
      this.size = 0;
      this.base = 0;
    } else {
      const start = ipv4ToU32(o.pool.start);
      const end = ipv4ToU32(o.pool.end);
      this.base = o.topology === 'net30' ? (start & ~3) >>> 0 : start;
      this.size = o.topology === 'net30' ? Math.floor((end - this.base + 1) / 4) : end - start + 1;
    }
  }

  /** Addresses for a new client, or undefined when the pool is full (or there is none). */
  acquire(): VpnAddresses | undefined {
    const o = this.o;
    const slots = Math.max(this.size, o.pool === undefined && o.poolIpv6 !== undefined ? 65536 : 0);
    let slot = -1;
    for (let i = 0; i < slots; i++) {
      if (!this.used.has(i)) {
        slot = i;
        break;
      }
    }
    if (slot < 0) return undefined;
    this.used.add(slot);
    let v4: VpnAddresses['v4'];
    if (o.pool !== undefined) {
      if (o.topology === 'net30') {
        const block = (this.base + slot * 4) >>> 0;
        v4 = { local: u32ToIpv4(block + 2), remoteOrNetmask: u32ToIpv4(block + 1) };
      } else {
        const mask =
          o.pool.netmask ??
          (o.ifconfig !== undefined && o.ifconfig.topology === 'subnet'
            ? o.ifconfig.remoteOrPrefix.includes('.')
              ? o.ifconfig.remoteOrPrefix
              : prefixToNetmask(Number(o.ifconfig.remoteOrPrefix))
            : '255.255.255.0');
        v4 = { local: u32ToIpv4((this.base + slot) >>> 0), remoteOrNetmask: mask };
      }
    }
    const v6 =
      o.poolIpv6 === undefined
        ? undefined
        : { address: ipv6Add(o.poolIpv6.address, slot), prefix: o.ifconfigIpv6?.prefix ?? o.poolIpv6.prefix };
    return { v4, v6, slot };
  }

  release(a: VpnAddresses): void {
    this.used.delete(a.slot);
  }
}
