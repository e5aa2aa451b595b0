/** Builders for test packets: pinned buffers with room for the DATA_V2 header. */
import { allocPinned, type PinnedBuffer } from '../../src/sys/address.js';
import { DATA_V2_OVERHEAD } from '../../src/wire/data-v2.js';

/** A pinned buffer holding `plaintext` at offset `off + 24`, ready to be sealed at `off`. */
export function plaintextAt(plaintext: Buffer, off = 0, size = 65536): PinnedBuffer {
  const p = allocPinned(Math.max(size, off + DATA_V2_OVERHEAD + plaintext.length));
  plaintext.copy(p.buf, off + DATA_V2_OVERHEAD);
  return p;
}

/** A pinned buffer holding a copy of `wire` at `off`. */
export function wireAt(wire: Buffer, off = 0, size = 65536): PinnedBuffer {
  const p = allocPinned(Math.max(size, off + wire.length));
  wire.copy(p.buf, off);
  return p;
}

/** A minimal IPv4 header + payload of `len` bytes in total (enough for version sniffing). */
export function ipv4Packet(len: number, fill = 0xab): Buffer {
  const b = Buffer.alloc(len, fill);
  b[0] = 0x45;
  b.writeUInt16BE(len, 2);
  return b;
}
