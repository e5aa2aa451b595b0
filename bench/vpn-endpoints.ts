/**
 * The two VPN products as the benchmarks run them, each from a config file as its users would write
 * one: stock OpenVPN 2.6 (`openvpn --config F`) and ovpn-ts (`node dist/src/openvpn/main.js --config F`,
 * what bin/ovpn-ts runs), as client or as server. Server configs are plain 2.6 server configs (`mode
 * server`, `tls-server`, `server NET MASK`, `topology subnet`, `dev tun`, certificates), the same file
 * for both products; options only one product knows (OpenVPN's tuning, `--disable-dco`) go on its
 * command line.
 *
 * Readiness: a client is up when its log says "Initialization Sequence Completed" (both products log
 * it). A server is up on that line too, or once its UDP port is bound in its namespace (whichever comes
 * first: the ovpn-ts server does not exist yet, and its log lines are not settled).
 */
import type { ChildProcess } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import type { NetnsLab } from '../src/lab/netns.js';
import type { BenchPki } from './vpn-pki.js';
import { isAlive } from './vpn-procs.js';

export type Impl = 'openvpn' | 'ovpn-ts';
export const OPENVPN = '/usr/sbin/openvpn';
/** The ovpn-ts program (compiled), run by the same node as this benchmark. */
export const OVPN_TS_MAIN = join(dirname(fileURLToPath(import.meta.url)), '..', 'src', 'openvpn', 'main.js');
export const READY = 'Initialization Sequence Completed';

/**
 * OpenVPN 2.6's best settings for throughput on this machine (/work/shared/perf/baselines.md §2):
 * UDP, AES-256-GCM (ChaCha20-Poly1305 measured the same: crypto is not its bottleneck), `--fast-io`
 * (2.6 allows it with UDP, also in server mode; it is the option that matters) and 4 MiB socket
 * buffers (no more UDP receive-buffer drops), and no DCO (`--disable-dco`: there is no ovpn kernel
 * module here). Tunnel MTU 1500 with the default mssfix, as OpenVPN's manual recommends keeping them.
 */
export const OPENVPN_BEST: readonly string[] = ['--fast-io', '--sndbuf', '4194304', '--rcvbuf', '4194304'];
export const BEST_CIPHER = 'AES-256-GCM';

export interface ServerConfigOptions {
  pki: BenchPki;
  /** Underlay address to listen on. */
  local: string;
  port: number;
  /** `server NET MASK`: the server takes .1. */
  net: string;
  mask: string;
  /** `status FILE 1` with `status-version 2`. */
  status?: string;
  extra?: string[];
}

/** A plain 2.6 server config, as text. */
export function serverConfig(o: ServerConfigOptions): string {
  return [
    'mode server',
    'tls-server',
    `server ${o.net} ${o.mask}`,
    'topology subnet',
    'dev tun',
    'proto udp',
    `local ${o.local}`,
    `port ${o.port}`,
    `ca ${o.pki.ca}`,
    `cert ${o.pki.serverCert}`,
    `key ${o.pki.serverKey}`,
    'dh none',
    `data-ciphers ${BEST_CIPHER}`,
    'keepalive 10 60',
    ...(o.status === undefined ? [] : [`status ${o.status} 1`, 'status-version 2']),
    'verb 3',
    ...(o.extra ?? []),
    '',
  ].join('\n');
}

export interface ClientConfigOptions {
  pki: BenchPki;
  /** Index into `pki.clientCerts`. */
  cert: number;
  remote: string;
  port: number;
  /** `tun`, or `null` (no device: the connect storm). */
  dev: 'tun' | 'null';
  extra?: string[];
}

/** A plain 2.6 client config, as text. */
export function clientConfig(o: ClientConfigOptions): string {
  return [
    'client',
    `dev ${o.dev}`,
    'proto udp',
    `remote ${o.remote} ${o.port}`,
    'nobind',
    `ca ${o.pki.ca}`,
    `cert ${o.pki.clientCerts[o.cert]}`,
    `key ${o.pki.clientKey}`,
    'remote-cert-tls server',
    `data-ciphers ${BEST_CIPHER}`,
    'verb 3',
    ...(o.extra ?? []),
    '',
  ].join('\n');
}

/** A running VPN process. */
export interface Endpoint {
  impl: Impl;
  name: string;
  ns: string;
  /** The VPN process itself (`ip netns exec` execs it). */
  pid: number;
  child: ChildProcess;
  log: string;
  /** What it printed on stdout/stderr (errors before its log opens), capped. */
  output: () => string;
}

/**
 * Starts `impl` in `ns` with `configText` (written to `<dir>/<name>.conf`), logging to
 * `<dir>/<name>.log`; `argv` is appended (OpenVPN-only tuning).
 */
export function startEndpoint(
  lab: NetnsLab,
  ns: string,
  impl: Impl,
  dir: string,
  name: string,
  configText: string,
  argv: string[] = [],
): Endpoint {
  const conf = join(dir, `${name}.conf`);
  const log = join(dir, `${name}.log`);
  writeFileSync(conf, configText);
  writeFileSync(log, '');
  const args = ['--config', conf, '--log', log, ...argv];
  const child =
    impl === 'openvpn'
      ? lab.spawn(ns, OPENVPN, args)
      : lab.spawn(ns, process.execPath, [OVPN_TS_MAIN, ...args]);
  let out = '';
  const keep = (d: Buffer) => {
    if (out.length < 16_384) out += d.toString();
  };
  child.stdout?.on('data', keep);
  child.stderr?.on('data', keep);
  if (child.pid === undefined) throw new Error(`could not start ${impl} (${name})`);
  return { impl, name, ns, pid: child.pid, child, log, output: () => out };
}

export function readLog(path: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return '';
  }
}

/** The last lines of an endpoint's output and log, for error messages. */
export function endpointTail(e: Endpoint, lines = 12): string {
  const text = `${e.output()}${readLog(e.log)}`.trimEnd().split('\n').slice(-lines).join('\n');
  return `\n--- ${e.name} (${e.impl}) ---\n${text}`;
}

/** Why `e` is not running (it exited), or undefined while it runs. */
export function exitedWhy(e: Endpoint): string | undefined {
  if (e.child.exitCode !== null) return `exit code ${e.child.exitCode}`;
  if (e.child.signalCode !== null) return `signal ${e.child.signalCode}`;
  return isAlive(e.pid) ? undefined : 'exited';
}

/** Whether a UDP socket is bound to `port` in `ns`. */
async function udpBound(lab: NetnsLab, ns: string, port: number): Promise<boolean> {
  const r = await lab.run(ns, 'ss', ['-Hlun', `sport = :${port}`], 5000);
  return r.code === 0 && r.stdout.includes(`:${port}`);
}

export type ServerStart = { ok: true } | { ok: false; exited: boolean; reason: string };

/**
 * Waits until server `e` is up (log line, or `port` bound) or has exited, for at most `ms`. An exit
 * is `exited: true` with its first error line as the reason (for ovpn-ts today: it refuses server
 * configs).
 */
export async function waitServer(lab: NetnsLab, e: Endpoint, port: number, ms: number): Promise<ServerStart> {
  const deadline = Date.now() + ms;
  for (;;) {
    const why = exitedWhy(e);
    if (why !== undefined) {
      await sleep(100); // let the pipes drain
      const text = `${e.output()}\n${readLog(e.log)}`;
      const line =
        text.split('\n').find((l) => /error|refus|not supported|unknown|cannot|invalid/i.test(l)) ??
        text.trim().split('\n').slice(-1)[0];
      return { ok: false, exited: true, reason: `${why}: ${line?.trim() ?? ''}` };
    }
    if (readLog(e.log).includes(READY) || (await udpBound(lab, e.ns, port))) return { ok: true };
    if (Date.now() > deadline)
      return { ok: false, exited: false, reason: `not up within ${ms} ms${endpointTail(e)}` };
    await sleep(100);
  }
}

/** Waits until client `e` logs READY; throws (with log tails of `also`) if it exits or times out. */
export async function waitClient(e: Endpoint, ms: number, also: Endpoint[] = []): Promise<void> {
  const deadline = Date.now() + ms;
  for (;;) {
    const tails = () => [e, ...also].map((x) => endpointTail(x)).join('');
    for (const x of [e, ...also]) {
      const why = exitedWhy(x);
      if (why !== undefined) throw new Error(`${x.name} (${x.impl}) exited (${why})${tails()}`);
    }
    if (readLog(e.log).includes(READY)) return;
    if (Date.now() > deadline)
      throw new Error(`${e.name} (${e.impl}) not connected within ${ms} ms${tails()}`);
    await sleep(100);
  }
}

/** SIGTERM, then SIGKILL after `ms`; resolves once the process is gone. */
export async function stopEndpoint(e: Endpoint, ms = 3000): Promise<void> {
  if (exitedWhy(e) !== undefined) return;
  const gone = new Promise<void>((r) => e.child.once('exit', () => r()));
  e.child.kill('SIGTERM');
  const t = setTimeout(() => e.child.kill('SIGKILL'), ms);
  await gone;
  clearTimeout(t);
}
