/**
 * The in-process management API: the operations of the kernel's `ovpn` netlink family plus device
 * create/delete, with its attribute names, validation order and error codes (spec ovpn-kernel §2), and
 * its notifications as events. The management daemon and the control plane are built on it.
 *
 * Every operation takes a YNL-shaped message (`{ ifindex, peer: { id, ... } }`), validates it, and
 * either returns (ACK, or the reply of peer-get/key-get/dev-new) or throws an `OvpnError`.
 */
import { type Clock, monotonicClock } from '../clock/clock.js';
import type { ControlPacket } from '../datapath/upcalls.js';
import type { DeviceListener, OvpnDevice, OvpnDeviceOptions } from '../device/ovpn-device.js';
import { attachedSocket, socketInode } from '../device/sockets.js';
import { einval, OvpnError } from '../errors/ovpn-error.js';
import type { Endpoint } from '../net/endpoint.js';
import { DelReason } from '../peer/del-reason.js';
import type { Peer } from '../peer/peer.js';
import { close } from '../sys/libc.js';
import { type Attrs, get, isObject, parseAttrs } from './attrs.js';
import type { ControlMessage, DevInfo, KeyInfo, Notification, PeerInfo } from './messages.js';
import { devInfo, devNew, interfaceExists } from './ops/dev.js';
import { keyDel, keyGet, keyNew, keySwap } from './ops/key.js';
import { type FdResolver, peerDel, peerDump, peerGet, peerNew, peerSet } from './ops/peer.js';
import { DEL_REASONS, OPS } from './spec.js';

export type NotificationListener = (n: Notification) => void;
/** Returns true if it took the packet. */
export type ControlListener = (m: ControlMessage) => void;

export interface OvpnApiOptions {
  clock?: Clock;
  batchSize?: number;
  /** Where devices get their TUN and sockets (default: the kernel's; tests: in-memory ones). */
  createTun?: OvpnDeviceOptions['createTun'];
  sockets?: OvpnDeviceOptions['sockets'];
}

export class OvpnApi {
  private readonly devices = new Map<number, OvpnDevice>();
  private readonly ntfListeners = new Set<NotificationListener>();
  private readonly controlListeners = new Set<ControlListener>();
  private readonly listener: DeviceListener;

  constructor(private readonly opts: OvpnApiOptions = {}) {
    this.listener = {
      peerDeleted: (dev, peer, reason) => this.peerDeleted(dev, peer, reason),
      keySwapNeeded: (dev, peer, keyId) =>
        this.emit({
          name: 'key-swap-ntf',
          msg: { ifindex: dev.ifindex, keyconf: { 'peer-id': peer.id, 'key-id': keyId } },
        }),
      control: (dev, pkt) => this.control(dev, pkt),
      peerFloated: (dev, peer) => this.peerFloated(dev, peer),
    };
  }

  // ---- events -------------------------------------------------------------------------------------

  /** Subscribes to the `peers` group: peer-del-ntf, key-swap-ntf, peer-float-ntf. Returns an unsubscribe. */
  subscribe(cb: NotificationListener): () => void {
    this.ntfListeners.add(cb);
    return () => this.ntfListeners.delete(cb);
  }

  /** Receives the non-data packets arriving on the devices' sockets. Returns an unsubscribe. */
  onControl(cb: ControlListener): () => void {
    this.controlListeners.add(cb);
    return () => this.controlListeners.delete(cb);
  }

  /**
   * Sends a control packet through the attached socket behind `fd` (the one given in peer-new): a UDP
   * datagram to `to`, or on TCP one whole framed packet (2-byte length included), queued in order with
   * the data frames (`to` is ignored). Returns false if the socket would not take it.
   */
  controlSend(ifindex: number, fd: number, to: Endpoint | undefined, packet: Buffer): boolean {
    const dev = this.device({ ifindex }); // the device first: the fd is only looked at for a real device
    return this.controlSendInode(ifindex, dev.sockets.identity(fd), to, packet);
  }

  /** controlSend for the attached socket with identity `inode` (see sockets.ts). */
  controlSendInode(ifindex: number, inode: string, to: Endpoint | undefined, packet: Buffer): boolean {
    const dev = this.device({ ifindex });
    const sock = attachedSocket(dev, inode);
    if (sock === undefined)
      throw new OvpnError('ENOENT', 'that socket is not attached to the device', 'socket');
    if (sock.proto === 'tcp') {
      if (packet.length < 2 || packet.readUInt16BE(0) !== packet.length - 2)
        throw einval(
          'on TCP the packet must be one whole frame: a 2-byte length, then that many bytes',
          'packet',
        );
      return sock.transport.sendControl(packet);
    }
    if (to === undefined) throw einval('a UDP control packet needs a destination', 'remote-addr');
    return sock.transport.sendOne(packet, 0, packet.length, to);
  }

  /**
   * The owner closes the socket behind `fd`: every peer of every device using it is removed with reason
   * transport-disconnect (the kernel's socket-close hooks, spec §4.7), then `fd` is closed.
   */
  closeSocket(fd: number): void {
    this.socketClosed(socketInode(fd));
    close(fd);
  }

  /**
   * The socket with identity `inode` (see sockets.ts) was closed by its owner: its peers are removed
   * with reason transport-disconnect. Returns how many.
   */
  socketClosed(inode: string): number {
    let n = 0;
    for (const dev of this.devices.values()) {
      for (const peer of [...dev.peers.all()]) {
        if (peer.sock?.inode === inode) {
          dev.removePeer(peer, DelReason.TRANSPORT_DISCONNECT);
          n++;
        }
      }
    }
    return n;
  }

  /**
   * client-to-client on an MP device (ours, not a netlink op: the kernel's ovpn has none): packets
   * from one peer to another peer's VPN address go straight to it instead of up the TUN.
   */
  setClientToClient(ifindex: number, on: boolean): void {
    const dev = this.device({ ifindex });
    if (dev.mode !== 'mp') throw einval('client-to-client needs an MP device', 'ifindex');
    dev.dp.clientToClient = on;
  }

  /** How many devices exist. */
  get deviceCount(): number {
    return this.devices.size;
  }

  private emit(n: Notification): void {
    for (const cb of this.ntfListeners) cb(n);
  }

  private peerDeleted(dev: OvpnDevice, peer: Peer, reason: DelReason): void {
    this.emit({
      name: 'peer-del-ntf',
      msg: { ifindex: dev.ifindex, peer: { 'del-reason': DEL_REASONS[reason], id: peer.id } },
    });
  }

  /** peer-float-ntf: the peer's new remote endpoint (spec §2.5). */
  private peerFloated(dev: OvpnDevice, peer: Peer): void {
    const r = peer.remote;
    if (r === undefined) return;
    const ep =
      r.family === 4
        ? { 'remote-ipv4': r.address, 'remote-port': r.port }
        : { 'remote-ipv6': r.address, 'remote-ipv6-scope-id': r.scopeId, 'remote-port': r.port };
    this.emit({ name: 'peer-float-ntf', msg: { ifindex: dev.ifindex, peer: { id: peer.id, ...ep } } });
  }

  private control(dev: OvpnDevice, pkt: ControlPacket): boolean {
    if (this.controlListeners.size === 0) return false;
    const m: ControlMessage = {
      ifindex: dev.ifindex,
      socket: pkt.sock.inode,
      'remote-addr': pkt.from.address,
      'remote-port': pkt.from.port,
      packet: pkt.packet,
    };
    for (const cb of this.controlListeners) cb(m);
    return true;
  }

  // ---- devices ------------------------------------------------------------------------------------

  devNew(msg: unknown): DevInfo {
    const a = this.parse('dev-new', msg);
    const dev = devNew(a, {
      clock: this.opts.clock ?? monotonicClock,
      batchSize: this.opts.batchSize,
      listener: this.listener,
      createTun: this.opts.createTun,
      sockets: this.opts.sockets,
    });
    this.devices.set(dev.ifindex, dev);
    return devInfo(dev);
  }

  devDel(msg: unknown): void {
    const a = this.parse('dev-del', msg);
    const name = get.str(a, 'ifname');
    const ifindex = get.u32(a, 'ifindex');
    if (name === undefined && ifindex === undefined) throw einval('missing attribute ifindex', 'ifindex');
    const dev =
      ifindex !== undefined
        ? this.device({ ifindex })
        : [...this.devices.values()].find((d) => d.name === name);
    if (dev === undefined) throw new OvpnError('ENODEV', `no ovpn device ${name}`, 'ifname');
    this.devices.delete(dev.ifindex);
    dev.close();
  }

  devList(): DevInfo[] {
    return [...this.devices.values()].map(devInfo);
  }

  /** The device object, for callers inside the process (demo, daemon). */
  deviceByName(name: string): OvpnDevice | undefined {
    return [...this.devices.values()].find((d) => d.name === name);
  }

  /** Deletes every device (teardown of every peer). */
  close(): void {
    for (const dev of this.devices.values()) dev.close();
    this.devices.clear();
  }

  // ---- peers --------------------------------------------------------------------------------------

  /** peer-new; `fdOf` maps the `socket` attribute to an fd of this process (default: it is one). */
  peerNew(msg: unknown, fdOf?: FdResolver): void {
    const { dev, nest } = this.resolve('peer-new', msg);
    peerNew(dev, nest, fdOf);
  }

  peerSet(msg: unknown): void {
    const { dev, nest } = this.resolve('peer-set', msg);
    peerSet(dev, nest);
  }

  peerGet(msg: unknown): PeerInfo {
    const { dev, nest } = this.resolve('peer-get', msg);
    return peerGet(dev, nest);
  }

  /** peer-get in its dump form: every peer of the device. */
  peerDump(msg: unknown): PeerInfo[] {
    const a = this.parse('peer-get', msg, true);
    return peerDump(this.device(a));
  }

  peerDel(msg: unknown): void {
    const { dev, nest } = this.resolve('peer-del', msg);
    peerDel(dev, nest);
  }

  // ---- keys ---------------------------------------------------------------------------------------

  keyNew(msg: unknown): void {
    const { dev, nest } = this.resolve('key-new', msg);
    keyNew(dev, nest);
  }

  keyGet(msg: unknown): KeyInfo {
    const { dev, nest } = this.resolve('key-get', msg);
    return keyGet(dev, nest);
  }

  keySwap(msg: unknown): void {
    const { dev, nest } = this.resolve('key-swap', msg);
    keySwap(dev, nest);
  }

  keyDel(msg: unknown): void {
    const { dev, nest } = this.resolve('key-del', msg);
    keyDel(dev, nest);
  }

  // ---- helpers ------------------------------------------------------------------------------------

  /** Validates the top level of `msg` for `op` (nest contents are validated in `resolve`). */
  private parse(op: string, msg: unknown, dump = false): Attrs {
    const spec = OPS[op];
    if (!isObject(msg)) throw einval(`${op}: the message must be an object`);
    const top = dump ? spec.top.filter((a) => a === 'ifindex') : spec.top;
    const shallow: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(msg)) {
      if (v === undefined) continue;
      if (!top.includes(k)) throw einval(`unexpected attribute ${k}`, k);
      if (k !== spec.nest?.attr) shallow[k] = v;
    }
    return parseAttrs(spec.set, shallow);
  }

  /**
   * The kernel's pre_doit and the first steps of each doit: resolve ifindex to an ovpn device, require
   * the op's nest, and validate its attributes against the op's input set.
   */
  private resolve(op: string, msg: unknown): { dev: OvpnDevice; nest: Attrs } {
    const spec = OPS[op];
    const top = this.parse(op, msg);
    const dev = this.device(top);
    const nestName = spec.nest!.attr;
    const raw = (msg as Record<string, unknown>)[nestName];
    if (raw === undefined) throw einval(`missing attribute ${nestName}`, nestName);
    return { dev, nest: parseAttrs(nestName, raw, spec.nest!.accept, nestName) };
  }

  private device(a: Attrs | { ifindex: number }): OvpnDevice {
    const ifindex = (a as Attrs).ifindex;
    if (typeof ifindex !== 'number') throw einval('missing attribute ifindex', 'ifindex');
    const dev = this.devices.get(ifindex);
    if (dev !== undefined) return dev;
    if (interfaceExists(ifindex)) throw einval('the interface is not an ovpn device', 'ifindex');
    throw new OvpnError('ENODEV', `no interface with ifindex ${ifindex}`, 'ifindex');
  }
}
