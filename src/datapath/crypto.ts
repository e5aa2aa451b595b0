/**
 * The AEAD step of the data path, on one key slot (the kernel's crypto_aead.c): seal a plaintext into
 * a DATA_V2 packet and open one, in place in the caller's buffer, allocating nothing. Which key, which
 * packet-id, the replay window and the counters are the pipelines' business (xmit.ts, recv.ts).
 *
 * ```
 *   off                                    off+24                      off+24+len
 *   | op/key/peer (4) | pkt-id (4) | tag   | payload (plaintext <-> ciphertext) |
 * ```
 */
import type { KeySlot } from '../keys/key-slot.js';
import { DATA_V2_OVERHEAD, readPacketId, writeDataV2Header } from '../wire/data-v2.js';

/**
 * Writes the DATA_V2 header (key `ks`, peer-id `txId`, `pktId`) at `buf[off]` and seals the `len`
 * plaintext bytes at `off+24` in place, tag included. `addr` is the native address of `buf[0]`.
 * Returns false if OpenSSL failed.
 */
export function aeadSeal(
  ks: KeySlot,
  txId: number,
  pktId: number,
  buf: Buffer,
  addr: number,
  off: number,
  len: number,
): boolean {
  writeDataV2Header(buf, off, ks.keyId, txId, pktId);
  return ks.encrypt.seal(buf, addr, off, len, pktId);
}

/**
 * Authenticates and decrypts the `len`-byte DATA_V2 packet at `buf[off]` (at least 24 bytes) with
 * `ks`, in place: the plaintext is then at `off+24`. Returns the packet's id, or -1 if it did not
 * authenticate (forged, corrupted, or sealed with another key).
 */
export function aeadOpen(ks: KeySlot, buf: Buffer, addr: number, off: number, len: number): number {
  const pktId = readPacketId(buf, off);
  return ks.decrypt.open(buf, addr, off, len - DATA_V2_OVERHEAD, pktId) ? pktId : -1;
}
