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
 *  +0        mmsghdr[B]     64 B   entry e: name -> dest.sockaddr (the Endpoint's own pinned sockaddr)
 *                                  iov -> iovec[first datagram of e] iovlen = datagrams in e,
 *                                  control -> ctrl[e], controllen 0..64
 *  +64B      iovec[B]       16 B   datagram d: base = batch.mem.addr + batch.offs[slot],
 *                                  len = batch.lens[slot]
 *  +80B      ctrl[B]        64 B   optional UDP_SEGMENT (24 B, entries of 2+ datagrams: GSO), then
 *                                  optional source address: IP_PKTINFO (32 B) or IPV6_PKTINFO (40 B)
 *  +144B     msghdr         64 B   sendOne: name -> dest.sockaddr, iov -> the iovec below
 *  +144B+64  iovec          16 B   base = copy buffer
 *  +144B+80  ctrl           64 B   sendOne's source address
 *  +144B+144 copy        65536 B   sendOne copies the caller's bytes here
 * ```
 *
 * UDP GSO (send): datagrams d of one sendBatch call fill iovec[d] in order; consecutive ones to the
 * same endpoint from the same source, all of length L but the last (<= L), at most GSO_MAX_SEGMENTS
 * and 65507 (IPv4) / 65527 (IPv6) bytes in all, share one mmsghdr entry whose iovecs are theirs, and
 * a UDP_SEGMENT cmsg of L makes the kernel send them as the same datagrams again. No byte is copied.
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
import { RxSpill, SPILL_ADDR_WORDS } from './rx-spill.js';
import { errnoName, sysError } from './udp-socket.js';

const MMSG = 64;
const IOV = 16;
/** Bytes per slot in `names`: room for a sockaddr_in6 (28), 8-aligned. */
export const NAME_SIZE = 32;
const RX_CTRL = 128;
/** A UDP_SEGMENT cmsg: CMSG_SPACE(sizeof(u16)). */
const SEG_CMSG = 24;
/** Per TX entry: an optional UDP_SEGMENT cmsg, then an optional IP_PKTINFO (32) / IPV6_PKTINFO (40). */
const TX_CTRL = SEG_CMSG + 40;
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
const EIO = 5;
const EBADF = 9;
const EFAULT = 14;
const EINVAL = 22;
const ENOTSOCK = 88;
const EMSGSIZE = 90;
const EADDRNOTAVAIL = 99;
const ENETUNREACH = 101;

const SOL_UDP = 17;
const UDP_SEGMENT = 103;
const UDP_GRO = 104;
const SO_NO_CHECK = 11;
/**
 * Slot size needed to turn UDP GRO on: a coalesced receive is at most 65535 bytes of IP packet
 * (the kernel stops coalescing before 64 KiB), a local GSO send at most 65527 bytes of payload.
 */
export const GRO_MIN_SLOT = 65535;
/** recvmmsg calls one recvBatch may make while GRO keeps them small (see `groSegs`). */
const GRO_MAX_READS = 8;

/**
 * Most datagrams sent as one UDP GSO super-datagram. The kernel's UDP_MAX_SEGMENTS is 128 on this
 * kernel (6.18: 128 segments pass, 129 give EINVAL) but 64 on older ones; 64 is what wireguard-go
 * uses and is enough to amortise the call.
 */
export const GSO_MAX_SEGMENTS = 64;
/** Largest UDP payload of a GSO send: 65535 - IPv4 header (20) - UDP header (8). */
const GSO_MAX_BYTES_V4 = 65507;
/** Largest UDP payload of a GSO send over IPv6 (the payload length excludes the IPv6 header). */
const GSO_MAX_BYTES_V6 = 65527;
/** Largest GSO segment size tried (the UDP_SEGMENT value is a u16). */
const GSO_MAX_SEG = 65535;
/** A learned segment-size limit below this means GSO cannot work here at all: turn it off. */
const GSO_MIN_SEG = 256;
/** Datagrams refused GSO by a learned size limit before the limit is forgotten and re-probed. */
const GSO_REPROBE = 4096;

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

/** Options of `UdpTransport.attach`. */
export interface UdpTransportOptions {
  /**
   * Send runs of equal-size datagrams to one destination as UDP GSO super-datagrams (UDP_SEGMENT).
   * Default true (turned off when the kernel lacks it, or by OVPN_TS_UDP_GSO=0 in the environment).
   */
  gso?: boolean;
  /**
   * Receive with UDP GRO (UDP_GRO): the kernel hands over runs of datagrams of one flow as one
   * coalesced buffer, which recvBatch splits back into one datagram per slot. Only on while the
   * receive batch's slots hold GRO_MIN_SLOT bytes (a coalesced buffer would not fit a smaller one).
   * Default true (OVPN_TS_UDP_GRO=0 in the environment turns it off).
   */
  gro?: boolean;
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

/** The `gso` option, defaulting to on unless OVPN_TS_UDP_GSO=0. */
function wantGso(opts: UdpTransportOptions): boolean {
  return opts.gso ?? process.env.OVPN_TS_UDP_GSO !== '0';
}

/**
 * True if the kernel takes UDP_SEGMENT on this socket: the option exists (Linux >= 4.18) and UDP
 * checksums are on (the kernel refuses GSO with SO_NO_CHECK).
 */
function gsoSupported(fd: number): boolean {
  return (
    getsockoptInt(fd, SOL_UDP, UDP_SEGMENT) !== undefined && getsockoptInt(fd, SOL_SOCKET, SO_NO_CHECK) !== 1
  );
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

  private readonly rx: PinnedBuffer;
  private readonly rx32: Uint32Array;
  private readonly tx: PinnedBuffer;
  private readonly tx32: Uint32Array;
  /** TX datagram position d (iovec d) of the current flush carries datagram txK[d] of sendBatch. */
  private readonly txK: Uint32Array;
  /** TX entry (mmsghdr) e sends datagram positions [entFirst[e], entFirst[e] + entCount[e]). */
  private readonly entFirst: Uint16Array;
  private readonly entCount: Uint16Array;
  /** GSO segment size of TX entry e (the length of its first datagram), 0 if sent plainly. */
  private readonly entSeg: Uint32Array;
  private readonly entDest: (Endpoint | undefined)[];
  private readonly entSrc: (SourceAddress | undefined)[];
  /** Set by flush: the batch must stop (socket full or unusable). */
  private flushStop = false;
  /** Set by flush: datagram position to build the entries again from (a GSO send failed), or -1. */
  private flushResume = -1;
  private gsoOn: boolean;
  private groWanted: boolean;
  private groOn: boolean;
  /** Most datagrams one entry held in the last recvmmsg: under GRO it sizes the next one. */
  private groSegs = 1;
  /** Per entry of the last recvmmsg: its GRO segment size (0: one datagram) and datagram count. */
  private readonly rxSeg: Uint32Array;
  private readonly rxSegs: Uint32Array;
  private readonly spill: RxSpill;
  private readableCb: (() => void) | undefined;
  private kickQueued = false;
  /** Largest segment size sent with GSO (lowered when the kernel refuses one; see gsoRefused). */
  private gsoMaxSeg = GSO_MAX_SEG;
  private gsoReprobe = GSO_REPROBE;
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
    this.gsoOn = gso;
    this.groWanted = gro;
    this.groOn = groOn;
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
    this.rxSeg = new Uint32Array(B);
    this.rxSegs = new Uint32Array(B);
    this.spill = new RxSpill(B);
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
    this.txK = new Uint32Array(B);
    this.entFirst = new Uint16Array(B);
    this.entCount = new Uint16Array(B);
    this.entSeg = new Uint32Array(B);
    this.entDest = new Array<Endpoint | undefined>(B).fill(undefined);
    this.entSrc = new Array<SourceAddress | undefined>(B).fill(undefined);
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
   * reception, raises its buffers and probes UDP GSO (see `UdpTransportOptions`; UDP GRO is turned
   * on by the first recvBatch, once the batch's slot size is known). Throws ENOTSOCK for anything but a UDP socket; on any throw
   * the fd is left open and still belongs to the caller.
   */
  static attach(fd: number, batchSize: number, opts: UdpTransportOptions = {}): UdpTransport {
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
    const t = new UdpTransport(
      fd,
      domain,
      v6Only,
      batchSize,
      wantGso(opts) && gsoSupported(fd),
      opts.gro ?? process.env.OVPN_TS_UDP_GRO !== '0',
      getsockoptInt(fd, SOL_UDP, UDP_GRO) === 1,
    );
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

  /**
   * True while sendBatch sends runs of equal-size datagrams as GSO super-datagrams. Goes off for good
   * when the kernel answers a GSO send with EIO (no checksum offload on the route's device), as
   * wireguard-go does.
   */
  get gso(): boolean {
    return this.gsoOn && this.sock >= 0;
  }

  /** True while the socket receives with UDP GRO (set by recvBatch from its batch's slot size). */
  get gro(): boolean {
    return this.groOn && this.sock >= 0;
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
   * Reads up to min(batch.size, batchSize) datagrams with recvmmsg into `batch` (slot i at
   * `batch.dataStart(i)`), setting offs/lens/count, `names` and the pktinfo arrays for each slot.
   * A datagram larger than its slot gets length 0 (and counts in `rxTruncated`).
   *
   * Under UDP GRO a received buffer may hold several datagrams: they are split into consecutive
   * slots (copied; each keeps the buffer's source and destination address), and those that do not
   * fit wait in the transport for the next call, which hands them out first. While receives come
   * coalesced, each recvmmsg asks for as many buffers as should fit (`groSegs`) and a few more calls
   * may follow while slots remain; otherwise it is one recvmmsg for the whole batch, as without GRO.
   * Returns the count, 0 when nothing is queued, -1 if the socket is unusable (closed).
   */
  recvBatch(batch: PacketBatch): number {
    batch.count = 0;
    if (this.sock < 0) {
      this.spill.clear();
      return -1;
    }
    const S = Math.min(batch.size, this.batchSize);
    if (batch !== this.rxBatch) this.bindRxBatch(batch, S);
    let pos = this.spill.pending > 0 ? this.drainSpill(batch, S) : 0;
    for (let round = 0; pos < S && this.spill.pending === 0 && round < GRO_MAX_READS; round++) {
      const room = S - pos;
      const vlen = this.groSegs > 1 ? Math.max(1, Math.floor(room / this.groSegs)) : room;
      const n = this.recvInto(pos, vlen);
      if (n <= 0) {
        if (n < 0 && pos === 0) return -1;
        break;
      }
      pos = this.takeEntries(batch, pos, n, S);
      if (n < vlen) break;
    }
    batch.count = pos;
    return pos;
  }

  /**
   * Sends `batch` slot slots[k] to dests[k] (optionally from srcs[k]) for k < n with sendmmsg,
   * resuming after partial sends. A datagram the kernel refuses on its own (unreachable, filtered,
   * too big) is skipped and counted in `txErrors`; a full socket (EAGAIN/ENOBUFS) stops the batch.
   * Endpoints this socket cannot reach (IPv6 on AF_INET) are skipped (`txUnreachable`).
   *
   * With GSO on, a run of consecutive datagrams to the same endpoint from the same source, all of
   * one length L but the last (which may be shorter), goes out as one sendmmsg entry whose iovecs
   * point at the run's slots, with a UDP_SEGMENT cmsg of L: the kernel splits it into the same
   * datagrams. Such a run is sent or refused as a whole.
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
    const lens = batch.lens;
    let sent = 0;
    let k = 0;
    let scanned = 0;
    while (k < n) {
      let m = 0; // datagram positions (iovecs) used
      let e = -1; // current entry (mmsghdr)
      let seg = 0; // the current entry's first length; 0 once it cannot grow
      let bytes = 0;
      let maxBytes = 0;
      let runDest: Endpoint | undefined;
      let runSrc: SourceAddress | undefined;
      for (; k < n && m < B; k++) {
        const dest = dests[k];
        if (!this.canReach(dest)) {
          if (k >= scanned) this.txUnreachable++;
          continue;
        }
        const slot = slots[k];
        const len = lens[slot];
        const src = srcs === undefined ? undefined : srcs[k];
        const iw = (this.txIovOff + m * IOV) >>> 2;
        putPtr(u, iw, base + batch.offs[slot]);
        u[iw + 2] = len;
        this.txK[m] = k;
        if (
          len <= seg &&
          len > 0 &&
          bytes + len <= maxBytes &&
          src === runSrc &&
          (dest === runDest || dest.key === runDest?.key)
        ) {
          // Joins the current run.
          const c = ++this.entCount[e];
          bytes += len;
          if (len < seg || c === GSO_MAX_SEGMENTS) seg = 0;
        } else {
          if (e >= 0) this.finishEntry(e);
          e++;
          const w = e << 4;
          putPtr(u, w + W_NAME, dest.sockaddr.addr);
          u[w + W_NAMELEN] = dest.sockaddrLen;
          putPtr(u, w + W_IOV, this.tx.addr + this.txIovOff + m * IOV);
          this.entFirst[e] = m;
          this.entCount[e] = 1;
          this.entSeg[e] = len;
          this.entDest[e] = dest;
          this.entSrc[e] = src;
          runDest = dest;
          runSrc = src;
          bytes = len;
          maxBytes = dest.family === 4 ? GSO_MAX_BYTES_V4 : GSO_MAX_BYTES_V6;
          seg = this.gsoSegment(len);
        }
        m++;
      }
      if (k > scanned) scanned = k;
      if (e < 0) break;
      this.finishEntry(e);
      sent += this.flush(e + 1);
      if (this.flushStop) break;
      if (this.flushResume >= 0) k = this.txK[this.flushResume];
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
    this.spill.clear();
  }

  /**
   * Runs the readable callback; if GRO datagrams still wait in the transport afterwards (the owner
   * stopped draining for fairness), runs it again from setImmediate: the socket itself may no
   * longer be readable, so poll would not call back for them.
   */
  private readable(): void {
    this.readableCb?.();
    if (this.spill.pending > 0 && !this.kickQueued && this.sock >= 0) {
      this.kickQueued = true;
      setImmediate(this.kick);
    }
  }

  private readonly kick = (): void => {
    this.kickQueued = false;
    if (this.sock >= 0 && this.spill.pending > 0) this.readable();
  };

  /**
   * One recvmmsg into slots [pos, pos + vlen) (mmsghdr i reads into slot i). Returns the entries
   * read, 0 when nothing is queued, -1 if the socket is unusable.
   */
  private recvInto(pos: number, vlen: number): number {
    const u = this.rx32;
    for (let i = pos; i < pos + vlen; i++) {
      const w = i << 4;
      u[w + W_NAMELEN] = NAME_SIZE;
      u[w + W_CONTROLLEN] = RX_CTRL;
      u[w + W_CONTROLLEN + 1] = 0;
    }
    for (let attempt = 0; attempt < 4; attempt++) {
      const n = recvmmsg(this.sock, this.rx.addr + pos * MMSG, vlen, MSG_DONTWAIT, 0);
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
   * Fills offs/lens and the address arrays for the n entries just read into slots [pos, pos + n),
   * splitting coalesced ones. Returns the next free slot.
   */
  private takeEntries(batch: PacketBatch, pos: number, n: number, S: number): number {
    const u = this.rx32;
    const { offs, lens } = batch;
    let total = 0;
    let most = 1;
    for (let i = 0; i < n; i++) {
      const e = pos + i;
      const w = e << 4;
      offs[e] = batch.dataStart(e);
      let len = 0;
      if ((u[w + W_FLAGS] & MSG_TRUNC) !== 0) this.rxTruncated++;
      else len = u[w + W_LEN];
      lens[e] = len;
      this.localFamily[e] = 0;
      this.localIfindex[e] = 0;
      const clen = u[w + W_CONTROLLEN];
      const seg = clen >= 16 ? this.readCmsgs(e, clen) : 0;
      const segs = seg > 0 && len > seg ? Math.ceil(len / seg) : 1;
      this.rxSeg[i] = segs > 1 ? seg : 0;
      this.rxSegs[i] = segs;
      total += segs;
      if (segs > most) most = segs;
    }
    this.groSegs = most;
    return total === n ? pos + n : this.split(batch, pos, n, total, S);
  }

  /**
   * Spreads the n entries in slots [pos, pos + n), `total` datagrams in all, over slots
   * [pos, pos + total) in order; the datagrams past slot S - 1 go to the spill. Walks backwards, so
   * that a slot is only written once the entry read into it has been moved out. Returns the next
   * free slot.
   */
  private split(batch: PacketBatch, pos: number, n: number, total: number, S: number): number {
    const { offs, lens } = batch;
    const buf = batch.mem.buf;
    const { rxSeg, rxSegs, spill } = this;
    const end = pos + total;
    let spillBytes = 0;
    if (end > S) {
      // Forward pass: how many bytes go to the spill.
      let t = pos;
      for (let i = 0; i < n; i++) {
        const segs = rxSegs[i];
        const seg = rxSeg[i];
        const len = lens[pos + i];
        for (let j = 0; j < segs; j++, t++) {
          if (t >= S) spillBytes += segs === 1 ? len : Math.min(seg, len - j * seg);
        }
      }
      spill.reset(end - S, spillBytes);
    }
    let t = end;
    let sb = spillBytes;
    for (let i = n - 1; i >= 0; i--) {
      const e = pos + i;
      const segs = rxSegs[i];
      const seg = rxSeg[i];
      const len = lens[e];
      const from = offs[e];
      const first = t - segs;
      if (t > S) {
        // Some of this entry's datagrams wait in the spill: keep its addresses there.
        this.saveAddrs(e, i);
      }
      for (let j = segs - 1; j >= 0; j--) {
        const to = first + j;
        const off = j * seg;
        const sl = segs === 1 ? len : Math.min(seg, len - off);
        if (to >= S) {
          sb -= sl;
          buf.copy(spill.mem, sb, from + off, from + off + sl);
          const q = to - S;
          spill.off[q] = sb;
          spill.len[q] = sl;
          spill.meta[q] = i;
        } else if (to !== e) {
          const d = batch.dataStart(to);
          buf.copyWithin(d, from + off, from + off + sl);
          offs[to] = d;
          lens[to] = sl;
          this.copyAddrs(e, to);
        } else {
          lens[e] = sl; // the first datagram stays where it was read
        }
      }
      if (segs > 1) this.rxGroSplits++;
      t = first;
    }
    return Math.min(end, S);
  }

  /** Hands out datagrams waiting in the spill into slots 0.. (up to S); returns how many. */
  private drainSpill(batch: PacketBatch, S: number): number {
    const spill = this.spill;
    const { offs, lens } = batch;
    const buf = batch.mem.buf;
    const max = batch.maxPacket;
    let pos = 0;
    while (pos < S && spill.head < spill.count) {
      const q = spill.head++;
      const m = spill.meta[q];
      const len = spill.len[q];
      const d = batch.dataStart(pos);
      offs[pos] = d;
      if (len <= max) {
        spill.mem.copy(buf, d, spill.off[q], spill.off[q] + len);
        lens[pos] = len;
      } else {
        lens[pos] = 0; // a smaller batch than the one it was received for
        this.rxTruncated++;
      }
      this.loadAddrs(m, pos);
      pos++;
    }
    if (spill.head === spill.count) spill.clear();
    return pos;
  }

  /** Copies slot a's source sockaddr, destination address, family and ifindex to slot b. */
  private copyAddrs(a: number, b: number): void {
    const u = this.rx32;
    const na = (this.rxNameOff + a * NAME_SIZE) >>> 2;
    const nb = (this.rxNameOff + b * NAME_SIZE) >>> 2;
    for (let j = 0; j < 7; j++) u[nb + j] = u[na + j];
    const la = (this.rxLocalOff + a * LOCAL) >>> 2;
    const lb = (this.rxLocalOff + b * LOCAL) >>> 2;
    for (let j = 0; j < 4; j++) u[lb + j] = u[la + j];
    this.localFamily[b] = this.localFamily[a];
    this.localIfindex[b] = this.localIfindex[a];
  }

  /** Keeps slot e's addresses as spill entry m. */
  private saveAddrs(e: number, m: number): void {
    const u = this.rx32;
    const a = this.spill.addrs;
    const s = m * SPILL_ADDR_WORDS;
    const n = (this.rxNameOff + e * NAME_SIZE) >>> 2;
    const l = (this.rxLocalOff + e * LOCAL) >>> 2;
    for (let j = 0; j < 7; j++) a[s + j] = u[n + j];
    for (let j = 0; j < 4; j++) a[s + 7 + j] = u[l + j];
    a[s + 11] = this.localIfindex[e];
    this.spill.family[m] = this.localFamily[e];
  }

  /** Gives slot pos the addresses of spill entry m. */
  private loadAddrs(m: number, pos: number): void {
    const u = this.rx32;
    const a = this.spill.addrs;
    const s = m * SPILL_ADDR_WORDS;
    const n = (this.rxNameOff + pos * NAME_SIZE) >>> 2;
    const l = (this.rxLocalOff + pos * LOCAL) >>> 2;
    for (let j = 0; j < 7; j++) u[n + j] = a[s + j];
    for (let j = 0; j < 4; j++) u[l + j] = a[s + 7 + j];
    this.localIfindex[pos] = a[s + 11];
    this.localFamily[pos] = this.spill.family[m];
  }

  /**
   * The GSO segment size a run starting with a `len`-byte datagram may use: `len`, or 0 if it must
   * go out plainly. A size above a learned limit is refused, and after GSO_REPROBE such refusals the
   * limit is forgotten (the path MTU may have grown), costing one refused send if it has not.
   */
  private gsoSegment(len: number): number {
    if (!this.gsoOn || len === 0) return 0;
    if (len <= this.gsoMaxSeg) return len;
    if (--this.gsoReprobe > 0) return 0;
    this.gsoMaxSeg = GSO_MAX_SEG;
    this.gsoReprobe = GSO_REPROBE;
    return len;
  }

  /** Writes TX entry e's iovec count and cmsgs (UDP_SEGMENT for a run, then the source address). */
  private finishEntry(e: number): void {
    const u = this.tx32;
    const w = e << 4;
    const count = this.entCount[e];
    u[w + W_IOVLEN] = count;
    const ctrl = this.txCtrlOff + e * TX_CTRL;
    let clen = 0;
    if (count > 1) {
      const cw = ctrl >>> 2;
      u[cw] = 18; // CMSG_LEN(sizeof(u16))
      u[cw + 1] = 0;
      u[cw + 2] = SOL_UDP;
      u[cw + 3] = UDP_SEGMENT;
      u[cw + 4] = this.entSeg[e]; // u16, little-endian, then padding
      u[cw + 5] = 0;
      clen = SEG_CMSG;
    } else {
      this.entSeg[e] = 0;
    }
    const src = this.entSrc[e];
    const dest = this.entDest[e];
    if (src !== undefined && dest !== undefined) clen += this.writeSource(ctrl + clen, src, dest);
    u[w + W_CONTROLLEN] = clen;
  }

  /**
   * sendmmsg of TX entries [0, E). Returns how many datagrams were sent. Sets `flushStop` if the
   * socket cannot take more (EAGAIN/ENOBUFS/fatal), and `flushResume` to the first datagram position
   * of a GSO entry the kernel refused as GSO: the caller builds the entries again from there, with
   * GSO now off or limited below that entry's segment size.
   */
  private flush(E: number): number {
    const u = this.tx32;
    const { entFirst, entCount, entSeg, txK, status } = this;
    this.flushStop = false;
    this.flushResume = -1;
    let i = 0;
    let sent = 0;
    let retried = -1;
    let spins = 0;
    while (i < E) {
      const r = sendmmsg(this.sock, this.tx.addr + i * MMSG, E - i, MSG_DONTWAIT);
      if (r > 0) {
        if (retried === i) {
          const src = this.entSrc[i];
          if (src !== undefined) this.onStaleSource?.(src);
        }
        for (let e = i; e < i + r; e++) {
          const first = entFirst[e];
          const count = entCount[e];
          for (let d = first; d < first + count; d++) status[txK[d]] = 1;
          sent += count;
          if (count > 1) this.txGsoSends++;
        }
        i += r;
        continue;
      }
      const e = r < 0 ? errno() : EAGAIN;
      this.lastErrno = e;
      if (e === EINTR && ++spins < 4) continue;
      if (e === EAGAIN || e === ENOBUFS || e === EBADF || e === ENOTSOCK || e === EFAULT || e === EINTR) {
        this.flushStop = true;
        return sent;
      }
      const w = i << 4;
      const segCmsg = entSeg[i] > 0 ? SEG_CMSG : 0;
      if (badSource(e) && u[w + W_CONTROLLEN] > segCmsg && retried !== i) {
        // The source address is no longer local: send it again letting routing choose (spec §5.3).
        // (The UDP_SEGMENT cmsg comes first, so dropping the source keeps it.)
        u[w + W_CONTROLLEN] = segCmsg;
        retried = i;
        continue;
      }
      if (segCmsg !== 0 && (e === EIO || e === EMSGSIZE || e === EINVAL)) {
        this.gsoRefused(e, entSeg[i]);
        this.flushResume = entFirst[i];
        return sent;
      }
      this.txErrors += entCount[i];
      i++;
    }
    return sent;
  }

  /**
   * The kernel refused a GSO send of segment size `seg`. EIO: the route cannot do UDP GSO (no
   * checksum offload, IPsec): GSO goes off. EMSGSIZE (EINVAL before Linux 6.x): the segment does not
   * fit the path MTU (it would need IP fragmentation, which GSO cannot do) or the run is too long for
   * this route: runs of that size go out plainly from now on (until re-probed).
   */
  private gsoRefused(e: number, seg: number): void {
    this.txGsoFallbacks++;
    if (e === EIO || seg - 1 < GSO_MIN_SEG) {
      this.gsoOn = false;
      return;
    }
    if (seg - 1 < this.gsoMaxSeg) this.gsoMaxSeg = seg - 1;
    this.gsoReprobe = GSO_REPROBE;
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

  /**
   * Points the RX iovecs at `batch`'s slots (once per batch object), and turns UDP GRO on or off to
   * match its slot size.
   */
  private bindRxBatch(batch: PacketBatch, vlen: number): void {
    const gro = this.groWanted && batch.maxPacket >= GRO_MIN_SLOT;
    if (gro !== this.groOn) {
      if (setsockoptInt(this.sock, SOL_UDP, UDP_GRO, gro ? 1 : 0) === 0) this.groOn = gro;
      else if (gro) this.groWanted = false; // no UDP_GRO (Linux < 5.0)
    }
    if (!this.groOn) this.groSegs = 1;
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

  /**
   * Walks slot i's cmsgs: records the destination address from IP_PKTINFO / IPV6_PKTINFO, and
   * returns the UDP_GRO segment size (0 if none: the slot holds one datagram).
   */
  private readCmsgs(i: number, clen: number): number {
    let seg = 0;
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
      } else if (level === SOL_UDP && type === UDP_GRO && len >= 20) {
        seg = u[w + 4];
      }
      p += (len + 7) & ~7;
    }
    return seg;
  }

  private readPort(): number {
    const sa = Buffer.alloc(32);
    const len = Buffer.alloc(4);
    len.writeUInt32LE(32, 0);
    return getsockname(this.sock, sa, len) === 0 ? sa.readUInt16BE(2) : 0;
  }
}
