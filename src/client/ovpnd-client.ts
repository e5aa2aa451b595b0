/**
 * The TypeScript client of the management protocol (docs/ovpnd.md): the operations of the in-process
 * API (api/ovpn-api.ts) with the same message shapes and error codes, as promises, plus notifications,
 * control packets and socket handover. One class, two links:
 *
 * - `connect()`: ovpnd's socket. `socket` in peer-new is this process's own fd: the client passes that
 *   fd along with the request by SCM_RIGHTS, as the kernel resolves it in the caller's fd table. The
 *   daemon keeps using the socket for as long as this connection stays open; closing the connection
 *   removes the peers it handed over.
 * - `spawnAgent()`: an ovpn-agent child process (in a network namespace if asked), the same messages
 *   one per line on its stdin/stdout. No fd can travel there: `socket` numbers are the agent's own
 *   fds, made with its helper ops (`request('udp-socket', ...)`, tcp-listen/accept/connect).
 *
 *   const c = await OvpndClient.connect({ start: true });
 *   const { ifindex } = await c.devNew({ ifname: 'tun0', mode: 'mp' });
 *   await c.peerNew({ ifindex, peer: { id: 1, socket: fd, 'remote-ipv4': '10.0.0.2', ... } });
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { closeSync, mkdirSync, openSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import type { DevInfo, KeyInfo, Notification, PeerInfo } from '../api/messages.js';
import {
  type ControlPacketEvent,
  type ControlSendMsg,
  type DaemonInfo,
  type ErrorReply,
  errorReply,
  OVPND_SOCKET,
  type RemoteApiOps,
  type WireEvent,
} from '../mgmt/protocol.js';
import { close, EAGAIN, EBADF, ECONNREFUSED, ENOENT, fcntl } from '../sys/libc.js';
import { inNetns, netnsId, netnsName } from '../sys/netns.js';
import { type FdWatcher, watchFd } from '../sys/poll.js';
import {
  MAX_MESSAGE,
  type PeerCred,
  peerCred,
  recvMessage,
  SyscallError,
  sendMessage,
  seqpacketConnect,
} from '../sys/unix-seqpacket.js';

/** The daemon refused a request: `code` is the errno name (EINVAL, ENOENT, ...). */
export class OvpndError extends Error {
  constructor(readonly reply: ErrorReply) {
    super(`${reply.code}: ${reply.msg}`);
    this.name = 'OvpndError';
  }
  get code(): string {
    return this.reply.code;
  }
  get errno(): number {
    return this.reply.errno;
  }
}

export interface ConnectOptions {
  /** `ip netns` name of the namespace whose daemon to use (default: this process's namespace). */
  netns?: string;
  /** Start a daemon there if none runs (as the first device-creating command does). */
  start?: boolean;
  /** How long to wait for a daemon that is starting, in ms (default 10 s). */
  timeoutMs?: number;
  /** Abstract socket name (default OVPND_SOCKET); for tests that run a private daemon. */
  socketName?: string;
}

const OVPND = fileURLToPath(new URL('../cli/ovpnd.js', import.meta.url));
const AGENT = fileURLToPath(new URL('../cli/ovpn-agent.js', import.meta.url));

export interface AgentOptions {
  /** `ip netns` name of the namespace to run the agent in (default: this process's). */
  netns?: string;
  /** Extra node flags (default: $OVPN_AGENT_NODE_ARGS, space-separated, e.g. --cpu-prof). */
  nodeArgs?: string[];
}

/** How messages travel: ovpnd's socket, or a child's stdin/stdout. */
interface Link {
  /** Whether fds can go along with a message (SCM_RIGHTS). */
  readonly passesFds: boolean;
  /** The socket's fd; -1 for a child process. */
  readonly fd: number;
  /** Queues one message for request `seq`. */
  send(seq: number, data: Buffer, fds: number[]): void;
  /** Starts closing; the link reports `gone` once it is. */
  close(): void;
}

interface LinkEvents {
  message(data: Buffer): void;
  /** A request could not be sent (its fd was bad): it fails alone. */
  failed(seq: number, e: Error): void;
  /** The link is gone (closed here, by the peer, or the child exited); `why` for pending requests. */
  gone(why: string): void;
}
/**
 * Node flags of the daemon (bin/ovpnd has the same). --expose-gc: the `mem` op reports memory after a
 * full collection. --max-semi-space-size=2 (MiB): the data path allocates nothing per packet, but peer
 * churn does, and V8 would otherwise grow its young generation from 2 to 16 MiB semi-spaces, a one-off
 * RSS rise of ~20 MiB that looks like a leak and buys nothing (bench/daemon.ts measured it).
 */
export const OVPND_NODE_FLAGS = ['--expose-gc', '--max-semi-space-size=2'];
/**
 * Node flags of an ovpn-agent: a full GC before the `mem` op measures (otherwise the garbage Buffers of
 * the events it wrote count as memory in use).
 */
export const AGENT_NODE_FLAGS = ['--expose-gc'];
const F_GETFD = 1;

interface Pending {
  resolve: (v: unknown) => void;
  reject: (e: Error) => void;
  items?: unknown[];
}

export class OvpndClient implements RemoteApiOps {
  private seq = 0;
  private readonly pending = new Map<number, Pending>();
  private readonly link: Link;
  private readonly eventListeners = new Set<(e: WireEvent) => void>();
  private isClosed = false;
  private resolveClosed!: () => void;
  /** What a spawned agent wrote to stderr so far ('' on a socket). */
  stderr = '';
  /**
   * Settles when the link is gone: closed here or by the daemon; for an agent, once the process has
   * exited.
   */
  readonly closed = new Promise<void>((r) => {
    this.resolveClosed = r;
  });

  private constructor(makeLink: (events: LinkEvents) => Link) {
    this.link = makeLink({
      message: (data) => this.onMessage(data),
      failed: (seq, e) => this.failRequest(seq, e),
      gone: (why) => this.gone(why),
    });
  }

  /** The socket's fd (for a process that holds the connection open); -1 for an agent. */
  get fd(): number {
    return this.link.fd;
  }

  /**
   * Starts an ovpn-agent (in network namespace `netns` when given) and talks to it over its
   * stdin/stdout. The agent's devices are deleted when the client closes.
   */
  static spawnAgent(opts: AgentOptions = {}): OvpndClient {
    const c: OvpndClient = new OvpndClient(
      (events) =>
        new StdioLink(opts, events, (t) => {
          c.stderr += t;
        }),
    );
    return c;
  }

  /** Connects to the daemon of a network namespace, starting it first if asked to and needed. */
  static async connect(opts: ConnectOptions = {}): Promise<OvpndClient> {
    const name = opts.socketName ?? OVPND_SOCKET;
    const attempt = () =>
      opts.netns === undefined ? seqpacketConnect(name) : inNetns(opts.netns, () => seqpacketConnect(name));
    const deadline = Date.now() + (opts.timeoutMs ?? 10_000);
    const where = opts.netns === undefined ? 'this network namespace' : `netns ${opts.netns}`;
    let spawnError: Error | undefined;
    let started = false;
    for (;;) {
      if (spawnError !== undefined) throw new Error(`cannot start ovpnd: ${spawnError.message}`);
      let fd: number;
      try {
        fd = attempt();
      } catch (e) {
        const absent = e instanceof SyscallError && (e.errno === ECONNREFUSED || e.errno === ENOENT);
        const busy = e instanceof SyscallError && e.errno === EAGAIN; // its backlog is full: wait
        if (!busy && !(absent && opts.start)) {
          if (absent) throw new Error(`no ovpnd runs in ${where}`);
          throw e;
        }
        if (absent && !started) {
          startDaemon(opts.netns, opts.socketName).once('error', (err) => {
            spawnError = err;
          });
          started = true;
        }
        if (Date.now() > deadline)
          throw new Error(`ovpnd did not ${busy ? 'accept' : 'start'} in time in ${where}`);
        await new Promise((r) => setTimeout(r, 25));
        continue;
      }
      // Any user can bind an abstract name: talk only to a daemon run by root, which is where keys and
      // sockets are going.
      let cred: PeerCred;
      try {
        cred = peerCred(fd);
      } catch (e) {
        close(fd);
        throw e;
      }
      if (cred.uid !== 0) {
        close(fd);
        throw new Error(
          `the ovpnd socket in ${where} belongs to uid ${cred.uid} (pid ${cred.pid}), not root`,
        );
      }
      const c = new OvpndClient((events) => new SeqpacketLink(fd, events));
      if (!opts.start) return c;
      // A daemon that was just exiting (idle) may have taken the connection and then closed it: make
      // sure this one answers, else start one again.
      try {
        await c.daemonInfo();
        return c;
      } catch (e) {
        c.close();
        if (e instanceof OvpndError || Date.now() > deadline) throw e;
        started = false;
      }
    }
  }

  // ---- the API ------------------------------------------------------------------------------------

  devNew(msg: unknown): Promise<DevInfo> {
    return this.request('dev-new', msg);
  }
  devDel(msg: unknown): Promise<void> {
    return this.request('dev-del', msg);
  }
  devList(): Promise<DevInfo[]> {
    return this.request('dev-list');
  }
  /** dev-own: the daemon deletes the device when this connection closes (however the client ends). */
  devOwn(msg: { ifindex: number }): Promise<void> {
    return this.request('dev-own', msg);
  }
  /**
   * peer-new. The fd in `msg.peer.socket` (or `fd` when given: then `socket` may name it differently)
   * is passed to the daemon with the request.
   */
  peerNew(msg: unknown, fd?: number): Promise<void> {
    if (!this.link.passesFds) return this.request('peer-new', msg);
    const s = (msg as { peer?: { socket?: unknown } } | undefined)?.peer?.socket;
    const pass = fd ?? (typeof s === 'number' && Number.isInteger(s) && s >= 0 ? s : undefined);
    // An fd that is not open here is not passed: the daemon then answers ENOTSOCK, after the
    // attribute checks, as the kernel does for an fd missing from the caller's table.
    const open = pass !== undefined && pass <= 0x7fffffff && fcntl(pass, F_GETFD, 0) >= 0;
    return this.request('peer-new', msg, { fds: open ? [pass] : [] });
  }
  peerSet(msg: unknown): Promise<void> {
    return this.request('peer-set', msg);
  }
  peerGet(msg: unknown): Promise<PeerInfo> {
    return this.request('peer-get', msg);
  }
  peerDump(msg: unknown): Promise<PeerInfo[]> {
    return this.request('peer-get', msg, { dump: true });
  }
  peerDel(msg: unknown): Promise<void> {
    return this.request('peer-del', msg);
  }
  keyNew(msg: unknown): Promise<void> {
    return this.request('key-new', msg);
  }
  keyGet(msg: unknown): Promise<KeyInfo> {
    return this.request('key-get', msg);
  }
  keySwap(msg: unknown): Promise<void> {
    return this.request('key-swap', msg);
  }
  keyDel(msg: unknown): Promise<void> {
    return this.request('key-del', msg);
  }

  /** Sends a control packet through a socket this connection handed over. */
  controlSend(msg: ControlSendMsg): Promise<void> {
    return this.request('control-send', msg);
  }

  /** Joins the `peers` multicast group: notifications then reach `onNotification` listeners. */
  subscribe(group = 'peers'): Promise<void> {
    return this.request('subscribe', { group });
  }

  daemonInfo(): Promise<DaemonInfo> {
    return this.request('daemon-info');
  }

  /** Every event: notifications (once subscribed) and control packets. Returns an unsubscribe. */
  onEvent(cb: (e: WireEvent) => void): () => void {
    this.eventListeners.add(cb);
    return () => this.eventListeners.delete(cb);
  }

  onNotification(cb: (n: Notification) => void): () => void {
    return this.onEvent((e) => {
      if (e.name !== 'control-packet') cb(e);
    });
  }

  onControl(cb: (m: ControlPacketEvent['msg']) => void): () => void {
    return this.onEvent((e) => {
      if (e.name === 'control-packet') cb(e.msg);
    });
  }

  /**
   * Sends one request and resolves with its reply (a dump: every object, in order). Rejects with
   * OvpndError when the daemon refuses it, or Error when the connection is gone.
   */
  request<T = unknown>(op: string, msg?: unknown, opts: { dump?: boolean; fds?: number[] } = {}): Promise<T> {
    if (this.isClosed) return Promise.reject(new Error('ovpnd connection is closed'));
    const seq = ++this.seq;
    const body = Buffer.from(JSON.stringify({ op, msg, seq, dump: opts.dump || undefined }));
    if (body.length > MAX_MESSAGE)
      return Promise.reject(
        new OvpndError(errorReply('EMSGSIZE', `${op}: request larger than ${MAX_MESSAGE} bytes`)),
      );
    if ((opts.fds?.length ?? 0) > (this.link.passesFds ? 1 : 0)) {
      const why = this.link.passesFds ? 'at most one fd per request' : "no fd can go over an agent's stdio";
      return Promise.reject(new OvpndError(errorReply('EINVAL', `${op}: ${why}`)));
    }
    return new Promise<T>((resolve, reject) => {
      this.pending.set(seq, {
        resolve: resolve as (v: unknown) => void,
        reject,
        items: opts.dump ? [] : undefined,
      });
      this.link.send(seq, body, opts.fds ?? []);
    });
  }

  private failRequest(seq: number, e: Error): void {
    const p = this.pending.get(seq);
    this.pending.delete(seq);
    p?.reject(e);
  }

  /** Closes the link (an agent: ends its stdin, so it deletes its devices and exits); pending requests fail. */
  close(): void {
    if (this.isClosed) return;
    this.rejectPending('ovpnd connection closed');
    this.link.close();
  }

  private rejectPending(why: string): void {
    this.isClosed = true;
    for (const p of this.pending.values()) p.reject(new Error(why));
    this.pending.clear();
  }

  private gone(why: string): void {
    this.rejectPending(why);
    this.resolveClosed();
  }

  private onMessage(data: Buffer): void {
    let m: Record<string, unknown>;
    try {
      m = JSON.parse(data.toString('utf8')) as Record<string, unknown>;
    } catch {
      return;
    }
    if (typeof m.name === 'string') {
      for (const cb of this.eventListeners) cb(m as unknown as WireEvent);
      return;
    }
    // Replies come in request order: an error the daemon could not tie to a request (one too large to
    // read) is the oldest one's.
    const seq =
      typeof m.seq === 'number'
        ? m.seq
        : m.error !== undefined
          ? this.pending.keys().next().value
          : undefined;
    const p = seq === undefined ? undefined : this.pending.get(seq);
    if (p === undefined || seq === undefined) return;
    if ('dump' in m && p.items !== undefined) {
      p.items.push(m.dump);
      return;
    }
    this.pending.delete(seq);
    if (m.error !== undefined) p.reject(new OvpndError(m.error as ErrorReply));
    else if (p.items !== undefined) p.resolve(p.items);
    else p.resolve(m.reply);
  }
}

/** ovpnd's SOCK_SEQPACKET socket: one message per request, an fd along with peer-new. */
class SeqpacketLink implements Link {
  readonly passesFds = true;
  private readonly out: { data: Buffer; fds: number[]; seq: number }[] = [];
  private readonly watcher: FdWatcher;
  private isClosed = false;

  constructor(
    readonly fd: number,
    private readonly events: LinkEvents,
  ) {
    this.watcher = watchFd(fd, { readable: true, writable: false }, (ev) => {
      if (ev.writable) this.flush();
      if (ev.readable || ev.disconnect) this.drain();
    });
  }

  send(seq: number, data: Buffer, fds: number[]): void {
    this.out.push({ data, fds, seq });
    this.flush();
  }

  close(): void {
    if (this.isClosed) return;
    this.isClosed = true;
    this.watcher.close();
    close(this.fd);
    this.out.length = 0;
    this.events.gone('ovpnd connection closed');
  }

  private flush(): void {
    while (this.out.length > 0) {
      const m = this.out[0];
      try {
        if (!sendMessage(this.fd, m.data, m.fds)) break;
      } catch (e) {
        // A bad fd to pass (closed meanwhile) fails that request only; anything else is the connection.
        if (e instanceof SyscallError && e.errno === EBADF) {
          this.out.shift();
          this.events.failed(m.seq, new OvpndError(errorReply('EBADF', 'the fd to pass is not open')));
          continue;
        }
        this.close();
        return;
      }
      this.out.shift();
    }
    if (!this.isClosed) this.watcher.update({ readable: true, writable: this.out.length > 0 });
  }

  private drain(): void {
    while (!this.isClosed) {
      const r = recvMessage(this.fd);
      if (r.kind === 'again') return;
      if (r.kind === 'eof') {
        this.close();
        return;
      }
      if (r.kind === 'oversized') continue;
      for (const f of r.fds) close(f); // the daemon never sends fds
      this.events.message(r.data);
    }
  }
}

/** An ovpn-agent child: one message per line on its stdin/stdout. */
class StdioLink implements Link {
  readonly passesFds = false;
  readonly fd = -1;
  private readonly child: ChildProcess;

  constructor(opts: AgentOptions, events: LinkEvents, stderr: (text: string) => void) {
    const extra = opts.nodeArgs ?? (process.env.OVPN_AGENT_NODE_ARGS ?? '').split(' ').filter(Boolean);
    const args = [...AGENT_NODE_FLAGS, ...extra, AGENT];
    this.child =
      opts.netns === undefined
        ? spawn(process.execPath, args, { stdio: ['pipe', 'pipe', 'pipe'] })
        : spawn('ip', ['netns', 'exec', opts.netns, process.execPath, ...args], {
            stdio: ['pipe', 'pipe', 'pipe'],
          });
    let tail = '';
    this.child.stderr?.on('data', (d: Buffer) => {
      const t = d.toString();
      tail = (tail + t).slice(-500);
      stderr(t);
    });
    this.child.stdin?.on('error', () => {}); // EPIPE once the agent is gone: reported by 'exit'
    createInterface({ input: this.child.stdout! }).on('line', (line) => events.message(Buffer.from(line)));
    this.child.once('error', (e) => events.gone(`cannot start ovpn-agent: ${e.message}`));
    this.child.once('exit', () => events.gone(`ovpn-agent exited: ${tail}`));
  }

  send(_seq: number, data: Buffer): void {
    this.child.stdin?.write(Buffer.concat([data, NEWLINE]));
  }

  close(): void {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    this.child.stdin?.end();
    const t = setTimeout(() => this.child.kill('SIGKILL'), 3000);
    this.child.once('exit', () => clearTimeout(t));
  }
}

const NEWLINE = Buffer.from('\n');

/** Where a daemon started on demand logs (start, stop, and a crash's stack), unless OVPND_LOG says. */
export const OVPND_LOG_DIR = '/run/ovpn-ts';

/**
 * Starts ovpnd in the background (in netns `netns` when given); it outlives this process. Its output
 * goes to $OVPND_LOG, else to /run/ovpn-ts/ovpnd-<netns>.log.
 */
export function startDaemon(netns?: string, socketName?: string): ChildProcess {
  const args = [...OVPND_NODE_FLAGS, OVPND, ...(socketName === undefined ? [] : ['--socket', socketName])];
  const log = process.env.OVPND_LOG ?? defaultLog(netns);
  let fd: number | 'ignore' = 'ignore';
  if (log !== undefined) {
    try {
      fd = openSync(log, 'a', 0o600);
    } catch {
      // no log then; the daemon runs all the same
    }
  }
  const child =
    netns === undefined
      ? spawn(process.execPath, args, { detached: true, stdio: ['ignore', fd, fd] })
      : spawn('ip', ['netns', 'exec', netns, process.execPath, ...args], {
          detached: true,
          stdio: ['ignore', fd, fd],
        });
  if (typeof fd === 'number') closeSync(fd);
  child.unref();
  return child;
}

function defaultLog(netns: string | undefined): string | undefined {
  try {
    mkdirSync(OVPND_LOG_DIR, { recursive: true, mode: 0o700 });
  } catch {
    return undefined;
  }
  const name = netns ?? netnsName() ?? `ns${(netnsId() ?? 'unknown').replace(':', '-')}`;
  return `${OVPND_LOG_DIR}/ovpnd-${name}.log`;
}
