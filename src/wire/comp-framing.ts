/**
 * OpenVPN's compression framing without compression (spec openvpn-protocol §2.5; OpenVPN's
 * compstub.c): provider profiles often carry `comp-lzo no` or `compress`, which compress nothing but
 * still frame every data-channel plaintext (pings included) with a header byte. The kernel driver
 * refuses such peers; ovpn-ts frames and unframes them in place, per peer, so they stay on the fast path.
 * Real compression is never done: a peer that sends a compressed packet has it dropped.
 *
 *   comp-lzo-no       send: prepend 0xFA.                 receive: the first byte must be 0xFA; strip it
 *   compress-stub     send: move the first byte to the end and put 0xFB in its place; receive: undo it
 *   compress-stub-v2  send: as is, unless the first byte is 0x50: then prepend 0x50 0x00 (never for an
 *                     IP packet, whose first byte is 0x4_ or 0x6_); receive: strip 0x50 0x00
 */

export const CompFraming = {
  NONE: 0,
  /** `comp-lzo no` (and `comp-lzo` pushed as no): the LZO stub, a 0xFA prefix. */
  COMP_LZO_NO: 1,
  /** `compress` / `compress stub`: the swap stub, 0xFB in front and the first byte moved to the end. */
  COMPRESS_STUB: 2,
  /** `compress stub-v2`: no byte unless the payload starts with 0x50. */
  COMPRESS_STUB_V2: 3,
} as const;
export type CompFraming = (typeof CompFraming)[keyof typeof CompFraming];

/** API names, indexed by value. */
export const COMP_FRAMING_NAMES = ['none', 'comp-lzo-no', 'compress-stub', 'compress-stub-v2'] as const;

export const NO_COMPRESS_BYTE = 0xfa;
export const NO_COMPRESS_BYTE_SWAP = 0xfb;
export const COMP_V2_INDICATOR = 0x50;
export const COMP_V2_UNCOMPRESSED = 0;

/**
 * Frames the `len`-byte plaintext at `buf[off]` in place and returns where it now starts (`off`, or up
 * to 2 bytes before: the caller guarantees that headroom). Its length grows by `framedGrowth`. An
 * empty plaintext is left as it is, as OpenVPN does.
 */
export function frameComp(buf: Buffer, off: number, len: number, f: CompFraming): number {
  if (len === 0) return off;
  switch (f) {
    case CompFraming.COMP_LZO_NO:
      buf[off - 1] = NO_COMPRESS_BYTE;
      return off - 1;
    case CompFraming.COMPRESS_STUB:
      buf[off + len] = buf[off];
      buf[off] = NO_COMPRESS_BYTE_SWAP;
      return off;
    case CompFraming.COMPRESS_STUB_V2:
      if (buf[off] !== COMP_V2_INDICATOR) return off;
      buf[off - 2] = COMP_V2_INDICATOR;
      buf[off - 1] = COMP_V2_UNCOMPRESSED;
      return off - 2;
    default:
      return off;
  }
}

/** How many bytes `frameComp` added to a plaintext of `len` bytes that now starts at `start` (was `off`). */
export function framedGrowth(f: CompFraming, off: number, start: number, len: number): number {
  if (len === 0) return 0;
  return f === CompFraming.COMPRESS_STUB ? 1 : off - start;
}

/**
 * Unframes the `len`-byte plaintext at `buf[off]` in place. Returns how many leading bytes to skip (the
 * plaintext is then `len - unframedShrink(...)` bytes long at `off + skip`), or -1 if the header says
 * the packet is compressed or is malformed (the caller drops it).
 */
export function unframeComp(buf: Buffer, off: number, len: number, f: CompFraming): number {
  if (len === 0) return 0;
  switch (f) {
    case CompFraming.COMP_LZO_NO:
      return buf[off] === NO_COMPRESS_BYTE ? 1 : -1;
    case CompFraming.COMPRESS_STUB:
      if (buf[off] !== NO_COMPRESS_BYTE_SWAP) return -1;
      buf[off] = buf[off + len - 1];
      return 0;
    case CompFraming.COMPRESS_STUB_V2:
      if (buf[off] !== COMP_V2_INDICATOR) return 0;
      return len >= 2 && buf[off + 1] === COMP_V2_UNCOMPRESSED ? 2 : -1;
    default:
      return 0;
  }
}

/** How much shorter an unframed plaintext is, given the skip `unframeComp` returned. */
export function unframedShrink(f: CompFraming, len: number, skip: number): number {
  if (len === 0) return 0;
  return f === CompFraming.COMPRESS_STUB ? 1 : skip;
}
