/**
 * The kernel routes a connected client brings on the server's MP tun (2.6 dco.c dco_install_iroute
 * and dco_delete_iroutes, multi.c multi_check_push_ifconfig_extra_route), installed when it is
 * admitted and removed when it goes:
 *
 * - each `iroute` / `iroute-ipv6` (iroute.ts planIroutes): the network via the client's VPN address,
 *   metric DCO_IROUTE_METRIC, on-link (so the kernel takes the gateway in net30 too, where only a
 *   gatewayed route covers the client addresses). The MP device (peer/peer-route.ts peerByDst) sends
 *   a packet for that network to the peer whose VPN address is the route's gateway, and lets the
 *   client send from it (checkBySrc), as the kernel driver does;
 * - a client VPN address outside every network of the tun (an `ifconfig-push` elsewhere): a host
 *   route on the tun, so its packets reach the device at all.
 *
 * The server's own `route` lines are installed at DCO_DEFAULT_METRIC (server-tun.ts) so an iroute of
 * the same network wins while its client is connected, as 2.6 with DCO does.
 */
import type { ClientConfig, ServerOptions } from '../../config/server-options.js';
import { parseIPv4, parseIPv6 } from '../../net/ip-address.js';
import { type RouteSpec, Rtnl, RtnlError } from '../../routing/rtnl-config.js';
import { EADDRNOTAVAIL } from '../../sys/libc.js';
import { DCO_IROUTE_METRIC, type IrouteRoute, type IrouteServer, planIroutes } from './iroute.js';
import type { ClientAddresses } from './push-list.js';

const ESRCH = 3;
const ENOENT = 2;
const ENODEV = 19;

/** One route installed for a client. */
export interface ClientRoute extends IrouteRoute {
  /** true: an iroute (listed in the status file); false: a host route to an out-of-network address. */
  iroute: boolean;
}

export class ClientRoutes {
  private readonly byPeer = new Map<number, ClientRoute[]>();
  private readonly server: IrouteServer;

  constructor(
    o: Pick<ServerOptions, 'routes' | 'routesIpv6' | 'ifconfig' | 'ifconfigIpv6'>,
    private readonly ifindex: number,
    private readonly ifname: string,
    private readonly log: (msg: string) => void,
  ) {
    const ifc = o.ifconfig;
    this.server = {
      routes: o.routes,
      routesIpv6: o.routesIpv6,
      tunnelIpv4:
        ifc?.topology === 'subnet'
          ? { address: ifc.local, prefix: prefixOf(ifc.remoteOrPrefix) }
          : ifc === undefined
            ? undefined
            : { address: ifc.remoteOrPrefix, prefix: 32 },
      tunnelIpv6: o.ifconfigIpv6,
    };
  }

  /** The client's routes go in (each failure logged, the others still added). Returns them. */
  install(peerId: number, config: ClientConfig | undefined, vpn: ClientAddresses): ClientRoute[] {
    this.remove(peerId);
    const v4 = vpn.ifconfig?.local;
    const v6 = vpn.ifconfigIpv6?.local;
    const plan = planIroutes(config ?? { iroutes: [], iroutesIpv6: [] }, { ipv4: v4, ipv6: v6 }, this.server);
    for (const n of plan.notes) this.log(`NOTE: ${n}`);
    const wanted: ClientRoute[] = plan.routes.map((r) => ({ ...r, iroute: true }));
    // a host route for an address no network of the tun covers (an empty plan covers nothing: check)
    if (
      v4 !== undefined &&
      planIroutes(
        { iroutes: [{ address: v4, prefix: 32 }], iroutesIpv6: [] },
        { ipv4: v4, ipv6: undefined },
        this.server,
      ).notes.length > 0
    )
      wanted.push({ family: 4, dst: v4, prefix: 32, via: '', metric: DCO_IROUTE_METRIC, iroute: false });
    if (
      v6 !== undefined &&
      planIroutes(
        { iroutes: [], iroutesIpv6: [{ address: v6, prefix: 128 }] },
        { ipv4: undefined, ipv6: v6 },
        this.server,
      ).notes.length > 0
    )
      wanted.push({ family: 6, dst: v6, prefix: 128, via: '', metric: DCO_IROUTE_METRIC, iroute: false });
    const added: ClientRoute[] = [];
    if (wanted.length === 0) return added;
    const rtnl = new Rtnl();
    try {
      for (const r of wanted) {
        try {
          rtnl.addRoute(this.spec(r));
          added.push(r);
          this.log(
            `net_route_v${r.family}_add: ${r.dst}/${r.prefix} via ${r.via || 'dev'} dev ${this.ifname} metric ${r.metric}`,
          );
        } catch (e) {
          this.log(`ERROR: route ${r.dst}/${r.prefix} via ${r.via || 'dev'}: ${(e as Error).message}`);
        }
      }
    } finally {
      rtnl.close();
    }
    this.byPeer.set(peerId, added);
    return added;
  }

  /** The client's routes go (those already gone with the device are no error). */
  remove(peerId: number): void {
    const routes = this.byPeer.get(peerId);
    if (routes === undefined) return;
    this.byPeer.delete(peerId);
    if (routes.length === 0) return;
    const rtnl = new Rtnl();
    try {
      for (const r of routes) {
        try {
          rtnl.delRoute(this.spec(r));
          this.log(
            `net_route_v${r.family}_del: ${r.dst}/${r.prefix} via ${r.via || 'dev'} dev ${this.ifname}`,
          );
        } catch (e) {
          const gone = e instanceof RtnlError && [ESRCH, ENODEV, ENOENT, EADDRNOTAVAIL].includes(e.sysErrno);
          if (!gone) this.log(`WARNING: route delete failed: ${(e as Error).message}`);
        }
      }
    } finally {
      rtnl.close();
    }
  }

  /** The routes installed for a client (empty when none). */
  routesOf(peerId: number): readonly ClientRoute[] {
    return this.byPeer.get(peerId) ?? [];
  }

  /** Removes every client's routes. */
  close(): void {
    for (const id of [...this.byPeer.keys()]) this.remove(id);
  }

  private spec(r: ClientRoute): RouteSpec {
    const dst = r.family === 4 ? parseIPv4(r.dst) : parseIPv6(r.dst);
    if (r.via === '') return { dst, prefixLen: r.prefix, oif: this.ifindex, metric: r.metric };
    return {
      dst,
      prefixLen: r.prefix,
      gateway: r.family === 4 ? parseIPv4(r.via) : parseIPv6(r.via),
      oif: this.ifindex,
      metric: r.metric,
      onlink: true,
    };
  }
}

/** `24` or `255.255.255.0` to a prefix length. */
function prefixOf(s: string): number {
  if (!s.includes('.')) return Number(s);
  const v = parseIPv4(s).readUInt32BE(0);
  let n = 0;
  while (n < 32 && (v & (0x80000000 >>> n)) !== 0) n++;
  return n;
}
