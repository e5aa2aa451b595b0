/**
 * MSS clamping (OpenVPN's `mssfix`, done in the data plane because the kernel driver has none): the
 * MSS option of a TCP SYN or SYN-ACK inside the tunnel is lowered to a maximum, so that TCP never sends
 * segments whose encapsulated packets would be fragmented on the way. The rules are OpenVPN's
 * (mss.c): IPv4 only when the packet is whole (total length = packet length, not a fragment) and TCP;
 * IPv6 only when TCP follows the fixed header directly, and there the maximum is 20 bytes lower; every
 * MSS option larger than the maximum is lowered, and the TCP checksum is updated incrementally
 * (RFC 1624), so a valid checksum stays valid. In place, no allocation.
 */

const TCP = 6;
const TCP_SYN = 0x02;
const TCP_MIN_HEADER = 20;
const OPT_END = 0;
const OPT_NOP = 1;
const OPT_MSS = 2;

/**
 * Clamps the MSS of the IPv`ver` packet at `buf[off, off+len)` to `maxMss` (IPv6: `maxMss - 20`) if it
 * is a TCP SYN. Returns true if it changed the packet.
 */
export function clampMss(buf: Buffer, off: number, len: number, ver: 4 | 6, maxMss: number): boolean {
  if (ver === 4) {
    if (len < 20) return false;
    const ihl = (buf[off] & 0x0f) * 4;
    if (buf[off + 9] !== TCP || buf.readUInt16BE(off + 2) !== len) return false;
    if ((buf.readUInt16BE(off + 6) & 0x1fff) !== 0 || ihl < 20 || len - ihl < TCP_MIN_HEADER) return false;
    return clampSegment(buf, off + ihl, len - ihl, maxMss);
  }
  if (len < 40 + TCP_MIN_HEADER || buf[off + 6] !== TCP || buf.readUInt16BE(off + 4) + 40 !== len)
    return false;
  return clampSegment(buf, off + 40, len - 40, maxMss - 20);
}

function clampSegment(buf: Buffer, tcp: number, segLen: number, maxMss: number): boolean {
  if ((buf[tcp + 13] & TCP_SYN) === 0 || maxMss <= 0) return false;
  const hlen = (buf[tcp + 12] >> 4) * 4;
  if (hlen <= TCP_MIN_HEADER || hlen > segLen) return false;
  const end = tcp + hlen;
  let changed = false;
  for (let o = tcp + TCP_MIN_HEADER; o < end; ) {
    const kind = buf[o];
    if (kind === OPT_END) break;
    if (kind === OPT_NOP) {
      o++;
      continue;
    }
    if (o + 1 >= end) break;
    const optLen = buf[o + 1];
    if (optLen < 2 || o + optLen > end) break;
    if (kind === OPT_MSS && optLen === 4) {
      const mss = buf.readUInt16BE(o + 2);
      if (mss > maxMss) {
        buf.writeUInt16BE(maxMss, o + 2);
        adjustChecksum(buf, tcp + 16, mss, maxMss);
        changed = true;
      }
    }
    o += optLen;
  }
  return changed;
}

/** RFC 1624 eqn. 3: HC' = ~(~HC + ~m + m'), for one 16-bit word changed from `from` to `to`. */
function adjustChecksum(buf: Buffer, at: number, from: number, to: number): void {
  let sum = (~buf.readUInt16BE(at) & 0xffff) + (~from & 0xffff) + to;
  sum = (sum & 0xffff) + (sum >>> 16);
  sum = (sum & 0xffff) + (sum >>> 16);
  buf.writeUInt16BE(~sum & 0xffff, at);
}
