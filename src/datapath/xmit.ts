/**
 * TUN -> network (spec ovpn-kernel §3.5; the kernel's ovpn_net_xmit, ovpn_encrypt_post, ovpn_send):
 * read a batch of IP packets from the TUN, pick each one's peer, seal it in place, and send the batch
 * through the peers' sockets. Allocates nothing per packet; bad packets are counted drops; events
 * (a key killed by packet-id exhaustion) are posted and reach the device after the batch.
 *
 *   xmitFromTun   readiness: one batch at a time, each inside the upcall queue's enter/leave
 *   xmitBatch     per packet: inner version -> peerByDst -> endpoint check -> MSS clamp -> VPN TX ->
 *                 compression framing -> sealPacket
 *   sendSealed    per socket: sendBatch (UDP) or sendFrames (TCP) -> finishSent (link TX or drop)
 *   xmitKeepalive the keepalive timer's send, on its own batch and scratch
 */
import type { PacketBatch } from '../batch/packet-batch.js';
import type { Peer } from '../peer/peer.js';
import { peerByDst } from '../peer/peer-route.js';
import { Stat } from '../peer/stats.js';
import { CompFraming, frameComp, framedGrowth } from '../wire/comp-framing.js';
import { DATA_V2_OVERHEAD } from '../wire/data-v2.js';
import { ipVersion } from '../wire/inner-ip.js';
import { KEEPALIVE_MESSAGE, KEEPALIVE_SIZE } from '../wire/keepalive.js';
import { clampMss } from '../wire/tcp-mss.js';
import { aeadSeal } from './crypto.js';
import type { DataPath } from './datapath.js';
import { DropReason } from './drop-reason.js';
import type { TxScratch } from './scratch.js';
import type { KeyEvents } from './upcalls.js';

/** Batches handled per readiness callback before yielding to the event loop (fairness). */
const MAX_BATCHES_PER_TURN = 16;

/** Drains the TUN: called when it is readable. */
export function xmitFromTun(dp: DataPath): void {
  const batch = dp.txBatch;
  for (let turn = 0; turn < MAX_BATCHES_PER_TURN; turn++) {
    let n = 0;
    dp.upcalls.enter();
    try {
      n = dp.tun.readBatch(batch);
      if (n > 0) xmitBatch(dp, batch, n);
    } finally {
      dp.upcalls.leave();
    }
    if (n < batch.size) return;
  }
}

/** Seals and sends slots 0..n of `batch` (packets read from the TUN). */
export function xmitBatch(dp: DataPath, batch: PacketBatch, n: number): void {
  const buf = batch.mem.buf;
  const addr = batch.mem.addr;
  const { tx, drops } = dp;
  let k = 0;
  for (let i = 0; i < n; i++) {
    const off = batch.offs[i];
    const len = batch.lens[i];
    const ver = ipVersion(buf, off, len);
    if (ver === 0) {
      drops.add(DropReason.TX_NOT_IP);
      continue;
    }
    const peer = peerByDst(dp, buf, off, ver);
    if (peer === undefined) {
      drops.add(DropReason.TX_NO_PEER);
      continue;
    }
    if (!hasEndpoint(peer)) {
      drops.add(DropReason.TX_NO_ENDPOINT);
      continue;
    }
    if (peer.mssClamp !== 0) clampMss(buf, off, len, ver, peer.mssClamp);
    peer.stats.addPacket(Stat.VPN_TX_BYTES, len);
    // framing needs at most 2 bytes of headroom and 1 of tailroom: a TUN packet is at most the MTU
    // (<= 65451), far below the slot's room, so both are always there
    const start = peer.compFraming === CompFraming.NONE ? off : frameComp(buf, off, len, peer.compFraming);
    const plen = len + framedGrowth(peer.compFraming, off, start, len);
    const hdr = start - DATA_V2_OVERHEAD;
    const r = sealPacket(peer, buf, addr, hdr, plen, dp);
    if (r !== DropReason.NONE) {
      drops.add(r);
      continue;
    }
    batch.offs[i] = hdr;
    batch.lens[i] = plen + DATA_V2_OVERHEAD;
    tx.set(k++, i, peer);
  }
  if (k > 0) sendSealed(dp, batch, tx, k);
}

/**
 * client-to-client: the decrypted inner packet at `buf[off, off+len)` from peer `from` goes to the
 * peer owning its destination (peerByDst) when that is another peer, sealed and sent at once
 * instead of going up the TUN (OpenVPN 2.6's userspace client-to-client; the kernel's ovpn has none).
 * False when it is for no other peer: the caller delivers it to the TUN as usual.
 */
export function forwardToPeer(
  dp: DataPath,
  from: Peer,
  buf: Buffer,
  off: number,
  len: number,
  ver: 4 | 6,
): boolean {
  const to = peerByDst(dp, buf, off, ver);
  if (to === undefined || to === from) return false;
  const b = dp.fwdBatch;
  b.offs[0] = b.headroom;
  b.lens[0] = len;
  buf.copy(b.mem.buf, b.offs[0], off, off + len);
  xmitBatch(dp, b, 1);
  return true;
}

/**
 * Seals the plaintext at `buf[off+24, off+24+len)` for `peer` with its primary key and the next
 * packet-id. On packet-id exhaustion the key is killed and, if this call killed it,
 * `events.keySwapNeeded` fires (exactly once however many packets hit the limit).
 */
export function sealPacket(
  peer: Peer,
  buf: Buffer,
  addr: number,
  off: number,
  len: number,
  events: KeyEvents,
): DropReason {
  const ks = peer.keys.primary();
  if (ks === undefined) return DropReason.TX_NO_KEY;
  const pktId = ks.txPktId.next();
  if (pktId === 0) {
    if (peer.keys.kill(ks.keyId)) events.keySwapNeeded(peer, ks.keyId);
    return DropReason.TX_PKTID_EXHAUSTED;
  }
  return aeadSeal(ks, peer.txId, pktId, buf, addr, off, len) ? DropReason.NONE : DropReason.TX_CRYPTO;
}

/**
 * Sends one keepalive to `peer` (spec §3.7): the 16-byte magic sealed as an ordinary DATA_V2 packet.
 * It counts in link TX (and refreshes last-sent) but not in VPN TX. Uses the keepalive batch and
 * scratch, so it may run from anywhere, even from a listener while a batch is in flight.
 */
export function xmitKeepalive(dp: DataPath, peer: Peer): void {
  dp.upcalls.enter();
  try {
    const b = dp.kaBatch;
    const buf = b.mem.buf;
    const off = b.dataStart(0);
    if (!hasEndpoint(peer)) {
      dp.drops.add(DropReason.TX_NO_ENDPOINT);
      return;
    }
    KEEPALIVE_MESSAGE.copy(buf, off);
    // the ping is framed like any plaintext
    const f = peer.compFraming;
    const start = f === CompFraming.NONE ? off : frameComp(buf, off, KEEPALIVE_SIZE, f);
    const plen = KEEPALIVE_SIZE + framedGrowth(f, off, start, KEEPALIVE_SIZE);
    const r = sealPacket(peer, buf, b.mem.addr, start - DATA_V2_OVERHEAD, plen, dp);
    if (r !== DropReason.NONE) {
      dp.drops.add(r);
      return;
    }
    b.offs[0] = start - DATA_V2_OVERHEAD;
    b.lens[0] = plen + DATA_V2_OVERHEAD;
    dp.ka.set(0, 0, peer);
    dp.counters.keepaliveOut += sendSealed(dp, b, dp.ka, 1);
  } finally {
    dp.upcalls.leave();
  }
}

/** A peer can be sent to: it has a socket, and on UDP a remote endpoint. */
function hasEndpoint(peer: Peer): boolean {
  const sock = peer.sock;
  return sock !== undefined && (sock.proto === 'tcp' || peer.remote !== undefined);
}

/**
 * Sends the k sealed entries of `s`, one send per socket. P2P and most MP devices have one socket:
 * then the scratch goes to the transport as it is. With several, the entries of each socket are
 * gathered in order into the group scratch first (packets of one peer never change order). Returns
 * how many went out.
 */
function sendSealed(dp: DataPath, batch: PacketBatch, s: TxScratch, k: number): number {
  const now = dp.clock.nowMs();
  const first = s.peers[0]!.sock!;
  let same = 1;
  while (same < k && s.peers[same]!.sock === first) same++;
  if (same === k) return sendGroup(dp, batch, s, k, now);
  const g = dp.txGroup;
  const done = dp.txGrouped;
  done.fill(0, 0, k);
  let sent = 0;
  for (let start = 0; start < k; start++) {
    if (done[start] === 1) continue;
    const sock = s.peers[start]!.sock;
    let m = 0;
    for (let j = start; j < k; j++) {
      const peer = s.peers[j]!;
      if (done[j] === 1 || peer.sock !== sock) continue;
      done[j] = 1;
      g.set(m++, s.slots[j], peer);
      s.clear(j);
    }
    sent += sendGroup(dp, batch, g, m, now);
  }
  return sent;
}

/** Sends the k entries of `s`, which all go through one socket. */
function sendGroup(dp: DataPath, batch: PacketBatch, s: TxScratch, k: number, now: number): number {
  const sock = s.peers[0]!.sock!;
  if (sock.proto === 'tcp') {
    // a stream takes a prefix of the frames (the rest do not fit its bounded queue)
    const accepted = sock.transport.sendFrames(batch, s.slots, 0, k);
    return finishSent(dp, batch, s, k, now, undefined, accepted);
  }
  const t = sock.transport;
  t.sendBatch(batch, s.slots, s.dests, s.srcs, 0, k);
  return finishSent(dp, batch, s, k, now, t.txStatus, 0);
}

/**
 * Counts what went out (link TX, last-sent, device TX) and what did not (drops), and clears the
 * scratch. Entry j went out if `status[j]` is 1 (UDP), or without a status if j < `accepted` (a stream
 * takes a prefix). Data rather than a callback: no closure per send. Returns how many went out.
 */
function finishSent(
  dp: DataPath,
  batch: PacketBatch,
  s: TxScratch,
  k: number,
  now: number,
  status: Uint8Array | undefined,
  accepted: number,
): number {
  let sent = 0;
  for (let j = 0; j < k; j++) {
    const peer = s.peers[j]!;
    if (status === undefined ? j < accepted : status[j] === 1) {
      const len = batch.lens[s.slots[j]];
      peer.stats.addPacket(Stat.LINK_TX_BYTES, len);
      peer.lastSentMs = now;
      dp.counters.txPackets++;
      dp.counters.txBytes += len;
      sent++;
    } else dp.drops.add(DropReason.TX_TRANSPORT);
    s.clear(j);
  }
  return sent;
}
