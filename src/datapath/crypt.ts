/**
 * The per-packet crypto step of the data path: DATA_V2 seal towards a peer and open from a peer
 * (spec ovpn-kernel §3.4 steps 5-8, §3.5 step 6, §3.9). Both work in place in the caller's buffer,
 * allocate nothing and return a DropReason instead of throwing.
 *
 * ```
 *   off                                    off+24                      off+24+len
 *   | op/key/peer (4) | pkt-id (4) | tag   | payload (plaintext <-> ciphertext) |
 * ```
 */
import type { Peer } from '../peer/peer.js';
import { Stat } from '../peer/stats.js';
import { DATA_V2_OVERHEAD, readPacketId, writeDataV2Header } from '../wire/data-v2.js';
import { keyIdOf } from '../wire/opcode.js';
import { DropReason } from './drop-reason.js';
import type { DataplaneEvents } from './events.js';

/**
 * Seals the plaintext at `buf[off+24, off+24+len)` for `peer` with its primary key: writes the DATA_V2
 * header (primary key-id, the peer's tx-id, the next packet-id) and the tag, and encrypts in place.
 * On packet-id exhaustion the key is killed and, if this call killed it, `events.keySwapNeeded` fires
 * (exactly once however many packets hit the limit). `addr` is the native address of `buf[0]`.
 */
export function sealPacket(
  peer: Peer,
  buf: Buffer,
  addr: number,
  off: number,
  len: number,
  events: DataplaneEvents,
): DropReason {
  const ks = peer.keys.primary();
  if (ks === undefined) return DropReason.TX_NO_KEY;
  const pktId = ks.txPktId.next();
  if (pktId === 0) {
    if (peer.keys.kill(ks.keyId)) events.keySwapNeeded(peer, ks.keyId);
    return DropReason.TX_PKTID_EXHAUSTED;
  }
  writeDataV2Header(buf, off, ks.keyId, peer.txId, pktId);
  return ks.encrypt.seal(buf, addr, off, len, pktId) ? DropReason.NONE : DropReason.TX_CRYPTO;
}

/**
 * Opens the DATA_V2 packet at `buf[off, off+len)` received from `peer`: counts it in link RX, picks the
 * key slot by key-id, authenticates and decrypts in place (plaintext at `off+24`, `len-24` bytes),
 * then checks the replay window, and stamps `peer.lastRecvMs`. The replay window is touched only after
 * authentication succeeded, so a forged packet cannot move it.
 */
export function openPacket(
  peer: Peer,
  buf: Buffer,
  addr: number,
  off: number,
  len: number,
  nowMs: number,
): DropReason {
  peer.stats.addPacket(Stat.LINK_RX_BYTES, len);
  if (len < DATA_V2_OVERHEAD) return DropReason.RX_SHORT;
  const ks = peer.keys.byKeyId(keyIdOf(buf[off]));
  if (ks === undefined) return DropReason.RX_NO_KEY;
  const pktId = readPacketId(buf, off);
  if (!ks.decrypt.open(buf, addr, off, len - DATA_V2_OVERHEAD, pktId)) return DropReason.RX_AUTH;
  if (!ks.replay.check(pktId, nowMs)) return DropReason.RX_REPLAY;
  peer.lastRecvMs = nowMs;
  return DropReason.NONE;
}
