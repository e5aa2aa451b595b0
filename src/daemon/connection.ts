/**
 * One client of ovpnd: a SOCK_SEQPACKET connection carrying one JSON object per message. Reads
 * requests (with the fds passed along), hands them to the server one at a time, and queues what goes
 * back. The queue is bounded: past the bound the connection stops reading requests until the client
 * reads its replies (so replies are never lost), and events for it are dropped and counted (a client
 * that does not read cannot make the daemon grow).
 */
import { encodeWire, type WireEvent, type WireMessage } from '../mgmt/protocol.js';
import { close } from '../sys/libc.js';
import { type FdWatcher, watchFd } from '../sys/poll.js';
import { recvMessage, sendMessage } from '../sys/unix-seqpacket.js';

/** Bytes queued for a client before reading from it pauses and events for it are dropped. */
export const QUEUE_LIMIT = 4 * 1024 * 1024;
/** Requests handled per readiness callback, so that one busy client cannot starve the others. */
const BURST = 64;

export interface ConnectionHandler {
  /** A whole message arrived, with the fds sent along (the handler must close them). */
  message(conn: Connection, data: Buffer, fds: number[], fdsCut: boolean): void;
  /** A message was larger than the protocol allows; it was dropped whole. */
  oversized(conn: Connection): void;
  /** The connection is gone (either side closed it). Called once. */
  closed(conn: Connection): void;
}

export class Connection {
  private readonly watcher: FdWatcher;
  private readonly queue: Buffer[] = [];
  private queued = 0;
  private isClosed = false;
  private readingStopped = false;
  /** Whether this client joined the `peers` notification group. */
  subscribed = false;
  /** Events not delivered because the client did not read. */
  droppedEvents = 0;
  /** Devices tied to this connection (dev-own): deleted when it closes. */
  readonly ownedDevices = new Set<number>();

  constructor(
    readonly fd: number,
    readonly pid: number,
    private readonly handler: ConnectionHandler,
  ) {
    this.watcher = watchFd(fd, { readable: true, writable: false }, (ev) => {
      if (ev.writable) this.flush();
      if (ev.readable || ev.disconnect) this.read();
    });
  }

  get closed(): boolean {
    return this.isClosed;
  }

  /**
   * Queues a reply; it is always delivered while the connection lives. One too large for a message
   * becomes an EMSGSIZE error for the same request.
   */
  reply(o: WireMessage): void {
    const b = encodeWire(o);
    if (b !== undefined) this.enqueue(b);
  }

  /** Reads no more requests from this client (its replies still go out). */
  stopReading(): void {
    this.readingStopped = true;
    this.rearm();
  }

  /** Queues an event unless the client is too far behind; returns whether it was queued. */
  event(e: WireEvent): boolean {
    if (this.isClosed) return false;
    const b = this.queued >= QUEUE_LIMIT ? undefined : encodeWire(e);
    if (b === undefined) {
      this.droppedEvents++;
      return false;
    }
    this.enqueue(b);
    return true;
  }

  close(): void {
    if (this.isClosed) return;
    this.isClosed = true;
    this.watcher.close();
    close(this.fd);
    this.queue.length = 0;
    this.queued = 0;
    this.handler.closed(this);
  }

  private enqueue(b: Buffer): void {
    if (this.isClosed) return;
    this.queue.push(b);
    this.queued += b.length;
    this.flush();
  }

  private flush(): void {
    try {
      while (this.queue.length > 0) {
        if (!sendMessage(this.fd, this.queue[0])) break;
        this.queued -= this.queue[0].length;
        this.queue.shift();
      }
    } catch {
      this.close(); // the client went away (EPIPE, ECONNRESET)
      return;
    }
    this.rearm();
  }

  private rearm(): void {
    if (this.isClosed) return;
    this.watcher.update({
      readable: !this.readingStopped && this.queued < QUEUE_LIMIT,
      writable: this.queue.length > 0,
    });
  }

  private read(): void {
    for (let i = 0; i < BURST && !this.isClosed && !this.readingStopped && this.queued < QUEUE_LIMIT; i++) {
      const r = recvMessage(this.fd);
      if (r.kind === 'again') break;
      if (r.kind === 'eof') {
        this.close();
        return;
      }
      if (r.kind === 'oversized') this.handler.oversized(this);
      else this.handler.message(this, r.data, r.fds, r.fdsCut);
    }
    this.rearm();
  }
}
