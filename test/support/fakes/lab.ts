/**
 * Devices on fakes, driven by a ManualClock: a `FakeLab` holds one clock and one in-memory network;
 * each `FakeHost` is an OvpnApi with its own fake TUNs and sockets (one process's view). Builders make
 * a P2P pair or an MP server with P2P clients over UDP or TCP, with keys installed through key-new
 * (random keys, one direction's encrypt key is the other's decrypt key), so that the pipelines run
 * end to end without root, in milliseconds.
 *
 *   const lab = new FakeLab();
 *   try { const { a, b } = p2pPair(lab, 'udp'); a.send([ip4(a.vpn, b.vpn, 1)]); lab.settle(); ... }
 *   finally { lab.close(); }
 */
import { randomBytes } from 'node:crypto';
import type { ControlMessage, Notification } from '../../../src/api/messages.js';
import { OvpnApi } from '../../../src/api/ovpn-api.js';
import { ManualClock } from '../../../src/clock/clock.js';
import type { OvpnDevice } from '../../../src/device/ovpn-device.js';
import { parseIPv4 } from '../../../src/net/ip-address.js';
import type { Peer } from '../../../src/peer/peer.js';
import { type FakeDatagramTransport, FakeNetwork, type FakeStreamTransport } from './fake-net.js';
import { FakeSocketSource } from './fake-sockets.js';
import { type FakeTun, FakeTunFactory } from './fake-tun.js';

export class FakeHost {
  readonly api: OvpnApi;
  readonly tuns = new FakeTunFactory();
  readonly sockets = new FakeSocketSource();
  /** Every notification, in order. */
  readonly ntfs: Notification[] = [];
  /** Every control packet, in order. */
  readonly controls: ControlMessage[] = [];

  constructor(
    readonly lab: FakeLab,
    batchSize?: number,
  ) {
    this.api = new OvpnApi({
      clock: lab.clock,
      batchSize,
      createTun: this.tuns.create,
      sockets: this.sockets,
    });
    this.api.subscribe((n) => this.ntfs.push(n));
    this.api.onControl((m) => this.controls.push(m));
  }

  /** Creates a device; returns it with its TUN. */
  devNew(name: string, mode: 'p2p' | 'mp'): { dev: OvpnDevice; tun: FakeTun; ifindex: number } {
    const { ifindex } = this.api.devNew({ ifname: name, mode });
    const dev = this.api.deviceByName(name)!;
    return { dev, tun: this.tuns.get(name), ifindex };
  }

  /** Notifications with this name (and for this peer id, if given). */
  ntfsOf(name: Notification['name'], peerId?: number): Notification[] {
    return this.ntfs.filter(
      (n) =>
        n.name === name &&
        (peerId === undefined ||
          (n.name === 'key-swap-ntf' ? n.msg.keyconf['peer-id'] : n.msg.peer.id) === peerId),
    );
  }
}

export class FakeLab {
  readonly clock = new ManualClock(1_000_000);
  readonly net = new FakeNetwork();
  readonly hosts: FakeHost[] = [];

  host(batchSize?: number): FakeHost {
    const h = new FakeHost(this, batchSize);
    this.hosts.push(h);
    return h;
  }

  /** Delivers until the network is quiet (what receivers send while it runs is delivered too). */
  settle(): number {
    return this.net.deliver();
  }

  /** Moves the clock (timers fire) and delivers what they sent. */
  advance(ms: number): void {
    this.clock.advance(ms);
    this.settle();
  }

  /** Deletes every device of every host. Idempotent; safe after a failed test. */
  close(): void {
    for (const h of this.hosts.splice(0)) h.api.close();
  }
}

/** One side of a tunnel: a device, the peer it has for the other side, and how it is attached. */
export interface End {
  host: FakeHost;
  dev: OvpnDevice;
  tun: FakeTun;
  ifindex: number;
  /** The id this device gave the peer on the other side. */
  peerId: number;
  /** This side's VPN (inner) address. */
  vpn: string;
  /** The fd the peer was attached with, and the transport behind it. */
  fd: number;
  udp?: FakeDatagramTransport;
  tcp?: FakeStreamTransport;
}

/** The device's peer object for the other side. */
export function peerOf(e: End, id = e.peerId): Peer {
  const p = e.dev.peers.getById(id);
  if (p === undefined) throw new Error(`no peer ${id} on ${e.dev.name}`);
  return p;
}

let nextName = 0;
let nextPort = 20000;

/** A fresh interface name that exists nowhere (devNew refuses names of existing interfaces). */
export function ifname(prefix: string): string {
  return `${prefix}fk${process.pid % 1000}x${nextName++}`.slice(0, 15);
}

export interface KeyOpts {
  keyId?: number;
  slot?: 'primary' | 'secondary';
  cipher?: 'aes-gcm' | 'chacha20-poly1305';
}

/** Installs one fresh key on both sides (`a` encrypts with what `b` decrypts with, and back). */
export function installKeys(a: End, b: End, o: KeyOpts = {}): void {
  const cipher = o.cipher ?? 'aes-gcm';
  const k1 = { 'cipher-key': randomBytes(32), 'nonce-tail': randomBytes(8) };
  const k2 = { 'cipher-key': randomBytes(32), 'nonce-tail': randomBytes(8) };
  const common = { slot: o.slot ?? 'primary', 'key-id': o.keyId ?? 0, 'cipher-alg': cipher };
  const copy = (k: typeof k1) => ({
    'cipher-key': Buffer.from(k['cipher-key']),
    'nonce-tail': Buffer.from(k['nonce-tail']),
  });
  a.host.api.keyNew({
    ifindex: a.ifindex,
    keyconf: { 'peer-id': a.peerId, ...common, 'encrypt-dir': copy(k1), 'decrypt-dir': copy(k2) },
  });
  b.host.api.keyNew({
    ifindex: b.ifindex,
    keyconf: { 'peer-id': b.peerId, ...common, 'encrypt-dir': copy(k2), 'decrypt-dir': copy(k1) },
  });
}

export interface PairOpts extends KeyOpts {
  keepalive?: [number, number];
  batchSize?: number;
  /** Stream send-queue size in bytes (TCP). */
  queueBytes?: number;
}

/**
 * Two P2P devices on two hosts, one peer each, talking over UDP (a at 192.0.2.1:1194, b at
 * 192.0.2.2:1194) or one TCP connection; a's peer for b has id 10, b's peer for a id 20 (each
 * sends with the other's id as tx-id). VPN addresses 10.9.0.1 (a) and 10.9.0.2 (b).
 */
export function p2pPair(lab: FakeLab, proto: 'udp' | 'tcp', o: PairOpts = {}): { a: End; b: End } {
  const ha = lab.host(o.batchSize);
  const hb = lab.host(o.batchSize);
  const da = ha.devNew(ifname('a'), 'p2p');
  const db = hb.devNew(ifname('b'), 'p2p');
  const port = nextPort++;
  const a: End = { host: ha, ...da, peerId: 10, vpn: '10.9.0.1', fd: -1 };
  const b: End = { host: hb, ...db, peerId: 20, vpn: '10.9.0.2', fd: -1 };
  const ka =
    o.keepalive === undefined
      ? {}
      : { 'keepalive-interval': o.keepalive[0], 'keepalive-timeout': o.keepalive[1] };
  if (proto === 'udp') {
    a.udp = lab.net.udp('192.0.2.1', port);
    b.udp = lab.net.udp('192.0.2.2', port);
    a.fd = ha.sockets.addUdp(a.udp);
    b.fd = hb.sockets.addUdp(b.udp);
    ha.api.peerNew({
      ifindex: a.ifindex,
      peer: { id: 10, 'tx-id': 20, socket: a.fd, 'remote-ipv4': '192.0.2.2', 'remote-port': port, ...ka },
    });
    hb.api.peerNew({
      ifindex: b.ifindex,
      peer: { id: 20, 'tx-id': 10, socket: b.fd, 'remote-ipv4': '192.0.2.1', 'remote-port': port, ...ka },
    });
  } else {
    const [ta, tb] = lab.net.tcpPair('192.0.2.1', 40000, '192.0.2.2', port, o.queueBytes);
    a.tcp = ta;
    b.tcp = tb;
    a.fd = ha.sockets.addTcp(ta);
    b.fd = hb.sockets.addTcp(tb);
    ha.api.peerNew({ ifindex: a.ifindex, peer: { id: 10, 'tx-id': 20, socket: a.fd, ...ka } });
    hb.api.peerNew({ ifindex: b.ifindex, peer: { id: 20, 'tx-id': 10, socket: b.fd, ...ka } });
  }
  installKeys(a, b, o);
  return { a, b };
}

/**
 * An MP server (one host, one device) with `n` P2P clients (each on its own host). Server VPN address
 * 10.8.0.1; client i has 10.8.0.(10+i), server-side peer id 100+i, client-side peer id 1. UDP: one
 * server socket at 198.51.100.1 shared by all peers, client i at 198.51.100.(10+i). TCP: one stream
 * per client.
 */
export function mpStar(
  lab: FakeLab,
  proto: 'udp' | 'tcp',
  n: number,
  o: PairOpts = {},
): { server: FakeHost; sdev: OvpnDevice; stun: FakeTun; sIfindex: number; sides: { s: End; c: End }[] } {
  const server = lab.host(o.batchSize);
  const sd = server.devNew(ifname('s'), 'mp');
  const port = nextPort++;
  const sudp = proto === 'udp' ? lab.net.udp('198.51.100.1', port) : undefined;
  const sfd = sudp === undefined ? -1 : server.sockets.addUdp(sudp);
  const ka =
    o.keepalive === undefined
      ? {}
      : { 'keepalive-interval': o.keepalive[0], 'keepalive-timeout': o.keepalive[1] };
  const sides: { s: End; c: End }[] = [];
  for (let i = 0; i < n; i++) {
    const ch = lab.host(o.batchSize);
    const cd = ch.devNew(ifname('c'), 'p2p');
    const cvpn = `10.8.0.${10 + i}`;
    const s: End = { host: server, ...sd, peerId: 100 + i, vpn: '10.8.0.1', fd: sfd, udp: sudp };
    const c: End = { host: ch, ...cd, peerId: 1, vpn: cvpn, fd: -1 };
    if (proto === 'udp') {
      const caddr = `198.51.100.${10 + i}`;
      c.udp = lab.net.udp(caddr, port);
      c.fd = ch.sockets.addUdp(c.udp);
      // each peer-new gets its own fd of the one server socket, as a control plane would pass it
      s.fd = server.sockets.dup(sfd);
      server.api.peerNew({
        ifindex: s.ifindex,
        peer: {
          id: s.peerId,
          'tx-id': 1,
          socket: s.fd,
          'remote-ipv4': caddr,
          'remote-port': port,
          'vpn-ipv4': cvpn,
          ...ka,
        },
      });
      ch.api.peerNew({
        ifindex: c.ifindex,
        peer: {
          id: 1,
          'tx-id': s.peerId,
          socket: c.fd,
          'remote-ipv4': '198.51.100.1',
          'remote-port': port,
          ...ka,
        },
      });
    } else {
      const [ts, tc] = lab.net.tcpPair('198.51.100.1', port, `198.51.100.${10 + i}`, 41000 + i, o.queueBytes);
      s.tcp = ts;
      c.tcp = tc;
      s.fd = server.sockets.addTcp(ts);
      c.fd = ch.sockets.addTcp(tc);
      server.api.peerNew({
        ifindex: s.ifindex,
        peer: { id: s.peerId, 'tx-id': 1, socket: s.fd, 'vpn-ipv4': cvpn, ...ka },
      });
      ch.api.peerNew({ ifindex: c.ifindex, peer: { id: 1, 'tx-id': s.peerId, socket: c.fd, ...ka } });
    }
    installKeys(s, c, o);
    sides.push({ s, c });
  }
  return { server, sdev: sd.dev, stun: sd.tun, sIfindex: sd.ifindex, sides };
}

// ---- inner packets ----------------------------------------------------------------------------------

/**
 * An IPv4/UDP packet from `src` to `dst` of `len` bytes whose payload starts with `seq` (u32) and a
 * marker, so that tests can tell which packet arrived where.
 */
export function ip4(src: string, dst: string, seq: number, len = 96): Buffer {
  const b = Buffer.alloc(Math.max(len, 32), seq & 0xff);
  b[0] = 0x45;
  b.writeUInt16BE(b.length, 2);
  b[8] = 64;
  b[9] = 17;
  parseIPv4(src).copy(b, 12);
  parseIPv4(dst).copy(b, 16);
  b.writeUInt32BE(seq >>> 0, 24);
  b.writeUInt32BE(0x0badcafe, 28);
  return b;
}

/** The seq of a packet made by `ip4`. */
export function seqOf(pkt: Buffer): number {
  return pkt.readUInt32BE(24);
}

/** Inner source and destination of an IPv4 packet, as text. */
export function addrsOf(pkt: Buffer): { src: string; dst: string } {
  const f = (o: number) => `${pkt[o]}.${pkt[o + 1]}.${pkt[o + 2]}.${pkt[o + 3]}`;
  return { src: f(12), dst: f(16) };
}

/** A control packet (P_CONTROL_V1, key-id 0) with a session byte pattern and `tag`. */
export function controlPacket(tag: number, len = 40): Buffer {
  const b = Buffer.alloc(len, tag & 0xff);
  b[0] = 4 << 3;
  b.writeUInt32BE(tag >>> 0, 1);
  return b;
}

/** `pkt` with the 2-byte TCP length in front. */
export function framed(pkt: Buffer): Buffer {
  const f = Buffer.alloc(pkt.length + 2);
  f.writeUInt16BE(pkt.length, 0);
  pkt.copy(f, 2);
  return f;
}

/** Inclusive range of numbers. */
export function range(from: number, to: number): number[] {
  const out: number[] = [];
  for (let i = from; i <= to; i++) out.push(i);
  return out;
}

/** A test body run in a fresh lab that is closed afterwards, whatever happens. */
export function withLab(fn: (lab: FakeLab) => void): () => void {
  return () => {
    const lab = new FakeLab();
    try {
      fn(lab);
    } finally {
      lab.close();
    }
  };
}
