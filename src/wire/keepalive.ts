/**
 * The keepalive message: 16 fixed bytes, sent encrypted as the whole plaintext of a DATA_V2 packet
 * (OpenVPN's "ping string"; spec ovpn-kernel §3.7, openvpn-protocol §2.6). Its first nibble is 2, so
 * it can never be taken for an IPv4 or IPv6 packet.
 */
export const KEEPALIVE_MESSAGE: Readonly<Buffer> = Buffer.from('2a187bf3641eb4cb07ed2d0a981fc748', 'hex');
export const KEEPALIVE_SIZE = 16;

/** True if `buf[off, off+len)` is exactly the keepalive message. */
export function isKeepalive(buf: Buffer, off: number, len: number): boolean {
  return len === KEEPALIVE_SIZE && KEEPALIVE_MESSAGE.compare(buf, off, off + len) === 0;
}
