/**
 * Keepalive for all peers of a device with ONE timer (spec ovpn-kernel §3.7, the kernel's keepalive
 * worker): for each peer with both an interval and a timeout, remove it with reason `expired` once
 * nothing authenticated arrived for `timeout` seconds, and send a keepalive once nothing was sent for
 * `interval` seconds; then re-arm for the earliest next deadline. The data path only stamps
 * `lastSentMs`/`lastRecvMs`; all the bookkeeping is here, off the per-packet path. Monotonic clock.
 */
import type { Clock } from '../clock/clock.js';
import { DelReason } from '../peer/del-reason.js';
import type { Peer } from '../peer/peer.js';
import type { PeerTable } from '../peer/peer-table.js';

export interface KeepaliveHost {
  readonly peers: PeerTable;
  readonly clock: Clock;
  removePeer(peer: Peer, reason: DelReason): boolean;
  sendKeepalive(peer: Peer): void;
}

export class KeepaliveTimer {
  private timer: NodeJS.Timeout | undefined;
  private closed = false;

  constructor(private readonly host: KeepaliveHost) {}

  /** Re-evaluates every peer now (after a keepalive setting changed, as the kernel kicks its worker). */
  kick(): void {
    this.run();
  }

  close(): void {
    this.closed = true;
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
  }

  private run(): void {
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
    if (this.closed) return;
    const { host } = this;
    const now = host.clock.nowMs();
    let next = Number.POSITIVE_INFINITY;
    for (const peer of [...host.peers.all()]) {
      const interval = peer.keepaliveIntervalSec * 1000;
      const timeout = peer.keepaliveTimeoutSec * 1000;
      if (interval === 0 || timeout === 0) continue;
      const expireAt = peer.lastRecvMs + timeout;
      if (now >= expireAt) {
        host.removePeer(peer, DelReason.EXPIRED);
        continue;
      }
      let sendAt = peer.lastSentMs + interval;
      if (now >= sendAt) {
        host.sendKeepalive(peer);
        // if the send failed, try again after another interval rather than in a tight loop
        sendAt = Math.max(peer.lastSentMs, now) + interval;
      }
      next = Math.min(next, expireAt, sendAt);
    }
    if (next === Number.POSITIVE_INFINITY) return;
    this.timer = setTimeout(() => this.run(), Math.max(1, next - now));
    this.timer.unref();
  }
}
