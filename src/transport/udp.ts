/**
 * The UDP transport of the data plane (spec ovpn-kernel §5.1-5.3): an attached, non-blocking UDP
 * socket read with recvmmsg and written with sendmmsg, straight from and into a PacketBatch slab.
 *
 * The socket belongs to the transport once attached (the caller hands over its own dup). Control
 * packets arrive here too (the kernel returns non-DATA_V2 datagrams to the socket's owner); the caller
 * sorts them by opcode and can answer with `sendOne`.
 *
 * Nothing is built per packet: the mmsghdr, iovec, sockaddr and cmsg memory is laid out once per
 * transport in two pinned arenas, and each call only rewrites pointers and lengths in place (an address
 * is written as two 32-bit words, low first; x86-64 and arm64 are little-endian). B = batchSize.
 *
 * ```
 *  RX arena (recvmmsg)                                     written by
 *  +0        mmsghdr[B]     64 B   name->names[i] namelen=32      us: before each call (namelen,
 *                                  iov->iovec[i]  iovlen=1            controllen); kernel: namelen,
 *                                  control->ctrl[i] controllen=128    controllen, flags, msg_len
 *  +64B      iovec[B]       16 B   base = batch.mem.addr + batch.dataStart(i), len = batch.maxPacket
 *  +80B      names[B]       32 B   source sockaddr_in / sockaddr_in6       kernel (exposed: `names`)
 *  +112B     ctrl[B]       128 B   cmsgs: IP_PKTINFO (in_pktinfo), IPV6_PKTINFO (in6_pktinfo)  kernel
 *  +240B     localAddr[B]   16 B   destination address from pktinfo; IPv4 in bytes 0-3   us (exposed)
 *
 *  TX arena (sendmmsg, sendmsg)
 *  +0        mmsghdr[B]     64 B   name -> dest.sockaddr (the Endpoint's own pinned sockaddr)
 *                                  iov -> iovec[j] iovlen=1, control -> ctrl[j], controllen 0 or 32/40
 *  +64B      iovec[B]       16 B   base = batch.mem.addr + batch.offs[slot], len = batch.lens[slot]
 *  +80B      ctrl[B]        40 B   optional source address: IP_PKTINFO (32 B) or IPV6_PKTINFO (40 B)
 *  +120B     msghdr         64 B   sendOne: name -> dest.sockaddr, iov -> the iovec below
 *  +120B+64  iovec          16 B   base = copy buffer
 *  +120B+80  ctrl           40 B   sendOne's source address
 *  +120B+120 copy        65536 B   sendOne copies the caller's bytes here
 * ```
 *
 * struct msghdr (56 B, x86-64/arm64): name 0 | namelen 8 | iov 16 | iovlen 24 | control 32 |
 * controllen 40 | flags 48; struct mmsghdr appends msg_len at 56 (64 B in all).
 * struct cmsghdr: len (size_t) 0 | level 8 | type 12 | data 16, each cmsg padded to 8 bytes.
 */

import type { PacketBatch } from '../batch/packet-batch.js';
import { OvpnError } from '../errors/ovpn-error.js';
import type { Endpoint } from '../net/endpoint.js';
import { allocPinned, type PinnedBuffer } from '../sys/address.js';
import {
  AF_INET,
  AF_INET6,
  close,
  EAGAIN,
  EINTR,
  ENOBUFS,
  errno,
  getsockname,
  getsockoptInt,
  IP_PKTINFO,
  IPPROTO_IP,
  IPPROTO_IPV6,
  IPPROTO_UDP,
  IPV6_PKTINFO,
  IPV6_RECVPKTINFO,
  IPV6_V6ONLY,
  MSG_DONTWAIT,
  recvmmsg,
  SO_DOMAIN,
  SO_MARK,
  SO_PROTOCOL,
  SO_RCVBUF,
  SO_RCVBUFFORCE,
  SO_SNDBUF,
  SO_SNDBUFFORCE,
  SO_TYPE,
  SOCK_DGRAM,
  SOL_SOCKET,
  sendmmsg,
  sendmsg,
  setNonBlocking,
  setsockoptInt,
} from '../sys/libc.js';
import { type FdWatcher, watchFd } from '../sys/poll.js';
import { errnoName, sysError } from './udp-socket.js';

const MMSG = 64;
const IOV = 16;
/** Bytes per slot in `names`: room for a sockaddr_in6 (28), 8-aligned. */
export const NAME_SIZE = 32;
const RX_CTRL = 128;
const TX_CTRL = 40;
const LOCAL = 16;
const ONE_COPY = 65536;

// Offsets (in 32-bit words) inside an mmsghdr.
const W_NAME = 0;
const W_NAMELEN = 2;
const W_IOV = 4;
const W_IOVLEN = 6;
const W_CONTROL = 8;
const W_CONTROLLEN = 10;
const W_FLAGS = 12;
const W_LEN = 14;

const MSG_TRUNC = 0x20;
const EBADF = 9;
const EFAULT = 14;
const EINVAL = 22;
const ENOTSOCK = 88;
const EADDRNOTAVAIL = 99;
const ENETUNREACH = 101;

/** Socket buffer size asked for with SO_RCVBUFFORCE/SO_SNDBUFFORCE (the kernel doubles it). */
export const UDP_SOCKET_BUFFER = 4 << 20;

/**
 * A local (source) address to send from: what the kernel keeps as a peer's local IP (spec §5.3).
 * `addr` holds 4 or 16 bytes; `ifindex` (IPv6 only, 0 = any) pins the outgoing interface.
 */
export interface SourceAddress {
  readonly family: 4 | 6;
  readonly addr: Buffer;
  readonly ifindex?: number;
}

const TWO32 = 4294967296;

/**
 * Errors the kernel gives for a source address that is not (or no longer) local: EINVAL (IPv6, and
 * IPv4 on some paths) or ENETUNREACH (IPv4 route lookup with a foreign source). The datagram is sent
 * again without a source; only if that works was the source the problem.
 */
function badSource(e: number): boolean {
  return e === EINVAL || e === EADDRNOTAVAIL || e === ENETUNREACH;
}

/** Writes a 48-bit address as two little-endian 32-bit words at word index `w`. */
function putPtr(u: Uint32Array, w: number, addr: number): void {
  u[w] = addr >>> 0;
  u[w + 1] = (addr / TWO32) >>> 0;
}

export class UdpTransport {
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
  /** The last errno seen by a send or receive call (0 if none). */
  lastErrno = 0;
  /**
   * Called when the kernel refuses a source address given to sendBatch/sendOne (it is no longer
   * configured on the host). The datagram was sent again with a source chosen by routing; the owner
   * should forget that local address, as the kernel clears a peer's stale local IP (spec §5.3).
   */
  onStaleSource: ((src: SourceAddress) => void) | undefined;

  private readonly rx: PinnedBuffer;
  private readonly rx32: Uint32Array;
  private readonly tx: PinnedBuffer;
  private readonly tx32: Uint32Array;
  private readonly txSrc: (SourceAddress | undefined)[];
  /** TX entry j carries datagram txK[j] of the current sendBatch call. */
  private readonly txK: Uint32Array;
  private readonly rxIovOff: number;
  private readonly rxNameOff: number;
  private readonly rxCtrlOff: number;
  private readonly rxLocalOff: number;
  private readonly txIovOff: number;
  private readonly txCtrlOff: number;
  private readonly oneOff: number;
  private sock: number;
  private status: Uint8Array;
  private rxBatch: PacketBatch | undefined;
  private watcher: FdWatcher | undefined;
  private port = 0;
  private lastMark = 0;

  private constructor(fd: number, domain: 4 | 6, v6Only: boolean, batchSize: number) {
    this.sock = fd;
    this.domain = domain;
    this.v6Only = v6Only;
    this.batchSize = batchSize;
    const B = batchSize;

    this.rxIovOff = B * MMSG;
    this.rxNameOff = this.rxIovOff + B * IOV;
    this.rxCtrlOff = this.rxNameOff + B * NAME_SIZE;
    this.rxLocalOff = this.rxCtrlOff + B * RX_CTRL;
    this.rx = allocPinned(this.rxLocalOff + B * LOCAL);
    this.rx32 = new Uint32Array(this.rx.buf.buffer, this.rx.buf.byteOffset, this.rx.buf.length >>> 2);
    this.names = this.rx.buf.subarray(this.rxNameOff, this.rxCtrlOff);
    this.localAddr = this.rx.buf.subarray(this.rxLocalOff, this.rxLocalOff + B * LOCAL);
    this.localFamily = new Uint8Array(B);
    this.localIfindex = new Uint32Array(B);
    const ru = this.rx32;
    for (let i = 0; i < B; i++) {
      const w = (i * MMSG) >>> 2;
      putPtr(ru, w + W_NAME, this.rx.addr + this.rxNameOff + i * NAME_SIZE);
      putPtr(ru, w + W_IOV, this.rx.addr + this.rxIovOff + i * IOV);
      ru[w + W_IOVLEN] = 1;
      putPtr(ru, w + W_CONTROL, this.rx.addr + this.rxCtrlOff + i * RX_CTRL);
    }

    this.txIovOff = B * MMSG;
    this.txCtrlOff = this.txIovOff + B * IOV;
    this.oneOff = this.txCtrlOff + B * TX_CTRL;
    this.tx = allocPinned(this.oneOff + MMSG + IOV + TX_CTRL + ONE_COPY);
    this.tx32 = new Uint32Array(this.tx.buf.buffer, this.tx.buf.byteOffset, this.tx.buf.length >>> 2);
    this.txSrc = new Array<SourceAddress | undefined>(B).fill(undefined);
    this.txK = new Uint32Array(B);
    this.status = new Uint8Array(B);
    const tu = this.tx32;
    for (let j = 0; j <= B; j++) {
      // Entry B is sendOne's msghdr, laid out the same way after the per-batch ctrl area.
      const base = j < B ? j * MMSG : this.oneOff;
      const iov = j < B ? this.txIovOff + j * IOV : this.oneOff + MMSG;
      const ctrl = j < B ? this.txCtrlOff + j * TX_CTRL : this.oneOff + MMSG + IOV;
      const w = base >>> 2;
      putPtr(tu, w + W_IOV, this.tx.addr + iov);
      tu[w + W_IOVLEN] = 1;
      putPtr(tu, w + W_CONTROL, this.tx.addr + ctrl);
    }
    putPtr(tu, (this.oneOff + MMSG) >>> 2, this.tx.addr + this.oneOff + MMSG + IOV + TX_CTRL);
  }

  /**
   * Takes ownership of a UDP socket fd (pass your own dup). Makes it non-blocking, turns on pktinfo
   * reception and raises its buffers. Throws ENOTSOCK for anything but a UDP socket; on any throw
   * the fd is left open and still belongs to the caller.
   */
  static attach(fd: number, batchSize: number): UdpTransport {
    if (!Number.isInteger(batchSize) || batchSize < 1 || batchSize > 1024)
      throw new OvpnError('EINVAL', `batch size must be 1..1024, not ${batchSize}`);
    const type = getsockoptInt(fd, SOL_SOCKET, SO_TYPE);
    if (type === undefined) {
      const e = errno();
      throw new OvpnError('ENOTSOCK', `fd ${fd} is not a socket (${errnoName(e)})`, 'socket');
    }
    const proto = getsockoptInt(fd, SOL_SOCKET, SO_PROTOCOL);
    const dom = getsockoptInt(fd, SOL_SOCKET, SO_DOMAIN);
    if (type !== SOCK_DGRAM || proto !== IPPROTO_UDP || (dom !== AF_INET && dom !== AF_INET6)) {
      throw new OvpnError(
        'ENOTSOCK',
        `fd ${fd} is not a UDP socket (domain ${dom}, type ${type}, protocol ${proto})`,
        'socket',
      );
    }
    const domain: 4 | 6 = dom === AF_INET6 ? 6 : 4;
    if (!setNonBlocking(fd)) throw sysError('fcntl O_NONBLOCK', errno());
    if (setsockoptInt(fd, IPPROTO_IP, IP_PKTINFO, 1) !== 0 && domain === 4)
      throw sysError('setsockopt IP_PKTINFO', errno());
    let v6Only = false;
    if (domain === 6) {
      if (setsockoptInt(fd, IPPROTO_IPV6, IPV6_RECVPKTINFO, 1) !== 0)
        throw sysError('setsockopt IPV6_RECVPKTINFO', errno());
      v6Only = getsockoptInt(fd, IPPROTO_IPV6, IPV6_V6ONLY) === 1;
    }
    for (const [force, plain] of [
      [SO_RCVBUFFORCE, SO_RCVBUF],
      [SO_SNDBUFFORCE, SO_SNDBUF],
    ]) {
      if (setsockoptInt(fd, SOL_SOCKET, force, UDP_SOCKET_BUFFER) !== 0)
        setsockoptInt(fd, SOL_SOCKET, plain, UDP_SOCKET_BUFFER);
    }
    const t = new UdpTransport(fd, domain, v6Only, batchSize);
    t.port = t.readPort();
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

  /** The socket's bound port (re-read while it is still unbound, i.e. 0). */
  get localPort(): number {
    if (this.port === 0 && this.sock >= 0) this.port = this.readPort();
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

  /** True if this socket can send to `dest` (its family is reachable from the socket's). */
  canReach(dest: Endpoint): boolean {
    return dest.family === 6 ? this.domain === 6 : !this.v6Only;
  }

  /**
   * Reads up to min(batch.size, batchSize) datagrams with one recvmmsg into `batch` (slot i at
   * `batch.dataStart(i)`), setting offs/lens/count, `names` and the pktinfo arrays for each slot.
   * A datagram larger than its slot gets length 0 (and counts in `rxTruncated`).
   * Returns the count, 0 when nothing is queued, -1 if the socket is unusable (closed).
   */
  recvBatch(batch: PacketBatch): number {
    batch.count = 0;
    if (this.sock < 0) return -1;
    const vlen = Math.min(batch.size, this.batchSize);
    if (batch !== this.rxBatch) this.bindRxBatch(batch, vlen);
    const u = this.rx32;
    for (let i = 0; i < vlen; i++) {
      const w = i << 4;
      u[w + W_NAMELEN] = NAME_SIZE;
      u[w + W_CONTROLLEN] = RX_CTRL;
      u[w + W_CONTROLLEN + 1] = 0;
    }
    let n = -1;
    for (let attempt = 0; attempt < 4; attempt++) {
      n = recvmmsg(this.sock, this.rx.addr, vlen, MSG_DONTWAIT, 0);
      if (n >= 0) break;
      const e = errno();
      this.lastErrno = e;
      if (e === EAGAIN) return 0;
      if (e === EBADF || e === ENOTSOCK || e === EFAULT || e === EINVAL) return -1;
      // EINTR, or a pending ICMP error reported once (ECONNREFUSED, ...): try again.
    }
    if (n < 0) return 0;
    const offs = batch.offs;
    const lens = batch.lens;
    for (let i = 0; i < n; i++) {
      const w = i << 4;
      offs[i] = batch.dataStart(i);
      if ((u[w + W_FLAGS] & MSG_TRUNC) !== 0) {
        lens[i] = 0;
        this.rxTruncated++;
      } else {
        lens[i] = u[w + W_LEN];
      }
      this.localFamily[i] = 0;
      this.localIfindex[i] = 0;
      const clen = u[w + W_CONTROLLEN];
      if (clen >= 16) this.readPktinfo(i, clen);
    }
    batch.count = n;
    return n;
  }

  /**
   * Sends `batch` slot slots[k] to dests[k] (optionally from srcs[k]) for k < n with sendmmsg,
   * resuming after partial sends. A datagram the kernel refuses on its own (unreachable, filtered,
   * too big) is skipped and counted in `txErrors`; a full socket (EAGAIN/ENOBUFS) stops the batch.
   * Endpoints this socket cannot reach (IPv6 on AF_INET) are skipped (`txUnreachable`).
   * Returns how many datagrams were sent; `txStatus[k]` says which.
   */
  sendBatch(
    batch: PacketBatch,
    slots: Uint16Array,
    dests: readonly Endpoint[],
    n: number,
    srcs?: readonly (SourceAddress | undefined)[],
  ): number {
    if (this.status.length < n) this.status = new Uint8Array(Math.max(n, this.status.length * 2));
    this.status.fill(0, 0, n);
    if (this.sock < 0) return 0;
    const B = this.batchSize;
    const u = this.tx32;
    const base = batch.mem.addr;
    let sent = 0;
    let k = 0;
    while (k < n) {
      let m = 0;
      for (; k < n && m < B; k++) {
        const dest = dests[k];
        if (!this.canReach(dest)) {
          this.txUnreachable++;
          continue;
        }
        const slot = slots[k];
        const w = m << 4;
        putPtr(u, w + W_NAME, dest.sockaddr.addr);
        u[w + W_NAMELEN] = dest.sockaddrLen;
        const iw = (this.txIovOff + m * IOV) >>> 2;
        putPtr(u, iw, base + batch.offs[slot]);
        u[iw + 2] = batch.lens[slot];
        const src = srcs === undefined ? undefined : srcs[k];
        this.txSrc[m] = src;
        this.txK[m] = k;
        u[w + W_CONTROLLEN] =
          src === undefined ? 0 : this.writeSource(this.txCtrlOff + m * TX_CTRL, src, dest);
        m++;
      }
      if (m === 0) break;
      const r = this.flush(m);
      if (r < 0) return sent - r - 1;
      sent += r;
    }
    return sent;
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
    const u = this.tx32;
    const copyOff = this.oneOff + MMSG + IOV + TX_CTRL;
    buf.copy(this.tx.buf, copyOff, off, off + len);
    const w = this.oneOff >>> 2;
    putPtr(u, w + W_NAME, dest.sockaddr.addr);
    u[w + W_NAMELEN] = dest.sockaddrLen;
    u[((this.oneOff + MMSG) >>> 2) + 2] = len;
    u[w + W_CONTROLLEN] = src === undefined ? 0 : this.writeSource(this.oneOff + MMSG + IOV, src, dest);
    let stale = false;
    for (let attempt = 0; attempt < 4; attempt++) {
      if (sendmsg(this.sock, this.tx.addr + this.oneOff, MSG_DONTWAIT) >= 0) {
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

  /** Calls `cb` whenever the socket is readable (drain it with recvBatch until it returns 0). */
  onReadable(cb: () => void): void {
    if (this.sock < 0) return;
    this.watcher?.close();
    this.watcher = watchFd(this.sock, { readable: true, writable: false }, () => cb());
  }

  /** Stops watching and closes the socket. Idempotent. */
  close(): void {
    if (this.sock < 0) return;
    this.watcher?.close();
    this.watcher = undefined;
    close(this.sock);
    this.sock = -1;
    this.rxBatch = undefined;
  }

  /**
   * sendmmsg of TX entries [0, m). Returns how many were sent, or, if the socket cannot take more
   * (EAGAIN/ENOBUFS/fatal), -(sent + 1) so the caller stops.
   */
  private flush(m: number): number {
    const u = this.tx32;
    let i = 0;
    let sent = 0;
    let retried = -1;
    let spins = 0;
    while (i < m) {
      const r = sendmmsg(this.sock, this.tx.addr + i * MMSG, m - i, MSG_DONTWAIT);
      if (r > 0) {
        if (retried === i) {
          const src = this.txSrc[i];
          if (src !== undefined) this.onStaleSource?.(src);
        }
        for (let e = i; e < i + r; e++) this.status[this.txK[e]] = 1;
        sent += r;
        i += r;
        continue;
      }
      const e = r < 0 ? errno() : EAGAIN;
      this.lastErrno = e;
      if (e === EINTR && ++spins < 4) continue;
      if (e === EAGAIN || e === ENOBUFS || e === EBADF || e === ENOTSOCK || e === EFAULT || e === EINTR)
        return -(sent + 1);
      const w = i << 4;
      if (badSource(e) && u[w + W_CONTROLLEN] !== 0 && retried !== i) {
        // The source address is no longer local: send it again letting routing choose (spec §5.3).
        u[w + W_CONTROLLEN] = 0;
        retried = i;
        continue;
      }
      this.txErrors++;
      i++;
    }
    return sent;
  }

  /** Writes an IP_PKTINFO/IPV6_PKTINFO cmsg for `src` at tx arena offset `off`; returns its length. */
  private writeSource(off: number, src: SourceAddress, dest: Endpoint): number {
    const u = this.tx32;
    const w = off >>> 2;
    if (src.family === 4 && dest.family === 4) {
      // struct in_pktinfo { int ifindex; in_addr spec_dst; in_addr addr }: spec_dst is the source.
      u[w] = 28;
      u[w + 1] = 0;
      u[w + 2] = IPPROTO_IP;
      u[w + 3] = IP_PKTINFO;
      u[w + 4] = 0;
      u[w + 5] = src.addr.readUInt32LE(0);
      u[w + 6] = 0;
      u[w + 7] = 0;
      return 32;
    }
    if (src.family === 6 && dest.family === 6) {
      // struct in6_pktinfo { in6_addr addr; int ifindex }
      u[w] = 36;
      u[w + 1] = 0;
      u[w + 2] = IPPROTO_IPV6;
      u[w + 3] = IPV6_PKTINFO;
      u[w + 4] = src.addr.readUInt32LE(0);
      u[w + 5] = src.addr.readUInt32LE(4);
      u[w + 6] = src.addr.readUInt32LE(8);
      u[w + 7] = src.addr.readUInt32LE(12);
      u[w + 8] = src.ifindex ?? 0;
      u[w + 9] = 0;
      return 40;
    }
    return 0;
  }

  /** Points the RX iovecs at `batch`'s slots (once per batch object). */
  private bindRxBatch(batch: PacketBatch, vlen: number): void {
    const u = this.rx32;
    for (let i = 0; i < this.batchSize; i++) {
      const iw = (this.rxIovOff + i * IOV) >>> 2;
      if (i < vlen) {
        putPtr(u, iw, batch.mem.addr + batch.dataStart(i));
        u[iw + 2] = batch.maxPacket;
      } else {
        putPtr(u, iw, 0);
        u[iw + 2] = 0;
      }
    }
    this.rxBatch = batch;
  }

  /** Walks slot i's cmsgs for IP_PKTINFO / IPV6_PKTINFO and records the destination address. */
  private readPktinfo(i: number, clen: number): void {
    const u = this.rx32;
    const cw = (this.rxCtrlOff + i * RX_CTRL) >>> 2;
    const lw = (this.rxLocalOff + i * LOCAL) >>> 2;
    const end = Math.min(clen, RX_CTRL);
    let p = 0;
    while (p + 16 <= end) {
      const w = cw + (p >>> 2);
      const len = u[w];
      if (len < 16 || u[w + 1] !== 0 || p + len > end) break;
      const level = u[w + 2];
      const type = u[w + 3];
      if (level === IPPROTO_IP && type === IP_PKTINFO && len >= 28) {
        this.localIfindex[i] = u[w + 4];
        u[lw] = u[w + 6]; // ipi_addr: the header's destination address
        u[lw + 1] = 0;
        u[lw + 2] = 0;
        u[lw + 3] = 0;
        this.localFamily[i] = 4;
      } else if (level === IPPROTO_IPV6 && type === IPV6_PKTINFO && len >= 36) {
        this.localIfindex[i] = u[w + 8];
        if (u[w + 4] === 0 && u[w + 5] === 0 && u[w + 6] === 0xffff0000) {
          u[lw] = u[w + 7];
          u[lw + 1] = 0;
          u[lw + 2] = 0;
          u[lw + 3] = 0;
          this.localFamily[i] = 4;
        } else {
          u[lw] = u[w + 4];
          u[lw + 1] = u[w + 5];
          u[lw + 2] = u[w + 6];
          u[lw + 3] = u[w + 7];
          this.localFamily[i] = 6;
        }
      }
      p += (len + 7) & ~7;
    }
  }

  private readPort(): number {
    const sa = Buffer.alloc(32);
    const len = Buffer.alloc(4);
    len.writeUInt32LE(32, 0);
    return getsockname(this.sock, sa, len) === 0 ? sa.readUInt16BE(2) : 0;
  }
}
