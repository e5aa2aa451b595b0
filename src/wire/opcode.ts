/**
 * The first 32-bit word of every OpenVPN packet in TLS mode (spec ovpn-kernel §3.1,
 * openvpn-protocol §1.1, §1.4):
 *
 * ```
 *   bit 31      27 26    24 23                                   0
 *      +---------+--------+--------------------------------------+
 *      | opcode  | key-id |  peer-id (DATA_V2 only; 24 bits BE)  |
 *      +---------+--------+--------------------------------------+
 *        byte 0             bytes 1..3
 * ```
 *
 * Only DATA_V2 uses bytes 1..3 as a peer-id; for every other opcode the word is just
 * `opcode << 3 | key-id` in byte 0 followed by that packet's own fields.
 */

/** Opcodes (5 bits). Only the ones the data plane tells apart are named. */
export const OP_CONTROL_HARD_RESET_CLIENT_V1 = 1;
export const OP_CONTROL_HARD_RESET_SERVER_V1 = 2;
export const OP_CONTROL_SOFT_RESET_V1 = 3;
export const OP_CONTROL_V1 = 4;
export const OP_ACK_V1 = 5;
export const OP_DATA_V1 = 6;
export const OP_CONTROL_HARD_RESET_CLIENT_V2 = 7;
export const OP_CONTROL_HARD_RESET_SERVER_V2 = 8;
export const OP_DATA_V2 = 9;
export const OP_CONTROL_HARD_RESET_CLIENT_V3 = 10;
export const OP_CONTROL_WKC_V1 = 11;

/** Size of the op/key-id/peer-id word. */
export const OPCODE_WORD_SIZE = 4;
/** Largest peer-id (24 bits); also `OVPN_PEER_ID_UNDEF`, "look the peer up by source address". */
export const PEER_ID_MAX = 0xffffff;
export const PEER_ID_UNDEF = 0xffffff;
/** Largest key-id (3 bits). */
export const KEY_ID_MAX = 7;

/** Opcode of a packet from its first byte. */
export function opcodeOf(firstByte: number): number {
  return firstByte >>> 3;
}

/** Key-id of a packet from its first byte. */
export function keyIdOf(firstByte: number): number {
  return firstByte & 0x07;
}

/** The DATA_V2 word for `keyId` and `peerId`, as an unsigned 32-bit number. */
export function dataV2Word(keyId: number, peerId: number): number {
  return ((OP_DATA_V2 << 27) | ((keyId & 0x07) << 24) | (peerId & PEER_ID_MAX)) >>> 0;
}

/** What the data plane does with a packet, decided from its first byte alone. */
export const PacketClass = {
  /** DATA_V2: decrypt in the data plane. */
  DATA_V2: 0,
  /** DATA_V1: not supported by ovpn; a counted drop on UDP, a stream error on TCP. */
  DATA_V1: 1,
  /** Anything else (control channel, ACKs, unknown): handed unchanged to the control plane. */
  CONTROL: 2,
} as const;
export type PacketClass = (typeof PacketClass)[keyof typeof PacketClass];

/**
 * Classifies a packet by its opcode, as ovpn's UDP encap hook and TCP stream parser do: the data plane
 * only keeps DATA_V2, refuses DATA_V1, and passes everything else up without judging it (the control
 * plane decides whether an opcode is legal).
 */
export function classify(firstByte: number): PacketClass {
  const op = firstByte >>> 3;
  if (op === OP_DATA_V2) return PacketClass.DATA_V2;
  if (op === OP_DATA_V1) return PacketClass.DATA_V1;
  return PacketClass.CONTROL;
}
