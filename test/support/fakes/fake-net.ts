/**
 * An in-memory network for the data path (in the spirit of wireguard-go's bindtest): datagram
 * transports bound to addresses and a port, and connected stream pairs. What a transport sends is
 * recorded in `sent` and queued; `deliver()` moves everything queued to its destination, as the
 * kernel and the event loop would between two turns: datagrams land in the receiver's queue (with
 * their source endpoint and the local address they were sent to) and its readable callback fires once
 * per delivery round, so that many datagrams arrive in one batch; stream bytes are de-framed on the
 * far side (TcpDeframer) and handed to its handlers, one read at a time. Delivery is never done inside
 * a send (a real transport never calls back from a send either); tests call `deliver()`, or
 * `settle()` on their device helpers.
 *
 * Knobs: a transport may refuse sends (txStatus 0 / accepted prefix shorter), the network may lose
 * datagrams (`lose`), a stream has a bounded send queue, and its remote can close it or fail it.
 */
import type { PacketBatch } from '../../../src/batch/packet-batch.js';
import { Endpoint, type LocalAddress } from '../../../src/net/endpoint.js';
import { parseIPv4, parseIPv6 } from '../../../src/net/ip-address.js';
import type {
  DatagramTransport,
  StreamCloseReason,
  StreamHandlers,
  StreamTransport,
} from '../../../src/transport/transport.js';
import { FrameError, TCP_LENGTH_SIZE, TcpDeframer } from '../../../src/wire/tcp-frame.js';

/** One datagram on the wire. */
export interface Datagram {
  readonly data: Buffer;
  readonly from: Endpoint;
  readonly to: Endpoint;
  /** True if the network lost it (recorded in `sent`, never delivered). */
  lost?: boolean;
}

/** One frame sent on a stream (length prefix included), and whether it came from the data path. */
export interface StreamSend {
  readonly frame: Buffer;
  readonly kind: 'data' | 'control';
}

/** The end of a stream, in order with its bytes. */
interface StreamEnd {
  end: StreamCloseReason;
  detail: string;
}

type Pending = { kind: 'dgram'; d: Datagram } | { kind: 'stream'; s: FakeStreamTransport };

function addrBytes(text: string): Buffer {
  return text.includes(':') ? parseIPv6(text) : parseIPv4(text);
}

function localOf(ep: Endpoint): LocalAddress {
  return { family: ep.family, addr: Buffer.from(ep.addr) };
}

export class FakeNetwork {
  /** Every datagram any transport handed to the network, in order (control and data). */
  readonly sent: Datagram[] = [];
  /** Lose datagrams the predicate picks (the sender still sees them as sent). */
  lose: ((d: Datagram) => boolean) | undefined;
  private readonly queue: Pending[] = [];
  private readonly binds = new Map<string, FakeDatagramTransport>();
  private delivering = false;

  /** A datagram transport bound to `addrs` (the first is the default source) on `port`. */
  udp(addrs: string | readonly string[], port: number): FakeDatagramTransport {
    const list = (typeof addrs === 'string' ? [addrs] : addrs).map((a) => Endpoint.parse(a, port));
    const t = new FakeDatagramTransport(this, list, port);
    for (const ep of list) {
      if (this.binds.has(ep.key)) throw new Error(`${ep.key} is already bound`);
      this.binds.set(ep.key, t);
    }
    return t;
  }

  /** A connected stream: `a` at `aAddr:aPort`, `b` at `bAddr:bPort`, each the other's remote. */
  tcpPair(
    aAddr: string,
    aPort: number,
    bAddr: string,
    bPort: number,
    queueBytes = 1 << 20,
  ): [FakeStreamTransport, FakeStreamTransport] {
    const a = new FakeStreamTransport(this, aPort, Endpoint.parse(bAddr, bPort), queueBytes);
    const b = new FakeStreamTransport(this, bPort, Endpoint.parse(aAddr, aPort), queueBytes);
    a.other = b;
    b.other = a;
    return [a, b];
  }

  /** Datagrams and stream writes waiting for `deliver`. */
  get pending(): number {
    return this.queue.length;
  }

  /** Takes the queued datagrams out of the network (to inspect, alter and re-inject them). */
  takeDatagrams(): Datagram[] {
    const out: Datagram[] = [];
    for (let i = 0; i < this.queue.length; ) {
      const p = this.queue[i];
      if (p.kind === 'dgram') {
        out.push(p.d);
        this.queue.splice(i, 1);
      } else i++;
    }
    return out;
  }

  /**
   * Delivers everything queued, including what receivers send while it runs, until nothing is left.
   * Returns how many items were delivered. Not re-entrant: a call from inside a delivery returns 0
   * (the outer call delivers what was queued).
   */
  deliver(): number {
    if (this.delivering) return 0;
    this.delivering = true;
    let n = 0;
    try {
      while (this.queue.length > 0) {
        const round = this.queue.splice(0);
        const touched = new Set<FakeDatagramTransport>();
        for (const p of round) {
          n++;
          if (p.kind === 'stream') {
            p.s.transmit();
            continue;
          }
          const t = this.binds.get(p.d.to.key);
          if (t === undefined || t.closed) continue;
          t.enqueue(p.d.data, p.d.from, localOf(p.d.to));
          touched.add(t);
        }
        for (const t of touched) t.poll();
      }
    } finally {
      this.delivering = false;
    }
    return n;
  }

  /** @internal */
  send(d: Datagram): void {
    this.sent.push(d);
    if (this.lose?.(d)) {
      d.lost = true;
      return;
    }
    this.queue.push({ kind: 'dgram', d });
  }

  /** @internal */
  streamReady(s: FakeStreamTransport): void {
    this.queue.push({ kind: 'stream', s });
  }

  /** @internal */
  unbind(t: FakeDatagramTransport): void {
    for (const [k, v] of this.binds) if (v === t) this.binds.delete(k);
  }
}

interface RxEntry {
  data: Buffer;
  from: Endpoint;
  to: LocalAddress | undefined;
}

export class FakeDatagramTransport implements DatagramTransport {
  closed = false;
  readonly localPort: number;
  readonly txStatus = new Uint8Array(1024);
  onStaleSource: ((src: LocalAddress) => void) | undefined;
  /** Refuse every send (true) or those the predicate picks: txStatus 0, nothing on the wire. */
  refuseSends: boolean | ((data: Buffer, dest: Endpoint) => boolean) = false;
  /** Datagrams this transport sent (copies), in order. */
  readonly sent: Datagram[] = [];
  /** Calls of sendBatch, and of sendOne. */
  batchSends = 0;
  oneSends = 0;
  /** Datagrams received and not read yet. */
  readonly rxq: RxEntry[] = [];
  private readable: (() => void) | undefined;
  private slotFrom: Endpoint[] = [];
  private slotTo: (LocalAddress | undefined)[] = [];

  constructor(
    private readonly net: FakeNetwork,
    readonly addrs: readonly Endpoint[],
    port: number,
  ) {
    this.localPort = port;
  }

  /** The endpoint this transport is reached at (its first address). */
  get endpoint(): Endpoint {
    return this.addrs[0];
  }

  /** Queues a datagram as if it arrived from `from`, sent to `to` (default: our first address). */
  enqueue(data: Buffer, from: Endpoint, to: LocalAddress | undefined = localOf(this.addrs[0])): void {
    this.rxq.push({ data: Buffer.from(data), from, to });
  }

  /** Fires the readable callback if datagrams are waiting. */
  poll(): void {
    if (this.rxq.length > 0 && !this.closed) this.readable?.();
  }

  /** Injects datagrams from `from` and fires the readable callback once. */
  inject(datas: readonly Buffer[], from: Endpoint, to?: LocalAddress): void {
    for (const d of datas) this.enqueue(d, from, to);
    this.poll();
  }

  recvBatch(batch: PacketBatch): number {
    if (this.closed) return -1;
    const n = Math.min(batch.size, this.rxq.length);
    for (let i = 0; i < n; i++) {
      const e = this.rxq.shift()!;
      const at = batch.dataStart(i);
      e.data.copy(batch.mem.buf, at);
      batch.offs[i] = at;
      batch.lens[i] = e.data.length;
      this.slotFrom[i] = e.from;
      this.slotTo[i] = e.to;
    }
    batch.count = n;
    return n;
  }

  sourceMatches(slot: number, ep: Endpoint): boolean {
    const f = this.slotFrom[slot];
    return f.port === ep.port && f.family === ep.family && f.addr.equals(ep.addr);
  }

  sourceHash(slot: number): number {
    return this.slotFrom[slot].hash;
  }

  source(slot: number): Endpoint | undefined {
    return this.slotFrom[slot];
  }

  localMatches(slot: number, lo: LocalAddress | undefined): boolean {
    const to = this.slotTo[slot];
    if (to === undefined) return true;
    return lo !== undefined && lo.family === to.family && lo.addr.equals(to.addr);
  }

  local(slot: number): LocalAddress | undefined {
    const to = this.slotTo[slot];
    return to === undefined ? undefined : { family: to.family, addr: Buffer.from(to.addr) };
  }

  sendBatch(
    batch: PacketBatch,
    slots: Uint16Array,
    dests: readonly (Endpoint | undefined)[],
    srcs: readonly (LocalAddress | undefined)[],
    from: number,
    n: number,
  ): number {
    this.batchSends++;
    let sent = 0;
    for (let k = from; k < from + n; k++) {
      const s = slots[k];
      const data = batch.mem.buf.subarray(batch.offs[s], batch.offs[s] + batch.lens[s]);
      const dest = dests[k];
      const ok = dest !== undefined && this.transmit(data, dest, srcs[k]);
      this.txStatus[k] = ok ? 1 : 0;
      if (ok) sent++;
    }
    return sent;
  }

  sendOne(buf: Buffer, off: number, len: number, dest: Endpoint, src?: LocalAddress): boolean {
    this.oneSends++;
    return this.transmit(buf.subarray(off, off + len), dest, src);
  }

  canReach(dest: Endpoint): boolean {
    return this.addrs.some((a) => a.family === dest.family);
  }

  onReadable(cb: () => void): void {
    this.readable = cb;
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.net.unbind(this);
  }

  private transmit(data: Buffer, dest: Endpoint, src: LocalAddress | undefined): boolean {
    const r = this.refuseSends;
    if (this.closed || r === true || (typeof r === 'function' && r(data, dest))) return false;
    let fromAddr = this.addrs.find((a) => a.family === dest.family);
    if (fromAddr === undefined) return false;
    if (src !== undefined) {
      const bound = this.addrs.find((a) => a.family === src.family && a.addr.equals(src.addr));
      if (bound === undefined) this.onStaleSource?.(src);
      else fromAddr = bound;
    }
    const d: Datagram = {
      data: Buffer.from(data),
      from: Endpoint.fromBytes(fromAddr.addr, this.localPort),
      to: dest,
    };
    this.sent.push(d);
    this.net.send(d);
    return true;
  }
}

/**
 * One end of a connected stream. Sends are framed copies queued in a bounded send queue (bytes not
 * yet "read" by the other end); `sendFrames` accepts a prefix of what it is given, as the real one.
 * The far end reads the bytes in chunks of `readChunk` (default: everything at once), de-frames
 * them, and flushes after each read.
 */
export class FakeStreamTransport implements StreamTransport {
  closed = false;
  readonly localPort: number;
  readonly remote: Endpoint;
  other: FakeStreamTransport | undefined;
  /** Every frame accepted for sending, in order (length prefix included). */
  readonly sentFrames: StreamSend[] = [];
  /** Refuse every send (queue full, as far as the caller can tell). */
  refuseSends = false;
  /** Bytes per read on the receiving side (to split frames across reads); 0 = all at once. */
  readChunk = 0;
  /** How the stream ended for our handlers, once it did. */
  endReason: StreamCloseReason | undefined;
  aborted = false;
  private handlers: StreamHandlers | undefined;
  private readonly deframer: TcpDeframer;
  private readonly outq: (Buffer | StreamEnd)[] = [];
  private outBytes = 0;
  private readonly inq: (Buffer | StreamEnd)[] = [];
  private ready = false;

  constructor(
    private readonly net: FakeNetwork,
    port: number,
    remote: Endpoint,
    readonly queueBytes: number,
  ) {
    this.localPort = port;
    this.remote = remote;
    this.deframer = new TcpDeframer((buf, start, end) => this.handlers?.frame(buf, start, end));
  }

  /** Bytes sent and not yet delivered to the other end. */
  get queuedBytes(): number {
    return this.outBytes;
  }

  get started(): boolean {
    return this.handlers !== undefined;
  }

  start(handlers: StreamHandlers): void {
    this.handlers = handlers;
    this.readAll();
  }

  abort(): void {
    this.aborted = true;
    this.deframer.abort();
  }

  sendFrames(batch: PacketBatch, slots: Uint16Array, from: number, n: number): number {
    let k = 0;
    for (; k < n; k++) {
      const s = slots[from + k];
      const len = batch.lens[s];
      const off = batch.offs[s] - TCP_LENGTH_SIZE;
      batch.mem.buf.writeUInt16BE(len, off);
      if (!this.queue(batch.mem.buf.subarray(off, off + len + TCP_LENGTH_SIZE), 'data')) break;
    }
    return k;
  }

  sendControl(frame: Buffer): boolean {
    if (frame.length < TCP_LENGTH_SIZE || frame.readUInt16BE(0) !== frame.length - TCP_LENGTH_SIZE)
      return false;
    return this.queue(frame, 'control');
  }

  close(): void {
    this.closed = true;
  }

  // ---- the remote's side --------------------------------------------------------------------------

  /**
   * Bytes arrive as if the remote wrote them (raw: any framing), behind whatever the remote's
   * transport already sent; read on `deliver`.
   */
  receiveBytes(bytes: Buffer): void {
    this.fromRemote(Buffer.from(bytes));
  }

  /** The remote closes the connection: after what it sent so far, our read sees EOF. */
  remoteClose(): void {
    this.fromRemote({ end: 'eof', detail: 'the remote closed the connection' });
  }

  /** The connection fails (reset): after what the remote sent so far, our read fails. */
  remoteError(detail = 'connection reset'): void {
    this.fromRemote({ end: 'error', detail });
  }

  private fromRemote(item: Buffer | StreamEnd): void {
    const o = this.other;
    if (o !== undefined) {
      o.outq.push(item);
      o.markReady();
    } else {
      this.inq.push(item);
      this.markReady();
    }
  }

  /** @internal Moves our queued bytes to the other end and lets it read them. */
  transmit(): void {
    const o = this.other;
    this.ready = false;
    if (this.outq.length > 0 && o !== undefined && !o.closed) {
      // what was written since the last delivery arrives as one read's worth of bytes
      let run: Buffer[] = [];
      for (const item of this.outq.splice(0)) {
        if (Buffer.isBuffer(item)) {
          run.push(item);
          continue;
        }
        if (run.length > 0) o.inq.push(Buffer.concat(run));
        run = [];
        o.inq.push(item);
      }
      if (run.length > 0) o.inq.push(Buffer.concat(run));
      this.outBytes = 0;
      o.readAll();
    }
    this.readAll();
  }

  private markReady(): void {
    if (this.ready) return;
    this.ready = true;
    this.net.streamReady(this);
  }

  private queue(frame: Buffer, kind: 'data' | 'control'): boolean {
    if (this.closed || this.endReason !== undefined || this.refuseSends) return false;
    if (this.outBytes + frame.length > this.queueBytes) return false;
    const copy = Buffer.from(frame);
    this.outq.push(copy);
    this.outBytes += copy.length;
    this.sentFrames.push({ frame: copy, kind });
    this.markReady();
    return true;
  }

  private readAll(): void {
    const h = this.handlers;
    if (h === undefined || this.closed) return;
    while (this.inq.length > 0 && this.endReason === undefined) {
      const item = this.inq.shift()!;
      if (!Buffer.isBuffer(item)) {
        this.end(item.end, item.detail);
        return;
      }
      let chunk = item;
      if (this.readChunk > 0 && chunk.length > this.readChunk) {
        this.inq.unshift(chunk.subarray(this.readChunk));
        chunk = chunk.subarray(0, this.readChunk);
      }
      const err = this.deframer.push(chunk);
      h.flush();
      if (err !== FrameError.NONE) {
        this.end('framing', `framing error ${err}`);
        return;
      }
    }
  }

  private end(why: StreamCloseReason, detail: string): void {
    if (this.endReason !== undefined) return;
    this.endReason = why;
    this.handlers?.closed(why, detail);
  }
}

export { addrBytes };
