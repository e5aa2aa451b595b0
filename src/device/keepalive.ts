/**
 * Keepalive for all peers of a device with ONE timer (spec ovpn-kernel §3.7, the kernel's keepalive
 * worker): for each peer with both an interval and a timeout, remove it with reason `expired` once
 * nothing authenticated arrived for `timeout` seconds, and send a keepalive once nothing was sent for
 * `interval` seconds; then re-arm for the earliest next deadline. The data path only stamps
 * `lastSentMs`/`lastRecvMs`; all the bookkeeping is here, off the per-packet path. The timer runs on
 * the device's clock (monotonic; a ManualClock in tests), and one sweep is one batch for the upcall
 * queue: removals are notified after the sweep.
 */
import type { Clock, Timer } from '../clock/clock.js';
import type { UpcallQueue } from '../datapath/upcalls.js';
import { DelReason } from '../peer/del-reason.js';
import type { Peer } from '../peer/peer.js';
import type { PeerTable } from '../peer/peer-table.js';

export interface KeepaliveHost {
  readonly peers: PeerTable;
  readonly clock: Clock;
  readonly upcalls: UpcallQueue;
  removePeer(peer: Peer, reason: DelReason): boolean;
  sendKeepalive(peer: Peer): void;
}

export class KeepaliveTimer {
  private timer: Timer | undefined;
  private closed = false;

  constructor(private readonly host: KeepaliveHost) {}

  /** Re-evaluates every peer now (after a keepalive setting changed, as the kernel kicks its worker). */
  kick(): void {
    this.run();
  }

  close(): void {
    this.closed = true;
    this.timer?.cancel();
    this.timer = undefined;
  }

  private run(): void {
    this.timer?.cancel();
    this.timer = undefined;
    if (this.closed) return;
    const { host } = this;
    host.upcalls.enter();
    let next = Number.POSITIVE_INFINITY;
    const now = host.clock.nowMs();
    try {
      for (const peer of [...host.peers.all()]) {
        const interval = peer.keepaliveIntervalSec * 1000;
        const timeout = peer.keepaliveTimeoutSec * 1000;
        if (interval === 0 || timeout === 0 || peer.dead) continue;
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
    } finally {
      host.upcalls.leave();
    }
    // a listener may have kicked or closed the timer while the sweep's events were delivered
    if (this.closed || this.timer !== undefined || next === Number.POSITIVE_INFINITY) return;
    this.timer = host.clock.schedule(next - now, () => this.run());
  }
}
