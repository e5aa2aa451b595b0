/**
 * Where the client's data plane runs, the way OpenVPN 2.7 drives the kernel driver: in this process
 * (the default, OvpnApi) or in the namespace's `ovpnd` (`--ovpnd`, OvpndClient over its SEQPACKET
 * socket, docs/ovpnd.md). DataPlaneLink speaks only this interface.
 *
 * The operations are promises so that both fit; in process they take effect at once (the body of an
 * async function runs up to its first await), over ovpnd in request order (the daemon answers one
 * connection's requests in order), so a caller may issue several without waiting and wait for the
 * last.
 *
 * Over ovpnd the socket travels with peer-new (SCM_RIGHTS) and the daemon reads it from then on: its
 * control packets come back as `control-packet` events to this connection, and ours leave with
 * `control-send`. Closing the connection counts as closing the handed-over socket (its peers go with
 * reason `transport-disconnect`).
 */
import type { DevInfo, Notification, PeerInfo } from '../api/messages.js';
import { OvpnApi } from '../api/ovpn-api.js';
import { OvpndClient } from '../client/ovpnd-client.js';
import type { Endpoint } from '../net/endpoint.js';
import { formatIPv4, formatIPv6 } from '../net/ip-address.js';
import { close as closeFd } from '../sys/libc.js';
import { fatalError } from './connect-retry.js';

/** A packet that is not data, from the socket handed over for device `ifindex`. */
export interface ControlIn {
  ifindex: number;
  remotePort: number;
  packet: Buffer;
}

export interface DataPlane {
  readonly kind: 'in-process' | 'ovpnd';
  devNew(msg: { ifname: string; mode: 'p2p' }): Promise<DevInfo>;
  devDel(msg: { ifindex: number }): Promise<void>;
  /** peer-new; `fd` is the socket in `msg.peer.socket`, passed along when the plane is elsewhere. */
  peerNew(msg: unknown, fd: number): Promise<void>;
  peerSet(msg: unknown): Promise<void>;
  peerGet(msg: unknown): Promise<PeerInfo>;
  peerDel(msg: unknown): Promise<void>;
  /** peer-get answered at once, where the data plane is in this process. */
  readonly peerGetNow?: (msg: unknown) => PeerInfo;
  keyNew(msg: unknown): Promise<void>;
  keySwap(msg: unknown): Promise<void>;
  keyDel(msg: unknown): Promise<void>;
  /** Sends a control packet through the handed-over socket `fd` (UDP: to `to`; TCP: one frame). */
  controlSend(ifindex: number, fd: number, to: Endpoint | undefined, packet: Buffer): Promise<void>;
  onControl(cb: (m: ControlIn) => void): () => void;
  onNotification(cb: (n: Notification) => void): () => void;
  /**
   * The data plane went away by itself (ovpnd died or closed the connection): fatal, since its devices
   * went with it and a reconnection cannot bring it back.
   */
  onGone(cb: (why: string) => void): () => void;
  /** Our own fd of a handed-over socket is no longer needed (after dev-del). */
  releaseSocket(fd: number): void;
  /** Ends the plane: in process, its devices go; over ovpnd, the connection closes. */
  close(): void;
}

/** The data plane in this process. */
export function inProcessDataPlane(api: OvpnApi = new OvpnApi()): DataPlane {
  return {
    kind: 'in-process',
    devNew: async (msg) => api.devNew(msg),
    devDel: async (msg) => api.devDel(msg),
    peerNew: async (msg) => api.peerNew(msg),
    peerSet: async (msg) => api.peerSet(msg),
    peerGet: async (msg) => api.peerGet(msg),
    peerDel: async (msg) => api.peerDel(msg),
    peerGetNow: (msg) => api.peerGet(msg),
    keyNew: async (msg) => api.keyNew(msg),
    keySwap: async (msg) => api.keySwap(msg),
    keyDel: async (msg) => api.keyDel(msg),
    controlSend: async (ifindex, fd, to, packet) => {
      api.controlSend(ifindex, fd, to, packet);
    },
    onControl: (cb) =>
      api.onControl((m) => cb({ ifindex: m.ifindex, remotePort: m['remote-port'], packet: m.packet })),
    onNotification: (cb) => api.subscribe(cb),
    onGone: () => () => {},
    releaseSocket: (fd) => api.closeSocket(fd),
    close: () => api.close(),
  };
}

/**
 * The data plane of this namespace's ovpnd, started if none runs (as `ovpn-cli` does); subscribed to
 * the `peers` notifications.
 */
export async function ovpndDataPlane(): Promise<DataPlane> {
  const c = await OvpndClient.connect({ start: true });
  try {
    await c.subscribe();
  } catch (e) {
    c.close();
    throw e;
  }
  let closing = false;
  /** Why the connection is gone, when ovpnd closed it: a new connection attempt cannot cure that. */
  let lost: string | undefined;
  const gone = new Set<(why: string) => void>();
  void c.closed.then(() => {
    if (closing) return;
    lost = 'the connection to ovpnd closed';
    for (const cb of [...gone]) cb(lost);
  });
  return {
    kind: 'ovpnd',
    devNew: async (msg) => {
      if (lost !== undefined) throw fatalError(lost);
      const dev = await c.devNew(msg);
      // the device is this process's: ovpnd deletes it should the process die before its dev-del
      try {
        await c.devOwn({ ifindex: dev.ifindex });
      } catch (e) {
        await c.devDel({ ifindex: dev.ifindex }).catch(() => {});
        throw e;
      }
      return dev;
    },
    devDel: (msg) => c.devDel(msg),
    peerNew: (msg, fd) => c.peerNew(msg, fd),
    peerSet: (msg) => c.peerSet(msg),
    peerGet: (msg) => c.peerGet(msg),
    peerDel: (msg) => c.peerDel(msg),
    keyNew: (msg) => c.keyNew(msg),
    keySwap: (msg) => c.keySwap(msg),
    keyDel: (msg) => c.keyDel(msg),
    controlSend: (ifindex, fd, to, packet) =>
      c.controlSend({
        ifindex,
        socket: fd,
        packet: packet.toString('hex'),
        ...(to === undefined
          ? {}
          : {
              'remote-addr': to.family === 4 ? formatIPv4(to.addr) : formatIPv6(to.addr),
              'remote-port': to.port,
            }),
      }),
    onControl: (cb) =>
      c.onControl((m) =>
        cb({ ifindex: m.ifindex, remotePort: m['remote-port'], packet: Buffer.from(m.packet, 'hex') }),
      ),
    onNotification: (cb) => c.onNotification(cb),
    onGone: (cb) => {
      gone.add(cb);
      return () => gone.delete(cb);
    },
    releaseSocket: (fd) => closeFd(fd),
    close: () => {
      closing = true;
      c.close();
    },
  };
}
