/**
 * The options of one client's PUSH_REPLY, in the order OpenVPN 2.6 sends them (push.c
 * prepare_push_reply appended to the instance's push list; multi.c multi_select_virtual_addr for the
 * addresses; push.c remove_iroutes_from_push_route_list). Checked against a stock 2.6.14 server:
 *
 *   server pushes (minus push-remove; none after push-reset; `route` lines equal to one of the
 *   client's iroutes dropped), the client's own ccd pushes, `ifconfig-ipv6 addr/bits remote`,
 *   `ifconfig local remote-netmask`, `peer-id N`, `auth-token X`, `cipher X`,
 *   `protocol-flags cc-exit tls-ekm dyn-tls-crypt` (or `key-derivation tls-ekm` for a client
 *   without cc-exit), `tun-mtu N` (when the client sent IV_MTU).
 *
 * `route-gateway` / `topology` come from the server's push list (the `server` helper puts them
 * there). The result is split into messages by control-message.ts buildPushReplies.
 */
import type { ClientConfig, Ipv6Net } from '../../config/server-options.js';
import { parseIPv6 } from '../../net/ip-address.js';
import type { PoolLease } from './ifconfig-pool.js';

/** IV_PROTO bits (ssl.h) that change the push reply. */
export const IV_PROTO_DATA_V2 = 1 << 1;
export const IV_PROTO_TLS_KEY_EXPORT = 1 << 3;
export const IV_PROTO_CC_EXIT_NOTIFY = 1 << 7;
export const IV_PROTO_DYN_TLS_CRYPT = 1 << 9;

/** The addresses pushed to one client (2.6's c2.push_ifconfig_*). */
export interface ClientAddresses {
  /** `ifconfig local remoteNetmask` (local is the client's address). */
  ifconfig: { local: string; remoteNetmask: string } | undefined;
  /** `ifconfig-ipv6 local/prefix remote`. */
  ifconfigIpv6: { local: string; prefix: number; remote: string } | undefined;
}

export interface ServerAddressing {
  topology: 'net30' | 'subnet' | 'p2p';
  /** subnet: the netmask pushed with a pool address (ifconfig-pool's netmask, else the server's). */
  subnetNetmask: string | undefined;
  /** p2p: the server's own tunnel address. */
  serverLocal: string | undefined;
  /** The server's `ifconfig-ipv6` (its address is the pushed remote, its bits the pushed bits). */
  serverIpv6: Ipv6Net | undefined;
}

/**
 * multi_select_virtual_addr: the ccd's `ifconfig-push` wins for IPv4 (then no pool entry is used:
 * the shell must not acquire one, or release it hard); else the pool lease, by topology. The ccd's
 * `ifconfig-ipv6-push` wins for IPv6; else the lease's IPv6 address.
 */
export function clientAddresses(
  server: ServerAddressing,
  lease: PoolLease | undefined,
  client: ClientConfig | undefined,
): ClientAddresses {
  let ifconfig: ClientAddresses['ifconfig'];
  let ifconfigIpv6: ClientAddresses['ifconfigIpv6'];
  if (client?.ifconfigPush) {
    ifconfig = { local: client.ifconfigPush.local, remoteNetmask: client.ifconfigPush.remoteNetmask };
  } else if (lease) {
    if (lease.ipv4 !== undefined) {
      let rn: string | undefined;
      if (server.topology === 'subnet') rn = server.subnetNetmask;
      else if (server.topology === 'net30') rn = lease.ipv4Peer;
      else rn = server.serverLocal;
      if (rn !== undefined) ifconfig = { local: lease.ipv4, remoteNetmask: rn };
    }
    if (lease.ipv6 !== undefined && server.serverIpv6) {
      ifconfigIpv6 = {
        local: lease.ipv6,
        prefix: server.serverIpv6.prefix,
        remote: server.serverIpv6.address,
      };
    }
  }
  if (client?.ifconfigIpv6Push) {
    const p = client.ifconfigIpv6Push;
    const remote = p.remote ?? server.serverIpv6?.address;
    if (remote !== undefined) ifconfigIpv6 = { local: p.address.address, prefix: p.address.prefix, remote };
  }
  return { ifconfig, ifconfigIpv6 };
}

export interface PushListInput {
  /** ServerOptions.push. */
  serverPush: readonly string[];
  /** The client's ccd / client-connect config. */
  client: ClientConfig | undefined;
  addresses: ClientAddresses;
  /** The client's IV_PROTO bits. */
  ivProto: number;
  /** The peer id (pushed only when the client announced DATA_V2). */
  peerId: number;
  /** The negotiated data cipher (pushed only to a client that negotiates: `ncp`). */
  cipher: string | undefined;
  /** tls_peer_supports_ncp: IV_NCP >= 2 or IV_CIPHERS present. */
  ncp: boolean;
  /** From auth-gen-token. */
  authToken?: string;
  /** The client's IV_MTU (undefined: not sent). */
  ivMtu?: number;
  /** The server's tun-mtu (pushed when the client sent IV_MTU). */
  tunMtu: number;
}

/** The PUSH_REPLY options for one client, in 2.6's order. */
export function buildPushList(i: PushListInput): string[] {
  const c = i.client;
  const removes = c?.pushRemove ?? [];
  const blocked4 = removes.includes('ifconfig');
  const blocked6 = removes.includes('ifconfig-ipv6');
  const prefixes = removes.filter((r) => r !== 'ifconfig' && r !== 'ifconfig-ipv6');
  const server = c?.pushReset ? [] : i.serverPush.filter((o) => !prefixes.some((r) => o.startsWith(r)));
  let out = [...server, ...(c?.push ?? [])];
  if (c) out = out.filter((o) => !routeIsIroute(o, c));

  const a = i.addresses;
  if (a.ifconfigIpv6 && !blocked6) {
    out.push(`ifconfig-ipv6 ${a.ifconfigIpv6.local}/${a.ifconfigIpv6.prefix} ${a.ifconfigIpv6.remote}`);
  }
  if (a.ifconfig && !blocked4) {
    out.push(`ifconfig ${c?.ifconfigPush?.alias ?? a.ifconfig.local} ${a.ifconfig.remoteNetmask}`);
  }
  if (i.ivProto & IV_PROTO_DATA_V2) out.push(`peer-id ${i.peerId}`);
  if (i.authToken !== undefined) out.push(`auth-token ${i.authToken}`);
  if (i.ncp && i.cipher !== undefined) out.push(`cipher ${i.cipher}`);
  let flags = '';
  if (i.ivProto & IV_PROTO_CC_EXIT_NOTIFY) {
    flags += ' cc-exit';
    if (i.ivProto & IV_PROTO_TLS_KEY_EXPORT) flags += ' tls-ekm';
  } else if (i.ivProto & IV_PROTO_TLS_KEY_EXPORT) {
    out.push('key-derivation tls-ekm');
  }
  if (i.ivProto & IV_PROTO_DYN_TLS_CRYPT) flags += ' dyn-tls-crypt';
  if (flags) out.push(`protocol-flags${flags}`);
  if (i.ivMtu !== undefined) out.push(`tun-mtu ${i.tunMtu}`);
  return out;
}

/**
 * remove_iroutes_from_push_route_list: a pushed `route net [mask]` (no gateway) or
 * `route-ipv6 net/bits` (no gateway) equal to one of the client's iroutes is not pushed to it.
 */
function routeIsIroute(opt: string, c: ClientConfig): boolean {
  const p = opt.trim().split(/\s+/);
  if (p[0] === 'route' && p.length >= 2 && p.length <= 3 && c.iroutes.length > 0) {
    const net = v4(p[1]);
    const mask = v4(p[2] ?? '255.255.255.255');
    if (net === undefined || mask === undefined) return false;
    return c.iroutes.some((r) => v4(r.address) === net && maskOf(r.prefix) === mask);
  }
  if (p[0] === 'route-ipv6' && p.length === 2 && c.iroutesIpv6.length > 0) {
    const [addr, bits] = p[1].split('/');
    const prefix = bits === undefined ? 128 : Number(bits);
    const n = v6(addr);
    if (n === undefined) return false;
    return c.iroutesIpv6.some((r) => r.prefix === prefix && v6(r.address) === n);
  }
  return false;
}

function v4(s: string): number | undefined {
  const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(s);
  if (!m) return undefined;
  const b = m.slice(1).map(Number);
  if (b.some((x) => x > 255)) return undefined;
  return ((b[0] << 24) | (b[1] << 16) | (b[2] << 8) | b[3]) >>> 0;
}

function maskOf(bits: number): number {
  return bits === 0 ? 0 : (0xffffffff << (32 - bits)) >>> 0;
}

function v6(s: string): string | undefined {
  try {
    return parseIPv6(s).toString('hex');
  } catch {
    return undefined;
  }
}
