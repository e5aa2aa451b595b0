/**
 * koffi bindings to the libc calls Node lacks, typed. Pointer arguments that the data path passes
 * per call are declared `intptr_t` and take plain-number addresses (see address.ts); setup calls take
 * Buffers. Every call returns the raw C result; read `errno()` right after a -1.
 *
 * Variadic functions (ioctl, fcntl, open) are declared with a fixed third argument, which is safe on
 * the x86-64 and arm64 Linux ABIs for integer and pointer arguments.
 */
import koffi from 'koffi';

const libc = koffi.load('libc.so.6');
const P = 'intptr_t';

export const O_RDWR = 0o2;
export const O_NONBLOCK = 0o4000;
export const O_CLOEXEC = 0o2000000;
export const F_GETFL = 3;
export const F_SETFL = 4;

export const AF_UNSPEC = 0;
export const AF_UNIX = 1;
export const AF_INET = 2;
export const AF_INET6 = 10;
export const AF_NETLINK = 16;
export const SOCK_STREAM = 1;
export const SOCK_DGRAM = 2;
export const SOCK_RAW = 3;
export const SOCK_NONBLOCK = 0o4000;
export const SOCK_CLOEXEC = 0o2000000;
export const IPPROTO_IP = 0;
export const IPPROTO_TCP = 6;
export const IPPROTO_UDP = 17;
export const IPPROTO_IPV6 = 41;
export const SOL_SOCKET = 1;
export const SO_REUSEADDR = 2;
export const SO_TYPE = 3;
export const SO_ERROR = 4;
export const SO_SNDBUF = 7;
export const SO_RCVBUF = 8;
export const SO_REUSEPORT = 15;
export const SO_PROTOCOL = 38;
export const SO_DOMAIN = 39;
export const SO_SNDBUFFORCE = 32;
export const SO_RCVBUFFORCE = 33;
export const SO_MARK = 36;
export const IPV6_V6ONLY = 26;
export const IP_PKTINFO = 8;
export const IPV6_RECVPKTINFO = 49;
export const IPV6_PKTINFO = 50;
export const MSG_DONTWAIT = 0x40;
/** msg_flags: the message did not fit its buffer / its ancillary data did not fit. */
export const MSG_TRUNC = 0x20;
export const MSG_CTRUNC = 0x08;
/** recvmsg flag: fds received by SCM_RIGHTS are close-on-exec. */
export const MSG_CMSG_CLOEXEC = 0x40000000;
export const MSG_NOSIGNAL = 0x4000;

export const ENOENT = 2;
export const EINTR = 4;
export const EIO = 5;
export const EBADF = 9;
export const EFAULT = 14;
export const EINVAL = 22;
export const ENOTSOCK = 88;
export const EMSGSIZE = 90;
export const EADDRNOTAVAIL = 99;
export const ENETUNREACH = 101;
export const EAGAIN = 11;
export const ENOBUFS = 105;
export const ECONNREFUSED = 111;

export const libcOpen = libc.func('int open(const char *path, int flags, int mode)') as (
  path: string,
  flags: number,
  mode: number,
) => number;
export const close = libc.func('int close(int fd)') as (fd: number) => number;
export const dup = libc.func('int dup(int fd)') as (fd: number) => number;
/** read(fd, addr, n) with a raw address. */
export const read = libc.func('read', 'intptr_t', ['int', P, 'size_t']) as (
  fd: number,
  buf: number,
  n: number,
) => number;
/** write(fd, addr, n) with a raw address. */
export const write = libc.func('write', 'intptr_t', ['int', P, 'size_t']) as (
  fd: number,
  buf: number,
  n: number,
) => number;
/** ioctl with a pointer argument (a Buffer holding the struct). */
export const ioctlPtr = libc.func('ioctl', 'int', ['int', 'unsigned long', 'void *']) as (
  fd: number,
  req: number,
  arg: Buffer,
) => number;
/** ioctl with an integer argument. */
export const ioctlInt = libc.func('ioctl', 'int', ['int', 'unsigned long', 'unsigned long']) as (
  fd: number,
  req: number,
  arg: number,
) => number;
export const fcntl = libc.func('fcntl', 'int', ['int', 'int', 'int']) as (
  fd: number,
  cmd: number,
  arg: number,
) => number;
export const socket = libc.func('int socket(int domain, int type, int protocol)') as (
  domain: number,
  type: number,
  protocol: number,
) => number;
export const setsockopt = libc.func('setsockopt', 'int', ['int', 'int', 'int', 'void *', 'uint32_t']) as (
  fd: number,
  level: number,
  name: number,
  val: Buffer,
  len: number,
) => number;
/** getsockopt into `val`; `lenBuf` is a 4-byte Buffer holding the length in and out. */
export const getsockopt = libc.func('getsockopt', 'int', ['int', 'int', 'int', 'void *', 'void *']) as (
  fd: number,
  level: number,
  name: number,
  val: Buffer,
  lenBuf: Buffer,
) => number;
export const bind = libc.func('bind', 'int', ['int', 'void *', 'uint32_t']) as (
  fd: number,
  addr: Buffer,
  len: number,
) => number;
export const connect = libc.func('connect', 'int', ['int', 'void *', 'uint32_t']) as (
  fd: number,
  addr: Buffer,
  len: number,
) => number;
export const listen = libc.func('int listen(int fd, int backlog)') as (fd: number, backlog: number) => number;
export const accept4 = libc.func('accept4', 'int', ['int', 'void *', 'void *', 'int']) as (
  fd: number,
  addr: Buffer | null,
  lenBuf: Buffer | null,
  flags: number,
) => number;
export const getsockname = libc.func('getsockname', 'int', ['int', 'void *', 'void *']) as (
  fd: number,
  addr: Buffer,
  lenBuf: Buffer,
) => number;
/** writev(fd, iovec[] address, count) with raw addresses. */
export const writev = libc.func('writev', 'intptr_t', ['int', P, 'int']) as (
  fd: number,
  iov: number,
  count: number,
) => number;
/** getpeername into `addr`; `lenBuf` is a 4-byte Buffer holding the length in and out. */
export const getpeername = libc.func('getpeername', 'int', ['int', 'void *', 'void *']) as (
  fd: number,
  addr: Buffer,
  lenBuf: Buffer,
) => number;
/** sendto with raw addresses (data and sockaddr). */
export const sendto = libc.func('sendto', 'intptr_t', ['int', P, 'size_t', 'int', P, 'uint32_t']) as (
  fd: number,
  buf: number,
  n: number,
  flags: number,
  addr: number,
  addrLen: number,
) => number;
/** recvmmsg(fd, mmsghdr[] address, vlen, flags, NULL). */
export const recvmmsg = libc.func('recvmmsg', 'int', ['int', P, 'unsigned int', 'int', P]) as (
  fd: number,
  msgvec: number,
  vlen: number,
  flags: number,
  timeout: number,
) => number;
/** sendmmsg(fd, mmsghdr[] address, vlen, flags). */
export const sendmmsg = libc.func('sendmmsg', 'int', ['int', P, 'unsigned int', 'int']) as (
  fd: number,
  msgvec: number,
  vlen: number,
  flags: number,
) => number;
/** recv(fd, addr, n, flags) with a raw address. */
export const recv = libc.func('recv', 'intptr_t', ['int', P, 'size_t', 'int']) as (
  fd: number,
  buf: number,
  n: number,
  flags: number,
) => number;
/** sendmsg(fd, msghdr address, flags). */
export const sendmsg = libc.func('sendmsg', 'intptr_t', ['int', P, 'int']) as (
  fd: number,
  msg: number,
  flags: number,
) => number;
/** recvmsg(fd, msghdr address, flags). */
export const recvmsg = libc.func('recvmsg', 'intptr_t', ['int', P, 'int']) as (
  fd: number,
  msg: number,
  flags: number,
) => number;
/** if_indextoname into `buf` (16 bytes); returns 0 (NULL) when there is no such interface. */
export const ifIndexToName = libc.func('if_indextoname', 'intptr_t', ['unsigned int', 'void *']) as (
  ifindex: number,
  buf: Buffer,
) => number | bigint;
export const ifNameToIndex = libc.func('unsigned int if_nametoindex(const char *name)') as (
  name: string,
) => number;
export const strerror = libc.func('const char *strerror(int errnum)') as (errnum: number) => string;
export const setns = libc.func('int setns(int fd, int nstype)') as (fd: number, nstype: number) => number;

/** errno of the last failed call on this thread. */
export function errno(): number {
  return koffi.errno();
}

/** Makes `fd` non-blocking; returns false on failure. */
export function setNonBlocking(fd: number): boolean {
  const flags = fcntl(fd, F_GETFL, 0);
  return flags >= 0 && fcntl(fd, F_SETFL, flags | O_NONBLOCK) === 0;
}

/** Sets an int socket option; returns the C result (0 on success). */
export function setsockoptInt(fd: number, level: number, name: number, value: number): number {
  const b = Buffer.alloc(4);
  b.writeInt32LE(value, 0);
  return setsockopt(fd, level, name, b, 4);
}

/** Reads an int socket option, or undefined on failure. */
export function getsockoptInt(fd: number, level: number, name: number): number | undefined {
  const v = Buffer.alloc(4);
  const l = Buffer.alloc(4);
  l.writeUInt32LE(4, 0);
  return getsockopt(fd, level, name, v, l) === 0 ? v.readInt32LE(0) : undefined;
}
