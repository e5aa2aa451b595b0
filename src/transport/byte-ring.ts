/**
 * A fixed-size byte ring in pinned memory: the bounded send queue of a TCP stream. Appending copies in;
 * the writer drains it with at most two contiguous segments per system call. Never grows: a full ring
 * refuses what does not fit, which is how a slow TCP peer is kept from growing memory without bound.
 */
import { allocPinned, type PinnedBuffer } from '../sys/address.js';

export class ByteRing {
  readonly mem: PinnedBuffer;
  readonly capacity: number;
  private head = 0;
  private used = 0;

  constructor(capacity: number) {
    this.capacity = capacity;
    this.mem = allocPinned(capacity);
  }

  get length(): number {
    return this.used;
  }

  get free(): number {
    return this.capacity - this.used;
  }

  /** Copies `src[start, end)` in; returns false (and copies nothing) if it does not fit. */
  push(src: Buffer, start: number, end: number): boolean {
    const n = end - start;
    if (n > this.free) return false;
    const tail = (this.head + this.used) % this.capacity;
    const first = Math.min(n, this.capacity - tail);
    src.copy(this.mem.buf, tail, start, start + first);
    if (first < n) src.copy(this.mem.buf, 0, start + first, end);
    this.used += n;
    return true;
  }

  /** The first contiguous segment of queued bytes: [offset, length] inside `mem`. */
  firstSegment(): [number, number] {
    return [this.head, Math.min(this.used, this.capacity - this.head)];
  }

  /** The second segment (after wrap-around), possibly empty. */
  secondSegment(): [number, number] {
    const first = Math.min(this.used, this.capacity - this.head);
    return [0, this.used - first];
  }

  /** Drops `n` bytes from the front (they were written). */
  consume(n: number): void {
    this.head = (this.head + n) % this.capacity;
    this.used -= n;
    if (this.used === 0) this.head = 0;
  }

  clear(): void {
    this.head = 0;
    this.used = 0;
  }
}
