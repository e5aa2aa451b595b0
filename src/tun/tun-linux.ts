/**
 * The Linux TUN device behind `TunDevice`: /dev/net/tun opened non-blocking, TUNSETIFF with
 * IFF_TUN | IFF_NO_PI, the MTU set through SIOCSIFMTU, readiness through `watchFd`. The link is left
 * down, as the kernel's ovpn device is after creation: users bring it up with `ip link set up`.
 *
 * Two I/O modes (`offload` says which one is in use):
 *
 * - Offload (the default): IFF_VNET_HDR, TUNSETVNETHDRSZ 10 and TUNSETOFFLOAD(CSUM | TSO4 | TSO6, plus
 *   USO4 | USO6 when the kernel takes them, Linux >= 6.2). The kernel then hands us TCP (and UDP)
 *   super-packets of up to 64 KiB with partial checksums: one read() yields a whole TSO burst, which
 *   `GsoSplitter` cuts into MTU-sized, fully checksummed packets, one per batch slot. On the way in,
 *   `TcpGro` merges the consecutive TCP segments of a flow in one `writeBatch` into one super-packet
 *   written with a single writev() (virtio header, first segment, the other segments' payloads: no
 *   copy). Reads and writes per packet drop by 10-40x for bulk TCP.
 * - Plain (fallback when any offload ioctl fails, `createTun(name, { offload: false })`, or the
 *   device option `offloads.tun: false` for A/B measurements): one read()/write() per packet.
 *
 * Either way `readBatch` returns plain IP packets of at most one MTU and `writeBatch` takes plain IP
 * packets. The per-packet calls pass raw slab addresses to read()/write()/writev() and allocate nothing.
 */
import type { PacketBatch } from '../batch/packet-batch.js';
import { type Errno, einval, type OvpnError } from '../errors/ovpn-error.js';
import { allocPinned, type PinnedBuffer, putPtr } from '../sys/address.js';
import { sysError } from '../sys/errno.js';
import { IFNAMSIZ, ifnameProblem } from '../sys/ifname.js';
import {
  AF_INET,
  close,
  EAGAIN,
  EINTR,
  errno,
  ifNameToIndex,
  ioctlInt,
  ioctlPtr,
  libcOpen,
  O_CLOEXEC,
  O_NONBLOCK,
  O_RDWR,
  read,
  SOCK_CLOEXEC,
  SOCK_DGRAM,
  socket,
  write,
  writev,
} from '../sys/libc.js';
import { type FdWatcher, watchFd } from '../sys/poll.js';
import { TcpGro } from './gro.js';
import { GsoSplitter } from './gso-split.js';
import type { TunDevice } from './tun.js';
import { VIRTIO_NET_HDR_LEN } from './virtio-hdr.js';

/** Default MTU of an ovpn device: 1500 minus the 84 bytes of worst-case encapsulation overhead. */
export const TUN_DEFAULT_MTU = 1416;
export const TUN_MIN_MTU = 68;
export const TUN_MAX_MTU = 65451;

const IFREQ_SIZE = 40;
const TUNSETIFF = 0x400454ca; // _IOW('T', 202, int)
const TUNSETOFFLOAD = 0x400454d0; // _IOW('T', 208, unsigned int)
const TUNSETVNETHDRSZ = 0x400454d8; // _IOW('T', 216, int)
const TUNSETCARRIER = 0x400454e2; // _IOW('T', 226, int)
const SIOCSIFMTU = 0x8922;
const IFF_TUN = 0x0001;
const IFF_NO_PI = 0x1000;
const IFF_VNET_HDR = 0x4000;
/** Fail with EBUSY instead of attaching when a device of that name already exists. */
const IFF_TUN_EXCL = 0x8000;
const TUN_F_CSUM = 0x01;
const TUN_F_TSO4 = 0x02;
const TUN_F_TSO6 = 0x04;
const TUN_F_USO4 = 0x20;
const TUN_F_USO6 = 0x40;

export interface TunOptions {
  /** 68..65451, default 1416. */
  mtu?: number;
  /**
   * Use IFF_VNET_HDR with TSO/USO reads and GRO writes (falls back to plain I/O if the kernel refuses).
   * Default: true.
   */
  offload?: boolean;
}

/** Syscall and packet counters of a TUN device (monotonic, for tests and statistics). */
export interface TunIoStats {
  /** read() calls that returned data. */
  reads: number;
  /** write()/writev() calls that succeeded. */
  writes: number;
  /** Packets delivered by readBatch. */
  packetsIn: number;
  /** Packets accepted by writeBatch (a merged write counts all its members). */
  packetsOut: number;
  /** Super-packets read (TSO/USO) and written (GRO). */
  superIn: number;
  superOut: number;
  /** Reads dropped as malformed or too large for a slot. */
  readDrops: number;
  /** Writes the kernel refused. */
  writeErrors: number;
}

/** The Linux TUN device: a `TunDevice` that also tells its I/O mode and counters. */
export interface LinuxTunDevice extends TunDevice {
  /** True with IFF_VNET_HDR + TSO/GRO, false for one packet per read()/write(). */
  readonly offload: boolean;
  /** True when UDP segmentation offload (USO4/USO6) was accepted too. */
  readonly uso: boolean;
  readonly stats: TunIoStats;
}

/** A failed TUN syscall: a name held by any interface is EEXIST, a missing device ENODEV. */
function tunError(what: string, e: number, name: string): OvpnError {
  return sysError(`${what} for '${name}'`, e, 'ifname', TUN_ERRNO);
}

const TUN_ERRNO: Readonly<Record<string, Errno>> = {
  EBUSY: 'EEXIST',
  EEXIST: 'EEXIST',
  ENOENT: 'ENODEV',
  ENODEV: 'ENODEV',
};

function validateName(name: string): void {
  const problem = ifnameProblem(name);
  if (problem !== undefined) throw einval(`${problem}: '${name}'`, 'ifname');
}

function ifreq(name: string): Buffer {
  const ifr = Buffer.alloc(IFREQ_SIZE);
  ifr.write(name, 0, IFNAMSIZ - 1, 'utf8');
  return ifr;
}

function setMtu(name: string, mtu: number): void {
  const s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (s < 0) throw tunError('socket(AF_INET)', errno(), name);
  const ifr = ifreq(name);
  ifr.writeInt32LE(mtu, IFNAMSIZ);
  const rc = ioctlPtr(s, SIOCSIFMTU, ifr);
  const e = errno();
  close(s);
  if (rc < 0) throw tunError(`SIOCSIFMTU ${mtu}`, e, name);
}

/** What TUNSETOFFLOAD accepted: 0 nothing (use plain I/O), 1 TCP offloads, 2 TCP and UDP offloads. */
function setupOffload(fd: number): 0 | 1 | 2 {
  const size = Buffer.alloc(4);
  size.writeInt32LE(VIRTIO_NET_HDR_LEN, 0);
  if (ioctlPtr(fd, TUNSETVNETHDRSZ, size) < 0) return 0;
  const tcp = TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO6;
  if (ioctlInt(fd, TUNSETOFFLOAD, tcp | TUN_F_USO4 | TUN_F_USO6) === 0) return 2;
  return ioctlInt(fd, TUNSETOFFLOAD, tcp) === 0 ? 1 : 0;
}

/** Header scratch (16 bytes) then the iovec array, in one pinned allocation. */
const IOV_BASE = 16;
const IOVEC_SIZE = 16;

class LinuxTun implements LinuxTunDevice {
  readonly stats: TunIoStats = {
    reads: 0,
    writes: 0,
    packetsIn: 0,
    packetsOut: 0,
    superIn: 0,
    superOut: 0,
    readDrops: 0,
    writeErrors: 0,
  };
  private closed = false;
  private watcher: FdWatcher | undefined;
  private readableCb: (() => void) | undefined;
  private readonly carrierArg = Buffer.alloc(4);
  private readonly splitter: GsoSplitter | undefined;
  private readonly gro: TcpGro | undefined;
  private iovMem: PinnedBuffer | undefined;
  private iov32: Uint32Array = new Uint32Array(0);
  private iovCap = 0;
  /** Re-runs the readable callback when segments are left pending after it returned. */
  private readonly kick = (): void => {
    this.kickQueued = false;
    const split = this.splitter;
    if (this.closed || split === undefined || !split.pending) return;
    const before = this.stats.packetsIn;
    this.readableCb?.();
    // Only while the reader makes progress: one that stopped reading waits for the next readiness.
    if (this.stats.packetsIn !== before) this.kickIfPending();
  };
  private kickQueued = false;

  constructor(
    readonly name: string,
    readonly ifindex: number,
    readonly fd: number,
    readonly offload: boolean,
    readonly uso: boolean,
  ) {
    if (offload) {
      this.splitter = new GsoSplitter();
      this.gro = new TcpGro(64);
      this.growIov(64);
    }
  }

  readBatch(batch: PacketBatch): number {
    if (this.closed) {
      batch.count = 0;
      return -1;
    }
    const n = this.splitter === undefined ? this.readPlain(batch) : this.readOffload(batch, this.splitter);
    if (n > 0) this.stats.packetsIn += n;
    return n;
  }

  private readPlain(batch: PacketBatch): number {
    let n = 0;
    const base = batch.mem.addr;
    const max = batch.maxPacket;
    while (n < batch.size) {
      const off = batch.dataStart(n);
      const r = read(this.fd, base + off, max);
      if (r < 0) {
        const e = errno();
        if (e === EINTR) continue;
        if (e === EAGAIN) break;
        batch.count = n;
        return n > 0 ? n : -1;
      }
      this.stats.reads++;
      batch.offs[n] = off;
      batch.lens[n] = r;
      n++;
    }
    batch.count = n;
    return n;
  }

  private readOffload(batch: PacketBatch, split: GsoSplitter): number {
    let n = 0;
    if (split.pending) n = split.emit(batch, 0);
    while (n < batch.size) {
      const r = read(this.fd, split.readAddr, split.readCapacity);
      if (r < 0) {
        const e = errno();
        if (e === EINTR) continue;
        if (e === EAGAIN) break;
        batch.count = n;
        return n > 0 ? n : -1;
      }
      this.stats.reads++;
      const segs = split.accept(r);
      if (segs === 0) {
        this.stats.readDrops++;
        continue;
      }
      if (split.isSuper) this.stats.superIn++;
      const got = split.emit(batch, n);
      if (got === 0) this.stats.readDrops++;
      n += got;
      if (split.pending) break;
    }
    batch.count = n;
    return n;
  }

  writeBatch(batch: PacketBatch, slots: Uint16Array, n: number, status: Uint8Array): number {
    status.fill(0, 0, n);
    if (this.closed) return 0;
    const gro = this.gro;
    if (gro === undefined) return this.writePlain(batch, slots, n, status);
    const buf = batch.mem.buf;
    const base = batch.mem.addr;
    const offs = batch.offs;
    const lens = batch.lens;
    if (n + 2 > this.iovCap) this.growIov(n + 2);
    gro.plan(buf, offs, lens, slots, n);
    const mem = this.iovMem!;
    const iov = this.iov32;
    const iovAddr = mem.addr + IOV_BASE;
    let written = 0;
    for (let p = 0; p < n; p++) {
      if (gro.isMember(p)) continue;
      const s = slots[p];
      gro.writeHeader(p, buf, offs, slots, mem.buf, 0);
      setIov(iov, 0, mem.addr, VIRTIO_NET_HDR_LEN);
      setIov(iov, 1, base + offs[s], lens[s]);
      let k = 2;
      const count = gro.memberCount(p);
      if (count > 1) {
        const hl = gro.headerLength(p);
        for (let m = gro.nextMember(p); m >= 0; m = gro.nextMember(m)) {
          const sm = slots[m];
          setIov(iov, k++, base + offs[sm] + hl, lens[sm] - hl);
        }
      }
      let r = writev(this.fd, iovAddr, k);
      if (r < 0 && errno() === EINTR) r = writev(this.fd, iovAddr, k);
      // A refused super-packet loses all its segments (TCP retransmits them); none has been seen.
      if (r >= 0) {
        written += count;
        status[p] = 1;
        if (count > 1) for (let m = gro.nextMember(p); m >= 0; m = gro.nextMember(m)) status[m] = 1;
        this.stats.writes++;
        if (count > 1) this.stats.superOut++;
      } else this.stats.writeErrors++;
    }
    this.stats.packetsOut += written;
    return written;
  }

  private writePlain(batch: PacketBatch, slots: Uint16Array, n: number, status: Uint8Array): number {
    const base = batch.mem.addr;
    let written = 0;
    for (let i = 0; i < n; i++) {
      const s = slots[i];
      let r = write(this.fd, base + batch.offs[s], batch.lens[s]);
      if (r < 0 && errno() === EINTR) r = write(this.fd, base + batch.offs[s], batch.lens[s]);
      if (r >= 0) {
        written++;
        status[i] = 1;
      } else this.stats.writeErrors++;
    }
    this.stats.writes += written;
    this.stats.packetsOut += written;
    return written;
  }

  private growIov(count: number): void {
    const cap = Math.max(count, this.iovCap * 2);
    this.iovMem = allocPinned(IOV_BASE + cap * IOVEC_SIZE);
    this.iov32 = new Uint32Array(this.iovMem.buf.buffer, this.iovMem.buf.byteOffset + IOV_BASE, cap * 4);
    this.iovCap = cap;
  }

  setCarrier(on: boolean): void {
    if (this.closed) return;
    this.carrierArg.writeInt32LE(on ? 1 : 0, 0);
    if (ioctlPtr(this.fd, TUNSETCARRIER, this.carrierArg) < 0)
      throw tunError('TUNSETCARRIER', errno(), this.name);
  }

  onReadable(cb: () => void): void {
    if (this.closed) return;
    this.readableCb = cb;
    if (this.watcher) return;
    this.watcher = watchFd(this.fd, { readable: true, writable: false }, (ev) => {
      if (ev.readable && !this.closed) {
        this.readableCb?.();
        this.kickIfPending();
      }
    });
  }

  /**
   * Segments left pending (the reader's batch filled up) wait in user space where epoll cannot see
   * them: call the reader again on the next turn of the event loop until they are delivered.
   */
  private kickIfPending(): void {
    if (this.kickQueued || this.closed || !this.splitter?.pending || this.readableCb === undefined) return;
    this.kickQueued = true;
    setImmediate(this.kick);
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.watcher?.close();
    this.watcher = undefined;
    this.readableCb = undefined;
    this.splitter?.clear();
    close(this.fd);
  }
}

function setIov(iov: Uint32Array, k: number, addr: number, len: number): void {
  const i = k * 4;
  putPtr(iov, i, addr);
  iov[i + 2] = len;
  iov[i + 3] = 0;
}

/**
 * Creates the TUN interface `name` (a `%d` in it lets the kernel pick a number; the final name is
 * `device.name`). Throws `OvpnError`: EINVAL for a bad name or MTU, EEXIST when the name is already
 * taken by any interface, EPERM without CAP_NET_ADMIN.
 */
export function createTun(name: string, opts: TunOptions = {}): LinuxTunDevice {
  validateName(name);
  const mtu = opts.mtu ?? TUN_DEFAULT_MTU;
  if (!Number.isInteger(mtu) || mtu < TUN_MIN_MTU || mtu > TUN_MAX_MTU)
    throw einval(`MTU ${mtu} out of range ${TUN_MIN_MTU}..${TUN_MAX_MTU}`, 'mtu');
  const wantOffload = opts.offload ?? true;

  let fd = libcOpen('/dev/net/tun', O_RDWR | O_NONBLOCK | O_CLOEXEC, 0);
  if (fd < 0) throw tunError('open /dev/net/tun', errno(), name);
  try {
    if (wantOffload) {
      const ifr = ifreq(name);
      ifr.writeUInt16LE(IFF_TUN | IFF_NO_PI | IFF_VNET_HDR | IFF_TUN_EXCL, IFNAMSIZ);
      if (ioctlPtr(fd, TUNSETIFF, ifr) === 0) {
        const mode = setupOffload(fd);
        if (mode > 0) return finish(fd, ifr, mtu, true, mode === 2);
      }
      // No vnet header or offloads: closing the fd removes the half-made device; start over plainly.
      close(fd);
      fd = libcOpen('/dev/net/tun', O_RDWR | O_NONBLOCK | O_CLOEXEC, 0);
      if (fd < 0) throw tunError('open /dev/net/tun', errno(), name);
    }
    const ifr = ifreq(name);
    ifr.writeUInt16LE(IFF_TUN | IFF_NO_PI | IFF_TUN_EXCL, IFNAMSIZ);
    if (ioctlPtr(fd, TUNSETIFF, ifr) < 0) throw tunError('TUNSETIFF', errno(), name);
    return finish(fd, ifr, mtu, false, false);
  } catch (err) {
    close(fd);
    throw err;
  }
}

function finish(fd: number, ifr: Buffer, mtu: number, offload: boolean, uso: boolean): LinuxTun {
  const end = ifr.indexOf(0);
  const actual = ifr.toString('utf8', 0, end < 0 || end > IFNAMSIZ ? IFNAMSIZ : end);
  const ifindex = ifNameToIndex(actual);
  if (ifindex === 0) throw tunError('if_nametoindex', errno(), actual);
  setMtu(actual, mtu);
  return new LinuxTun(actual, ifindex, fd, offload, uso);
}
