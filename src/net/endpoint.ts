/**
 * A transport endpoint (IP address + port [+ IPv6 scope id]) with its `sockaddr` encoded once, in
 * pinned memory, so that sendmmsg can point at it for every packet without building anything.
 *
 * IPv4-mapped IPv6 addresses are turned into IPv4, as the kernel does for remote and local addresses
 * (spec ovpn-kernel §2.3). A dual-stack AF_INET6 socket accepts a plain sockaddr_in as destination
 * (Linux's udpv6_sendmsg hands it to the IPv4 path), so an IPv4 endpoint always encodes as sockaddr_in.
 *
 * sockaddr_in  (16 bytes): family u16 LE | port u16 BE | addr 4 | zero 8
 * sockaddr_in6 (28 bytes): family u16 LE | port u16 BE | flowinfo u32 | addr 16 | scope_id u32 LE
 */

import { describe, einval } from '../errors/ovpn-error.js';
import { allocPinned, type PinnedBuffer } from '../sys/address.js';
import { AF_INET, AF_INET6 } from '../sys/libc.js';
import { formatIPv4, formatIPv6, isV4Mapped, parseIPv4, parseIPv6 } from './ip-address.js';

export const SOCKADDR_IN_SIZE = 16;
export const SOCKADDR_IN6_SIZE = 28;
/** Room for either sockaddr. */
export const SOCKADDR_MAX = 28;

export type IpFamily = 4 | 6;

/** A local (source) address to send from: the kernel's stored local IP of a peer (spec §5.3). */
export interface LocalAddress {
  readonly family: IpFamily;
  /** 4 or 16 bytes. */
  readonly addr: Buffer;
}

/** A LocalAddress from 4 or 16 bytes (v4-mapped IPv6 folded to IPv4); undefined for all-zero. */
export function localAddress(addr: Buffer): LocalAddress | undefined {
  if (addr.every((b) => b === 0)) return undefined;
  if (addr.length === 16 && isV4Mapped(addr)) return { family: 4, addr: Buffer.from(addr.subarray(12)) };
  return { family: addr.length === 4 ? 4 : 6, addr: Buffer.from(addr) };
}

export class Endpoint {
  readonly family: IpFamily;
  /** 4 or 16 bytes. */
  readonly addr: Buffer;
  readonly port: number;
  /** IPv6 scope (interface index) for link-local addresses; 0 otherwise. */
  readonly scopeId: number;
  readonly sockaddrLen: number;
  /** "addr:port" text, for reports and for comparing endpoints outside the data path. */
  readonly key: string;
  /**
   * A 32-bit hash of address and port (not the scope id), equal to `sockaddrHash` of any sockaddr
   * this endpoint `matchesSockaddr`: the key of transport-address tables, found without allocating.
   */
  readonly hash: number;

  private constructor(family: IpFamily, addr: Buffer, port: number, scopeId: number) {
    if (!Number.isInteger(port) || port < 0 || port > 0xffff)
      throw einval(`not a port: ${describe(port)}`, 'port');
    if (!Number.isInteger(scopeId) || scopeId < 0 || scopeId > 0xffffffff) {
      throw einval(`not a scope id: ${describe(scopeId)}`, 'remote-ipv6-scope-id');
    }
    this.family = family;
    this.addr = addr;
    this.port = port;
    this.scopeId = family === 6 ? scopeId : 0;
    this.sockaddrLen = family === 4 ? SOCKADDR_IN_SIZE : SOCKADDR_IN6_SIZE;
    this.key = family === 4 ? `${formatIPv4(addr)}:${port}` : `[${formatIPv6(addr)}]:${port}`;
    this.hash = family === 4 ? hash4(addr.readUInt32BE(0), port) : hash6(addr, 0, port);
  }

  private encoded: PinnedBuffer | undefined;

  /**
   * The encoded sockaddr, in pinned memory (its address goes into msghdr.msg_name). Built on first
   * use, so endpoints made only for comparison or reporting cost no native memory.
   */
  get sockaddr(): PinnedBuffer {
    if (this.encoded !== undefined) return this.encoded;
    const p = allocPinned(SOCKADDR_MAX);
    const s = p.buf;
    s.writeUInt16BE(this.port, 2);
    if (this.family === 4) {
      s.writeUInt16LE(AF_INET, 0);
      this.addr.copy(s, 4);
    } else {
      s.writeUInt16LE(AF_INET6, 0);
      this.addr.copy(s, 8);
      s.writeUInt32LE(this.scopeId, 24);
    }
    this.encoded = p;
    return p;
  }

  /** From 4 or 16 address bytes; a v4-mapped IPv6 address becomes IPv4. */
  static fromBytes(addr: Buffer, port: number, scopeId = 0): Endpoint {
    if (addr.length === 4) return new Endpoint(4, Buffer.from(addr), port, 0);
    if (addr.length !== 16) throw einval('an address is 4 or 16 bytes');
    if (isV4Mapped(addr)) return new Endpoint(4, Buffer.from(addr.subarray(12, 16)), port, 0);
    return new Endpoint(6, Buffer.from(addr), port, scopeId);
  }

  /** From text ("10.0.0.1", "fd00::1", "::ffff:10.0.0.1"). Throws EINVAL. */
  static parse(text: string, port: number, scopeId = 0): Endpoint {
    return Endpoint.fromBytes(text.includes(':') ? parseIPv6(text) : parseIPv4(text), port, scopeId);
  }

  /** From a sockaddr_in/sockaddr_in6 at `buf[off]`; undefined for other families. */
  static fromSockaddr(buf: Buffer, off: number): Endpoint | undefined {
    const family = buf.readUInt16LE(off);
    const port = buf.readUInt16BE(off + 2);
    if (family === AF_INET) return new Endpoint(4, Buffer.from(buf.subarray(off + 4, off + 8)), port, 0);
    if (family === AF_INET6) {
      return Endpoint.fromBytes(buf.subarray(off + 8, off + 24), port, buf.readUInt32LE(off + 24));
    }
    return undefined;
  }

  /**
   * True if the sockaddr at `buf[off]` is this endpoint (IPv4 matches sockaddr_in or a v4-mapped
   * sockaddr_in6; IPv6 compares address and port only, as the kernel does). Allocates nothing.
   */
  matchesSockaddr(buf: Buffer, off: number): boolean {
    if (buf.readUInt16BE(off + 2) !== this.port) return false;
    const family = buf.readUInt16LE(off);
    const a = this.addr;
    if (family === AF_INET) {
      return this.family === 4 && buf.readUInt32BE(off + 4) === a.readUInt32BE(0);
    }
    if (family !== AF_INET6) return false;
    if (this.family === 4)
      return isV4Mapped(buf, off + 8) && buf.readUInt32BE(off + 20) === a.readUInt32BE(0);
    return a.compare(buf, off + 8, off + 24) === 0;
  }

  /** Same address and port (and scope id) as `other`. */
  equals(other: Endpoint): boolean {
    return (
      other === this ||
      (other.port === this.port &&
        other.family === this.family &&
        other.scopeId === this.scopeId &&
        other.addr.equals(this.addr))
    );
  }

  get address(): string {
    return this.family === 4 ? formatIPv4(this.addr) : formatIPv6(this.addr);
  }

  toString(): string {
    return this.key;
  }
}

function hash4(addr: number, port: number): number {
  return (Math.imul(addr ^ (port << 16), 0x9e3779b1) ^ port) >>> 0;
}

function hash6(buf: Buffer, off: number, port: number): number {
  const a = buf.readUInt32BE(off);
  const b = buf.readUInt32BE(off + 4);
  const c = buf.readUInt32BE(off + 8);
  const d = buf.readUInt32BE(off + 12);
  return (Math.imul(a ^ (b >>> 7) ^ port, 0x9e3779b1) ^ Math.imul(c ^ (d << 3), 0x85ebca6b) ^ d) >>> 0;
}

/**
 * The `Endpoint.hash` of the sockaddr_in/sockaddr_in6 at `buf[off]` (a v4-mapped IPv6 address hashes as
 * its IPv4 address), or -1 for another family. Allocates nothing: the data path's lookup of a peer by
 * source address.
 */
export function sockaddrHash(buf: Buffer, off: number): number {
  const family = buf.readUInt16LE(off);
  const port = buf.readUInt16BE(off + 2);
  if (family === AF_INET) return hash4(buf.readUInt32BE(off + 4), port);
  if (family !== AF_INET6) return -1;
  if (isV4Mapped(buf, off + 8)) return hash4(buf.readUInt32BE(off + 20), port);
  return hash6(buf, off + 8, port);
}
