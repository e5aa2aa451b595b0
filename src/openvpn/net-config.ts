/**
 * The client's network configuration applied and taken back, through rtnetlink
 * (routing/rtnl-config.ts), in OpenVPN 2.6's order on Linux (init.c do_open_tun, do_route,
 * do_close_tun):
 *
 *   up:    MTU, link up, IPv4 and IPv6 addresses (tun.c do_ifconfig) → `up` script → routes
 *          (route.c add_routes: the redirect-gateway routes first, then `route`, then `route-ipv6`)
 *          → `route-up` script
 *   close: `route-pre-down` → routes deleted in reverse order (the original default route put
 *          back) → [`down` if down-pre] → the device goes (the caller) → `down`
 *
 * Everything added is recorded and only that is removed; a route that already existed (EEXIST) is
 * not ours and stays. Closing never throws: what is already gone is skipped quietly.
 *
 * Scripts run as OpenVPN runs them: only with `script-security 2` or more, synchronously, with
 * nothing but OpenVPN's variables in their environment (script-env.ts); their output goes to our log.
 * A failing or refused `up` script throws; the client makes that fatal (2.6's S_FATAL in run_up_down:
 * the process ends, exit 1).
 */
import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { isIPv4 } from 'node:net';
import type { TLSSocket } from 'node:tls';
import type { ClientOptions } from '../config/client-options.js';
import { CMD_LINE } from '../config/read.js';
import { parseIPv4, parseIPv6 } from '../net/ip-address.js';
import { formatAddr, type RouteSpec, Rtnl, RtnlError } from '../routing/rtnl-config.js';
import {
  collectNetSettings,
  type LookedUpRoute,
  type NetPlan,
  type NetSettings,
  type PlannedRoute,
  planNetConfig,
} from './net-plan.js';
import {
  buildScriptEnv,
  SCRIPT_SECURITY_WARNING,
  type ScriptType,
  scriptArgv,
  scriptVars,
} from './script-env.js';

const EEXIST = 17;
const ESRCH = 3;
const ENODEV = 19;
const ENOENT = 2;
const EADDRNOTAVAIL = 99;

export interface NetConfigContext {
  log: (msg: string) => void;
  ifname: string;
  ifindex: number;
  /** The server as connected to. */
  remote: { address: string; port: number; family: 4 | 6 };
  /** The server certificate's CN (common_name). */
  commonName: string | undefined;
}

export interface AppliedNetConfig {
  /** What was done, as the equivalent `ip` argument lists (for the log and the `up` event). */
  commands: string[][];
  settings: NetSettings;
  plan: NetPlan;
  /** The environment scripts see (after the routes). */
  env: Record<string, string>;
  /** Route additions that failed (OpenVPN's "Initialization Sequence Completed With Errors"). */
  routeErrors: number;
}

function bytes(addr: string): Buffer {
  return isIPv4(addr) ? parseIPv4(addr) : parseIPv6(addr);
}

function looked(
  r: { gateway: Buffer | undefined; oif: number | undefined } | undefined,
): LookedUpRoute | undefined {
  if (r === undefined || r.oif === undefined) return undefined;
  return { gateway: r.gateway === undefined ? undefined : formatAddr(r.gateway), oif: r.oif };
}

/** One configuration of the tunnel device: `up` once, then `beforeDeviceClose` and `afterDeviceClose`. */
export class NetConfig {
  private rtnl: Rtnl | undefined;
  /** Routes we added, in order. */
  private readonly added: RouteSpec[] = [];
  /** The default route we deleted (redirect-gateway without def1), to put back. */
  private deletedDefault: RouteSpec | undefined;
  private env: Record<string, string> = {};
  private started = false;
  private routesDone = false;
  private closedRoutes = false;
  private downDone = false;
  private tunMtu = 0;
  private local = '';
  private remote = '';
  private serverOif: number | undefined;
  private defaultOif: number | undefined;
  /** Addresses we gave the device, for removeAddresses. */
  private readonly addrs: { local: Buffer; prefixLen: number; peer?: Buffer; text: string[] }[] = [];

  constructor(
    private readonly o: ClientOptions,
    private readonly ctx: NetConfigContext,
  ) {}

  /** Applies the profile's and the pushed settings. Throws when the device cannot be configured. */
  up(pushedLines: readonly string[]): AppliedNetConfig {
    const o = this.o;
    const { log, ifindex, ifname } = this.ctx;
    const commands: string[][] = [];
    const did = (c: string[]) => {
      commands.push(c);
      log(`net: ip ${c.join(' ')}`);
    };
    this.started = true;
    const settings = collectNetSettings(o.network, o.topology, pushedLines, o.routeNopull);
    const rtnl = new Rtnl();
    this.rtnl = rtnl;
    // lookups before anything changes (get_default_gateway, and the route to the server)
    const server = rtnl.getRoute(bytes(this.ctx.remote.address));
    const serverRoute = server?.oif === ifindex ? undefined : looked(server);
    const def4 = looked(rtnl.defaultRoute(4));
    const def6 = looked(rtnl.defaultRoute(6));
    this.serverOif = serverRoute?.oif;
    this.defaultOif = def4?.oif;
    const plan = planNetConfig({
      settings,
      tunMtu: o.connections[0]?.tunMtu ?? 1500,
      remote: { address: this.ctx.remote.address, family: this.ctx.remote.family },
      serverRoute,
      defaultRoute4: def4,
      defaultRoute6: def6,
    });
    for (const w of plan.warnings) log(`WARNING: ${w}`);
    this.tunMtu = plan.mtu;
    this.local = settings.ifconfig?.local ?? '';
    this.remote = settings.ifconfig?.second ?? '';
    this.env = buildScriptEnv({
      config: configFile(o),
      verb: o.verb,
      daemon: o.daemon !== undefined,
      logRedirect: o.log !== undefined,
      startTime: Math.floor(Date.now() / 1000),
      pid: process.pid,
      connections: o.connections.map((c) => ({
        host: c.remote.host,
        port: c.remote.port,
        // proto_names' short form: a client's tcp is tcp-client (options.c turns it so)
        proto: `${c.remote.proto}${c.remote.family === 'any' ? '' : c.remote.family}${c.remote.proto === 'tcp' ? '-client' : ''}`,
      })),
      setenv: o.setenv,
      remote: this.ctx.remote,
      commonName: this.ctx.commonName,
      settings,
      plan,
    });

    if (!o.ifconfigNoexec) {
      rtnl.setLink(ifindex, { mtu: plan.mtu });
      did(['link', 'set', 'dev', ifname, 'mtu', String(plan.mtu)]);
      rtnl.setLink(ifindex, { up: true });
      did(['link', 'set', 'dev', ifname, 'up']);
      if (plan.addr4 !== undefined) {
        const a = plan.addr4;
        const peer = a.peer === undefined ? undefined : parseIPv4(a.peer);
        rtnl.addAddress(ifindex, parseIPv4(a.local), a.prefixLen, peer);
        this.addrs.push({
          local: parseIPv4(a.local),
          prefixLen: a.prefixLen,
          peer,
          text: ['addr', 'del', `${a.local}/${a.prefixLen}`, 'dev', ifname],
        });
        did(
          a.peer === undefined
            ? ['addr', 'add', `${a.local}/${a.prefixLen}`, 'dev', ifname]
            : ['addr', 'add', 'local', a.local, 'peer', a.peer, 'dev', ifname],
        );
      }
      if (plan.addr6 !== undefined) {
        rtnl.addAddress(ifindex, parseIPv6(plan.addr6.local), plan.addr6.prefixLen);
        this.addrs.push({
          local: parseIPv6(plan.addr6.local),
          prefixLen: plan.addr6.prefixLen,
          text: ['-6', 'addr', 'del', `${plan.addr6.local}/${plan.addr6.prefixLen}`, 'dev', ifname],
        });
        did(['-6', 'addr', 'add', `${plan.addr6.local}/${plan.addr6.prefixLen}`, 'dev', ifname]);
      }
    }

    if (o.scripts.up !== undefined) {
      const ok = this.runScript('up', o.scripts.up, {});
      if (!ok) throw new Error(`the up script failed (${o.scripts.up})`);
    }

    let routeErrors = 0;
    if (!o.routeNoexec) {
      if (plan.deleteDefault !== undefined) {
        const spec = this.spec(plan.deleteDefault);
        try {
          rtnl.delRoute(spec);
          this.deletedDefault = spec;
          did(['route', 'del', ...ipRouteWords(plan.deleteDefault, ifname, spec.oif)]);
        } catch (e) {
          log(`WARNING: could not delete the default route: ${(e as Error).message}`);
        }
      }
      for (const r of plan.routes) {
        const spec = this.spec(r);
        try {
          rtnl.addRoute(spec);
          this.added.push(spec);
          did([...(r.family === 6 ? ['-6'] : []), 'route', 'add', ...ipRouteWords(r, ifname, spec.oif)]);
        } catch (e) {
          if (e instanceof RtnlError && e.sysErrno === EEXIST) {
            log(`NOTE: Linux route add command failed because route exists (${r.reason}): ${e.message}`);
          } else {
            routeErrors++;
            log(`ERROR: Linux route add command failed (${r.reason}): ${(e as Error).message}`);
          }
        }
      }
      this.routesDone = true;
      Object.assign(this.env, { redirect_gateway: plan.redirected ? '1' : '0' });
    }
    if (o.scripts.routeUp !== undefined) this.runScript('route-up', o.scripts.routeUp, {});
    return { commands, settings, plan, env: { ...this.env }, routeErrors };
  }

  /** route-pre-down, the routes removed, and `down` with down-pre. Never throws. */
  beforeDeviceClose(signal = 'sigterm'): void {
    if (!this.started || this.closedRoutes) return;
    this.closedRoutes = true;
    const o = this.o;
    if (o.scripts.routePreDown !== undefined && this.routesDone)
      this.runScript('route-pre-down', o.scripts.routePreDown, { signal });
    const rtnl = this.rtnl;
    if (rtnl !== undefined) {
      for (const spec of this.added.splice(0).reverse()) {
        try {
          rtnl.delRoute(spec);
        } catch (e) {
          const gone = e instanceof RtnlError && [ESRCH, ENODEV, ENOENT, EADDRNOTAVAIL].includes(e.sysErrno);
          if (!gone) this.ctx.log(`WARNING: route delete failed: ${(e as Error).message}`);
        }
      }
      if (this.deletedDefault !== undefined) {
        try {
          rtnl.addRoute(this.deletedDefault);
        } catch (e) {
          this.ctx.log(`WARNING: could not put the default route back: ${(e as Error).message}`);
        }
        this.deletedDefault = undefined;
      }
      rtnl.close();
      this.rtnl = undefined;
    }
    if (o.downPre) this.runDown(signal);
  }

  /** `down` (unless down-pre ran it already). Never throws. */
  /**
   * Deletes the addresses `up` gave the device, through rtnetlink, when the device stays (persist-tun
   * with new pushed options: tun-keeper.ts). An address already gone is no error. Never throws.
   */
  removeAddresses(): void {
    const list = this.addrs.splice(0);
    if (list.length === 0) return;
    let rtnl: Rtnl;
    try {
      rtnl = new Rtnl();
    } catch (e) {
      this.ctx.log(`WARNING: cannot remove the device's addresses: ${(e as Error).message}`);
      return;
    }
    try {
      for (const a of list) {
        this.ctx.log(`net: ip ${a.text.join(' ')}`);
        try {
          rtnl.delAddress(this.ctx.ifindex, a.local, a.prefixLen, a.peer);
        } catch (e) {
          const gone = e instanceof RtnlError && [ENODEV, EADDRNOTAVAIL, ENOENT, ESRCH].includes(e.sysErrno);
          if (!gone) this.ctx.log(`WARNING: address delete failed: ${(e as Error).message}`);
        }
      }
    } finally {
      rtnl.close();
    }
  }

  afterDeviceClose(signal = 'sigterm'): void {
    if (!this.started) return;
    this.beforeDeviceClose(signal);
    this.runDown(signal);
  }

  private runDown(signal: string): void {
    if (this.downDone) return;
    this.downDone = true;
    if (this.o.scripts.down !== undefined) this.runScript('down', this.o.scripts.down, { signal });
  }

  private spec(r: PlannedRoute): RouteSpec {
    const oif =
      r.dev === 'tun'
        ? this.ctx.ifindex
        : r.dev === 'net'
          ? r.reason === 'original default route'
            ? this.defaultOif
            : this.serverOif
          : undefined;
    return {
      dst: bytes(r.network),
      prefixLen: r.prefixLen,
      gateway: r.gateway === undefined ? undefined : bytes(r.gateway),
      oif,
      metric: r.metric,
    };
  }

  /** Runs a script synchronously; false when refused or failed (logged). */
  private runScript(type: ScriptType, command: string, opts: { signal?: string }): boolean {
    const log = this.ctx.log;
    const hook = type === 'up' || type === 'down' ? '--up/--down' : `--${type}`;
    if (this.o.scriptSecurity < 2) {
      log(SCRIPT_SECURITY_WARNING);
      log(`WARNING: Failed running command (${hook}): disallowed by script-security setting`);
      return false;
    }
    Object.assign(
      this.env,
      scriptVars(type, this.ctx.ifname, this.tunMtu, {
        signal: opts.signal,
        redirected: undefined,
      }),
    );
    let argv: string[];
    try {
      argv = scriptArgv(command, type, {
        dev: this.ctx.ifname,
        tunMtu: this.tunMtu,
        local: this.local,
        remote: this.remote,
        context: 'init',
      });
    } catch (e) {
      log(`WARNING: Failed running command (${hook}): ${(e as Error).message}`);
      return false;
    }
    log(argv.join(' '));
    const r = spawnSync(argv[0], argv.slice(1), {
      env: this.env,
      stdio: ['ignore', 'pipe', 'pipe'],
      encoding: 'utf8',
      maxBuffer: 1 << 20,
    });
    for (const line of `${r.stdout ?? ''}${r.stderr ?? ''}`.split('\n'))
      if (line !== '') log(`${type}: ${line}`);
    if (r.error !== undefined) {
      log(
        `WARNING: Failed running command (${hook}): could not execute external program (${r.error.message})`,
      );
      return false;
    }
    if (r.status !== 0) {
      log(
        `WARNING: Failed running command (${hook}): ${r.signal ? `external program received signal ${r.signal}` : `external program exited with error status: ${r.status}`}`,
      );
      return false;
    }
    return true;
  }
}

/**
 * The CN of the server's certificate (common_name), if it has one. Call it before anything calls
 * getPeerX509Certificate (in Node 20 the peer certificate cannot be read again after that).
 */
export function peerCommonName(socket: TLSSocket): string | undefined {
  try {
    const cn: unknown = socket.getPeerCertificate()?.subject?.CN;
    return typeof cn === 'string' ? cn : Array.isArray(cn) && typeof cn[0] === 'string' ? cn[0] : undefined;
  } catch {
    return undefined;
  }
}

/** The profile's file (setenv_settings `config`): where its first remote was written. */
function configFile(o: ClientOptions): string | undefined {
  const f = o.connections[0]?.file;
  return f === undefined || f === CMD_LINE ? undefined : f;
}

/** The name of interface `ifindex` (for the log), or `#ifindex`. */
function ifnameOf(ifindex: number): string {
  try {
    for (const name of readdirSync('/sys/class/net'))
      if (readFileSync(`/sys/class/net/${name}/ifindex`, 'utf8').trim() === String(ifindex)) return name;
  } catch {
    // no sysfs: the number will do
  }
  return `#${ifindex}`;
}

/** `ip route` words for the log. */
function ipRouteWords(r: PlannedRoute, ifname: string, oif: number | undefined): string[] {
  const w = [`${r.network}/${r.prefixLen}`];
  if (r.gateway !== undefined) w.push('via', r.gateway);
  if (r.dev === 'tun') w.push('dev', ifname);
  else if (oif !== undefined) w.push('dev', ifnameOf(oif));
  if (r.metric !== undefined) w.push('metric', String(r.metric));
  return w;
}
