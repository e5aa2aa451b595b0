/**
 * TCP framing (spec ovpn-kernel §5.4, openvpn-protocol §9): every OpenVPN packet on a stream is
 * preceded by its length as a 2-byte big-endian number (the 2 bytes themselves not counted).
 *
 * ```
 *   +--------+--------+------------------------------+--------+--------+----
 *   | len (u16, BE)   | packet (len bytes)           | len             | ...
 *   +--------+--------+------------------------------+--------+--------+----
 * ```
 *
 * Errors are fatal for the stream, as they are for the kernel's stream parser: a length below 2 is a
 * parse error, and a packet shorter than the 4-byte op word cannot be classified. After an error the
 * de-framer refuses all further input; the owner removes the peer with reason transport-error.
 */
import { OPCODE_WORD_SIZE } from './opcode.js';

export const TCP_LENGTH_SIZE = 2;
/** Largest packet a 2-byte length can describe. */
export const TCP_MAX_PACKET = 0xffff;

export const FrameError = {
  NONE: 0,
  /** Length prefix below 2: the kernel's parser rejects it outright. */
  BAD_LENGTH: 1,
  /** Length 2 or 3: too short to hold the op word. */
  SHORT_PACKET: 2,
  /** The consumer stopped the stream (for example on DATA_V1). */
  ABORTED: 3,
} as const;
export type FrameError = (typeof FrameError)[keyof typeof FrameError];

/**
 * Called once per complete packet with `buf[start, end)`. The 2-byte prefix is always at
 * `buf[start - 2, start)`, so a consumer can pass the framed packet on unchanged. The bytes are only
 * valid during the call: copy what must outlive it.
 */
export type FrameHandler = (buf: Buffer, start: number, end: number) => void;

/** Writes the 2-byte length prefix for a packet of `len` bytes at `buf[off]`. */
export function writeFrameLength(buf: Buffer, off: number, len: number): void {
  buf.writeUInt16BE(len, off);
}

/**
 * Splits a TCP byte stream into packets. Copes with packets split across reads at any byte and with
 * many packets in one read: complete packets inside a chunk are handed over in place (no copy); only a
 * packet that straddles reads is gathered in a buffer owned by the de-framer (at most 65537 bytes).
 */
export class TcpDeframer {
  private readonly hold = Buffer.allocUnsafe(TCP_LENGTH_SIZE + TCP_MAX_PACKET);
  private held = 0;
  private err: FrameError = FrameError.NONE;

  constructor(private readonly onFrame: FrameHandler) {}

  /** The error that stopped the stream, or `FrameError.NONE`. */
  get error(): FrameError {
    return this.err;
  }

  /** Bytes of an incomplete packet waiting for the next read. */
  get pending(): number {
    return this.held;
  }

  /** Stops the stream from inside a frame handler; `push` returns ABORTED. */
  abort(): void {
    if (this.err === FrameError.NONE) this.err = FrameError.ABORTED;
  }

  /**
   * Feeds one read. Returns `FrameError.NONE` when every byte was consumed (complete packets delivered,
   * a trailing partial one kept), or the error that stopped the stream.
   */
  push(chunk: Buffer): FrameError {
    if (this.err !== FrameError.NONE) return this.err;
    const end = chunk.length;
    let pos = 0;
    if (this.held > 0) {
      pos = this.finishHeld(chunk);
      if (pos < 0 || this.err !== FrameError.NONE) return this.err;
    }
    while (end - pos >= TCP_LENGTH_SIZE) {
      const len = chunk.readUInt16BE(pos);
      const bad = checkLength(len);
      if (bad !== FrameError.NONE) return this.fail(bad);
      if (end - pos - TCP_LENGTH_SIZE < len) break;
      const start = pos + TCP_LENGTH_SIZE;
      pos = start + len;
      this.onFrame(chunk, start, pos);
      if (this.err !== FrameError.NONE) return this.err;
    }
    if (pos < end) {
      chunk.copy(this.hold, 0, pos, end);
      this.held = end - pos;
    }
    return FrameError.NONE;
  }

  /** Completes the held partial packet from `chunk`; returns the position reached, or -1 if still short. */
  private finishHeld(chunk: Buffer): number {
    let pos = 0;
    if (this.held < TCP_LENGTH_SIZE) {
      if (chunk.length === 0) return -1;
      this.hold[1] = chunk[0];
      this.held = TCP_LENGTH_SIZE;
      pos = 1;
      const bad = checkLength(this.hold.readUInt16BE(0));
      if (bad !== FrameError.NONE) {
        this.fail(bad);
        return -1;
      }
    }
    const total = TCP_LENGTH_SIZE + this.hold.readUInt16BE(0);
    const take = Math.min(total - this.held, chunk.length - pos);
    chunk.copy(this.hold, this.held, pos, pos + take);
    this.held += take;
    pos += take;
    if (this.held < total) return -1;
    this.held = 0;
    this.onFrame(this.hold, TCP_LENGTH_SIZE, total);
    return pos;
  }

  private fail(e: FrameError): FrameError {
    this.err = e;
    this.held = 0;
    return e;
  }
}

function checkLength(len: number): FrameError {
  if (len < TCP_LENGTH_SIZE) return FrameError.BAD_LENGTH;
  if (len < OPCODE_WORD_SIZE) return FrameError.SHORT_PACKET;
  return FrameError.NONE;
}
