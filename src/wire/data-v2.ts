/**
 * DATA_V2 packet layout with an AEAD cipher (spec ovpn-kernel §3.1-3.2, openvpn-protocol §2.2):
 *
 * ```
 * offset  size
 *   0      4   0x48|key-id, peer-id (24 bits BE)    \ AAD (8 bytes)
 *   4      4   packet-id (u32 BE)                   /  and first 4 bytes of the nonce
 *   8     16   AEAD tag
 *  24      n   ciphertext (same length as the plaintext, no padding)
 * ```
 *
 * nonce (12 bytes) = packet-id (4, BE) ‖ nonce tail (8, per key direction).
 */
import { dataV2Word, OPCODE_WORD_SIZE, PEER_ID_MAX } from './opcode.js';

export const PKTID_OFFSET = 4;
export const PKTID_SIZE = 4;
export const AAD_SIZE = 8;
export const TAG_OFFSET = 8;
export const TAG_SIZE = 16;
export const NONCE_TAIL_SIZE = 8;
export const NONCE_SIZE = 12;
/** Bytes in front of the ciphertext: op word + packet-id + tag. */
export const DATA_V2_OVERHEAD = OPCODE_WORD_SIZE + PKTID_SIZE + TAG_SIZE;
/** Offset of the ciphertext. */
export const PAYLOAD_OFFSET = DATA_V2_OVERHEAD;

/** Writes the 8 bytes of AAD (op word and packet-id) at `off`. */
export function writeDataV2Header(
  buf: Buffer,
  off: number,
  keyId: number,
  peerId: number,
  pktId: number,
): void {
  buf.writeUInt32BE(dataV2Word(keyId, peerId), off);
  buf.writeUInt32BE(pktId >>> 0, off + PKTID_OFFSET);
}

/** Peer-id of a DATA_V2 packet at `off` (caller has checked the packet holds 4 bytes). */
export function readPeerId(buf: Buffer, off: number): number {
  return buf.readUInt32BE(off) & PEER_ID_MAX;
}

/** Packet-id of a DATA_V2 packet at `off` (caller has checked the packet holds 8 bytes). */
export function readPacketId(buf: Buffer, off: number): number {
  return buf.readUInt32BE(off + PKTID_OFFSET);
}
