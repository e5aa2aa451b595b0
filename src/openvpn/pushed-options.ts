/**
 * The options of a PUSH_REPLY that the client acts on, from the raw option lines that
 * control/control-message.ts PushReplyAssembler hands over (OpenVPN 2.6 options.c add_option under
 * the pull permission mask, push.c process_incoming_push_reply; openvpn-protocol.md §7.2).
 *
 * Unknown or not-yet-used options are kept in `ignored` so the shell can log them.
 */

export type Topology = 'net30' | 'p2p' | 'subnet';

export interface PushedRoute {
  network: string;
  netmask: string;
  /** Absent: via the route-gateway (or the net30 peer). */
  gateway: string | undefined;
  metric: number | undefined;
}

export interface PushedConfig {
  /** `peer-id N`: the id the client writes into its P_DATA_V2 packets. */
  peerId: number | undefined;
  /** `cipher NAME`: the negotiated data cipher. */
  cipher: string | undefined;
  topology: Topology | undefined;
  /** `ifconfig local remote-or-netmask`: the second word is a netmask with topology subnet. */
  ifconfig: { local: string; second: string } | undefined;
  ifconfigIpv6: { local: string; prefixLen: number } | undefined;
  routeGateway: string | undefined;
  routes: PushedRoute[];
  ping: number | undefined;
  pingRestart: number | undefined;
  /** `key-derivation tls-ekm`, or `tls-ekm` in `protocol-flags`. */
  tlsEkm: boolean;
  /** The words of `protocol-flags`. */
  protocolFlags: string[];
  tunMtu: number | undefined;
  /** `comp-lzo` and `compress` lines in order, as pushed (data-options.ts resolves them). */
  compression: string[];
  /** Options we did not apply, as pushed. */
  ignored: string[];
}

const IPV4 = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/;

function isIpv4(s: string | undefined): s is string {
  const m = s === undefined ? null : IPV4.exec(s);
  return m?.slice(1).every((p) => Number(p) <= 255) ?? false;
}

function uint(s: string | undefined): number | undefined {
  return s !== undefined && /^\d{1,9}$/.test(s) ? Number(s) : undefined;
}

/** Reads the pushed option lines in order (a later option of the same name wins, as in add_option). */
export function parsePushedOptions(lines: readonly string[]): PushedConfig {
  const c: PushedConfig = {
    peerId: undefined,
    cipher: undefined,
    topology: undefined,
    ifconfig: undefined,
    ifconfigIpv6: undefined,
    routeGateway: undefined,
    routes: [],
    ping: undefined,
    pingRestart: undefined,
    tlsEkm: false,
    protocolFlags: [],
    tunMtu: undefined,
    compression: [],
    ignored: [],
  };
  for (const line of lines) {
    const w = line.trim().split(/\s+/);
    const [name, a1, a2] = w;
    let used = true;
    switch (name) {
      case 'peer-id': {
        const v = uint(a1);
        if (v !== undefined && v <= 0xffffff) c.peerId = v;
        else used = false;
        break;
      }
      case 'cipher':
        if (a1 !== undefined) c.cipher = a1.toUpperCase();
        else used = false;
        break;
      case 'topology':
        if (a1 === 'net30' || a1 === 'p2p' || a1 === 'subnet') c.topology = a1;
        else used = false;
        break;
      case 'ifconfig':
        if (isIpv4(a1) && isIpv4(a2)) c.ifconfig = { local: a1, second: a2 };
        else used = false;
        break;
      case 'ifconfig-ipv6': {
        const m = a1 === undefined ? null : /^([0-9a-fA-F:.]+)\/(\d{1,3})$/.exec(a1);
        if (m !== null && Number(m[2]) <= 128) c.ifconfigIpv6 = { local: m[1], prefixLen: Number(m[2]) };
        else used = false;
        break;
      }
      case 'route-gateway':
        if (isIpv4(a1)) c.routeGateway = a1;
        else used = false;
        break;
      case 'route': {
        const gw = w[3] === undefined || w[3] === 'vpn_gateway' ? undefined : w[3];
        if (isIpv4(a1) && (a2 === undefined || isIpv4(a2)) && (gw === undefined || isIpv4(gw))) {
          c.routes.push({ network: a1, netmask: a2 ?? '255.255.255.255', gateway: gw, metric: uint(w[4]) });
        } else used = false;
        break;
      }
      case 'ping':
        c.ping = uint(a1);
        used = c.ping !== undefined;
        break;
      case 'ping-restart':
        c.pingRestart = uint(a1);
        used = c.pingRestart !== undefined;
        break;
      case 'key-derivation':
        if (a1 === 'tls-ekm') c.tlsEkm = true;
        else used = false;
        break;
      case 'protocol-flags':
        c.protocolFlags = w.slice(1);
        if (c.protocolFlags.includes('tls-ekm')) c.tlsEkm = true;
        break;
      case 'tun-mtu':
        c.tunMtu = uint(a1);
        used = c.tunMtu !== undefined;
        break;
      case 'comp-lzo':
      case 'compress':
        c.compression.push(line.trim());
        break;
      default:
        used = false;
    }
    if (!used) c.ignored.push(line);
  }
  return c;
}

/** A dotted netmask as a prefix length, or undefined if it is not contiguous. */
export function netmaskPrefix(mask: string): number | undefined {
  if (!isIpv4(mask)) return undefined;
  const v = mask.split('.').reduce((acc, p) => acc * 256 + Number(p), 0);
  let n = 0;
  while (n < 32 && v & (2 ** (31 - n))) n++;
  const expect = n === 0 ? 0 : (2 ** 32 - 2 ** (32 - n)) >>> 0;
  return v === expect ? n : undefined;
}
