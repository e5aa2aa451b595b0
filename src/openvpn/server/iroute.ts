/**
 * What a client's `iroute` / `iroute-ipv6` lines become on the server: a route on the server's MP tun
 * via the client's VPN address (2.6's pushed ifconfig local, not the alias), metric 100; none for a
 * family in which the client has no VPN address (dco.c dco_install_iroute). The MP device (like the kernel driver, and 2.6's DCO path,
 * dco_install_iroute) finds the peer for a routed packet by the route's gateway, which must be a
 * peer's VPN address. Pure: a plan the shell applies with src/routing/rtnl-config.ts (and removes
 * when the client goes).
 *
 * Ours beyond 2.6: a note when no server `route` covers the iroute (2.6's manual: packets for that
 * network would never reach the tun, so the iroute is useless).
 */
import type { At, ClientConfig, Ipv4Net, Ipv6Net } from '../../config/server-options.js';
import { formatIPv4, formatIPv6, parseIPv4, parseIPv6 } from '../../net/ip-address.js';

export interface IrouteRoute {
  family: 4 | 6;
  /** The network with its host bits cleared. */
  dst: string;
  prefix: number;
  /** The client's VPN address. */
  via: string;
  /** DCO_IROUTE_METRIC, as 2.6 installs iroutes with DCO. */
  metric: number;
}

/** dco.h DCO_IROUTE_METRIC: the metric of an iroute's route on the server. */
export const DCO_IROUTE_METRIC = 100;
/**
 * dco.h DCO_DEFAULT_METRIC: the metric of the server's own `route` / `route-ipv6` lines without one
 * (2.6 init.c do_init_route_list with DCO), so an iroute of the same network wins while its client is
 * connected.
 */
export const DCO_DEFAULT_METRIC = 200;

export interface IroutePlan {
  routes: IrouteRoute[];
  notes: string[];
}

export interface IrouteServer {
  routes: readonly { network: string; netmask: string }[];
  routesIpv6: readonly { network: Ipv6Net }[];
  /** The server's own tunnel networks (a route there needs no `route` line). */
  tunnelIpv4?: Ipv4Net;
  tunnelIpv6?: Ipv6Net;
}

/**
 * The routes for one client. An iroute of a family the client has no VPN address in is left out
 * with a note (there is no peer to route it to).
 */
export function planIroutes(
  client: Pick<ClientConfig, 'iroutes' | 'iroutesIpv6'>,
  vpn: { ipv4: string | undefined; ipv6: string | undefined },
  server: IrouteServer,
  at?: At,
): IroutePlan {
  const plan: IroutePlan = { routes: [], notes: [] };
  const where = at ? `${at.file}: ` : '';
  // a server route that is not numeric (a name resolved later) cannot be compared; it covers nothing
  const covers4: { net: bigint; prefix: number }[] = [];
  for (const r of server.routes) {
    const net = tryBits(() => bits4(parseIPv4(r.network)));
    const prefix = tryBits(() => maskLen(r.netmask));
    if (net !== undefined && prefix !== undefined) covers4.push({ net, prefix });
  }
  if (server.tunnelIpv4)
    covers4.push({ net: bits4(parseIPv4(server.tunnelIpv4.address)), prefix: server.tunnelIpv4.prefix });
  const covers6: { net: bigint; prefix: number }[] = [];
  for (const n of [
    ...server.routesIpv6.map((r) => r.network),
    ...(server.tunnelIpv6 ? [server.tunnelIpv6] : []),
  ]) {
    const net = tryBits(() => bits6(parseIPv6(n.address)));
    if (net !== undefined) covers6.push({ net, prefix: n.prefix });
  }
  for (const r of client.iroutes) {
    const net = clear(bits4(parseIPv4(r.address)), r.prefix, 32);
    const dst = formatIPv4(fromBits(net, 4));
    if (vpn.ipv4 === undefined) {
      plan.notes.push(`${where}iroute ${dst}/${r.prefix}: the client has no IPv4 VPN address; not routed`);
      continue;
    }
    if (
      !covers4.some(
        (c) =>
          c.prefix !== undefined &&
          c.prefix <= r.prefix &&
          clear(net, c.prefix, 32) === clear(c.net, c.prefix, 32),
      )
    ) {
      plan.notes.push(
        `${where}iroute ${dst}/${r.prefix} is not covered by a server 'route'; packets for it will not reach the tun`,
      );
    }
    plan.routes.push({ family: 4, dst, prefix: r.prefix, via: vpn.ipv4, metric: DCO_IROUTE_METRIC });
  }
  for (const r of client.iroutesIpv6) {
    const net = clear(bits6(parseIPv6(r.address)), r.prefix, 128);
    const dst = formatIPv6(fromBits(net, 16));
    if (vpn.ipv6 === undefined) {
      plan.notes.push(
        `${where}iroute-ipv6 ${dst}/${r.prefix}: the client has no IPv6 VPN address; not routed`,
      );
      continue;
    }
    if (
      !covers6.some((c) => c.prefix <= r.prefix && clear(net, c.prefix, 128) === clear(c.net, c.prefix, 128))
    ) {
      plan.notes.push(
        `${where}iroute-ipv6 ${dst}/${r.prefix} is not covered by a server 'route-ipv6'; packets for it will not reach the tun`,
      );
    }
    plan.routes.push({ family: 6, dst, prefix: r.prefix, via: vpn.ipv6, metric: DCO_IROUTE_METRIC });
  }
  return plan;
}

function bits4(b: Buffer): bigint {
  return BigInt(b.readUInt32BE(0));
}

function bits6(b: Buffer): bigint {
  return (b.readBigUInt64BE(0) << 64n) | b.readBigUInt64BE(8);
}

function clear(n: bigint, prefix: number, width: number): bigint {
  const host = BigInt(width - prefix);
  return (n >> host) << host;
}

function fromBits(n: bigint, bytes: 4 | 16): Buffer {
  const b = Buffer.alloc(bytes);
  if (bytes === 4) b.writeUInt32BE(Number(n), 0);
  else {
    b.writeBigUInt64BE(n >> 64n, 0);
    b.writeBigUInt64BE(n & 0xffffffffffffffffn, 8);
  }
  return b;
}

/** A contiguous netmask's length, or undefined. */
function maskLen(mask: string): number | undefined {
  const m = parseIPv4(mask).readUInt32BE(0);
  for (let bits = 0; bits <= 32; bits++) {
    if ((bits === 0 ? 0 : (0xffffffff << (32 - bits)) >>> 0) === m) return bits;
  }
  return undefined;
}

function tryBits<T>(f: () => T): T | undefined {
  try {
    return f();
  } catch {
    return undefined;
  }
}
