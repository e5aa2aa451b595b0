/**
 * Unix SOCK_SEQPACKET sockets in the abstract namespace, with what Node's `net` lacks: message
 * boundaries, the peer's credentials (SO_PEERCRED) and file descriptors passed with a message
 * (SCM_RIGHTS). The management daemon and its clients talk over these; each message is one JSON
 * object and carries the fds that belong to it, so an fd can never be confused with another request's.
 *
 * All calls are non-blocking and synchronous; readiness comes from poll.ts. The msghdr, iovec and
 * cmsg buffers are pinned scratch shared by every socket of the process (one call at a time).
 */
import { allocPinned, putPtr } from './address.js';
import {
  AF_UNIX,
  accept4,
  bind,
  close,
  connect,
  EAGAIN,
  EINTR,
  EINVAL,
  EMSGSIZE,
  errno,
  getsockopt,
  listen,
  MSG_CMSG_CLOEXEC,
  MSG_CTRUNC,
  MSG_DONTWAIT,
  MSG_NOSIGNAL,
  MSG_TRUNC,
  recvmsg,
  SO_SNDBUF,
  SOCK_CLOEXEC,
  SOCK_NONBLOCK,
  SOL_SOCKET,
  sendmsg,
  setsockoptInt,
  socket,
  strerror,
} from './libc.js';

export const SOCK_SEQPACKET = 5;
const SO_PEERCRED = 17;
const SCM_RIGHTS = 1;

/** Largest message either side sends or accepts, in bytes. */
export const MAX_MESSAGE = 256 * 1024;
/** Most fds accepted with one message; more are closed and the message refused. */
export const MAX_FDS = 8;

const CMSG_HDR = 16;
const CMSG_SPACE = CMSG_HDR + ((MAX_FDS * 4 + 7) & ~7);

// struct msghdr (LP64): name 0, namelen 8, iov 16, iovlen 24, control 32, controllen 40, flags 48.
const hdr = allocPinned(56 + 16 + CMSG_SPACE);
const iovAddr = hdr.addr + 56;
const ctrlAddr = hdr.addr + 72;
const ctrlOff = 72;
const data = allocPinned(MAX_MESSAGE + 1);
/** `hdr` as 32-bit words, for putPtr. */
const h32 = new Uint32Array(hdr.buf.buffer, hdr.buf.byteOffset, hdr.buf.length >>> 2);

/** A u64 (below 2^53) at byte `off` of `hdr`. */
function readU64(off: number): number {
  return h32[off >>> 2] + h32[(off >>> 2) + 1] * 4294967296;
}

/** A system call failed: `errno` and the libc text. */
export class SyscallError extends Error {
  constructor(
    readonly call: string,
    readonly errno: number,
  ) {
    super(`${call}: ${strerror(errno)} (errno ${errno})`);
  }
}

function sockaddrUn(name: string): Buffer {
  const path = Buffer.from(name, 'utf8');
  if (path.length > 107) throw new RangeError('abstract socket name too long');
  const b = Buffer.alloc(2 + 1 + path.length);
  b.writeUInt16LE(AF_UNIX, 0);
  path.copy(b, 3); // b[2] = 0: the abstract namespace
  return b;
}

function seqpacket(): number {
  const fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) throw new SyscallError('socket', errno());
  setsockoptInt(fd, SOL_SOCKET, SO_SNDBUF, 2 * MAX_MESSAGE);
  return fd;
}

/** Binds a listening socket to abstract name `name`. Throws SyscallError (EADDRINUSE if taken). */
export function seqpacketListen(name: string, backlog = 64): number {
  const fd = seqpacket();
  const addr = sockaddrUn(name);
  if (bind(fd, addr, addr.length) !== 0 || listen(fd, backlog) !== 0) {
    const e = errno();
    close(fd);
    throw new SyscallError('bind', e);
  }
  return fd;
}

/** Connects to abstract name `name` (ECONNREFUSED when nobody listens there). */
export function seqpacketConnect(name: string): number {
  const fd = seqpacket();
  const addr = sockaddrUn(name);
  if (connect(fd, addr, addr.length) !== 0) {
    const e = errno();
    close(fd);
    throw new SyscallError('connect', e);
  }
  return fd;
}

/** Accepts one pending connection; undefined when none is pending. */
export function seqpacketAccept(fd: number): number | undefined {
  for (;;) {
    const c = accept4(fd, null, null, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (c >= 0) return c;
    const e = errno();
    if (e === EINTR) continue;
    if (e === EAGAIN) return undefined;
    throw new SyscallError('accept4', e);
  }
}

export interface PeerCred {
  pid: number;
  uid: number;
  gid: number;
}

/** The credentials of the process at the other end (taken when it connected). */
export function peerCred(fd: number): PeerCred {
  const v = Buffer.alloc(12);
  const l = Buffer.alloc(4);
  l.writeUInt32LE(12, 0);
  if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, v, l) !== 0) throw new SyscallError('getsockopt', errno());
  return { pid: v.readInt32LE(0), uid: v.readUInt32LE(4), gid: v.readUInt32LE(8) };
}

export type RecvResult =
  /** `fdsCut`: more fds came than MAX_FDS (the kernel closed the rest); `fds` has what fitted. */
  | { kind: 'message'; data: Buffer; fds: number[]; fdsCut: boolean }
  /** Larger than MAX_MESSAGE: dropped whole (its fds are closed). */
  | { kind: 'oversized'; fds: 0 }
  | { kind: 'again' }
  | { kind: 'eof' };

/** Receives one message and the fds sent with it (they are ours to close). */
export function recvMessage(fd: number): RecvResult {
  const b = hdr.buf;
  b.fill(0, 0, 72);
  putPtr(h32, 4, iovAddr);
  putPtr(h32, 6, 1);
  putPtr(h32, 8, ctrlAddr);
  putPtr(h32, 10, CMSG_SPACE);
  putPtr(h32, 14, data.addr);
  putPtr(h32, 16, MAX_MESSAGE + 1);
  let n: number;
  for (;;) {
    n = recvmsg(fd, hdr.addr, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
    if (n >= 0) break;
    const e = errno();
    if (e === EINTR) continue;
    if (e === EAGAIN) return { kind: 'again' };
    // ECONNRESET and the like: the other end is gone.
    return { kind: 'eof' };
  }
  const fds = readRights(readU64(40));
  const flags = b.readInt32LE(48);
  if (n === 0 && fds.length === 0) return { kind: 'eof' };
  if (n > MAX_MESSAGE || (flags & MSG_TRUNC) !== 0) {
    for (const f of fds) close(f);
    return { kind: 'oversized', fds: 0 };
  }
  const fdsCut = (flags & MSG_CTRUNC) !== 0;
  return { kind: 'message', data: Buffer.from(data.buf.subarray(0, n)), fds, fdsCut };
}

/** The SCM_RIGHTS fds in the first `len` bytes of the control buffer. */
function readRights(len: number): number[] {
  const fds: number[] = [];
  const b = hdr.buf;
  let p = 0;
  while (p + CMSG_HDR <= len) {
    const clen = readU64(ctrlOff + p);
    if (clen < CMSG_HDR || p + clen > len) break;
    const level = b.readInt32LE(ctrlOff + p + 8);
    const type = b.readInt32LE(ctrlOff + p + 12);
    if (level === SOL_SOCKET && type === SCM_RIGHTS) {
      for (let q = CMSG_HDR; q + 4 <= clen; q += 4) fds.push(b.readInt32LE(ctrlOff + p + q));
    }
    p += (clen + 7) & ~7;
  }
  return fds;
}

/**
 * Sends one message, with `fds` attached. Returns true when sent, false when the socket's buffer is
 * full (EAGAIN: try again when writable). Throws SyscallError when the connection is broken.
 */
export function sendMessage(fd: number, msg: Buffer, fds: readonly number[] = []): boolean {
  if (msg.length > MAX_MESSAGE) throw new SyscallError('sendmsg', EMSGSIZE);
  if (fds.length > MAX_FDS) throw new SyscallError('sendmsg', EINVAL);
  msg.copy(data.buf, 0);
  const b = hdr.buf;
  b.fill(0, 0, 72);
  putPtr(h32, 4, iovAddr);
  putPtr(h32, 6, 1);
  if (fds.length > 0) {
    const clen = CMSG_HDR + 4 * fds.length;
    putPtr(h32, ctrlOff >>> 2, clen);
    b.writeInt32LE(SOL_SOCKET, ctrlOff + 8);
    b.writeInt32LE(SCM_RIGHTS, ctrlOff + 12);
    for (let i = 0; i < fds.length; i++) b.writeInt32LE(fds[i], ctrlOff + CMSG_HDR + 4 * i);
    putPtr(h32, 8, ctrlAddr);
    putPtr(h32, 10, (clen + 7) & ~7);
  }
  putPtr(h32, 14, data.addr);
  putPtr(h32, 16, msg.length);
  for (;;) {
    const n = sendmsg(fd, hdr.addr, MSG_DONTWAIT | MSG_NOSIGNAL);
    if (n >= 0) return true;
    const e = errno();
    if (e === EINTR) continue;
    if (e === EAGAIN) return false;
    throw new SyscallError('sendmsg', e);
  }
}
