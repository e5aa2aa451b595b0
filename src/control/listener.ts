/**
 * The UDP listener's verdict on one datagram (2.6 mudp.c multi_get_create_instance_udp,
 * do_pre_decrypt_check, handle_connection_attempt; ssl_pkt.c tls_pre_decrypt_lite; reflect_filter.c;
 * otime.c frequency_limit_event_allowed), as a pure object: the shell asks `receive(from, packet,
 * nowMs)` and does what the verdict says.
 *
 * - From an address that has a session (`attach`ed): to that session.
 * - Otherwise the packet must authenticate under a fresh wrap (`newWrap`, 2.6's tls_wrap_tmp: no replay
 *   state kept for strangers) and decode, else it is dropped and counted:
 *   - a client hard reset (V2, or V3 with early negotiation) on key-id 0 is answered statelessly with
 *     our reset whose session id is the cookie (hmac-cookie.ts), at most `connectFreqInitial.n` per
 *     `seconds` (reflect_filter: more are dropped);
 *   - a V3 reset from a tls-crypt-v2 client without early negotiation is dropped under force-cookie,
 *     else creates a session at once (`from: 'reset'`);
 *   - P_CONTROL_V1 / P_ACK_V1 / P_CONTROL_WKC_V1 echoing a valid cookie creates a session
 *     (`from: 'cookie'`), at most `connectFreq.n` per `seconds`; it also takes one back from the
 *     connect-freq-initial count (a completed handshake is not a reflection);
 *   - anything else is dropped.
 *
 * Addresses are the shell's text (`a.b.c.d:port`, `[v6]:port`, as hmac-cookie.ts parsePeerAddress
 * reads it).
 */
import { OP_CONTROL_HARD_RESET_CLIENT_V2, OP_CONTROL_HARD_RESET_CLIENT_V3 } from '../wire/opcode.js';
import { parsePeerAddress, statelessReset } from './hmac-cookie.js';
import { type ControlPacket, decodeControl, isEarlyNegPacketId, PacketError } from './packet.js';
import type { CookieVerdict, SessionCookie } from './session-id.js';
import { type ControlWrap, WrapError } from './wrap/wrap.js';

/** Why the listener dropped a datagram from an address without a session. */
export type ListenerDropReason =
  | 'address'
  | `wrap-${Lowercase<WrapError['reason']>}`
  | `packet-${Lowercase<PacketError['reason']>}`
  /** Not a packet that can start a session (a data packet, a server reset, a soft reset...). */
  | 'opcode'
  /** connect-freq-initial: too many stateless replies this period. */
  | 'connect-freq-initial'
  /** connect-freq: too many new sessions this period. */
  | 'connect-freq'
  /** tls-crypt-v2 force-cookie and a client that cannot resend its WKc. */
  | 'force-cookie'
  /** The server is shutting down. */
  | 'shutdown'
  | `cookie-${Lowercase<Exclude<CookieVerdict, 'OK'>>}`;

export type ListenerVerdict =
  | { kind: 'session'; from: string }
  | { kind: 'reply'; packet: Buffer }
  | {
      kind: 'create';
      from: 'cookie' | 'reset';
      /** Our session id (the cookie, or undefined: the shell draws one). */
      sessionId: Buffer | undefined;
      clientSessionId: Buffer;
      /** The packet, unwrapped and decoded, for the new session's `receivePacket`. */
      packet: ControlPacket;
      /** The wrap that took it (tls-crypt-v2: it holds the client key now). */
      wrap: ControlWrap;
    }
  | { kind: 'drop'; reason: ListenerDropReason };

export interface RateLimit {
  n: number;
  seconds: number;
}

export interface ListenerOptions {
  cookie: SessionCookie;
  /**
   * A fresh wrap of the server's tls-auth / tls-crypt / tls-crypt-v2 key (plain without one), its first
   * replay id after `firstPacketId`.
   */
  newWrap: (firstPacketId: number) => ControlWrap;
  connectFreqInitial: RateLimit;
  connectFreq?: RateLimit;
  /** tls-crypt-v2 force-cookie (default true). */
  forceCookie?: boolean;
}

/** A fixed-period counter (frequency_limit, reflect_filter). */
class PeriodCounter {
  private start = Number.NEGATIVE_INFINITY;
  count = 0;
  constructor(private readonly limit: RateLimit) {}

  /** Counts one event at `nowSec`; true while within the limit. */
  allow(nowSec: number, strictlyAfter: boolean): boolean {
    const over = strictlyAfter
      ? nowSec > this.start + this.limit.seconds
      : nowSec >= this.start + this.limit.seconds;
    if (over) {
      this.start = nowSec;
      this.count = 0;
    }
    return ++this.count <= this.limit.n;
  }

  giveBack(): void {
    if (this.count > 0) this.count--;
  }
}

export class ServerListener {
  private readonly sessions = new Set<string>();
  private readonly dropCounts = new Map<ListenerDropReason, number>();
  private readonly initial: PeriodCounter;
  private readonly fresh: PeriodCounter | undefined;
  private shuttingDown = false;
  private _replies = 0;

  constructor(private readonly opts: ListenerOptions) {
    this.initial = new PeriodCounter(opts.connectFreqInitial);
    this.fresh = opts.connectFreq === undefined ? undefined : new PeriodCounter(opts.connectFreq);
  }

  /** Datagrams from `from` go to its session from now on. */
  attach(from: string): void {
    this.sessions.add(from);
  }

  detach(from: string): void {
    this.sessions.delete(from);
  }

  has(from: string): boolean {
    return this.sessions.has(from);
  }

  /** No new sessions from now on (a server that is exiting). */
  shutdown(): void {
    this.shuttingDown = true;
  }

  get drops(): ReadonlyMap<ListenerDropReason, number> {
    return this.dropCounts;
  }

  /** Stateless replies sent so far. */
  get replies(): number {
    return this._replies;
  }

  /** The verdict on one datagram from `from`. Never throws. */
  receive(from: string, wire: Buffer, nowMs: number): ListenerVerdict {
    if (this.sessions.has(from)) return { kind: 'session', from };
    if (this.shuttingDown) return this.drop('shutdown');
    const peer = parsePeerAddress(from);
    if (peer === undefined) return this.drop('address');
    const nowSec = Math.floor(nowMs / 1000);
    // a V3 reset's wrap reads the tls-crypt-v2 client key and sends the first packet under it (our
    // reply, or our reset if let in without a cookie): ids from 1; a cookie echo's continues after 1
    const wrap = this.opts.newWrap(wire[0] >>> 3 === OP_CONTROL_HARD_RESET_CLIENT_V3 ? 0 : 1);
    const plain = wrap.unwrap(wire, nowSec);
    if (plain instanceof WrapError) return this.drop(`wrap-${lower(plain.reason)}`);
    const p = decodeControl(plain);
    if (p instanceof PacketError) return this.drop(`packet-${lower(p.reason)}`);
    const op = p.opcode;
    if (op === OP_CONTROL_HARD_RESET_CLIENT_V2 || op === OP_CONTROL_HARD_RESET_CLIENT_V3) {
      if (p.keyId !== 0 || p.messageId !== 0) return this.drop('opcode');
      const v3 = op === OP_CONTROL_HARD_RESET_CLIENT_V3;
      const earlyNeg = v3 && wire.length >= 13 && isEarlyNegPacketId(wire.readUInt32BE(9));
      if (!v3 || earlyNeg) {
        if (!this.initial.allow(nowSec, true)) return this.drop('connect-freq-initial');
        const cookie = this.opts.cookie.compute(p.sessionId, peer, nowSec);
        this._replies++;
        // a tls-crypt-v2 reply goes out under the client's key, which only the wrap that read its WKc
        // holds (2.6 answers with the same tls_wrap_tmp)
        const replyWrap = v3 ? wrap : this.opts.newWrap(0);
        return { kind: 'reply', packet: statelessReset(replyWrap, cookie, p.sessionId, nowSec, v3) };
      }
      if (this.opts.forceCookie ?? true) return this.drop('force-cookie');
      if (this.fresh !== undefined && !this.fresh.allow(nowSec, false)) return this.drop('connect-freq');
      return {
        kind: 'create',
        from: 'reset',
        sessionId: undefined,
        clientSessionId: Buffer.from(p.sessionId),
        packet: p,
        wrap,
      };
    }
    const verdict = this.opts.cookie.check(p, peer, nowSec);
    if (verdict !== 'OK') return this.drop(`cookie-${lower(verdict)}`);
    if (this.fresh !== undefined && !this.fresh.allow(nowSec, false)) return this.drop('connect-freq');
    this.initial.giveBack();
    return {
      kind: 'create',
      from: 'cookie',
      sessionId: Buffer.from(p.remoteSessionId!),
      clientSessionId: Buffer.from(p.sessionId),
      packet: p,
      wrap,
    };
  }

  private drop(reason: ListenerDropReason): ListenerVerdict {
    this.dropCounts.set(reason, (this.dropCounts.get(reason) ?? 0) + 1);
    return { kind: 'drop', reason };
  }
}

function lower<T extends string>(s: T): Lowercase<T> {
  return s.toLowerCase() as Lowercase<T>;
}
