/**
 * What the client's network configuration will be, decided without touching the system: the
 * settings from the profile and the PUSH_REPLY (OpenVPN 2.6 options.c add_option for ifconfig,
 * ifconfig-ipv6, topology, route, route-ipv6, route-gateway, route-metric, redirect-gateway,
 * redirect-private, dhcp-option, tun-mtu under the pull permission mask of init.c
 * pull_permission_mask), then the address, MTU and route list as tun.c do_ifconfig and route.c
 * init_route_list / init_route_ipv6_list / redirect_default_route_to_vpn would apply them on Linux.
 *
 * The system lookups it needs (the route to the server, the default route) are inputs, so the plan is
 * a pure function of them and unit-tested; net-config.ts does the lookups and applies the plan.
 */
import { isIPv4, isIPv6 } from 'node:net';
import { formatIPv6, parseIPv6 } from '../net/ip-address.js';
import { netmaskPrefix, type Topology } from './pushed-options.js';

/** A directive's name and arguments (from the profile, or a pushed line split into words). */
export interface NetDirective {
  name: string;
  args: string[];
}

export interface RouteOption {
  network: string;
  netmask: string | undefined;
  gateway: string | undefined;
  metric: string | undefined;
  pushed: boolean;
}

export interface Route6Option {
  prefix: string;
  gateway: string | undefined;
  metric: string | undefined;
  pushed: boolean;
}

/** route.h RG_* flags, as words. */
export interface RedirectFlags {
  /** RG_ENABLE: redirect-gateway or redirect-private given (and not `!ipv4`). */
  enable: boolean;
  /** RG_REROUTE_GW: redirect-gateway (not -private). */
  rerouteGw: boolean;
  def1: boolean;
  local: boolean;
  autolocal: boolean;
  blockLocal: boolean;
  bypassDhcp: boolean;
  bypassDns: boolean;
  /** `ipv6`: the IPv6 list's RG_REROUTE_GW. */
  ipv6: boolean;
}

/** The network settings in force after the pull (options.c, with the pushed ones applied). */
export interface NetSettings {
  topology: Topology;
  ifconfig: { local: string; second: string } | undefined;
  ifconfigIpv6: { local: string; netbits: number; remote: string } | undefined;
  routeGateway: string | undefined;
  /** route-metric (0: none). */
  routeMetric: number;
  routes: RouteOption[];
  routes6: Route6Option[];
  redirect: RedirectFlags;
  /** `dhcp-option` argument lists in order: foreign_option_N. */
  foreign: string[][];
  tunMtu: number | undefined;
  /** `--dns`: search domains and servers by priority (dns.c), for the scripts' dns_* variables. */
  dns: DnsSettings;
  /** Settings refused or ignored, for the log. */
  warnings: string[];
}

export interface DnsServer {
  priority: number;
  /** Canonical address text and port (0: none). */
  addresses: { address: string; port: number }[];
  resolveDomains: string[];
  dnssec: 'yes' | 'no' | 'optional' | undefined;
  transport: 'plain' | 'DoH' | 'DoT' | undefined;
  sni: string | undefined;
}

export interface DnsSettings {
  searchDomains: string[];
  /** Sorted by priority; a pushed server replaces the profile's of the same priority. */
  servers: DnsServer[];
}

/** dns.c dns_server_addr_parse: `1.2.3.4`, `1.2.3.4:853`, `ab::cd`, `[ab::cd]:853`. */
function parseDnsAddress(s: string): { address: string; port: number } | undefined {
  const first = s.indexOf(':');
  const last = s.lastIndexOf(':');
  let addr = s;
  let port = 0;
  const portOf = (t: string) =>
    /^\d+$/.test(t) && Number(t) >= 1 && Number(t) <= 65535 ? Number(t) : undefined;
  if (first < 0 || first === last) {
    if (last >= 0) {
      const p = portOf(s.slice(last + 1));
      if (last === 0 || p === undefined) return undefined;
      addr = s.slice(0, last);
      port = p;
    }
    return isIPv4(addr) ? { address: addr, port } : undefined;
  }
  if (s.startsWith('[')) {
    const p = portOf(s.slice(last + 1));
    if (s[last - 1] !== ']' || p === undefined) return undefined;
    addr = s.slice(1, last - 1);
    port = p;
  }
  return isIPv6(addr) ? { address: formatIPv6(parseIPv6(addr)), port } : undefined;
}

/** One `dns` directive into `servers` (by priority) and `search`; an error text, or undefined. */
function applyDns(
  a: readonly string[],
  servers: Map<number, DnsServer>,
  search: string[],
  pushed: boolean,
): string | undefined {
  if (a[0] === 'search-domains' && a.length > 1) {
    search.push(...a.slice(1));
    return undefined;
  }
  if (a[0] !== 'server' || a.length < 4) return 'unknown option type or missing parameter';
  const prio = /^[+-]?\d+$/.test(a[1]) ? Number(a[1]) : Number.NaN;
  if (!(prio >= (pushed ? 0 : -128) && prio <= 127)) return `invalid priority value '${a[1]}'`;
  let srv = servers.get(prio);
  if (srv === undefined) {
    srv = {
      priority: prio,
      addresses: [],
      resolveDomains: [],
      dnssec: undefined,
      transport: undefined,
      sni: undefined,
    };
    servers.set(prio, srv);
  }
  const [, , what, v] = a;
  const one = a.length === 4;
  if (what === 'address') {
    for (const x of a.slice(3)) {
      const ad = parseDnsAddress(x);
      if (ad === undefined || srv.addresses.length >= 8)
        return `malformed address or maximum exceeded '${x}'`;
      srv.addresses.push(ad);
    }
  } else if (what === 'resolve-domains') srv.resolveDomains.push(...a.slice(3));
  else if (what === 'dnssec' && one && (v === 'yes' || v === 'no' || v === 'optional')) srv.dnssec = v;
  else if (what === 'transport' && one && (v === 'plain' || v === 'DoH' || v === 'DoT')) srv.transport = v;
  else if (what === 'sni' && one) srv.sni = v;
  else return `unknown option type '${what}' or missing or unknown parameter`;
  return undefined;
}

/** Pushed option names that route-nopull refuses (OPT_P_ROUTE | OPT_P_DHCPDNS). */
const NOPULL = new Set([
  'route',
  'route-ipv6',
  'route-metric',
  'redirect-gateway',
  'redirect-private',
  'block-ipv6',
  'dhcp-option',
  'dns',
]);

function noRedirect(): RedirectFlags {
  return {
    enable: false,
    rerouteGw: false,
    def1: false,
    local: false,
    autolocal: false,
    blockLocal: false,
    bypassDhcp: false,
    bypassDns: false,
    ipv6: false,
  };
}

/** options.c get_ipv6_addr: `addr/bits` (bits 0..128, default 128). */
function parseV6Prefix(s: string): { addr: string; bits: number } | undefined {
  const m = /^([^/]+)(?:\/(\d{1,3}))?$/.exec(s);
  if (m === null || !isIPv6(m[1])) return undefined;
  const bits = m[2] === undefined ? 128 : Number(m[2]);
  return bits <= 128 ? { addr: m[1], bits } : undefined;
}

/**
 * The settings from the profile's network directives (in order), the profile's topology, and the
 * pushed option lines (after pull-filter); `routeNopull` refuses the pushed routes and DHCP/DNS
 * options as OpenVPN does. A bad pushed or configured value is a warning and the option is left out
 * (add_option's msglevel for pushed options is not fatal either).
 */
export function collectNetSettings(
  config: readonly NetDirective[],
  configTopology: Topology,
  pushedLines: readonly string[],
  routeNopull: boolean,
): NetSettings {
  const s: NetSettings = {
    topology: configTopology,
    ifconfig: undefined,
    ifconfigIpv6: undefined,
    routeGateway: undefined,
    routeMetric: 0,
    routes: [],
    routes6: [],
    redirect: noRedirect(),
    foreign: [],
    tunMtu: undefined,
    dns: { searchDomains: [], servers: [] },
    warnings: [],
  };
  const dnsConfig = new Map<number, DnsServer>();
  const dnsPushed = new Map<number, DnsServer>();
  const pushed = pushedLines.map((l) => {
    const w = l.trim().split(/\s+/);
    return { name: w[0] ?? '', args: w.slice(1) };
  });
  const apply = (d: NetDirective, isPushed: boolean) => {
    const a = d.args;
    const warn = (why: string) =>
      s.warnings.push(`${isPushed ? 'pushed' : 'config'} ${[d.name, ...a].join(' ')}: ${why}`);
    if (isPushed && routeNopull && NOPULL.has(d.name)) {
      warn('refused (route-nopull)');
      return;
    }
    switch (d.name) {
      case 'topology':
        if (a[0] === 'net30' || a[0] === 'p2p' || a[0] === 'subnet') s.topology = a[0];
        else warn('unknown topology');
        break;
      case 'ifconfig':
        if (isIPv4(a[0] ?? '') && isIPv4(a[1] ?? '')) s.ifconfig = { local: a[0], second: a[1] };
        else warn('needs two IPv4 addresses (host names are not resolved)');
        break;
      case 'ifconfig-ipv6': {
        const p = parseV6Prefix(a[0] ?? '');
        if (p === undefined || a[1] === undefined || !isIPv6(a[1])) warn('needs address/bits and a remote');
        else if (p.bits < 64 || p.bits > 124) warn(`/netbits must be between 64 and 124, not /${p.bits}`);
        else s.ifconfigIpv6 = { local: p.addr, netbits: p.bits, remote: a[1] };
        break;
      }
      case 'route':
        if (a.length < 1 || a.length > 4) warn('wrong number of parameters');
        else s.routes.push({ network: a[0], netmask: a[1], gateway: a[2], metric: a[3], pushed: isPushed });
        break;
      case 'route-ipv6':
        if (a.length < 1 || a.length > 3) warn('wrong number of parameters');
        else s.routes6.push({ prefix: a[0], gateway: a[1], metric: a[2], pushed: isPushed });
        break;
      case 'route-gateway':
        if (a[0] === 'dhcp') warn('route-gateway dhcp is for tap devices; ignored');
        else if (a[0] !== undefined && (isIPv4(a[0]) || a[0] === 'vpn_gateway' || a[0] === 'net_gateway'))
          s.routeGateway = a[0];
        else warn('must be a valid address');
        break;
      case 'route-metric':
        s.routeMetric = Math.max(0, Number.parseInt(a[0] ?? '0', 10) || 0);
        break;
      case 'redirect-gateway':
      case 'redirect-private': {
        const r = s.redirect;
        if (r.enable)
          s.warnings.push(`${d.name}: given more than once (or with redirect-private): not well supported`);
        const next = { ...r, enable: true, rerouteGw: r.rerouteGw || d.name === 'redirect-gateway' };
        let ok = true;
        for (const f of a) {
          if (f === 'local') next.local = true;
          else if (f === 'autolocal') next.autolocal = true;
          else if (f === 'def1') next.def1 = true;
          else if (f === 'bypass-dhcp') next.bypassDhcp = true;
          else if (f === 'bypass-dns') next.bypassDns = true;
          else if (f === 'block-local') next.blockLocal = true;
          else if (f === 'ipv6') next.ipv6 = true;
          else if (f === '!ipv4') {
            next.enable = false;
            next.rerouteGw = false;
          } else {
            warn(`unknown flag ${f}`);
            ok = false;
          }
        }
        if (ok) s.redirect = next;
        break;
      }
      case 'dhcp-option':
        if (a.length >= 1 && a.length <= 2) s.foreign.push([d.name, ...a]);
        else warn('wrong number of parameters');
        break;
      case 'tun-mtu': {
        if (!isPushed) break;
        // options.c: a positive number; tun.c refuses an MTU below TUN_MTU_MIN (100)
        const v = /^[0-9]+$/.test(a[0] ?? '') ? Number(a[0]) : Number.NaN;
        if (a.length === 1 && v >= TUN_MTU_MIN) s.tunMtu = v;
        else warn(`refused: not a number of at least ${TUN_MTU_MIN}`);
        break;
      }
      case 'dns': {
        const why = applyDns(a, isPushed ? dnsPushed : dnsConfig, s.dns.searchDomains, isPushed);
        if (why !== undefined) warn(why);
        break;
      }
      case 'block-ipv6':
        warn('not supported yet; ignored');
        break;
      default:
        break;
    }
  };
  for (const d of config) apply(d, false);
  for (const d of pushed) apply(d, true);
  // dns_options_postprocess_pull: a pulled server replaces the profile's of the same priority
  const merged = new Map([...dnsConfig, ...dnsPushed]);
  s.dns.servers = [...merged.values()].sort((x, y) => x.priority - y.priority);
  for (const srv of s.dns.servers)
    if (srv.addresses.length === 0)
      s.warnings.push(`dns server ${srv.priority} does not have an address assigned`);
  return s;
}

/** One route to add, in order; `dev` says through which interface. */
export interface PlannedRoute {
  family: 4 | 6;
  network: string;
  prefixLen: number;
  /** The next hop; absent: on-link through `dev`. */
  gateway: string | undefined;
  /** `tun`: the VPN device; `net`: the interface of the route to the server (its `oif`). */
  dev: 'tun' | 'net' | 'any';
  metric: number | undefined;
  /** Why (for the log): `route`, `route-ipv6`, `redirect-gateway`, `server host route`... */
  reason: string;
}

/** The kernel's route towards an address, as looked up before the plan (RTM_GETROUTE). */
export interface LookedUpRoute {
  gateway: string | undefined;
  oif: number;
}

/** The least MTU tun.c accepts. */
const TUN_MTU_MIN = 100;
/** 2.6's default (and least) tun-mtu-max: a pushed tun-mtu above it is lowered to it (ovpn-ts has no tun-mtu-max). */
const TUN_MTU_MAX_DEFAULT = 1600;

/**
 * The device MTU: the pushed tun-mtu, lowered with a warning to the largest 2.6 accepts without
 * tun-mtu-max (init.c do_deferred_options: max of 1600 and the profile's tun-mtu), else the profile's.
 */
function pushedMtu(pushed: number | undefined, profile: number, warnings: string[]): number {
  if (pushed === undefined) return profile;
  const max = Math.max(TUN_MTU_MAX_DEFAULT, profile);
  if (pushed <= max) return pushed;
  warnings.push(
    `Server-pushed tun-mtu ${pushed} is too large: above ${max} (tun-mtu-max, which ovpn-ts does not support), the MTU is ${max}`,
  );
  return max;
}

export interface PlanInput {
  settings: NetSettings;
  /** tun-mtu of the profile (the pushed one wins). */
  tunMtu: number;
  /** The server's address as connected to. */
  remote: { address: string; family: 4 | 6 };
  /** The route to the server before any change (for the host route of redirect-gateway). */
  serverRoute: LookedUpRoute | undefined;
  /** The main table's IPv4 default route (net_gateway), if any. */
  defaultRoute4: LookedUpRoute | undefined;
  /** The IPv6 default route's gateway (net_gateway_ipv6), if any. */
  defaultRoute6: LookedUpRoute | undefined;
}

export interface NetPlan {
  mtu: number;
  /** The IPv4 address: with a `peer` in net30/p2p. */
  addr4: { local: string; prefixLen: number; peer: string | undefined } | undefined;
  addr6: { local: string; prefixLen: number } | undefined;
  /** The original default route to delete first (redirect-gateway without def1). */
  deleteDefault: PlannedRoute | undefined;
  routes: PlannedRoute[];
  /** route_vpn_gateway. */
  vpnGateway: string | undefined;
  /** route_net_gateway. */
  netGateway: string | undefined;
  netGateway6: string | undefined;
  /** route_network_N... and route_ipv6_network_N..., in OpenVPN's order. */
  routeEnv: Record<string, string>;
  /** Whether redirect-gateway was carried out (the `redirect_gateway` variable). */
  redirected: boolean;
  warnings: string[];
}

function v4ToInt(s: string): number {
  return s.split('.').reduce((acc, p) => acc * 256 + Number(p), 0) >>> 0;
}

function intToV4(v: number): string {
  return [v >>> 24, (v >>> 16) & 255, (v >>> 8) & 255, v & 255].join('.');
}

/** Whether `host` (IPv6 text) is inside `prefix/bits` (route_ipv6_match_host). */
function v6Covers(prefix: string, bits: number, host: string): boolean {
  const a = parseIPv6(prefix);
  const b = parseIPv6(host);
  let n = bits;
  for (let i = 0; i < 16 && n > 0; i++, n -= 8) {
    const mask = n >= 8 ? 0xff : (0xff << (8 - n)) & 0xff;
    if ((a[i] & mask) !== (b[i] & mask)) return false;
  }
  return true;
}

/** init.c do_init_route_ipv6_list: what `redirect-gateway ipv6` adds. */
export const IPV6_REDIRECT_PREFIXES = ['::/3', '2000::/4', '3000::/4', 'fc00::/7'];

/** route.c is_route_parm_defined: absent or `default` means "not given". */
function given(p: string | undefined): p is string {
  return p !== undefined && p !== 'default';
}

/** The plan: address, MTU, and routes in the order OpenVPN adds them (add_routes). */
export function planNetConfig(input: PlanInput): NetPlan {
  const s = input.settings;
  const warnings = [...s.warnings];
  const tun = s.topology === 'net30' || s.topology === 'p2p';
  const plan: NetPlan = {
    mtu: pushedMtu(s.tunMtu, input.tunMtu, warnings),
    addr4: undefined,
    addr6: undefined,
    deleteDefault: undefined,
    routes: [],
    vpnGateway: undefined,
    netGateway: input.defaultRoute4?.gateway,
    netGateway6: input.defaultRoute6?.gateway,
    routeEnv: {},
    redirected: false,
    warnings,
  };
  if (s.ifconfig !== undefined) {
    if (tun) plan.addr4 = { local: s.ifconfig.local, prefixLen: 32, peer: s.ifconfig.second };
    else {
      const p = netmaskPrefix(s.ifconfig.second);
      if (p === undefined)
        warnings.push(`ifconfig: ${s.ifconfig.second} is not a netmask (topology ${s.topology})`);
      else plan.addr4 = { local: s.ifconfig.local, prefixLen: p, peer: undefined };
    }
  }
  if (s.ifconfigIpv6 !== undefined)
    plan.addr6 = { local: s.ifconfigIpv6.local, prefixLen: s.ifconfigIpv6.netbits };

  // do_init_route_list: the VPN gateway is the net30/p2p peer, or route-gateway
  const special = (w: string): string | undefined | null => {
    if (w === 'vpn_gateway') return plan.vpnGateway ?? null;
    if (w === 'net_gateway') return plan.netGateway ?? null;
    if (w === 'remote_host') return input.remote.family === 4 ? input.remote.address : null;
    return undefined;
  };
  let gw: string | undefined = tun ? s.ifconfig?.second : undefined;
  if (s.routeGateway !== undefined) {
    const sp = special(s.routeGateway);
    gw = sp === undefined ? s.routeGateway : (sp ?? undefined);
  }
  plan.vpnGateway = gw;
  const metric = s.routeMetric > 0 ? s.routeMetric : undefined;

  // redirect_default_route_to_vpn runs before the route list is added
  const r = s.redirect;
  if (r.enable) {
    if (plan.vpnGateway === undefined && r.rerouteGw) {
      warnings.push(
        'NOTE: unable to redirect IPv4 default gateway -- VPN gateway parameter (--route-gateway or --ifconfig) is missing',
      );
    } else {
      let local = r.local;
      if (r.autolocal && input.serverRoute !== undefined) local = input.serverRoute.gateway === undefined;
      if (!local && input.remote.family === 4) {
        if (input.serverRoute === undefined)
          warnings.push(`NOTE: no route to the server ${input.remote.address}: its host route is not added`);
        else
          plan.routes.push({
            family: 4,
            network: input.remote.address,
            prefixLen: 32,
            gateway: input.serverRoute.gateway,
            dev: 'net',
            metric: undefined,
            reason: 'server host route',
          });
      }
      if (r.blockLocal) warnings.push('redirect-gateway block-local is not supported; ignored');
      if (r.bypassDhcp || r.bypassDns)
        warnings.push('redirect-gateway bypass-dhcp/bypass-dns do nothing on Linux (as in OpenVPN); ignored');
      if (r.rerouteGw && plan.vpnGateway !== undefined) {
        if (r.def1) {
          for (const net of ['0.0.0.0', '128.0.0.0'])
            plan.routes.push({
              family: 4,
              network: net,
              prefixLen: 1,
              gateway: plan.vpnGateway,
              dev: 'any',
              metric: undefined,
              reason: 'redirect-gateway def1',
            });
        } else {
          if (input.defaultRoute4 !== undefined)
            plan.deleteDefault = {
              family: 4,
              network: '0.0.0.0',
              prefixLen: 0,
              gateway: input.defaultRoute4.gateway,
              dev: 'net',
              metric: undefined,
              reason: 'original default route',
            };
          plan.routes.push({
            family: 4,
            network: '0.0.0.0',
            prefixLen: 0,
            gateway: plan.vpnGateway,
            dev: 'any',
            metric: undefined,
            reason: 'redirect-gateway',
          });
        }
      }
      plan.redirected = true;
    }
  }

  // init_route_list: route_network_N... in order
  let n = 0;
  for (const ro of s.routes) {
    const fail = (why: string) => warnings.push(`route ${ro.network}: ${why}; not added`);
    if (!given(ro.network)) {
      fail('no network');
      continue;
    }
    const spNet = special(ro.network);
    const network = spNet === undefined ? ro.network : spNet;
    if (network === null) {
      fail(`${ro.network} undefined`);
      continue;
    }
    if (!isIPv4(network)) {
      fail('not an IPv4 address (host names are not resolved)');
      continue;
    }
    const netmask = given(ro.netmask) ? ro.netmask : '255.255.255.255';
    const prefixLen = netmaskPrefix(netmask);
    if (prefixLen === undefined) {
      fail(`bad netmask ${netmask}`);
      continue;
    }
    let gateway: string | undefined;
    if (given(ro.gateway)) {
      const sp = special(ro.gateway);
      if (sp === null) {
        fail(`${ro.gateway} undefined`);
        continue;
      }
      gateway = sp ?? ro.gateway;
      if (!isIPv4(gateway)) {
        fail(`bad gateway ${gateway}`);
        continue;
      }
    } else if (plan.vpnGateway !== undefined) gateway = plan.vpnGateway;
    else {
      fail(
        'OpenVPN needs a gateway parameter for a --route option and no default was specified by either --route-gateway or --ifconfig options',
      );
      continue;
    }
    let m = metric;
    if (given(ro.metric)) {
      m = Number.parseInt(ro.metric, 10);
      if (!(m >= 0)) {
        fail(`route metric must be >= 0 (${ro.metric})`);
        continue;
      }
    }
    n++;
    plan.routeEnv[`route_network_${n}`] = network;
    plan.routeEnv[`route_netmask_${n}`] = netmask;
    plan.routeEnv[`route_gateway_${n}`] = gateway;
    if (m !== undefined) plan.routeEnv[`route_metric_${n}`] = String(m);
    plan.routes.push({
      family: 4,
      network: intToV4(v4ToInt(network)),
      prefixLen,
      gateway,
      dev: 'any',
      metric: m,
      reason: ro.pushed ? 'pushed route' : 'route',
    });
  }

  // init_route_ipv6_list: the list, the redirect prefixes, and the server's host route if covered
  const v6opts = [...s.routes6];
  if (r.ipv6)
    for (const p of IPV6_REDIRECT_PREFIXES)
      v6opts.push({ prefix: p, gateway: undefined, metric: undefined, pushed: false });
  const gw6 = s.ifconfigIpv6?.remote;
  const v6routes: PlannedRoute[] = [];
  const env6: { network: string; gateway: string; metric: number | undefined }[] = [];
  let coversServer = false;
  for (const ro of v6opts) {
    const p = parseV6Prefix(ro.prefix);
    if (p === undefined) {
      warnings.push(`route-ipv6 ${ro.prefix}: not an IPv6 prefix; not added`);
      continue;
    }
    let gateway = gw6;
    if (given(ro.gateway)) {
      if (!isIPv6(ro.gateway)) {
        warnings.push(`route-ipv6 ${ro.prefix}: cannot parse gateway spec '${ro.gateway}'; not added`);
        continue;
      }
      gateway = ro.gateway;
    }
    let m = metric;
    if (given(ro.metric)) {
      m = Number.parseInt(ro.metric, 10);
      if (!(m >= 0)) {
        warnings.push(`route-ipv6 ${ro.prefix}: route metric must be >= 0; not added`);
        continue;
      }
    }
    env6.push({ network: `${formatIPv6(parseIPv6(p.addr))}/${p.bits}`, gateway: gateway ?? '::', metric: m });
    if (input.remote.family === 6 && v6Covers(p.addr, p.bits, input.remote.address)) coversServer = true;
    // add_route_ipv6: on a tun device the gateway is never set, the device says it all
    v6routes.push({
      family: 6,
      network: clearHostBits6(p.addr, p.bits),
      prefixLen: p.bits,
      gateway: undefined,
      dev: 'tun',
      metric: m !== undefined && m > 0 ? m : undefined,
      reason: ro.pushed
        ? 'pushed route-ipv6'
        : r.ipv6 && IPV6_REDIRECT_PREFIXES.includes(ro.prefix)
          ? 'redirect-gateway ipv6'
          : 'route-ipv6',
    });
  }
  if (coversServer) {
    if (input.serverRoute === undefined)
      warnings.push(
        'ROUTE6: IPv6 route overlaps with IPv6 remote address, but could not determine IPv6 gateway address + interface',
      );
    else {
      plan.routes.push({
        family: 6,
        network: input.remote.address,
        prefixLen: 128,
        gateway: input.serverRoute.gateway,
        dev: 'net',
        metric: 1,
        reason: 'server host route',
      });
      // it heads OpenVPN's list, so it is route_ipv6_network_1
      env6.unshift({
        network: `${input.remote.address}/128`,
        gateway: input.serverRoute.gateway ?? '::',
        metric: 1,
      });
    }
  }
  env6.forEach((e, i) => {
    plan.routeEnv[`route_ipv6_network_${i + 1}`] = e.network;
    plan.routeEnv[`route_ipv6_gateway_${i + 1}`] = e.gateway;
    if (e.metric !== undefined) plan.routeEnv[`route_ipv6_metric_${i + 1}`] = String(e.metric);
  });
  plan.routes.push(...v6routes);
  return plan;
}

/** `addr` with the bits past `bits` cleared (route_ipv6_clear_host_bits), as text. */
export function clearHostBits6(addr: string, bits: number): string {
  const b = parseIPv6(addr);
  for (let i = 0; i < 16; i++) {
    const keep = Math.max(0, Math.min(8, bits - i * 8));
    b[i] &= (0xff << (8 - keep)) & 0xff;
  }
  return formatIPv6(b);
}
