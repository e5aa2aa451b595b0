/**
 * IPv4 and IPv6 address arithmetic for the config helpers (`server`, `server-ipv6`, pools): strict
 * parsing, netmasks and prefix lengths, adding to an address.
 */
import { isIPv6 } from 'node:net';

/** A dotted quad to a 32-bit unsigned number; undefined unless exactly four decimal bytes. */
export function parseIpv4(s: string): number | undefined {
  const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(s);
  if (!m) return undefined;
  let v = 0;
  for (let i = 1; i <= 4; i++) {
    const b = Number(m[i]);
    if (b > 255) return undefined;
    v = v * 256 + b;
  }
  return v;
}

export function formatIpv4(v: number): string {
  const u = v >>> 0;
  return [u >>> 24, (u >>> 16) & 255, (u >>> 8) & 255, u & 255].join('.');
}

/** The netmask of a prefix length (0..32). */
export function prefixToNetmask(prefix: number): number {
  return prefix === 0 ? 0 : (0xffffffff << (32 - prefix)) >>> 0;
}

/** A netmask's prefix length, or -1 when its one bits are not contiguous from the top. */
export function netmaskToPrefix(mask: number): number {
  for (let p = 0; p <= 32; p++) if (prefixToNetmask(p) === mask >>> 0) return p;
  return -1;
}

/** The last address of a network (its broadcast address). */
export function lastOf(network: number, mask: number): number {
  return (network | (~mask >>> 0)) >>> 0;
}

/** An IPv6 address to a 128-bit number; undefined if not an IPv6 literal. */
export function parseIpv6(s: string): bigint | undefined {
  if (!isIPv6(s) || s.includes('%')) return undefined;
  let text = s;
  // a trailing dotted quad (::ffff:1.2.3.4) becomes two groups
  const dotted = /^(.*:)(\d+\.\d+\.\d+\.\d+)$/.exec(text);
  if (dotted) {
    const v4 = parseIpv4(dotted[2]);
    if (v4 === undefined) return undefined;
    text = `${dotted[1]}${(v4 >>> 16).toString(16)}:${(v4 & 0xffff).toString(16)}`;
  }
  const [head, tail] = text.includes('::') ? text.split('::') : [text, undefined];
  const h = head === '' ? [] : head.split(':');
  const t = tail === undefined || tail === '' ? [] : tail.split(':');
  const groups =
    tail === undefined ? h : [...h, ...new Array<string>(8 - h.length - t.length).fill('0'), ...t];
  if (groups.length !== 8) return undefined;
  let v = 0n;
  for (const g of groups) v = (v << 16n) | BigInt(Number.parseInt(g, 16));
  return v;
}

/** A 128-bit number as an IPv6 address in the canonical short form (RFC 5952, as inet_ntop). */
export function formatIpv6(v: bigint): string {
  const groups: number[] = [];
  for (let i = 7; i >= 0; i--) groups.push(Number((v >> BigInt(i * 16)) & 0xffffn));
  // the longest run of two or more zero groups, the first one on a tie, becomes '::'
  let bestStart = -1;
  let bestLen = 1;
  for (let i = 0; i < 8; ) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLen) {
      bestStart = i;
      bestLen = j - i;
    }
    i = j;
  }
  const hex = groups.map((g) => g.toString(16));
  if (bestStart < 0) return hex.join(':');
  return `${hex.slice(0, bestStart).join(':')}::${hex.slice(bestStart + bestLen).join(':')}`;
}

/** `address/bits`; bits defaults to 128 when absent, as OpenVPN's get_ipv6_addr. */
export function parseIpv6Net(s: string): { value: bigint; prefix: number } | undefined {
  const slash = s.indexOf('/');
  const addr = slash < 0 ? s : s.slice(0, slash);
  const bits = slash < 0 ? '128' : s.slice(slash + 1);
  if (!/^\d{1,3}$/.test(bits) || Number(bits) > 128) return undefined;
  const value = parseIpv6(addr);
  if (value === undefined) return undefined;
  return { value, prefix: Number(bits) };
}

/** Add `n` to an IPv6 address, wrapping at 2^128 (OpenVPN's add_in6_addr). */
export function addIpv6(v: bigint, n: number): bigint {
  return (v + BigInt(n)) & ((1n << 128n) - 1n);
}
