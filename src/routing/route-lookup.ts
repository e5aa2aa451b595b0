/**
 * The next-hop lookup of an MP device (spec §4.4 TX peer selection, §4.5 RPF): ask the kernel's
 * routing table of the process's network namespace which route it would use towards an address, and
 * take that route's gateway if it has one, else the address itself.
 *
 * A miss asks rtnetlink with RTM_GETROUTE on a non-blocking socket. rtnetlink handles the request
 * inside sendto(), so the answer is already queued when sendto() returns and one non-blocking recv()
 * reads it. Answers (including "no route") are cached in open-addressing tables of typed arrays, so a
 * hit costs a hash probe and allocates nothing, for IPv6 too. A second netlink socket subscribed to
 * the route, address and link groups is watched on the event loop; any change drops the whole cache
 * (O(1): the tables' generation is bumped).
 *
 * When the kernel's answer cannot be read (socket overrun, closed socket), the lookup falls back to
 * the address itself, uncached, as the kernel's ovpn does when its route lookup fails.
 */
import { OvpnError } from '../errors/ovpn-error.js';
import { allocPinned, type PinnedBuffer } from '../sys/address.js';
import {
  AF_INET,
  AF_INET6,
  AF_NETLINK,
  bind,
  close,
  EINTR,
  ENOBUFS,
  errno,
  MSG_DONTWAIT,
  MSG_TRUNC,
  recv,
  SO_RCVBUF,
  SOCK_CLOEXEC,
  SOCK_NONBLOCK,
  SOCK_RAW,
  SOL_SOCKET,
  sendto,
  setsockoptInt,
  socket,
  strerror,
} from '../sys/libc.js';
import { type FdWatcher, watchFd } from '../sys/poll.js';
import {
  countRoutingChanges,
  encodeGetRoute4,
  encodeGetRoute6,
  NETLINK_ADD_MEMBERSHIP,
  NETLINK_ROUTE,
  parseRouteReply,
  ROUTE_GATEWAY,
  ROUTE_NONE,
  RouteReply,
  RTNLGRP_IPV4_IFADDR,
  RTNLGRP_IPV4_ROUTE,
  RTNLGRP_IPV6_IFADDR,
  RTNLGRP_IPV6_ROUTE,
  RTNLGRP_LINK,
  SOL_NETLINK,
} from './rtnetlink.js';

const RX_SIZE = 16384;
const MONITOR_SIZE = 32768;

export interface RouteLookupOptions {
  /** Cached answers per family before the cache is emptied and refilled (default 4096). */
  maxEntries?: number;
}

/** Counters of a `RouteLookup`, for tests and statistics. */
export interface RouteLookupStats {
  hits: number;
  misses: number;
  /** Times the cache was dropped because routes, addresses or links changed. */
  invalidations: number;
  /** Misses whose kernel answer could not be read (answered with the address itself, uncached). */
  failures: number;
  /** Cached IPv4 and IPv6 answers. */
  entries4: number;
  entries6: number;
}

/**
 * A cache keyed by 1 or 4 int32 words, with 1 or 4 words of value and a found flag per slot. Linear
 * probing; a slot is valid only when its generation is the table's, so clearing is O(1).
 */
class AddrTable {
  readonly keys: Int32Array;
  readonly vals: Int32Array;
  readonly found: Uint8Array;
  private readonly gens: Uint32Array;
  private readonly mask: number;
  private gen = 1;
  size = 0;

  constructor(
    private readonly words: number,
    readonly maxEntries: number,
  ) {
    let cap = 16;
    while (cap < maxEntries * 2) cap *= 2;
    this.mask = cap - 1;
    this.keys = new Int32Array(cap * words);
    this.vals = new Int32Array(cap * words);
    this.found = new Uint8Array(cap);
    this.gens = new Uint32Array(cap);
  }

  /** The slot holding the key, or `-(free slot) - 1` where it would be inserted. */
  probe(k0: number, k1: number, k2: number, k3: number): number {
    let h = Math.imul(
      k0 ^ Math.imul(k1, 0x9e3779b1) ^ Math.imul(k2, 0x85ebca6b) ^ Math.imul(k3, 0xc2b2ae35),
      0x27d4eb2f,
    );
    h ^= h >>> 15;
    const w = this.words;
    for (let i = h & this.mask; ; i = (i + 1) & this.mask) {
      if (this.gens[i] !== this.gen) return -i - 1;
      const b = i * w;
      if (
        this.keys[b] === k0 &&
        (w === 1 || (this.keys[b + 1] === k1 && this.keys[b + 2] === k2 && this.keys[b + 3] === k3))
      )
        return i;
    }
  }

  /** Claims a slot for a key known to be absent; `freeSlot` is what `probe` returned. */
  insert(freeSlot: number, k0: number, k1: number, k2: number, k3: number): number {
    let slot = -freeSlot - 1;
    if (this.size >= this.maxEntries) {
      this.clear();
      slot = -this.probe(k0, k1, k2, k3) - 1;
    }
    this.gens[slot] = this.gen;
    const b = slot * this.words;
    this.keys[b] = k0;
    if (this.words === 4) {
      this.keys[b + 1] = k1;
      this.keys[b + 2] = k2;
      this.keys[b + 3] = k3;
    }
    this.size++;
    return slot;
  }

  clear(): void {
    this.size = 0;
    this.gen = (this.gen + 1) >>> 0;
    if (this.gen === 0) {
      this.gens.fill(0);
      this.gen = 1;
    }
  }
}

/** Big-endian int32 at `o` (plain byte reads: cheaper than Buffer.readInt32BE on the hit path). */
function rd32(b: Buffer, o: number): number {
  return (b[o] << 24) | (b[o + 1] << 16) | (b[o + 2] << 8) | b[o + 3];
}

function wr32(b: Buffer, o: number, v: number): void {
  b[o] = v >>> 24;
  b[o + 1] = v >>> 16;
  b[o + 2] = v >>> 8;
  b[o + 3] = v;
}

function nlError(what: string): OvpnError {
  const e = errno();
  return new OvpnError(e === 1 || e === 13 ? 'EPERM' : 'EIO', `rtnetlink ${what} failed: ${strerror(e)}`);
}

/**
 * A non-blocking NETLINK_ROUTE socket, bound so that the kernel gives it a port id: an unbound
 * socket has port id 0, which multicast notifications sent on behalf of the kernel exclude.
 */
function openNetlink(): number {
  const fd = socket(AF_NETLINK, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, NETLINK_ROUTE);
  if (fd < 0) throw nlError('socket');
  const sa = Buffer.alloc(12); // sockaddr_nl: family u16, pad u16, pid u32 (0: kernel picks), groups u32
  sa.writeUInt16LE(AF_NETLINK, 0);
  if (bind(fd, sa, sa.length) !== 0) {
    const err = nlError('bind');
    close(fd);
    throw err;
  }
  return fd;
}

export class RouteLookup {
  private readonly fd: number;
  private readonly monitorFd: number;
  private readonly watcher: FdWatcher;
  private readonly tx: PinnedBuffer;
  private readonly rx: PinnedBuffer;
  private readonly mon: PinnedBuffer;
  private readonly reply = new RouteReply();
  private readonly t4: AddrTable;
  private readonly t6: AddrTable;
  private seq = 0;
  private closed = false;
  private nHits = 0;
  private nMisses = 0;
  private nInvalidations = 0;
  private nFailures = 0;

  constructor(opts: RouteLookupOptions = {}) {
    const max = opts.maxEntries ?? 4096;
    if (!Number.isInteger(max) || max < 1 || max > 1 << 20)
      throw new OvpnError('EINVAL', `maxEntries ${max} out of range 1..1048576`);
    this.t4 = new AddrTable(1, max);
    this.t6 = new AddrTable(4, max);
    this.tx = allocPinned(4096);
    this.rx = allocPinned(RX_SIZE);
    this.mon = allocPinned(MONITOR_SIZE);
    // The monitor exists before the first answer is cached, so no change can be missed.
    this.monitorFd = openNetlink();
    try {
      setsockoptInt(this.monitorFd, SOL_SOCKET, SO_RCVBUF, 1 << 20);
      for (const g of [
        RTNLGRP_IPV4_ROUTE,
        RTNLGRP_IPV6_ROUTE,
        RTNLGRP_IPV4_IFADDR,
        RTNLGRP_IPV6_IFADDR,
        RTNLGRP_LINK,
      ]) {
        if (setsockoptInt(this.monitorFd, SOL_NETLINK, NETLINK_ADD_MEMBERSHIP, g) !== 0)
          throw nlError(`membership of group ${g}`);
      }
      this.fd = openNetlink();
    } catch (err) {
      close(this.monitorFd);
      throw err;
    }
    try {
      this.watcher = watchFd(this.monitorFd, { readable: true, writable: false }, () => this.drainMonitor());
    } catch (err) {
      close(this.fd);
      close(this.monitorFd);
      throw err;
    }
  }

  /**
   * Next hop towards the IPv4 address `dst` (a uint32): the gateway of the kernel's route to `dst`,
   * or `dst` when the route has none; 0 when there is no usable route.
   */
  nextHop4(dst: number): number {
    const k = dst | 0;
    const p = this.t4.probe(k, 0, 0, 0);
    if (p >= 0) {
      this.nHits++;
      return this.t4.vals[p] >>> 0;
    }
    this.nMisses++;
    if (this.closed) return 0;
    const len = encodeGetRoute4(this.tx.buf, 0, this.nextSeq(), dst);
    if (!this.query(len, AF_INET)) {
      this.nFailures++;
      return dst >>> 0;
    }
    const r = this.reply;
    let hop = dst | 0;
    if (r.kind === ROUTE_NONE) hop = 0;
    else if (r.kind === ROUTE_GATEWAY && r.gatewayFamily === AF_INET)
      hop = this.rx.buf.readInt32BE(r.gatewayOff);
    const slot = this.t4.insert(p, k, 0, 0, 0);
    this.t4.vals[slot] = hop;
    this.t4.found[slot] = hop === 0 ? 0 : 1;
    return hop >>> 0;
  }

  /**
   * Next hop towards the IPv6 address `dst[dstOff..+16)`, written to `out[outOff..+16)`: the gateway
   * of the kernel's route, or the address itself. Returns false (writing nothing) when there is no
   * usable route. `out` may be `dst`.
   */
  nextHop6(dst: Buffer, dstOff: number, out: Buffer, outOff: number): boolean {
    const k0 = rd32(dst, dstOff);
    const k1 = rd32(dst, dstOff + 4);
    const k2 = rd32(dst, dstOff + 8);
    const k3 = rd32(dst, dstOff + 12);
    const t = this.t6;
    const p = t.probe(k0, k1, k2, k3);
    if (p >= 0) {
      this.nHits++;
      if (t.found[p] === 0) return false;
      const b = p * 4;
      wr32(out, outOff, t.vals[b]);
      wr32(out, outOff + 4, t.vals[b + 1]);
      wr32(out, outOff + 8, t.vals[b + 2]);
      wr32(out, outOff + 12, t.vals[b + 3]);
      return true;
    }
    this.nMisses++;
    if (this.closed) return false;
    const len = encodeGetRoute6(this.tx.buf, 0, this.nextSeq(), dst, dstOff);
    if (!this.query(len, AF_INET6)) {
      this.nFailures++;
      if (out !== dst || outOff !== dstOff) dst.copy(out, outOff, dstOff, dstOff + 16);
      return true;
    }
    const r = this.reply;
    const slot = t.insert(p, k0, k1, k2, k3);
    const b = slot * 4;
    if (r.kind === ROUTE_NONE) {
      t.found[slot] = 0;
      return false;
    }
    t.found[slot] = 1;
    if (r.kind === ROUTE_GATEWAY && r.gatewayFamily === AF_INET6) {
      const g = this.rx.buf;
      const o = r.gatewayOff;
      t.vals[b] = g.readInt32BE(o);
      t.vals[b + 1] = g.readInt32BE(o + 4);
      t.vals[b + 2] = g.readInt32BE(o + 8);
      t.vals[b + 3] = g.readInt32BE(o + 12);
    } else {
      t.vals[b] = k0;
      t.vals[b + 1] = k1;
      t.vals[b + 2] = k2;
      t.vals[b + 3] = k3;
    }
    wr32(out, outOff, t.vals[b]);
    wr32(out, outOff + 4, t.vals[b + 1]);
    wr32(out, outOff + 8, t.vals[b + 2]);
    wr32(out, outOff + 12, t.vals[b + 3]);
    return true;
  }

  /** Drops every cached answer (done automatically when routes, addresses or links change). */
  invalidate(): void {
    this.t4.clear();
    this.t6.clear();
    this.nInvalidations++;
  }

  get hits(): number {
    return this.nHits;
  }

  get misses(): number {
    return this.nMisses;
  }

  /** A snapshot of the counters (allocates; not for the data path). */
  stats(): RouteLookupStats {
    return {
      hits: this.nHits,
      misses: this.nMisses,
      invalidations: this.nInvalidations,
      failures: this.nFailures,
      entries4: this.t4.size,
      entries6: this.t6.size,
    };
  }

  /** Closes both sockets; later lookups answer "no route". Idempotent. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.watcher.close();
    close(this.fd);
    close(this.monitorFd);
    this.t4.clear();
    this.t6.clear();
  }

  private nextSeq(): number {
    this.seq = (this.seq + 1) >>> 0 || 1;
    return this.seq;
  }

  /** Sends the request in `tx[0, len)` and reads its answer into `this.reply`; false if none came. */
  private query(len: number, family: number): boolean {
    const seq = this.seq;
    for (let attempt = 0; attempt < 2; attempt++) {
      if (sendto(this.fd, this.tx.addr, len, 0, 0, 0) < 0) {
        if (errno() === EINTR) attempt--;
        continue;
      }
      for (;;) {
        const n = recv(this.fd, this.rx.addr, RX_SIZE, MSG_DONTWAIT);
        if (n < 0) {
          const e = errno();
          // ENOBUFS: the socket overran and answers were lost; what is still queued may be ours.
          if (e === EINTR || e === ENOBUFS) continue;
          break;
        }
        if (n === 0) break;
        if (parseRouteReply(this.rx.buf, Math.min(n, RX_SIZE), seq, family, this.reply)) return true;
      }
    }
    return false;
  }

  private drainMonitor(): void {
    if (this.closed) return;
    let changed = false;
    for (;;) {
      const n = recv(this.monitorFd, this.mon.addr, MONITOR_SIZE, MSG_DONTWAIT | MSG_TRUNC);
      if (n < 0) {
        const e = errno();
        if (e === EINTR) continue;
        if (e === ENOBUFS) {
          changed = true; // notifications were lost
          continue;
        }
        break;
      }
      if (n === 0) break;
      if (n > MONITOR_SIZE || countRoutingChanges(this.mon.buf, n) > 0) changed = true;
    }
    if (changed) this.invalidate();
  }
}
