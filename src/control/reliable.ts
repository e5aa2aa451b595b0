/**
 * OpenVPN's reliability layer for one key state, as a pure object: no socket, no clock (time comes in
 * as `nowMs`), outputs are returned. It follows OpenVPN 2.6 `reliable.c` and the way `ssl.c` drives it
 * (`tls_process_state`, `tls_process`, `tls_pre_decrypt`); openvpn-protocol.md §4.1, §4.2, §4.8 and
 * control-plane.md §4.
 *
 * What this layer knows: message packet-ids, an opaque opcode number per message (the session layer
 * puts a reset or P_CONTROL_V1 there), payload Buffers and ack lists. It does not know the packet codec,
 * session ids or wrapping; the session layer glues those on.
 *
 * Send side (`reliable_send` and friends):
 * - messages get packet-ids 0, 1, 2, ... in the order given to `send`;
 * - at most `sendWindow` (6, TLS_RELIABLE_N_SEND_BUFFERS) are unacknowledged at once, and a new id is
 *   handed out only while it lies within `sendWindow` of the lowest unacknowledged one
 *   (`reliable_get_buf_output_sequenced`); the rest wait in a backlog;
 * - a new message is due at once; each (re)transmission sets the next try to now + timeout and then
 *   doubles the timeout, starting from `--tls-timeout` (2 s). 2.6 has no upper limit on the doubling
 *   (`reliable_send`); `maxTimeoutSec` can add one and defaults to none;
 * - a message is also due at once after N_ACK_RETRANSMIT (3) acks for higher ids
 *   (`reliable_send_purge` counts them; re-sent MRU acks count too, as in the source);
 * - `scheduleNow` makes everything due with the initial timeout again (`reliable_schedule_now`, the
 *   "burst" when the peer's reset arrives).
 *
 * Receive side (`tls_pre_decrypt` with `reliable_wont_break_sequentiality`, `reliable_not_replay`):
 * - an id is taken if it is below next-expected + `recvWindow` (12) and is not a replay: ids before
 *   next-expected and ids already buffered are replays;
 * - every id that passes the window check is acked, replays included, so that a lost ack is repaired;
 *   an id beyond the window is dropped without an ack;
 * - messages are delivered strictly in order.
 *
 * Acks (`reliable_ack_acknowledge_packet_id`, `reliable_ack_write`, `copy_acks_to_mru`):
 * - ids to ack wait in a list of at most 8 (RELIABLE_ACK_SIZE; one more is dropped, the peer will
 *   retransmit);
 * - every outgoing packet moves up to its limit of them to the front of a most-recently-used list of 8
 *   and then carries the first entries of that list, so recently acked ids are acked again;
 * - a P_CONTROL_* carries at most 4 (CONTROL_SEND_ACK_MAX); a standalone P_ACK_V1 goes out only when
 *   acks are still waiting after every due message has left, and carries at most `maxAcksPerAck`
 *   (4 by default: 2.6 clients without tls-auth/crypt cap there for SoftEther, `write_control_auth`).
 */

import { einval } from '../errors/ovpn-error.js';
import { ACK_MAX, CONTROL_SEND_ACK_MAX } from './packet.js';

/** Ids one ack list holds, on the wire and in memory (RELIABLE_ACK_SIZE): the codec's limit. */
export const RELIABLE_ACK_SIZE = ACK_MAX;
/** Unacknowledged messages in flight per key state (TLS_RELIABLE_N_SEND_BUFFERS, ssl_pkt.h). */
export const TLS_RELIABLE_N_SEND_BUFFERS = 6;
/** Receive window: ids accepted from next-expected on (TLS_RELIABLE_N_REC_BUFFERS, ssl_pkt.h). */
export const TLS_RELIABLE_N_REC_BUFFERS = 12;
/** A message is resent early after this many acks for later ids (N_ACK_RETRANSMIT, reliable.h). */
export const N_ACK_RETRANSMIT = 3;
/** `--tls-timeout` default in seconds: the first retransmit timeout (options.c init_options). */
export const TLS_TIMEOUT_DEFAULT_SEC = 2;

const U32 = 0x1_0000_0000;
const HALF = 0x8000_0000;

/** test - base, modulo 2^32 (reliable.c subtract_pid). */
function subtractPid(test: number, base: number): number {
  return (test - base + U32) % U32;
}

/** Whether p1 comes before p2, with wrap-around (reliable.c reliable_pid_min). */
export function pidBefore(p1: number, p2: number): boolean {
  return subtractPid(p1, p2) >= HALF;
}

/**
 * reliable.c reliable_pid_in_range2: test < base + extent, modulo 2^32. It has no lower bound: ids
 * before base pass, which is what lets replays be re-acked.
 */
function pidInRange2(test: number, base: number, extent: number): boolean {
  if (base + extent < U32) return test < base + extent;
  return (test + HALF) % U32 < ((base + HALF) % U32) + extent;
}

export interface ReliableOptions {
  /** `--tls-timeout`: the first retransmit timeout, whole seconds. Default 2. */
  initialTimeoutSec?: number;
  /** Cap on the doubled timeout in seconds. OpenVPN 2.6 has none: default Infinity. */
  maxTimeoutSec?: number;
  /** Send window. Default 6. */
  sendWindow?: number;
  /** Receive window. Default 12. */
  recvWindow?: number;
  /** Acks piggy-backed on a message packet. Default 4. */
  maxAcksPerControl?: number;
  /** Acks in a standalone P_ACK_V1. Default 4 (SoftEther-safe); 2.6 servers send up to 8. */
  maxAcksPerAck?: number;
  /**
   * Hold all transmissions until `scheduleNow` (reliable_init's `hold`: a TCP server's key-id 0 waits
   * for the client to speak first, `xmit_hold`). Default false.
   */
  hold?: boolean;
  /** First id this side sends. 0, or 1 after a stateless cookie exchange (session_skip_to_pre_start). */
  firstSendId?: number;
  /** First id expected from the peer. 0, or 1 after a stateless cookie exchange. */
  firstRecvId?: number;
}

/** One message packet to put on the wire now. */
export interface ReliablePacket {
  opcode: number;
  packetId: number;
  payload: Buffer;
  /** Ids to ack in this packet (at most maxAcksPerControl), most recent first. */
  acks: number[];
  /** 1 for the first transmission, 2 for the first retransmission, ... */
  transmission: number;
}

/** What `poll` asks the caller to send, in this order. */
export interface ReliableOutput {
  packets: ReliablePacket[];
  /** Ack lists for standalone P_ACK_V1 packets, one per packet. */
  ackOnly: number[][];
}

/** A message delivered in order to the layer above (TLS, or the reset handling for id 0). */
export interface ReliableMessage {
  opcode: number;
  packetId: number;
  payload: Buffer;
}

/**
 * - `new`: stored (and delivered if it was next);
 * - `replay`: seen before; acked again, not delivered;
 * - `beyond-window`: too far ahead (reliable_wont_break_sequentiality), dropped without an ack;
 * - `no-buffer`: the receive buffers are full (reliable_can_get), dropped without an ack.
 */
export type ReceiveVerdict = 'new' | 'replay' | 'beyond-window' | 'no-buffer';

export interface ReceiveResult {
  verdict: ReceiveVerdict;
  /** Messages now deliverable in order (possibly several when a gap closes). */
  delivered: ReliableMessage[];
}

interface SendEntry {
  opcode: number;
  packetId: number;
  payload: Buffer;
  timeoutSec: number;
  nextTryMs: number;
  nAcks: number;
  transmissions: number;
}

/** The reliability layer of one key state, both directions. */
export class Reliable {
  private readonly initialTimeoutSec: number;
  private readonly maxTimeoutSec: number;
  private readonly sendWindow: number;
  private readonly recvWindow: number;
  private readonly maxAcksPerControl: number;
  private readonly maxAcksPerAck: number;
  private hold: boolean;

  /** Next id to hand out (rel->packet_id of the send side). */
  private nextSendId: number;
  /** Active send entries, in id order. */
  private readonly inFlight: SendEntry[] = [];
  /** Messages waiting for a window slot, in order. */
  private readonly backlog: { opcode: number; payload: Buffer }[] = [];

  /** Next id to deliver (rel->packet_id of the receive side). */
  private nextRecvId: number;
  /** Out-of-order messages waiting for the gap to close. */
  private readonly buffered = new Map<number, { opcode: number; payload: Buffer }>();
  /** Ids to ack that have not gone out yet (ks->rec_ack). */
  private readonly pendingAcks: number[] = [];
  /** Most recently acked ids, most recent first (ks->lru_acks). */
  private readonly mruAcks: number[] = [];

  constructor(opts: ReliableOptions = {}) {
    this.initialTimeoutSec = opts.initialTimeoutSec ?? TLS_TIMEOUT_DEFAULT_SEC;
    this.maxTimeoutSec = opts.maxTimeoutSec ?? Number.POSITIVE_INFINITY;
    this.sendWindow = opts.sendWindow ?? TLS_RELIABLE_N_SEND_BUFFERS;
    this.recvWindow = opts.recvWindow ?? TLS_RELIABLE_N_REC_BUFFERS;
    this.maxAcksPerControl = opts.maxAcksPerControl ?? CONTROL_SEND_ACK_MAX;
    this.maxAcksPerAck = opts.maxAcksPerAck ?? CONTROL_SEND_ACK_MAX;
    this.hold = opts.hold ?? false;
    this.nextSendId = (opts.firstSendId ?? 0) >>> 0;
    this.nextRecvId = (opts.firstRecvId ?? 0) >>> 0;
    if (!(this.initialTimeoutSec > 0)) throw einval('initialTimeoutSec must be positive');
    for (const [name, v, max] of [
      ['sendWindow', this.sendWindow, 12],
      ['recvWindow', this.recvWindow, 12],
      ['maxAcksPerControl', this.maxAcksPerControl, RELIABLE_ACK_SIZE],
      ['maxAcksPerAck', this.maxAcksPerAck, RELIABLE_ACK_SIZE],
    ] as const) {
      if (!Number.isInteger(v) || v < 1 || v > max) throw einval(`${name} must be 1..${max}`);
    }
  }

  // ---- send side ----

  /** Queues a message; it gets the next packet-id as soon as the window allows. */
  send(payload: Buffer, opcode: number): void {
    this.backlog.push({ opcode, payload });
    this.fillWindow();
  }

  /**
   * Acks from the peer (any packet's ack list): acked messages leave the window, and every message
   * below an acked id counts one ack towards early retransmission (reliable_send_purge). Returns how
   * many messages were newly acknowledged.
   */
  ackReceived(ids: readonly number[]): number {
    let removed = 0;
    for (const raw of ids) {
      const pid = raw >>> 0;
      for (let i = 0; i < this.inFlight.length; i++) {
        const e = this.inFlight[i];
        if (e.packetId === pid) {
          this.inFlight.splice(i, 1);
          i--;
          removed++;
        } else if (e.packetId < pid) {
          // plain comparison, as in the source: a later message got through, this one may be lost
          e.nAcks++;
        }
      }
    }
    if (removed > 0) this.fillWindow();
    return removed;
  }

  /** Makes every unacknowledged message due now with the initial timeout, and ends a hold. */
  scheduleNow(nowMs: number): void {
    this.hold = false;
    for (const e of this.inFlight) {
      e.nextTryMs = nowMs;
      e.timeoutSec = this.initialTimeoutSec;
    }
  }

  /** Whether nothing we sent is waiting for an ack and nothing is queued (reliable_empty). */
  get sendEmpty(): boolean {
    return this.inFlight.length === 0 && this.backlog.length === 0;
  }

  /** Messages given to `send` that have no packet-id yet (for back-pressure on the TLS reader). */
  get backlogLength(): number {
    return this.backlog.length;
  }

  /** Messages in flight, unacknowledged. */
  get inFlightCount(): number {
    return this.inFlight.length;
  }

  /**
   * How many new messages could get an id now (reliable_get_num_output_sequenced_available, minus the
   * backlog): the session layer reads at most this many packets' worth of TLS ciphertext.
   */
  get windowAvailable(): number {
    let n = this.sendWindow;
    if (this.inFlight.length > 0) n -= subtractPid(this.nextSendId, this.inFlight[0].packetId);
    n = Math.min(n, this.sendWindow - this.inFlight.length);
    return Math.max(0, n - this.backlog.length);
  }

  /** The next packet-id `send` will hand out after the backlog. */
  get nextPacketId(): number {
    return (this.nextSendId + this.backlog.length) >>> 0;
  }

  private canAssign(): boolean {
    if (this.inFlight.length >= this.sendWindow) return false;
    if (this.inFlight.length === 0) return true;
    return subtractPid(this.nextSendId, this.inFlight[0].packetId) < this.sendWindow;
  }

  private fillWindow(): void {
    while (this.backlog.length > 0 && this.canAssign()) {
      const m = this.backlog.shift()!;
      this.inFlight.push({
        opcode: m.opcode,
        packetId: this.nextSendId,
        payload: m.payload,
        timeoutSec: this.initialTimeoutSec,
        nextTryMs: Number.NEGATIVE_INFINITY,
        nAcks: 0,
        transmissions: 0,
      });
      this.nextSendId = (this.nextSendId + 1) >>> 0;
    }
  }

  // ---- receive side ----

  /** A message packet from the peer (P_CONTROL_*, or a reset): stores, acks and delivers it. */
  receive(packetId: number, payload: Buffer, opcode: number): ReceiveResult {
    const id = packetId >>> 0;
    // every delivered message has left the buffers, so only out-of-order ones occupy them
    if (this.buffered.size >= this.recvWindow) return { verdict: 'no-buffer', delivered: [] };
    if (!pidInRange2(id, this.nextRecvId, this.recvWindow))
      return { verdict: 'beyond-window', delivered: [] };
    let verdict: ReceiveVerdict = 'replay';
    if (!pidBefore(id, this.nextRecvId) && !this.buffered.has(id)) {
      this.buffered.set(id, { opcode, payload });
      verdict = 'new';
    }
    // ack it, even a replay, so that a lost ack gets repaired
    if (!this.pendingAcks.includes(id) && this.pendingAcks.length < RELIABLE_ACK_SIZE)
      this.pendingAcks.push(id);
    const delivered: ReliableMessage[] = [];
    for (let m = this.buffered.get(this.nextRecvId); m; m = this.buffered.get(this.nextRecvId)) {
      this.buffered.delete(this.nextRecvId);
      delivered.push({ opcode: m.opcode, packetId: this.nextRecvId, payload: m.payload });
      this.nextRecvId = (this.nextRecvId + 1) >>> 0;
    }
    return { verdict, delivered };
  }

  /** The next id expected from the peer. */
  get expectedPacketId(): number {
    return this.nextRecvId;
  }

  /** Out-of-order messages held until the gap before them closes. */
  get bufferedCount(): number {
    return this.buffered.size;
  }

  /** Acks waiting to go out (they force a standalone ACK at the next poll if no message leaves). */
  get pendingAckCount(): number {
    return this.pendingAcks.length;
  }

  // ---- output ----

  /**
   * Everything to send at `nowMs`: each due message, lowest id first, with acks piggy-backed; then
   * standalone ack lists for any acks still waiting. Call it after every input and when
   * `nextWakeMs()` has come.
   */
  poll(nowMs: number): ReliableOutput {
    this.fillWindow();
    const packets: ReliablePacket[] = [];
    if (!this.hold) {
      for (;;) {
        const e = this.nextDue(nowMs);
        if (!e) break;
        // exponential back-off, as reliable_send: next try after the current timeout, then double it
        e.nextTryMs = nowMs + e.timeoutSec * 1000;
        e.timeoutSec = Math.min(e.timeoutSec * 2, this.maxTimeoutSec);
        e.nAcks = 0;
        e.transmissions++;
        packets.push({
          opcode: e.opcode,
          packetId: e.packetId,
          payload: e.payload,
          acks: this.takeAcks(this.maxAcksPerControl),
          transmission: e.transmissions,
        });
      }
    }
    const ackOnly: number[][] = [];
    while (this.pendingAcks.length > 0) ackOnly.push(this.takeAcks(this.maxAcksPerAck));
    return { packets, ackOnly };
  }

  /**
   * When `poll` has work next: a time ≤ now means at once (acks waiting, or a message due);
   * Infinity means nothing to wait for (reliable_send_timeout's BIG_TIMEOUT).
   */
  nextWakeMs(): number {
    if (this.pendingAcks.length > 0) return Number.NEGATIVE_INFINITY;
    if (this.hold) return Number.POSITIVE_INFINITY;
    let wake = Number.POSITIVE_INFINITY;
    for (const e of this.inFlight) {
      if (e.nAcks >= N_ACK_RETRANSMIT) return Number.NEGATIVE_INFINITY;
      wake = Math.min(wake, e.nextTryMs);
    }
    if (this.backlog.length > 0 && this.canAssign()) return Number.NEGATIVE_INFINITY;
    return wake;
  }

  /** The lowest-id message that is due by time or by acks for later ids. */
  private nextDue(nowMs: number): SendEntry | undefined {
    let best: SendEntry | undefined;
    for (const e of this.inFlight) {
      if (e.nAcks >= N_ACK_RETRANSMIT || nowMs >= e.nextTryMs) {
        if (!best || pidBefore(e.packetId, best.packetId)) best = e;
      }
    }
    return best;
  }

  /**
   * reliable_ack_write: moves up to `max` waiting ids to the front of the MRU list and returns the
   * first `max` entries of that list.
   */
  private takeAcks(max: number): number[] {
    const n = Math.min(this.pendingAcks.length, max);
    // backwards, so that the list keeps the order of the waiting ids (copy_acks_to_mru)
    for (let i = n - 1; i >= 0; i--) {
      const id = this.pendingAcks[i];
      const at = this.mruAcks.indexOf(id);
      if (at >= 0) this.mruAcks.splice(at, 1);
      this.mruAcks.unshift(id);
      if (this.mruAcks.length > RELIABLE_ACK_SIZE) this.mruAcks.length = RELIABLE_ACK_SIZE;
    }
    this.pendingAcks.splice(0, n);
    return this.mruAcks.slice(0, Math.min(max, this.mruAcks.length));
  }
}

// ---- cutting TLS ciphertext into control packets (openvpn-protocol.md §4.11) ----

/** `--tls-mtu` default: whole control datagram including IP and UDP headers (mtu.h TLS_MTU_DEFAULT). */
export const TLS_MTU_DEFAULT = 1250;
/** Bounds `--tls-mtu` is clamped to (common.h TLS_CHANNEL_MTU_MIN, TLS_CHANNEL_BUF_SIZE). */
export const TLS_CHANNEL_MTU_MIN = 154;
export const TLS_CHANNEL_BUF_SIZE = 2048;
/** tls-crypt adds its replay id (8), tag (32) and a block (16) (tls_crypt.c tls_crypt_buf_overhead). */
export const TLS_CRYPT_OVERHEAD = 56;

/** tls-auth adds the HMAC and its replay id with time (8): `hmacSize` is 20 for SHA1, 32 for SHA256. */
export function tlsAuthOverhead(hmacSize: number): number {
  return hmacSize + 8;
}

/** Bytes of an ack block with `n` ids: count, ids, and the remote session id when n > 0 (ACK_SIZE). */
export function ackBlockSize(n: number): number {
  return 1 + (n > 0 ? 8 : 0) + 4 * n;
}

export interface ControlPayloadSizing {
  /** `--tls-mtu` (or `--max-packet-size`). Default 1250. */
  tlsMtu?: number;
  /** Acks the packet may carry. Default 4, the most a message packet carries. */
  acks?: number;
  /** tls-auth or tls-crypt overhead (`tlsAuthOverhead`, TLS_CRYPT_OVERHEAD). Default 0. */
  wrapOverhead?: number;
  /** Peer address family: IPv6 counts 40+8 bytes of headers, IPv4 20+8. Default false. */
  ipv6?: boolean;
}

/**
 * Largest TLS ciphertext payload for one control packet (ssl.c write_outgoing_tls_ciphertext with
 * calc_control_channel_frame_overhead): the clamped tls-mtu minus opcode, session id, ack block,
 * packet-id, wrapping and the IP+UDP headers. UDP/IPv4, no wrap, 4 acks: 1250 - 66 = 1184, i.e. full
 * 1222-byte datagrams as in the LAB capture. Like the source, never less than 16.
 */
export function maxControlPayload(s: ControlPayloadSizing = {}): number {
  const mtu = Math.min(
    TLS_CHANNEL_BUF_SIZE,
    Math.max(TLS_CHANNEL_MTU_MIN, Math.min(s.tlsMtu ?? TLS_MTU_DEFAULT, TLS_CHANNEL_BUF_SIZE)),
  );
  const acks = Math.min(s.acks ?? CONTROL_SEND_ACK_MAX, CONTROL_SEND_ACK_MAX);
  const overhead = 1 + 8 + ackBlockSize(acks) + 4 + (s.wrapOverhead ?? 0) + (s.ipv6 ? 48 : 28);
  return Math.max(16, mtu - overhead);
}

/**
 * Cuts a piece of the TLS ciphertext stream into control payloads of at most `maxPayload` bytes.
 * Record boundaries do not matter: the peer feeds the payloads to TLS in packet-id order. The chunks
 * are views into `stream`.
 */
export function splitCiphertext(stream: Buffer, maxPayload: number): Buffer[] {
  if (!Number.isInteger(maxPayload) || maxPayload < 1) throw einval('maxPayload must be at least 1');
  const out: Buffer[] = [];
  for (let off = 0; off < stream.length; off += maxPayload) {
    out.push(stream.subarray(off, Math.min(stream.length, off + maxPayload)));
  }
  return out;
}

/** The ciphertext stream again from payloads delivered in order (what the receive side feeds TLS). */
export function joinCiphertext(payloads: readonly ReliableMessage[] | readonly Buffer[]): Buffer {
  return Buffer.concat(payloads.map((p) => (Buffer.isBuffer(p) ? p : p.payload)));
}
