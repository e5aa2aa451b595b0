/**
 * An in-memory SocketSource: fake fd numbers that name fake transports, with stable identities (two
 * fds of one socket — a "dup" — share the identity, so a device attaches the socket once). Identities
 * are unique in the process, because attachment (src/device/sockets.ts) is keyed by them.
 */
import type { SocketSource } from '../../../src/device/sockets.js';
import { OvpnError } from '../../../src/errors/ovpn-error.js';
import type { DatagramTransport, StreamTransport } from '../../../src/transport/transport.js';
import type { FakeDatagramTransport, FakeStreamTransport } from './fake-net.js';

let nextSocket = 1;

type Entry =
  | { proto: 'udp'; id: string; t: FakeDatagramTransport }
  | { proto: 'tcp'; id: string; t: FakeStreamTransport };

export class FakeSocketSource implements SocketSource {
  private readonly fds = new Map<number, Entry>();
  private nextFd = 100;
  /** How many times a transport was opened (a socket is opened once per attachment). */
  opens = 0;

  /** A new fd for the datagram socket `t`. */
  addUdp(t: FakeDatagramTransport): number {
    return this.add({ proto: 'udp', id: `fake-socket:[${nextSocket++}]`, t });
  }

  /** A new fd for the stream socket `t`. */
  addTcp(t: FakeStreamTransport): number {
    return this.add({ proto: 'tcp', id: `fake-socket:[${nextSocket++}]`, t });
  }

  /** Another fd for the socket behind `fd`. */
  dup(fd: number): number {
    return this.add(this.entry(fd));
  }

  /** An fd that is open but not a UDP/TCP socket. */
  addOther(): number {
    const fd = this.nextFd++;
    return fd;
  }

  identity(fd: number): string {
    return this.entry(fd).id;
  }

  protocol(fd: number): 'udp' | 'tcp' | 'other' {
    const e = this.fds.get(fd);
    if (e === undefined) {
      if (fd >= 100 && fd < this.nextFd) return 'other';
      throw new OvpnError('ENOTSOCK', `fd ${fd} is not open`, 'socket');
    }
    return e.proto;
  }

  openUdp(fd: number): DatagramTransport {
    const e = this.entry(fd);
    if (e.proto !== 'udp') throw new OvpnError('ENOTSOCK', 'not a UDP socket', 'socket');
    this.opens++;
    return e.t;
  }

  openTcp(fd: number): StreamTransport {
    const e = this.entry(fd);
    if (e.proto !== 'tcp') throw new OvpnError('ENOTSOCK', 'not a TCP socket', 'socket');
    this.opens++;
    return e.t;
  }

  private add(e: Entry): number {
    const fd = this.nextFd++;
    this.fds.set(fd, e);
    return fd;
  }

  private entry(fd: number): Entry {
    const e = this.fds.get(fd);
    if (e === undefined) throw new OvpnError('ENOTSOCK', `fd ${fd} is not a socket`, 'socket');
    return e;
  }
}
