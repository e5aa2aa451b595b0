/**
 * `struct virtio_net_hdr` (include/uapi/linux/virtio_net.h): the 10 bytes in front of every packet read
 * from or written to a TUN opened with IFF_VNET_HDR (and TUNSETVNETHDRSZ 10). All fields are
 * little-endian on the little-endian hosts we run on (the TUN's default "native" endianness).
 *
 * ```
 *  0 flags (u8)   1 gso_type (u8)   2 hdr_len (u16)   4 gso_size (u16)   6 csum_start (u16)   8 csum_offset (u16)
 * ```
 *
 * - `flags & NEEDS_CSUM`: the L4 checksum is partial (CHECKSUM_PARTIAL): the checksum field at
 *   `csum_start + csum_offset` holds the pseudo-header sum; the sum of `[csum_start, end)` completes it.
 * - `gso_type` != NONE: a super-packet to be cut into `gso_size`-byte payloads (TCP MSS or UDP payload),
 *   each behind a copy of the first `hdr_len` bytes of headers.
 */

/** Size of the header with TUNSETVNETHDRSZ 10 (no `num_buffers`). */
export const VIRTIO_NET_HDR_LEN = 10;

export const VIRTIO_NET_HDR_F_NEEDS_CSUM = 1;
export const VIRTIO_NET_HDR_F_DATA_VALID = 2;

export const VIRTIO_NET_HDR_GSO_NONE = 0;
export const VIRTIO_NET_HDR_GSO_TCPV4 = 1;
/** UFO (IP fragmentation of UDP): never offered by us, so never received. */
export const VIRTIO_NET_HDR_GSO_UDP = 3;
export const VIRTIO_NET_HDR_GSO_TCPV6 = 4;
/** USO: UDP segmentation, one UDP header per segment (Linux 6.2). */
export const VIRTIO_NET_HDR_GSO_UDP_L4 = 5;
/** Flag bit in gso_type: the TCP super-packet carries ECN CWR (only with TUN_F_TSO_ECN, not offered). */
export const VIRTIO_NET_HDR_GSO_ECN = 0x80;

/** A decoded header. Reused by its owner: decode into an existing instance, no allocation. */
export class VirtioNetHdr {
  flags = 0;
  gsoType = 0;
  hdrLen = 0;
  gsoSize = 0;
  csumStart = 0;
  csumOffset = 0;

  /** Reads the 10 bytes at `buf[off]` into this object and returns it. */
  decode(buf: Buffer, off: number): this {
    this.flags = buf[off];
    this.gsoType = buf[off + 1];
    this.hdrLen = buf[off + 2] | (buf[off + 3] << 8);
    this.gsoSize = buf[off + 4] | (buf[off + 5] << 8);
    this.csumStart = buf[off + 6] | (buf[off + 7] << 8);
    this.csumOffset = buf[off + 8] | (buf[off + 9] << 8);
    return this;
  }

  /** Writes this header at `buf[off]`. */
  encode(buf: Buffer, off: number): void {
    writeVirtioNetHdr(
      buf,
      off,
      this.flags,
      this.gsoType,
      this.hdrLen,
      this.gsoSize,
      this.csumStart,
      this.csumOffset,
    );
  }

  /** Resets every field to 0 (a plain packet with a complete checksum). */
  clear(): this {
    this.flags = 0;
    this.gsoType = 0;
    this.hdrLen = 0;
    this.gsoSize = 0;
    this.csumStart = 0;
    this.csumOffset = 0;
    return this;
  }
}

/** Writes a virtio_net_hdr at `buf[off]` from its fields. */
export function writeVirtioNetHdr(
  buf: Buffer,
  off: number,
  flags: number,
  gsoType: number,
  hdrLen: number,
  gsoSize: number,
  csumStart: number,
  csumOffset: number,
): void {
  buf[off] = flags;
  buf[off + 1] = gsoType;
  buf[off + 2] = hdrLen & 0xff;
  buf[off + 3] = hdrLen >>> 8;
  buf[off + 4] = gsoSize & 0xff;
  buf[off + 5] = gsoSize >>> 8;
  buf[off + 6] = csumStart & 0xff;
  buf[off + 7] = csumStart >>> 8;
  buf[off + 8] = csumOffset & 0xff;
  buf[off + 9] = csumOffset >>> 8;
}

/** Writes an all-zero header (GSO_NONE, checksum complete) at `buf[off]`. */
export function writeZeroVirtioNetHdr(buf: Buffer, off: number): void {
  for (let i = 0; i < VIRTIO_NET_HDR_LEN; i++) buf[off + i] = 0;
}
