/**
 * TUN -> network (spec ovpn-kernel §3.5): read a batch of IP packets from the TUN, pick each one's
 * peer, seal it in place, and send the batch through the peers' sockets. Reads top to bottom like the
 * kernel's ovpn_net_xmit + ovpn_encrypt_post; allocates nothing per packet; bad packets are counted
 * drops.
 */
import type { PacketBatch } from '../batch/packet-batch.js';
import type { Endpoint } from '../net/endpoint.js';
import type { Peer } from '../peer/peer.js';
import { Stat } from '../peer/stats.js';
import { DATA_V2_OVERHEAD } from '../wire/data-v2.js';
import { IPV4_DST, IPV6_DST, ipVersion } from '../wire/inner-ip.js';
import { KEEPALIVE_MESSAGE, KEEPALIVE_SIZE } from '../wire/keepalive.js';
import type { DatapathContext } from './context.js';
import { sealPacket } from './crypt.js';
import { DropReason } from './drop-reason.js';

/** Batches handled per readiness callback before yielding to the event loop (fairness). */
const MAX_BATCHES_PER_TURN = 16;

/** Drains the TUN: called when it is readable. */
export function xmitFromTun(ctx: DatapathContext): void {
  const batch = ctx.txBatch;
  for (let turn = 0; turn < MAX_BATCHES_PER_TURN; turn++) {
    const n = ctx.tun.readBatch(batch);
    if (n <= 0) return;
    xmitBatch(ctx, batch, n);
    if (n < batch.size) return;
  }
}

/** Seals and sends slots 0..n of `batch` (packets read from the TUN). */
export function xmitBatch(ctx: DatapathContext, batch: PacketBatch, n: number): void {
  const buf = batch.mem.buf;
  const addr = batch.mem.addr;
  const { slots, slotPeers, slotDests, drops } = ctx;
  let k = 0;
  for (let i = 0; i < n; i++) {
    const off = batch.offs[i];
    const len = batch.lens[i];
    const ver = ipVersion(buf, off, len);
    if (ver === 0) {
      drops.add(DropReason.TX_NOT_IP);
      continue;
    }
    const peer = ctx.peers.mode === 'p2p' ? ctx.peers.single() : peerForDst(ctx, buf, off, ver);
    if (peer === undefined) {
      drops.add(DropReason.TX_NO_PEER);
      continue;
    }
    const dest = peer.remote;
    if (peer.sock === undefined || (dest === undefined && peer.sock.proto === 'udp')) {
      drops.add(DropReason.TX_TRANSPORT);
      continue;
    }
    peer.stats.addPacket(Stat.VPN_TX_BYTES, len);
    const hdr = off - DATA_V2_OVERHEAD;
    const r = sealPacket(peer, buf, addr, hdr, len, ctx.events);
    if (r !== DropReason.NONE) {
      drops.add(r);
      continue;
    }
    batch.offs[i] = hdr;
    batch.lens[i] = len + DATA_V2_OVERHEAD;
    slots[k] = i;
    slotPeers[k] = peer;
    slotDests[k] = dest;
    ctx.slotSrcs[k] = peer.local;
    k++;
  }
  if (k > 0) sendSealed(ctx, batch, k);
}

/**
 * Sends one keepalive to `peer` (spec §3.7): the 16-byte magic sealed as an ordinary DATA_V2 packet.
 * It counts in link TX (and refreshes last-sent) but not in VPN TX. Called by the keepalive timer,
 * never in the middle of a batch, so it may use the shared scratch arrays.
 */
export function xmitKeepalive(ctx: DatapathContext, peer: Peer): void {
  const b = ctx.kaBatch;
  const buf = b.mem.buf;
  const off = b.dataStart(0);
  KEEPALIVE_MESSAGE.copy(buf, off);
  const dest = peer.remote;
  if (peer.sock === undefined || (peer.sock.proto === 'udp' && dest === undefined)) {
    ctx.drops.add(DropReason.TX_TRANSPORT);
    return;
  }
  const r = sealPacket(peer, buf, b.mem.addr, off - DATA_V2_OVERHEAD, KEEPALIVE_SIZE, ctx.events);
  if (r !== DropReason.NONE) {
    ctx.drops.add(r);
    return;
  }
  b.offs[0] = off - DATA_V2_OVERHEAD;
  b.lens[0] = KEEPALIVE_SIZE + DATA_V2_OVERHEAD;
  ctx.slots[0] = 0;
  ctx.slotPeers[0] = peer;
  ctx.slotDests[0] = dest;
  ctx.slotSrcs[0] = peer.local;
  sendSealed(ctx, b, 1);
}

/**
 * MP peer selection (spec §4.4): the peer owning the destination as VPN address, else the peer owning
 * the next hop of the kernel's route to the destination.
 */
function peerForDst(ctx: DatapathContext, buf: Buffer, off: number, ver: 4 | 6): Peer | undefined {
  const peers = ctx.peers;
  if (ver === 4) {
    const dst = buf.readUInt32BE(off + IPV4_DST);
    const direct = peers.getByVpn4(dst);
    if (direct !== undefined || ctx.routes === undefined) return direct;
    const hop = ctx.routes.nextHop4(dst);
    return hop === 0 || hop === dst ? undefined : peers.getByVpn4(hop);
  }
  const direct = peers.getByVpn6(buf, off + IPV6_DST);
  if (direct !== undefined || ctx.routes === undefined) return direct;
  if (!ctx.routes.nextHop6(buf, off + IPV6_DST, ctx.nextHop6, 0)) return undefined;
  return peers.getByVpn6(ctx.nextHop6, 0);
}

/**
 * Sends the k sealed slots listed in ctx.slots, one sendmmsg per socket (P2P and most MP devices
 * have one socket, so this is one call). Counts link TX and stamps last-sent for what went out.
 */
function sendSealed(ctx: DatapathContext, batch: PacketBatch, k: number): void {
  const { slots, slotPeers, slotDests } = ctx;
  const now = ctx.clock.nowMs();
  let start = 0;
  while (start < k) {
    const sock = slotPeers[start]!.sock!;
    // Move the slots of this socket to the front of [start, k).
    let end = start;
    for (let j = start; j < k; j++) {
      if (slotPeers[j]!.sock === sock) {
        if (j !== end) swapScratch(ctx, j, end);
        end++;
      }
    }
    if (sock.proto === 'tcp') {
      // a TCP stream takes a prefix of the frames (the rest do not fit its bounded queue)
      const accepted = sock.transport.sendFrames(batch, slots, start, end - start);
      finishSent(ctx, batch, start, end, now, undefined, accepted);
      start = end;
      continue;
    }
    // Slots [0, end) always hold endpoints; the common single-socket case passes the scratch as is.
    const dests = slotDests as readonly Endpoint[];
    const t = sock.transport;
    const srcs = ctx.slotSrcs;
    if (start === 0) t.sendBatch(batch, slots, dests, end, srcs);
    else
      t.sendBatch(
        batch,
        slots.subarray(start, end),
        dests.slice(start, end),
        end - start,
        srcs.slice(start, end),
      );
    finishSent(ctx, batch, start, end, now, t.txStatus, 0);
    start = end;
  }
}

/**
 * Counts what went out (link TX, last-sent) and what did not (drops); clears the scratch entries.
 * Slot j went out if `status[j - start]` is 1 (UDP), or without a status if j - start < `accepted`
 * (TCP takes a prefix). Data rather than a callback: no closure per send.
 */
function finishSent(
  ctx: DatapathContext,
  batch: PacketBatch,
  start: number,
  end: number,
  now: number,
  status: Uint8Array | undefined,
  accepted: number,
): void {
  const { slots, slotPeers, slotDests } = ctx;
  for (let j = start; j < end; j++) {
    const peer = slotPeers[j]!;
    if (status === undefined ? j - start < accepted : status[j - start] === 1) {
      const len = batch.lens[slots[j]];
      peer.stats.addPacket(Stat.LINK_TX_BYTES, len);
      peer.lastSentMs = now;
      ctx.counters.txPackets++;
      ctx.counters.txBytes += len;
    } else ctx.drops.add(DropReason.TX_TRANSPORT);
    slotPeers[j] = undefined;
    slotDests[j] = undefined;
    ctx.slotSrcs[j] = undefined;
  }
}

function swapScratch(ctx: DatapathContext, a: number, b: number): void {
  const { slots, slotPeers, slotDests } = ctx;
  const s = slots[a];
  slots[a] = slots[b];
  slots[b] = s;
  const p = slotPeers[a];
  slotPeers[a] = slotPeers[b];
  slotPeers[b] = p;
  const d = slotDests[a];
  slotDests[a] = slotDests[b];
  slotDests[b] = d;
  const l = ctx.slotSrcs[a];
  ctx.slotSrcs[a] = ctx.slotSrcs[b];
  ctx.slotSrcs[b] = l;
}
