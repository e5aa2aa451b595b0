/**
 * The management API's schema: the kernel's `ovpn` generic-netlink family (spec ovpn-kernel §2.2, §2.3)
 * as data — attribute names, types, checks and per-operation input sets — plus the two device
 * operations of the rtnetlink side. Everything that validates or encodes API messages reads it; this is
 * the analogue of the kernel's generated netlink policies.
 *
 * Values in messages use YNL's JSON conventions: integers as numbers, IPv4/IPv6 addresses as text,
 * binary as hex strings (or Buffers in process), enums by name (numbers accepted too).
 */

import { CIPHER_ALG_NAMES } from '../crypto/cipher-alg.js';
import { DEL_REASON_NAMES } from '../peer/del-reason.js';
import { IFNAME_MAX } from '../sys/ifname.js';
import { COMP_FRAMING_NAMES } from '../wire/comp-framing.js';

export type AttrType =
  | { kind: 'u32'; min?: number; max?: number }
  | { kind: 'u16'; min?: number }
  | { kind: 's32' }
  | { kind: 'uint' }
  | { kind: 'ipv4' }
  | { kind: 'ipv6' }
  | { kind: 'binary'; exactLen?: number; maxLen?: number }
  | { kind: 'string'; maxLen: number }
  | { kind: 'enum'; values: readonly string[] }
  | { kind: 'nest'; set: string };

export interface AttrSpec {
  readonly name: string;
  readonly value: number;
  readonly type: AttrType;
}

/** The enums' YNL names come from the layers that define the values. */
export const CIPHER_ALGS = CIPHER_ALG_NAMES;
export const DEL_REASONS = DEL_REASON_NAMES;
export const KEY_SLOTS = ['primary', 'secondary'] as const;
export const MODES = ['p2p', 'mp'] as const;
export const COMP_FRAMINGS = COMP_FRAMING_NAMES;

const PEER_ID = { kind: 'u32', max: 0xffffff } as const;

export const ATTR_SETS: Record<string, readonly AttrSpec[]> = {
  ovpn: [
    { name: 'ifindex', value: 1, type: { kind: 'u32' } },
    { name: 'peer', value: 2, type: { kind: 'nest', set: 'peer' } },
    { name: 'keyconf', value: 3, type: { kind: 'nest', set: 'keyconf' } },
  ],
  peer: [
    { name: 'id', value: 1, type: PEER_ID },
    { name: 'remote-ipv4', value: 2, type: { kind: 'ipv4' } },
    { name: 'remote-ipv6', value: 3, type: { kind: 'ipv6' } },
    { name: 'remote-ipv6-scope-id', value: 4, type: { kind: 'u32' } },
    { name: 'remote-port', value: 5, type: { kind: 'u16', min: 1 } },
    { name: 'socket', value: 6, type: { kind: 'u32' } },
    { name: 'socket-netnsid', value: 7, type: { kind: 's32' } },
    { name: 'vpn-ipv4', value: 8, type: { kind: 'ipv4' } },
    { name: 'vpn-ipv6', value: 9, type: { kind: 'ipv6' } },
    { name: 'local-ipv4', value: 10, type: { kind: 'ipv4' } },
    { name: 'local-ipv6', value: 11, type: { kind: 'ipv6' } },
    { name: 'local-port', value: 12, type: { kind: 'u16', min: 1 } },
    { name: 'keepalive-interval', value: 13, type: { kind: 'u32' } },
    { name: 'keepalive-timeout', value: 14, type: { kind: 'u32' } },
    { name: 'del-reason', value: 15, type: { kind: 'enum', values: DEL_REASONS } },
    { name: 'vpn-rx-bytes', value: 16, type: { kind: 'uint' } },
    { name: 'vpn-tx-bytes', value: 17, type: { kind: 'uint' } },
    { name: 'vpn-rx-packets', value: 18, type: { kind: 'uint' } },
    { name: 'vpn-tx-packets', value: 19, type: { kind: 'uint' } },
    { name: 'link-rx-bytes', value: 20, type: { kind: 'uint' } },
    { name: 'link-tx-bytes', value: 21, type: { kind: 'uint' } },
    { name: 'link-rx-packets', value: 22, type: { kind: 'uint' } },
    { name: 'link-tx-packets', value: 23, type: { kind: 'uint' } },
    { name: 'tx-id', value: 24, type: PEER_ID },
    // ours, beyond the kernel's family (values far from its own so that they never meet)
    { name: 'mss-clamp', value: 64, type: { kind: 'u32', max: 0xffff } },
    { name: 'comp-framing', value: 65, type: { kind: 'enum', values: COMP_FRAMINGS } },
  ],
  keyconf: [
    { name: 'peer-id', value: 1, type: PEER_ID },
    { name: 'slot', value: 2, type: { kind: 'enum', values: KEY_SLOTS } },
    { name: 'key-id', value: 3, type: { kind: 'u32', max: 7 } },
    { name: 'cipher-alg', value: 4, type: { kind: 'enum', values: CIPHER_ALGS } },
    { name: 'encrypt-dir', value: 5, type: { kind: 'nest', set: 'keydir' } },
    { name: 'decrypt-dir', value: 6, type: { kind: 'nest', set: 'keydir' } },
  ],
  keydir: [
    { name: 'cipher-key', value: 1, type: { kind: 'binary', maxLen: 256 } },
    { name: 'nonce-tail', value: 2, type: { kind: 'binary', exactLen: 8 } },
  ],
  /**
   * Device create/delete (rtnetlink in the kernel: IFLA_IFNAME, ifindex, IFLA_OVPN_MODE), and ours: the
   * offloads of the device (0 off, 1 on; all on by default, where the kernel has them).
   */
  dev: [
    { name: 'ifindex', value: 1, type: { kind: 'u32' } },
    { name: 'ifname', value: 2, type: { kind: 'string', maxLen: IFNAME_MAX } },
    { name: 'mode', value: 3, type: { kind: 'enum', values: MODES } },
    { name: 'tun-offload', value: 4, type: { kind: 'u32', max: 1 } },
    { name: 'udp-gso', value: 5, type: { kind: 'u32', max: 1 } },
    { name: 'udp-gro', value: 6, type: { kind: 'u32', max: 1 } },
  ],
};

const PEER_NEW_INPUT = [
  'id',
  'remote-ipv4',
  'remote-ipv6',
  'remote-ipv6-scope-id',
  'remote-port',
  'socket',
  'vpn-ipv4',
  'vpn-ipv6',
  'local-ipv4',
  'local-ipv6',
  'keepalive-interval',
  'keepalive-timeout',
  'tx-id',
  'mss-clamp',
  'comp-framing',
];

/** One operation: its top-level attributes and, per nest, the attributes it accepts. */
export interface OpSpec {
  readonly name: string;
  /** genl command number (0 for the device ops, which are rtnetlink in the kernel). */
  readonly value: number;
  /** Attribute set of the top level. */
  readonly set: 'ovpn' | 'dev';
  readonly top: readonly string[];
  readonly nest?: { readonly attr: 'peer' | 'keyconf'; readonly accept: readonly string[] };
  readonly dump?: boolean;
  readonly reply?: boolean;
}

export const OPS: Record<string, OpSpec> = {
  'dev-new': {
    name: 'dev-new',
    value: 0,
    set: 'dev',
    top: ['ifname', 'mode', 'tun-offload', 'udp-gso', 'udp-gro'],
    reply: true,
  },
  'dev-del': { name: 'dev-del', value: 0, set: 'dev', top: ['ifname', 'ifindex'] },
  'peer-new': {
    name: 'peer-new',
    value: 1,
    set: 'ovpn',
    top: ['ifindex', 'peer'],
    nest: { attr: 'peer', accept: PEER_NEW_INPUT },
  },
  'peer-set': {
    name: 'peer-set',
    value: 2,
    set: 'ovpn',
    top: ['ifindex', 'peer'],
    nest: { attr: 'peer', accept: PEER_NEW_INPUT.filter((a) => a !== 'socket') },
  },
  'peer-get': {
    name: 'peer-get',
    value: 3,
    set: 'ovpn',
    top: ['ifindex', 'peer'],
    nest: { attr: 'peer', accept: ['id'] },
    dump: true,
    reply: true,
  },
  'peer-del': {
    name: 'peer-del',
    value: 4,
    set: 'ovpn',
    top: ['ifindex', 'peer'],
    nest: { attr: 'peer', accept: ['id'] },
  },
  'key-new': {
    name: 'key-new',
    value: 6,
    set: 'ovpn',
    top: ['ifindex', 'keyconf'],
    nest: {
      attr: 'keyconf',
      accept: ['peer-id', 'slot', 'key-id', 'cipher-alg', 'encrypt-dir', 'decrypt-dir'],
    },
  },
  'key-get': {
    name: 'key-get',
    value: 7,
    set: 'ovpn',
    top: ['ifindex', 'keyconf'],
    nest: { attr: 'keyconf', accept: ['peer-id', 'slot'] },
    reply: true,
  },
  'key-swap': {
    name: 'key-swap',
    value: 8,
    set: 'ovpn',
    top: ['ifindex', 'keyconf'],
    nest: { attr: 'keyconf', accept: ['peer-id'] },
  },
  'key-del': {
    name: 'key-del',
    value: 10,
    set: 'ovpn',
    top: ['ifindex', 'keyconf'],
    nest: { attr: 'keyconf', accept: ['peer-id', 'slot'] },
  },
};

/** Notifications on the `peers` multicast group, with their genl command numbers. */
export const NOTIFICATIONS = { 'peer-del-ntf': 5, 'key-swap-ntf': 9, 'peer-float-ntf': 11 } as const;
export type NotificationName = keyof typeof NOTIFICATIONS;

/**
 * How the ovpnd daemon carries the protocol (docs/ovpnd.md): its socket and framing, the operations it
 * adds to the family's (device listing, groups, control packets, introspection), and its own event.
 * The daemon's handler table and the client's event type are checked against these (unit tests).
 */
export const DAEMON_TRANSPORT = {
  socket: '@ovpn-ts/ovpnd',
  'socket-type': 'seqpacket',
  'max-message': 262144,
  access: 'root (SO_PEERCRED uid 0); others get EPERM',
  'fd-passing': 'SCM_RIGHTS, one fd, with peer-new only',
} as const;

export interface DaemonOpSpec {
  readonly name: string;
  readonly doc: string;
  readonly request: readonly string[];
  readonly reply: string;
}

export const DAEMON_OPS: readonly DaemonOpSpec[] = [
  { name: 'dev-list', doc: 'the devices of the namespace', request: [], reply: '[dev-new reply]' },
  {
    name: 'dev-stats',
    doc: 'device counters and drops by cause',
    request: ['ifname'],
    reply: 'object of counters',
  },
  { name: 'subscribe', doc: 'join a multicast group', request: ['group'], reply: 'null' },
  { name: 'unsubscribe', doc: 'leave the peers group', request: [], reply: 'null' },
  {
    name: 'control-send',
    doc: 'send a control packet through a socket this connection handed over',
    request: ['ifindex', 'socket', 'remote-addr', 'remote-port', 'packet'],
    reply: 'null',
  },
  {
    name: 'dev-own',
    doc: 'tie a device to this connection: it is deleted when the connection closes',
    request: ['ifindex'],
    reply: 'null',
  },
  {
    name: 'daemon-info',
    doc: 'the daemon itself',
    request: [],
    reply: '{pid, netns, devices, clients, dropped-events}',
  },
  {
    name: 'mem',
    doc: 'memory of the daemon after a full GC',
    request: [],
    reply: '{rss, heap-total, heap-used, external, array-buffers}',
  },
];

/**
 * The same protocol on ovpn-agent's stdio link (docs/ovpnd.md, "The stdio link"): the same messages,
 * one per line, and helper operations that make sockets in the agent's process, since no fd can travel
 * with a line. The agent's handler table is checked against DAEMON_OPS + AGENT_OPS (unit test).
 */
export const STDIO_TRANSPORT = {
  link: "stdin/stdout of ovpn-agent (the caller's child process)",
  framing: 'one JSON object per line (LF)',
  'max-message': 262144,
  'fd-passing': "none: socket numbers are the agent's own fds, made by the helper operations",
} as const;

export const AGENT_OPS: readonly DaemonOpSpec[] = [
  {
    name: 'udp-socket',
    doc: "a dual-stack UDP socket in the agent's process, to pass as socket",
    request: ['family', 'port', 'address', 'mark'],
    reply: '{fd}',
  },
  { name: 'tcp-listen', doc: 'a listening TCP socket', request: ['family', 'port'], reply: '{fd}' },
  {
    name: 'tcp-accept',
    doc: 'waits for one connection on a listening fd',
    request: ['fd'],
    reply: '{fd}',
  },
  {
    name: 'tcp-connect',
    doc: 'a TCP connection, to hand over with peer-new',
    request: ['remote-addr', 'remote-port'],
    reply: '{fd}',
  },
  {
    name: 'fd-close',
    doc: 'closes an fd of the agent; the peers of an attached socket go (transport-disconnect)',
    request: ['fd'],
    reply: 'null',
  },
];

/** Events the daemon adds: non-DATA_V2 packets go to the connection that handed the socket over. */
export const DAEMON_EVENTS = {
  'control-packet': ['ifindex', 'socket', 'remote-addr', 'remote-port', 'packet'],
} as const;
