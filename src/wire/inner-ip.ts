/**
 * The inner (tunnelled) IP packet, as far as the data plane looks at it: version, and the source and
 * destination addresses used for peer selection and the reverse-path check (spec ovpn-kernel §3.4
 * step 10, §3.5 step 1, §4.4, §4.5). Reads in place; allocates nothing.
 *
 * IPv4: version/IHL at 0, total length at 2, source at 12, destination at 16 (header >= 20 bytes).
 * IPv6: version at 0, payload length at 4, source at 8, destination at 24 (header 40 bytes).
 */
export const IPV4_MIN_HEADER = 20;
export const IPV6_HEADER = 40;
export const IPV4_SRC = 12;
export const IPV4_DST = 16;
export const IPV6_SRC = 8;
export const IPV6_DST = 24;

/** 4 or 6 if `buf[off, off+len)` starts like an IPv4/IPv6 packet with a full header, else 0. */
export function ipVersion(buf: Buffer, off: number, len: number): 0 | 4 | 6 {
  if (len < IPV4_MIN_HEADER) return 0;
  const v = buf[off] >>> 4;
  if (v === 4) return 4;
  if (v === 6 && len >= IPV6_HEADER) return 6;
  return 0;
}
