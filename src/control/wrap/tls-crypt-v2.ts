/**
 * tls-crypt-v2 (spec openvpn-protocol §4.7, control-plane §5; 2.6 `tls_crypt_v2_wrap_client_key`,
 * `tls_crypt_v2_unwrap_client_key`, `tls_crypt_v2_extract_client_key`, `tls_wrap_control`):
 * each client has its own tls-crypt key Kc and carries a copy wrapped under the server key, WKc:
 *
 * ```
 *   WKc  = T(32) | AES-256-CTR(server Ke, IV = T[0..16], Kc(256) | metadata) | len(2, BE)
 *   T    = HMAC-SHA256(server Ka, len | Kc | metadata)          len = length of the whole WKc, ≤ 1024
 *   metadata = type(1) | data: type 0 = user data, type 1 = 64-bit BE unix time (`--genkey` default)
 * ```
 *
 * On the wire the client appends WKc, in clear, after the tls-crypt output of its
 * P_CONTROL_HARD_RESET_CLIENT_V3 and P_CONTROL_WKC_V1 packets; the server finds it from the length in
 * the last 2 bytes, unwraps Kc and then speaks tls-crypt with Kc (server side NORMAL). All other packets
 * are plain tls-crypt with Kc.
 *
 * Early negotiation: a 2.6 client starts its replay ids at EARLY_NEG_START (first id 0x0F000001); a
 * server that sees the 0x0F marker answers statelessly and asks for the WKc again (packet.ts TLVs).
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import { einval } from '../../errors/ovpn-error.js';
import { OP_CONTROL_HARD_RESET_CLIENT_V3, OP_CONTROL_WKC_V1 } from '../../wire/opcode.js';
import { EARLY_NEG_START, isEarlyNegPacketId } from '../packet.js';
import {
  STATIC_KEY_SIZE,
  TLS_CRYPT_V2_MAX_WKC_LEN,
  type TlsCryptV2ClientKey,
  type TlsCryptV2ServerKey,
} from '../static-key.js';
import {
  aes256Ctr,
  TLS_CRYPT_OFF_PID,
  TLS_CRYPT_OVERHEAD,
  TLS_CRYPT_TAG_SIZE,
  TlsCryptWrap,
} from './tls-crypt.js';
import { type ControlWrap, WrapError } from './wrap.js';

export const METADATA_TYPE_USER = 0x00;
export const METADATA_TYPE_TIMESTAMP = 0x01;
/** Largest metadata (type byte included) that fits a WKc (`TLS_CRYPT_V2_MAX_METADATA_LEN`). */
export const TLS_CRYPT_V2_MAX_METADATA_LEN =
  TLS_CRYPT_V2_MAX_WKC_LEN - (STATIC_KEY_SIZE + TLS_CRYPT_TAG_SIZE + 2);
const WKC_MIN_LEN = TLS_CRYPT_TAG_SIZE + STATIC_KEY_SIZE + 2;

/** True for the opcodes that carry a WKc. */
export function carriesWkc(op: number): boolean {
  return op === OP_CONTROL_HARD_RESET_CLIENT_V3 || op === OP_CONTROL_WKC_V1;
}

/** Metadata of type 1: the creation time (what `--genkey tls-crypt-v2-client` writes without metadata). */
export function timestampMetadata(unixSec: bigint): Buffer {
  const m = Buffer.alloc(9);
  m[0] = METADATA_TYPE_TIMESTAMP;
  m.writeBigUInt64BE(BigInt.asUintN(64, unixSec), 1);
  return m;
}

/**
 * Wraps Kc and `metadata` (type byte first) under the server key: the WKc a client key file carries.
 * Throws EINVAL for a Kc that is not 256 bytes, empty metadata or a WKc over 1024 bytes.
 */
export function wrapClientKey(server: TlsCryptV2ServerKey, kc: Buffer, metadata: Buffer): Buffer {
  if (kc.length !== STATIC_KEY_SIZE) throw einval(`Kc is ${STATIC_KEY_SIZE} bytes`, 'tls-crypt-v2');
  if (metadata.length < 1 || metadata.length > TLS_CRYPT_V2_MAX_METADATA_LEN) {
    throw einval(
      `metadata is 1..${TLS_CRYPT_V2_MAX_METADATA_LEN} bytes (type byte included)`,
      'tls-crypt-v2',
    );
  }
  const len = Buffer.alloc(2);
  len.writeUInt16BE(WKC_MIN_LEN + metadata.length, 0);
  const tag = createHmac('sha256', server.hmac).update(len).update(kc).update(metadata).digest();
  const ct = aes256Ctr(server.cipher, tag.subarray(0, 16), Buffer.concat([kc, metadata]));
  return Buffer.concat([tag, ct, len]);
}

/** What a WKc holds. */
export interface UnwrappedClientKey {
  /** Kc, 256 bytes (a copy). */
  readonly key2: Buffer;
  /** Metadata, type byte first; possibly empty (2.6 checks the type only with a verify script). */
  readonly metadata: Buffer;
}

/**
 * Unwraps a WKc with the server key (`tls_crypt_v2_unwrap_client_key`): length field = WKc length, at
 * most 1024; decrypt; tag over len | plaintext in constant time; at least 256 bytes of plaintext.
 * Never throws.
 */
export function unwrapClientKey(server: TlsCryptV2ServerKey, wkc: Buffer): UnwrappedClientKey | WrapError {
  if (wkc.length > TLS_CRYPT_V2_MAX_WKC_LEN || wkc.length < TLS_CRYPT_TAG_SIZE + 2)
    return WrapError.WKC_LENGTH;
  const len = wkc.subarray(wkc.length - 2);
  if (len.readUInt16BE(0) !== wkc.length) return WrapError.WKC_LENGTH;
  const tag = wkc.subarray(0, TLS_CRYPT_TAG_SIZE);
  const plain = aes256Ctr(
    server.cipher,
    tag.subarray(0, 16),
    wkc.subarray(TLS_CRYPT_TAG_SIZE, wkc.length - 2),
  );
  const check = createHmac('sha256', server.hmac).update(len).update(plain).digest();
  if (!timingSafeEqual(check, tag)) return WrapError.WKC_AUTH;
  if (plain.length < STATIC_KEY_SIZE) return WrapError.WKC_LENGTH;
  return { key2: plain.subarray(0, STATIC_KEY_SIZE), metadata: plain.subarray(STATIC_KEY_SIZE) };
}

/**
 * Splits a received V3 / WKC_V1 packet into its tls-crypt part and the appended WKc, whose length is in
 * the packet's last 2 bytes. A length that does not fit behind the opcode byte is WKC_LENGTH (2.6 does
 * not check the upper bound here; the tls-crypt part is checked by its own unwrap). Never throws.
 */
export function splitWkc(wire: Buffer): { packet: Buffer; wkc: Buffer } | WrapError {
  if (wire.length < 1 + 1 + 2) return WrapError.WKC_LENGTH;
  const wkcLen = wire.readUInt16BE(wire.length - 2);
  if (wkcLen < 2 || wkcLen > wire.length - 1) return WrapError.WKC_LENGTH;
  const cut = wire.length - wkcLen;
  return { packet: wire.subarray(0, cut), wkc: wire.subarray(cut) };
}

/**
 * True if a tls-crypt(-v2) packet's clear replay id has the early-negotiation marker (0x0F in the top
 * byte): the client can resend its WKc (`do_pre_decrypt_check`). False for a packet too short to tell.
 */
export function announcesEarlyNegotiation(wire: Buffer): boolean {
  return wire.length >= TLS_CRYPT_OFF_PID + 4 && isEarlyNegPacketId(wire.readUInt32BE(TLS_CRYPT_OFF_PID));
}

export interface TlsCryptV2ClientOptions {
  readonly clientKey: TlsCryptV2ClientKey;
  /** Start replay ids at EARLY_NEG_START, as every 2.6 tls-crypt-v2 client does (default true). */
  readonly earlyNegotiation?: boolean;
  readonly replayWindow?: number;
  readonly replayTimeSec?: number;
}

/** The client side: tls-crypt with Kc (INVERSE), WKc appended to V3 and WKC_V1 packets. */
export class TlsCryptV2ClientWrap implements ControlWrap {
  readonly overhead: number;
  readonly wkcLength: number;
  private readonly inner: TlsCryptWrap;
  private readonly wkc: Buffer;

  constructor(opts: TlsCryptV2ClientOptions) {
    this.inner = new TlsCryptWrap({
      key2: opts.clientKey.key2,
      role: 'client',
      firstPacketId: opts.earlyNegotiation === false ? 0 : EARLY_NEG_START,
      replayWindow: opts.replayWindow,
      replayTimeSec: opts.replayTimeSec,
    });
    this.overhead = this.inner.overhead;
    this.wkc = Buffer.from(opts.clientKey.wkc);
    this.wkcLength = this.wkc.length;
  }

  wrap(plain: Buffer, nowSec: number): Buffer {
    const out = this.inner.wrap(plain, nowSec);
    return carriesWkc(plain[0] >>> 3) ? Buffer.concat([out, this.wkc]) : out;
  }

  unwrap(wire: Buffer, nowSec: number): Buffer | WrapError {
    return this.inner.unwrap(wire, nowSec);
  }
}

export interface TlsCryptV2ServerOptions {
  readonly serverKey: TlsCryptV2ServerKey;
  /**
   * The replay id before the first one sent (0; 1 for a server session made from a cookie, whose client
   * already has our stateless reply with id 1).
   */
  readonly firstPacketId?: number;
  readonly replayWindow?: number;
  readonly replayTimeSec?: number;
}

/**
 * The server side for one client session: the first V3 / WKC_V1 packet that authenticates completely
 * (WKc under the server key, then the packet under the Kc inside) fixes Kc and its metadata; later WKcs
 * are cut off and ignored, as 2.6 does once the key is set up. Packets without a WKc before that are
 * NO_CLIENT_KEY.
 */
export class TlsCryptV2ServerWrap implements ControlWrap {
  readonly overhead = TLS_CRYPT_OVERHEAD;
  private inner: TlsCryptWrap | undefined;
  private meta: Buffer | undefined;

  constructor(private readonly opts: TlsCryptV2ServerOptions) {}

  /** The client's metadata (type byte first) once a WKc was accepted. */
  get metadata(): Buffer | undefined {
    return this.meta;
  }

  get hasClientKey(): boolean {
    return this.inner !== undefined;
  }

  /** Throws EINVAL before a client key was accepted (nothing to encrypt with). */
  wrap(plain: Buffer, nowSec: number): Buffer {
    if (this.inner === undefined) throw einval('no tls-crypt-v2 client key yet');
    return this.inner.wrap(plain, nowSec);
  }

  unwrap(wire: Buffer, nowSec: number): Buffer | WrapError {
    if (wire.length < 1) return WrapError.SHORT;
    let packet = wire;
    if (carriesWkc(wire[0] >>> 3)) {
      const split = splitWkc(wire);
      if (split instanceof WrapError) return split;
      packet = split.packet;
      if (this.inner === undefined) {
        const key = unwrapClientKey(this.opts.serverKey, split.wkc);
        if (key instanceof WrapError) return key;
        const inner = new TlsCryptWrap({
          key2: key.key2,
          role: 'server',
          firstPacketId: this.opts.firstPacketId,
          replayWindow: this.opts.replayWindow,
          replayTimeSec: this.opts.replayTimeSec,
        });
        key.key2.fill(0);
        const out = inner.unwrap(packet, nowSec);
        if (out instanceof WrapError) return out;
        this.inner = inner;
        this.meta = Buffer.from(key.metadata);
        return out;
      }
    }
    if (this.inner === undefined) return WrapError.NO_CLIENT_KEY;
    return this.inner.unwrap(packet, nowSec);
  }
}
