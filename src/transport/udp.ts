/**
 * The UDP transport of the data plane (spec ovpn-kernel §5.1-5.3): an attached, non-blocking UDP
 * socket read with recvmmsg and written with sendmmsg, straight from and into a PacketBatch slab.
 *
 * The socket belongs to the transport once attached (the caller hands over its own dup). Control
 * packets arrive here too (the kernel returns non-DATA_V2 datagrams to the socket's owner); the caller
 * sorts them by opcode and can answer with `sendOne`.
 *
 * Nothing is built per packet. This file is the orchestration; the parts live beside it:
 *   udp-arena.ts  the pinned mmsghdr/iovec/sockaddr/cmsg memory (with its layout diagram)
 *   udp-cmsg.ts   pktinfo, UDP_GRO and UDP_SEGMENT cmsgs read and written in that memory
 *   udp-gso.ts    sendBatch's sendmmsg entries: UDP GSO runs, refusals and fallbacks
 *   udp-gro.ts    recvBatch's slots: UDP GRO receives split back into datagrams (rx-spill.ts)
 */

import type { PacketBatch } from '../batch/packet-batch.js';
import { OvpnError } from '../errors/ovpn-error.js';
import { Endpoint, type LocalAddress, sockaddrHash } from '../net/endpoint.js';
import {
  close,
  EAGAIN,
  EBADF,
  EFAULT,
  EINTR,
  EINVAL,
  ENOBUFS,
  ENOTSOCK,
  errno,
  getsockoptInt,
  MSG_DONTWAIT,
  recvmmsg,
  SO_MARK,
  SOL_SOCKET,
  sendmsg,
} from '../sys/libc.js';
import { type FdWatcher, watchFd } from '../sys/poll.js';
import type { DatagramTransport } from './transport.js';
import { NAME_SIZE, ONE_COPY, RxArena, SOL_UDP, TxArena, UDP_GRO, W_CONTROLLEN } from './udp-arena.js';
import { badSource, type SourceAddress, writeSourceCmsg } from './udp-cmsg.js';
import { GRO_MAX_READS, GroReceiver } from './udp-gro.js';
import { GsoSender, gsoSupported } from './udp-gso.js';
import { boundPort, prepareUdpSocket } from './udp-socket.js';

/** Options of `UdpTransport.attach`. */
export interface UdpTransportOptions {
  /**
   * Send runs of equal-size datagrams to one destination as UDP GSO super-datagrams (UDP_SEGMENT).
   * Default true (off when the kernel lacks it).
   */
  gso?: boolean;
  /**
   * Receive with UDP GRO (UDP_GRO): the kernel hands over runs of datagrams of one flow as one
   * coalesced buffer, which recvBatch splits back into one datagram per slot. Only on while the
   * receive batch's slots hold GRO_MIN_SLOT bytes (a coalesced buffer would not fit a smaller one).
   * Default true.
   */
  gro?: boolean;
}

export class UdpTransport implements DatagramTransport {
  /** Address family of the socket: 4 (AF_INET) or 6 (AF_INET6). */
  readonly domain: 4 | 6;
  /** AF_INET6 socket with IPV6_V6ONLY set: it cannot reach IPv4 endpoints. */
  readonly v6Only: boolean;
  /** Most datagrams one recvBatch/sendmmsg call handles. */
  readonly batchSize: number;
  /** Source sockaddr of every received slot, NAME_SIZE bytes apart (see `nameOffset`). */
  readonly names: Buffer;
  /** Family of the destination address of every received slot: 0 unknown, 4 or 6. */
  readonly localFamily: Uint8Array;
  /** Destination address of every received slot, 16 bytes apart; IPv4 in the first 4 bytes. */
  readonly localAddr: Buffer;
  /** Interface index the datagram of every received slot arrived on (from pktinfo; 0 unknown). */
  readonly localIfindex: Uint32Array;

  /** Datagrams that did not fit their slot (delivered with length 0). */
  rxTruncated = 0;
  /** Datagrams not sent because this socket cannot reach the endpoint's family. */
  txUnreachable = 0;
  /** Datagrams the kernel refused one by one (EACCES, EPERM, EMSGSIZE, ENETUNREACH, ...). */
  txErrors = 0;
  /** Coalesced (UDP GRO) receives split back into datagrams. */
  rxGroSplits = 0;
  /** GSO sends (one per run of two or more datagrams sent as one super-datagram). */
  txGsoSends = 0;
  /** Runs whose GSO send the kernel refused (EIO, EMSGSIZE, EINVAL) and that went out one by one. */
  txGsoFallbacks = 0;
  /** The last errno seen by a send or receive call (0 if none). */
  lastErrno = 0;
  /**
   * Called when the kernel refuses a source address given to sendBatch/sendOne (it is no longer
   * configured on the host). The datagram was sent again with a source chosen by routing; the owner
   * should forget that local address, as the kernel clears a peer's stale local IP (spec §5.3).
   */
  onStaleSource: ((src: SourceAddress) => void) | undefined;

  private readonly rx: RxArena;
  private readonly tx: TxArena;
  /** Receive side: GRO state, splitting, the spill (counts into this transport's counters). */
  private readonly rxGro: GroReceiver;
  /** Send side: sendmmsg entries and GSO (counts into this transport's counters). */
  private readonly sender: GsoSender;
  private readableCb: (() => void) | undefined;
  private kickQueued = false;
  private sock: number;
  private status: Uint8Array;
  private rxBatch: PacketBatch | undefined;
  private watcher: FdWatcher | undefined;
  private port = 0;
  private lastMark = 0;

  private constructor(
    fd: number,
    domain: 4 | 6,
    v6Only: boolean,
    batchSize: number,
    gso: boolean,
    gro: boolean,
    groOn: boolean,
  ) {
    this.sock = fd;
    this.domain = domain;
    this.v6Only = v6Only;
    this.batchSize = batchSize;
    const B = batchSize;
    this.rx = new RxArena(B);
    this.names = this.rx.names;
    this.localAddr = this.rx.localAddr;
    this.localFamily = this.rx.localFamily;
    this.localIfindex = this.rx.localIfindex;
    this.rxGro = new GroReceiver(B, this.rx, this, gro, groOn);
    this.tx = new TxArena(B);
    this.sender = new GsoSender(B, this.tx, this, gso);
    this.status = new Uint8Array(B);
  }

  /**
   * Takes ownership of a UDP socket fd (pass your own dup). Makes it non-blocking, turns on pktinfo
   * reception, raises its buffers and probes UDP GSO (see `UdpTransportOptions`; UDP GRO is turned
   * on by the first recvBatch, once the batch's slot size is known). Throws ENOTSOCK for anything but a UDP socket; on any throw
   * the fd is left open and still belongs to the caller.
   */
  static attach(fd: number, batchSize: number, opts: UdpTransportOptions = {}): UdpTransport {
    if (!Number.isInteger(batchSize) || batchSize < 1 || batchSize > 1024)
      throw new OvpnError('EINVAL', `batch size must be 1..1024, not ${batchSize}`);
    const { domain, v6Only } = prepareUdpSocket(fd);
    const t = new UdpTransport(
      fd,
      domain,
      v6Only,
      batchSize,
      (opts.gso ?? true) && gsoSupported(fd),
      opts.gro ?? true,
      getsockoptInt(fd, SOL_UDP, UDP_GRO) === 1,
    );
    t.port = boundPort(fd);
    t.lastMark = getsockoptInt(fd, SOL_SOCKET, SO_MARK) ?? 0;
    return t;
  }

  /** The owned socket fd (-1 once closed). */
  get fd(): number {
    return this.sock;
  }

  /**
   * After sendBatch: txStatus[k] is 1 if datagram k was sent, 0 if not (skipped, refused or left over
   * when the socket filled up). Sent datagrams are not always a prefix: one refused in the middle is
   * skipped and the rest still go out. Grows (rarely) to the largest n seen.
   */
  get txStatus(): Uint8Array {
    return this.status;
  }

  /**
   * True while sendBatch sends runs of equal-size datagrams as GSO super-datagrams. Goes off for good
   * when the kernel answers a GSO send with EIO (no checksum offload on the route's device), as
   * wireguard-go does.
   */
  get gso(): boolean {
    return this.sender.on && this.sock >= 0;
  }

  /** True while the socket receives with UDP GRO (set by recvBatch from its batch's slot size). */
  get gro(): boolean {
    return this.rxGro.on && this.sock >= 0;
  }

  /** The socket's bound port (re-read while it is still unbound, i.e. 0). */
  get localPort(): number {
    if (this.port === 0 && this.sock >= 0) this.port = boundPort(this.sock);
    return this.port;
  }

  /** The socket's SO_MARK (read from the socket; the last value read once closed). */
  get mark(): number {
    if (this.sock >= 0)
      this.lastMark = (getsockoptInt(this.sock, SOL_SOCKET, SO_MARK) ?? this.lastMark) >>> 0;
    return this.lastMark;
  }

  get closed(): boolean {
    return this.sock < 0;
  }

  /** Offset in `names` of received slot i's source sockaddr. */
  nameOffset(i: number): number {
    return i * NAME_SIZE;
  }

  sourceMatches(slot: number, ep: Endpoint): boolean {
    return ep.matchesSockaddr(this.names, slot * NAME_SIZE);
  }

  sourceHash(slot: number): number {
    return sockaddrHash(this.names, slot * NAME_SIZE);
  }

  source(slot: number): Endpoint | undefined {
    const from = Endpoint.fromSockaddr(this.names, slot * NAME_SIZE);
    // a link-local IPv6 source is only meaningful with the interface it came in on
    if (from?.family === 6 && from.addr[0] === 0xfe && (from.addr[1] & 0xc0) === 0x80)
      return Endpoint.fromBytes(from.addr, from.port, this.localIfindex[slot]);
    return from;
  }

  localMatches(slot: number, lo: LocalAddress | undefined): boolean {
    const fam = this.localFamily[slot];
    if (fam === 0) return true;
    const off = slot * 16;
    return (
      lo !== undefined &&
      lo.family === fam &&
      lo.addr.compare(this.localAddr, off, off + (fam === 4 ? 4 : 16)) === 0
    );
  }

  local(slot: number): LocalAddress | undefined {
    const fam = this.localFamily[slot];
    if (fam === 0) return undefined;
    const off = slot * 16;
    return {
      family: fam === 4 ? 4 : 6,
      addr: Buffer.from(this.localAddr.subarray(off, off + (fam === 4 ? 4 : 16))),
    };
  }

  /** True if this socket can send to `dest` (its family is reachable from the socket's). */
  canReach(dest: Endpoint): boolean {
    return dest.family === 6 ? this.domain === 6 : !this.v6Only;
  }

  /**
   * Reads up to min(batch.size, batchSize) datagrams with recvmmsg into `batch` (slot i at
   * `batch.dataStart(i)`), setting offs/lens/count, `names` and the pktinfo arrays for each slot.
   * A datagram larger than its slot gets length 0 (and counts in `rxTruncated`).
   *
   * Under UDP GRO a received buffer may hold several datagrams: they are split into consecutive
   * slots (copied; each keeps the buffer's source and destination address), and those that do not
   * fit wait in the transport for the next call, which hands them out first. While receives come
   * coalesced, each recvmmsg asks for as many buffers as should fit (`GroReceiver.segs`) and a few more calls
   * may follow while slots remain; otherwise it is one recvmmsg for the whole batch, as without GRO.
   * Returns the count, 0 when nothing is queued, -1 if the socket is unusable (closed).
   */
  recvBatch(batch: PacketBatch): number {
    batch.count = 0;
    const g = this.rxGro;
    if (this.sock < 0) {
      g.spill.clear();
      return -1;
    }
    const S = Math.min(batch.size, this.batchSize);
    if (batch !== this.rxBatch) this.bindRxBatch(batch, S);
    let pos = g.spill.pending > 0 ? g.drain(batch, S) : 0;
    for (let round = 0; pos < S && g.spill.pending === 0 && round < GRO_MAX_READS; round++) {
      const room = S - pos;
      const vlen = g.segs > 1 ? Math.max(1, Math.floor(room / g.segs)) : room;
      const n = this.recvInto(pos, vlen);
      if (n <= 0) {
        if (n < 0 && pos === 0) return -1;
        break;
      }
      pos = g.take(batch, pos, n, S);
      if (n < vlen) break;
    }
    batch.count = pos;
    return pos;
  }

  /**
   * Sends `batch` slot slots[k] to dests[k] (from srcs[k] when set) for k in [from, from+n) with
   * sendmmsg, resuming after partial sends. A datagram the kernel refuses on its own (unreachable,
   * filtered, too big) is skipped and counted in `txErrors`; a full socket (EAGAIN/ENOBUFS) stops the
   * batch. Endpoints this socket cannot reach (IPv6 on AF_INET), and slots without a destination, are
   * skipped (`txUnreachable`).
   *
   * With GSO on, a run of consecutive datagrams to the same endpoint from the same source, all of
   * one length L but the last (which may be shorter), goes out as one sendmmsg entry whose iovecs
   * point at the run's slots, with a UDP_SEGMENT cmsg of L: the kernel splits it into the same
   * datagrams. Such a run is sent or refused as a whole (udp-gso.ts).
   * Returns how many datagrams were sent; `txStatus[k]` says which.
   */
  sendBatch(
    batch: PacketBatch,
    slots: Uint16Array,
    dests: readonly (Endpoint | undefined)[],
    srcs: readonly (SourceAddress | undefined)[],
    from: number,
    n: number,
  ): number {
    const end = from + n;
    if (this.status.length < end) this.status = new Uint8Array(Math.max(end, this.status.length * 2));
    this.status.fill(0, from, end);
    if (this.sock < 0) return 0;
    return this.sender.send(this.sock, batch, slots, dests, srcs, from, end, this.status);
  }

  /**
   * Sends one datagram (a control-plane packet): `len` bytes of `buf` at `off` are copied into pinned
   * memory first, so `buf` may be any Buffer. Returns true if the kernel took it.
   */
  sendOne(buf: Buffer, off: number, len: number, dest: Endpoint, src?: SourceAddress): boolean {
    if (this.sock < 0 || len > ONE_COPY || len < 0 || off < 0 || off + len > buf.length) return false;
    if (!this.canReach(dest)) {
      this.txUnreachable++;
      return false;
    }
    const tx = this.tx;
    const u = tx.u32;
    const w = tx.loadOne(buf, off, len, dest);
    u[w + W_CONTROLLEN] = src === undefined ? 0 : writeSourceCmsg(u, tx.oneCtrlWord, src, dest);
    let stale = false;
    for (let attempt = 0; attempt < 4; attempt++) {
      if (sendmsg(this.sock, tx.oneAddr, MSG_DONTWAIT) >= 0) {
        if (stale && src !== undefined) this.onStaleSource?.(src);
        return true;
      }
      const e = errno();
      this.lastErrno = e;
      if (e === EINTR) continue;
      if (badSource(e) && u[w + W_CONTROLLEN] !== 0) {
        // The source address is no longer local: send it again letting routing choose (spec §5.3).
        u[w + W_CONTROLLEN] = 0;
        stale = true;
        continue;
      }
      if (e !== EAGAIN && e !== ENOBUFS) this.txErrors++;
      return false;
    }
    return false;
  }

  /**
   * Calls `cb` whenever the socket is readable (drain it with recvBatch until it returns 0), and
   * again on the next turn of the event loop while split GRO datagrams wait in the transport.
   */
  onReadable(cb: () => void): void {
    if (this.sock < 0) return;
    this.watcher?.close();
    this.readableCb = cb;
    this.watcher = watchFd(this.sock, { readable: true, writable: false }, () => this.readable());
  }

  /** Stops watching and closes the socket. Idempotent. */
  close(): void {
    if (this.sock < 0) return;
    this.watcher?.close();
    this.watcher = undefined;
    close(this.sock);
    this.sock = -1;
    this.rxBatch = undefined;
    this.readableCb = undefined;
    this.rxGro.spill.clear();
  }

  /**
   * Runs the readable callback; if GRO datagrams still wait in the transport afterwards (the owner
   * stopped draining for fairness), runs it again from setImmediate: the socket itself may no
   * longer be readable, so poll would not call back for them.
   */
  private readable(): void {
    this.readableCb?.();
    if (this.rxGro.spill.pending > 0 && !this.kickQueued && this.sock >= 0) {
      this.kickQueued = true;
      setImmediate(this.kick);
    }
  }

  private readonly kick = (): void => {
    this.kickQueued = false;
    if (this.sock >= 0 && this.rxGro.spill.pending > 0) this.readable();
  };

  /**
   * One recvmmsg into slots [pos, pos + vlen) (mmsghdr i reads into slot i). Returns the entries
   * read, 0 when nothing is queued, -1 if the socket is unusable.
   */
  private recvInto(pos: number, vlen: number): number {
    this.rx.arm(pos, vlen);
    for (let attempt = 0; attempt < 4; attempt++) {
      const n = recvmmsg(this.sock, this.rx.entryAddr(pos), vlen, MSG_DONTWAIT, 0);
      if (n >= 0) return n;
      const e = errno();
      this.lastErrno = e;
      if (e === EAGAIN) return 0;
      if (e === EBADF || e === ENOTSOCK || e === EFAULT || e === EINVAL) return -1;
      // EINTR, or a pending ICMP error reported once (ECONNREFUSED, ...): try again.
    }
    return 0;
  }

  /**
   * Points the RX iovecs at `batch`'s slots (once per batch object), and turns UDP GRO on or off to
   * match its slot size.
   */
  private bindRxBatch(batch: PacketBatch, vlen: number): void {
    this.rxGro.configure(this.sock, batch);
    this.rx.bindIovecs(batch, vlen, this.batchSize);
    this.rxBatch = batch;
  }
}
