/**
 * A full VPN against a full VPN: the whole product, handshake and all, as client and as server, in
 * four pairs (client → server):
 *   openvpn → openvpn    the reference: stock OpenVPN 2.6 at both ends with its best settings
 *   ovpn-ts → openvpn    the ovpn-ts client
 *   openvpn → ovpn-ts    the ovpn-ts server (skipped with a "not available" line while
 *   ovpn-ts → ovpn-ts    `ovpn-ts --config server.conf` refuses server configs)
 * Each run starts the server from a plain 2.6 server config and the client from a client config in
 * fresh processes (namespaces `sbv-s` and `sbv-c`, veth 10.211.0.1/2, VPN 10.212.0.0/24), waits until
 * the client is connected and a ping passes, then one iperf3 TCP stream for `seconds` each way
 * (forward = client → server, reverse = `-R`), then stops both. The pairs alternate in each of
 * `rounds` rounds; medians are compared against openvpn → openvpn.
 *
 * CPU per gigabyte: utime + stime (all threads, and any child processes) of each side's VPN process
 * over the iperf3 run, divided by the bytes iperf3 received; iperf3 itself is not counted.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { formatGbps, type IperfResult, measureTcp, waitForQuiet } from '../src/lab/iperf.js';
import { NetnsLab } from '../src/lab/netns.js';
import { median } from './stats.js';
import {
  BEST_CIPHER,
  clientConfig,
  type Endpoint,
  endpointTail,
  type Impl,
  OPENVPN,
  OPENVPN_BEST,
  serverConfig,
  startEndpoint,
  stopEndpoint,
  waitClient,
  waitServer,
} from './vpn-endpoints.js';
import { makeBenchPki } from './vpn-pki.js';
import { cpuSeconds } from './vpn-procs.js';

/** Target of issue 11: ovpn-ts → ovpn-ts at least 5x openvpn → openvpn (best settings), both ways. */
export const VPN_TARGET = 5;

const NET = { server: '10.211.0.1', client: '10.211.0.2', vpnNet: '10.212.0.0', vpnServer: '10.212.0.1' };
const PORT = 1194;
const MASK = '255.255.255.0';

interface Pair {
  client: Impl;
  server: Impl;
}
const PAIRS: readonly Pair[] = [
  { client: 'openvpn', server: 'openvpn' },
  { client: 'ovpn-ts', server: 'openvpn' },
  { client: 'openvpn', server: 'ovpn-ts' },
  { client: 'ovpn-ts', server: 'ovpn-ts' },
];
const pairName = (p: Pair) => `${p.client} → ${p.server}`;

interface Direction {
  bps: number;
  retransmits: number;
  /** CPU seconds per GB (1e9 bytes) moved. */
  serverCpuPerGB: number;
  clientCpuPerGB: number;
}
interface Sample {
  forward: Direction;
  reverse: Direction;
  setupMs: number;
}

/** Whether DCO (the ovpn kernel module) could be used here, and why not. */
export function dcoStatus(): string {
  const mods = ['ovpn', 'ovpn_dco_v2'].filter((m) => {
    try {
      readFileSync(`/sys/module/${m}/refcnt`);
      return true;
    } catch {
      return false;
    }
  });
  if (mods.length > 0) return `kernel module ${mods.join(', ')} loaded, but OpenVPN runs with --disable-dco`;
  let config = '';
  try {
    config = gunzipSync(readFileSync('/proc/config.gz')).toString();
  } catch {
    // no /proc/config.gz
  }
  const line = /^(# )?CONFIG_OVPN[ =].*$/m.exec(config)?.[0];
  return `not available: no ovpn kernel module loaded${line ? ` (kernel config: "${line}")` : ''}; OpenVPN runs with --disable-dco`;
}

/** `openvpn --version`, first line (it exits 1 after printing). */
export function openvpnVersion(): string {
  try {
    return execFileSync(OPENVPN, ['--version'], { encoding: 'utf8' }).split('\n')[0];
  } catch (e) {
    return String((e as { stdout?: string }).stdout ?? '').split('\n')[0];
  }
}

export interface VpnBenchOptions {
  seconds: number;
  rounds: number;
  /**
   * `tun-mtu N` and `mssfix 0` in both config files (OpenVPN's wiki advice for fast links: large
   * tunnel packets, fragmented by the kernel on the path); default none (tun MTU 1500, default mssfix).
   */
  tunMtu?: number;
}

export interface VpnBenchResult {
  /** Every pair that could run did (only the ovpn-ts server's pairs may be missing, while it is not available). */
  ran: boolean;
  /** ovpn-ts → ovpn-ts against openvpn → openvpn. */
  target: 'met' | 'missed' | 'not measured';
  /** Pairs that had at least one successful run. */
  measured: string[];
  /** Why the ovpn-ts server was not measured, if so. */
  ovpnTsUnavailable?: string;
}

export async function runVpnBench(o: VpnBenchOptions): Promise<VpnBenchResult> {
  const t0 = Date.now();
  console.log(
    `\nFull VPN vs full VPN (bench/vpn-vs-vpn.ts): iperf3, 1 TCP stream, ${o.seconds} s each way, ${o.rounds} rounds, pairs alternated`,
  );
  console.log(
    `  OpenVPN "best": UDP, ${BEST_CIPHER}, ${OPENVPN_BEST.join(' ')} on every openvpn (client and server),` +
      `${o.tunMtu === undefined ? ' tun MTU 1500 with its default mssfix' : ` tun-mtu ${o.tunMtu} with mssfix 0 (both products)`}` +
      ' (baselines.md §2: --fast-io is the option that matters here)',
  );
  console.log(`  ${openvpnVersion()}`);
  console.log(`  DCO: ${dcoStatus()}`);
  console.log(
    '  ovpn-ts: the same config files, no extra options; cpu s/GB = VPN process CPU seconds per GB moved',
  );

  const lab = new NetnsLab('sbv');
  const dir = mkdtempSync(join(tmpdir(), 'sbv-'));
  const samples = new Map<string, Sample[]>();
  let ovpnTsServer: { ok: true } | { ok: false; reason: string } | undefined;
  try {
    const nsS = lab.ns('s');
    const nsC = lab.ns('c');
    lab.veth(nsS, 'sbva', [`${NET.server}/24`], nsC, 'sbvb', [`${NET.client}/24`]);
    const pki = makeBenchPki(dir, 'sbv');
    const mtu = o.tunMtu === undefined ? [] : [`tun-mtu ${o.tunMtu}`, 'mssfix 0'];
    const srvText = serverConfig({
      pki,
      local: NET.server,
      port: PORT,
      net: NET.vpnNet,
      mask: MASK,
      extra: mtu,
    });
    const cliText = clientConfig({ pki, cert: 0, remote: NET.server, port: PORT, dev: 'tun', extra: mtu });
    const argvFor = (impl: Impl) => (impl === 'openvpn' ? ['--disable-dco', ...OPENVPN_BEST] : []);

    const runPair = async (p: Pair): Promise<Sample> => {
      const s0 = Date.now();
      const eps: Endpoint[] = [];
      try {
        const server = startEndpoint(lab, nsS, p.server, dir, 'server', srvText, argvFor(p.server));
        eps.push(server);
        const up = await waitServer(lab, server, PORT, 20_000);
        if (!up.ok) {
          if (p.server === 'ovpn-ts' && up.exited) ovpnTsServer = { ok: false, reason: up.reason };
          throw new Error(`${p.server} server did not start: ${up.reason}`);
        }
        if (p.server === 'ovpn-ts') ovpnTsServer = { ok: true };
        const client = startEndpoint(lab, nsC, p.client, dir, 'client', cliText, argvFor(p.client));
        eps.push(client);
        await waitClient(client, 30_000, [server]);
        const ping = await lab.run(
          nsC,
          'ping',
          ['-c', '3', '-i', '0.2', '-W', '2', '-q', NET.vpnServer],
          15_000,
        );
        if (ping.code !== 0)
          throw new Error(
            `no ping through the tunnel: ${ping.stdout}${eps.map((e) => endpointTail(e)).join('')}`,
          );
        const setupMs = Date.now() - s0;
        const measure = async (reverse: boolean): Promise<Direction> => {
          const c0 = [cpuSeconds(server.pid), cpuSeconds(client.pid)];
          const r: IperfResult = await measureTcp(lab, nsS, nsC, NET.vpnServer, o.seconds, reverse);
          const c1 = [cpuSeconds(server.pid), cpuSeconds(client.pid)];
          const gb = (r.bitsPerSecond * r.seconds) / 8 / 1e9;
          return {
            bps: r.bitsPerSecond,
            retransmits: r.retransmits,
            serverCpuPerGB: (c1[0] - c0[0]) / gb,
            clientCpuPerGB: (c1[1] - c0[1]) / gb,
          };
        };
        const forward = await measure(false);
        const reverse = await measure(true);
        return { forward, reverse, setupMs };
      } finally {
        for (const e of eps.reverse()) await stopEndpoint(e);
      }
    };

    for (let r = 1; r <= o.rounds; r++) {
      for (const p of PAIRS) {
        const name = pairName(p);
        if (p.server === 'ovpn-ts' && ovpnTsServer?.ok === false) {
          if (r === 1)
            console.log(`  round ${r} ${name.padEnd(20)} skipped: ovpn-ts server not available yet`);
          continue;
        }
        await waitForQuiet(10, 15_000);
        try {
          const s = await runPair(p);
          if (!samples.has(name)) samples.set(name, []);
          samples.get(name)?.push(s);
          const d = (x: Direction) =>
            `${formatGbps(x.bps)} (${x.retransmits} retr, cpu s/GB srv ${x.serverCpuPerGB.toFixed(2)} cli ${x.clientCpuPerGB.toFixed(2)})`;
          console.log(
            `  round ${r} ${name.padEnd(20)} forward ${d(s.forward)}  reverse ${d(s.reverse)}  setup ${(s.setupMs / 1000).toFixed(1)} s`,
          );
        } catch (e) {
          const msg = e instanceof Error ? e.message : String(e);
          if (p.server === 'ovpn-ts' && ovpnTsServer?.ok === false)
            console.log(
              `  ovpn-ts server: not available yet (${ovpnTsServer.reason}); its pairs are skipped`,
            );
          else console.log(`  round ${r} ${name} FAILED: ${msg}`);
        }
      }
    }
  } finally {
    await lab.cleanup();
    rmSync(dir, { recursive: true, force: true });
  }

  const med = (name: string, f: (s: Sample) => number) => {
    const xs = (samples.get(name) ?? []).map(f);
    return xs.length === 0 ? Number.NaN : median(xs);
  };
  const ref = pairName(PAIRS[0]);
  console.log(
    `\n  medians (n)              forward (client→server), ratio, CPU              reverse (server→client), ratio, CPU`,
  );
  for (const p of PAIRS) {
    const name = pairName(p);
    const n = samples.get(name)?.length ?? 0;
    if (n === 0) {
      const why =
        p.server === 'ovpn-ts' && ovpnTsServer?.ok !== true
          ? 'ovpn-ts server: not available yet'
          : 'no successful run';
      console.log(`  ${name.padEnd(20)}     ${why}`);
      continue;
    }
    const col = (dir: 'forward' | 'reverse') => {
      const bps = med(name, (s) => s[dir].bps);
      const ratio = bps / med(ref, (s) => s[dir].bps);
      const srv = med(name, (s) => s[dir].serverCpuPerGB);
      const cli = med(name, (s) => s[dir].clientCpuPerGB);
      return `${formatGbps(bps)} ${ratio.toFixed(2)}x  cpu s/GB srv ${srv.toFixed(2)} cli ${cli.toFixed(2)}`;
    };
    console.log(`  ${name.padEnd(20)} (${n}) ${col('forward').padEnd(58)}${col('reverse')}`);
  }
  const full = pairName(PAIRS[3]);
  let target: VpnBenchResult['target'] = 'not measured';
  if ((samples.get(full)?.length ?? 0) === 0) {
    console.log(`  target: ${full} >= ${VPN_TARGET}x ${ref}: NOT MEASURED (no ${full} run)`);
  } else {
    const f = med(full, (s) => s.forward.bps) / med(ref, (s) => s.forward.bps);
    const v = med(full, (s) => s.reverse.bps) / med(ref, (s) => s.reverse.bps);
    target = f >= VPN_TARGET && v >= VPN_TARGET ? 'met' : 'missed';
    console.log(
      `  target: ${full} >= ${VPN_TARGET}x ${ref} both ways: forward ${f.toFixed(2)}x, reverse ${v.toFixed(2)}x -> ${target.toUpperCase()}`,
    );
  }
  // a pair that should have run but has no sample is a failure of the run
  const missing = PAIRS.filter(
    (p) =>
      (samples.get(pairName(p))?.length ?? 0) === 0 && !(p.server === 'ovpn-ts' && ovpnTsServer?.ok !== true),
  );
  console.log(`  total ${((Date.now() - t0) / 1000).toFixed(0)} s`);
  return {
    ran: missing.length === 0,
    target,
    measured: PAIRS.map(pairName).filter((n) => (samples.get(n)?.length ?? 0) > 0),
    ovpnTsUnavailable: ovpnTsServer?.ok === false ? ovpnTsServer.reason : undefined,
  };
}
