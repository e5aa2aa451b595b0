/**
 * The one interface of the control-channel wrappers (plain, tls-auth, tls-crypt, tls-crypt-v2) and what
 * they share: the typed drop, the replay packet-id sender and the replay window.
 *
 * A wrapper belongs to one tls_session (2.6 keeps `tls_wrap` per session, shared by its key-ids): its
 * send counter and replay window live as long as the session. Time is always a parameter (unix seconds):
 * the wrappers never read a clock.
 */
import { einval, erange } from '../../errors/ovpn-error.js';
import { CONTROL_HEADER_SIZE } from '../packet.js';

/** Why a wrapped control packet was dropped. */
export type WrapErrorReason =
  /** Too short for the wrapping's fixed fields. */
  | 'SHORT'
  /** HMAC or tls-crypt tag mismatch. */
  | 'AUTH'
  /** Replay packet-id 0, seen before, older than the window, or with an older timestamp. */
  | 'REPLAY'
  /** tls-crypt-v2: the appended wrapped client key is missing, too long, or its length field is wrong. */
  | 'WKC_LENGTH'
  /** tls-crypt-v2: the wrapped client key does not authenticate under the server key. */
  | 'WKC_AUTH'
  /** tls-crypt-v2 server: a packet that needs the client key came before any WKc. */
  | 'NO_CLIENT_KEY';

/** A dropped packet: one shared instance per reason (drops are counted, not thrown). */
export class WrapError {
  private constructor(readonly reason: WrapErrorReason) {}
  static readonly SHORT = new WrapError('SHORT');
  static readonly AUTH = new WrapError('AUTH');
  static readonly REPLAY = new WrapError('REPLAY');
  static readonly WKC_LENGTH = new WrapError('WKC_LENGTH');
  static readonly WKC_AUTH = new WrapError('WKC_AUTH');
  static readonly NO_CLIENT_KEY = new WrapError('NO_CLIENT_KEY');
}

/**
 * Adds and removes the control channel's protection. Both directions work on whole packets:
 * `plain` is the packet of control/packet.ts (opcode, session id, ack block, message id, payload).
 */
export interface ControlWrap {
  /** Bytes added per packet on the wire (for the tls-mtu budget, spec §4.11), not counting a WKc. */
  readonly overhead: number;
  /**
   * Wraps `plain` (at least opcode + session id) for sending at `nowSec`; returns a new Buffer. Each call
   * uses a new replay packet-id, retransmissions included, as 2.6 re-wraps on every send. Throws
   * `OvpnError` EINVAL for a packet shorter than 9 bytes (a caller bug), ERANGE if the packet-id space
   * is spent.
   */
  wrap(plain: Buffer, nowSec: number): Buffer;
  /**
   * Checks and removes the wrapping of `wire`, received at `nowSec`: the plain packet, or a drop. Never
   * throws. A packet that fails authentication does not touch the replay window.
   */
  unwrap(wire: Buffer, nowSec: number): Buffer | WrapError;
  /**
   * tls-crypt-v2 client only: the length of the wrapped client key appended to its
   * P_CONTROL_HARD_RESET_CLIENT_V3 and P_CONTROL_WKC_V1 packets (the session then resets with V3).
   */
  readonly wkcLength?: number;
}

/** Replay window defaults: `--replay-window 64 15` (DEFAULT_SEQ_BACKTRACK, DEFAULT_TIME_BACKTRACK). */
export const REPLAY_WINDOW_DEFAULT = 64;
export const REPLAY_TIME_DEFAULT_SEC = 15;
/** 2.6 reaps expired ids at most every 5 s (SEQ_REAP_INTERVAL). */
const REAP_INTERVAL_SEC = 5;
const UNSEEN = -1;
const EXPIRED = -2;

/**
 * The long-form packet-id sender of a wrapper (`packet_id_send_update` with long_form): the timestamp is
 * fixed at the first send, the id counts from `first` + 1. At 2^32 − 1 the id wraps to 1 with a new
 * timestamp, but only once the clock has moved past the old one.
 */
export class ReplaySender {
  private id: number;
  private timeSec = 0;

  /** `first`: the id before the first one sent (0; EARLY_NEG_START for a tls-crypt-v2 client). */
  constructor(first = 0) {
    this.id = first >>> 0;
  }

  /** The next (id, time) to send. Throws ERANGE if the id space is spent within the same second. */
  next(nowSec: number): { id: number; timeSec: number } {
    const now = Math.floor(nowSec) >>> 0;
    if (this.timeSec === 0) this.timeSec = now;
    if (this.id === 0xffffffff) {
      if (now <= this.timeSec) throw erange('control channel replay packet-id exhausted');
      this.timeSec = now;
      this.id = 0;
    }
    this.id++;
    return { id: this.id, timeSec: this.timeSec };
  }
}

/**
 * The receive side of a long-form packet-id, as 2.6's backtrack mode (`packet_id_test`, `packet_id_add`,
 * `packet_id_reap`):
 * - id 0 is never valid;
 * - a newer timestamp starts a new sequence; an older one is refused;
 * - within one timestamp, ids up to `window` − 1 below the highest are accepted once each;
 * - ids seen more than `timeSec` seconds ago, and every older id, can no longer be accepted (checked at
 *   most every 5 s, as 2.6 reaps).
 *
 * `check` only tests; `add` records; a wrapper calls `add` only after authentication succeeded.
 */
export class ReplayWindow {
  /** Ring of local receive times by distance from the highest id; UNSEEN / EXPIRED markers. */
  private readonly seen: Float64Array;
  private head = 0;
  private size = 0;
  private id = 0;
  private time = 0;
  private lastReap = Number.NEGATIVE_INFINITY;

  constructor(
    private readonly window = REPLAY_WINDOW_DEFAULT,
    private readonly timeBacktrackSec = REPLAY_TIME_DEFAULT_SEC,
  ) {
    this.seen = new Float64Array(Math.max(1, window));
  }

  private item(diff: number): number {
    return this.seen[(this.head + diff) % this.seen.length];
  }

  /** True if (id, time) may be accepted at `nowSec` (reaps expired entries first, as crypto_check_replay). */
  check(id: number, time: number, nowSec: number): boolean {
    if (this.lastReap + REAP_INTERVAL_SEC <= nowSec) this.reap(nowSec);
    if (id === 0) return false;
    if (time === this.time) {
      if (id > this.id) return true;
      const diff = this.id - id;
      if (diff >= this.size) return false;
      return this.item(diff) === UNSEEN;
    }
    return time > this.time;
  }

  /** Records an accepted (id, time) at `nowSec`. */
  add(id: number, time: number, nowSec: number): void {
    const w = this.window;
    if (this.size === 0 || time > this.time || (id >= w && id - w > this.id)) {
      this.time = time;
      this.id = id > w ? id - w : 0;
      this.head = 0;
      this.size = 0;
    }
    const cap = this.seen.length;
    while (this.id < id) {
      this.head = (this.head + cap - 1) % cap;
      this.seen[this.head] = UNSEEN;
      if (this.size < cap) this.size++;
      this.id++;
    }
    const diff = this.id - id;
    if (diff < this.size) this.seen[(this.head + diff) % cap] = nowSec;
  }

  private reap(nowSec: number): void {
    let expire = false;
    const cap = this.seen.length;
    for (let i = 0; i < this.size; i++) {
      const at = (this.head + i) % cap;
      const t = this.seen[at];
      if (t === EXPIRED) break;
      if (!expire && t !== UNSEEN && t + this.timeBacktrackSec < nowSec) expire = true;
      if (expire) this.seen[at] = EXPIRED;
    }
    this.lastReap = nowSec;
  }
}

/** Throws EINVAL unless `plain` has at least the opcode and session id every wrapping keeps in clear. */
export function checkPlain(plain: Buffer): void {
  if (plain.length < CONTROL_HEADER_SIZE) throw einval('a control packet starts with opcode and session id');
}
