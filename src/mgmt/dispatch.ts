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
  'fd-close': (_api, msg) => {
    const fd = (msg as { fd?: number } | undefined)?.fd;
    if (typeof fd !== 'number') throw new OvpnError('EINVAL', 'missing attribute fd', 'fd');
    close(fd);
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
    if (typeof m['remote-addr'] !== 'string' || typeof m['remote-port'] !== 'number') {
      throw new OvpnError('EINVAL', 'missing attribute remote-addr/remote-port', 'remote-addr');
    }
    if (typeof m.packet !== 'string' || !/^([0-9a-fA-F]{2})+$/.test(m.packet)) {
      throw new OvpnError('EINVAL', 'packet must be a non-empty hex string', 'packet');
    }
    const to = Endpoint.parse(m['remote-addr'], m['remote-port']);
    if (!api.controlSend(m.ifindex, m.socket, to, Buffer.from(m.packet, 'hex'))) {
      throw new OvpnError('EIO', 'the socket did not take the packet');
    }
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

/** Runs one request against `api`; never throws. */
export function dispatch(api: OvpnApi, req: Request): Reply {
  const seq = req.seq;
  try {
    const h = HANDLERS[req.op];
    if (h === undefined) throw new OvpnError('EOPNOTSUPP', `unknown op ${String(req.op)}`);
    const reply = h(api, req.msg, req);
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
