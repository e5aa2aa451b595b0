/**
 * tls-auth: an HMAC "firewall" over every control packet (spec openvpn-protocol §4.3; 2.6 `tls_wrap_control`
 * and `read_control_auth` with TLS_WRAP_AUTH, `swap_hmac`, `openvpn_encrypt_v1` / `openvpn_decrypt_v1` with
 * cipher none and a long-form packet-id).
 *
 * ```
 *   wire:  op(1) | own sid(8) | HMAC(H) | replay id(4) | replay time(4) | rest of the plain packet
 *   HMAC = HMAC-<auth>(send key, replay id | replay time | op | own sid | rest)
 * ```
 *
 * 2.6 builds `HMAC | id | time | op | sid | rest` (HMAC over everything after it) and then swaps the first
 * H+8 bytes with the following 9 so that opcode and session id stay in front; on receive it swaps back.
 * `rest` is the plain packet after the session id (ack block, message id, payload).
 *
 * Keys: the HMAC key is the first H bytes of the hmac slot of the direction's key (key-direction, see
 * static-key.ts); the cipher slots are unused. H is the digest size of `--auth` (SHA1 = 20 by default).
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import { einval } from '../../errors/ovpn-error.js';
import { CONTROL_HEADER_SIZE } from '../packet.js';
import { directionSlots, type KeyDirection } from '../static-key.js';
import {
  type ControlWrap,
  checkPlain,
  REPLAY_TIME_DEFAULT_SEC,
  REPLAY_WINDOW_DEFAULT,
  ReplaySender,
  ReplayWindow,
  WrapError,
} from './wrap.js';

/** Digest sizes of the `--auth` algorithms tls-auth can use (HMAC keys are at most 64 bytes). */
const DIGEST_SIZE: Readonly<Record<string, number>> = {
  MD5: 16,
  SHA1: 20,
  SHA224: 28,
  SHA256: 32,
  SHA384: 48,
  SHA512: 64,
};

/** Long-form replay packet-id: id(4) + time(4). */
export const REPLAY_ID_SIZE = 8;

export interface TlsAuthOptions {
  /** The 256-byte static key (static-key.ts parseStaticKey). */
  readonly key2: Buffer;
  /** From `key-direction` / the `tls-auth` argument; absent → bidirectional. */
  readonly direction: KeyDirection;
  /** `--auth` digest name, case-insensitive (SHA1 default; MD5, SHA224, SHA256, SHA384, SHA512). */
  readonly digest?: string;
  /** `--replay-window n t` (64 and 15 s by default). */
  readonly replayWindow?: number;
  readonly replayTimeSec?: number;
  /** The replay id before the first one sent (0; 1 for a server session after its stateless reset). */
  readonly firstPacketId?: number;
}

/** Digest size for an `--auth` name, or throws EINVAL. */
export function tlsAuthDigestSize(name: string): number {
  const size = DIGEST_SIZE[name.toUpperCase().replace('-', '')];
  if (size === undefined)
    throw einval(`unsupported tls-auth digest ${JSON.stringify(name.slice(0, 20))}`, 'auth');
  return size;
}

export class TlsAuthWrap implements ControlWrap {
  readonly overhead: number;
  private readonly hmacSize: number;
  private readonly algorithm: string;
  private readonly sendKey: Buffer;
  private readonly recvKey: Buffer;
  private readonly sender: ReplaySender;
  private readonly replay: ReplayWindow;

  /** Copies the key bytes it needs; the caller keeps `opts.key2`. Throws EINVAL for a bad key or digest. */
  constructor(opts: TlsAuthOptions) {
    const name = opts.digest ?? 'SHA1';
    this.hmacSize = tlsAuthDigestSize(name);
    this.algorithm = name.toLowerCase().replace('-', '');
    const { send, recv } = directionSlots(opts.key2, opts.direction);
    this.sendKey = Buffer.from(send.hmac.subarray(0, this.hmacSize));
    this.recvKey = Buffer.from(recv.hmac.subarray(0, this.hmacSize));
    this.overhead = this.hmacSize + REPLAY_ID_SIZE;
    this.sender = new ReplaySender(opts.firstPacketId ?? 0);
    this.replay = new ReplayWindow(
      opts.replayWindow ?? REPLAY_WINDOW_DEFAULT,
      opts.replayTimeSec ?? REPLAY_TIME_DEFAULT_SEC,
    );
  }

  private mac(key: Buffer, idTime: Buffer, header: Buffer, rest: Buffer): Buffer {
    return createHmac(this.algorithm, key).update(idTime).update(header).update(rest).digest();
  }

  wrap(plain: Buffer, nowSec: number): Buffer {
    checkPlain(plain);
    const { id, timeSec } = this.sender.next(nowSec);
    const h = this.hmacSize;
    const out = Buffer.allocUnsafe(plain.length + this.overhead);
    plain.copy(out, 0, 0, CONTROL_HEADER_SIZE);
    const idTime = out.subarray(CONTROL_HEADER_SIZE + h, CONTROL_HEADER_SIZE + h + REPLAY_ID_SIZE);
    idTime.writeUInt32BE(id, 0);
    idTime.writeUInt32BE(timeSec, 4);
    plain.copy(out, CONTROL_HEADER_SIZE + this.overhead, CONTROL_HEADER_SIZE);
    const tag = this.mac(
      this.sendKey,
      idTime,
      plain.subarray(0, CONTROL_HEADER_SIZE),
      plain.subarray(CONTROL_HEADER_SIZE),
    );
    tag.copy(out, CONTROL_HEADER_SIZE);
    return out;
  }

  unwrap(wire: Buffer, nowSec: number): Buffer | WrapError {
    const h = this.hmacSize;
    const restAt = CONTROL_HEADER_SIZE + this.overhead;
    if (wire.length < restAt) return WrapError.SHORT;
    const header = wire.subarray(0, CONTROL_HEADER_SIZE);
    const idTime = wire.subarray(CONTROL_HEADER_SIZE + h, restAt);
    const rest = wire.subarray(restAt);
    const tag = this.mac(this.recvKey, idTime, header, rest);
    if (!timingSafeEqual(tag, wire.subarray(CONTROL_HEADER_SIZE, CONTROL_HEADER_SIZE + h)))
      return WrapError.AUTH;
    const id = idTime.readUInt32BE(0);
    const time = idTime.readUInt32BE(4);
    if (!this.replay.check(id, time, nowSec)) return WrapError.REPLAY;
    this.replay.add(id, time, nowSec);
    return Buffer.concat([header, rest]);
  }
}
