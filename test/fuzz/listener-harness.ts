/**
 * What the listener fuzzer (listener.test.ts) drives the server's UDP listener with and checks it
 * against:
 *
 * - `wrapKeys`: a client and a server side of each control-channel wrapping (none, tls-auth, tls-crypt,
 *   tls-crypt-v2), keys drawn from the fuzz Rng;
 * - `RateModel`: 2.6's two limiters written from their C semantics (reflect_filter.c for
 *   connect-freq-initial: a period is over once `now > start + seconds`, a completed handshake gives one
 *   back; otime.c frequency_limit_event_allowed for connect-freq: over once `now >= start + seconds`);
 * - `stateSize`: a count of everything reachable from an object (each property, Map / Set / array
 *   entry, string character and Buffer byte; functions and their closures are not walked), so a test
 *   can see a listener keep anything per datagram or per address;
 * - `ListenerProbe`: sends one datagram to a `ServerListener` and checks every verdict: it never throws;
 *   an attached address goes to its session; every drop has a reason and is counted under it, exactly
 *   once; stateless replies and creations agree with the rate models; the listener's state is its
 *   construction-time state plus its drop counters and attached addresses, nothing else.
 */
import { ServerListener } from '../../src/control/listener.js';
import { type ControlPacket, decodeControl, encodeControl, PacketError } from '../../src/control/packet.js';
import { SessionCookie } from '../../src/control/session-id.js';
import { tlsCryptV2ServerKey } from '../../src/control/static-key.js';
import { PlainWrap } from '../../src/control/wrap/plain.js';
import { TlsAuthWrap } from '../../src/control/wrap/tls-auth.js';
import { TlsCryptWrap } from '../../src/control/wrap/tls-crypt.js';
import {
  TlsCryptV2ClientWrap,
  TlsCryptV2ServerWrap,
  timestampMetadata,
  wrapClientKey,
} from '../../src/control/wrap/tls-crypt-v2.js';
import type { ControlWrap } from '../../src/control/wrap/wrap.js';
import { ensure, type Rng, show } from '../support/fuzz-rng.js';

export const MODES = ['none', 'tls-auth', 'tls-crypt', 'tls-crypt-v2'] as const;
export type Mode = (typeof MODES)[number];

export interface WrapKeys {
  readonly mode: Mode;
  /** A new client-side wrap (tls-crypt-v2: with early negotiation unless told otherwise). */
  client(earlyNegotiation?: boolean): ControlWrap;
  /** The listener's `newWrap`. */
  server(firstPacketId: number): ControlWrap;
  /** Packets are authenticated: a changed byte never passes the wrap. */
  readonly authenticated: boolean;
}

export function wrapKeys(mode: Mode, rng: Rng): WrapKeys {
  switch (mode) {
    case 'none':
      return { mode, client: () => new PlainWrap(), server: () => new PlainWrap(), authenticated: false };
    case 'tls-auth': {
      const key2 = rng.bytes(256);
      return {
        mode,
        client: () => new TlsAuthWrap({ key2, direction: 'inverse', digest: 'SHA256' }),
        server: (first) =>
          new TlsAuthWrap({ key2, direction: 'normal', digest: 'SHA256', firstPacketId: first }),
        authenticated: true,
      };
    }
    case 'tls-crypt': {
      const key2 = rng.bytes(256);
      return {
        mode,
        client: () => new TlsCryptWrap({ key2, role: 'client' }),
        server: (first) => new TlsCryptWrap({ key2, role: 'server', firstPacketId: first }),
        authenticated: true,
      };
    }
    case 'tls-crypt-v2': {
      const serverKey = tlsCryptV2ServerKey(rng.bytes(128));
      const kc = rng.bytes(256);
      const clientKey = { key2: kc, wkc: wrapClientKey(serverKey, kc, timestampMetadata(1_700_000_000n)) };
      return {
        mode,
        client: (earlyNegotiation = true) => new TlsCryptV2ClientWrap({ clientKey, earlyNegotiation }),
        server: (first) => new TlsCryptV2ServerWrap({ serverKey, firstPacketId: first }),
        authenticated: true,
      };
    }
  }
}

/** A limiter as 2.6 counts it; `strict`: the period ends when now > start + seconds (reflect_filter). */
export class RateModel {
  private start = Number.NEGATIVE_INFINITY;
  private count = 0;

  constructor(
    readonly n: number,
    readonly seconds: number,
    private readonly strict: boolean,
  ) {}

  allow(nowSec: number): boolean {
    const over = this.strict ? nowSec > this.start + this.seconds : nowSec >= this.start + this.seconds;
    if (over) {
      this.start = nowSec;
      this.count = 0;
    }
    this.count++;
    return this.count <= this.n;
  }

  giveBack(): void {
    if (this.count > 0) this.count--;
  }
}

/**
 * Everything reachable from `root`, counted: 1 per own property, Map / Set / array entry, string
 * character, Buffer byte. Functions (and what their closures hold) are not walked: the listener's
 * `newWrap` is the test's own.
 */
export function stateSize(root: unknown): number {
  const seen = new Set<object>();
  let n = 0;
  const visit = (v: unknown): void => {
    if (typeof v === 'string') {
      n += v.length;
      return;
    }
    if (v === null || typeof v !== 'object' || seen.has(v)) return;
    seen.add(v);
    if (ArrayBuffer.isView(v)) {
      n += v.byteLength;
      return;
    }
    if (v instanceof Map) {
      for (const [k, x] of v) {
        n++;
        visit(k);
        visit(x);
      }
      return;
    }
    if (v instanceof Set) {
      for (const x of v) {
        n++;
        visit(x);
      }
      return;
    }
    if (Array.isArray(v)) {
      n += v.length;
      for (const x of v) visit(x);
      return;
    }
    for (const k of Reflect.ownKeys(v)) {
      n++;
      visit((v as Record<PropertyKey, unknown>)[k]);
    }
  };
  visit(root);
  return n;
}

export interface ProbeOptions {
  keys: WrapKeys;
  handWindowSec?: number;
  connectFreqInitial: { n: number; seconds: number };
  connectFreq?: { n: number; seconds: number };
  forceCookie?: boolean;
  cookieKey: Buffer;
}

export type Verdict = ReturnType<ServerListener['receive']>;

/** A ServerListener under constant watch (see the file comment). */
export class ListenerProbe {
  readonly listener: ServerListener;
  readonly attached = new Set<string>();
  /** Drops by reason as this probe saw them. */
  readonly drops = new Map<string, number>();
  readonly kinds = new Map<string, number>();
  replies = 0;
  private readonly initial: RateModel;
  private readonly fresh: RateModel | undefined;
  private readonly baseSize: number;

  constructor(readonly opts: ProbeOptions) {
    this.listener = new ServerListener({
      cookie: new SessionCookie(opts.cookieKey, opts.handWindowSec ?? 60),
      newWrap: (first) => opts.keys.server(first),
      connectFreqInitial: opts.connectFreqInitial,
      connectFreq: opts.connectFreq,
      forceCookie: opts.forceCookie,
    });
    this.initial = new RateModel(opts.connectFreqInitial.n, opts.connectFreqInitial.seconds, true);
    this.fresh =
      opts.connectFreq === undefined
        ? undefined
        : new RateModel(opts.connectFreq.n, opts.connectFreq.seconds, false);
    this.baseSize = stateSize(this.listener);
  }

  attach(from: string): void {
    this.listener.attach(from);
    this.attached.add(from);
  }

  detach(from: string): void {
    this.listener.detach(from);
    this.attached.delete(from);
  }

  /** What the listener may hold: what it was built with, its drop counters and attached addresses. */
  expectedSize(): number {
    let n = this.baseSize;
    for (const k of this.listener.drops.keys()) n += 1 + k.length;
    for (const a of this.attached) n += 1 + a.length;
    return n;
  }

  /** One datagram, every invariant checked. `what` names the input in failure messages. */
  send(from: string, wire: Buffer, nowMs: number, what: string): Verdict {
    const ctx = () =>
      `${this.opts.keys.mode} ${what} from ${JSON.stringify(from)} at ${nowMs}: ${show(wire)}`;
    let v: Verdict;
    try {
      v = this.listener.receive(from, wire, nowMs);
    } catch (e) {
      throw new Error(`listener.receive threw ${show(e)} on ${ctx()}`);
    }
    const nowSec = Math.floor(nowMs / 1000);
    const kind = v.kind === 'drop' ? `drop:${v.reason}` : v.kind === 'create' ? `create:${v.from}` : v.kind;
    this.kinds.set(kind, (this.kinds.get(kind) ?? 0) + 1);
    if (this.attached.has(from)) {
      ensure(v.kind === 'session', () => `attached address not sent to its session: ${kind}, ${ctx()}`);
    } else {
      ensure(v.kind !== 'session', () => `unattached address sent to a session: ${ctx()}`);
    }
    switch (v.kind) {
      case 'drop': {
        ensure(typeof v.reason === 'string' && v.reason.length > 0, () => `drop without a reason: ${ctx()}`);
        const n = (this.drops.get(v.reason) ?? 0) + 1;
        this.drops.set(v.reason, n);
        ensure(
          this.listener.drops.get(v.reason) === n,
          () =>
            `drop ${v.reason} counted ${this.listener.drops.get(v.reason)} times, expected ${n}: ${ctx()}`,
        );
        if (v.reason === 'connect-freq-initial') {
          ensure(
            !this.initial.allow(nowSec),
            () => `connect-freq-initial dropped within the limit: ${ctx()}`,
          );
        } else if (v.reason === 'connect-freq') {
          ensure(
            this.fresh !== undefined && !this.fresh.allow(nowSec),
            () => `connect-freq dropped within the limit: ${ctx()}`,
          );
        }
        break;
      }
      case 'reply': {
        this.replies++;
        ensure(this.initial.allow(nowSec), () => `stateless reply over connect-freq-initial: ${ctx()}`);
        ensure(v.packet.length >= 9, () => `reply too short: ${show(v.packet)}`);
        break;
      }
      case 'create': {
        ensure(
          this.fresh === undefined || this.fresh.allow(nowSec),
          () => `session created over connect-freq: ${ctx()}`,
        );
        if (v.from === 'cookie') {
          this.initial.giveBack();
          ensure(v.sessionId !== undefined, () => `cookie creation without our session id: ${ctx()}`);
        } else {
          ensure(
            this.opts.keys.mode === 'tls-crypt-v2' && this.opts.forceCookie === false,
            () => `session created from a reset without a cookie: ${ctx()}`,
          );
        }
        checkCreatePacket(v.packet, v.clientSessionId, ctx);
        break;
      }
      case 'session':
        break;
    }
    ensure(
      this.listener.replies === this.replies,
      () => `replies counted ${this.listener.replies}, seen ${this.replies}`,
    );
    let total = 0;
    for (const c of this.listener.drops.values()) total += c;
    let seen = 0;
    for (const c of this.drops.values()) seen += c;
    ensure(total === seen, () => `listener counted ${total} drops, the probe saw ${seen}: ${ctx()}`);
    const size = stateSize(this.listener);
    const expected = this.expectedSize();
    ensure(
      size === expected,
      () => `listener state is ${size} units, expected ${expected} (per-datagram state kept?): ${ctx()}`,
    );
    return v;
  }

  tally(): string {
    return [...this.kinds.entries()]
      .sort()
      .map(([k, c]) => `${k}=${c}`)
      .join(' ');
  }
}

function checkCreatePacket(p: ControlPacket, clientSid: Buffer, ctx: () => string): void {
  ensure(p.sessionId.equals(clientSid), () => `created session's client id is not the packet's: ${ctx()}`);
  const again = decodeControl(encodeControl(p));
  ensure(!(again instanceof PacketError), () => `created from a packet that does not re-encode: ${ctx()}`);
}

/** A source address: IPv4, IPv6, v4-mapped, or (rarely) text no socket gives. */
export function randomAddress(rng: Rng): string {
  const port = rng.range(1, 65535);
  switch (rng.int(8)) {
    case 0:
      return `[fd00:${rng.int(0x10000).toString(16)}::${rng.int(0x10000).toString(16)}]:${port}`;
    case 1:
      return `[::ffff:10.${rng.int(256)}.${rng.int(256)}.${rng.int(256)}]:${port}`;
    case 2:
      return rng.pick(['', 'x', '1.2.3.4', '[::1]', '300.1.1.1:5', '1.2.3.4:70000', '[fd00::1::2]:1', ':1']);
    default:
      return `10.${rng.int(256)}.${rng.int(256)}.${rng.int(256)}:${port}`;
  }
}

/** A changed copy of `wire` (never equal to it): bit flips, a truncation, an extension, a byte set. */
export function mutate(rng: Rng, wire: Buffer): Buffer {
  for (;;) {
    let m: Buffer;
    switch (rng.int(4)) {
      case 0: {
        m = Buffer.from(wire);
        const flips = rng.range(1, 3);
        for (let i = 0; i < flips; i++) m[rng.int(m.length)] ^= 1 << rng.int(8);
        break;
      }
      case 1:
        m = Buffer.from(wire.subarray(0, rng.int(wire.length)));
        break;
      case 2:
        m = Buffer.concat([wire, rng.bytes(rng.range(1, 32))]);
        break;
      default:
        m = Buffer.from(wire);
        m[rng.int(m.length)] = rng.u32() & 0xff;
    }
    if (!m.equals(wire)) return m;
  }
}
