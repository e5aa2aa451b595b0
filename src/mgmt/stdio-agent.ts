/**
 * ovpn-agent's server: the management protocol of protocol.ts on a stdio link. The messages are
 * exactly ovpnd's (requests, replies, errors, dumps, notifications once subscribed, control-packet
 * events), one JSON object per line on stdin/stdout instead of one per SOCK_SEQPACKET message, and a
 * line is bounded like a message (MAX_MESSAGE bytes; longer ones are dropped with EMSGSIZE).
 *
 * What differs is where sockets come from: nothing can travel with a line, so `socket` numbers are the
 * agent's own fds, made by its helper ops (udp-socket, tcp-listen/accept/connect; fd-close closes one).
 * That is how a test or the demo, living outside a network namespace, runs a data plane inside it (one
 * process per namespace, since TUN devices and sockets belong to the namespace of the process that
 * makes them). Requests are served one at a time, in order, as the daemon does; stdin closing (or
 * SIGTERM) deletes the devices and ends the process.
 */
import { OvpnApi } from '../api/ovpn-api.js';
import { socketInode } from '../device/sockets.js';
import { netnsName } from '../sys/netns.js';
import { MAX_MESSAGE } from '../sys/unix-seqpacket.js';
import {
  AGENT_HANDLERS,
  checkGroup,
  dispatch,
  type Handler,
  ownedIfindex,
  parseRequest,
  replyMessages,
} from './dispatch.js';
import { type DaemonInfo, encodeWire, errorReply, type WireEvent, type WireMessage } from './protocol.js';

export class StdioAgent {
  readonly api = new OvpnApi();
  private subscribed = false;
  private droppedEvents = 0;
  /** Sockets handed over with peer-new: identity -> the fd number given as `socket` (newest wins). */
  private readonly handedOver = new Map<string, number>();
  private readonly handlers: Record<string, Handler>;
  private served: Promise<void> = Promise.resolve();

  /** `write` takes one encoded message (the caller adds the line end). */
  constructor(private readonly write: (message: Buffer) => void) {
    this.handlers = {
      ...AGENT_HANDLERS,
      'peer-new': (api, msg) => {
        api.peerNew(msg);
        this.handover(msg);
      },
      subscribe: (_api, msg) => {
        checkGroup(msg);
        this.subscribed = true;
      },
      unsubscribe: () => {
        this.subscribed = false;
      },
      // the agent's devices already end with it (its parent's connection)
      'dev-own': (api, msg) => {
        ownedIfindex(api, msg);
      },
      'daemon-info': (api): DaemonInfo => ({
        pid: process.pid,
        netns: netnsName() ?? null,
        devices: api.deviceCount,
        clients: 1,
        'dropped-events': this.droppedEvents,
      }),
    };
    this.api.subscribe((n) => {
      if (this.subscribed) this.event(n);
    });
    this.api.onControl((m) =>
      this.event({
        name: 'control-packet',
        msg: {
          ifindex: m.ifindex,
          socket: this.socketNumber(m.socket),
          'remote-addr': m['remote-addr'],
          'remote-port': m['remote-port'],
          packet: m.packet.toString('hex'),
        },
      }),
    );
  }

  /** The operations served (checked against the schema by a unit test). */
  get opNames(): string[] {
    return Object.keys(this.handlers).sort();
  }

  /** One message from the link (a line without its end). Requests are answered in order. */
  message(text: string): Promise<void> {
    if (text.trim() === '') return this.served;
    const parsed = parseRequest(text);
    this.served = this.served.then(async () => {
      if ('refusal' in parsed) return this.send(parsed.refusal);
      const req = parsed.request;
      const r = await dispatch(this.api, req, this.handlers);
      for (const m of replyMessages(req, r)) this.send(m);
    });
    return this.served;
  }

  /** A message longer than MAX_MESSAGE was dropped: EMSGSIZE, for the oldest request waiting. */
  oversized(): Promise<void> {
    this.served = this.served.then(() =>
      this.send({ error: errorReply('EMSGSIZE', 'message too large; dropped') }),
    );
    return this.served;
  }

  /** Deletes every device (peers torn down, with notifications). */
  close(): void {
    this.api.close();
  }

  private send(m: WireMessage): void {
    const b = encodeWire(m);
    if (b !== undefined) this.write(b);
  }

  private event(e: WireEvent): void {
    const b = encodeWire(e);
    if (b === undefined) this.droppedEvents++;
    else this.write(b);
  }

  /** After a successful peer-new: its `socket` (one of our fds) now names that socket. */
  private handover(msg: unknown): void {
    const fd = (msg as { peer: { socket: number } }).peer.socket;
    for (const [inode, n] of this.handedOver) if (n === fd) this.handedOver.delete(inode);
    this.handedOver.set(socketInode(fd), fd);
  }

  /** The number the client knows a socket by; -1 once that fd was closed or names another socket. */
  private socketNumber(inode: string): number {
    const fd = this.handedOver.get(inode);
    if (fd === undefined) return -1;
    try {
      return socketInode(fd) === inode ? fd : -1;
    } catch {
      return -1;
    }
  }
}

/** Serves the agent on this process's stdin/stdout. */
export function runStdioAgent(): void {
  const agent = new StdioAgent((b) => {
    // stdout to a pipe or file is synchronous on Linux: one whole line at a time, in order
    process.stdout.write(Buffer.concat([b, NEWLINE]));
  });
  let parts: Buffer[] = [];
  let size = 0;
  let discarding = false;
  process.stdin.on('data', (chunk: Buffer) => {
    let start = 0;
    for (;;) {
      const nl = chunk.indexOf(NEWLINE[0], start);
      const end = nl < 0 ? chunk.length : nl;
      if (!discarding) {
        size += end - start;
        if (size > MAX_MESSAGE) {
          discarding = true;
          parts = [];
        } else parts.push(chunk.subarray(start, end));
      }
      if (nl < 0) return;
      if (discarding) void agent.oversized();
      else void agent.message(Buffer.concat(parts).toString('utf8'));
      parts = [];
      size = 0;
      discarding = false;
      start = nl + 1;
    }
  });
  const shutdown = () => {
    agent.close();
    process.exit(0);
  };
  process.stdin.on('end', shutdown);
  process.on('SIGTERM', shutdown);
  process.on('SIGINT', shutdown);
}

const NEWLINE = Buffer.from('\n');
