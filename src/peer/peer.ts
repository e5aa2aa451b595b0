/**
 * A peer (spec ovpn-kernel §4.1): the far end of one tunnel, as the data plane knows it: identity,
 * keys, stats, keepalive clocks, VPN addresses (MP) and the transport it is reached through.
 */
import { einval } from '../errors/ovpn-error.js';
import { KeyState } from '../keys/key-state.js';
import type { Endpoint, LocalAddress } from '../net/endpoint.js';
import type { PeerSocket } from '../transport/peer-socket.js';
import { CompFraming } from '../wire/comp-framing.js';
import { PEER_ID_MAX } from '../wire/opcode.js';
import type { DelReason } from './del-reason.js';
import { PeerStats } from './stats.js';

export class Peer {
  /** The id expected in received packets; also the management key. 24 bits. */
  readonly id: number;
  /** The id written into transmitted packets (7.1 `tx-id`); defaults to `id`. */
  txId: number;
  readonly keys = new KeyState();
  readonly stats = new PeerStats();

  /** VPN IPv4 as a uint32 (0 = none) and VPN IPv6 (16 bytes), MP only: the keys of TX routing. */
  vpnIpv4 = 0;
  vpnIpv6: Buffer | undefined;

  /** The socket the peer is reached through (shared UDP socket or own TCP stream). */
  sock: PeerSocket | undefined;
  /** UDP: where packets go, and the local address to send from (undefined = routing chooses). */
  remote: Endpoint | undefined;
  local: LocalAddress | undefined;

  /**
   * Ours, beyond the kernel: the largest TCP MSS for SYNs through this peer in either direction
   * (OpenVPN's mssfix, IPv4 value; IPv6 gets 20 less), 0 = off; and the compression framing of every
   * plaintext (wire/comp-framing.ts), for peers configured with `comp-lzo no` or `compress`.
   */
  mssClamp = 0;
  compFraming: CompFraming = CompFraming.NONE;

  /** Keepalive settings in seconds; 0/0 = off (spec §3.7). */
  keepaliveIntervalSec = 0;
  keepaliveTimeoutSec = 0;
  /** Monotonic ms of the last packet handed to the transport / the last authenticated packet. */
  lastSentMs = 0;
  lastRecvMs = 0;

  /** Set once the peer is removed; anything holding a Peer past a batch checks it. */
  dead = false;
  delReason: DelReason | undefined;

  /** Throws EINVAL if `id` or `txId` is not a 24-bit peer-id. */
  constructor(id: number, txId: number = id) {
    checkPeerId(id, 'id');
    checkPeerId(txId, 'tx-id');
    this.id = id;
    this.txId = txId;
  }

  /** Sets keepalive and resets both clocks to `nowMs`, as the kernel does on every peer-new/peer-set. */
  setKeepalive(intervalSec: number, timeoutSec: number, nowMs: number): void {
    this.keepaliveIntervalSec = intervalSec;
    this.keepaliveTimeoutSec = timeoutSec;
    this.lastSentMs = nowMs;
    this.lastRecvMs = nowMs;
  }

  /** Marks the peer removed with `reason` and frees its keys. Returns false if it already was. */
  release(reason: DelReason): boolean {
    if (this.dead) return false;
    this.dead = true;
    this.delReason = reason;
    this.keys.close();
    return true;
  }
}

function checkPeerId(v: number, attr: string): void {
  if (!Number.isInteger(v) || v < 0 || v > PEER_ID_MAX)
    throw einval(`${attr} must be 0..${PEER_ID_MAX}`, attr);
}
