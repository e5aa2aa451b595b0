/**
 * One control session of a client as a pure object (anchors §5): no socket, no clock, no file and no
 * TLS engine. Time comes in as `nowMs` (wall-clock milliseconds: the wrappers stamp their replay ids
 * with it); network packets come in through `receive` and go out from `poll`; the TLS engines live in
 * the shell, which hands their ciphertext to `sendTls` and gets the server's back from `receive` in
 * order, tagged with the key-id of the key state it belongs to.
 *
 * What it does (openvpn-protocol.md §4.1, §4.8, §4.9, §8; control-plane.md §3, §4; OpenVPN 2.6 ssl.c
 * tls_process_state, tls_pre_decrypt, key_state_soft_reset, tls_select_encryption_key, reliable.c):
 * - key-id 0: sends P_CONTROL_HARD_RESET_CLIENT_V2 with message id 0, an empty payload and no acks, and
 *   retransmits it until the server's reset acks it (a 2.6 UDP server answers statelessly and never
 *   retransmits its reset);
 * - learns the server's session id from its first P_CONTROL_HARD_RESET_SERVER_V2; afterwards every
 *   packet must carry that id, and every ack list must name our own id as the remote one;
 * - acks the server's reset in the next packet it sends, normally the first P_CONTROL_V1 carrying the
 *   ClientHello (a P_CONTROL_V1 without that ack is "Unroutable control packet" at a 2.6 server,
 *   OpenVPN/openvpn#653);
 * - holds TLS ciphertext back until our reset is acked (S_START), then cuts it into P_CONTROL_V1
 *   payloads of at most `maxPayload` bytes; the server's P_CONTROL_V1 payloads come back in message-id
 *   order, however they arrived;
 * - fails the session when the key state is not `markEstablished` within the hand-window.
 *
 * Renegotiation (key_state_soft_reset): a key state per key-id, each with its own reliability layer
 * (message ids from 0, its own acks) and its own TLS session in the shell, on the same session ids.
 * Key-ids go 0, 1..7, then wrap to 1. Either side starts one once the current key state is
 * established: we do after `renegMs` (or when the shell calls `renegotiate`, e.g. on key-swap-ntf),
 * the server by sending P_CONTROL_SOFT_RESET_V1 with the next key-id. The current key state then
 * becomes the lame duck, which lives `tranWindowMs` more (or until the next renegotiation replaces it)
 * for the data channel only: as in 2.6, control packets for it are no longer processed. The new key
 * state starts with our own P_CONTROL_SOFT_RESET_V1 (message id 0) and goes through the same states as
 * key-id 0. Which key the data channel encrypts with is `encryptionKeyId` (tls_select_encryption_key):
 * the new key only once its deferred-auth grace, min(hand-window, reneg-sec / 2) from its start, is
 * over, unless the old key is still within its own grace too.
 *
 * Network input never throws: a packet that cannot be ours is dropped and counted by reason
 * (`drops`). Misuse by the caller throws `OvpnError`; a protocol failure puts the session in state
 * `failed` with a `SessionFailure`.
 */
import { einval, OvpnError } from '../errors/ovpn-error.js';
import {
  OP_ACK_V1,
  OP_CONTROL_HARD_RESET_CLIENT_V2,
  OP_CONTROL_HARD_RESET_CLIENT_V3,
  OP_CONTROL_HARD_RESET_SERVER_V2,
  OP_CONTROL_SOFT_RESET_V1,
  OP_CONTROL_V1,
  OP_CONTROL_WKC_V1,
} from '../wire/opcode.js';
import {
  type ControlPacket,
  decodeControl,
  EARLY_NEG_FLAG_RESEND_WKC,
  encodeControl,
  PacketError,
  parseEarlyNegotiation,
  SESSION_ID_SIZE,
} from './packet.js';
import { Reliable, type ReliableOptions, splitCiphertext } from './reliable.js';
import { newSessionId } from './session-id.js';
import { type ControlWrap, WrapError } from './wrap/wrap.js';

/** `--hand-window` default in milliseconds. */
export const HAND_WINDOW_DEFAULT_MS = 60_000;
/** `--tran-window` default in milliseconds. */
export const TRAN_WINDOW_DEFAULT_MS = 3_600_000;
/** The highest key-id (KEY_ID_MASK); after it comes 1 again. */
export const KEY_ID_MAX = 7;

/** The key-id after `keyId`: 1..7, then 1 again; 0 is only ever the first (ssl.c key_state_init). */
export function nextKeyId(keyId: number): number {
  return keyId >= KEY_ID_MAX ? 1 : keyId + 1;
}

export type SessionState =
  /** Our reset is out (or waiting to go), not yet acked by the server (S_PRE_START). */
  | 'pre-start'
  /** The server acked our reset: TLS ciphertext flows (S_START). */
  | 'start'
  /** The shell reported the handshake done (`markEstablished`): no more hand-window. */
  | 'established'
  /** Given up: see `failure`. */
  | 'failed';

/** Why a session failed. */
export type SessionFailureReason =
  /** Not established within the hand-window (2.6: "TLS key negotiation failed to occur within ..."). */
  | 'hand-window'
  /** The server's reset carried malformed early-negotiation TLVs (fatal in 2.6). */
  | 'early-negotiation'
  /** The shell gave up (TLS error, bad certificate...), with its message. */
  | 'aborted';

export class SessionFailure extends OvpnError {
  constructor(
    readonly reason: SessionFailureReason,
    message: string,
  ) {
    super('EIO', message);
  }
}

/** Why a received packet was dropped. */
export type SessionDropReason =
  /** The wrapper refused it (bad HMAC, replay, short...). */
  | `wrap-${Lowercase<WrapError['reason']>}`
  /** The codec refused it. */
  | `packet-${Lowercase<PacketError['reason']>}`
  /** A client reset, or a server reset from a second session id. */
  | 'unexpected-reset'
  /** A packet before the server's reset told us its session id. */
  | 'no-session'
  /** Sent by a session id other than the server's. */
  | 'wrong-session'
  /** Acks naming a remote session id that is not ours. */
  | 'wrong-remote-session'
  /**
   * Not the key-id of the current key state ("local/remote key IDs out of sync" in 2.6): the lame
   * duck's, or a soft reset while the current key state is not established yet.
   */
  | 'key-id'
  /** Outside the receive window, or the receive buffers are full. */
  | 'window'
  /** After the session failed. */
  | 'failed';

export interface ClientSessionOptions {
  /** The control channel's protection (plain, tls-auth, tls-crypt). */
  wrap: ControlWrap;
  /** Our own session id (8 bytes, nonzero). Default: random. */
  sessionId?: Buffer;
  /** TLS ciphertext per P_CONTROL_V1 (`maxControlPayload` for the tls-mtu, wrap and family). */
  maxPayload: number;
  /** `--hand-window` in ms. Default 60 s. */
  handWindowMs?: number;
  /**
   * `--reneg-sec` in ms, after any random reduction (the shell draws it, as init.c does): we start a
   * renegotiation this long after a key state was established. 0 or undefined: never on time.
   */
  renegMs?: number;
  /** `--tran-window` in ms: how long a lame-duck key lives. Default 3600 s. */
  tranWindowMs?: number;
  /** Reliability-layer settings (`--tls-timeout` as initialTimeoutSec...). */
  reliable?: Omit<ReliableOptions, 'firstSendId' | 'firstRecvId' | 'hold'>;
}

/** What one received packet gave. */
export interface SessionInput {
  /** False when the packet was dropped (and counted). */
  accepted: boolean;
  /** The server's TLS ciphertext now deliverable in order, if any (feed it to the TLS engine of `keyId`). */
  tls: Buffer | undefined;
  /** The key state the packet belonged to. */
  keyId: number;
  /** True when this packet was the server's soft reset that started key state `keyId`. */
  renegotiation: boolean;
}

/** One key state (struct key_state): its key-id, reliability layer and progress. */
interface KeyState {
  readonly keyId: number;
  readonly reliable: Reliable;
  state: Exclude<SessionState, 'failed'>;
  readonly startedMs: number;
  /** When the shell marked it established (its keys are on the data plane). */
  establishedMs: number | undefined;
  /** auth_deferred_expire: from then on it is preferred for sending. */
  readonly deferredExpireMs: number;
  /** As a lame duck: when it dies. */
  mustDieMs: number;
  /** TLS ciphertext written before S_START. */
  held: Buffer[];
  /** Standalone acks are kept back while set (see `holdAcks`). */
  ackHold: boolean;
  heldAcks: number[][];
}

const NO_INPUT: SessionInput = { accepted: false, tls: undefined, keyId: 0, renegotiation: false };

/** The client's control session: key-id 0, then its renegotiations. */
export class ClientSession {
  readonly sessionId: Buffer;
  private remoteSid: Buffer | undefined;
  private readonly wrap: ControlWrap;
  private readonly reliableOpts: ClientSessionOptions['reliable'];
  private readonly maxPayload: number;
  private readonly handWindowMs: number;
  private readonly renegMs: number;
  private readonly tranWindowMs: number;
  private startedMs: number | undefined;
  private failed = false;
  private _failure: SessionFailure | undefined;
  /** KS_PRIMARY: the current key state. */
  private primary: KeyState;
  /** KS_LAME_DUCK: the previous one, kept for the data channel until it dies. */
  private lame: KeyState | undefined;
  private readonly dropCounts = new Map<SessionDropReason, number>();
  private _earlyNegFlags = 0;
  /** tls-crypt-v2: the server asked for the WKc again; our message-id 1 goes out as P_CONTROL_WKC_V1. */
  private wkcPending = false;
  private _renegotiations = 0;

  constructor(opts: ClientSessionOptions) {
    this.sessionId = Buffer.from(opts.sessionId ?? newSessionId());
    if (this.sessionId.length !== SESSION_ID_SIZE || this.sessionId.every((b) => b === 0)) {
      throw einval('a session id is 8 bytes, not all zero');
    }
    if (!Number.isInteger(opts.maxPayload) || opts.maxPayload < 1)
      throw einval('maxPayload must be a positive integer');
    this.wrap = opts.wrap;
    this.maxPayload = opts.maxPayload;
    this.handWindowMs = opts.handWindowMs ?? HAND_WINDOW_DEFAULT_MS;
    this.renegMs = opts.renegMs ?? 0;
    this.tranWindowMs = opts.tranWindowMs ?? TRAN_WINDOW_DEFAULT_MS;
    if (!(this.renegMs >= 0)) throw einval('renegMs must not be negative');
    if (!(this.tranWindowMs >= 0)) throw einval('tranWindowMs must not be negative');
    this.reliableOpts = opts.reliable;
    this.primary = this.newKeyState(0, 0);
  }

  /** The state of the current key state, or `failed`. */
  get state(): SessionState {
    return this.failed ? 'failed' : this.primary.state;
  }

  /** Why the session failed (state `failed`). */
  get failure(): SessionFailure | undefined {
    return this._failure;
  }

  /** The server's session id, once its reset arrived. */
  get remoteSessionId(): Buffer | undefined {
    return this.remoteSid;
  }

  /** The EARLY_NEG_FLAGS of the server's reset (0 without the TLV). */
  get earlyNegotiationFlags(): number {
    return this._earlyNegFlags;
  }

  /** Dropped packets by reason. */
  get drops(): ReadonlyMap<SessionDropReason, number> {
    return this.dropCounts;
  }

  /** The key-id of the current key state (the one being negotiated, or the newest established). */
  get keyId(): number {
    return this.primary.keyId;
  }

  /** The key-id of the lame-duck key state, while it lives. */
  get lameDuckKeyId(): number | undefined {
    return this.lame?.keyId;
  }

  /** Renegotiations started so far, by either side. */
  get renegotiations(): number {
    return this._renegotiations;
  }

  /** Whether everything we sent on the current key state has been acked (no retransmission pending). */
  get sendIdle(): boolean {
    return this.primary.reliable.sendEmpty && this.primary.held.length === 0;
  }

  /** Queues our hard reset (message id 0) and starts the hand-window. Call once. */
  start(nowMs: number): void {
    if (this.startedMs !== undefined) throw new OvpnError('EBUSY', 'the session has already started');
    this.startedMs = nowMs;
    this.primary = this.newKeyState(0, nowMs);
    // tls-crypt-v2 clients reset with V3, which carries their wrapped key (ssl.c tls_session_init)
    const reset =
      this.wrap.wkcLength === undefined ? OP_CONTROL_HARD_RESET_CLIENT_V2 : OP_CONTROL_HARD_RESET_CLIENT_V3;
    this.primary.reliable.send(Buffer.alloc(0), reset);
  }

  /**
   * TLS ciphertext of key state `keyId` (default: the current one) to carry to the server; held until
   * our reset of that key state is acked. Ciphertext of any other key state is discarded (a retired
   * TLS engine writing late): returns false then.
   */
  sendTls(ciphertext: Buffer, keyId = this.primary.keyId): boolean {
    if (this.failed) throw this._failure!;
    if (keyId !== this.primary.keyId) return false;
    if (ciphertext.length === 0) return true;
    const copy = Buffer.from(ciphertext);
    if (this.primary.state === 'pre-start') this.primary.held.push(copy);
    else this.queueTls(copy);
    return true;
  }

  /**
   * The shell finished the handshake of key state `keyId` (default: the current one) and put its keys
   * on the data plane: no more hand-window for it, it may encrypt, and its reneg-sec clock starts.
   */
  markEstablished(nowMs?: number, keyId = this.primary.keyId): void {
    if (this.failed) throw this._failure!;
    const ks = this.primary;
    if (keyId !== ks.keyId) throw einval(`key-id ${keyId} is not the current key state (${ks.keyId})`);
    if (ks.state === 'pre-start') throw new OvpnError('EBUSY', 'the server has not acked our reset');
    ks.state = 'established';
    ks.establishedMs = nowMs ?? ks.startedMs;
    ks.ackHold = false;
  }

  /**
   * Starts a renegotiation ourselves (key_state_soft_reset), as reneg-sec does, or on key-swap-ntf.
   * Only once the current key state is established (2.6: state ≥ S_GENERATED_KEYS); returns the new
   * key-id, or undefined when it cannot start now.
   */
  renegotiate(nowMs: number): number | undefined {
    if (this.failed || this.startedMs === undefined || this.primary.state !== 'established') return undefined;
    this.softReset(nowMs);
    return this.primary.keyId;
  }

  /**
   * While set on the current key state `keyId`, standalone acks wait (messages still carry theirs).
   * The shell sets it after writing its key-method 2 in a renegotiation and clears it once the new
   * key is on the data plane: the server generates its new key when it sees the ack of its own
   * key-method 2, and may encrypt with it at once, so the ack must not get there before our key is
   * installed (2.6 generates the keys before the ack leaves, in the same tls_multi_process pass).
   */
  holdAcks(keyId: number, on: boolean): void {
    if (keyId !== this.primary.keyId) return;
    this.primary.ackHold = on;
  }

  /**
   * The key the data channel should encrypt with (tls_select_encryption_key): among the established
   * key states, current first, the first whose deferred-auth grace is over, else the first at all.
   * Key-ids in `unusable` (packet-ids exhausted) are passed over.
   */
  encryptionKeyId(nowMs: number, unusable?: ReadonlySet<number>): number | undefined {
    let sel: KeyState | undefined;
    for (const ks of this.keyScan()) {
      if (ks.state !== 'established' || unusable?.has(ks.keyId)) continue;
      sel ??= ks;
      if (nowMs >= ks.deferredExpireMs) {
        sel = ks;
        break;
      }
    }
    return sel?.keyId;
  }

  /** dco_get_secondary_key: the first established key state that is not `selected`. */
  secondaryKeyId(selected: number | undefined): number | undefined {
    for (const ks of this.keyScan()) {
      if (ks.keyId !== selected && ks.state === 'established') return ks.keyId;
    }
    return undefined;
  }

  /** The shell gives up on this session (TLS error, certificate refused...). */
  abort(message: string): void {
    this.fail(new SessionFailure('aborted', message));
  }

  /** One packet from the server's address, as it came off the wire. Never throws. */
  receive(wire: Buffer, nowMs: number): SessionInput {
    if (this.failed) return this.drop('failed');
    const plain = this.wrap.unwrap(wire, Math.floor(nowMs / 1000));
    if (plain instanceof WrapError) return this.drop(`wrap-${lower(plain.reason)}`);
    const p = decodeControl(plain);
    if (p instanceof PacketError) return this.drop(`packet-${lower(p.reason)}`);
    let renegotiation = false;
    if (p.opcode === OP_CONTROL_HARD_RESET_SERVER_V2) {
      if (p.keyId !== 0 || this.primary.keyId !== 0) return this.drop('key-id');
      if (this.remoteSid === undefined) {
        const neg = parseEarlyNegotiation(p.payload);
        if (neg instanceof PacketError) {
          this.fail(new SessionFailure('early-negotiation', 'malformed early-negotiation TLV in the reset'));
          return NO_INPUT;
        }
        this._earlyNegFlags = neg.flags;
        this.wkcPending = this.wrap.wkcLength !== undefined && (neg.flags & EARLY_NEG_FLAG_RESEND_WKC) !== 0;
        this.remoteSid = Buffer.from(p.sessionId);
      } else if (!p.sessionId.equals(this.remoteSid)) {
        return this.drop('unexpected-reset');
      }
    } else if (p.opcode === OP_CONTROL_HARD_RESET_CLIENT_V2) {
      return this.drop('unexpected-reset');
    } else if (
      p.opcode !== OP_CONTROL_V1 &&
      p.opcode !== OP_ACK_V1 &&
      p.opcode !== OP_CONTROL_SOFT_RESET_V1
    ) {
      return this.drop('unexpected-reset');
    }
    if (this.remoteSid === undefined) return this.drop('no-session');
    if (!p.sessionId.equals(this.remoteSid)) return this.drop('wrong-session');
    if (p.acks.length > 0 && !p.remoteSessionId!.equals(this.sessionId))
      return this.drop('wrong-remote-session');
    if (
      p.opcode === OP_CONTROL_SOFT_RESET_V1 &&
      this.primary.state === 'established' &&
      p.keyId === nextKeyId(this.primary.keyId)
    ) {
      // the server renegotiates (tls_pre_decrypt: a soft reset on an established key state); a
      // retransmission of it then lands in the new key state below, as a replay to ack again
      this.softReset(nowMs);
      renegotiation = true;
    }
    if (p.keyId !== this.primary.keyId) return this.drop('key-id');
    return this.accept(p, nowMs, renegotiation);
  }

  /**
   * Packets to send now (wrapped, ready for the wire). Also starts a renegotiation when reneg-sec is
   * up, lets the lame duck die at the end of the transition window, and enforces the hand-window.
   */
  poll(nowMs: number): Buffer[] {
    if (this.failed || this.startedMs === undefined) return [];
    const ks = this.primary;
    if (this.renegMs > 0 && ks.state === 'established' && nowMs >= ks.establishedMs! + this.renegMs) {
      this.softReset(nowMs);
    }
    if (this.lame !== undefined && nowMs >= this.lame.mustDieMs) this.lame = undefined;
    const cur = this.primary;
    if (cur.state !== 'established' && nowMs - cur.startedMs >= this.handWindowMs) {
      this.fail(
        new SessionFailure(
          'hand-window',
          `TLS key negotiation failed to occur within ${Math.round(this.handWindowMs / 1000)} seconds`,
        ),
      );
      return [];
    }
    const out = cur.reliable.poll(nowMs);
    const nowSec = Math.floor(nowMs / 1000);
    const wire: Buffer[] = [];
    for (const m of out.packets) {
      const acks = this.remoteSid === undefined ? [] : m.acks;
      wire.push(
        this.wrapPacket(
          {
            opcode: m.opcode as ControlPacket['opcode'],
            keyId: cur.keyId,
            sessionId: this.sessionId,
            acks,
            remoteSessionId: acks.length > 0 ? this.remoteSid : undefined,
            messageId: m.packetId,
            payload: m.payload,
          },
          nowSec,
        ),
      );
    }
    if (this.remoteSid !== undefined) {
      cur.heldAcks.push(...out.ackOnly);
      if (!cur.ackHold) {
        for (const acks of cur.heldAcks.splice(0)) {
          wire.push(
            this.wrapPacket(
              {
                opcode: OP_ACK_V1,
                keyId: cur.keyId,
                sessionId: this.sessionId,
                acks,
                remoteSessionId: this.remoteSid,
                messageId: undefined,
                payload: Buffer.alloc(0),
              },
              nowSec,
            ),
          );
        }
      }
    }
    return wire;
  }

  /** When `poll` next has work (ms, same clock as nowMs): ≤ now means at once, Infinity never. */
  nextWakeMs(): number {
    if (this.failed || this.startedMs === undefined) return Number.POSITIVE_INFINITY;
    const ks = this.primary;
    let wake = ks.reliable.nextWakeMs();
    if (ks.heldAcks.length > 0 && !ks.ackHold) wake = Number.NEGATIVE_INFINITY;
    if (ks.state !== 'established') wake = Math.min(wake, ks.startedMs + this.handWindowMs);
    else {
      if (this.renegMs > 0) wake = Math.min(wake, ks.establishedMs! + this.renegMs);
      // the moment the new key takes over sending (the shell swaps keys then)
      if (this.lame !== undefined && ks.deferredExpireMs > ks.establishedMs!)
        wake = Math.min(wake, ks.deferredExpireMs);
    }
    if (this.lame !== undefined) wake = Math.min(wake, this.lame.mustDieMs);
    return wake;
  }

  private keyScan(): KeyState[] {
    return this.lame === undefined ? [this.primary] : [this.primary, this.lame];
  }

  private newKeyState(keyId: number, nowMs: number): KeyState {
    // auth_deferred_expire_window: hand-window, or reneg-sec / 2 when that is shorter
    const grace =
      this.renegMs > 0 ? Math.min(this.handWindowMs, Math.floor(this.renegMs / 2)) : this.handWindowMs;
    return {
      keyId,
      reliable: new Reliable({ ...this.reliableOpts, firstSendId: 0, firstRecvId: 0 }),
      state: 'pre-start',
      startedMs: nowMs,
      establishedMs: undefined,
      deferredExpireMs: nowMs + grace,
      mustDieMs: Number.POSITIVE_INFINITY,
      held: [],
      ackHold: false,
      heldAcks: [],
    };
  }

  /**
   * key_state_soft_reset: the current key state becomes the lame duck (the previous lame duck is
   * freed) with `tran-window` to live, and a new key state with the next key-id starts with our
   * P_CONTROL_SOFT_RESET_V1, message id 0.
   */
  private softReset(nowMs: number): void {
    const old = this.primary;
    old.mustDieMs = nowMs + this.tranWindowMs;
    old.held = [];
    old.heldAcks = [];
    this.lame = old;
    this.primary = this.newKeyState(nextKeyId(old.keyId), nowMs);
    this.primary.reliable.send(Buffer.alloc(0), OP_CONTROL_SOFT_RESET_V1);
    this._renegotiations++;
  }

  private accept(p: ControlPacket, nowMs: number, renegotiation: boolean): SessionInput {
    const ks = this.primary;
    if (p.acks.length > 0) ks.reliable.ackReceived(p.acks);
    if (ks.state === 'pre-start' && !this.resetOutstanding()) this.enterStart();
    const ok: SessionInput = { accepted: true, tls: undefined, keyId: ks.keyId, renegotiation };
    if (p.messageId === undefined) return ok;
    const r = ks.reliable.receive(p.messageId, Buffer.from(p.payload), p.opcode);
    if (r.verdict === 'beyond-window' || r.verdict === 'no-buffer') return this.drop('window');
    const tls: Buffer[] = [];
    for (const m of r.delivered) {
      if (m.opcode === OP_CONTROL_HARD_RESET_SERVER_V2 || m.opcode === OP_CONTROL_SOFT_RESET_V1) {
        // the peer's reset: resend whatever is pending at once (the "burst", reliable_schedule_now)
        ks.reliable.scheduleNow(nowMs);
      } else if (m.opcode === OP_CONTROL_V1) {
        tls.push(m.payload);
      }
      // a reset that is not message id 0 is delivered as nothing: 2.6 ignores it
    }
    return { ...ok, tls: tls.length === 0 ? undefined : Buffer.concat(tls) };
  }

  /** Our reset (id 0) of the current key state is still unacked. */
  private resetOutstanding(): boolean {
    const r = this.primary.reliable;
    return r.inFlightCount > 0 || r.backlogLength > 0;
  }

  private enterStart(): void {
    const ks = this.primary;
    ks.state = 'start';
    const held = ks.held;
    ks.held = [];
    for (const b of held) this.queueTls(b);
    // nothing to send yet: the ack of the server's reset rides on an empty P_CONTROL_WKC_V1, which is
    // retransmitted until acked, where a bare ack could be lost with the WKc (ssl.c tls_process_state)
    if (this.wkcPending) this.queueTls(Buffer.alloc(0));
  }

  private queueTls(ciphertext: Buffer): void {
    let rest = ciphertext;
    if (this.wkcPending) {
      // ssl.c control_packet_needs_wkc: message-id 1 carries the WKc again, so that much less TLS
      this.wkcPending = false;
      const n = Math.max(0, Math.min(rest.length, this.maxPayload - (this.wrap.wkcLength ?? 0)));
      this.primary.reliable.send(rest.subarray(0, n), OP_CONTROL_WKC_V1);
      rest = rest.subarray(n);
    }
    for (const chunk of splitCiphertext(rest, this.maxPayload))
      this.primary.reliable.send(chunk, OP_CONTROL_V1);
  }

  private wrapPacket(p: ControlPacket, nowSec: number): Buffer {
    return this.wrap.wrap(encodeControl(p), nowSec);
  }

  private fail(f: SessionFailure): void {
    if (this.failed) return;
    this.failed = true;
    this._failure = f;
    this.primary.held = [];
    this.lame = undefined;
  }

  private drop(reason: SessionDropReason): SessionInput {
    this.dropCounts.set(reason, (this.dropCounts.get(reason) ?? 0) + 1);
    return NO_INPUT;
  }
}

function lower<T extends string>(s: T): Lowercase<T> {
  return s.toLowerCase() as Lowercase<T>;
}
