/**
 * The server's `--status` text, in OpenVPN 2.6's three `--status-version` formats (multi.c
 * multi_print_status; status.c status_printf; otime.c time_string; mroute.c mroute_addr_print), so
 * that tools reading a 2.6 status file (exporters, dashboards, `tail`) read ours the same way.
 *
 * This file is pure: the server shell gathers a `StatusSnapshot` (its per-client records, the data
 * plane's per-peer counters, its route table) and the current time, and `formatStatus` returns the
 * bytes 2.6 would write. Writing them to the file is status-writer.ts's.
 *
 *   version 1: `OpenVPN CLIENT LIST` / `Updated,<time>` / a CSV client list / `ROUTING TABLE` /
 *              `GLOBAL STATS` / `END`;
 *   version 2: `TITLE`, `TIME`, `HEADER` rows then `CLIENT_LIST`, `ROUTING_TABLE`, `GLOBAL_STATS` rows
 *              and `END`, comma-separated;
 *   version 3: version 2 with tabs instead of commas.
 *
 * Times are local time (`2026-12-02 12:10:38`, as 2.6's localtime-based time_string) and, in versions
 * 2 and 3, also the epoch seconds as an unsigned 32-bit number. Lines end with "\n" only.
 */
import { formatIPv4, formatIPv6, parseIPv4, parseIPv6 } from '../../net/ip-address.js';
import { openvpnTimestamp } from '../log.js';

/** A client's transport address, as the server's socket saw it. */
export interface StatusRealAddress {
  /**
   * Dotted-quad IPv4, or IPv6 text. An IPv4-mapped IPv6 address (`::ffff:10.0.0.2`, an IPv4 client
   * on a dual-stack socket) prints as IPv4 with the port, as 2.6 prints it.
   */
  address: string;
  port: number;
}

/** One client instance (2.6: a `multi_instance` not halted), in the order it should be listed. */
export interface StatusClient {
  /** The TLS common name; undefined or '' before the handshake has set it (printed `UNDEF`). */
  commonName: string | undefined;
  real: StatusRealAddress;
  /** The pushed IPv4 address (2.6's reporting_addr); undefined prints an empty column. */
  virtualIpv4: string | undefined;
  /** The pushed IPv6 address (reporting_addr_ipv6); undefined prints an empty column. */
  virtualIpv6: string | undefined;
  /** Bytes read from this client's transport (2.6: link_read_bytes + dco_read_bytes). */
  bytesReceived: number | bigint;
  /** Bytes written to this client's transport (link_write_bytes + dco_write_bytes). */
  bytesSent: number | bigint;
  /** When the instance was created (the client's first packet), epoch seconds. */
  connectedSince: number;
  /** The authenticated `auth-user-pass` username (locked_username); undefined or '' prints `UNDEF`. */
  username: string | undefined;
  /** The management client id (2.6: cid, counting up from 0 for every instance created). */
  clientId: number;
  /** The data channel peer id. */
  peerId: number;
  /** The data channel cipher in OpenVPN's spelling (`AES-256-GCM`, `CHACHA20-POLY1305`, `BF-CBC`...). */
  cipher: string;
}

/** One entry of the server's virtual address table (2.6: a defined `multi_route` in vhash). */
export interface StatusRoute {
  /** An IPv4 or IPv6 address: the client's own virtual address, an iroute network, or a cached host. */
  address: string;
  /**
   * The prefix length of an iroute network (`10.9.0.0/24`; 2.6 keeps it even for /32 and /128
   * iroutes); undefined for a learned host address (the client's virtual address, a cached host).
   */
  prefix: number | undefined;
  /** A host address cached from an iroute lookup (2.6 prints a `C` after the address). */
  cached: boolean;
  /** The owning client: its common name and real address are printed. */
  client: StatusClient;
  /** When the route was last used (2.6: last_reference), epoch seconds. */
  lastRef: number;
}

/** What the server's status output is made of. */
export interface StatusSnapshot {
  /**
   * The program's title line (2.6: `title_string`, e.g. `OpenVPN 2.6.14 x86_64-pc-linux-gnu [SSL
   * (OpenSSL)] ...`); printed in versions 2 and 3 only. An ovpn-ts server gives `ovpnTsTitle()`:
   * programs reading status files go by the row names and columns, not by this text.
   */
  title: string;
  clients: StatusClient[];
  routes: StatusRoute[];
  /** 2.6's `Max bcast/mcast queue length`: the most packets its broadcast queue ever held. */
  maxBcastQueue: number;
  /** 2.6's `dco_enabled` (versions 2 and 3): whether the data channel is offloaded. */
  dcoEnabled: boolean;
}

/** A `--status-version`. */
export type StatusVersion = 1 | 2 | 3;

/** Options of `formatStatus`. */
export interface StatusFormatOptions {
  /**
   * Epoch seconds to the time text (default: local time as `2026-12-02 12:10:38`, like 2.6's
   * time_string). Tests pass a fixed zone.
   */
  timeText?: (epochSeconds: number) => string;
}

/** 2.6 formats each line into a 512-byte buffer; a line that does not fit ends the output there. */
const MAX_LINE_BYTES = 511;

/**
 * The status text 2.6 writes for `snapshot` at `now` (epoch seconds) in `--status-version` `version`:
 * its lines, each with its "\n". A line longer than 2.6's 511-byte line limit, and every line after it,
 * is left out, as 2.6 stops writing at such a line.
 */
export function formatStatus(
  snapshot: StatusSnapshot,
  version: StatusVersion,
  now: number,
  opts: StatusFormatOptions = {},
): string {
  let out = '';
  for (const line of statusLines(snapshot, version, now, opts)) {
    if (Buffer.byteLength(line) > MAX_LINE_BYTES) break;
    out += `${line}\n`;
  }
  return out;
}

/** The lines of `formatStatus`, without line ends or the length limit (e.g. for a management reply). */
export function statusLines(
  snapshot: StatusSnapshot,
  version: StatusVersion,
  now: number,
  opts: StatusFormatOptions = {},
): string[] {
  const time = opts.timeText ?? localTimeText;
  return version === 1 ? version1(snapshot, now, time) : version2(snapshot, version, now, time);
}

function version1(s: StatusSnapshot, now: number, time: (t: number) => string): string[] {
  const lines = [
    'OpenVPN CLIENT LIST',
    `Updated,${time(now)}`,
    'Common Name,Real Address,Bytes Received,Bytes Sent,Connected Since',
  ];
  for (const c of s.clients) {
    lines.push(
      [
        orUndef(c.commonName),
        realAddressText(c.real),
        counter(c.bytesReceived),
        counter(c.bytesSent),
        time(c.connectedSince),
      ].join(','),
    );
  }
  lines.push('ROUTING TABLE', 'Virtual Address,Common Name,Real Address,Last Ref');
  for (const r of s.routes) {
    lines.push(
      [routeText(r), orUndef(r.client.commonName), realAddressText(r.client.real), time(r.lastRef)].join(','),
    );
  }
  lines.push('GLOBAL STATS', `Max bcast/mcast queue length,${s.maxBcastQueue}`, 'END');
  return lines;
}

const CLIENT_COLUMNS = [
  'Common Name',
  'Real Address',
  'Virtual Address',
  'Virtual IPv6 Address',
  'Bytes Received',
  'Bytes Sent',
  'Connected Since',
  'Connected Since (time_t)',
  'Username',
  'Client ID',
  'Peer ID',
  'Data Channel Cipher',
];

const ROUTE_COLUMNS = ['Virtual Address', 'Common Name', 'Real Address', 'Last Ref', 'Last Ref (time_t)'];

function version2(s: StatusSnapshot, version: 2 | 3, now: number, time: (t: number) => string): string[] {
  const sep = version === 3 ? '\t' : ',';
  const row = (...cols: string[]) => cols.join(sep);
  const lines = [
    row('TITLE', s.title),
    row('TIME', time(now), u32(now)),
    row('HEADER', 'CLIENT_LIST', ...CLIENT_COLUMNS),
  ];
  for (const c of s.clients) {
    lines.push(
      row(
        'CLIENT_LIST',
        orUndef(c.commonName),
        realAddressText(c.real),
        c.virtualIpv4 === undefined ? '' : ipv4Text(c.virtualIpv4, true),
        c.virtualIpv6 === undefined ? '' : ipv6Text(c.virtualIpv6, true),
        counter(c.bytesReceived),
        counter(c.bytesSent),
        time(c.connectedSince),
        u32(c.connectedSince),
        orUndef(c.username),
        unsigned(c.clientId),
        u32(c.peerId),
        c.cipher,
      ),
    );
  }
  lines.push(row('HEADER', 'ROUTING_TABLE', ...ROUTE_COLUMNS));
  for (const r of s.routes) {
    lines.push(
      row(
        'ROUTING_TABLE',
        routeText(r),
        orUndef(r.client.commonName),
        realAddressText(r.client.real),
        time(r.lastRef),
        u32(r.lastRef),
      ),
    );
  }
  lines.push(
    row('GLOBAL_STATS', 'Max bcast/mcast queue length', String(s.maxBcastQueue)),
    row('GLOBAL_STATS', 'dco_enabled', s.dcoEnabled ? '1' : '0'),
    'END',
  );
  return lines;
}

/** Epoch seconds as local time, `YYYY-MM-DD hh:mm:ss` (2.6's time_string uses localtime). */
export function localTimeText(epochSeconds: number): string {
  return openvpnTimestamp(new Date(epochSeconds * 1000));
}

/** Epoch seconds as UTC, `YYYY-MM-DD hh:mm:ss` (for tests and a process running with TZ=UTC). */
export function utcTimeText(epochSeconds: number): string {
  return new Date(epochSeconds * 1000).toISOString().slice(0, 19).replace('T', ' ');
}

/**
 * A real address as 2.6's mroute_addr_print prints it: `a.b.c.d:port` for IPv4 and IPv4-mapped IPv6;
 * plain IPv6 text without the port (2.6 finds `v6addr:port` too ambiguous).
 */
export function realAddressText(real: StatusRealAddress): string {
  if (!real.address.includes(':')) return `${ipv4Text(real.address, false)}:${real.port}`;
  const b = parseIPv6(real.address);
  if (isV4MappedBytes(b)) return `${b[12]}.${b[13]}.${b[14]}.${b[15]}:${real.port}`;
  return inet6Text(b);
}

/** A route's address as mroute_addr_print prints it, the `/bits` of an iroute, and `C` if cached. */
function routeText(r: StatusRoute): string {
  let text: string;
  if (r.address.includes(':')) {
    const b = parseIPv6(r.address);
    text = isV4MappedBytes(b) ? `${b[12]}.${b[13]}.${b[14]}.${b[15]}` : inet6Text(b);
  } else {
    text = ipv4Text(r.address, false);
  }
  if (r.prefix !== undefined) text += `/${r.prefix}`;
  return r.cached ? `${text}C` : text;
}

/** Dotted quad, normalised; `0.0.0.0` prints empty when `emptyIfZero` (2.6's IA_EMPTY_IF_UNDEF). */
function ipv4Text(a: string, emptyIfZero: boolean): string {
  const b = parseIPv4(a);
  if (emptyIfZero && b.every((x) => x === 0)) return '';
  return `${b[0]}.${b[1]}.${b[2]}.${b[3]}`;
}

/** IPv6 as glibc's inet_ntop prints it; `::` prints empty when `emptyIfZero`. */
function ipv6Text(a: string, emptyIfZero: boolean): string {
  const b = parseIPv6(a);
  if (emptyIfZero && b.every((x) => x === 0)) return '';
  return inet6Text(b);
}

function isV4MappedBytes(b: Buffer): boolean {
  for (let i = 0; i < 10; i++) if (b[i] !== 0) return false;
  return b[10] === 0xff && b[11] === 0xff;
}

/**
 * 16 bytes as glibc's inet_ntop(AF_INET6) writes them: lowercase hex groups, the first longest run of
 * two or more zero groups as `::`, and a dotted quad for the last 32 bits of an IPv4-compatible
 * (`::a.b.c.d`) or IPv4-mapped (`::ffff:a.b.c.d`) address.
 */
export function inet6Text(b: Buffer): string {
  const zero = (from: number, to: number) => b.subarray(from, to).every((x) => x === 0);
  if (zero(0, 12) && b.readUInt16BE(12) !== 0) return `::${formatIPv4(b, 12)}`;
  if (zero(0, 10) && b.readUInt16BE(10) === 0xffff) return `::ffff:${formatIPv4(b, 12)}`;
  return formatIPv6(b);
}

function orUndef(s: string | undefined): string {
  return s === undefined || s === '' ? 'UNDEF' : s;
}

/** A 64-bit byte counter (2.6's counter_format, `%llu`). */
function counter(n: number | bigint): string {
  return String(BigInt.asUintN(64, BigInt(n)));
}

/** `%u` of a C unsigned int: the value modulo 2^32 (2.6 casts time_t this way). */
function u32(n: number): string {
  return String(Math.trunc(n) >>> 0);
}

/** `%lu` (64-bit unsigned long). */
function unsigned(n: number): string {
  return String(BigInt.asUintN(64, BigInt(Math.trunc(n))));
}
