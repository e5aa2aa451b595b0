/**
 * The Linux TUN device behind `TunDevice`: /dev/net/tun opened non-blocking, TUNSETIFF with
 * IFF_TUN | IFF_NO_PI, the MTU set through SIOCSIFMTU, readiness through `watchFd`. The link is left
 * down, as the kernel's ovpn device is after creation: users bring it up with `ip link set up`.
 *
 * The per-packet calls (`readBatch`, `writeBatch`) pass raw slab addresses to read()/write() and
 * allocate nothing.
 */
import type { PacketBatch } from '../batch/packet-batch.js';
import { type Errno, einval, OvpnError } from '../errors/ovpn-error.js';
import {
  AF_INET,
  close,
  EAGAIN,
  EINTR,
  errno,
  ifNameToIndex,
  ioctlPtr,
  libcOpen,
  O_CLOEXEC,
  O_NONBLOCK,
  O_RDWR,
  read,
  SOCK_CLOEXEC,
  SOCK_DGRAM,
  socket,
  strerror,
  write,
} from '../sys/libc.js';
import { type FdWatcher, watchFd } from '../sys/poll.js';
import type { TunDevice } from './tun.js';

/** Default MTU of an ovpn device: 1500 minus the 84 bytes of worst-case encapsulation overhead. */
export const TUN_DEFAULT_MTU = 1416;
export const TUN_MIN_MTU = 68;
export const TUN_MAX_MTU = 65451;

const IFNAMSIZ = 16;
const IFREQ_SIZE = 40;
const TUNSETIFF = 0x400454ca; // _IOW('T', 202, int)
const TUNSETCARRIER = 0x400454e2; // _IOW('T', 226, int)
const SIOCSIFMTU = 0x8922;
const IFF_TUN = 0x0001;
const IFF_NO_PI = 0x1000;
/** Fail with EBUSY instead of attaching when a device of that name already exists. */
const IFF_TUN_EXCL = 0x8000;

const EPERM = 1;
const ENOENT = 2;
const EACCES = 13;
const EBUSY = 16;
const EEXIST = 17;
const ENODEV = 19;
const EINVAL = 22;
const ENOMEM = 12;

export interface TunOptions {
  /** 68..65451, default 1416. */
  mtu?: number;
}

function sysError(what: string, e: number, name: string): OvpnError {
  let code: Errno = 'EIO';
  if (e === EPERM || e === EACCES) code = 'EPERM';
  else if (e === EBUSY || e === EEXIST) code = 'EEXIST';
  else if (e === EINVAL) code = 'EINVAL';
  else if (e === ENOMEM) code = 'ENOMEM';
  else if (e === ENOENT || e === ENODEV) code = 'ENODEV';
  const detail = code === 'EEXIST' ? 'the name is already in use' : strerror(e);
  return new OvpnError(code, `${what} for '${name}' failed: ${detail}`, 'ifname');
}

function validateName(name: string): void {
  const bytes = Buffer.byteLength(name, 'utf8');
  if (bytes === 0 || bytes >= IFNAMSIZ) throw einval(`interface name must be 1..15 bytes long`, 'ifname');
  if (name === '.' || name === '..' || /[/:\s\0]/.test(name))
    throw einval(`invalid interface name '${name}'`, 'ifname');
}

function ifreq(name: string): Buffer {
  const ifr = Buffer.alloc(IFREQ_SIZE);
  ifr.write(name, 0, IFNAMSIZ - 1, 'utf8');
  return ifr;
}

function setMtu(name: string, mtu: number): void {
  const s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (s < 0) throw sysError('socket(AF_INET)', errno(), name);
  const ifr = ifreq(name);
  ifr.writeInt32LE(mtu, IFNAMSIZ);
  const rc = ioctlPtr(s, SIOCSIFMTU, ifr);
  const e = errno();
  close(s);
  if (rc < 0) throw sysError(`SIOCSIFMTU ${mtu}`, e, name);
}

class LinuxTun implements TunDevice {
  private closed = false;
  private watcher: FdWatcher | undefined;
  private readableCb: (() => void) | undefined;
  private readonly carrierArg = Buffer.alloc(4);

  constructor(
    readonly name: string,
    readonly ifindex: number,
    readonly fd: number,
  ) {}

  readBatch(batch: PacketBatch): number {
    let n = 0;
    if (this.closed) {
      batch.count = 0;
      return -1;
    }
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
      batch.offs[n] = off;
      batch.lens[n] = r;
      n++;
    }
    batch.count = n;
    return n;
  }

  writeBatch(batch: PacketBatch, slots: Uint16Array, n: number): number {
    if (this.closed) return 0;
    const base = batch.mem.addr;
    let written = 0;
    for (let i = 0; i < n; i++) {
      const s = slots[i];
      let r = write(this.fd, base + batch.offs[s], batch.lens[s]);
      if (r < 0 && errno() === EINTR) r = write(this.fd, base + batch.offs[s], batch.lens[s]);
      if (r >= 0) written++;
    }
    return written;
  }

  setCarrier(on: boolean): void {
    if (this.closed) return;
    this.carrierArg.writeInt32LE(on ? 1 : 0, 0);
    if (ioctlPtr(this.fd, TUNSETCARRIER, this.carrierArg) < 0)
      throw sysError('TUNSETCARRIER', errno(), this.name);
  }

  onReadable(cb: () => void): void {
    if (this.closed) return;
    this.readableCb = cb;
    if (this.watcher) return;
    this.watcher = watchFd(this.fd, { readable: true, writable: false }, (ev) => {
      if (ev.readable && !this.closed) this.readableCb?.();
    });
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.watcher?.close();
    this.watcher = undefined;
    this.readableCb = undefined;
    close(this.fd);
  }
}

/**
 * Creates the TUN interface `name` (a `%d` in it lets the kernel pick a number; the final name is
 * `device.name`). Throws `OvpnError`: EINVAL for a bad name or MTU, EEXIST when the name is already
 * taken by any interface, EPERM without CAP_NET_ADMIN.
 */
export function createTun(name: string, opts: TunOptions = {}): TunDevice {
  validateName(name);
  const mtu = opts.mtu ?? TUN_DEFAULT_MTU;
  if (!Number.isInteger(mtu) || mtu < TUN_MIN_MTU || mtu > TUN_MAX_MTU)
    throw einval(`MTU ${mtu} out of range ${TUN_MIN_MTU}..${TUN_MAX_MTU}`, 'mtu');

  const fd = libcOpen('/dev/net/tun', O_RDWR | O_NONBLOCK | O_CLOEXEC, 0);
  if (fd < 0) throw sysError('open /dev/net/tun', errno(), name);
  try {
    const ifr = ifreq(name);
    ifr.writeUInt16LE(IFF_TUN | IFF_NO_PI | IFF_TUN_EXCL, IFNAMSIZ);
    if (ioctlPtr(fd, TUNSETIFF, ifr) < 0) throw sysError('TUNSETIFF', errno(), name);
    const end = ifr.indexOf(0);
    const actual = ifr.toString('utf8', 0, end < 0 || end > IFNAMSIZ ? IFNAMSIZ : end);
    const ifindex = ifNameToIndex(actual);
    if (ifindex === 0) throw sysError('if_nametoindex', errno(), actual);
    setMtu(actual, mtu);
    return new LinuxTun(actual, ifindex, fd);
  } catch (err) {
    close(fd);
    throw err;
  }
}
