/**
 * One direction of one data-channel key: a persistent OpenSSL EVP context bound to the key at
 * creation, and the 8-byte nonce tail of that direction (spec ovpn-kernel §3.2).
 *
 * Packets are sealed and opened in place inside the caller's buffer, at `off`:
 *
 * ```
 *   off        +8               +24
 *   | AAD (8)  | tag (16)       | payload (n): plaintext <-> ciphertext, same length
 * ```
 *
 * nonce = packet-id (4, BE) ‖ nonce tail (8). Per packet this costs five FFI calls and allocates
 * nothing. Key bytes are copied into OpenSSL at creation; `close()` frees the context (OpenSSL clears
 * the key schedule when it frees it) and wipes the nonce tail.
 */
import { OvpnError } from '../errors/ovpn-error.js';
import { allocPinned, type PinnedBuffer } from '../sys/address.js';
import {
  AAD_SIZE,
  NONCE_SIZE,
  NONCE_TAIL_SIZE,
  PAYLOAD_OFFSET,
  TAG_OFFSET,
  TAG_SIZE,
} from '../wire/data-v2.js';
import { evpCipherName } from './cipher-alg.js';
import {
  EVP_CTRL_AEAD_GET_TAG,
  EVP_CTRL_AEAD_SET_IVLEN,
  EVP_CTRL_AEAD_SET_TAG,
  type Evp,
  evp,
} from './evp.js';

/** Scratch layout: nonce at 0..12, the EVP out-length at 16..24. */
const SCRATCH_OUTL = 16;
const SCRATCH_SIZE = 32;

export type AeadDirection = 'encrypt' | 'decrypt';

export class AeadContext {
  readonly direction: AeadDirection;
  private readonly e: Evp;
  /** Owned EVP_CIPHER_CTX; 0n once closed. */
  private ctx: bigint;
  /** Owned scratch memory: the nonce (tail fixed, packet-id per packet) and an out-length slot. */
  private readonly scratch: PinnedBuffer;

  /**
   * Binds `alg` (netlink cipher-alg value) and `key` in the given direction. Throws EINVAL for an
   * unsupported cipher or key length or a nonce tail that is not 8 bytes, EIO if OpenSSL refuses.
   * The caller keeps `key` and `nonceTail` and may wipe them afterwards.
   */
  constructor(alg: number, key: Buffer, nonceTail: Buffer, direction: AeadDirection) {
    if (nonceTail.length !== NONCE_TAIL_SIZE) {
      throw new OvpnError('EINVAL', `nonce tail must be ${NONCE_TAIL_SIZE} bytes`, 'nonce-tail');
    }
    const name = evpCipherName(alg, key.length);
    const e = evp();
    this.e = e;
    const cipher = e.cipherByName(name);
    if (!cipher) throw new OvpnError('EIO', `OpenSSL has no cipher ${name}`);
    const ctx = e.ctxNew();
    if (!ctx) throw new OvpnError('ENOMEM', 'EVP_CIPHER_CTX_new failed');
    const enc = direction === 'encrypt' ? 1 : 0;
    if (e.initKey(ctx, cipher, key, enc) !== 1 || e.ctrl(ctx, EVP_CTRL_AEAD_SET_IVLEN, NONCE_SIZE, 0) !== 1) {
      e.ctxFree(ctx);
      throw new OvpnError('EIO', `OpenSSL refused the ${name} key`);
    }
    this.ctx = ctx;
    this.direction = direction;
    this.scratch = allocPinned(SCRATCH_SIZE);
    nonceTail.copy(this.scratch.buf, 4);
  }

  /**
   * Encrypts `buf[off+24, off+24+len)` in place and writes the tag at `buf[off+8, off+24)`, with the
   * 8 bytes at `buf[off, off+8)` as AAD (the caller has written them). `addr` is the address of
   * `buf[0]`. Returns false if OpenSSL failed (the packet must be dropped).
   */
  seal(buf: Buffer, addr: number, off: number, len: number, pktId: number): boolean {
    const e = this.e;
    const ctx = this.ctx;
    const s = this.scratch;
    const outl = s.addr + SCRATCH_OUTL;
    const payload = addr + off + PAYLOAD_OFFSET;
    if (ctx === 0n || off < 0 || buf.length < off + PAYLOAD_OFFSET + len) return false;
    s.buf.writeUInt32BE(pktId, 0);
    return (
      e.initIv(ctx, 0, 0, 0, s.addr, -1) === 1 &&
      e.update(ctx, 0, outl, addr + off, AAD_SIZE) === 1 &&
      (len === 0 || e.update(ctx, payload, outl, payload, len) === 1) &&
      e.final(ctx, payload + len, outl) === 1 &&
      e.ctrl(ctx, EVP_CTRL_AEAD_GET_TAG, TAG_SIZE, addr + off + TAG_OFFSET) === 1
    );
  }

  /**
   * Verifies and decrypts the packet at `buf[off, off+24+len)` in place: AAD at `off`, tag at `off+8`,
   * ciphertext at `off+24`. Returns true only if the tag is authentic; on false the payload bytes are
   * garbage and the packet must be dropped.
   */
  open(buf: Buffer, addr: number, off: number, len: number, pktId: number): boolean {
    const e = this.e;
    const ctx = this.ctx;
    const s = this.scratch;
    const outl = s.addr + SCRATCH_OUTL;
    const payload = addr + off + PAYLOAD_OFFSET;
    if (ctx === 0n || off < 0 || buf.length < off + PAYLOAD_OFFSET + len) return false;
    s.buf.writeUInt32BE(pktId, 0);
    return (
      e.initIv(ctx, 0, 0, 0, s.addr, -1) === 1 &&
      e.ctrl(ctx, EVP_CTRL_AEAD_SET_TAG, TAG_SIZE, addr + off + TAG_OFFSET) === 1 &&
      e.update(ctx, 0, outl, addr + off, AAD_SIZE) === 1 &&
      (len === 0 || e.update(ctx, payload, outl, payload, len) === 1) &&
      e.final(ctx, payload + len, outl) === 1
    );
  }

  /** Frees the EVP context and wipes the nonce. Idempotent; seal/open must not be called after. */
  close(): void {
    if (this.ctx !== 0n) {
      this.e.ctxFree(this.ctx);
      this.ctx = 0n;
    }
    this.scratch.buf.fill(0);
  }

  get closed(): boolean {
    return this.ctx === 0n;
  }
}
