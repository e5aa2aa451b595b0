/**
 * Network -> TUN (spec ovpn-kernel §3.4): datagrams from a UDP socket, or frames from a peer's TCP
 * stream, are classified, matched to their peer, opened in place (authenticate, then replay check),
 * keepalives are consumed, the inner packet and the reverse path are checked, and the survivors are
 * written to the TUN in one batch. Non-data packets go to the control plane unchanged. UDP peers float
 * to a new source address once a packet from it has authenticated (§4.6). Allocates nothing per data
 * packet; bad packets are counted drops.
 */
import type { PacketBatch } from '../batch/packet-batch.js';
import { Endpoint, type LocalAddress } from '../net/endpoint.js';
import type { Peer } from '../peer/peer.js';
import { Stat } from '../peer/stats.js';
import type { UdpPeerSocket } from '../transport/peer-socket.js';
import { DATA_V2_OVERHEAD, readPeerId } from '../wire/data-v2.js';
import { IPV4_SRC, IPV6_SRC, ipVersion } from '../wire/inner-ip.js';
import { isKeepalive } from '../wire/keepalive.js';
import { classify, OPCODE_WORD_SIZE, PacketClass, PEER_ID_UNDEF } from '../wire/opcode.js';
import type { DatapathContext } from './context.js';
import { openPacket } from './crypt.js';
import { DropReason } from './drop-reason.js';

const MAX_BATCHES_PER_TURN = 16;

/** Drains a UDP socket of the device: called when it is readable. */
export function recvFromUdp(ctx: DatapathContext, sock: UdpPeerSocket): void {
  const batch = ctx.rxBatch;
  for (let turn = 0; turn < MAX_BATCHES_PER_TURN; turn++) {
    const n = sock.transport.recvBatch(batch);
    if (n <= 0) return;
    recvUdpBatch(ctx, sock, batch, n);
    if (n < batch.size) return;
  }
}

/** Classifies and matches slots 0..n of a batch received on `sock`, then opens and delivers them. */
function recvUdpBatch(ctx: DatapathContext, sock: UdpPeerSocket, batch: PacketBatch, n: number): void {
  const buf = batch.mem.buf;
  const { slots, slotPeers, drops } = ctx;
  let k = 0;
  for (let i = 0; i < n; i++) {
    const off = batch.offs[i];
    const len = batch.lens[i];
    if (len < OPCODE_WORD_SIZE) {
      drops.add(DropReason.RX_SHORT);
      continue;
    }
    const cls = classify(buf[off]);
    if (cls === PacketClass.CONTROL) {
      deliverUdpControl(ctx, sock, batch, i);
      continue;
    }
    if (cls === PacketClass.DATA_V1) {
      drops.add(DropReason.RX_DATA_V1);
      continue;
    }
    const peer = peerForPacket(ctx, sock, buf, off, i);
    if (peer === undefined) {
      drops.add(DropReason.RX_NO_PEER);
      continue;
    }
    slots[k] = i;
    slotPeers[k] = peer;
    k++;
  }
  openAndDeliver(ctx, batch, k, sock);
}

/**
 * Opens the k DATA_V2 packets listed in ctx.slots/slotPeers (each already matched to its peer), checks
 * them, and writes the survivors to the TUN. `udp` is the socket they came from (for the float check),
 * or undefined for TCP.
 */
export function openAndDeliver(
  ctx: DatapathContext,
  batch: PacketBatch,
  k: number,
  udp: UdpPeerSocket | undefined,
): void {
  const buf = batch.mem.buf;
  const addr = batch.mem.addr;
  const { slots, slotPeers, drops } = ctx;
  const now = ctx.clock.nowMs();
  let w = 0;
  for (let j = 0; j < k; j++) {
    const i = slots[j];
    const peer = slotPeers[j]!;
    slotPeers[j] = undefined;
    const off = batch.offs[i];
    const len = batch.lens[i];
    if (peer.dead) {
      drops.add(DropReason.RX_NO_PEER);
      continue;
    }
    const r = openPacket(peer, buf, addr, off, len, now);
    if (r !== DropReason.NONE) {
      drops.add(r);
      continue;
    }
    if (udp !== undefined) checkEndpoint(ctx, udp, peer, i);
    const inner = off + DATA_V2_OVERHEAD;
    const innerLen = len - DATA_V2_OVERHEAD;
    if (isKeepalive(buf, inner, innerLen)) continue;
    const ver = ipVersion(buf, inner, innerLen);
    if (ver === 0) {
      drops.add(DropReason.RX_NOT_IP);
      continue;
    }
    if (ctx.peers.mode === 'mp' && !reversePathOk(ctx, peer, buf, inner, ver)) {
      drops.add(DropReason.RX_RPF);
      continue;
    }
    batch.offs[i] = inner;
    batch.lens[i] = innerLen;
    peer.stats.addPacket(Stat.VPN_RX_BYTES, innerLen);
    ctx.counters.rxPackets++;
    ctx.counters.rxBytes += innerLen;
    slots[w++] = i;
  }
  if (w === 0) return;
  const written = ctx.tun.writeBatch(batch, slots, w);
  for (let j = written; j < w; j++) drops.add(DropReason.RX_DEVICE);
}

/**
 * The peer a DATA_V2 packet belongs to: by the peer-id in its header, or by source address when the
 * sender used 0xFFFFFF ("some OpenVPN servers send that"; spec §3.1, §4.3).
 */
function peerForPacket(
  ctx: DatapathContext,
  sock: UdpPeerSocket,
  buf: Buffer,
  off: number,
  slot: number,
): Peer | undefined {
  const id = readPeerId(buf, off);
  const byId = ctx.peers.getById(id);
  if (byId !== undefined || id !== PEER_ID_UNDEF) return byId;
  const t = sock.transport;
  const from = Endpoint.fromSockaddr(t.names, t.nameOffset(slot));
  return from === undefined ? undefined : ctx.peers.getByTransport(from.key);
}

/**
 * Endpoint learning (spec §4.6), after authentication and the replay check: a packet from a new source
 * address or port moves the peer there (float: re-indexed, notified); a change of the local address
 * it was sent to is learnt silently. Allocates only when something changed.
 */
function checkEndpoint(ctx: DatapathContext, udp: UdpPeerSocket, peer: Peer, slot: number): void {
  const t = udp.transport;
  const nameOff = t.nameOffset(slot);
  const remote = peer.remote;
  if (remote === undefined || !remote.matchesSockaddr(t.names, nameOff)) {
    const from = Endpoint.fromSockaddr(t.names, nameOff);
    if (from === undefined) return;
    // a link-local IPv6 source is only meaningful with the interface it came in on
    const scoped =
      from.family === 6 && from.addr[0] === 0xfe && (from.addr[1] & 0xc0) === 0x80
        ? Endpoint.fromBytes(from.addr, from.port, t.localIfindex[slot])
        : from;
    peer.remote = scoped;
    peer.local = receivedOn(udp, slot);
    ctx.peers.rehash(peer);
    ctx.events.peerFloated(peer);
    return;
  }
  const fam = t.localFamily[slot];
  if (fam === 0) return;
  const lo = peer.local;
  const localOff = slot * 16;
  const same =
    lo !== undefined &&
    lo.family === fam &&
    lo.addr.compare(t.localAddr, localOff, localOff + (fam === 4 ? 4 : 16)) === 0;
  if (!same) peer.local = receivedOn(udp, slot);
}

/** The local address datagram `slot` was sent to (from pktinfo). */
function receivedOn(udp: UdpPeerSocket, slot: number): LocalAddress | undefined {
  const t = udp.transport;
  const fam = t.localFamily[slot];
  if (fam === 0) return undefined;
  const off = slot * 16;
  return {
    family: fam === 4 ? 4 : 6,
    addr: Buffer.from(t.localAddr.subarray(off, off + (fam === 4 ? 4 : 16))),
  };
}

/**
 * MP reverse-path check (spec §4.5): the inner source must be the peer's own VPN address, or an
 * address the kernel routes via the peer's VPN address. (The kernel always does the route lookup;
 * checking the peer's own address first gives the same answer for the usual on-link route to it, and
 * keeps the lookup off the common path.)
 */
function reversePathOk(ctx: DatapathContext, peer: Peer, buf: Buffer, off: number, ver: 4 | 6): boolean {
  if (ver === 4) {
    const src = buf.readUInt32BE(off + IPV4_SRC);
    if (src === peer.vpnIpv4) return true;
    if (ctx.routes === undefined) return false;
    const hop = ctx.routes.nextHop4(src);
    return hop !== 0 && ctx.peers.getByVpn4(hop) === peer;
  }
  const v6 = peer.vpnIpv6;
  if (v6 !== undefined && v6.compare(buf, off + IPV6_SRC, off + IPV6_SRC + 16) === 0) return true;
  if (ctx.routes === undefined || !ctx.routes.nextHop6(buf, off + IPV6_SRC, ctx.nextHop6, 0)) return false;
  return ctx.peers.getByVpn6(ctx.nextHop6, 0) === peer;
}

/** Hands a non-data datagram to the control plane, with a copy of its bytes and its source. */
function deliverUdpControl(ctx: DatapathContext, sock: UdpPeerSocket, batch: PacketBatch, i: number): void {
  const t = sock.transport;
  const from = Endpoint.fromSockaddr(t.names, t.nameOffset(i));
  const off = batch.offs[i];
  if (from === undefined) {
    ctx.drops.add(DropReason.RX_CONTROL_UNCLAIMED);
    return;
  }
  const packet = Buffer.from(batch.mem.buf.subarray(off, off + batch.lens[i]));
  if (ctx.control({ sock, from, packet })) ctx.counters.controlIn++;
  else ctx.drops.add(DropReason.RX_CONTROL_UNCLAIMED);
}
