/**
 * The control packet codec: the plain layout of every control-channel packet once tls-auth / tls-crypt
 * wrapping is removed (spec openvpn-protocol §4.1; OpenVPN 2.6 `reliable_ack_parse`,
 * `reliable_ack_write`, `write_control_auth`, `tls_pre_decrypt`):
 *
 * ```
 *   1    opcode << 3 | key-id
 *   8    own session id (nonzero)
 *   1    ack count n (0..8)
 *   4n   acked message packet-ids, u32 BE each          only if n > 0
 *   8    remote session id (the receiver's own id)       only if n > 0
 *   4    message packet-id, u32 BE                       absent in P_ACK_V1
 *   *    payload (TLS bytes; early-negotiation TLVs in a hard reset; nothing in P_ACK_V1)
 * ```
 *
 * P_CONTROL_HARD_RESET_CLIENT_V3 and P_CONTROL_WKC_V1 have this same layout once the tls-crypt-v2 wrap has
 * cut off the appended wrapped client key (wrap/tls-crypt-v2.ts): V3 like a V2 reset, WKC_V1 like
 * P_CONTROL_V1.
 *
 * Decoding never throws: bad input gives one of the `PacketError` singletons (counted drops, no stack).
 * Encoding our own packets throws `OvpnError` EINVAL on a caller bug (bad key-id, too many acks…).
 *
 * The opcode numbers are the data path's (wire/opcode.ts); this file only adds which of them are control
 * packets and what each carries.
 */
import { einval, erange } from '../errors/ovpn-error.js';
import {
  KEY_ID_MAX,
  OP_ACK_V1,
  OP_CONTROL_HARD_RESET_CLIENT_V2,
  OP_CONTROL_HARD_RESET_CLIENT_V3,
  OP_CONTROL_HARD_RESET_SERVER_V2,
  OP_CONTROL_SOFT_RESET_V1,
  OP_CONTROL_V1,
  OP_CONTROL_WKC_V1,
} from '../wire/opcode.js';

/** Size of a session id (`SID_SIZE`). */
export const SESSION_ID_SIZE = 8;
/** Most acks a receiver accepts in one packet; 2.6 drops the packet above this (`RELIABLE_ACK_SIZE`). */
export const ACK_MAX = 8;
/** Most acks 2.6 piggy-backs on a P_CONTROL_* packet (`CONTROL_SEND_ACK_MAX`); also SoftEther's limit. */
export const CONTROL_SEND_ACK_MAX = 4;
/** opcode byte + own session id: the part every wrapping leaves in clear at the front. */
export const CONTROL_HEADER_SIZE = 1 + SESSION_ID_SIZE;

/** The control opcodes this codec accepts (2.6 accepts 3..11 minus the data opcodes and key-method 1). */
export type ControlOpcode =
  | typeof OP_CONTROL_SOFT_RESET_V1
  | typeof OP_CONTROL_V1
  | typeof OP_ACK_V1
  | typeof OP_CONTROL_HARD_RESET_CLIENT_V2
  | typeof OP_CONTROL_HARD_RESET_SERVER_V2
  | typeof OP_CONTROL_HARD_RESET_CLIENT_V3
  | typeof OP_CONTROL_WKC_V1;

/** True for an opcode this codec decodes. */
export function isControlOpcode(op: number): op is ControlOpcode {
  return (
    op === OP_CONTROL_SOFT_RESET_V1 ||
    op === OP_CONTROL_V1 ||
    op === OP_ACK_V1 ||
    op === OP_CONTROL_HARD_RESET_CLIENT_V2 ||
    op === OP_CONTROL_HARD_RESET_SERVER_V2 ||
    op === OP_CONTROL_HARD_RESET_CLIENT_V3 ||
    op === OP_CONTROL_WKC_V1
  );
}

/** A hard reset (key-method 2): starts a session, always on key-id 0 (`is_hard_reset_method2`). */
export function isHardReset(op: number): boolean {
  return (
    op === OP_CONTROL_HARD_RESET_CLIENT_V2 ||
    op === OP_CONTROL_HARD_RESET_CLIENT_V3 ||
    op === OP_CONTROL_HARD_RESET_SERVER_V2
  );
}

/**
 * Whether a hard reset may arrive at a peer of `localRole`: a client reset only at a server, a server
 * reset only at a client ("client->client or server->server", `tls_pre_decrypt`). True for other opcodes.
 */
export function resetDirectionOk(op: number, localRole: 'client' | 'server'): boolean {
  if (op === OP_CONTROL_HARD_RESET_SERVER_V2) return localRole === 'client';
  if (op === OP_CONTROL_HARD_RESET_CLIENT_V2 || op === OP_CONTROL_HARD_RESET_CLIENT_V3) {
    return localRole === 'server';
  }
  return true;
}

/** One decoded control packet. Buffers are views into the decoded input unless built by the caller. */
export interface ControlPacket {
  readonly opcode: ControlOpcode;
  /** 0..7. */
  readonly keyId: number;
  /** The sender's session id, 8 bytes, nonzero. */
  readonly sessionId: Buffer;
  /** Acked message packet-ids (0..8 of them; u32). */
  readonly acks: readonly number[];
  /** The receiver's session id, 8 bytes: present iff `acks` is not empty. */
  readonly remoteSessionId: Buffer | undefined;
  /** The message packet-id (u32); undefined iff the opcode is P_ACK_V1. */
  readonly messageId: number | undefined;
  /** What follows the message packet-id; empty for P_ACK_V1. */
  readonly payload: Buffer;
}

/** Why a control packet was refused. */
export type PacketErrorReason =
  /** Shorter than the fixed fields its opcode and ack count need. */
  | 'SHORT'
  /** Not a control opcode this codec speaks (data, key-method 1, unknown). */
  | 'OPCODE'
  /** Ack count above ACK_MAX. */
  | 'ACK_COUNT'
  /** All-zero own or remote session id (never valid, `session_id_defined`). */
  | 'SESSION_ID'
  /** A hard reset on a key-id other than 0. */
  | 'KEY_ID';

/** A refused control packet: one shared instance per reason, so a drop allocates nothing. */
export class PacketError {
  private constructor(readonly reason: PacketErrorReason) {}
  static readonly SHORT = new PacketError('SHORT');
  static readonly OPCODE = new PacketError('OPCODE');
  static readonly ACK_COUNT = new PacketError('ACK_COUNT');
  static readonly SESSION_ID = new PacketError('SESSION_ID');
  static readonly KEY_ID = new PacketError('KEY_ID');
}

function isZero(buf: Buffer, off: number, len: number): boolean {
  for (let i = off; i < off + len; i++) if (buf[i] !== 0) return false;
  return true;
}

/**
 * Decodes a plain (unwrapped) control packet. Never throws. The payload and session ids are views into
 * `buf`; copy them to keep them past the caller's buffer.
 *
 * Bytes after the ack block of a P_ACK_V1 are ignored, as 2.6 does. The check that `remoteSessionId`
 * equals our own session id belongs to the session (`reliable_ack_read`), not to the codec.
 */
export function decodeControl(buf: Buffer): ControlPacket | PacketError {
  if (buf.length < CONTROL_HEADER_SIZE + 1) return PacketError.SHORT;
  const opcode = buf[0] >>> 3;
  const keyId = buf[0] & KEY_ID_MAX;
  if (!isControlOpcode(opcode)) return PacketError.OPCODE;
  if (keyId !== 0 && isHardReset(opcode)) return PacketError.KEY_ID;
  if (isZero(buf, 1, SESSION_ID_SIZE)) return PacketError.SESSION_ID;
  let off = CONTROL_HEADER_SIZE;
  const count = buf[off++];
  if (count > ACK_MAX) return PacketError.ACK_COUNT;
  const isAck = opcode === OP_ACK_V1;
  const need = off + count * 4 + (count > 0 ? SESSION_ID_SIZE : 0) + (isAck ? 0 : 4);
  if (buf.length < need) return PacketError.SHORT;
  const acks: number[] = [];
  for (let i = 0; i < count; i++, off += 4) acks.push(buf.readUInt32BE(off));
  let remoteSessionId: Buffer | undefined;
  if (count > 0) {
    if (isZero(buf, off, SESSION_ID_SIZE)) return PacketError.SESSION_ID;
    remoteSessionId = buf.subarray(off, off + SESSION_ID_SIZE);
    off += SESSION_ID_SIZE;
  }
  let messageId: number | undefined;
  if (!isAck) {
    messageId = buf.readUInt32BE(off);
    off += 4;
  }
  return {
    opcode,
    keyId,
    sessionId: buf.subarray(1, CONTROL_HEADER_SIZE),
    acks,
    remoteSessionId,
    messageId,
    payload: isAck ? buf.subarray(buf.length) : buf.subarray(off),
  };
}

/** Encoded size of `p`. */
export function encodedControlLength(p: ControlPacket): number {
  const n = p.acks.length;
  const isAck = p.opcode === OP_ACK_V1;
  return CONTROL_HEADER_SIZE + 1 + n * 4 + (n > 0 ? SESSION_ID_SIZE : 0) + (isAck ? 0 : 4 + p.payload.length);
}

function checkSessionId(sid: Buffer | undefined, attr: string): Buffer {
  if (sid === undefined || sid.length !== SESSION_ID_SIZE || isZero(sid, 0, SESSION_ID_SIZE)) {
    throw einval(`${attr} must be ${SESSION_ID_SIZE} bytes, not all zero`, attr);
  }
  return sid;
}

/**
 * Writes `p` at `out[off]` and returns the number of bytes written. Throws `OvpnError` EINVAL if `p` is
 * not a packet a 2.6 peer would accept (unknown opcode, key-id, hard reset off key-id 0, more than ACK_MAX
 * acks, acks without a remote session id, message id missing or present against the opcode, payload on
 * P_ACK_V1), or ERANGE if `out` is too small. A P_ACK_V1 without acks is legal, if useless (2.6 ignores
 * it). `P_CONTROL_*` should carry at most CONTROL_SEND_ACK_MAX acks; that is the caller's policy (2.6
 * sends more only in P_ACK_V1).
 */
export function encodeControlInto(p: ControlPacket, out: Buffer, off = 0): number {
  if (!isControlOpcode(p.opcode)) throw einval(`not a control opcode: ${p.opcode}`, 'opcode');
  if (!Number.isInteger(p.keyId) || p.keyId < 0 || p.keyId > KEY_ID_MAX) {
    throw einval(`key-id must be 0..${KEY_ID_MAX}`, 'key-id');
  }
  if (p.keyId !== 0 && isHardReset(p.opcode)) throw einval('a hard reset is always key-id 0', 'key-id');
  const sid = checkSessionId(p.sessionId, 'session-id');
  const n = p.acks.length;
  if (n > ACK_MAX) throw einval(`at most ${ACK_MAX} acks per packet`, 'acks');
  const remote = n > 0 ? checkSessionId(p.remoteSessionId, 'remote-session-id') : undefined;
  const isAck = p.opcode === OP_ACK_V1;
  if (isAck) {
    if (p.messageId !== undefined) throw einval('P_ACK_V1 has no message packet-id', 'message-id');
    if (p.payload.length > 0) throw einval('P_ACK_V1 has no payload', 'payload');
  } else if (!isU32(p.messageId)) {
    throw einval('a message packet-id (u32) is required', 'message-id');
  }
  const len = encodedControlLength(p);
  if (off < 0 || off + len > out.length) throw erange(`control packet needs ${len} bytes`);
  out[off] = (p.opcode << 3) | p.keyId;
  sid.copy(out, off + 1);
  let o = off + CONTROL_HEADER_SIZE;
  out[o++] = n;
  for (const id of p.acks) {
    if (!isU32(id)) throw einval('an ack is a u32 packet-id', 'acks');
    out.writeUInt32BE(id, o);
    o += 4;
  }
  if (remote !== undefined) o += remote.copy(out, o);
  if (!isAck) {
    out.writeUInt32BE(p.messageId as number, o);
    o += 4;
    o += p.payload.copy(out, o);
  }
  return o - off;
}

/** `p` encoded into a new Buffer (see encodeControlInto for what throws). */
export function encodeControl(p: ControlPacket): Buffer {
  const out = Buffer.allocUnsafe(encodedControlLength(p));
  encodeControlInto(p, out, 0);
  return out;
}

function isU32(v: number | undefined): v is number {
  return v !== undefined && Number.isInteger(v) && v >= 0 && v <= 0xffffffff;
}

/* ---------- Early-negotiation TLVs (spec §4.10; ssl.c parse_early_negotiation_tlvs) ---------- */

/** TLV type of the early-negotiation flags (`TLV_TYPE_EARLY_NEG_FLAGS`). */
export const TLV_TYPE_EARLY_NEG_FLAGS = 0x0001;
/** Flag: the client is to send its wrapped key again in P_CONTROL_WKC_V1 (`EARLY_NEG_FLAG_RESEND_WKC`). */
export const EARLY_NEG_FLAG_RESEND_WKC = 0x0001;
/** A tls-crypt-v2 client's first replay packet-id is this + 1; the top byte says "early negotiation". */
export const EARLY_NEG_START = 0x0f000000;

/** True if a tls-crypt(-v2) replay packet-id announces early negotiation (`do_pre_decrypt_check`). */
export function isEarlyNegPacketId(id: number): boolean {
  return ((id >>> 24) & 0x0f) === 0x0f;
}

/** What a hard reset's payload says. */
export interface EarlyNegotiation {
  /** EARLY_NEG_FLAGS value, 0 if absent. */
  readonly flags: number;
  /** True if the flags ask for the WKc to be resent. */
  readonly resendWkc: boolean;
}

/**
 * Parses the payload of a message-id-0 hard reset as `type u16 | len u16 | value` records. Unknown types
 * are skipped; a record that runs past the end, or a flags record whose length is not 2, gives
 * `PacketError.SHORT` (2.6 then fails the session). Empty payload → flags 0.
 */
export function parseEarlyNegotiation(payload: Buffer): EarlyNegotiation | PacketError {
  let flags = 0;
  let off = 0;
  while (off < payload.length) {
    if (payload.length - off < 4) return PacketError.SHORT;
    const type = payload.readUInt16BE(off);
    const len = payload.readUInt16BE(off + 2);
    off += 4;
    if (payload.length - off < len) return PacketError.SHORT;
    if (type === TLV_TYPE_EARLY_NEG_FLAGS) {
      if (len !== 2) return PacketError.SHORT;
      flags = payload.readUInt16BE(off);
    }
    off += len;
  }
  return { flags, resendWkc: (flags & EARLY_NEG_FLAG_RESEND_WKC) !== 0 };
}

/** The reset payload carrying EARLY_NEG_FLAGS = `flags` (what a 2.6 server sends to ask for the WKc). */
export function buildEarlyNegotiation(flags: number): Buffer {
  const out = Buffer.alloc(6);
  out.writeUInt16BE(TLV_TYPE_EARLY_NEG_FLAGS, 0);
  out.writeUInt16BE(2, 2);
  out.writeUInt16BE(flags & 0xffff, 4);
  return out;
}
