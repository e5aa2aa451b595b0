/**
 * One control session of a client, key-id 0, as a pure object (anchors §5): no socket, no clock, no
 * file and no TLS engine. Time comes in as `nowMs` (wall-clock milliseconds: the wrappers stamp their
 * replay ids with it); network packets come in through `receive` and go out from `poll`; the TLS
 * engine lives in the shell, which hands its ciphertext to `sendTls` and gets the server's back from
 * `receive` in order.
 *
 * What it does (openvpn-protocol.md §4.1, §4.8, §4.9; control-plane.md §3, §4; OpenVPN 2.6 ssl.c
 * tls_process_state, tls_pre_decrypt, reliable.c):
 * - sends P_CONTROL_HARD_RESET_CLIENT_V2 with message id 0, an empty payload and no acks, and
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
 * - fails the session when it is not `markEstablished` within the hand-window.
 *
 * Network input never throws: a packet that cannot be ours is dropped and counted by reason
 * (`drops`). Misuse by the caller throws `OvpnError`; a protocol failure puts the session in state
 * `failed` with a `SessionFailure`.
 */
import { einval, OvpnError } from '../errors/ovpn-error.js';
import {
  OP_ACK_V1,
  OP_CONTROL_HARD_RESET_CLIENT_V2,
  OP_CONTROL_HARD_RESET_SERVER_V2,
  OP_CONTROL_SOFT_RESET_V1,
  OP_CONTROL_V1,
} from '../wire/opcode.js';
import {
  type ControlPacket,
  decodeControl,
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
  /** Another key-id than 0 (renegotiation is not done here yet). */
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
  /** Reliability-layer settings (`--tls-timeout` as initialTimeoutSec...). */
  reliable?: Omit<ReliableOptions, 'firstSendId' | 'firstRecvId' | 'hold'>;
}

/** What one received packet gave. */
export interface SessionInput {
  /** False when the packet was dropped (and counted). */
  accepted: boolean;
  /** The server's TLS ciphertext now deliverable in order, if any (feed it to the TLS engine). */
  tls: Buffer | undefined;
}

const NO_INPUT: SessionInput = { accepted: false, tls: undefined };

/** The client's control session for key-id 0. */
export class ClientSession {
  readonly sessionId: Buffer;
  private remoteSid: Buffer | undefined;
  private readonly wrap: ControlWrap;
  private readonly reliable: Reliable;
  private readonly maxPayload: number;
  private readonly handWindowMs: number;
  private startedMs: number | undefined;
  private _state: SessionState = 'pre-start';
  private _failure: SessionFailure | undefined;
  /** TLS ciphertext written before S_START. */
  private held: Buffer[] = [];
  private readonly dropCounts = new Map<SessionDropReason, number>();
  private _earlyNegFlags = 0;

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
    this.reliable = new Reliable({ ...opts.reliable, firstSendId: 0, firstRecvId: 0 });
  }

  get state(): SessionState {
    return this._state;
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

  /** Whether everything we sent has been acked (no retransmission pending). */
  get sendIdle(): boolean {
    return this.reliable.sendEmpty && this.held.length === 0;
  }

  /** Queues our hard reset (message id 0) and starts the hand-window. Call once. */
  start(nowMs: number): void {
    if (this.startedMs !== undefined) throw new OvpnError('EBUSY', 'the session has already started');
    this.startedMs = nowMs;
    this.reliable.send(Buffer.alloc(0), OP_CONTROL_HARD_RESET_CLIENT_V2);
  }

  /** TLS ciphertext to carry to the server; held until our reset is acked. */
  sendTls(ciphertext: Buffer): void {
    if (this._state === 'failed') throw this._failure!;
    if (ciphertext.length === 0) return;
    const copy = Buffer.from(ciphertext);
    if (this._state === 'pre-start') this.held.push(copy);
    else this.queueTls(copy);
  }

  /** The shell finished the handshake (keys installed): the hand-window no longer applies. */
  markEstablished(): void {
    if (this._state === 'failed') throw this._failure!;
    if (this._state === 'pre-start') throw new OvpnError('EBUSY', 'the server has not acked our reset');
    this._state = 'established';
  }

  /** The shell gives up on this session (TLS error, certificate refused...). */
  abort(message: string): void {
    this.fail(new SessionFailure('aborted', message));
  }

  /** One packet from the server's address, as it came off the wire. Never throws. */
  receive(wire: Buffer, nowMs: number): SessionInput {
    if (this._state === 'failed') return this.drop('failed');
    const plain = this.wrap.unwrap(wire, Math.floor(nowMs / 1000));
    if (plain instanceof WrapError) return this.drop(`wrap-${lower(plain.reason)}`);
    const p = decodeControl(plain);
    if (p instanceof PacketError) return this.drop(`packet-${lower(p.reason)}`);
    if (p.keyId !== 0) return this.drop('key-id');
    if (p.opcode === OP_CONTROL_HARD_RESET_SERVER_V2) {
      if (this.remoteSid === undefined) {
        const neg = parseEarlyNegotiation(p.payload);
        if (neg instanceof PacketError) {
          this.fail(new SessionFailure('early-negotiation', 'malformed early-negotiation TLV in the reset'));
          return NO_INPUT;
        }
        this._earlyNegFlags = neg.flags;
        this.remoteSid = Buffer.from(p.sessionId);
      } else if (!p.sessionId.equals(this.remoteSid)) {
        return this.drop('unexpected-reset');
      }
    } else if (p.opcode === OP_CONTROL_HARD_RESET_CLIENT_V2 || p.opcode === OP_CONTROL_SOFT_RESET_V1) {
      return this.drop(p.opcode === OP_CONTROL_SOFT_RESET_V1 ? 'key-id' : 'unexpected-reset');
    } else if (p.opcode !== OP_CONTROL_V1 && p.opcode !== OP_ACK_V1) {
      return this.drop('unexpected-reset');
    }
    if (this.remoteSid === undefined) return this.drop('no-session');
    if (!p.sessionId.equals(this.remoteSid)) return this.drop('wrong-session');
    if (p.acks.length > 0 && !p.remoteSessionId!.equals(this.sessionId))
      return this.drop('wrong-remote-session');
    return this.accept(p, nowMs);
  }

  /** Packets to send now (wrapped, ready for the wire). Also enforces the hand-window. */
  poll(nowMs: number): Buffer[] {
    if (this._state === 'failed' || this.startedMs === undefined) return [];
    if (this._state !== 'established' && nowMs - this.startedMs >= this.handWindowMs) {
      this.fail(
        new SessionFailure(
          'hand-window',
          `TLS key negotiation failed to occur within ${Math.round(this.handWindowMs / 1000)} seconds`,
        ),
      );
      return [];
    }
    const out = this.reliable.poll(nowMs);
    const nowSec = Math.floor(nowMs / 1000);
    const wire: Buffer[] = [];
    for (const m of out.packets) {
      const acks = this.remoteSid === undefined ? [] : m.acks;
      wire.push(
        this.wrapPacket(
          {
            opcode: m.opcode as ControlPacket['opcode'],
            keyId: 0,
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
      for (const acks of out.ackOnly) {
        wire.push(
          this.wrapPacket(
            {
              opcode: OP_ACK_V1,
              keyId: 0,
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
    return wire;
  }

  /** When `poll` next has work (ms, same clock as nowMs): ≤ now means at once, Infinity never. */
  nextWakeMs(): number {
    if (this._state === 'failed' || this.startedMs === undefined) return Number.POSITIVE_INFINITY;
    const wake = this.reliable.nextWakeMs();
    if (this._state === 'established') return wake;
    return Math.min(wake, this.startedMs + this.handWindowMs);
  }

  private accept(p: ControlPacket, nowMs: number): SessionInput {
    if (p.acks.length > 0) this.reliable.ackReceived(p.acks);
    if (this._state === 'pre-start' && !this.resetOutstanding()) this.enterStart();
    if (p.messageId === undefined) return { accepted: true, tls: undefined };
    const r = this.reliable.receive(p.messageId, Buffer.from(p.payload), p.opcode);
    if (r.verdict === 'beyond-window' || r.verdict === 'no-buffer') return this.drop('window');
    const tls: Buffer[] = [];
    for (const m of r.delivered) {
      if (m.opcode === OP_CONTROL_HARD_RESET_SERVER_V2) {
        // the peer's reset: resend whatever is pending at once (the "burst", reliable_schedule_now)
        this.reliable.scheduleNow(nowMs);
      } else if (m.opcode === OP_CONTROL_V1) {
        tls.push(m.payload);
      }
      // a server reset that is not message id 0 is delivered as nothing: 2.6 ignores it
    }
    return { accepted: true, tls: tls.length === 0 ? undefined : Buffer.concat(tls) };
  }

  /** Our reset (id 0) is still unacked. */
  private resetOutstanding(): boolean {
    return this.reliable.inFlightCount > 0 || this.reliable.backlogLength > 0;
  }

  private enterStart(): void {
    this._state = 'start';
    const held = this.held;
    this.held = [];
    for (const b of held) this.queueTls(b);
  }

  private queueTls(ciphertext: Buffer): void {
    for (const chunk of splitCiphertext(ciphertext, this.maxPayload))
      this.reliable.send(chunk, OP_CONTROL_V1);
  }

  private wrapPacket(p: ControlPacket, nowSec: number): Buffer {
    return this.wrap.wrap(encodeControl(p), nowSec);
  }

  private fail(f: SessionFailure): void {
    if (this._state === 'failed') return;
    this._state = 'failed';
    this._failure = f;
    this.held = [];
  }

  private drop(reason: SessionDropReason): SessionInput {
    this.dropCounts.set(reason, (this.dropCounts.get(reason) ?? 0) + 1);
    return NO_INPUT;
  }
}

function lower<T extends string>(s: T): Lowercase<T> {
  return s.toLowerCase() as Lowercase<T>;
}
