/**
 * Command-line parsing, with the selftest tool's checks, messages' meaning, order and statuses:
 * - fewer arguments than a command needs: status -EINVAL (the caller prints the usage);
 * - a value it rejects: a message and status -1;
 * - the interface name is looked up (all commands but new_iface) before the other arguments are read.
 * Both the Linux 7.1 forms and the 6.16 forms (no tx_id / id_type / mark) are accepted where the
 * argument count and shapes tell them apart.
 */

import { ERRNO } from '../../errors/ovpn-error.js';
import { cutIfname } from '../../sys/ifname.js';
import { asInt, asU32, type CNumber, isDecimal, strtoll, strtoul } from './c-numbers.js';

/** The kernel's maximum peer ID, which the tool also uses as "no peer ID given". */
export const PEER_ID_UNDEF = 0xffffff;

export type CipherName = 'aes-gcm' | 'chacha20-poly1305' | 'none';
/** Offloads new_iface can turn off (ours; the C tool has none): `no-<name>` after the mode. */
export const OFFLOAD_NAMES = ['tun-offload', 'udp-gso', 'udp-gro'] as const;
export type OffloadName = (typeof OFFLOAD_NAMES)[number];
export type SlotName = 'primary' | 'secondary';

interface WithIface {
  ifname: string;
  /** Resolved from the name by the parser (0 for new_iface, which makes the interface). */
  ifindex: number;
}

export type Command =
  | ({ cmd: 'new_iface'; mode?: 'p2p' | 'mp'; offloadsOff: OffloadName[] } & WithIface)
  | ({ cmd: 'del_iface' } & WithIface)
  | ({ cmd: 'listen'; lport: number; asymm: boolean; peersFile: string; ipv6: boolean } & WithIface)
  | ({
      cmd: 'connect';
      peerId: number;
      /** Sent as tx-id unless the tx_id argument was 'none' (or the 6.16 form was used). */
      txId?: number;
      raddr: string;
      rport: string;
      keyFile?: string;
    } & WithIface)
  | ({
      cmd: 'new_peer';
      peerId: number;
      txId?: number;
      lport: number;
      raddr: string;
      rport: string;
      vpnaddr?: string;
    } & WithIface)
  | ({ cmd: 'new_multi_peer'; lport: number; asymm: boolean; peersFile: string; mark: number } & WithIface)
  | ({ cmd: 'set_peer'; peerId: number; keepaliveInterval: number; keepaliveTimeout: number } & WithIface)
  | ({ cmd: 'del_peer'; peerId: number } & WithIface)
  /** peerId undefined: dump every peer. */
  | ({ cmd: 'get_peer'; peerId?: number } & WithIface)
  | ({
      cmd: 'new_key';
      peerId: number;
      slot: SlotName;
      keyId: number;
      cipher: CipherName;
      keyDir: 0 | 1;
      keyFile: string;
    } & WithIface)
  | ({ cmd: 'del_key'; peerId: number; slot: SlotName } & WithIface)
  | ({ cmd: 'get_key'; peerId: number; slot: SlotName } & WithIface)
  | ({ cmd: 'swap_keys'; peerId: number } & WithIface)
  | { cmd: 'listen_mcast'; json: boolean; durationSec?: number };

export type CommandName = Command['cmd'];

export const COMMANDS: readonly CommandName[] = [
  'new_iface',
  'del_iface',
  'listen',
  'connect',
  'new_peer',
  'new_multi_peer',
  'set_peer',
  'del_peer',
  'get_peer',
  'new_key',
  'del_key',
  'get_key',
  'swap_keys',
  'listen_mcast',
];

/** Why the command line was refused. */
export type ParseError =
  /** No command at all: usage, status -1. */
  | { kind: 'no-command' }
  /** Not one of COMMANDS: "unknown command", usage, status -1. */
  | { kind: 'unknown-command'; name: string }
  /** --help / -h / help: usage on stdout, status 0 (the C tool has no help option). */
  | { kind: 'help' }
  /** Missing arguments (status -EINVAL, usage), or a rejected value (status -1, `message`). */
  | { kind: 'invalid'; status: number; message?: string };

export type ParseResult = { ok: true; command: Command } | { ok: false; error: ParseError };

export interface ParseEnv {
  /** if_nametoindex: 0 when there is no such interface. */
  ifindex(name: string): number;
}

class Invalid extends Error {
  constructor(
    readonly status: number,
    readonly detail?: string,
  ) {
    super(detail ?? 'invalid arguments');
  }
}

/** Missing arguments. */
const tooFew = () => new Invalid(-ERRNO.EINVAL);
/** A value the tool refuses, with its message. */
const bad = (message: string) => new Invalid(-1, message);

function isCommand(s: string): s is CommandName {
  return (COMMANDS as readonly string[]).includes(s);
}

/** Parses `args` (what follows the program name). */
export function parseArgs(args: readonly string[], env: ParseEnv): ParseResult {
  if (args.length === 0) return { ok: false, error: { kind: 'no-command' } };
  const name = args[0];
  if (name === '--help' || name === '-h' || name === 'help') return { ok: false, error: { kind: 'help' } };
  if (isYnlForm(args)) {
    try {
      return { ok: true, command: parseYnlListener(args) };
    } catch (e) {
      if (e instanceof Invalid)
        return { ok: false, error: { kind: 'invalid', status: e.status, message: e.detail } };
      throw e;
    }
  }
  if (!isCommand(name)) return { ok: false, error: { kind: 'unknown-command', name } };
  try {
    return { ok: true, command: parseCommand(name, args.slice(1), env) };
  } catch (e) {
    if (e instanceof Invalid)
      return { ok: false, error: { kind: 'invalid', status: e.status, message: e.detail } };
    throw e;
  }
}

/** Whether `args` are the YNL cli.py form (`--family ovpn --subscribe peers ...`). */
export function isYnlForm(args: readonly string[]): boolean {
  return args[0] === '--family' || args[0] === '--subscribe' || args[0] === '--output-json';
}

function parseCommand(name: CommandName, p: readonly string[], env: ParseEnv): Command {
  if (name === 'listen_mcast') return parseListenMcast(p);
  if (p.length < 1) throw tooFew();
  // longer names are cut (IFNAME_MAX bytes), as the tool copies them into IFNAMSIZ
  const ifname = cutIfname(p[0]);
  let ifindex = 0;
  if (name !== 'new_iface') {
    ifindex = env.ifindex(ifname);
    if (ifindex === 0) throw bad('cannot find interface: No such device');
  }
  const iface = { ifname, ifindex };
  switch (name) {
    case 'new_iface': {
      if (p.length < 2) return { cmd: name, ...iface, offloadsOff: [] };
      const mode = p[1] === 'P2P' ? 'p2p' : p[1] === 'MP' ? 'mp' : undefined;
      if (mode === undefined) throw bad(`Cannot parse iface mode: ${p[1]}`);
      const offloadsOff: OffloadName[] = [];
      for (const arg of p.slice(2)) {
        const off = OFFLOAD_NAMES.find((o) => arg === `no-${o}`);
        if (off === undefined)
          throw bad(`Cannot parse offload switch: ${arg} (no-${OFFLOAD_NAMES.join(', no-')})`);
        offloadsOff.push(off);
      }
      return { cmd: name, ...iface, mode, offloadsOff };
    }
    case 'del_iface':
      return { cmd: name, ...iface };
    case 'listen':
      return parseListen(p, iface);
    case 'connect':
      return parseConnect(p, iface);
    case 'new_peer':
      return parseNewPeer(p, iface);
    case 'new_multi_peer':
      return parseNewMultiPeer(p, iface);
    case 'set_peer': {
      if (p.length < 4) throw tooFew();
      const peerId = peerIdArg(p[1], 'peer ID value out of range');
      const interval = strtoul(p[2]);
      if (interval.erange) throw bad('keepalive interval value out of range');
      const timeout = strtoul(p[3]);
      if (timeout.erange) throw bad('keepalive timeout value out of range');
      return {
        cmd: name,
        ...iface,
        peerId,
        keepaliveInterval: asU32(interval.value),
        keepaliveTimeout: asU32(timeout.value),
      };
    }
    case 'del_peer':
      if (p.length < 2) throw tooFew();
      return { cmd: name, ...iface, peerId: peerIdArg(p[1], 'peer ID value out of range') };
    case 'get_peer': {
      if (p.length < 2) return { cmd: name, ...iface };
      const peerId = peerIdArg(p[1], 'peer ID value out of range');
      // the tool's "undefined" marker asks for the dump as well
      return peerId === PEER_ID_UNDEF ? { cmd: name, ...iface } : { cmd: name, ...iface, peerId };
    }
    case 'new_key': {
      if (p.length < 7) throw tooFew();
      const peerId = keyPeerId(p[1]);
      const slot = slotArg(p[2]);
      const keyId = strtoul(p[3]);
      // stored in an int: "-1" passes the check and reaches the daemon as 0xffffffff (ERANGE there)
      if (keyId.erange || asInt(keyId.value) > 2) throw bad('key ID out of range');
      const cipher = cipherArg(p[4]);
      if (cipher === undefined) throw bad(`Cannot parse cipher: ${p[4]}`);
      const dir = asInt(strtoll(p[5]).value);
      if (dir !== 0 && dir !== 1) throw bad('invalid key direction provided. Can be 0 or 1 only');
      return {
        cmd: name,
        ...iface,
        peerId,
        slot,
        keyId: asU32(BigInt(asInt(keyId.value))),
        cipher,
        keyDir: dir,
        keyFile: p[6],
      };
    }
    case 'del_key': {
      if (p.length < 2) throw tooFew();
      const peerId = keyPeerId(p[1]);
      // the usage of the tool says the slot defaults to primary (its code reads past argv instead)
      const slot = p.length > 2 ? slotArg(p[2]) : 'primary';
      return { cmd: name, ...iface, peerId, slot };
    }
    case 'get_key':
      if (p.length < 3) throw tooFew();
      return { cmd: name, ...iface, peerId: keyPeerId(p[1]), slot: slotArg(p[2]) };
    case 'swap_keys':
      if (p.length < 2) throw tooFew();
      return { cmd: name, ...iface, peerId: keyPeerId(p[1]) };
  }
}

/** listen: 7.1 `<iface> <lport> <SYMM|ASYMM> <peers_file> [ipv6]`, 6.16 `<iface> <lport> <peers_file> [ipv6]`. */
function parseListen(p: readonly string[], iface: WithIface): Command {
  const legacy = p.length >= 3 && !isIdType(p[2]) && (p.length === 3 || (p.length === 4 && p[3] === 'ipv6'));
  if (legacy) {
    const lport = portArg(p[1]);
    return { cmd: 'listen', ...iface, lport, asymm: false, peersFile: p[2], ipv6: p[3] === 'ipv6' };
  }
  if (p.length < 4) throw tooFew();
  const lport = portArg(p[1]);
  const asymm = idTypeArg(p[2]);
  return { cmd: 'listen', ...iface, lport, asymm, peersFile: p[3], ipv6: p[4] === 'ipv6' };
}

/** connect: 7.1 `<iface> <peer_id> <tx_id> <raddr> <rport> [key_file]`, 6.16 without `<tx_id>`. */
function parseConnect(p: readonly string[], iface: WithIface): Command {
  if (p.length < 4) throw tooFew();
  // 4 arguments: only the 6.16 form fits; 5: 6.16 with a key file when the 4th is the port and the
  // 5th is not (7.1 would have the address 4th and the port 5th)
  const legacy = p.length === 4 || (p.length === 5 && p[2] !== 'none' && isDecimal(p[3]) && !isDecimal(p[4]));
  if (legacy) {
    const peerId = peerIdArg(p[1], 'rx peer ID value out of range');
    return { cmd: 'connect', ...iface, peerId, raddr: p[2], rport: p[3], keyFile: p[4] };
  }
  const peerId = peerIdArg(p[1], 'rx peer ID value out of range');
  const txId = txIdArg(p[2]);
  return { cmd: 'connect', ...iface, peerId, txId, raddr: p[3], rport: p[4], keyFile: p[5] };
}

/** new_peer: 7.1 `<iface> <peer_id> <tx_id> <lport> <raddr> <rport> [vpnaddr]`, 6.16 without `<tx_id>`. */
function parseNewPeer(p: readonly string[], iface: WithIface): Command {
  if (p.length < 5) throw tooFew();
  // 5 arguments: only 6.16 fits; 6: 6.16 with a VPN address when the 5th is the port and the 6th is
  // not (7.1 would have the remote address 5th and the port 6th)
  const legacy = p.length === 5 || (p.length === 6 && p[2] !== 'none' && isDecimal(p[4]) && !isDecimal(p[5]));
  if (legacy) {
    const lport = portArg(p[2]);
    const peerId = peerIdArg(p[1], 'rx peer ID value out of range');
    return { cmd: 'new_peer', ...iface, peerId, lport, raddr: p[3], rport: p[4], vpnaddr: p[5] };
  }
  const lport = portArg(p[3]);
  const peerId = peerIdArg(p[1], 'rx peer ID value out of range');
  const txId = txIdArg(p[2]);
  return { cmd: 'new_peer', ...iface, peerId, txId, lport, raddr: p[4], rport: p[5], vpnaddr: p[6] };
}

/** new_multi_peer: 7.1 `<iface> <lport> <SYMM|ASYMM> <peers_file> [mark]`, 6.16 `<iface> <lport> <peers_file>`. */
function parseNewMultiPeer(p: readonly string[], iface: WithIface): Command {
  if (p.length === 3 && !isIdType(p[2])) {
    return { cmd: 'new_multi_peer', ...iface, lport: portArg(p[1]), asymm: false, peersFile: p[2], mark: 0 };
  }
  if (p.length < 4) throw tooFew();
  const lport = portArg(p[1]);
  const asymm = idTypeArg(p[2]);
  let mark = 0;
  if (p.length > 4) {
    const m = strtoul(p[4]);
    if (m.erange || m.value > 0xffffffffn) throw bad('mark value out of range');
    mark = Number(m.value);
  }
  return { cmd: 'new_multi_peer', ...iface, lport, asymm, peersFile: p[3], mark };
}

function parseListenMcast(p: readonly string[]): Command {
  let json = false;
  let durationSec: number | undefined;
  for (let i = 0; i < p.length; i++) {
    if (p[i] === '--json' || p[i] === 'json') json = true;
    else if (p[i] === '--duration' && i + 1 < p.length) durationSec = durationArg(p[++i]);
    else throw bad(`unexpected listen_mcast argument: ${p[i]}`);
  }
  return { cmd: 'listen_mcast', json, durationSec };
}

/** The YNL cli.py form the selftests run: `--family ovpn --subscribe peers --output-json --duration N`. */
function parseYnlListener(p: readonly string[]): Command {
  let durationSec: number | undefined;
  let subscribed = false;
  for (let i = 0; i < p.length; i++) {
    const a = p[i];
    if (a === '--family' && p[i + 1] === 'ovpn') i++;
    else if (a === '--subscribe' && p[i + 1] === 'peers') {
      subscribed = true;
      i++;
    } else if (a === '--output-json') {
      // the only output this stand-in has
    } else if (a === '--duration' && i + 1 < p.length) durationSec = durationArg(p[++i]);
    else throw bad(`unsupported YNL argument: ${a}`);
  }
  if (!subscribed) throw bad('the YNL form needs --subscribe peers');
  return { cmd: 'listen_mcast', json: true, durationSec };
}

function durationArg(s: string): number {
  if (!/^\d+(\.\d+)?$/.test(s)) throw bad(`invalid duration: ${s}`);
  return Number(s);
}

function isIdType(s: string): boolean {
  return s === 'SYMM' || s === 'ASYMM';
}

function idTypeArg(s: string): boolean {
  if (s === 'SYMM') return false;
  if (s === 'ASYMM') return true;
  throw bad(`Cannot parse id type: ${s}`);
}

function checked(n: CNumber, max: bigint, message: string): number {
  if (n.erange || n.value > max) throw bad(message);
  return Number(n.value);
}

function peerIdArg(s: string, message: string): number {
  return checked(strtoul(s), BigInt(PEER_ID_UNDEF), message);
}

/** tx_id: 'none' means symmetric (no tx-id sent); anything else is read as a number. */
function txIdArg(s: string): number | undefined {
  if (s === 'none') return undefined;
  return checked(strtoul(s), BigInt(PEER_ID_UNDEF), 'tx peer ID value out of range');
}

function portArg(s: string): number {
  return checked(strtoul(s), 65535n, 'lport value out of range');
}

/** The key commands do not range-check the peer ID; the daemon answers ERANGE. */
function keyPeerId(s: string): number {
  const n = strtoul(s);
  if (n.erange) throw bad('peer ID value out of range');
  return asU32(n.value);
}

function slotArg(s: string): SlotName {
  const n = strtoul(s);
  const v = asInt(n.value);
  if (n.erange || v < 1 || v > 2) throw bad('key slot out of range');
  return v === 1 ? 'primary' : 'secondary';
}

function cipherArg(s: string): CipherName | undefined {
  switch (s) {
    case 'aes':
      return 'aes-gcm';
    case 'chachapoly':
      return 'chacha20-poly1305';
    case 'none':
      return 'none';
    default:
      return undefined;
  }
}
