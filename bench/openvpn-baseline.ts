/**
 * Baseline: OpenVPN 2.6 userspace data channel (`--disable-dco`) in P2P TLS mode, measured with iperf3 in
 * the same run as our own data plane.
 *
 * Layout (prefix `ovt3`):
 *   ovt3-a  veth 10.201.0.1/24  openvpn --tls-server, tun0 10.202.0.1 (p2p), iperf3 server
 *   ovt3-b  veth 10.201.0.2/24  openvpn --tls-client, tun0 10.202.0.2 (p2p), iperf3 client
 * UDP transport on port 1194; each side authenticates the other's self-signed EC P-256 certificate with
 * `--peer-fingerprint` (no CA). "forward" is client→server (B→A), "reverse" is `iperf3 -R` (A→B).
 *
 * `--tun-mtu N` (OpenVPN 2.6.14, checked with tcpdump and its `--verb 4` log): tun0 gets MTU N; a full-size
 * data packet is N + 24 bytes of UDP payload with AES-256-GCM (1 opcode + 3 peer-id + 4 packet id + 16 tag),
 * i.e. an IPv4 packet of N + 52 (1468 for 1416). When `--tun-mtu` is given, OpenVPN also defaults `--mssfix`
 * to that value and clamps the TCP MSS to N − 40 (log: `mssfix = 1416`, `mss_fix:1376`), which is what the
 * tun MTU gives anyway. The control channel keeps its own 1250-byte `tls-mtu`.
 */
import { execFileSync } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { CLK_TCK, type IperfResult, type LoadReport, measureTcp, startLoadMeter } from '../src/lab/iperf.js';
import { NetnsLab } from '../src/lab/netns.js';

export const OPENVPN_BIN = '/usr/sbin/openvpn';
/** ovpn's default tunnel MTU, so that both data planes move the same packet sizes. */
export const OVPN_DEFAULT_MTU = 1416;
export const TUNED_OPTIONS: readonly string[] = ['--fast-io', '--sndbuf', '4194304', '--rcvbuf', '4194304'];

export interface OpenvpnBaselineOptions {
  /** iperf3 duration of each direction. */
  seconds: number;
  /**
   * Tunnel MTU (`--tun-mtu`), default 1416 like ovpn; 'openvpn-default' gives no `--tun-mtu` at all,
   * so OpenVPN runs with its own defaults (tun MTU 1500 and its default mssfix).
   */
  mtu?: number | 'openvpn-default';
  /** Data channel cipher (`--data-ciphers`), default AES-256-GCM. */
  cipher?: string;
  /** Adds `--fast-io --sndbuf 4194304 --rcvbuf 4194304` on both ends. */
  tuned: boolean;
  /** Inner TCP congestion control for iperf3 (`-C`); the namespaces inherit the host default otherwise. */
  congestion?: string;
  /** Time allowed for both ends to complete initialisation and pass a ping (default 30 s). */
  setupTimeoutMs?: number;
}

/** CPU used by each openvpn process during one iperf3 run, in % of one core (all threads, user + system). */
export interface EndpointCpu {
  server: number;
  client: number;
}

export interface OpenvpnBaselineResult {
  /** client → server (B → A). */
  forward: IperfResult;
  /** server → client (B → A with `iperf3 -R`, data flows A → B). */
  reverse: IperfResult;
  cpu: { forward: EndpointCpu; reverse: EndpointCpu };
  /** Machine load during each iperf3 run (other sessions share this machine). */
  load: { forward: LoadReport; reverse: LoadReport };
  /** `openvpn --version`, first line. */
  version: string;
  /** Cipher as negotiated, from the log ("Data Channel: cipher '…'"). */
  cipher: string;
  /** MTU of tun0 as the kernel reports it. */
  tunMtu: number;
  tuned: boolean;
  /** Options shared by both ends (without addresses, keys and log paths). */
  options: string[];
  /** Socket buffer / MTU lines of the server's log, for the record. */
  logNotes: string[];
  /** Time from start until the tunnel passed a ping, and for the whole call. */
  setupMs: number;
  totalMs: number;
}

const NET = {
  underA: '10.201.0.1',
  underB: '10.201.0.2',
  tunA: '10.202.0.1',
  tunB: '10.202.0.2',
  port: 1194,
};
const READY = 'Initialization Sequence Completed';

export async function runOpenvpnBaseline(opts: OpenvpnBaselineOptions): Promise<OpenvpnBaselineResult> {
  const t0 = Date.now();
  const mtu = opts.mtu ?? OVPN_DEFAULT_MTU;
  const cipher = opts.cipher ?? 'AES-256-GCM';
  const setupTimeoutMs = opts.setupTimeoutMs ?? 30_000;
  const version = execFileSync(OPENVPN_BIN, ['--version'], { encoding: 'utf8' }).split('\n')[0];

  const lab = new NetnsLab('ovt3');
  const dir = mkdtempSync(join(tmpdir(), 'ovt3-openvpn-'));
  const procs: { pid: number; log: string; name: string }[] = [];
  try {
    const a = lab.ns('a');
    const b = lab.ns('b');
    lab.veth(a, 'ovt3-va', [`${NET.underA}/24`], b, 'ovt3-vb', [`${NET.underB}/24`]);

    const certA = makeCert(dir, 'a');
    const certB = makeCert(dir, 'b');
    const common = [
      '--dev',
      'tun0',
      '--dev-type',
      'tun',
      '--topology',
      'p2p',
      '--proto',
      'udp',
      '--port',
      String(NET.port),
      '--disable-dco',
      '--data-ciphers',
      cipher,
      '--allow-compression',
      'no',
      ...(mtu === 'openvpn-default' ? [] : ['--tun-mtu', String(mtu)]),
      '--verb',
      '3',
      ...(opts.tuned ? TUNED_OPTIONS : []),
    ];
    const ends = [
      {
        name: 'server',
        ns: a,
        role: ['--tls-server', '--dh', 'none'],
        cert: certA,
        peer: certB,
        local: NET.underA,
        remote: NET.underB,
        ifconfig: [NET.tunA, NET.tunB],
      },
      {
        name: 'client',
        ns: b,
        role: ['--tls-client'],
        cert: certB,
        peer: certA,
        local: NET.underB,
        remote: NET.underA,
        ifconfig: [NET.tunB, NET.tunA],
      },
    ];
    for (const e of ends) {
      const log = join(dir, `${e.name}.log`);
      const child = lab.spawn(e.ns, OPENVPN_BIN, [
        ...e.role,
        '--cert',
        e.cert.crt,
        '--key',
        e.cert.key,
        '--peer-fingerprint',
        e.peer.fingerprint,
        '--local',
        e.local,
        '--remote',
        e.remote,
        '--ifconfig',
        ...e.ifconfig,
        '--log',
        log,
        ...common,
      ]);
      // `ip netns exec` execs the command, so this is openvpn's own pid. Keep the pipes drained.
      child.stdout?.resume();
      child.stderr?.resume();
      if (child.pid === undefined) throw new Error(`could not start openvpn (${e.name})`);
      procs.push({ pid: child.pid, log, name: e.name });
    }

    await waitReady(procs, setupTimeoutMs);
    await waitPing(lab, b, NET.tunA, procs, Math.max(5000, setupTimeoutMs - (Date.now() - t0)));
    const setupMs = Date.now() - t0;

    const serverLog = readFileSync(procs[0].log, 'utf8');
    const negotiated = /Data Channel: cipher '([^']+)'/.exec(serverLog)?.[1] ?? 'unknown';
    const logNotes = serverLog
      .split('\n')
      .filter((l) => /Socket Buffers|MTU|mssfix|fast-io/i.test(l))
      .map((l) => l.replace(/^\S+ \S+ /, '').trim())
      .slice(0, 8);
    const tunMtu = Number(/\bmtu (\d+)/.exec(lab.exec(a, 'ip', ['-o', 'link', 'show', 'dev', 'tun0']))?.[1]);

    const measure = async (reverse: boolean): Promise<[IperfResult, EndpointCpu, LoadReport]> => {
      const before = procs.map((p) => cpuTicks(p.pid));
      const stopMeter = startLoadMeter([a, b]);
      const w0 = process.hrtime.bigint();
      const r = await measureTcp(lab, a, b, NET.tunA, opts.seconds, reverse, { congestion: opts.congestion });
      const wallS = Number(process.hrtime.bigint() - w0) / 1e9;
      const load = stopMeter();
      const pct = procs.map((p, i) => ((cpuTicks(p.pid) - before[i]) / CLK_TCK / wallS) * 100);
      assertAlive(procs);
      return [r, { server: pct[0], client: pct[1] }, load];
    };
    const [forward, cpuForward, loadForward] = await measure(false);
    const [reverse, cpuReverse, loadReverse] = await measure(true);

    return {
      forward,
      reverse,
      cpu: { forward: cpuForward, reverse: cpuReverse },
      load: { forward: loadForward, reverse: loadReverse },
      version,
      cipher: negotiated,
      tunMtu,
      tuned: opts.tuned,
      options: common,
      logNotes,
      setupMs,
      totalMs: Date.now() - t0,
    };
  } finally {
    // Ask openvpn to exit cleanly first; the lab SIGKILLs whatever is left and deletes the namespaces.
    for (const p of procs) {
      try {
        process.kill(p.pid, 'SIGTERM');
      } catch {
        // already gone
      }
    }
    const deadline = Date.now() + 2000;
    while (Date.now() < deadline && procs.some((p) => isAlive(p.pid))) await sleep(50);
    await lab.cleanup();
    rmSync(dir, { recursive: true, force: true });
  }
}

interface Cert {
  crt: string;
  key: string;
  /** SHA-256 fingerprint, colon-separated upper-case hex, as `--peer-fingerprint` wants it. */
  fingerprint: string;
}

function makeCert(dir: string, name: string): Cert {
  const crt = join(dir, `${name}.crt`);
  const key = join(dir, `${name}.key`);
  execFileSync(
    'openssl',
    [
      'req',
      '-x509',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:prime256v1',
      '-nodes',
      '-keyout',
      key,
      '-out',
      crt,
      '-days',
      '2',
      '-subj',
      `/CN=ovt3-${name}`,
    ],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  return { crt, key, fingerprint: new X509Certificate(readFileSync(crt)).fingerprint256 };
}

async function waitReady(
  procs: { pid: number; log: string; name: string }[],
  timeoutMs: number,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    assertAlive(procs);
    if (procs.every((p) => readLog(p.log).includes(READY))) return;
    if (Date.now() > deadline)
      throw new Error(`openvpn did not log "${READY}" within ${timeoutMs} ms${logTails(procs)}`);
    await sleep(100);
  }
}

async function waitPing(
  lab: NetnsLab,
  ns: string,
  addr: string,
  procs: { pid: number; log: string; name: string }[],
  timeoutMs: number,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    assertAlive(procs);
    const r = await lab.run(ns, 'ping', ['-c', '1', '-W', '1', '-q', addr], 5000);
    if (r.code === 0) return;
    if (Date.now() > deadline)
      throw new Error(
        `no ping through the OpenVPN tunnel to ${addr} within ${timeoutMs} ms${logTails(procs)}`,
      );
    await sleep(200);
  }
}

function assertAlive(procs: { pid: number; log: string; name: string }[]): void {
  const dead = procs.filter((p) => !isAlive(p.pid));
  if (dead.length > 0)
    throw new Error(`openvpn ${dead.map((p) => p.name).join(' and ')} exited unexpectedly${logTails(procs)}`);
}

function isAlive(pid: number): boolean {
  // A dead child that was not reaped yet is a zombie: treat it as gone.
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return false;
  }
}

function readLog(path: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return '';
  }
}

function logTails(procs: { log: string; name: string }[], lines = 15): string {
  return procs
    .map(
      (p) =>
        `\n--- ${p.name} log (last ${lines} lines) ---\n${readLog(p.log).trimEnd().split('\n').slice(-lines).join('\n')}`,
    )
    .join('');
}

/** utime + stime of all threads of `pid`, in clock ticks (`/proc/PID/stat` fields 14 and 15). */
function cpuTicks(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return Number(fields[11]) + Number(fields[12]);
  } catch {
    return Number.NaN;
  }
}
