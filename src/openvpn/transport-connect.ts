/**
 * The client's way to its server (OpenVPN 2.6 socket.c): the remote's name resolved to addresses,
 * then for UDP the first address (a socket is made by the data-plane link), for TCP a connect to each
 * address in the resolver's order until one answers, each bounded by `connect-timeout`
 * (socket.c phase2_tcp_client / openvpn_connect; 2.6 moves to the next address on the restart that
 * follows a failed connect, which here happens within one attempt). The connected socket is then
 * handed to the data plane (data-plane-link.ts), which frames every packet with its 2-byte length.
 *
 * `proto udp`/`tcp` with a name resolves both families (getaddrinfo AF_UNSPEC); `udp4`/`tcp6`...
 * only that one. A numeric address is its own family; a numeric address of the other family than
 * `udp4`/`udp6` asks for is an error naming the directive's line, as getaddrinfo fails on it in 2.6.
 */
import { lookup } from 'node:dns/promises';
import { isIP } from 'node:net';
import type { ConnectionEntry, Remote } from '../config/client-options.js';
import { close as closeFd } from '../sys/libc.js';
import { tcpConnect } from '../transport/tcp-socket.js';
import { ConnectError, fatalError } from './connect-retry.js';

/** One resolved address of the remote. */
export interface ResolvedAddress {
  address: string;
  family: 4 | 6;
}

/** How the client reaches the server: the chosen address and, for TCP, the connected socket. */
export interface ServerTransport {
  proto: 'udp' | 'tcp';
  address: string;
  family: 4 | 6;
  port: number;
  /** TCP: the connected socket, owned by whoever takes this (the data-plane link closes it). */
  fd?: number;
}

export type LookupAllFn = (host: string, family: 0 | 4 | 6) => Promise<{ address: string; family: number }[]>;

/** dns.lookup of every address, in the resolver's order (getaddrinfo's, as 2.6 takes them). */
const lookupAll: LookupAllFn = (host, family) => lookup(host, { all: true, family, order: 'verbatim' });

export type TcpConnectFn = typeof tcpConnect;

/** The longest a timer may wait in Node (ms). */
const TIMER_MAX_MS = 2 ** 31 - 1;

/**
 * The addresses of `remote` in the order to try them, only those of its `family` when it has one.
 * Throws when there is none (naming the remote and where it was written).
 */
export async function resolveRemote(
  remote: Remote,
  where: string,
  lookupFn: LookupAllFn = lookupAll,
): Promise<ResolvedAddress[]> {
  const want = remote.family === 'any' ? 0 : remote.family;
  const numeric = isIP(remote.host);
  if (numeric !== 0) {
    if (want !== 0 && numeric !== want)
      throw fatalError(
        `${where}: remote ${remote.host} is an IPv${numeric} address but proto ${remote.proto}${want} asks for IPv${want}`,
      );
    return [{ address: remote.host, family: numeric as 4 | 6 }];
  }
  let found: { address: string; family: number }[];
  try {
    found = await lookupFn(remote.host, want);
  } catch (e) {
    // a failed lookup: resolv-retry decides (lifecycle.ts)
    throw new ConnectError(`${where}: cannot resolve remote ${remote.host}: ${(e as Error).message}`, {
      resolve: true,
    });
  }
  const out = found
    .filter((a) => (a.family === 4 || a.family === 6) && (want === 0 || a.family === want))
    .map((a) => ({ address: a.address, family: a.family as 4 | 6 }));
  if (out.length === 0)
    throw new ConnectError(
      `${where}: remote ${remote.host} has no ${want === 0 ? '' : `IPv${want} `}address`,
      {
        resolve: true,
      },
    );
  return out;
}

/** `[AF_INET6]2001:db8::1:1194`, as 2.6 prints a link address. */
export function describeAddress(a: ResolvedAddress, port: number): string {
  return `[AF_INET${a.family === 6 ? '6' : ''}]${a.address}:${port}`;
}

/**
 * The transport to the server of connection entry `ce`: resolved, and for TCP connected. `signal`
 * abandons it (the socket of a connect in progress is closed).
 */
export async function openServerTransport(
  ce: ConnectionEntry,
  opts: {
    log: (m: string) => void;
    signal?: AbortSignal;
    lookup?: LookupAllFn;
    connect?: TcpConnectFn;
  },
): Promise<ServerTransport> {
  const r = ce.remote;
  const addresses = await resolveRemote(r, `${ce.file}:${ce.line}`, opts.lookup);
  if (r.proto === 'udp') {
    const a = addresses[0];
    opts.log(`UDP link remote: ${describeAddress(a, r.port)}`);
    return { proto: 'udp', address: a.address, family: a.family, port: r.port };
  }
  const connect = opts.connect ?? tcpConnect;
  const timeoutMs = Math.min(Math.max(ce.connectTimeout, 1) * 1000, TIMER_MAX_MS);
  const errors: string[] = [];
  for (const a of addresses) {
    if (opts.signal?.aborted) break;
    opts.log(`Attempting to establish TCP connection with ${describeAddress(a, r.port)}`);
    try {
      const fd = await connect({ addr: a.address, port: r.port, timeoutMs, signal: opts.signal });
      opts.log(`TCP connection established with ${describeAddress(a, r.port)}`);
      opts.log(`TCP_CLIENT link remote: ${describeAddress(a, r.port)}`);
      return { proto: 'tcp', address: a.address, family: a.family, port: r.port, fd };
    } catch (e) {
      const m = `TCP: connect to ${describeAddress(a, r.port)} failed: ${(e as Error).message}`;
      opts.log(m);
      errors.push(m);
    }
  }
  if (opts.signal?.aborted) throw new Error('the connection was abandoned');
  throw new Error(
    addresses.length === 1
      ? (errors[0] ?? 'TCP: connect failed')
      : `TCP: no address of ${r.host} answered: ${errors.join('; ')}`,
  );
}

/** Closes the socket of a transport nobody took over. */
export function releaseServerTransport(t: ServerTransport): void {
  if (t.fd !== undefined) closeFd(t.fd);
  t.fd = undefined;
}

/** The `proto` of the OCC options string a 2.6 client sends (socket.c proto_remote): UDP is always UDPv4. */
export function occProto(proto: 'udp' | 'tcp'): string {
  return proto === 'tcp' ? 'TCPv4_CLIENT' : 'UDPv4';
}

/**
 * The OCC `link-mtu` for `tun-mtu 1500` and no cipher option (1541, openvpn-protocol.md §6): 2 more
 * on TCP for the length of each packet (mtu.c frame_calculate_protocol_header_size).
 */
export function occLinkMtu(proto: 'udp' | 'tcp'): number {
  return proto === 'tcp' ? 1543 : 1541;
}
