/**
 * The operations of the management protocol (protocol.ts) over the in-process API, shared by its two
 * servers, ovpnd (daemon/server.ts) and ovpn-agent (stdio-agent.ts): `{"op": "peer-new", "msg": {...}}`
 * in, `{"reply": ...}`, a dump, or `{"error": {"code", "errno", "msg", "bad-attr"}}` out. Op names are
 * the kernel family's, plus dev-new/dev-del/dev-list and the protocol's own (dev-stats, mem, ...); the
 * agent adds helpers that make sockets in its own process (udp-socket, tcp-*, fd-close).
 */

import { isObject } from '../api/attrs.js';
import { devStats } from '../api/ops/dev.js';
import type { OvpnApi } from '../api/ovpn-api.js';
import { describe, OvpnError } from '../errors/ovpn-error.js';
import { Endpoint } from '../net/endpoint.js';
import { close } from '../sys/libc.js';
import { tcpAccept, tcpConnect, tcpListen } from '../transport/tcp-socket.js';
import { createUdpSocket } from '../transport/udp-socket.js';
import { type ErrorReply, errorReply, type WireMessage } from './protocol.js';

export interface Request {
  op: string;
  msg?: unknown;
  /** peer-get: dump every peer instead of one. */
  dump?: boolean;
  /** Echoed back so clients can match replies. */
  seq?: number;
}

export type Reply = { seq?: number; reply: unknown } | { seq?: number; error: ErrorReply };

export type Handler = (api: OvpnApi, msg: unknown, req: Request) => unknown;

/** An integer attribute of an agent helper op, in [min, max]. */
export function num(msg: unknown, name: string, min = 0, max = 0xffffffff): number {
  const v = isObject(msg) ? msg[name] : undefined;
  if (typeof v !== 'number' || !Number.isInteger(v))
    throw new OvpnError('EINVAL', `missing attribute ${name}`, name);
  if (v < min || v > max) throw new OvpnError('EINVAL', `${name} out of range (${min}..${max})`, name);
  return v;
}

/** A text attribute of an agent helper op (undefined when absent). */
export function text(msg: unknown, name: string): string | undefined {
  const v = isObject(msg) ? msg[name] : undefined;
  if (v === undefined) return undefined;
  if (typeof v !== 'string') throw new OvpnError('EINVAL', `${name} must be text`, name);
  return v;
}

const FD_MAX = 0x7fffffff;
const PORT_MAX = 0xffff;

/** The API operations and the read-only helpers: synchronous, and shared by the agent and ovpnd. */
export const API_HANDLERS: Record<string, Handler> = {
  'dev-new': (api, msg) => api.devNew(msg),
  'dev-del': (api, msg) => api.devDel(msg),
  'dev-list': (api) => api.devList(),
  'peer-new': (api, msg) => api.peerNew(msg),
  'peer-set': (api, msg) => api.peerSet(msg),
  'peer-get': (api, msg, req) => (req.dump ? api.peerDump(msg) : api.peerGet(msg)),
  'peer-del': (api, msg) => api.peerDel(msg),
  'key-new': (api, msg) => api.keyNew(msg),
  'key-get': (api, msg) => api.keyGet(msg),
  'key-swap': (api, msg) => api.keySwap(msg),
  'key-del': (api, msg) => api.keyDel(msg),
  /**
   * This process's memory use, after a full GC when node runs with --expose-gc. V8 frees the memory of
   * dead Buffers on a background thread after the GC, so the GC runs again once the event loop has
   * turned (pinned slabs and pooled Buffers would otherwise still count as in use).
   */
  mem: async () => {
    const gc = (globalThis as { gc?: () => void }).gc;
    if (gc !== undefined) {
      gc();
      await new Promise((r) => setTimeout(r, 20));
      gc();
    }
    const m = process.memoryUsage();
    return {
      rss: m.rss,
      'heap-total': m.heapTotal,
      'heap-used': m.heapUsed,
      external: m.external,
      'array-buffers': m.arrayBuffers,
    };
  },
  /** Device counters and drops by cause. */
  'dev-stats': (api, msg) => {
    const name = text(msg, 'ifname');
    const dev = name === undefined ? undefined : api.deviceByName(name);
    if (dev === undefined) throw new OvpnError('ENODEV', `no ovpn device ${describe(name)}`, 'ifname');
    return devStats(dev);
  },
};

/**
 * The stdio agent's operations: the shared ones, and helpers for a test or demo that lives outside the
 * agent's namespace: the agent makes the sockets itself, so `socket` numbers are its own fds.
 */
export const AGENT_HANDLERS: Record<string, Handler> = {
  ...API_HANDLERS,
  /** Creates a UDP socket in this process (and so this network namespace); replies with its fd. */
  'udp-socket': (_api, msg) => {
    const m = (isObject(msg) ? msg : {}) as {
      family?: 4 | 6;
      port?: number;
      address?: string;
      mark?: number;
    };
    return {
      fd: createUdpSocket({
        family: m.family ?? 6,
        port: m.port ?? 0,
        address: m.address,
        mark: m.mark,
        reuse: true,
      }),
    };
  },
  /** Closes an fd of this process; if it is an attached socket, its peers go (transport-disconnect). */
  'fd-close': (api, msg) => {
    const fd = num(msg, 'fd', 0, FD_MAX);
    try {
      api.closeSocket(fd);
    } catch {
      close(fd);
    }
  },
  /** A listening TCP socket: { family, port } -> { fd }. */
  'tcp-listen': (_api, msg) => {
    const family = isObject(msg) && msg.family === 4 ? 4 : 6;
    return { fd: tcpListen({ family, port: num(msg, 'port', 0, PORT_MAX) }) };
  },
  /** Waits for one connection on a listening fd: { fd } -> { fd } of the connection. */
  'tcp-accept': async (_api, msg) => ({ fd: await tcpAccept(num(msg, 'fd', 0, FD_MAX)) }),
  /** Connects: { remote-addr, remote-port } -> { fd }. */
  'tcp-connect': async (_api, msg) => {
    const addr = text(msg, 'remote-addr');
    if (addr === undefined) throw new OvpnError('EINVAL', 'missing attribute remote-addr', 'remote-addr');
    return { fd: await tcpConnect({ addr, port: num(msg, 'remote-port', 1, PORT_MAX) }) };
  },
  /** Sends a control packet through an attached socket: { ifindex, socket, remote-addr, remote-port, packet }. */
  'control-send': (api, msg) => {
    const c = parseControlSend(msg);
    if (!api.controlSend(c.ifindex, c.socket, c.to, c.packet))
      throw new OvpnError('EAGAIN', 'the socket did not take the packet');
  },
};

/**
 * The message of control-send, checked: `{ifindex, socket, packet (hex), remote-addr?, remote-port?}`.
 * `socket` names the socket as the front end knows it (the agent: its fd; ovpnd: the client's number).
 */
export function parseControlSend(msg: unknown): {
  ifindex: number;
  socket: number;
  to: Endpoint | undefined;
  packet: Buffer;
} {
  const ifindex = num(msg, 'ifindex');
  const socket = num(msg, 'socket', 0, FD_MAX);
  const packet = text(msg, 'packet');
  if (packet === undefined || !/^([0-9a-fA-F]{2})+$/.test(packet))
    throw new OvpnError('EINVAL', 'packet must be a non-empty hex string', 'packet');
  const addr = text(msg, 'remote-addr');
  const to = addr === undefined ? undefined : Endpoint.parse(addr, num(msg, 'remote-port', 1, PORT_MAX));
  return { ifindex, socket, to, packet: Buffer.from(packet, 'hex') };
}

/** dev-own's `ifindex`: a device of `api`, else ENODEV. */
export function ownedIfindex(api: OvpnApi, msg: unknown): number {
  const ifindex = num(msg, 'ifindex', 1);
  if (!api.devList().some((d) => d.ifindex === ifindex))
    throw new OvpnError('ENODEV', `no ovpn device with ifindex ${ifindex}`, 'ifindex');
  return ifindex;
}

/** The `peers` group is the only one (subscribe's `group`, default "peers"); else ENOENT. */
export function checkGroup(msg: unknown): void {
  const group = text(msg, 'group') ?? 'peers';
  if (group !== 'peers') throw new OvpnError('ENOENT', `no multicast group ${quote(group)}`, 'group');
}

/** Longest op or group name quoted back in an error. */
const QUOTE_MAX = 64;

/** A client-supplied value for an error message, cut short. */
export function quote(v: unknown): string {
  let s: string;
  try {
    s = JSON.stringify(v) ?? String(v);
  } catch {
    s = typeof v;
  }
  return s.length > QUOTE_MAX ? `${s.slice(0, QUOTE_MAX)}...` : s;
}

/**
 * One message as a request, or the error to send back instead (without a seq: the message is not a
 * JSON object).
 */
export function parseRequest(data: string): { request: Request } | { refusal: WireMessage } {
  let req: unknown;
  try {
    req = JSON.parse(data);
  } catch {
    return { refusal: { error: errorReply('EINVAL', 'the message is not JSON') } };
  }
  if (typeof req !== 'object' || req === null || Array.isArray(req))
    return { refusal: { error: errorReply('EINVAL', 'a request must be a JSON object') } };
  // seq is echoed only when it is a number (it is the client's to match replies with)
  const r = req as Request;
  return { request: typeof r.seq === 'number' || r.seq === undefined ? r : { ...r, seq: undefined } };
}

/** The messages that answer `req`: the reply or error; a dump's objects one per message, then done. */
export function replyMessages(req: Request, r: Reply): WireMessage[] {
  if ('error' in r) return [r];
  if (req.op === 'peer-get' && req.dump === true && Array.isArray(r.reply))
    return [...r.reply.map((item: unknown) => ({ seq: r.seq, dump: item })), { seq: r.seq, done: true }];
  return [r];
}

/** Runs one request against `api` with `handlers`; never throws or rejects. */
export async function dispatch(
  api: OvpnApi,
  req: Request,
  handlers: Record<string, Handler> = AGENT_HANDLERS,
): Promise<Reply> {
  const seq = req?.seq;
  try {
    const h = typeof req?.op === 'string' && Object.hasOwn(handlers, req.op) ? handlers[req.op] : undefined;
    if (h === undefined) throw new OvpnError('EOPNOTSUPP', `unknown op ${quote(req?.op)}`);
    const reply = await h(api, req.msg, req);
    return { seq, reply: reply ?? null };
  } catch (e) {
    return { seq, error: toErrorReply(e) };
  }
}

export function toErrorReply(e: unknown): ErrorReply {
  if (e instanceof OvpnError) return errorReply(e.code, e.message, e.attr);
  return errorReply('EIO', e instanceof Error ? e.message : String(e));
}
