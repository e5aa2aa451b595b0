/**
 * Native addresses of Buffers, for passing packet memory to C without creating a view per call.
 *
 * The data path keeps a Buffer's base address once (a plain number: user-space addresses on x86-64 and
 * arm64 fit in 48 bits) and passes `base + offset` to koffi functions declared with `intptr_t`
 * arguments. Only Buffers whose memory never moves may be used this way: those from
 * `Buffer.allocUnsafeSlow`/`Buffer.alloc` of at least a few KB, never small on-heap typed arrays.
 */
import koffi from 'koffi';

/** Address of `buf[0]` as a number. The caller keeps `buf` alive while the address is used. */
export function bufferAddress(buf: Buffer): number {
  return Number(koffi.address(buf));
}

/**
 * Writes a native address (below 2^53) as a little-endian u64 at 32-bit word `w` of `u`: how the
 * iovec, msghdr and mmsghdr structs we fill for the kernel take their pointers and lengths.
 */
export function putPtr(u: Uint32Array, w: number, addr: number): void {
  u[w] = addr >>> 0;
  u[w + 1] = (addr / 4294967296) >>> 0;
}

/** A Buffer whose memory is outside the V8 heap (never moved by the GC), with its address. */
export interface PinnedBuffer {
  readonly buf: Buffer;
  readonly addr: number;
}

/** Allocates `size` bytes of non-moving, zero-filled memory. */
export function allocPinned(size: number): PinnedBuffer {
  const buf = Buffer.allocUnsafeSlow(size);
  buf.fill(0);
  return { buf, addr: bufferAddress(buf) };
}
