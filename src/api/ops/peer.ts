/**
 * peer-new, peer-set, peer-get, peer-del (spec ovpn-kernel §2.4), with the kernel's check order and
 * errno for every refusal. Messages are already validated against the op's input set (attrs.ts).
 */

import type { OvpnDevice } from '../../device/ovpn-device.js';
import { einval, enoent, OvpnError } from '../../errors/ovpn-error.js';
import { Endpoint, type LocalAddress, localAddress } from '../../net/endpoint.js';
import { formatIPv4, formatIPv6, isZero } from '../../net/ip-address.js';
import { DelReason } from '../../peer/del-reason.js';
import { Peer } from '../../peer/peer.js';
import { CompFraming } from '../../wire/comp-framing.js';
import { type Attrs, familyOf, get, required } from '../attrs.js';
import { type PeerInfo, peerCounters } from '../messages.js';
import { COMP_FRAMINGS } from '../spec.js';

/** The checks shared by peer-new and peer-set (the kernel's ovpn_nl_peer_precheck). */
function precheck(dev: OvpnDevice, p: Attrs): void {
  required(get.u32(p, 'id'), 'id');
  const r4 = get.bytes(p, 'remote-ipv4');
  const r6 = get.bytes(p, 'remote-ipv6');
  const port = get.u32(p, 'remote-port');
  if (r4 !== undefined && r6 !== undefined)
    throw einval('remote-ipv4 and remote-ipv6 cannot both be given', 'remote-ipv6');
  if (r4 === undefined && r6 === undefined && port !== undefined) {
    throw einval('remote-port needs a remote address', 'remote-port');
  }
  if ((r4 !== undefined || r6 !== undefined) && port === undefined) {
    throw einval('a remote address needs remote-port', 'remote-port');
  }
  const l4 = get.bytes(p, 'local-ipv4');
  const l6 = get.bytes(p, 'local-ipv6');
  if (r4 === undefined && l4 !== undefined) throw einval('local-ipv4 needs remote-ipv4', 'local-ipv4');
  if (r6 === undefined && l6 !== undefined) throw einval('local-ipv6 needs remote-ipv6', 'local-ipv6');
  const lf = familyOf(l4, l6);
  const rf = familyOf(r4, r6);
  if (lf !== 0 && rf !== 0 && lf !== rf)
    throw einval('local and remote addresses are of different families', 'local-ipv6');
  if (rf !== 6 && get.u32(p, 'remote-ipv6-scope-id') !== undefined) {
    throw einval('remote-ipv6-scope-id needs an IPv6 remote address', 'remote-ipv6-scope-id');
  }
  if (dev.mode === 'p2p' && (p['vpn-ipv4'] !== undefined || p['vpn-ipv6'] !== undefined)) {
    throw einval('a P2P device takes no VPN address', p['vpn-ipv4'] !== undefined ? 'vpn-ipv4' : 'vpn-ipv6');
  }
  if ((p['keepalive-interval'] === undefined) !== (p['keepalive-timeout'] === undefined)) {
    throw einval('keepalive-interval and keepalive-timeout go together', 'keepalive-timeout');
  }
}

/** VPN addresses to set: undefined = leave, else the new value (IPv4 as uint32, 0 = none). */
function vpnAddrs(p: Attrs): { v4: number | undefined; v6: Buffer | null | undefined } {
  const v4 = get.bytes(p, 'vpn-ipv4');
  const v6 = get.bytes(p, 'vpn-ipv6');
  return {
    v4: v4 === undefined ? undefined : v4.readUInt32BE(0),
    v6: v6 === undefined ? undefined : isZero(v6, 0, 16) ? null : Buffer.from(v6),
  };
}

/** Refuses a VPN address another peer of `dev` already has (post-7.1 kernel: EADDRINUSE). */
function checkVpnConflicts(
  dev: OvpnDevice,
  peer: Peer | undefined,
  v4: number,
  v6: Buffer | undefined,
): void {
  if (dev.mode !== 'mp') return;
  const o4 = v4 === 0 ? undefined : dev.peers.getByVpn4(v4);
  const o6 = v6 === undefined ? undefined : dev.peers.getByVpn6(v6, 0);
  if ((o4 !== undefined && o4 !== peer) || (o6 !== undefined && o6 !== peer)) {
    throw new OvpnError(
      'EADDRINUSE',
      'VPN address already assigned to another peer',
      o4 ? 'vpn-ipv4' : 'vpn-ipv6',
    );
  }
}

/** The remote endpoint and local address a message sets, if any (v4-mapped folded to IPv4). */
function endpointOf(p: Attrs): { remote: Endpoint; local: LocalAddress | undefined } | undefined {
  const port = get.u32(p, 'remote-port');
  const r4 = get.bytes(p, 'remote-ipv4');
  const r6 = get.bytes(p, 'remote-ipv6');
  if (port === undefined || (r4 === undefined && r6 === undefined)) return undefined;
  const remote = Endpoint.fromBytes((r4 ?? r6)!, port, get.u32(p, 'remote-ipv6-scope-id') ?? 0);
  const l = get.bytes(p, 'local-ipv4') ?? get.bytes(p, 'local-ipv6');
  return { remote, local: l === undefined ? undefined : localAddress(l) };
}

/** After a peer's keepalive settings changed: the device's timer re-plans (the kernel kicks its worker). */
function kickKeepalive(dev: OvpnDevice, p: Attrs): void {
  if (p['keepalive-interval'] !== undefined) dev.keepalive.kick();
}

/** Applies the settable attributes to `peer` (the kernel's ovpn_nl_peer_modify). */
function modify(dev: OvpnDevice, peer: Peer, p: Attrs): void {
  const ep = endpointOf(p);
  if (ep !== undefined) {
    peer.remote = ep.remote;
    peer.local = ep.local;
  }
  const txId = get.u32(p, 'tx-id');
  if (txId !== undefined) peer.txId = txId;
  const { v4, v6 } = vpnAddrs(p);
  if (v4 !== undefined) peer.vpnIpv4 = v4;
  if (v6 !== undefined) peer.vpnIpv6 = v6 ?? undefined;
  const mss = get.u32(p, 'mss-clamp');
  if (mss !== undefined) peer.mssClamp = mss;
  const framing = get.u32(p, 'comp-framing');
  if (framing !== undefined) peer.compFraming = framing as CompFraming;
  const interval = get.u32(p, 'keepalive-interval');
  const timeout = get.u32(p, 'keepalive-timeout');
  if (interval !== undefined && timeout !== undefined)
    peer.setKeepalive(interval, timeout, dev.clock.nowMs());
}

/**
 * Resolves the `socket` attribute to an fd of this process (the kernel looks it up in the caller's fd
 * table): identity in-process; the daemon maps it to the fd passed with the request. Throws ENOTSOCK.
 */
export type FdResolver = (socket: number) => number;

export function peerNew(dev: OvpnDevice, p: Attrs, fdOf: FdResolver = (s) => s): void {
  precheck(dev, p);
  const socketAttr = required(get.u32(p, 'socket'), 'socket');
  const { v4, v6 } = vpnAddrs(p);
  if (dev.mode === 'mp' && (v4 ?? 0) === 0 && (v6 ?? null) === null) {
    throw einval('an MP peer needs a VPN address', 'vpn-ipv4');
  }
  const id = get.u32(p, 'id')!;
  const peer = new Peer(id, get.u32(p, 'tx-id') ?? id);
  const fd = fdOf(socketAttr);
  const proto = dev.sockets.protocol(fd);
  const hasRemote = endpointOf(p) !== undefined;
  if (proto === 'udp' && !hasRemote) throw einval('a UDP socket needs a remote address', 'remote-ipv4');
  if (proto === 'tcp' && hasRemote) throw einval('a TCP socket takes no remote address', 'remote-ipv4');
  if (proto === 'other')
    throw new OvpnError('ENOTSOCK', 'only UDP and TCP sockets can be attached', 'socket');
  const sock = proto === 'udp' ? dev.acquireUdp(fd) : dev.acquireTcp(fd);
  try {
    if (dev.mode === 'mp' && dev.peers.getById(id) !== undefined) {
      throw new OvpnError('EEXIST', `peer ${id} already exists`, 'id');
    }
    checkVpnConflicts(dev, undefined, v4 ?? 0, v6 ?? undefined);
    peer.sock = sock;
    modify(dev, peer, p);
  } catch (e) {
    peer.sock = undefined;
    dev.releaseSock(sock);
    throw e;
  }
  dev.addPeer(peer);
  kickKeepalive(dev, p);
}

export function peerSet(dev: OvpnDevice, p: Attrs): void {
  precheck(dev, p);
  const id = get.u32(p, 'id')!;
  const peer = dev.peers.getById(id);
  if (peer === undefined) throw enoent(`no peer with id ${id}`, 'id');
  if (peer.sock?.proto === 'tcp' && endpointOf(p) !== undefined) {
    throw einval(
      'a TCP peer takes no remote address',
      p['remote-ipv4'] !== undefined ? 'remote-ipv4' : 'remote-ipv6',
    );
  }
  const { v4, v6 } = vpnAddrs(p);
  const newV4 = v4 ?? peer.vpnIpv4;
  const newV6 = v6 === undefined ? peer.vpnIpv6 : (v6 ?? undefined);
  if (dev.mode === 'mp' && newV4 === 0 && newV6 === undefined) {
    throw einval('an MP peer needs a VPN address', 'vpn-ipv4');
  }
  checkVpnConflicts(dev, peer, newV4, newV6);
  modify(dev, peer, p);
  dev.peers.rehash(peer);
  kickKeepalive(dev, p);
}

export function peerDel(dev: OvpnDevice, p: Attrs): void {
  const id = required(get.u32(p, 'id'), 'id');
  const peer = dev.peers.getById(id);
  if (peer === undefined) throw enoent(`no peer with id ${id}`, 'id');
  dev.removePeer(peer, DelReason.USERSPACE);
}

export function peerGet(dev: OvpnDevice, p: Attrs): PeerInfo {
  const id = required(get.u32(p, 'id'), 'id');
  const peer = dev.peers.getById(id);
  if (peer === undefined) throw enoent(`no peer with id ${id}`, 'id');
  return peerInfo(peer);
}

export function peerDump(dev: OvpnDevice): PeerInfo[] {
  return [...dev.peers.all()].map(peerInfo);
}

/** The peer-get reply, attributes in the kernel's order. */
export function peerInfo(peer: Peer): PeerInfo {
  const info: Partial<PeerInfo> = { id: peer.id, 'tx-id': peer.txId };
  if (peer.vpnIpv4 !== 0) info['vpn-ipv4'] = formatU32(peer.vpnIpv4);
  if (peer.vpnIpv6 !== undefined) info['vpn-ipv6'] = formatIPv6(peer.vpnIpv6);
  info['keepalive-interval'] = peer.keepaliveIntervalSec;
  info['keepalive-timeout'] = peer.keepaliveTimeoutSec;
  const r = peer.remote;
  if (r !== undefined) {
    if (r.family === 4) {
      info['remote-ipv4'] = r.address;
      info['remote-port'] = r.port;
      info['local-ipv4'] = peer.local?.family === 4 ? formatIPv4(peer.local.addr) : '0.0.0.0';
    } else {
      info['remote-ipv6'] = r.address;
      info['remote-ipv6-scope-id'] = r.scopeId;
      info['remote-port'] = r.port;
      info['local-ipv6'] = peer.local?.family === 6 ? formatIPv6(peer.local.addr) : '::';
    }
  }
  if (peer.sock !== undefined) info['local-port'] = peer.sock.transport.localPort;
  if (peer.mssClamp !== 0) info['mss-clamp'] = peer.mssClamp;
  if (peer.compFraming !== CompFraming.NONE) info['comp-framing'] = COMP_FRAMINGS[peer.compFraming];
  return { ...info, ...peerCounters(peer.stats.snapshot()) } as PeerInfo;
}

function formatU32(v: number): string {
  return `${v >>> 24}.${(v >>> 16) & 255}.${(v >>> 8) & 255}.${v & 255}`;
}
