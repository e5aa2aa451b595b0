/**
 * The TCP transport of one peer (spec ovpn-kernel §5.4): an established stream the control plane
 * connected or accepted and handed over. Every packet on it is preceded by its 2-byte length.
 *
 * Receive: non-blocking reads into a pinned buffer, split by the TcpDeframer; each complete frame goes
 * to the owner's handler, and at the end of each read the owner flushes what it staged (one TUN write
 * batch). A framing error, the remote closing, or a read error ends the stream and is reported once.
 *
 * Send: whole frames only, never interleaved. Frames of a batch go out in one writev straight from the
 * batch slots (the 2-byte length is written into each slot's headroom). What the kernel does not take
 * is copied into a bounded ring and sent when the socket is writable again; while the ring holds
 * anything, new frames are appended behind it (order), and frames that do not fit are refused, so a
 * slow peer costs at most the ring's size and never blocks other peers.
 */
import type { PacketBatch } from '../batch/packet-batch.js';
import { OvpnError } from '../errors/ovpn-error.js';
import { Endpoint } from '../net/endpoint.js';
import { allocPinned, type PinnedBuffer, putPtr } from '../sys/address.js';
import { sysError } from '../sys/errno.js';
import {
  close as closeFd,
  EAGAIN,
  EINTR,
  errno,
  getpeername,
  getsockoptInt,
  IPPROTO_TCP,
  read,
  SO_PROTOCOL,
  SO_TYPE,
  SOCK_STREAM,
  SOL_SOCKET,
  setNonBlocking,
  strerror,
  writev,
} from '../sys/libc.js';
import { type FdWatcher, watchFd } from '../sys/poll.js';
import { FrameError, TCP_LENGTH_SIZE, TcpDeframer, writeFrameLength } from '../wire/tcp-frame.js';
import { ByteRing } from './byte-ring.js';
import type { StreamCloseReason, StreamHandlers, StreamTransport } from './transport.js';
import { boundPort } from './udp-socket.js';

/** Bytes a peer's send queue may hold before frames are refused. */
export const TCP_SEND_QUEUE_BYTES = 1 << 20;
const RX_BUFFER = 256 * 1024;
const MAX_READS_PER_TURN = 16;
const IOV_SIZE = 16;

export class TcpTransport implements StreamTransport {
  /** Owned fd (a dup of the control plane's); -1 once closed. */
  private sock: number;
  readonly remote: Endpoint;
  readonly localPort: number;
  private readonly rx: PinnedBuffer;
  private readonly deframer: TcpDeframer;
  private readonly ring = new ByteRing(TCP_SEND_QUEUE_BYTES);
  private readonly iov: PinnedBuffer;
  /** The iovec array as 32-bit words: entry k is words 4k..4k+3 (base, then length). */
  private readonly iov32: Uint32Array;
  private watcher: FdWatcher | undefined;
  private handlers: StreamHandlers | undefined;
  private ended = false;
  /** Frames refused because the send queue was full. */
  refused = 0;

  private constructor(fd: number, remote: Endpoint, localPort: number) {
    this.sock = fd;
    this.remote = remote;
    this.localPort = localPort;
    this.rx = allocPinned(RX_BUFFER);
    this.iov = allocPinned(IOV_SIZE * 1040);
    this.iov32 = new Uint32Array(this.iov.buf.buffer, this.iov.buf.byteOffset, this.iov.buf.length >>> 2);
    this.deframer = new TcpDeframer((buf, start, end) => this.handlers?.frame(buf, start, end));
  }

  /**
   * Takes ownership of `fd`, an established TCP socket (the caller passes its own dup). Throws
   * ENOTSOCK if it is not a TCP socket, EINVAL if it is not connected.
   */
  static attach(fd: number): TcpTransport {
    if (
      getsockoptInt(fd, SOL_SOCKET, SO_TYPE) !== SOCK_STREAM ||
      getsockoptInt(fd, SOL_SOCKET, SO_PROTOCOL) !== IPPROTO_TCP
    ) {
      throw new OvpnError('ENOTSOCK', 'not a TCP socket', 'socket');
    }
    const name = Buffer.alloc(128);
    const len = Buffer.alloc(4);
    len.writeUInt32LE(128, 0);
    if (getpeername(fd, name, len) !== 0)
      throw new OvpnError('EINVAL', 'the TCP socket is not connected', 'socket');
    const remote = Endpoint.fromSockaddr(name, 0);
    if (remote === undefined) throw new OvpnError('ENOTSOCK', 'not an IP socket', 'socket');
    const port = boundPort(fd);
    if (!setNonBlocking(fd)) throw sysError('cannot make the socket non-blocking', errno(), 'socket');
    return new TcpTransport(fd, remote, port);
  }

  get fd(): number {
    return this.sock;
  }

  get closed(): boolean {
    return this.sock < 0;
  }

  /** Bytes waiting in the send queue. */
  get queuedBytes(): number {
    return this.ring.length;
  }

  /** Starts reading; `handlers` receive frames and the end of the stream. */
  start(handlers: StreamHandlers): void {
    this.handlers = handlers;
    this.watcher = watchFd(this.sock, { readable: true, writable: false }, (ev) => {
      if (ev.writable) this.drainQueue();
      if (ev.readable || ev.disconnect) this.readSome();
    });
  }

  /** Stops the stream after a protocol error found by the owner (e.g. DATA_V1): no more frames. */
  abort(): void {
    this.deframer.abort();
  }

  private readSome(): void {
    for (let i = 0; i < MAX_READS_PER_TURN && !this.ended; i++) {
      const n = read(this.sock, this.rx.addr, RX_BUFFER);
      if (n < 0) {
        const e = errno();
        if (e === EAGAIN || e === EINTR) break;
        this.end('error', strerror(e));
        return;
      }
      if (n === 0) {
        this.end('eof', 'the remote closed the connection');
        return;
      }
      const err = this.deframer.push(this.rx.buf.subarray(0, n));
      this.handlers?.flush();
      if (err !== FrameError.NONE) {
        this.end(
          'framing',
          err === FrameError.BAD_LENGTH
            ? 'length below 2'
            : err === FrameError.SHORT_PACKET
              ? 'packet under 4 bytes'
              : 'stream error',
        );
        return;
      }
      if (n < RX_BUFFER) break;
    }
  }

  private end(why: StreamCloseReason, detail: string): void {
    if (this.ended) return;
    this.ended = true;
    this.watcher?.update({ readable: false, writable: false });
    this.handlers?.closed(why, detail);
  }

  /**
   * Sends the frames of `slots[from..from+n)` (packets at batch.offs/lens, with at least 2 bytes of
   * headroom before each). Returns how many were accepted (written or queued); the rest were refused
   * because the queue is full or the stream is over.
   */
  sendFrames(batch: PacketBatch, slots: Uint16Array, from: number, n: number): number {
    if (this.ended || this.sock < 0) return 0;
    const buf = batch.mem.buf;
    if (this.ring.length > 0) {
      let k = 0;
      for (; k < n; k++) {
        const s = slots[from + k];
        const off = batch.offs[s] - TCP_LENGTH_SIZE;
        writeFrameLength(buf, off, batch.lens[s]);
        if (!this.ring.push(buf, off, off + batch.lens[s] + TCP_LENGTH_SIZE)) break;
      }
      this.refused += n - k;
      this.drainQueue();
      return k;
    }
    const iov = this.iov32;
    const base = batch.mem.addr;
    let total = 0;
    const m = Math.min(n, 1024);
    for (let k = 0; k < m; k++) {
      const s = slots[from + k];
      const off = batch.offs[s] - TCP_LENGTH_SIZE;
      const len = batch.lens[s] + TCP_LENGTH_SIZE;
      writeFrameLength(buf, off, batch.lens[s]);
      putPtr(iov, 4 * k, base + off);
      putPtr(iov, 4 * k + 2, len);
      total += len;
    }
    let w = writev(this.sock, this.iov.addr, m);
    if (w < 0) {
      const e = errno();
      if (e !== EAGAIN && e !== EINTR) {
        this.end('error', strerror(e));
        return 0;
      }
      w = 0;
    }
    if (w === total) return m;
    // Queue what the kernel did not take, starting inside the frame where it stopped. The queue is
    // empty here and holds more than one frame, so the frame cut short always fits: the stream stays
    // whole. Whole frames after it that no longer fit are refused, and so is everything after them
    // (what is accepted is a prefix, so that the caller counts exactly what went out).
    let skip = w;
    let accepted = m;
    for (let k = 0; k < m; k++) {
      const s = slots[from + k];
      const off = batch.offs[s] - TCP_LENGTH_SIZE;
      const len = batch.lens[s] + TCP_LENGTH_SIZE;
      if (skip >= len) {
        skip -= len;
        continue;
      }
      if (!this.ring.push(buf, off + skip, off + len)) {
        accepted = k;
        break;
      }
      skip = 0;
    }
    this.refused += n - accepted;
    this.watcher?.update({ readable: !this.ended, writable: true });
    return accepted;
  }

  /**
   * Sends one whole framed packet (2-byte length included) from the control plane, in order with the
   * data frames. Returns false if it cannot be queued (queue full, stream over, or not a whole frame).
   */
  sendControl(frame: Buffer): boolean {
    if (this.ended || this.sock < 0) return false;
    if (frame.length < TCP_LENGTH_SIZE || frame.readUInt16BE(0) !== frame.length - TCP_LENGTH_SIZE)
      return false;
    if (!this.ring.push(frame, 0, frame.length)) return false;
    this.drainQueue();
    return true;
  }

  /** Writes queued bytes until the ring is empty or the socket is full. */
  private drainQueue(): void {
    while (this.ring.length > 0 && this.sock >= 0) {
      const [o1, l1] = this.ring.firstSegment();
      const [o2, l2] = this.ring.secondSegment();
      const iov = this.iov32;
      putPtr(iov, 0, this.ring.mem.addr + o1);
      putPtr(iov, 2, l1);
      putPtr(iov, 4, this.ring.mem.addr + o2);
      putPtr(iov, 6, l2);
      const w = writev(this.sock, this.iov.addr, l2 > 0 ? 2 : 1);
      if (w < 0) {
        const e = errno();
        if (e === EAGAIN || e === EINTR) break;
        this.ring.clear();
        this.end('error', strerror(e));
        return;
      }
      this.ring.consume(w);
    }
    this.watcher?.update({ readable: !this.ended, writable: this.ring.length > 0 });
  }

  /** Stops watching and closes our fd (the control plane's own fd, and so the connection, stay). */
  close(): void {
    if (this.sock < 0) return;
    this.ended = true;
    this.watcher?.close();
    this.watcher = undefined;
    closeFd(this.sock);
    this.sock = -1;
    this.ring.clear();
  }
}
