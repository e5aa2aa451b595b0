/**
 * The one lab topology builder, shared by the demo, the tests and the benchmarks (src/lab/topology.ts,
 * driven through ovpn-agent) and the kernel selftest lab (test/netns/selftest/topology.ts, driven
 * through ovpn-cli): the kernel selftests' star (spec ovpn-kernel §7.4) — one server namespace joined to
 * every client namespace by its own veth pair — with its addressing plan, the key material of a run,
 * and ping. Namespaces, processes and teardown are the NetnsLab's (netns.ts).
 *
 *   veth i, server end   10.10.<i>.1/24   fd00:0:0:<i>::1/64     (end 2: the client; 3: a client that floated)
 *   tunnel of node n     5.5.5.<n+1>/24   fd55::<n+1>/64          (node 0 is the server, node i client i)
 */
import { randomBytes } from 'node:crypto';
import type { NetnsLab, RunResult } from './netns.js';

/** Transport address of end `end` of veth pair `i`. */
export function vethAddr(i: number, end: 1 | 2 | 3, family: 4 | 6): string {
  return family === 4 ? `10.10.${i}.${end}` : `fd00:0:0:${i}::${end}`;
}

/** Tunnel (VPN) address of node `n` (0: the server). */
export function vpnAddr(n: number, family: 4 | 6 = 4): string {
  return family === 4 ? `5.5.5.${n + 1}` : `fd55::${n + 1}`;
}

/** Prefix length of the veth and tunnel subnets. */
export const PREFIX_LEN = { 4: 24, 6: 64 } as const;

/**
 * Joins the server namespace to client namespace `i` by a veth pair named `serverIf` / `clientIf`, with
 * both families' addresses of the plan on each end, links up.
 */
export function linkClient(
  lab: NetnsLab,
  serverNs: string,
  serverIf: string,
  clientNs: string,
  clientIf: string,
  i: number,
): void {
  const addrs = (end: 1 | 2) => [`${vethAddr(i, end, 4)}/24`, `${vethAddr(i, end, 6)}/64`];
  lab.veth(serverNs, serverIf, addrs(1), clientNs, clientIf, addrs(2));
}

/** One direction's key material: a cipher key of `keyLen` bytes and an 8-byte nonce tail, hex. */
export interface KeyDir {
  'cipher-key': string;
  'nonce-tail': string;
}

/** Fresh key material for one direction, for this run only. */
export function randomKeyDir(keyLen: number): KeyDir {
  return { 'cipher-key': randomBytes(keyLen).toString('hex'), 'nonce-tail': randomBytes(8).toString('hex') };
}

/** A fresh key file in the selftests' format (data64.key: base64 text, both directions' material). */
export function randomKeyFile(): string {
  return `${randomBytes(192).toString('base64')}\n`;
}

export interface PingOptions {
  /** -c: packets to send (none: until the deadline). */
  count?: number;
  /** -i: seconds between packets. */
  intervalS?: number;
  /** -s: payload size. */
  size?: number;
  /** -w: deadline in seconds. */
  deadlineS: number;
  /** -f: flood. */
  flood?: boolean;
}

/** ping's arguments for `dst` (numeric, quiet). */
export function pingArgs(dst: string, o: PingOptions): string[] {
  const args = ['-n', '-q'];
  if (o.flood) args.push('-f');
  if (o.count !== undefined) args.push('-c', String(o.count));
  if (o.intervalS !== undefined) args.push('-i', String(o.intervalS));
  if (o.size !== undefined) args.push('-s', String(o.size));
  args.push('-w', String(o.deadlineS), dst);
  return args;
}

export interface PingResult {
  /** ping's own verdict: exit 0, every reply before the deadline. */
  ok: boolean;
  sent: number;
  received: number;
}

/** What a ping run reported. */
export function pingResult(r: RunResult): PingResult {
  const m = /(\d+) packets transmitted, (\d+) received/.exec(r.stdout);
  return { ok: r.code === 0, sent: Number(m?.[1] ?? 0), received: Number(m?.[2] ?? 0) };
}
