/**
 * Network -> TUN (spec ovpn-kernel §3.4; the kernel's ovpn_recv, ovpn_decrypt_post): datagrams from a
 * UDP socket, or frames from a peer's TCP stream (recv-tcp.ts), are classified, matched to their peer,
 * opened in place (authenticate, then replay check), keepalives are consumed, the inner packet and the
 * reverse path are checked, and the survivors are written to the TUN in one batch. Non-data packets
 * are posted to the control plane unchanged. UDP peers float to a new source address once a packet
 * from it has authenticated (§4.6). Allocates nothing per data packet; bad packets are counted drops.
 *
 *   recvFromUdp     readiness: one batch at a time, each inside the upcall queue's enter/leave
 *   recvUdpBatch    per datagram: length -> opcode class -> peerForPacket (id, or source for 0xFFFFFF)
 *   openAndDeliver  per packet: openPacket -> checkEndpoint -> unframe -> keepalive -> inner IP -> MSS
 *                   clamp -> checkBySrc;
 *                   then one TUN write, and VPN RX counted for what the TUN took
 */
import type { PacketBatch } from '../batch/packet-batch.js';
import type { Peer } from '../peer/peer.js';
import { checkBySrc } from '../peer/peer-route.js';
import { Stat } from '../peer/stats.js';
import type { UdpPeerSocket } from '../transport/peer-socket.js';
import type { DatagramTransport } from '../transport/transport.js';
import { CompFraming, unframeComp, unframedShrink } from '../wire/comp-framing.js';
import { DATA_V2_OVERHEAD, readPeerId } from '../wire/data-v2.js';
import { ipVersion } from '../wire/inner-ip.js';
import { isKeepalive } from '../wire/keepalive.js';
import { classify, keyIdOf, OPCODE_WORD_SIZE, PacketClass, PEER_ID_UNDEF } from '../wire/opcode.js';
import { clampMss } from '../wire/tcp-mss.js';
import { aeadOpen } from './crypto.js';
import type { DataPath } from './datapath.js';
import { DropReason } from './drop-reason.js';
import { forwardToPeer } from './xmit.js';

const MAX_BATCHES_PER_TURN = 16;

/** Drains a UDP socket of the device: called when it is readable. */
export function recvFromUdp(dp: DataPath, sock: UdpPeerSocket): void {
  const batch = dp.rxBatch;
  for (let turn = 0; turn < MAX_BATCHES_PER_TURN; turn++) {
    let n = 0;
    dp.upcalls.enter();
    try {
      n = sock.transport.recvBatch(batch);
      if (n > 0) recvUdpBatch(dp, sock, batch, n);
    } finally {
      dp.upcalls.leave();
    }
    if (n < batch.size) return;
  }
}

/** Classifies and matches slots 0..n of a batch received on `sock`, then opens and delivers them. */
function recvUdpBatch(dp: DataPath, sock: UdpPeerSocket, batch: PacketBatch, n: number): void {
  const buf = batch.mem.buf;
  const t = sock.transport;
  const { rx, drops } = dp;
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
      postUdpControl(dp, sock, batch, i);
      continue;
    }
    if (cls === PacketClass.DATA_V1) {
      drops.add(DropReason.RX_DATA_V1);
      continue;
    }
    const peer = peerForPacket(dp, t, buf, off, i);
    if (peer === undefined) {
      drops.add(DropReason.RX_NO_PEER);
      continue;
    }
    rx.slots[k] = i;
    rx.peers[k] = peer;
    k++;
  }
  openAndDeliver(dp, batch, k, t);
}

/**
 * The peer a DATA_V2 packet belongs to: by the peer-id in its header, or by source address when the
 * sender used 0xFFFFFF ("some OpenVPN servers send that"; spec §3.1, §4.3), found by hash without
 * allocating.
 */
function peerForPacket(
  dp: DataPath,
  t: DatagramTransport,
  buf: Buffer,
  off: number,
  slot: number,
): Peer | undefined {
  const id = readPeerId(buf, off);
  const byId = dp.peers.getById(id);
  if (byId !== undefined || id !== PEER_ID_UNDEF) return byId;
  return dp.peers.getBySource(t, slot);
}

/**
 * Opens the k DATA_V2 packets listed in `dp.rx` (each already matched to its peer), checks them, and
 * writes the survivors to the TUN. `udp` is the transport they came from (for the float check), or
 * undefined for TCP. VPN RX and the device's RX count only what the TUN took; the rest are RX_DEVICE.
 */
export function openAndDeliver(
  dp: DataPath,
  batch: PacketBatch,
  k: number,
  udp: DatagramTransport | undefined,
): void {
  const buf = batch.mem.buf;
  const addr = batch.mem.addr;
  const { rx, drops } = dp;
  const now = dp.clock.nowMs();
  let w = 0;
  for (let j = 0; j < k; j++) {
    const i = rx.slots[j];
    const peer = rx.peers[j]!;
    rx.peers[j] = undefined;
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
    if (udp !== undefined) checkEndpoint(dp, udp, peer, i);
    let inner = off + DATA_V2_OVERHEAD;
    let innerLen = len - DATA_V2_OVERHEAD;
    const f = peer.compFraming;
    if (f !== CompFraming.NONE) {
      const skip = unframeComp(buf, inner, innerLen, f);
      if (skip < 0) {
        drops.add(DropReason.RX_COMPRESSED);
        continue;
      }
      innerLen -= unframedShrink(f, innerLen, skip);
      inner += skip;
    }
    if (isKeepalive(buf, inner, innerLen)) {
      dp.counters.keepaliveIn++;
      continue;
    }
    const ver = ipVersion(buf, inner, innerLen);
    if (ver === 0) {
      drops.add(DropReason.RX_NOT_IP);
      continue;
    }
    if (peer.mssClamp !== 0) clampMss(buf, inner, innerLen, ver, peer.mssClamp);
    if (!checkBySrc(dp, peer, buf, inner, ver)) {
      drops.add(DropReason.RX_RPF);
      continue;
    }
    if (dp.clientToClient && forwardToPeer(dp, peer, buf, inner, innerLen, ver)) continue;
    batch.offs[i] = inner;
    batch.lens[i] = innerLen;
    rx.slots[w] = i;
    rx.peers[w] = peer;
    w++;
  }
  if (w === 0) return;
  dp.tun.writeBatch(batch, rx.slots, w, rx.written);
  for (let j = 0; j < w; j++) {
    const peer = rx.peers[j]!;
    rx.peers[j] = undefined;
    if (rx.written[j] === 1) {
      const len = batch.lens[rx.slots[j]];
      peer.stats.addPacket(Stat.VPN_RX_BYTES, len);
      dp.counters.rxPackets++;
      dp.counters.rxBytes += len;
    } else drops.add(DropReason.RX_DEVICE);
  }
}

/**
 * Opens the DATA_V2 packet at `buf[off, off+len)` received from `peer`: counts it in link RX, picks the
 * key slot by key-id, authenticates and decrypts in place (plaintext at `off+24`, `len-24` bytes),
 * then checks the replay window, and stamps `peer.lastRecvMs`. The replay window is touched only after
 * authentication succeeded, so a forged packet cannot move it.
 */
export function openPacket(
  peer: Peer,
  buf: Buffer,
  addr: number,
  off: number,
  len: number,
  nowMs: number,
): DropReason {
  peer.stats.addPacket(Stat.LINK_RX_BYTES, len);
  if (len < DATA_V2_OVERHEAD) return DropReason.RX_SHORT;
  const ks = peer.keys.byKeyId(keyIdOf(buf[off]));
  if (ks === undefined) return DropReason.RX_NO_KEY;
  const pktId = aeadOpen(ks, buf, addr, off, len);
  if (pktId < 0) return DropReason.RX_AUTH;
  if (!ks.replay.check(pktId, nowMs)) return DropReason.RX_REPLAY;
  peer.lastRecvMs = nowMs;
  return DropReason.NONE;
}

/**
 * Endpoint learning (spec §4.6), after authentication and the replay check: a packet from a new source
 * address or port moves the peer there (float: re-indexed, posted); a change of the local address
 * it was sent to is learnt silently. Allocates only when something changed.
 */
function checkEndpoint(dp: DataPath, t: DatagramTransport, peer: Peer, slot: number): void {
  const remote = peer.remote;
  if (remote === undefined || !t.sourceMatches(slot, remote)) {
    const from = t.source(slot);
    if (from === undefined) return;
    peer.remote = from;
    peer.local = t.local(slot);
    dp.peers.rehash(peer);
    dp.upcalls.post({ kind: 'float', peer });
    return;
  }
  if (!t.localMatches(slot, peer.local)) peer.local = t.local(slot);
}

/** Posts a non-data datagram to the control plane, with a copy of its bytes and its source. */
function postUdpControl(dp: DataPath, sock: UdpPeerSocket, batch: PacketBatch, i: number): void {
  const from = sock.transport.source(i);
  if (from === undefined) {
    dp.drops.add(DropReason.RX_CONTROL_UNCLAIMED);
    return;
  }
  const off = batch.offs[i];
  const packet = Buffer.from(batch.mem.buf.subarray(off, off + batch.lens[i]));
  dp.upcalls.post({ kind: 'control', pkt: { sock, from, packet } });
}
