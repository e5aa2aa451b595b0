/**
 * ovpnd: the management daemon of one network namespace (docs/ovpnd.md). It owns the namespace's
 * ovpn-ts devices (one OvpnApi) and serves the management protocol of mgmt/protocol.ts on an abstract
 * Unix socket, to root only. It takes over the sockets control planes hand it with peer-new, sends
 * their control packets back to the connection that handed them over, and treats that connection
 * closing as the sockets being closed. It exits when it has neither devices nor clients, and when its
 * namespace is deleted.
 */
import { OvpnApi } from '../api/ovpn-api.js';
import { isSocketAttached, socketInode } from '../device/sockets.js';
import { einval, OvpnError } from '../errors/ovpn-error.js';
import {
  API_HANDLERS,
  checkGroup,
  type Handler,
  ownedIfindex,
  parseControlSend,
  parseRequest,
  quote,
  type Reply,
  type Request,
  replyMessages,
  toErrorReply,
} from '../mgmt/dispatch.js';
import { type DaemonInfo, errorReply, OVPND_SOCKET, type WireEvent } from '../mgmt/protocol.js';
import { close } from '../sys/libc.js';
import { type FdWatcher, watchFd } from '../sys/poll.js';
import { peerCred, seqpacketAccept, seqpacketListen } from '../sys/unix-seqpacket.js';
import { Connection, type ConnectionHandler } from './connection.js';
import { type NetnsWatch, watchNetns } from './netns-watch.js';
import { SocketOwners } from './socket-owners.js';

export interface OvpndOptions {
  /** Abstract socket name (default OVPND_SOCKET). */
  socketName?: string;
  /** Most clients connected at once; more are refused with EUSERS. */
  maxClients?: number;
  /** How long an idle daemon (no device, no client) waits before exiting, in ms. */
  idleMs?: number;
  /** How long a fresh daemon waits for its first client, in ms. */
  startGraceMs?: number;
  /** Called once the daemon has shut down (the CLI exits the process). */
  onExit?: (why: string) => void;
  log?: (line: string) => void;
}

/** A daemon op: runs synchronously for one request of one connection. */
type DaemonHandler = (ctx: { conn: Connection; msg: unknown; req: Request; fds: number[] }) => unknown;

/** Connections of non-root clients kept open at once (to answer EPERM), and for how long. */
const MAX_REFUSED = 32;
const REFUSED_LINGER_MS = 2000;
const ACCEPT_RETRY_MS = 200;

export class Ovpnd {
  readonly api = new OvpnApi();
  private readonly listenFd: number;
  private readonly listenWatch: FdWatcher;
  private readonly conns = new Set<Connection>();
  private readonly refused = new Set<Connection>();
  private readonly owners = new SocketOwners<Connection>();
  private readonly netns: NetnsWatch;
  private idleTimer: NodeJS.Timeout | undefined;
  private acceptRetry: NodeJS.Timeout | undefined;
  private stopped = false;
  private droppedEvents = 0;
  private readonly log: (line: string) => void;
  private readonly handlers: Record<string, DaemonHandler>;

  /** Binds the socket; throws SyscallError EADDRINUSE when a daemon already serves this namespace. */
  constructor(private readonly opts: OvpndOptions = {}) {
    this.log = opts.log ?? (() => {});
    this.listenFd = seqpacketListen(opts.socketName ?? OVPND_SOCKET);
    this.listenWatch = watchFd(this.listenFd, { readable: true, writable: false }, () => this.accept());
    const conn: ConnectionHandler = {
      message: (c, data, fds, fdsCut) => this.onMessage(c, data, fds, fdsCut),
      oversized: (c) => c.reply({ error: errorReply('EMSGSIZE', 'message too large; dropped') }),
      closed: (c) => this.onClosed(c),
    };
    this.connHandler = conn;
    this.api.subscribe((n) => {
      for (const c of this.conns) if (c.subscribed && !c.event(n)) this.droppedEvents++;
    });
    this.api.onControl((m) => {
      const h = this.owners.owner(m.socket);
      const ev: WireEvent = {
        name: 'control-packet',
        msg: {
          ifindex: m.ifindex,
          socket: h?.socket ?? -1,
          'remote-addr': m['remote-addr'],
          'remote-port': m['remote-port'],
          packet: m.packet.toString('hex'),
        },
      };
      if (h === undefined || !h.conn.event(ev)) this.droppedEvents++;
    });
    this.handlers = this.daemonHandlers();
    this.netns = watchNetns((name) => this.shutdown(`network namespace ${name} was deleted`));
    this.scheduleIdleCheck(opts.startGraceMs ?? 10_000);
    this.log(`ovpnd ${process.pid} serving${this.netns.name ? ` netns ${this.netns.name}` : ''}`);
  }

  private readonly connHandler: ConnectionHandler;

  /** The operations this daemon serves (checked against the schema by a unit test). */
  get opNames(): string[] {
    return Object.keys(this.handlers).sort();
  }

  /** Deletes every device (peers torn down, with notifications), closes every client, and stops. */
  shutdown(why: string): void {
    if (this.stopped) return;
    this.stopped = true;
    // The name goes first, so that a client connecting from now on finds no daemon (and starts one).
    this.listenWatch.close();
    close(this.listenFd);
    clearTimeout(this.acceptRetry);
    this.log(`ovpnd ${process.pid} exiting: ${why}`);
    clearTimeout(this.idleTimer);
    this.netns.stop();
    this.api.close();
    for (const c of [...this.conns, ...this.refused]) c.close();
    this.opts.onExit?.(why);
  }

  // ---- clients ------------------------------------------------------------------------------------

  private accept(): void {
    for (;;) {
      let fd: number | undefined;
      try {
        fd = seqpacketAccept(this.listenFd);
      } catch (e) {
        // Out of fds (EMFILE/ENFILE) or the like: the listener stays readable, so pause it rather than
        // spin, and try again shortly.
        this.log(`accept: ${(e as Error).message}; pausing accepts for ${ACCEPT_RETRY_MS} ms`);
        this.listenWatch.update({ readable: false, writable: false });
        this.acceptRetry = setTimeout(() => {
          if (!this.stopped) this.listenWatch.update({ readable: true, writable: false });
        }, ACCEPT_RETRY_MS);
        return;
      }
      if (fd === undefined) return;
      let cred: { pid: number; uid: number };
      try {
        cred = peerCred(fd);
      } catch {
        close(fd);
        continue;
      }
      if (cred.uid !== 0) {
        this.refuse(fd, cred.pid);
        continue;
      }
      const conn = new Connection(fd, cred.pid, this.connHandler);
      if (this.conns.size >= (this.opts.maxClients ?? 256)) {
        conn.reply({ error: errorReply('EUSERS', 'too many ovpnd clients') });
        conn.close();
        continue;
      }
      this.conns.add(conn);
      clearTimeout(this.idleTimer);
    }
  }

  /**
   * A client that is not root gets EPERM for every request for a short while, then is closed. (Closing
   * at once would reset the connection under a request already sent, hiding the reason.)
   */
  private refuse(fd: number, pid: number): void {
    if (this.refused.size >= MAX_REFUSED) {
      close(fd);
      return;
    }
    const eperm = errorReply('EPERM', 'only root may manage ovpn devices');
    const conn = new Connection(fd, pid, {
      message: (c, data, fds) => {
        for (const f of fds) close(f);
        let seq: unknown;
        try {
          seq = (JSON.parse(data.toString('utf8')) as { seq?: unknown })?.seq;
        } catch {}
        c.reply({ seq: typeof seq === 'number' ? seq : undefined, error: eperm });
        c.stopReading(); // one answer is enough; reading more would let anyone make us work
      },
      oversized: (c) => {
        c.reply({ error: eperm });
        c.stopReading();
      },
      closed: (c) => this.refused.delete(c),
    });
    this.refused.add(conn);
    conn.reply({ error: eperm });
    setTimeout(() => conn.close(), REFUSED_LINGER_MS).unref();
  }

  private onClosed(conn: Connection): void {
    if (!this.conns.delete(conn)) return;
    this.droppedEvents += conn.droppedEvents;
    // The connection was the handed-over sockets' last reference: closing it closes them.
    for (const inode of this.owners.removeConn(conn)) this.api.socketClosed(inode);
    // Devices the connection owned go with it (a client killed before its own dev-del).
    for (const ifindex of conn.ownedDevices) {
      try {
        this.api.devDel({ ifindex });
      } catch {
        // already deleted by someone
      }
    }
    this.scheduleIdleCheck(this.opts.idleMs ?? 300);
  }

  private scheduleIdleCheck(ms: number): void {
    clearTimeout(this.idleTimer);
    if (this.stopped) return;
    this.idleTimer = setTimeout(() => {
      // A client may be waiting in the backlog: take it first, so that it is served, not reset.
      this.accept();
      if (this.conns.size === 0 && this.api.deviceCount === 0) this.shutdown('no devices and no clients');
    }, ms);
  }

  // ---- requests -----------------------------------------------------------------------------------

  private onMessage(conn: Connection, data: Buffer, fds: number[], fdsCut: boolean): void {
    const parsed = parseRequest(data.toString('utf8'));
    if ('refusal' in parsed) {
      for (const f of fds) close(f);
      conn.reply(parsed.refusal);
      return;
    }
    const req = parsed.request;
    const seq = req.seq;
    let r: Reply;
    try {
      const h =
        typeof req.op === 'string' && Object.hasOwn(this.handlers, req.op)
          ? this.handlers[req.op]
          : undefined;
      if (h === undefined) throw new OvpnError('EOPNOTSUPP', `unknown op ${quote(req.op)}`);
      if (fdsCut || fds.length > 1)
        throw einval('at most one file descriptor may come with a request', 'socket');
      if (fds.length > 0 && req.op !== 'peer-new')
        throw einval('file descriptors may only be passed with peer-new');
      r = { seq, reply: h({ conn, msg: req.msg, req, fds }) ?? null };
    } catch (e) {
      r = { seq, error: toErrorReply(e) };
    } finally {
      for (const f of fds) close(f);
    }
    for (const m of replyMessages(req, r)) conn.reply(m);
    if (req.op === 'dev-del') this.scheduleIdleCheck(this.opts.idleMs ?? 300);
  }

  private daemonHandlers(): Record<string, DaemonHandler> {
    const api = this.api;
    const fromApi = (h: Handler): DaemonHandler => {
      return ({ msg, req }) => {
        const r = h(api, msg, req);
        if (r instanceof Promise) throw new Error('internal: asynchronous handler in ovpnd');
        return r;
      };
    };
    const handlers: Record<string, DaemonHandler> = {};
    for (const [op, h] of Object.entries(API_HANDLERS)) handlers[op] = fromApi(h);
    handlers['peer-new'] = ({ conn, msg, fds }) => this.peerNew(conn, msg, fds);
    handlers['control-send'] = ({ conn, msg }) => this.controlSend(conn, msg);
    handlers.subscribe = ({ conn, msg }) => {
      checkGroup(msg);
      conn.subscribed = true;
    };
    handlers.unsubscribe = ({ conn }) => {
      conn.subscribed = false;
    };
    handlers['dev-own'] = ({ conn, msg }) => {
      conn.ownedDevices.add(ownedIfindex(api, msg));
    };
    handlers['daemon-info'] = (): DaemonInfo => ({
      pid: process.pid,
      netns: this.netns.name ?? null,
      devices: api.deviceCount,
      clients: this.conns.size,
      'dropped-events': this.droppedEvents + [...this.conns].reduce((n, c) => n + c.droppedEvents, 0),
    });
    return handlers;
  }

  /**
   * peer-new with the socket passed by SCM_RIGHTS: the `socket` attribute names the caller's fd, and
   * the fd that came with the request is the socket (none passed: ENOTSOCK, as an fd not open in the
   * caller would be). On success the connection becomes the socket's owner.
   */
  private peerNew(conn: Connection, msg: unknown, fds: number[]): void {
    let given: number | undefined;
    try {
      this.api.peerNew(msg, (socket) => {
        given = socket;
        if (fds.length === 0)
          throw new OvpnError('ENOTSOCK', `no file descriptor was passed for socket ${socket}`, 'socket');
        return fds[0];
      });
    } catch (e) {
      // Socket errors name our copy of the fd; the client knows it by its own number.
      if (e instanceof OvpnError && e.code === 'ENOTSOCK' && given !== undefined && fds.length === 1)
        throw new OvpnError('ENOTSOCK', e.message.replaceAll(`fd ${fds[0]}`, `socket ${given}`), e.attr);
      throw e;
    }
    if (given !== undefined && fds.length === 1) {
      this.owners.prune(isSocketAttached);
      this.owners.add(socketInode(fds[0]), conn, given);
    }
  }

  /** control-send through a socket this connection handed over, named by its `socket` number. */
  private controlSend(conn: Connection, msg: unknown): void {
    const { ifindex, socket, to, packet } = parseControlSend(msg);
    const inode = this.owners.inodeOf(conn, socket);
    if (inode === undefined)
      throw new OvpnError('ENOENT', `this connection handed over no socket ${socket}`, 'socket');
    if (!this.api.controlSendInode(ifindex, inode, to, packet))
      throw new OvpnError('EAGAIN', 'the socket did not take the packet');
  }
}
