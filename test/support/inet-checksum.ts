/**
 * Reference Internet checksum arithmetic for tests, written independently of src/tun/checksum.ts so
 * that the two can check each other.
 */

/** One's-complement sum of the 16-bit words of b[start, end) (odd tail padded), folded, plus `s`. */
export function sum16(b: Buffer, start: number, end: number, s = 0): number {
  for (let i = start; i < end; i += 2) s += (b[i] << 8) | (i + 1 < end ? b[i + 1] : 0);
  while (s > 0xffff) s = (s & 0xffff) + Math.floor(s / 65536);
  return s;
}

/** The pseudo-header sum of IP packet `p` for protocol `proto` and an L4 length of `l4Len`. */
export function pseudo(p: Buffer, proto: number, l4Len: number): number {
  const v6 = p[0] >> 4 === 6;
  return sum16(p, v6 ? 8 : 12, v6 ? 40 : 20, proto + l4Len);
}

/** True when the L4 checksum of IP packet `p` (TCP or UDP, no extension headers) verifies. */
export function l4ChecksumOk(p: Buffer): boolean {
  const v6 = p[0] >> 4 === 6;
  const ipLen = v6 ? 40 : (p[0] & 15) * 4;
  const proto = v6 ? p[6] : p[9];
  return sum16(p, ipLen, p.length, pseudo(p, proto, p.length - ipLen)) === 0xffff;
}
