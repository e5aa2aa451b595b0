/**
 * The environment OpenVPN 2.6 gives a server's scripts (client-connect, client-disconnect,
 * auth-user-pass-verify, learn-address, tls-verify), as pure functions. 2.6 keeps one env_set per
 * client, inherited from the server's own and grown through the connection; each builder here returns
 * the variables one step adds, and `mergeEnv` lays them over each other in order:
 *
 * - process (options.c setenv_settings, `setenv`): config, verb, daemon, daemon_log_redirect,
 *   daemon_start_time, daemon_pid, proto_1, local_1, local_port_1, remote_port_1; and what the `up`
 *   step left (tun.c do_ifconfig_setenv, init.c run_up_down, do_route): dev, dev_type, tun_mtu,
 *   script_context, ifconfig_local, ifconfig_remote|ifconfig_netmask, ifconfig_ipv6_local/_netbits/
 *   _remote, redirect_gateway;
 * - TLS (ssl_verify.c verify_cert, per certificate from the root down): X509_<depth>_<attr>,
 *   tls_id_<d>, tls_digest_<d>, tls_digest_sha256_<d>, tls_serial_<d>, tls_serial_hex_<d>,
 *   untrusted_ip/untrusted_port (untrusted_ip6 for IPv6);
 * - key-method 2 (ssl.c key_method_2_read, misc.c output_peer_info_env): IV_* and UV_* lines;
 *   (ssl_verify.c set_verify_user_pass_env) username, common_name, untrusted_*;
 * - client-connect (multi.c multi_client_connect_setenv): common_name, trusted_ip/trusted_port,
 *   ifconfig_pool_remote_ip, ifconfig_pool_netmask (subnet) or ifconfig_pool_local_ip (net30),
 *   ifconfig_pool_remote_ip6, ifconfig_pool_local_ip6, ifconfig_pool_ip6_netbits, time_ascii, time_unix;
 * - client-disconnect (multi_client_disconnect_setenv): trusted_*, bytes_received, bytes_sent,
 *   time_duration.
 *
 * Every value goes through setenv_str's filter (control characters dropped, names kept to letters,
 * digits and `_`). Passwords are never put here except by user-pass-verify's via-env, in its own copy.
 */
import { createHash } from 'node:crypto';
import { isIPv6 } from 'node:net';
import type { ServerOptions } from '../../config/server-options.js';
import { parseCertificate, subjectAttributes } from '../cert-checks.js';

export type Env = Record<string, string>;

/** setenv_str's value filter (CC_PRINT, no replacement): control characters and DEL are dropped. */
export function envValue(v: string): string {
  let out = '';
  for (const ch of v) {
    const c = ch.charCodeAt(0);
    if (c >= 0x20 && c !== 0x7f) out += ch;
  }
  return out;
}

/** setenv_str's name filter (CC_NAME, no replacement): only letters, digits and `_` are kept. */
export function envName(n: string): string {
  return n.replace(/[^A-Za-z0-9_]/g, '');
}

/** setenv_str: sets `name` (filtered) to `value` (filtered); undefined deletes it (setenv_del). */
export function setenv(env: Env, name: string, value: string | undefined): void {
  const k = envName(name);
  if (value === undefined) delete env[k];
  else env[k] = envValue(value);
}

/** Lays several steps' variables over each other, later ones winning (one env_set grown in order). */
export function mergeEnv(...steps: (Env | undefined)[]): Env {
  return Object.assign({}, ...steps.filter((s) => s !== undefined));
}

/** ssl_verify.c string_mod_remap_name: control characters (and DEL, CR, LF) become `_`. */
export function remapName(s: string): string {
  let out = '';
  for (const ch of s) {
    const c = ch.charCodeAt(0);
    out += c < 0x20 || c === 0x7f ? '_' : ch;
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// The process

export interface ServerProcessEnvInput {
  /** The config file path (`config`). */
  config: string | undefined;
  verb: number;
  daemon: boolean;
  logRedirect: boolean;
  startTime: number;
  pid: number;
  listen: { proto: 'udp' | 'tcp'; family: 4 | 6 | 'dual'; local: string | undefined; port: number };
  setenv: ReadonlyMap<string, string>;
  /** The tun device once up: its name, MTU, and its addresses as `up` saw them. */
  dev: string;
  tunMtu: number;
  topology: 'net30' | 'subnet' | 'p2p';
  /** `ifconfig local remote-or-netmask` (net30/p2p: remote address; subnet: netmask). */
  ifconfig: { local: string; remoteNetmask: string } | undefined;
  ifconfigIpv6: { local: string; netbits: number; remote: string | undefined } | undefined;
}

/** A prefix length as a dotted netmask (24 -> 255.255.255.0). */
function prefixToNetmask(prefix: number): string {
  const m = prefix <= 0 ? 0 : (0xffffffff << (32 - Math.min(prefix, 32))) >>> 0;
  return [24, 16, 8, 0].map((s) => (m >>> s) & 0xff).join('.');
}

/** What the process knows that the config does not (for serverProcessEnvInput). */
export interface ServerRuntime {
  config: string | undefined;
  /** Running as a daemon, and with the log redirected (`log`/`daemon`). */
  daemon: boolean;
  logRedirect: boolean;
  startTime: number;
  pid: number;
  /** The tun device's actual name (`dev tun` becomes tun0...). */
  dev: string;
  /**
   * The server's IPv6 remote end as 2.6 keeps it (with `server-ipv6`, network+2; with
   * `ifconfig-ipv6 a/b remote`, remote); ServerOptions does not carry it. Undefined: not set.
   */
  ifconfigIpv6Remote?: string;
}

/** serverProcessEnv's input from the server's options and the process. */
export function serverProcessEnvInput(o: ServerOptions, rt: ServerRuntime): ServerProcessEnvInput {
  const ifc = o.ifconfig;
  return {
    config: rt.config,
    verb: o.verb,
    daemon: rt.daemon,
    logRedirect: rt.logRedirect,
    startTime: rt.startTime,
    pid: rt.pid,
    listen: o.listen,
    setenv: o.setenv,
    dev: rt.dev,
    tunMtu: o.tunMtu,
    topology: o.topology,
    ifconfig:
      ifc === undefined
        ? undefined
        : {
            local: ifc.local,
            remoteNetmask:
              ifc.topology === 'subnet' ? prefixToNetmask(Number(ifc.remoteOrPrefix)) : ifc.remoteOrPrefix,
          },
    ifconfigIpv6:
      o.ifconfigIpv6 === undefined
        ? undefined
        : { local: o.ifconfigIpv6.address, netbits: o.ifconfigIpv6.prefix, remote: rt.ifconfigIpv6Remote },
  };
}

/** proto2ascii's short form for the server's socket. */
export function protoName(l: ServerProcessEnvInput['listen']): string {
  const fam = l.family === 'dual' ? '' : String(l.family);
  return l.proto === 'udp' ? `udp${fam}` : `tcp${fam}-server`;
}

/** What every script of the server sees (setenv_settings, `setenv`, do_ifconfig_setenv, run_up_down). */
export function serverProcessEnv(i: ServerProcessEnvInput): Env {
  const env: Env = {};
  setenv(env, 'config', i.config);
  setenv(env, 'verb', String(i.verb));
  setenv(env, 'daemon', i.daemon ? '1' : '0');
  setenv(env, 'daemon_log_redirect', i.logRedirect ? '1' : '0');
  setenv(env, 'daemon_start_time', String(i.startTime));
  setenv(env, 'daemon_pid', String(i.pid));
  setenv(env, 'proto_1', protoName(i.listen));
  setenv(env, 'local_1', i.listen.local);
  setenv(env, 'local_port_1', String(i.listen.port));
  // `port` sets the remote port too, and a server's connection entry keeps it
  setenv(env, 'remote_port_1', String(i.listen.port));
  for (const [k, v] of i.setenv) setenv(env, k, v);
  if (i.ifconfig !== undefined) {
    setenv(env, 'ifconfig_local', i.ifconfig.local);
    if (i.topology === 'subnet') setenv(env, 'ifconfig_netmask', i.ifconfig.remoteNetmask);
    else setenv(env, 'ifconfig_remote', i.ifconfig.remoteNetmask);
  }
  if (i.ifconfigIpv6 !== undefined) {
    setenv(env, 'ifconfig_ipv6_local', i.ifconfigIpv6.local);
    setenv(env, 'ifconfig_ipv6_netbits', String(i.ifconfigIpv6.netbits));
    setenv(env, 'ifconfig_ipv6_remote', i.ifconfigIpv6.remote);
  }
  setenv(env, 'script_context', 'init');
  setenv(env, 'tun_mtu', String(i.tunMtu));
  setenv(env, 'dev', i.dev);
  setenv(env, 'dev_type', 'tun');
  // init.c do_route: a server never redirects its own default gateway
  setenv(env, 'redirect_gateway', '0');
  return env;
}

// ---------------------------------------------------------------------------------------------
// Addresses

/**
 * setenv_sockaddr with SA_IP_PORT: `<prefix>_ip` for IPv4 (an IPv4-mapped IPv6 address, as a dual
 * stack socket reports IPv4 clients, counts as IPv4), `<prefix>_ip6` for IPv6; `<prefix>_port` when
 * the port is not 0.
 */
export function linkEnv(prefix: 'trusted' | 'untrusted', address: string, port: number): Env {
  const env: Env = {};
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
  if (mapped !== null) setenv(env, `${prefix}_ip`, mapped[1]);
  else if (isIPv6(address)) setenv(env, `${prefix}_ip6`, address.replace(/%.*$/, ''));
  else setenv(env, `${prefix}_ip`, address);
  if (port !== 0) setenv(env, `${prefix}_port`, String(port));
  return env;
}

/** What the pool (or a CCD / client-connect) gave a client. */
export interface VirtualAddress {
  /** The client's pushed IPv4 address and the second `ifconfig-push` word (netmask or local end). */
  ipv4: { local: string; remoteNetmask: string } | undefined;
  /** The client's pushed IPv6 address, the server's end, and the prefix length. */
  ipv6: { local: string; remote: string; netbits: number } | undefined;
}

/**
 * multi_set_virtual_addr_env: ifconfig_pool_remote_ip (the client's address); in subnet topology
 * ifconfig_pool_netmask, in net30 ifconfig_pool_local_ip (the server's end of the client's /30);
 * ifconfig_pool_remote_ip6 (client), ifconfig_pool_local_ip6 (server), ifconfig_pool_ip6_netbits.
 * A 0.0.0.0 / :: address is left out, as SA_SET_IF_NONZERO does.
 */
export function virtualAddrEnv(topology: 'net30' | 'subnet' | 'p2p', v: VirtualAddress): Env {
  const env: Env = {};
  const nz4 = (a: string) => (a === '0.0.0.0' ? undefined : a);
  const nz6 = (a: string) => (/^[0:]*$/.test(a) ? undefined : a);
  if (v.ipv4 !== undefined) {
    setenv(env, 'ifconfig_pool_remote_ip', nz4(v.ipv4.local));
    if (topology === 'subnet') setenv(env, 'ifconfig_pool_netmask', nz4(v.ipv4.remoteNetmask));
    else setenv(env, 'ifconfig_pool_local_ip', nz4(v.ipv4.remoteNetmask));
  }
  if (v.ipv6 !== undefined) {
    setenv(env, 'ifconfig_pool_remote_ip6', nz6(v.ipv6.local));
    setenv(env, 'ifconfig_pool_local_ip6', nz6(v.ipv6.remote));
    setenv(env, 'ifconfig_pool_ip6_netbits', String(v.ipv6.netbits));
  }
  return env;
}

// ---------------------------------------------------------------------------------------------
// Certificates

/** format_hex_ex(..., 1, ":"): lowercase hex bytes joined by `:`. */
function colonHexLower(b: Uint8Array): string {
  return Buffer.from(b).toString('hex').match(/../g)?.join(':') ?? '';
}

/** The serial's magnitude bytes, as an ASN1_INTEGER holds them (at least one byte). */
function serialBytes(serial: bigint): Buffer {
  const mag = serial < 0n ? -serial : serial;
  let hex = mag.toString(16);
  if (hex.length % 2 === 1) hex = `0${hex}`;
  return Buffer.from(hex, 'hex');
}

/** x509_setenv's name for an attribute: `X509_<depth>_<short name>`, remapped. */
function x509VarName(depth: number, shortName: string): string {
  return remapName(`X509_${depth}_${shortName}`);
}

/** setenv_str_incr: `name`, or `name_1`, `name_2`... when taken (up to 999). */
function setenvIncr(env: Env, name: string, value: string): void {
  let k = envName(name);
  for (let n = 1; k in env; n++) {
    if (n >= 1000) return;
    k = envName(`${name}_${n}`);
  }
  env[k] = envValue(value);
}

/**
 * The certificate variables of one verified chain (verify_cert_set_env for each depth, from the root
 * down as OpenSSL's verify callback runs): `chain` is DER with the client's certificate first.
 * Attributes whose OID OpenSSL has no short name for are skipped, as x509_setenv does for NID_undef
 * (here: those missing from cert-checks' table). `downToDepth` stops early: what a tls-verify script
 * at that depth sees (the variables of the deeper certificates are set later). Throws DerError on a certificate it cannot read
 * (the chain was already parsed by the TLS checks, so that cannot happen for an accepted one).
 */
export function x509Env(chain: readonly Uint8Array[], downToDepth = 0): Env {
  const env: Env = {};
  for (let depth = chain.length - 1; depth >= downToDepth; depth--) {
    const der = chain[depth];
    const info = parseCertificate(der);
    for (const a of subjectAttributes(der)) {
      if (a.shortName === undefined) continue;
      const nul = a.value.indexOf('\0');
      const value = remapName(nul < 0 ? a.value : a.value.slice(0, nul));
      setenvIncr(env, x509VarName(depth, a.shortName), value);
    }
    setenv(env, `tls_id_${depth}`, info.subject);
    setenv(env, `tls_digest_${depth}`, colonHexLower(createHash('sha1').update(der).digest()));
    setenv(env, `tls_digest_sha256_${depth}`, colonHexLower(createHash('sha256').update(der).digest()));
    setenv(env, `tls_serial_${depth}`, info.serial.toString(10));
    setenv(env, `tls_serial_hex_${depth}`, colonHexLower(serialBytes(info.serial)));
  }
  return env;
}

// ---------------------------------------------------------------------------------------------
// Peer info

/**
 * validate_peer_info_line on one line's bytes: a name of letters, digits and `_`, then `=`, then a
 * value in which anything not printable ASCII, whitespace, `$`, `(` and `` ` `` become `_`. Returns the
 * cleaned line, or undefined when the line is refused.
 */
function cleanPeerInfoLine(line: Buffer): string | undefined {
  const eq = line.indexOf(0x3d);
  if (eq <= 0) return undefined;
  for (let i = 0; i < eq; i++) {
    const c = line[i];
    const ok = (c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x5a) || (c >= 0x61 && c <= 0x7a) || c === 0x5f;
    if (!ok) return undefined;
  }
  const out = Buffer.from(line);
  for (let i = eq + 1; i < out.length; i++) {
    const c = out[i];
    const printable = c >= 0x21 && c <= 0x7e; // isprint and not isspace (space is both)
    if (!printable || c === 0x24 || c === 0x28 || c === 0x60) out[i] = 0x5f;
  }
  return out.toString('latin1');
}

/** output_peer_info_env's line buffer (256 bytes, its NUL included). */
const PEER_INFO_LINE_BUF = 256;

/**
 * output_peer_info_env: the IV_* and UV_* lines of a client's peer-info, cleaned, as variables (a
 * later line wins). The text ends at a NUL (a C string). As 2.6's buf_parse into a 256-byte buffer
 * reads it, a line of more than 255 bytes keeps its first 255, loses the next two and goes on as a
 * new line. `refused` counts the lines 2.6 warns about ("validation failed on peer_info line
 * received from client"), an empty line included.
 */
export function peerInfoEnv(peerInfo: string | Uint8Array): { env: Env; refused: number } {
  let buf = typeof peerInfo === 'string' ? Buffer.from(peerInfo, 'utf8') : Buffer.from(peerInfo);
  const nul = buf.indexOf(0);
  if (nul >= 0) buf = buf.subarray(0, nul);
  const env: Env = {};
  let refused = 0;
  let pos = 0;
  while (pos < buf.length) {
    const window = buf.subarray(pos, pos + PEER_INFO_LINE_BUF);
    const nl = window.indexOf(0x0a);
    let line: Buffer;
    if (nl >= 0) {
      line = window.subarray(0, nl);
      pos += nl + 1;
    } else if (window.length < PEER_INFO_LINE_BUF) {
      line = window;
      pos += window.length;
    } else {
      line = window.subarray(0, PEER_INFO_LINE_BUF - 1);
      pos += PEER_INFO_LINE_BUF + 1;
    }
    let trimmed = line.length;
    while (trimmed > 0 && line[trimmed - 1] === 0x0d) trimmed--;
    const clean = cleanPeerInfoLine(line.subarray(0, trimmed));
    if (clean === undefined || !(clean.startsWith('IV_') || clean.startsWith('UV_'))) {
      refused++;
      continue;
    }
    const eq = clean.indexOf('=');
    env[clean.slice(0, eq)] = clean.slice(eq + 1);
  }
  return { env, refused };
}

// ---------------------------------------------------------------------------------------------
// Per-client steps

/** otime.c time_string(t, 0, false): `YYYY-MM-DD HH:MM:SS` in local time. */
export function timeAscii(unixSec: number): string {
  const d = new Date(unixSec * 1000);
  const p = (n: number) => String(n).padStart(2, '0');
  return `${String(d.getFullYear()).padStart(4, '0')}-${p(d.getMonth() + 1)}-${p(d.getDate())} ${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}`;
}

export interface ClientConnectEnvInput {
  /** The session's common name (the certificate's, or the username with username-as-common-name). */
  commonName: string | undefined;
  /** The client's real address and port (an IPv4-mapped address counts as IPv4). */
  remote: { address: string; port: number };
  topology: 'net30' | 'subnet' | 'p2p';
  virtual: VirtualAddress;
  /** When the client instance was created (unix seconds). */
  created: number;
}

/** multi_client_connect_setenv: what client-connect (and learn-address after it) sees on top. */
export function clientConnectEnv(i: ClientConnectEnvInput): Env {
  const env: Env = {};
  // tls_common_name(multi, true): an empty name is no name
  setenv(env, 'common_name', i.commonName === '' ? undefined : i.commonName);
  Object.assign(env, linkEnv('trusted', i.remote.address, i.remote.port));
  Object.assign(env, virtualAddrEnv(i.topology, i.virtual));
  setenv(env, 'time_ascii', timeAscii(i.created));
  setenv(env, 'time_unix', String(i.created));
  return env;
}

export interface ClientDisconnectEnvInput {
  remote: { address: string; port: number };
  /** Link bytes received from and sent to the client over the session. */
  bytesReceived: bigint | number;
  bytesSent: bigint | number;
  created: number;
  now: number;
}

/** multi_client_disconnect_setenv: trusted_*, bytes_received, bytes_sent, time_duration. */
export function clientDisconnectEnv(i: ClientDisconnectEnvInput): Env {
  const env: Env = linkEnv('trusted', i.remote.address, i.remote.port);
  setenv(env, 'bytes_received', String(i.bytesReceived));
  setenv(env, 'bytes_sent', String(i.bytesSent));
  setenv(env, 'time_duration', String(Math.max(0, Math.trunc(i.now - i.created))));
  return env;
}

/** The `script_type` of each server script, as 2.6 names them. */
export const SCRIPT_TYPE = {
  userPassVerify: 'user-pass-verify',
  clientConnect: 'client-connect',
  clientDisconnect: 'client-disconnect',
  learnAddress: 'learn-address',
  tlsVerify: 'tls-verify',
  tlsCryptV2Verify: 'tls-crypt-v2-verify',
} as const;
