/**
 * tls-crypt: every control packet encrypted and authenticated with a pre-shared key (spec
 * openvpn-protocol §4.4; 2.6 `tls_crypt_wrap`, `tls_crypt_unwrap`, `tls_crypt_init_key`):
 *
 * ```
 *   0   op(1) | own sid(8) | replay id(4) | replay time(4)      header, clear, authenticated (17 bytes)
 *   17  tag(32) = HMAC-SHA256(Ka, header | plaintext)
 *   49  AES-256-CTR(Ke, IV = tag[0..16], plaintext)
 *       plaintext = the plain packet after the session id (ack block, message id, payload)
 * ```
 *
 * Keys (static-key.ts): server NORMAL (sends with keys[0]), client INVERSE (sends with keys[1]);
 * Ke = cipher slot[0..32], Ka = hmac slot[0..32]. Unwrap in 2.6's order: decrypt, check the tag in
 * constant time, then the replay window.
 *
 * The same wrapper serves tls-crypt-v2 with the client key Kc (wrap/tls-crypt-v2.ts) and, later, dynamic
 * tls-crypt (spec §4.5) with the exported key.
 */
import { createCipheriv, createDecipheriv, createHmac, timingSafeEqual } from 'node:crypto';
import { CONTROL_HEADER_SIZE } from '../packet.js';
import { directionSlots, tlsCryptDirection } from '../static-key.js';
import {
  type ControlWrap,
  checkPlain,
  REPLAY_TIME_DEFAULT_SEC,
  REPLAY_WINDOW_DEFAULT,
  ReplaySender,
  ReplayWindow,
  WrapError,
} from './wrap.js';

export const TLS_CRYPT_TAG_SIZE = 32;
/** Offsets in a tls-crypt packet (TLS_CRYPT_OFF_PID, _TAG, _CT). */
export const TLS_CRYPT_OFF_PID = CONTROL_HEADER_SIZE;
export const TLS_CRYPT_OFF_TAG = TLS_CRYPT_OFF_PID + 8;
export const TLS_CRYPT_OFF_CT = TLS_CRYPT_OFF_TAG + TLS_CRYPT_TAG_SIZE;
/** Bytes tls-crypt adds to a plain packet: replay id + time + tag (CTR adds no padding). */
export const TLS_CRYPT_OVERHEAD = 8 + TLS_CRYPT_TAG_SIZE;

/** The four 32-byte keys of one side. */
export interface TlsCryptKeys {
  readonly encryptCipher: Buffer;
  readonly encryptHmac: Buffer;
  readonly decryptCipher: Buffer;
  readonly decryptHmac: Buffer;
}

/** Copies of the keys `role` uses from `key2` (a static key or a tls-crypt-v2 Kc). Throws EINVAL. */
export function tlsCryptKeys(key2: Buffer, role: 'client' | 'server'): TlsCryptKeys {
  const { send, recv } = directionSlots(key2, tlsCryptDirection(role));
  return {
    encryptCipher: Buffer.from(send.cipher.subarray(0, 32)),
    encryptHmac: Buffer.from(send.hmac.subarray(0, 32)),
    decryptCipher: Buffer.from(recv.cipher.subarray(0, 32)),
    decryptHmac: Buffer.from(recv.hmac.subarray(0, 32)),
  };
}

/** AES-256-CTR of `data` with a 16-byte IV (the whole block is the counter, as OpenSSL does). */
export function aes256Ctr(key: Buffer, iv: Buffer, data: Buffer): Buffer {
  const c = createCipheriv('aes-256-ctr', key, iv);
  return Buffer.concat([c.update(data), c.final()]);
}

/** Decryption is the same keystream; kept apart only for reading. */
function aes256CtrDecrypt(key: Buffer, iv: Buffer, data: Buffer): Buffer {
  const d = createDecipheriv('aes-256-ctr', key, iv);
  return Buffer.concat([d.update(data), d.final()]);
}

export interface TlsCryptOptions {
  /** 256-byte key2: the tls-crypt static key, or Kc for tls-crypt-v2. */
  readonly key2: Buffer;
  readonly role: 'client' | 'server';
  /** The replay id before the first one sent (0; EARLY_NEG_START for a tls-crypt-v2 client). */
  readonly firstPacketId?: number;
  readonly replayWindow?: number;
  readonly replayTimeSec?: number;
}

export class TlsCryptWrap implements ControlWrap {
  readonly overhead = TLS_CRYPT_OVERHEAD;
  private readonly keys: TlsCryptKeys;
  private readonly sender: ReplaySender;
  private readonly replay: ReplayWindow;

  /** Copies the keys it needs from `opts.key2`. Throws EINVAL for a key that is not 256 bytes. */
  constructor(opts: TlsCryptOptions) {
    this.keys = tlsCryptKeys(opts.key2, opts.role);
    this.sender = new ReplaySender(opts.firstPacketId ?? 0);
    this.replay = new ReplayWindow(
      opts.replayWindow ?? REPLAY_WINDOW_DEFAULT,
      opts.replayTimeSec ?? REPLAY_TIME_DEFAULT_SEC,
    );
  }

  wrap(plain: Buffer, nowSec: number): Buffer {
    checkPlain(plain);
    const { id, timeSec } = this.sender.next(nowSec);
    const header = Buffer.allocUnsafe(TLS_CRYPT_OFF_TAG);
    plain.copy(header, 0, 0, CONTROL_HEADER_SIZE);
    header.writeUInt32BE(id, TLS_CRYPT_OFF_PID);
    header.writeUInt32BE(timeSec, TLS_CRYPT_OFF_PID + 4);
    const body = plain.subarray(CONTROL_HEADER_SIZE);
    const tag = createHmac('sha256', this.keys.encryptHmac).update(header).update(body).digest();
    const ct = aes256Ctr(this.keys.encryptCipher, tag.subarray(0, 16), body);
    return Buffer.concat([header, tag, ct]);
  }

  unwrap(wire: Buffer, nowSec: number): Buffer | WrapError {
    if (wire.length < TLS_CRYPT_OFF_CT) return WrapError.SHORT;
    const header = wire.subarray(0, TLS_CRYPT_OFF_TAG);
    const tag = wire.subarray(TLS_CRYPT_OFF_TAG, TLS_CRYPT_OFF_CT);
    const body = aes256CtrDecrypt(
      this.keys.decryptCipher,
      tag.subarray(0, 16),
      wire.subarray(TLS_CRYPT_OFF_CT),
    );
    const check = createHmac('sha256', this.keys.decryptHmac).update(header).update(body).digest();
    if (!timingSafeEqual(check, tag)) return WrapError.AUTH;
    const id = wire.readUInt32BE(TLS_CRYPT_OFF_PID);
    const time = wire.readUInt32BE(TLS_CRYPT_OFF_PID + 4);
    if (!this.replay.check(id, time, nowSec)) return WrapError.REPLAY;
    this.replay.add(id, time, nowSec);
    return Buffer.concat([wire.subarray(0, CONTROL_HEADER_SIZE), body]);
  }
}
