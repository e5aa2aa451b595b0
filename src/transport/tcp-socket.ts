/**
 * TCP sockets for control planes (and the demo and tests): listen, accept and connect, non-blocking
 * and awaited on the event loop. The data plane never makes connections itself — as with the kernel,
 * establishing the stream is the control plane's job; it then hands the connected fd over in peer-new.
 */
import { OvpnError } from '../errors/ovpn-error.js';
import { Endpoint } from '../net/endpoint.js';
import {
  AF_INET,
  AF_INET6,
  accept4,
  bind,
  close,
  connect,
  EAGAIN,
  EINTR,
  errno,
  getsockoptInt,
  IPPROTO_IPV6,
  IPPROTO_TCP,
  IPV6_V6ONLY,
  listen,
  SO_ERROR,
  SO_REUSEADDR,
  SO_REUSEPORT,
  SOCK_CLOEXEC,
  SOCK_NONBLOCK,
  SOCK_STREAM,
  SOL_SOCKET,
  setsockoptInt,
  socket,
  strerror,
} from '../sys/libc.js';
import { watchFd } from '../sys/poll.js';

const EINPROGRESS = 115;

function fail(what: string, e: number): OvpnError {
  return new OvpnError('EIO', `${what}: ${strerror(e)}`);
}

/** A listening TCP socket on `port` (dual-stack [::] for family 6, 0.0.0.0 for 4); returns its fd. */
export function tcpListen(opts: {
  family: 4 | 6;
  port: number;
  address?: string;
  backlog?: number;
  /** family 6: IPV6_V6ONLY on (`bind ipv6only`); default dual-stack. */
  v6only?: boolean;
}): number {
  const fd = socket(
    opts.family === 6 ? AF_INET6 : AF_INET,
    SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
    IPPROTO_TCP,
  );
  if (fd < 0) throw fail('socket', errno());
  try {
    setsockoptInt(fd, SOL_SOCKET, SO_REUSEADDR, 1);
    setsockoptInt(fd, SOL_SOCKET, SO_REUSEPORT, 1);
    if (opts.family === 6) setsockoptInt(fd, IPPROTO_IPV6, IPV6_V6ONLY, opts.v6only ? 1 : 0);
    const any = opts.family === 6 ? '::' : '0.0.0.0';
    const ep = Endpoint.parse(opts.address ?? any, opts.port);
    const sa = sockaddrFor(ep, opts.family);
    if (bind(fd, sa, sa.length) !== 0) throw fail(`bind ${ep}`, errno());
    if (listen(fd, opts.backlog ?? 16) !== 0) throw fail('listen', errno());
    return fd;
  } catch (e) {
    close(fd);
    throw e;
  }
}

/** Waits for and accepts one connection on a listening fd; resolves with the connected fd. */
export function tcpAccept(listenFd: number, timeoutMs = 30_000): Promise<number> {
  return new Promise((resolve, reject) => {
    const tryAccept = (): boolean => {
      const fd = accept4(listenFd, null, null, SOCK_CLOEXEC);
      if (fd >= 0) {
        resolve(fd);
        return true;
      }
      const e = errno();
      if (e !== EAGAIN && e !== EINTR) {
        reject(fail('accept', e));
        return true;
      }
      return false;
    };
    if (tryAccept()) return;
    const w = watchFd(listenFd, { readable: true, writable: false }, () => {
      if (tryAccept()) done();
    });
    const t = setTimeout(() => {
      done();
      reject(new OvpnError('EIO', 'accept timed out'));
    }, timeoutMs);
    const done = () => {
      clearTimeout(t);
      w.close();
    };
  });
}

/**
 * Connects to `addr`:`port`; resolves with the connected (blocking-mode-agnostic) fd. `signal` abandons
 * a connect in progress (the socket is closed and the promise rejects).
 */
export function tcpConnect(opts: {
  addr: string;
  port: number;
  timeoutMs?: number;
  signal?: AbortSignal;
}): Promise<number> {
  if (opts.signal?.aborted) return Promise.reject(new OvpnError('EIO', 'connect aborted'));
  const ep = Endpoint.parse(opts.addr, opts.port);
  const family = ep.family;
  const fd = socket(
    family === 6 ? AF_INET6 : AF_INET,
    SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
    IPPROTO_TCP,
  );
  if (fd < 0) return Promise.reject(fail('socket', errno()));
  const sa = sockaddrFor(ep, family);
  if (connect(fd, sa, sa.length) === 0) return Promise.resolve(fd);
  const e = errno();
  if (e !== EINPROGRESS) {
    close(fd);
    return Promise.reject(fail(`connect ${ep}`, e));
  }
  return new Promise((resolve, reject) => {
    const w = watchFd(fd, { readable: false, writable: true }, () => {
      done();
      const err = getsockoptInt(fd, SOL_SOCKET, SO_ERROR) ?? 0;
      if (err === 0) resolve(fd);
      else {
        close(fd);
        reject(fail(`connect ${ep}`, err));
      }
    });
    const t = setTimeout(() => {
      done();
      close(fd);
      reject(new OvpnError('EIO', `connect ${ep} timed out`));
    }, opts.timeoutMs ?? 10_000);
    const onAbort = () => {
      done();
      close(fd);
      reject(new OvpnError('EIO', `connect ${ep} aborted`));
    };
    opts.signal?.addEventListener('abort', onAbort, { once: true });
    const done = () => {
      clearTimeout(t);
      w.close();
      opts.signal?.removeEventListener('abort', onAbort);
    };
  });
}

function sockaddrFor(ep: Endpoint, family: 4 | 6): Buffer {
  const s = ep.sockaddr.buf;
  return Buffer.from(s.subarray(0, family === 4 ? 16 : 28));
}
