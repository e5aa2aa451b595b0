/**
 * Applies the pushed addresses and routes to the TUN device with iproute2, as OpenVPN 2.6 tun.c
 * do_ifconfig and route.c do with `ip` (net30/p2p: a point-to-point address with the peer; subnet:
 * the address with its netmask). For now through the `ip` command; rtnetlink comes later.
 */
import { execFileSync } from 'node:child_process';
import { netmaskPrefix, type PushedConfig } from './pushed-options.js';

export interface AppliedNetConfig {
  /** `ip` argument lists run, in order (for the log). */
  commands: string[][];
}

function ip(args: string[], out: string[][]): void {
  out.push(args);
  execFileSync('ip', args, { stdio: ['ignore', 'ignore', 'pipe'] });
}

/** Brings `ifname` up with the pushed MTU, address and routes. Throws on the first failing command. */
export function applyNetConfig(ifname: string, pushed: PushedConfig, tunMtu: number): AppliedNetConfig {
  const commands: string[][] = [];
  ip(['link', 'set', 'dev', ifname, 'up', 'mtu', String(pushed.tunMtu ?? tunMtu)], commands);
  const topology = pushed.topology ?? 'net30';
  let gateway = pushed.routeGateway;
  if (pushed.ifconfig !== undefined) {
    const { local, second } = pushed.ifconfig;
    if (topology === 'subnet') {
      const prefix = netmaskPrefix(second);
      if (prefix === undefined) throw new Error(`pushed ifconfig: bad netmask ${second}`);
      ip(['addr', 'add', `${local}/${prefix}`, 'dev', ifname], commands);
    } else {
      ip(['addr', 'add', 'local', local, 'peer', second, 'dev', ifname], commands);
      gateway ??= second;
    }
  }
  if (pushed.ifconfigIpv6 !== undefined) {
    const { local, prefixLen } = pushed.ifconfigIpv6;
    ip(['-6', 'addr', 'add', `${local}/${prefixLen}`, 'dev', ifname, 'nodad'], commands);
  }
  for (const r of pushed.routes) {
    const prefix = netmaskPrefix(r.netmask);
    const via = r.gateway ?? gateway;
    if (prefix === undefined) throw new Error(`pushed route: bad netmask ${r.netmask}`);
    const args = ['route', 'add', `${r.network}/${prefix}`];
    if (via !== undefined) args.push('via', via);
    args.push('dev', ifname);
    if (r.metric !== undefined) args.push('metric', String(r.metric));
    ip(args, commands);
  }
  return { commands };
}
