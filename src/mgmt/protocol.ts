/**
 * The management protocol (docs/ovpnd.md): the wire shapes shared by its two servers and its one
 * client (OvpndClient). ovpnd carries one JSON object per SOCK_SEQPACKET message on the abstract Unix
 * socket OVPND_SOCKET of its network namespace; ovpn-agent carries the same objects one per line on
 * its stdin/stdout (the stdio link).
 *
 *   request   {"op": "peer-new", "msg": {...}, "seq": 7, "dump": false}   (+ SCM_RIGHTS fd for peer-new)
 *   reply     {"seq": 7, "reply": ...}  or  {"seq": 7, "error": {"code", "errno", "msg", "bad-attr"}}
 *   dump      {"seq": 7, "dump": {...}} once per object, then {"seq": 7, "done": true}
 *   event     {"name": "peer-del-ntf" | "key-swap-ntf" | "peer-float-ntf" | "control-packet", "msg": {...}}
 */
import type { ControlMessage, DevInfo, KeyInfo, Notification, PeerInfo } from '../api/messages.js';
import type { OvpnApi } from '../api/ovpn-api.js';
import type { DAEMON_EVENTS } from '../api/spec.js';
import { ERRNO } from '../errors/ovpn-error.js';
import { EBADF, EMSGSIZE } from '../sys/libc.js';
import { MAX_MESSAGE } from '../sys/unix-seqpacket.js';

export interface ErrorReply {
  code: string;
  errno: number;
  msg: string;
  'bad-attr'?: string;
}

/** EUSERS (too many users): in neither ERRNO nor sys/libc.ts yet, nor in Node's os.constants.errno. */
const EUSERS = 87;

/** The errno names the protocol answers with: those of OvpnError (ERRNO), and the transport's own. */
export const PROTOCOL_ERRNO = { ...ERRNO, EBADF, EMSGSIZE, EUSERS } as const;
export type ProtocolErrno = keyof typeof PROTOCOL_ERRNO;

/** An error reply with the canonical errno number for `code`. */
export function errorReply(code: ProtocolErrno, msg: string, attr?: string): ErrorReply {
  const r: ErrorReply = { code, errno: PROTOCOL_ERRNO[code], msg };
  if (attr !== undefined) r['bad-attr'] = attr;
  return r;
}

/** JSON with bigints as numbers when exact (else strings) and Buffers as hex. */
export function toJson(v: unknown): string {
  return JSON.stringify(v, (_k, x: unknown) => {
    if (typeof x === 'bigint') return x <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(x) : x.toString();
    if (x !== null && typeof x === 'object' && (x as { type?: string }).type === 'Buffer') {
      return Buffer.from((x as { data: number[] }).data).toString('hex');
    }
    return x;
  });
}

/**
 * One outgoing message as it goes on the wire (either link). A reply larger than a message may be
 * (MAX_MESSAGE bytes) becomes an EMSGSIZE error for the same request; an event that large is not
 * sent (undefined).
 */
export function encodeWire(o: WireMessage): Buffer | undefined {
  const b = Buffer.from(toJson(o));
  if (b.length <= MAX_MESSAGE) return b;
  if ('name' in o) return undefined;
  const error = errorReply('EMSGSIZE', 'the reply would be larger than a message may be');
  return Buffer.from(toJson({ seq: o.seq, error }));
}

/** Abstract socket name (without the leading NUL); one per network namespace. */
export const OVPND_SOCKET = 'ovpn-ts/ovpnd';

export interface WireRequest {
  op: string;
  msg?: unknown;
  seq?: number;
  dump?: boolean;
}

/** A control packet as delivered to the client that handed the socket over. */
export interface ControlPacketEvent {
  name: 'control-packet';
  msg: {
    ifindex: number;
    /** The `socket` number the client gave in peer-new (its own fd number). */
    socket: number;
    'remote-addr': string;
    'remote-port': number;
    /** The packet, hex; on TCP one whole frame, 2-byte length included. */
    packet: string;
  };
}

export type WireEvent = Notification | ControlPacketEvent;

// The event's attributes are exactly those of the schema (docs/ovpn-api.yaml, `daemon.events`).
type SchemaControl = (typeof DAEMON_EVENTS)['control-packet'][number];
type Same<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false;
export const controlPacketMatchesSchema: Same<keyof ControlPacketEvent['msg'], SchemaControl> = true;

export type WireMessage =
  | { seq?: number; reply: unknown }
  | { seq?: number; error: ErrorReply }
  | { seq?: number; dump: unknown }
  | { seq?: number; done: true }
  | WireEvent;

/** What a control plane sends with control-send. */
export interface ControlSendMsg {
  ifindex: number;
  socket: number;
  'remote-addr'?: string;
  'remote-port'?: number;
  /** hex */
  packet: string;
}

/** Facts about the daemon (op `daemon-info`). */
export interface DaemonInfo {
  pid: number;
  netns: string | null;
  devices: number;
  clients: number;
  'dropped-events': number;
}

/**
 * The in-process API (api/ovpn-api.ts) as seen through the daemon: the same operations, message
 * shapes and errors, asynchronous. `OvpnApi` satisfies `ApiOps`; the client implements `RemoteApiOps`.
 */
export interface ApiOps {
  devNew(msg: unknown): DevInfo;
  devDel(msg: unknown): void;
  devList(): DevInfo[];
  peerNew(msg: unknown): void;
  peerSet(msg: unknown): void;
  peerGet(msg: unknown): PeerInfo;
  peerDump(msg: unknown): PeerInfo[];
  peerDel(msg: unknown): void;
  keyNew(msg: unknown): void;
  keyGet(msg: unknown): KeyInfo;
  keySwap(msg: unknown): void;
  keyDel(msg: unknown): void;
}

// The in-process API offers exactly these operations (the client `implements RemoteApiOps`).
export const ovpnApiHasOps = (api: OvpnApi): ApiOps => api;

export type RemoteApiOps = {
  [K in keyof ApiOps]: (...a: Parameters<ApiOps[K]>) => Promise<ReturnType<ApiOps[K]>>;
};

export type { ControlMessage };
