/**
 * One control session of a server, for one client, as a pure object (the server twin of session.ts):
 * no socket, no clock, no file, no TLS engine. Time comes in as `nowMs`; the client's packets come in
 * through `receive` and ours go out from `poll`; the shell's TLS server engine gets the client's
 * ciphertext back from `receive` (in order, tagged with its key-id) and hands its own to `sendTls`.
 *
 * How it starts (2.6 ssl.c tls_pre_decrypt, session_skip_to_pre_start; mudp.c do_pre_decrypt_check):
 * - `from: 'cookie'` (UDP, the stateless three-way handshake of hmac-cookie.ts / listener.ts): our reset
 *   went out statelessly with message id 0 and the session id `sessionId` (the cookie), and the client's
 *   packet echoing it proved it has our reset: both directions continue at message id 1, the key state
 *   is at S_START at once, and the shell passes that packet on to `receive`;
 * - `from: 'reset'` (TCP, or a UDP client let in without a cookie): the client's hard reset is fed to
 *   `receive` first; we answer with P_CONTROL_HARD_RESET_SERVER_V2, message id 0, acking the client's,
 *   and retransmit it until acked (S_PRE_START), then S_START.
 *
 * Renegotiation is the client session's (key_state_soft_reset): either side starts it once the
 * current key state is established — the client with P_CONTROL_SOFT_RESET_V1 on the next key-id, or
 * we after `renegMs` (2.6 draws nothing random on a server) or `renegotiate` — the old key state
 * becomes the lame duck for `tranWindowMs`, key-ids go 0, 1..7, 1...
 *
 * Network input never throws: a packet that cannot be ours is dropped and counted (`drops`).
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
import { type ControlPacket, decodeControl, encodeControl, PacketError, SESSION_ID_SIZE } from './packet.js';
import { Reliable, type ReliableOptions, splitCiphertext } from './reliable.js';
import {
  HAND_WINDOW_DEFAULT_MS,
  nextKeyId,
  SessionFailure,
  type SessionState,
  TRAN_WINDOW_DEFAULT_MS,
} from './session.js';
import { type ControlWrap, WrapError } from './wrap/wrap.js';

/** Why a received packet was dropped by a server session. */
export type ServerDropReason =
  | `wrap-${Lowercase<WrapError['reason']>}`
  | `packet-${Lowercase<PacketError['reason']>}`
  /** A server reset, or a client reset from another session id or on another key-id. */
  | 'unexpected-reset'
  /** Sent by a session id other than the client's. */
  | 'wrong-session'
  /** Acks naming a remote session id that is not ours. */
  | 'wrong-remote-session'
  /** Not the current key state's key-id (a lame duck's, or a soft reset we cannot take now). */
  | 'key-id'
  /** Outside the receive window, or the receive buffers are full. */
  | 'window'
  | 'failed';

export interface ServerSessionOptions {
  wrap: ControlWrap;
  /** Our session id: the cookie (`from: 'cookie'`) or 8 random nonzero bytes. */
  sessionId: Buffer;
  /** The client's session id. */
  clientSessionId: Buffer;
  from: 'cookie' | 'reset';
  maxPayload: number;
  handWindowMs?: number;
  /** `--reneg-sec` of the server in ms (0: never on time). */
  renegMs?: number;
  tranWindowMs?: number;
  reliable?: Omit<ReliableOptions, 'firstSendId' | 'firstRecvId' | 'hold'>;
  /** When the session was made (the hand-window starts). */
  nowMs: number;
}

/** What one received packet gave. */
export interface ServerSessionInput {
  accepted: boolean;
  /** The client's TLS ciphertext now deliverable in order (for the TLS engine of `keyId`). */
  tls: Buffer | undefined;
  keyId: number;
  /** True when this packet was the client's soft reset that started key state `keyId`. */
  renegotiation: boolean;
}

interface KeyState {
  readonly keyId: number;
  readonly reliable: Reliable;
  state: Exclude<SessionState, 'failed'>;
  readonly startedMs: number;
  establishedMs: number | undefined;
  readonly deferredExpireMs: number;
  mustDieMs: number;
  held: Buffer[];
}

const NO_INPUT: ServerSessionInput = { accepted: false, tls: undefined, keyId: 0, renegotiation: false };

export class ServerSession {
  readonly sessionId: Buffer;
  readonly clientSessionId: Buffer;
  private readonly wrap: ControlWrap;
  private readonly reliableOpts: ServerSessionOptions['reliable'];
  private readonly maxPayload: number;
  private readonly handWindowMs: number;
  private readonly renegMs: number;
  private readonly tranWindowMs: number;
  private failed = false;
  private _failure: SessionFailure | undefined;
  private primary: KeyState;
  private lame: KeyState | undefined;
  private readonly dropCounts = new Map<ServerDropReason, number>();
  private _renegotiations = 0;
  private _renegotiatedBy: 'client' | 'server' | undefined;

  constructor(opts: ServerSessionOptions) {
    for (const [sid, what] of [
      [opts.sessionId, 'our session id'],
      [opts.clientSessionId, "the client's session id"],
    ] as const) {
      if (sid.length !== SESSION_ID_SIZE || sid.every((b) => b === 0))
        throw einval(`${what} is 8 bytes, not all zero`);
    }
    if (!Number.isInteger(opts.maxPayload) || opts.maxPayload < 1)
      throw einval('maxPayload must be a positive integer');
    this.sessionId = Buffer.from(opts.sessionId);
    this.clientSessionId = Buffer.from(opts.clientSessionId);
    this.wrap = opts.wrap;
    this.maxPayload = opts.maxPayload;
    this.handWindowMs = opts.handWindowMs ?? HAND_WINDOW_DEFAULT_MS;
    this.renegMs = opts.renegMs ?? 0;
    this.tranWindowMs = opts.tranWindowMs ?? TRAN_WINDOW_DEFAULT_MS;
    if (!(this.renegMs >= 0)) throw einval('renegMs must not be negative');
    this.reliableOpts = opts.reliable;
    const cookie = opts.from === 'cookie';
    this.primary = this.newKeyState(0, opts.nowMs, cookie ? 1 : 0);
    if (cookie) this.primary.state = 'start';
    else this.primary.reliable.send(Buffer.alloc(0), OP_CONTROL_HARD_RESET_SERVER_V2);
  }

  get state(): SessionState {
    return this.failed ? 'failed' : this.primary.state;
  }

  get failure(): SessionFailure | undefined {
    return this._failure;
  }

  get drops(): ReadonlyMap<ServerDropReason, number> {
    return this.dropCounts;
  }

  get keyId(): number {
    return this.primary.keyId;
  }

  get lameDuckKeyId(): number | undefined {
    return this.lame?.keyId;
  }

  get renegotiations(): number {
    return this._renegotiations;
  }

  /** Who started the current key state's renegotiation (undefined for key-id 0). */
  get renegotiatedBy(): 'client' | 'server' | undefined {
    return this._renegotiatedBy;
  }

  /** Everything we sent on the current key state has been acked. */
  get sendIdle(): boolean {
    return this.primary.reliable.sendEmpty && this.primary.held.length === 0;
  }

  /** TLS ciphertext of key state `keyId` for the client; false (discarded) for a retired key state. */
  sendTls(ciphertext: Buffer, keyId = this.primary.keyId): boolean {
    if (this.failed) throw this._failure!;
    if (keyId !== this.primary.keyId) return false;
    if (ciphertext.length === 0) return true;
    const copy = Buffer.from(ciphertext);
    if (this.primary.state === 'pre-start') this.primary.held.push(copy);
    else
      for (const chunk of splitCiphertext(copy, this.maxPayload))
        this.primary.reliable.send(chunk, OP_CONTROL_V1);
    return true;
  }

  /** The key state `keyId` finished its handshake and its keys are on the data plane. */
  markEstablished(nowMs: number, keyId = this.primary.keyId): void {
    if (this.failed) throw this._failure!;
    const ks = this.primary;
    if (keyId !== ks.keyId) throw einval(`key-id ${keyId} is not the current key state (${ks.keyId})`);
    if (ks.state === 'pre-start') throw new OvpnError('EBUSY', 'the client has not acked our reset');
    ks.state = 'established';
    ks.establishedMs = nowMs;
  }

  /** We start a renegotiation (reneg-sec, key-swap-ntf); the new key-id, or undefined when not now. */
  renegotiate(nowMs: number): number | undefined {
    if (this.failed || this.primary.state !== 'established') return undefined;
    this.softReset(nowMs);
    return this.primary.keyId;
  }

  /** tls_select_encryption_key, as ClientSession.encryptionKeyId. */
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

  /** dco_get_secondary_key. */
  secondaryKeyId(selected: number | undefined): number | undefined {
    for (const ks of this.keyScan()) if (ks.keyId !== selected && ks.state === 'established') return ks.keyId;
    return undefined;
  }

  abort(message: string): void {
    this.fail(new SessionFailure('aborted', message));
  }

  /** One packet from the client's address, as it came off the wire. Never throws. */
  receive(wire: Buffer, nowMs: number): ServerSessionInput {
    if (this.failed) return this.drop('failed');
    const plain = this.wrap.unwrap(wire, Math.floor(nowMs / 1000));
    if (plain instanceof WrapError) return this.drop(`wrap-${lower(plain.reason)}`);
    const p = decodeControl(plain);
    if (p instanceof PacketError) return this.drop(`packet-${lower(p.reason)}`);
    return this.receivePacket(p, nowMs);
  }

  /** `receive` for a packet already unwrapped and decoded (the listener's first packet). */
  receivePacket(p: ControlPacket, nowMs: number): ServerSessionInput {
    if (this.failed) return this.drop('failed');
    const op = p.opcode;
    if (op === OP_CONTROL_HARD_RESET_CLIENT_V2 || op === OP_CONTROL_HARD_RESET_CLIENT_V3) {
      // the client's reset again (a retransmission): it must be key-id 0, before any renegotiation
      if (p.keyId !== 0 || this.primary.keyId !== 0) return this.drop('unexpected-reset');
    } else if (
      op !== OP_CONTROL_V1 &&
      op !== OP_ACK_V1 &&
      op !== OP_CONTROL_SOFT_RESET_V1 &&
      op !== OP_CONTROL_WKC_V1
    ) {
      return this.drop('unexpected-reset');
    }
    if (!p.sessionId.equals(this.clientSessionId)) return this.drop('wrong-session');
    if (p.acks.length > 0 && !p.remoteSessionId!.equals(this.sessionId))
      return this.drop('wrong-remote-session');
    let renegotiation = false;
    if (
      op === OP_CONTROL_SOFT_RESET_V1 &&
      this.primary.state === 'established' &&
      p.keyId === nextKeyId(this.primary.keyId)
    ) {
      this.softReset(nowMs, 'client');
      renegotiation = true;
    }
    if (p.keyId !== this.primary.keyId) return this.drop('key-id');
    return this.accept(p, nowMs, renegotiation);
  }

  /** Packets to send now, wrapped; also reneg-sec, the lame duck's end and the hand-window. */
  poll(nowMs: number): Buffer[] {
    if (this.failed) return [];
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
      wire.push(
        this.wrapPacket(
          {
            opcode: m.opcode as ControlPacket['opcode'],
            keyId: cur.keyId,
            sessionId: this.sessionId,
            acks: m.acks,
            remoteSessionId: m.acks.length > 0 ? this.clientSessionId : undefined,
            messageId: m.packetId,
            payload: m.payload,
          },
          nowSec,
        ),
      );
    }
    for (const acks of out.ackOnly) {
      wire.push(
        this.wrapPacket(
          {
            opcode: OP_ACK_V1,
            keyId: cur.keyId,
            sessionId: this.sessionId,
            acks,
            remoteSessionId: this.clientSessionId,
            messageId: undefined,
            payload: Buffer.alloc(0),
          },
          nowSec,
        ),
      );
    }
    return wire;
  }

  /** When `poll` next has work (ms): Infinity never. */
  nextWakeMs(): number {
    if (this.failed) return Number.POSITIVE_INFINITY;
    const ks = this.primary;
    let wake = ks.reliable.nextWakeMs();
    if (ks.state !== 'established') wake = Math.min(wake, ks.startedMs + this.handWindowMs);
    else {
      if (this.renegMs > 0) wake = Math.min(wake, ks.establishedMs! + this.renegMs);
      if (this.lame !== undefined && ks.deferredExpireMs > ks.establishedMs!)
        wake = Math.min(wake, ks.deferredExpireMs);
    }
    if (this.lame !== undefined) wake = Math.min(wake, this.lame.mustDieMs);
    return wake;
  }

  private keyScan(): KeyState[] {
    return this.lame === undefined ? [this.primary] : [this.primary, this.lame];
  }

  private newKeyState(keyId: number, nowMs: number, firstId = 0): KeyState {
    const grace =
      this.renegMs > 0 ? Math.min(this.handWindowMs, Math.floor(this.renegMs / 2)) : this.handWindowMs;
    return {
      keyId,
      reliable: new Reliable({ ...this.reliableOpts, firstSendId: firstId, firstRecvId: firstId }),
      state: 'pre-start',
      startedMs: nowMs,
      establishedMs: undefined,
      deferredExpireMs: nowMs + grace,
      mustDieMs: Number.POSITIVE_INFINITY,
      held: [],
    };
  }

  private softReset(nowMs: number, by: 'client' | 'server' = 'server'): void {
    this._renegotiatedBy = by;
    const old = this.primary;
    old.mustDieMs = nowMs + this.tranWindowMs;
    old.held = [];
    this.lame = old;
    this.primary = this.newKeyState(nextKeyId(old.keyId), nowMs);
    this.primary.reliable.send(Buffer.alloc(0), OP_CONTROL_SOFT_RESET_V1);
    this._renegotiations++;
  }

  private accept(p: ControlPacket, nowMs: number, renegotiation: boolean): ServerSessionInput {
    const ks = this.primary;
    if (p.acks.length > 0) ks.reliable.ackReceived(p.acks);
    if (ks.state === 'pre-start' && ks.reliable.inFlightCount === 0 && ks.reliable.backlogLength === 0) {
      ks.state = 'start';
      const held = ks.held;
      ks.held = [];
      for (const b of held)
        for (const chunk of splitCiphertext(b, this.maxPayload)) ks.reliable.send(chunk, OP_CONTROL_V1);
    }
    const ok: ServerSessionInput = { accepted: true, tls: undefined, keyId: ks.keyId, renegotiation };
    if (p.messageId === undefined) return ok;
    const r = ks.reliable.receive(p.messageId, Buffer.from(p.payload), p.opcode);
    if (r.verdict === 'beyond-window' || r.verdict === 'no-buffer') return this.drop('window');
    const tls: Buffer[] = [];
    for (const m of r.delivered) {
      if (
        m.opcode === OP_CONTROL_HARD_RESET_CLIENT_V2 ||
        m.opcode === OP_CONTROL_HARD_RESET_CLIENT_V3 ||
        m.opcode === OP_CONTROL_SOFT_RESET_V1
      ) {
        ks.reliable.scheduleNow(nowMs);
      } else if (m.opcode === OP_CONTROL_V1 || m.opcode === OP_CONTROL_WKC_V1) {
        if (m.payload.length > 0) tls.push(m.payload);
      }
    }
    return { ...ok, tls: tls.length === 0 ? undefined : Buffer.concat(tls) };
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

  private drop(reason: ServerDropReason): ServerSessionInput {
    this.dropCounts.set(reason, (this.dropCounts.get(reason) ?? 0) + 1);
    return NO_INPUT;
  }
}

function lower<T extends string>(s: T): Lowercase<T> {
  return s.toLowerCase() as Lowercase<T>;
}
