/**
 * Session ids (spec openvpn-protocol §4.1, §4.9; 2.6 `session_id.c`, `ssl_pkt.c calculate_session_id_hmac`,
 * `check_session_hmac_and_pkt_id`, `mudp.c do_pre_decrypt_check`):
 *
 * - a peer's own session id is 8 random bytes, never all zero;
 * - a 2.6 UDP server answers a client's hard reset without keeping state: its own session id is a cookie,
 *   `HMAC-SHA256(per-process key, time slot | client address | client session id)[0..8]`, and it creates
 *   the session only when a later packet echoes a cookie valid for the current time slot or one of the two
 *   before it. A slot lasts `(hand-window + 1) / 2` seconds (integer division; 30 s by default).
 *
 * Only the server that made a cookie checks it, so the HMAC input need not match 2.6 byte for byte: 2.6
 * hashes its raw `sockaddr_in`/`sockaddr_in6`, this hashes `family(1) | port(2, BE) | address(4 or 16)`.
 * The time slot is a u32 BE as 2.6 writes it on little-endian hosts (`ntohl(slot + offset)`).
 */
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { einval } from '../errors/ovpn-error.js';
import { OP_ACK_V1, OP_CONTROL_V1, OP_CONTROL_WKC_V1 } from '../wire/opcode.js';
import { type ControlPacket, SESSION_ID_SIZE } from './packet.js';

/** `--hand-window` default, seconds. */
export const HAND_WINDOW_DEFAULT_SEC = 60;
/** Size of the cookie HMAC key (SHA256_DIGEST_LENGTH). */
export const COOKIE_KEY_SIZE = 32;

/** A fresh own session id: 8 random bytes, not all zero. `random` is for tests. */
export function newSessionId(random: (n: number) => Buffer = randomBytes): Buffer {
  for (;;) {
    const sid = random(SESSION_ID_SIZE);
    if (sid.length === SESSION_ID_SIZE && sid.some((b) => b !== 0)) return sid;
  }
}

/** The peer address a cookie is bound to (an `Endpoint` from src/net fits). */
export interface CookiePeer {
  readonly family: 4 | 6;
  /** 4 or 16 bytes. */
  readonly addr: Buffer;
  readonly port: number;
}

/** Why the third packet of a stateless handshake was refused (`check_session_hmac_and_pkt_id`). */
export type CookieVerdict =
  | 'OK'
  /** Not P_CONTROL_V1, P_ACK_V1 or P_CONTROL_WKC_V1 on key-id 0. */
  | 'OPCODE'
  /** No ack, so no echoed cookie (a P_CONTROL_V1 that does not ack the server's reset). */
  | 'NO_ACK'
  /** An acked id or the message id above 1: not part of a three-way handshake. */
  | 'PACKET_ID'
  /** The echoed session id is not a cookie of the last three time slots for this peer. */
  | 'COOKIE';

export class SessionCookie {
  private readonly key: Buffer;
  private readonly slotSec: number;

  /**
   * `key`: 32 secret bytes, one per server process (`session_id_hmac_init`); `handWindowSec`: the server's
   * `--hand-window`. Throws EINVAL for a bad key or window.
   */
  constructor(key: Buffer, handWindowSec = HAND_WINDOW_DEFAULT_SEC) {
    if (key.length !== COOKIE_KEY_SIZE) throw einval(`cookie key is ${COOKIE_KEY_SIZE} bytes`);
    if (!Number.isInteger(handWindowSec) || handWindowSec < 1)
      throw einval('hand-window must be ≥ 1 s', 'hand-window');
    this.key = Buffer.from(key);
    this.slotSec = Math.floor((handWindowSec + 1) / 2);
  }

  /** A cookie with a random key. */
  static create(handWindowSec = HAND_WINDOW_DEFAULT_SEC): SessionCookie {
    return new SessionCookie(randomBytes(COOKIE_KEY_SIZE), handWindowSec);
  }

  /**
   * The server session id for `clientSid` from `peer` at `nowSec` (unix seconds), `offset` slots away
   * (0 when answering a reset).
   */
  compute(clientSid: Buffer, peer: CookiePeer, nowSec: number, offset = 0): Buffer {
    const head = Buffer.allocUnsafe(7);
    head.writeUInt32BE((Math.floor(nowSec / this.slotSec) + offset) >>> 0, 0);
    head[4] = peer.family;
    head.writeUInt16BE(peer.port & 0xffff, 5);
    return createHmac('sha256', this.key)
      .update(head)
      .update(peer.addr)
      .update(clientSid)
      .digest()
      .subarray(0, SESSION_ID_SIZE);
  }

  /** True if `serverSid` is the cookie of `clientSid` / `peer` in the current slot or the two before. */
  verify(serverSid: Buffer, clientSid: Buffer, peer: CookiePeer, nowSec: number): boolean {
    if (serverSid.length !== SESSION_ID_SIZE) return false;
    let ok = false;
    for (let offset = -2; offset <= 0; offset++) {
      // no early exit: the time spent does not say which slot matched
      if (timingSafeEqual(this.compute(clientSid, peer, nowSec, offset), serverSid)) ok = true;
    }
    return ok;
  }

  /**
   * The server's verdict on a client packet that should complete the three-way handshake: a decoded,
   * unwrapped P_CONTROL_V1 / P_ACK_V1 / P_CONTROL_WKC_V1 on key-id 0 whose acks are all ≤ 1, whose message
   * id (if any) is ≤ 1, and whose remote session id is a valid cookie for its own session id.
   */
  check(packet: ControlPacket, peer: CookiePeer, nowSec: number): CookieVerdict {
    const op = packet.opcode;
    if ((op !== OP_CONTROL_V1 && op !== OP_ACK_V1 && op !== OP_CONTROL_WKC_V1) || packet.keyId !== 0) {
      return 'OPCODE';
    }
    if (packet.acks.length === 0 || packet.remoteSessionId === undefined) return 'NO_ACK';
    if (packet.acks.some((id) => id > 1)) return 'PACKET_ID';
    if (op !== OP_ACK_V1 && (packet.messageId ?? 0) > 1) return 'PACKET_ID';
    return this.verify(packet.remoteSessionId, packet.sessionId, peer, nowSec) ? 'OK' : 'COOKIE';
  }
}
