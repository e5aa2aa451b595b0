/**
 * The environment and arguments of `up`, `route-up`, `route-pre-down` and `down` scripts, as OpenVPN
 * 2.6 builds them (its env_set grows through the connection; a script sees all of it):
 *
 * - options.c setenv_settings: config, verb, daemon, daemon_log_redirect, daemon_start_time,
 *   daemon_pid, and per connection entry proto_N, remote_N, remote_port_N; `setenv` variables;
 *   foreign_option_N for each `dhcp-option` (the profile's first, then the pushed ones);
 * - ssl_verify.c / socket.c: untrusted_ip/untrusted_port (untrusted_ip6 for IPv6), then
 *   trusted_ip/trusted_port once the session is up, and common_name (the server's CN);
 * - tun.c do_ifconfig_setenv: ifconfig_local, ifconfig_remote (net30/p2p) or ifconfig_netmask
 *   (subnet), ifconfig_ipv6_local, ifconfig_ipv6_netbits, ifconfig_ipv6_remote;
 * - route.c: route_vpn_gateway, route_net_gateway, net_gateway_ipv6, route_network_N,
 *   route_netmask_N, route_gateway_N, route_metric_N, route_ipv6_network_N, route_ipv6_gateway_N,
 *   route_ipv6_metric_N; `redirect_gateway` once the routes are in (init.c do_route);
 * - dns.c setenv_dns_options (after the pull): dns_search_domain_N, dns_server_N_address_M,
 *   dns_server_N_port_M, dns_server_N_resolve_domain_M, dns_server_N_dnssec, _transport, _sni;
 * - init.c run_up_down: script_context (init/restart), tun_mtu, dev, dev_type (up only), signal
 *   (down), script_type.
 *
 * The arguments follow the script's own words: `dev tun_mtu 0 ifconfig_local ifconfig_remote|netmask
 * init` (2.6 passes 0 where older versions passed the link MTU, and sets no link_mtu variable).
 * X.509 variables (tls_id_N, X509_N_*) are not set.
 */
import { tokenizeLine } from '../config/tokenize.js';
import type { NetPlan, NetSettings } from './net-plan.js';

export interface ScriptEnvInput {
  /** The config file (`config`), if known. */
  config: string | undefined;
  verb: number;
  daemon: boolean;
  logRedirect: boolean;
  startTime: number;
  pid: number;
  /** Connection entries: remote host, port, proto (as written: udp, udp4, tcp-client...). */
  connections: { host: string; port: number; proto: string }[];
  setenv: ReadonlyMap<string, string>;
  /** The server's address and port, as connected to. */
  remote: { address: string; port: number; family: 4 | 6 };
  commonName: string | undefined;
  settings: NetSettings;
  plan: NetPlan;
}

/** The base environment (what every script of the connection sees). */
export function buildScriptEnv(i: ScriptEnvInput): Record<string, string> {
  const env: Record<string, string> = {};
  if (i.config !== undefined) env.config = i.config;
  env.verb = String(i.verb);
  env.daemon = i.daemon ? '1' : '0';
  env.daemon_log_redirect = i.logRedirect ? '1' : '0';
  env.daemon_start_time = String(i.startTime);
  env.daemon_pid = String(i.pid);
  i.connections.forEach((c, n) => {
    env[`proto_${n + 1}`] = c.proto;
    env[`remote_${n + 1}`] = c.host;
    env[`remote_port_${n + 1}`] = String(c.port);
  });
  for (const [k, v] of i.setenv) env[k] = v;
  i.settings.foreign.forEach((f, n) => {
    env[`foreign_option_${n + 1}`] = f.join(' ');
  });
  const ipKey = i.remote.family === 6 ? 'ip6' : 'ip';
  env[`untrusted_${ipKey}`] = i.remote.address;
  env.untrusted_port = String(i.remote.port);
  env[`trusted_${ipKey}`] = i.remote.address;
  env.trusted_port = String(i.remote.port);
  if (i.commonName !== undefined) env.common_name = i.commonName;
  const s = i.settings;
  if (s.ifconfig !== undefined) {
    env.ifconfig_local = s.ifconfig.local;
    if (s.topology === 'subnet') env.ifconfig_netmask = s.ifconfig.second;
    else env.ifconfig_remote = s.ifconfig.second;
  }
  if (s.ifconfigIpv6 !== undefined) {
    env.ifconfig_ipv6_local = s.ifconfigIpv6.local;
    env.ifconfig_ipv6_netbits = String(s.ifconfigIpv6.netbits);
    env.ifconfig_ipv6_remote = s.ifconfigIpv6.remote;
  }
  // dns.c setenv_dns_options
  s.dns.searchDomains.forEach((d, n) => {
    env[`dns_search_domain_${n + 1}`] = d;
  });
  s.dns.servers.forEach((srv, n) => {
    const k = `dns_server_${n + 1}`;
    srv.addresses.forEach((a, j) => {
      env[`${k}_address_${j + 1}`] = a.address;
      if (a.port !== 0) env[`${k}_port_${j + 1}`] = String(a.port);
    });
    srv.resolveDomains.forEach((d, j) => {
      env[`${k}_resolve_domain_${j + 1}`] = d;
    });
    if (srv.dnssec !== undefined) env[`${k}_dnssec`] = srv.dnssec;
    if (srv.transport !== undefined) env[`${k}_transport`] = srv.transport;
    if (srv.sni !== undefined) env[`${k}_sni`] = srv.sni;
  });
  const p = i.plan;
  if (p.netGateway !== undefined) env.route_net_gateway = p.netGateway;
  if (p.vpnGateway !== undefined) env.route_vpn_gateway = p.vpnGateway;
  if (p.netGateway6 !== undefined) env.net_gateway_ipv6 = p.netGateway6;
  Object.assign(env, p.routeEnv);
  return env;
}

export type ScriptType = 'up' | 'route-up' | 'route-pre-down' | 'down';

/**
 * The variables run_up_down (or do_route for route-up) adds for one script, on top of the base and
 * of what earlier scripts left (OpenVPN's env_set keeps them: `down` still sees dev_type).
 */
export function scriptVars(
  type: ScriptType,
  dev: string,
  tunMtu: number,
  opts: { restart?: boolean; signal?: string; redirected?: boolean } = {},
): Record<string, string> {
  const env: Record<string, string> = { script_type: type };
  if (type !== 'route-up') {
    if (opts.signal !== undefined) env.signal = opts.signal;
    env.script_context = opts.restart ? 'restart' : 'init';
    env.tun_mtu = String(tunMtu);
    env.dev = dev;
    if (type === 'up') env.dev_type = 'tun';
  }
  if (type !== 'up' && opts.redirected !== undefined) env.redirect_gateway = opts.redirected ? '1' : '0';
  return env;
}

/**
 * The command line of an up/down-style script: the script's own words (split as OpenVPN's parse_line
 * does), then `dev tun_mtu 0 local remote-or-netmask context`. route-up gets no extra arguments.
 */
export function scriptArgv(
  command: string,
  type: ScriptType,
  a: { dev: string; tunMtu: number; local: string; remote: string; context: 'init' | 'restart' },
): string[] {
  const words = tokenizeLine(command, { file: `--${type}`, line: 1 }).params;
  if (type === 'route-up') return words;
  return [...words, a.dev, String(a.tunMtu), '0', a.local, a.remote, a.context];
}

/** OpenVPN's SCRIPT_SECURITY_WARNING, printed when a script is refused. */
export const SCRIPT_SECURITY_WARNING =
  "WARNING: External program may not be called unless '--script-security 2' or higher is enabled. See --help text or man page for detailed info.";
