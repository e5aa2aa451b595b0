/**
 * Addresses from the command line and the peer tables, resolved as the tool's getaddrinfo() calls do:
 * numeric IPv4/IPv6 text (IPv6 with an optional %scope, an interface name or number, which becomes
 * the scope id), or a host name looked up by the resolver; ports as decimal numbers. `family` narrows
 * what is accepted as getaddrinfo's hint does (connect asks for IPv4 only).
 */
import { lookup } from 'node:dns/promises';
import { isIPv4, isIPv6 } from 'node:net';

export interface ResolvedAddress {
  family: 4 | 6;
  /** Address text without the scope. */
  address: string;
  /** IPv6 scope id (0 when none was given). */
  scopeId: number;
}

export class AddressError extends Error {
  override name = 'AddressError';
}

/** Resolves `host`; `ifindex` turns a scope's interface name into its index (0: unknown). */
export async function resolveHost(
  host: string,
  family: 0 | 4 | 6,
  ifindex: (name: string) => number,
): Promise<ResolvedAddress> {
  const pct = host.indexOf('%');
  const bare = pct >= 0 ? host.slice(0, pct) : host;
  if (isIPv4(bare) && pct < 0) {
    if (family === 6) throw new AddressError(`${host} is not an IPv6 address`);
    return { family: 4, address: bare, scopeId: 0 };
  }
  if (isIPv6(bare)) {
    if (family === 4) throw new AddressError(`${host} is not an IPv4 address`);
    let scopeId = 0;
    if (pct >= 0) {
      const scope = host.slice(pct + 1);
      scopeId = /^\d+$/.test(scope) ? Number(scope) : ifindex(scope);
      if (scopeId === 0 || scopeId > 0xffffffff) throw new AddressError(`unknown scope in ${host}`);
    }
    return { family: 6, address: bare, scopeId };
  }
  if (pct >= 0 || host === '') throw new AddressError(`invalid address ${JSON.stringify(host)}`);
  try {
    const r = await lookup(host, { family });
    return { family: r.family === 6 ? 6 : 4, address: r.address, scopeId: 0 };
  } catch (e) {
    throw new AddressError(`cannot resolve ${host}: ${(e as NodeJS.ErrnoException).code ?? String(e)}`);
  }
}

/** A port number 0..65535 in decimal. */
export function parsePort(s: string): number {
  if (!/^\d{1,5}$/.test(s) || Number(s) > 65535) throw new AddressError(`invalid port ${JSON.stringify(s)}`);
  return Number(s);
}

/** The remote attributes of a UDP peer-new message. */
export function remoteAttrs(r: ResolvedAddress, port: number): Record<string, string | number> {
  return r.family === 4
    ? { 'remote-ipv4': r.address, 'remote-port': port }
    : { 'remote-ipv6': r.address, 'remote-ipv6-scope-id': r.scopeId, 'remote-port': port };
}

/** The VPN address attribute of a peer-new message. */
export function vpnAttrs(r: ResolvedAddress): Record<string, string> {
  return r.family === 4 ? { 'vpn-ipv4': r.address } : { 'vpn-ipv6': r.address };
}
