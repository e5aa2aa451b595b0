/**
 * One request/reply protocol over the in-process API, shared by every management front end (the
 * stdio agent now, the ovpnd socket later): `{ "op": "peer-new", "msg": { ... } }` in, `{ "reply": ... }`
 * or `{ "error": { "code", "errno", "msg", "bad-attr" } }` out. Op names are the kernel family's,
 * plus dev-new/dev-del/dev-list and a few helpers a control plane needs (udp-socket, dev-stats).
 */
import type { OvpnApi } from '../api/ovpn-api.js';
import { DROP_REASON_NAMES } from '../datapath/drop-reason.js';
import { OvpnError } from '../errors/ovpn-error.js';
import { Endpoint } from '../net/endpoint.js';
import { close } from '../sys/libc.js';
import { tcpAccept, tcpConnect, tcpListen } from '../transport/tcp-socket.js';
import { createUdpSocket } from '../transport/udp-socket.js';

export interface Request {
  op: string;
  msg?: unknown;
  /** peer-get: dump every peer instead of one. */
  dump?: boolean;
  /** Echoed back so clients can match replies. */
  seq?: number;
}

export interface ErrorReply {
  code: string;
  errno: number;
  msg: string;
  'bad-attr'?: string;
}

export type Reply = { seq?: number; reply: unknown } | { seq?: number; error: ErrorReply };

type Handler = (api: OvpnApi, msg: unknown, req: Request) => unknown;

function num(msg: unknown, name: string): number {
  const v = (msg as Record<string, unknown> | undefined)?.[name];
  if (typeof v !== 'number' || !Number.isInteger(v))
    throw new OvpnError('EINVAL', `missing attribute ${name}`, name);
  return v;
}

const HANDLERS: Record<string, Handler> = {
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
  /** Creates a UDP socket in this process (and so this network namespace); replies with its fd. */
  'udp-socket': (_api, msg) => {
    const m = (msg ?? {}) as { family?: 4 | 6; port?: number; address?: string; mark?: number };
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
    const fd = num(msg, 'fd');
    try {
      api.closeSocket(fd);
    } catch {
      close(fd);
    }
  },
  /** A listening TCP socket: { family, port } -> { fd }. */
  'tcp-listen': (_api, msg) => {
    const m = (msg ?? {}) as { family?: 4 | 6; port?: number };
    return { fd: tcpListen({ family: m.family ?? 6, port: num(msg, 'port') }) };
  },
  /** Waits for one connection on a listening fd: { fd } -> { fd } of the connection. */
  'tcp-accept': async (_api, msg) => ({ fd: await tcpAccept(num(msg, 'fd')) }),
  /** Connects: { remote-addr, remote-port } -> { fd }. */
  'tcp-connect': async (_api, msg) => {
    const addr = (msg as Record<string, unknown> | undefined)?.['remote-addr'];
    if (typeof addr !== 'string')
      throw new OvpnError('EINVAL', 'missing attribute remote-addr', 'remote-addr');
    return { fd: await tcpConnect({ addr, port: num(msg, 'remote-port') }) };
  },
  /** Sends a control packet through an attached socket: { ifindex, socket, remote-addr, remote-port, packet }. */
  'control-send': (api, msg) => {
    const m = (msg ?? {}) as {
      ifindex?: number;
      socket?: number;
      'remote-addr'?: string;
      'remote-port'?: number;
      packet?: string;
    };
    if (typeof m.ifindex !== 'number') throw new OvpnError('EINVAL', 'missing attribute ifindex', 'ifindex');
    if (typeof m.socket !== 'number') throw new OvpnError('EINVAL', 'missing attribute socket', 'socket');
    if (typeof m.packet !== 'string' || !/^([0-9a-fA-F]{2})+$/.test(m.packet)) {
      throw new OvpnError('EINVAL', 'packet must be a non-empty hex string', 'packet');
    }
    const to =
      typeof m['remote-addr'] === 'string' && typeof m['remote-port'] === 'number'
        ? Endpoint.parse(m['remote-addr'], m['remote-port'])
        : undefined;
    if (!api.controlSend(m.ifindex, m.socket, to, Buffer.from(m.packet, 'hex'))) {
      throw new OvpnError('EAGAIN', 'the socket did not take the packet');
    }
  },
  /** This process's memory use (after a full GC when node runs with --expose-gc). */
  mem: () => {
    (globalThis as { gc?: () => void }).gc?.();
    const m = process.memoryUsage();
    return { rss: m.rss, 'heap-used': m.heapUsed, external: m.external, 'array-buffers': m.arrayBuffers };
  },
  /** Device counters and drops by cause. */
  'dev-stats': (api, msg) => {
    const name = (msg as { ifname?: string } | undefined)?.ifname;
    const dev = name === undefined ? undefined : api.deviceByName(name);
    if (dev === undefined) throw new OvpnError('ENODEV', `no ovpn device ${name}`, 'ifname');
    const drops: Record<string, number> = {};
    for (let r = 1; r < DROP_REASON_NAMES.length; r++)
      if (dev.drops.counts[r] > 0) drops[DROP_REASON_NAMES[r]] = dev.drops.counts[r];
    return { ...dev.counters, 'rx-dropped': dev.drops.rxDropped, 'tx-dropped': dev.drops.txDropped, drops };
  },
};

/** Runs one request against `api`; never throws or rejects. */
export async function dispatch(api: OvpnApi, req: Request): Promise<Reply> {
  const seq = req?.seq;
  try {
    const h = typeof req?.op === 'string' && Object.hasOwn(HANDLERS, req.op) ? HANDLERS[req.op] : undefined;
    if (h === undefined) throw new OvpnError('EOPNOTSUPP', `unknown op ${String(req?.op)}`);
    const reply = await h(api, req.msg, req);
    return { seq, reply: reply ?? null };
  } catch (e) {
    return { seq, error: toErrorReply(e) };
  }
}

export function toErrorReply(e: unknown): ErrorReply {
  if (e instanceof OvpnError) {
    const r: ErrorReply = { code: e.code, errno: e.errno, msg: e.message };
    if (e.attr !== undefined) r['bad-attr'] = e.attr;
    return r;
  }
  return { code: 'EIO', errno: 5, msg: e instanceof Error ? e.message : String(e) };
}

/** JSON with bigints as numbers when exact (else strings) and Buffers as hex. */
export function toJson(v: unknown): string {
  return JSON.stringify(v, (_k, x: unknown) => {
    if (typeof x === 'bigint') return x <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(x) : x.toString();
    if (x !== null && typeof x === 'object' && (x as { type?: string }).type === 'Buffer') {
      return Buffer.from((x as { data: number[] }).data).toString('hex');
    }
    return x;
  });
}
