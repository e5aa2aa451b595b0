/**
 * The client's side of the data plane: one P2P ovpn device, the UDP socket to the server, and the one
 * peer behind it, all through a DataPlane (data-plane.ts: the in-process OvpnApi, or the namespace's
 * ovpnd with `--ovpnd`), the way OpenVPN 2.7 drives DCO (dco.c).
 *
 * The socket is handed to the data plane at once, before the handshake, with a placeholder peer: from
 * then on every packet that is not data reaches us through the plane's `onControl` and our control packets
 * leave through its `controlSend`, so the control session runs the same way before and after the
 * keys are installed. When the PUSH_REPLY names the peer-id, a second peer-new replaces the
 * placeholder (a P2P device keeps one peer; the socket stays attached because the new peer takes its
 * reference before the old one lets go).
 *
 * Peer ids: OpenVPN's server writes the client's peer-id into the P_DATA_V2 packets it sends, and the
 * client writes the pushed peer-id into its own (2.7 dco.c dco_p2p_add_new_peer passes
 * multi->peer_id as the one id of the peer): so `id` = `tx-id` = the pushed peer-id.
 *
 * TCP (`proto tcp-client`): the connected socket (transport-connect.ts) is handed over the same way,
 * with no remote address; the data plane frames every packet with its 2-byte length, delivers the
 * non-data frames whole (length included) and sends control frames in order with the data. A TCP
 * socket belongs to one peer, so the placeholder cannot be replaced by a second peer-new: it stays,
 * and the push only sets its `tx-id` (peer-set) to the pushed peer-id. On a stream the peer-id of an
 * incoming packet is not looked at (the stream names the peer), so the placeholder's `id` is harmless;
 * it is the id `peerInfo` and the key operations use. The server closing the stream removes the peer
 * (transport-disconnect), reported through `onPeerGone`.
 *
 * The device is a TunnelDevice of its own, or one lent by the caller (persist-tun keeps it across
 * connections, tun-keeper.ts): then `close` removes only the peer and the socket.
 */

import type { PeerInfo } from '../api/messages.js';
import type { DataChannelKeys } from '../control/key-expansion.js';
import { Endpoint } from '../net/endpoint.js';
import { close as closeFd } from '../sys/libc.js';
import { createUdpSocket } from '../transport/udp-socket.js';
import { fatalError } from './connect-retry.js';
import type { DataPlane } from './data-plane.js';

/** The id of the peer before the push; replaced by the pushed one. */
const PLACEHOLDER_PEER_ID = 0xfffffe;

/** A P2P ovpn device (the client's TUN), on a DataPlane. */
export class TunnelDevice {
  private closedNow = false;

  private constructor(
    private readonly plane: DataPlane,
    readonly ifindex: number,
    readonly ifname: string,
  ) {}

  /** dev-new of a P2P device named `ifname`. */
  static async create(plane: DataPlane, ifname: string): Promise<TunnelDevice> {
    const dev = await plane.devNew({ ifname, mode: 'p2p' });
    return new TunnelDevice(plane, dev.ifindex, dev.ifname);
  }

  get closed(): boolean {
    return this.closedNow;
  }

  /** Removes the device (its peer, keys, addresses and routes go with it). Idempotent. */
  async close(): Promise<void> {
    if (this.closedNow) return;
    this.closedNow = true;
    await this.plane.devDel({ ifindex: this.ifindex });
  }
}

export interface DataPlaneLinkOptions {
  ifname: string;
  /** A device to use instead of creating one; it is left in place by `close`. */
  device?: TunnelDevice;
  /** The server's address (IPv4 or IPv6 text) and port. */
  remoteAddress: string;
  remotePort: number;
  /**
   * A connected TCP socket to the server (the link owns it from now on, and closes it even when the
   * constructor throws); without it the link makes a UDP socket.
   */
  tcpFd?: number;
}

/** The 2-byte length before each packet on a TCP stream. */
const TCP_LENGTH = 2;

export class DataPlaneLink {
  readonly ifindex: number;
  readonly ifname: string;
  private readonly fd: number;
  private readonly remote: Endpoint;
  readonly proto: 'udp' | 'tcp';
  /** The id of our peer on the data plane (on TCP the placeholder's for good). */
  private peerId = PLACEHOLDER_PEER_ID;
  /** `mss-clamp` and `comp-framing` of the next peer-new (set from the push before `setPeer`). */
  peerDataOptions: { mssClamp: number; compFraming: string } | undefined;
  private readonly unsubscribe: (() => void)[] = [];
  private closed = false;
  /** Key operations sent and not yet answered (`settled` waits for them). */
  private readonly inFlight = new Set<Promise<void>>();
  /** The last peer-get answer, for `counters` where the data plane is out of process. */
  private lastPeerInfo: PeerInfo | undefined;
  private peerInfoPending = false;

  /**
   * Creates the device, the socket and the placeholder peer on `plane`. `onError` hears of key
   * operations that failed after they were issued (over ovpnd their answer comes later).
   */
  static async open(
    plane: DataPlane,
    opts: DataPlaneLinkOptions,
    onPacket: (packet: Buffer) => void,
    onPeerGone: (reason: string) => void,
    onKeyExhausted: (keyId: number) => void = () => {},
    onError: (e: Error) => void = () => {},
  ): Promise<DataPlaneLink> {
    const lent = opts.device !== undefined && !opts.device.closed ? opts.device : undefined;
    let remote: Endpoint;
    let dev: TunnelDevice;
    try {
      remote = Endpoint.parse(opts.remoteAddress, opts.remotePort);
      dev = lent ?? (await TunnelDevice.create(plane, opts.ifname));
    } catch (e) {
      if (opts.tcpFd !== undefined) closeFd(opts.tcpFd);
      throw e;
    }
    let fd: number;
    try {
      fd = opts.tcpFd ?? createUdpSocket({ family: remote.family, port: 0 });
    } catch (e) {
      if (lent === undefined) await dev.close().catch(() => {});
      throw e;
    }
    const link = new DataPlaneLink(
      plane,
      dev,
      lent === undefined,
      remote,
      fd,
      opts.tcpFd === undefined ? 'udp' : 'tcp',
    );
    link.listen(onPacket, onPeerGone, onKeyExhausted, onError);
    try {
      await link.addPeer(PLACEHOLDER_PEER_ID, undefined);
    } catch (e) {
      await link.close();
      throw e;
    }
    return link;
  }

  private constructor(
    private readonly plane: DataPlane,
    private readonly device: TunnelDevice,
    private readonly ownsDevice: boolean,
    remote: Endpoint,
    fd: number,
    proto: 'udp' | 'tcp',
  ) {
    this.ifindex = device.ifindex;
    this.ifname = device.ifname;
    this.remote = remote;
    this.fd = fd;
    this.proto = proto;
  }

  private listen(
    onPacket: (packet: Buffer) => void,
    onPeerGone: (reason: string) => void,
    onKeyExhausted: (keyId: number) => void,
    onError: (e: Error) => void,
  ): void {
    this.onError = onError;
    const tcp = this.proto === 'tcp';
    this.unsubscribe.push(
      this.plane.onControl((m) => {
        if (m.ifindex !== this.ifindex) return;
        // only the server's address (OpenVPN refuses control packets from elsewhere in client mode)
        if (m.remotePort !== this.remote.port) return;
        // a frame from the stream: the packet after its length
        onPacket(tcp ? m.packet.subarray(TCP_LENGTH) : m.packet);
      }),
      this.plane.onNotification((n) => {
        if (n.name === 'peer-del-ntf' && n.msg.ifindex === this.ifindex && n.msg.peer.id === this.peerId) {
          const reason = n.msg.peer['del-reason'];
          onPeerGone(
            tcp && reason === 'transport-disconnect'
              ? `${reason} (the server closed the TCP connection)`
              : tcp && reason === 'transport-error'
                ? `${reason} (the TCP connection to the server failed)`
                : reason,
          );
        } else if (
          n.name === 'key-swap-ntf' &&
          n.msg.ifindex === this.ifindex &&
          n.msg.keyconf['peer-id'] === this.peerId
        ) {
          // the key's packet-ids ran out and the data plane killed it: time to renegotiate
          onKeyExhausted(n.msg.keyconf['key-id']);
        }
      }),
      this.plane.onGone((why) => onError(fatalError(why))),
    );
  }

  private onError: (e: Error) => void = () => {};

  /** Where the data plane runs. */
  get planeKind(): DataPlane['kind'] {
    return this.plane.kind;
  }

  /** Sends one control packet to the server through the handed-over socket. */
  send(packet: Buffer): boolean {
    if (this.closed) return false;
    const sent =
      this.proto === 'tcp'
        ? this.plane.controlSend(this.ifindex, this.fd, undefined, tcpFrame(packet))
        : this.plane.controlSend(this.ifindex, this.fd, this.remote, packet);
    // a control packet that cannot leave is a lost packet: the reliability layer sends it again
    sent.catch(() => {});
    return true;
  }

  /** The peer with the pushed id, and keepalive from the pushed ping / ping-restart. */
  async setPeer(peerId: number, keepalive: { interval: number; timeout: number } | undefined): Promise<void> {
    if (this.proto === 'tcp') {
      // the stream stays with the placeholder: the pushed id goes into what we send
      await this.plane.peerSet({
        ifindex: this.ifindex,
        peer: { id: this.peerId, 'tx-id': peerId, ...keepaliveAttrs(keepalive), ...this.dataAttrs() },
      });
      return;
    }
    const old = this.peerId;
    this.peerId = peerId; // before peer-new: the placeholder's removal is not "our peer is gone"
    try {
      await this.addPeer(peerId, keepalive);
    } catch (e) {
      this.peerId = old;
      throw e;
    }
  }

  /**
   * key-new in `slot` (default primary), key-id `keyId`, directions as dataChannelKeys split them.
   * The key operations are issued at once and answered in order; `settled` waits for them, and a
   * failure also goes to `onError`. The key bytes are copied into the request before this returns.
   */
  installKey(keyId: number, keys: DataChannelKeys, slot: 'primary' | 'secondary' = 'primary'): void {
    this.track(
      this.plane.keyNew({
        ifindex: this.ifindex,
        keyconf: {
          'peer-id': this.peerId,
          slot,
          'key-id': keyId,
          'cipher-alg': keys.cipher === 'CHACHA20-POLY1305' ? 'chacha20-poly1305' : 'aes-gcm',
          'encrypt-dir': {
            'cipher-key': keys.encrypt.key.toString('hex'),
            'nonce-tail': keys.encrypt.nonceTail.toString('hex'),
          },
          'decrypt-dir': {
            'cipher-key': keys.decrypt.key.toString('hex'),
            'nonce-tail': keys.decrypt.nonceTail.toString('hex'),
          },
        },
      }),
    );
  }

  /** key-swap: the secondary key becomes the one we send with. */
  swapKeys(): void {
    this.track(this.plane.keySwap({ ifindex: this.ifindex, keyconf: { 'peer-id': this.peerId } }));
  }

  /** key-del of `slot` (an empty slot is no error). */
  deleteKey(slot: 'primary' | 'secondary'): void {
    this.track(this.plane.keyDel({ ifindex: this.ifindex, keyconf: { 'peer-id': this.peerId, slot } }));
  }

  /** Resolves when every key operation issued so far is answered; rejects with the first failure. */
  async settled(): Promise<void> {
    await Promise.all([...this.inFlight]);
  }

  private track(p: Promise<void>): void {
    const t = p.finally(() => this.inFlight.delete(t));
    this.inFlight.add(t);
    t.catch((e: unknown) => {
      if (!this.closed) this.onError(e instanceof Error ? e : new Error(String(e)));
    });
  }

  /** peer-get of our peer. */
  peerInfo(): Promise<PeerInfo> {
    return this.plane.peerGet({ ifindex: this.ifindex, peer: { id: this.peerId } });
  }

  /**
   * Our peer's counters without waiting: in process, peer-get now; out of process, the previous
   * answer (undefined before the first), and another peer-get asked for.
   */
  counters(): PeerInfo | undefined {
    const msg = { ifindex: this.ifindex, peer: { id: this.peerId } };
    if (this.plane.peerGetNow !== undefined) return this.plane.peerGetNow(msg);
    if (!this.peerInfoPending && !this.closed) {
      this.peerInfoPending = true;
      this.plane
        .peerGet(msg)
        .then(
          (p) => {
            this.lastPeerInfo = p;
          },
          () => {},
        )
        .finally(() => {
          this.peerInfoPending = false;
        });
    }
    return this.lastPeerInfo;
  }

  /**
   * Removes the device (and so the peer and its keys) and closes the socket; a lent device stays,
   * without the peer. Idempotent.
   */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const u of this.unsubscribe.splice(0)) u();
    try {
      if (this.ownsDevice) await this.device.close();
      else if (!this.device.closed) {
        try {
          await this.plane.peerDel({ ifindex: this.ifindex, peer: { id: this.peerId } });
        } catch {
          // already gone (expired, or never replaced the placeholder)
        }
      }
    } finally {
      this.plane.releaseSocket(this.fd);
    }
  }

  private dataAttrs() {
    const d = this.peerDataOptions;
    return d === undefined ? {} : { 'mss-clamp': d.mssClamp, 'comp-framing': d.compFraming };
  }

  private addPeer(id: number, keepalive: { interval: number; timeout: number } | undefined): Promise<void> {
    const isV6 = this.remote.family === 6;
    return this.plane.peerNew(
      {
        ifindex: this.ifindex,
        peer: {
          id,
          'tx-id': id,
          socket: this.fd,
          // a TCP peer takes no address: the stream is the peer
          ...(this.proto === 'tcp'
            ? {}
            : {
                [isV6 ? 'remote-ipv6' : 'remote-ipv4']: this.remote.address,
                'remote-port': this.remote.port,
              }),
          ...keepaliveAttrs(keepalive),
          ...this.dataAttrs(),
        },
      },
      this.fd,
    );
  }
}

function keepaliveAttrs(keepalive: { interval: number; timeout: number } | undefined) {
  return keepalive === undefined
    ? {}
    : { 'keepalive-interval': keepalive.interval, 'keepalive-timeout': keepalive.timeout };
}

/** One packet as a TCP frame: its 2-byte big-endian length, then the packet (openvpn-protocol.md §9). */
export function tcpFrame(packet: Buffer): Buffer {
  if (packet.length > 0xffff) throw new RangeError(`a ${packet.length}-byte packet does not fit a TCP frame`);
  const f = Buffer.allocUnsafe(TCP_LENGTH + packet.length);
  f.writeUInt16BE(packet.length, 0);
  packet.copy(f, TCP_LENGTH);
  return f;
}
