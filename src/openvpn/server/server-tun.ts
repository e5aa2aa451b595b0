/**
 * The server's MP ovpn device and its network configuration (2.6 init.c do_open_tun, tun.c
 * do_ifconfig, route.c add_routes for the server's own `route` lines): MTU, link up, the tunnel
 * address (net30/p2p: local with its point-to-point peer; subnet: address/prefix), the IPv6 address,
 * then (after the `up` script) the routes (a route without gateway goes via `route-gateway`, in net30
 * the ifconfig peer, else on the device; at metric 200 unless given, as 2.6 with DCO, so iroutes
 * win). Everything goes away with the device (`close`).
 */
import type { OvpnApi } from '../../api/ovpn-api.js';
import type { ServerOptions } from '../../config/server-options.js';
import { parseIPv4, parseIPv6 } from '../../net/ip-address.js';
import { Rtnl } from '../../routing/rtnl-config.js';
import { DCO_DEFAULT_METRIC } from './iroute.js';

export class ServerTun {
  private closedNow = false;

  private constructor(
    private readonly api: OvpnApi,
    readonly ifindex: number,
    readonly ifname: string,
  ) {}

  /**
   * dev-new in MP mode, then its MTU, link and addresses; `addRoutes` adds the routes (2.6 runs `up`
   * between the two). The device is removed again if that fails.
   */
  static create(api: OvpnApi, o: ServerOptions, ifname: string, log: (m: string) => void): ServerTun {
    const dev = api.devNew({ ifname, mode: 'mp' });
    const tun = new ServerTun(api, dev.ifindex, dev.ifname);
    try {
      tun.configure(o, log);
    } catch (e) {
      tun.close();
      throw e;
    }
    return tun;
  }

  /** Route-gateway for routes without one: `route-gateway`, else in net30/p2p the ifconfig peer. */
  private gateway4: string | undefined;

  get closed(): boolean {
    return this.closedNow;
  }

  private configure(o: ServerOptions, log: (m: string) => void): void {
    const rtnl = new Rtnl();
    try {
      const ifindex = this.ifindex;
      if (o.clientToClient) this.api.setClientToClient(ifindex, true);
      rtnl.setLink(ifindex, { mtu: o.tunMtu });
      rtnl.setLink(ifindex, { up: true });
      let gateway4: string | undefined = o.routeGateway;
      const ifc = o.ifconfig;
      if (ifc !== undefined) {
        if (ifc.topology === 'subnet') {
          const prefix = ifc.remoteOrPrefix.includes('.')
            ? netmaskToPrefix(ifc.remoteOrPrefix)
            : Number(ifc.remoteOrPrefix);
          rtnl.addAddress(ifindex, parseIPv4(ifc.local), prefix);
          log(`net_addr_v4_add: ${ifc.local}/${prefix} dev ${this.ifname}`);
        } else {
          rtnl.addAddress(ifindex, parseIPv4(ifc.local), 32, parseIPv4(ifc.remoteOrPrefix));
          log(`net_addr_ptp_v4_add: ${ifc.local} peer ${ifc.remoteOrPrefix} dev ${this.ifname}`);
          gateway4 ??= ifc.remoteOrPrefix;
        }
      }
      if (o.ifconfigIpv6 !== undefined) {
        rtnl.addAddress(ifindex, parseIPv6(o.ifconfigIpv6.address), o.ifconfigIpv6.prefix);
        log(`net_addr_v6_add: ${o.ifconfigIpv6.address}/${o.ifconfigIpv6.prefix} dev ${this.ifname}`);
      }
      this.gateway4 = gateway4;
    } finally {
      rtnl.close();
    }
  }

  /** The server's own `route` and `route-ipv6` lines on the device. Throws on a refused route. */
  addRoutes(o: ServerOptions, log: (m: string) => void): void {
    const rtnl = new Rtnl();
    try {
      const ifindex = this.ifindex;
      const gateway4 = this.gateway4;
      const ifc = o.ifconfig;
      for (const r of o.routes) {
        const prefix = netmaskToPrefix(r.netmask);
        const net = u32ToIpv4((ipv4ToU32(r.network) & ipv4ToU32(r.netmask)) >>> 0);
        const gw = r.gateway ?? gateway4;
        rtnl.addRoute({
          dst: parseIPv4(net),
          prefixLen: prefix,
          gateway: gw === undefined || ifc?.topology === 'subnet' ? undefined : parseIPv4(gw),
          oif: ifindex,
          metric: r.metric ?? DCO_DEFAULT_METRIC,
        });
        log(
          `net_route_v4_add: ${net}/${prefix} via ${gw ?? 'dev'} dev ${this.ifname} metric ${r.metric ?? DCO_DEFAULT_METRIC}`,
        );
      }
      for (const r of o.routesIpv6) {
        rtnl.addRoute({
          dst: parseIPv6(r.network.address),
          prefixLen: r.network.prefix,
          gateway: r.gateway === undefined ? undefined : parseIPv6(r.gateway),
          oif: ifindex,
          metric: r.metric ?? DCO_DEFAULT_METRIC,
        });
        log(
          `net_route_v6_add: ${r.network.address}/${r.network.prefix} dev ${this.ifname} metric ${r.metric ?? DCO_DEFAULT_METRIC}`,
        );
      }
    } finally {
      rtnl.close();
    }
  }

  /** Removes the device; its addresses and routes go with it. Idempotent. */
  close(): void {
    if (this.closedNow) return;
    this.closedNow = true;
    try {
      this.api.devDel({ ifindex: this.ifindex });
    } catch {
      // already gone
    }
  }
}

function ipv4ToU32(s: string): number {
  return parseIPv4(s).readUInt32BE(0);
}

function u32ToIpv4(v: number): string {
  return `${v >>> 24}.${(v >>> 16) & 255}.${(v >>> 8) & 255}.${v & 255}`;
}

function netmaskToPrefix(mask: string): number {
  const v = ipv4ToU32(mask);
  let n = 0;
  while (n < 32 && (v & (0x80000000 >>> n)) !== 0) n++;
  return n;
}
