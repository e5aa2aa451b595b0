/**
 * The server's control core (listener.ts, hmac-cookie.ts, server-session.ts) against the client's
 * ClientSession, in memory: the stateless three-way handshake, "TLS" bytes both ways (a byte stream per
 * key state and direction), renegotiation started by either side, with plain and tls-auth wrapping.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, it } from 'node:test';
import { parsePeerAddress } from '../../../src/control/hmac-cookie.js';
import { ServerListener } from '../../../src/control/listener.js';
import { decodeControl, PacketError } from '../../../src/control/packet.js';
import { ServerSession } from '../../../src/control/server-session.js';
import { ClientSession } from '../../../src/control/session.js';
import { SessionCookie } from '../../../src/control/session-id.js';
import { PlainWrap } from '../../../src/control/wrap/plain.js';
import { TlsAuthWrap } from '../../../src/control/wrap/tls-auth.js';
import type { ControlWrap } from '../../../src/control/wrap/wrap.js';
import { OP_CONTROL_HARD_RESET_SERVER_V2 } from '../../../src/wire/opcode.js';

const T0 = 1_700_000_000_000;
const FROM = '10.0.0.2:40000';

interface Pair {
  client: ClientSession;
  server: ServerSession | undefined;
  listener: ServerListener;
  /** "TLS" bytes received per side and key-id. */
  atServer: Map<number, Buffer[]>;
  atClient: Map<number, Buffer[]>;
  now: number;
}

function wraps(kind: 'plain' | 'tls-auth'): {
  client: () => ControlWrap;
  server: (first: number) => ControlWrap;
} {
  if (kind === 'plain') return { client: () => new PlainWrap(), server: () => new PlainWrap() };
  const key2 = randomBytes(256);
  return {
    client: () => new TlsAuthWrap({ key2, direction: 'inverse' }),
    server: (first) => new TlsAuthWrap({ key2, direction: 'normal', firstPacketId: first }),
  };
}

function makePair(
  kind: 'plain' | 'tls-auth' = 'plain',
  renegClientMs = 0,
  renegServerMs = 0,
): Pair & { renegServerMs: number } {
  const w = wraps(kind);
  const client = new ClientSession({ wrap: w.client(), maxPayload: 100, renegMs: renegClientMs });
  const listener = new ServerListener({
    cookie: SessionCookie.create(60),
    newWrap: w.server,
    connectFreqInitial: { n: 100, seconds: 10 },
  });
  client.start(T0);
  return {
    client,
    server: undefined,
    listener,
    atServer: new Map(),
    atClient: new Map(),
    now: T0,
    renegServerMs,
  };
}

function push(m: Map<number, Buffer[]>, k: number, b: Buffer): void {
  const l = m.get(k) ?? [];
  l.push(b);
  m.set(k, l);
}

/** One round: client → listener/server, server → client. Returns how many packets moved. */
function round(p: Pair & { renegServerMs: number }, loseEvery = 0): number {
  let moved = 0;
  let n = 0;
  for (const pkt of p.client.poll(p.now)) {
    moved++;
    if (loseEvery > 0 && ++n % loseEvery === 0) continue;
    if (p.server === undefined || !p.listener.has(FROM)) {
      const v = p.listener.receive(FROM, pkt, p.now);
      if (v.kind === 'reply') {
        const r = p.client.receive(v.packet, p.now);
        assert.ok(r.accepted);
      } else if (v.kind === 'create') {
        assert.equal(v.from, 'cookie');
        p.server = new ServerSession({
          wrap: v.wrap,
          sessionId: v.sessionId!,
          clientSessionId: v.clientSessionId,
          from: v.from,
          maxPayload: 100,
          renegMs: p.renegServerMs,
          nowMs: p.now,
        });
        p.listener.attach(FROM);
        const r = p.server.receivePacket(v.packet, p.now);
        assert.ok(r.accepted);
        if (r.tls) push(p.atServer, r.keyId, r.tls);
      }
    } else {
      const r = p.server.receive(pkt, p.now);
      if (r.tls) push(p.atServer, r.keyId, r.tls);
    }
  }
  if (p.server !== undefined) {
    for (const pkt of p.server.poll(p.now)) {
      moved++;
      if (loseEvery > 0 && ++n % loseEvery === 0) continue;
      const r = p.client.receive(pkt, p.now);
      if (r.tls) push(p.atClient, r.keyId, r.tls);
    }
  }
  return moved;
}

function settle(p: Pair & { renegServerMs: number }, loseEvery = 0): void {
  for (let i = 0; i < 400; i++) {
    const moved = round(p, loseEvery);
    if (moved === 0) {
      // all acked: nothing more happens until the caller moves time on
      if (p.client.sendIdle && p.server?.sendIdle === true) return;
      const wake = Math.min(p.client.nextWakeMs(), p.server?.nextWakeMs() ?? Number.POSITIVE_INFINITY);
      if (!Number.isFinite(wake)) return;
      p.now = Math.max(p.now + 1, wake);
      if (p.now > T0 + 10 * 60_000) return;
    }
  }
}

const joined = (m: Map<number, Buffer[]>, k: number) => Buffer.concat(m.get(k) ?? []);

describe('server control core against the client session', () => {
  for (const kind of ['plain', 'tls-auth'] as const) {
    it(`${kind}: stateless cookie, then TLS bytes both ways in order`, () => {
      const p = makePair(kind);
      settle(p);
      assert.ok(p.server, 'a session was created from the cookie echo');
      assert.equal(p.listener.replies, 1);
      assert.equal(p.client.state, 'start');
      assert.equal(p.server.state, 'start');
      assert.deepEqual(p.client.remoteSessionId, p.server.sessionId);
      const hello = randomBytes(700);
      const answer = randomBytes(900);
      p.client.sendTls(hello);
      settle(p);
      p.server.sendTls(answer);
      settle(p);
      assert.deepEqual(joined(p.atServer, 0), hello);
      assert.deepEqual(joined(p.atClient, 0), answer);
      assert.equal(p.server.sendIdle, true);
      assert.equal(p.client.sendIdle, true);
      assert.equal(p.server.drops.size, 0, JSON.stringify([...p.server.drops]));
    });
  }

  it('survives loss of every third packet', () => {
    const p = makePair('tls-auth');
    const hello = randomBytes(1500);
    p.client.sendTls(hello);
    settle(p, 3);
    assert.ok(p.server);
    const answer = randomBytes(2000);
    p.server.sendTls(answer);
    settle(p, 3);
    assert.deepEqual(joined(p.atServer, 0), hello);
    assert.deepEqual(joined(p.atClient, 0), answer);
  });

  for (const who of ['client', 'server'] as const) {
    it(`renegotiation started by the ${who}: key-ids 1..7 then 1, lame duck kept`, () => {
      const p = makePair('plain');
      p.client.sendTls(Buffer.from('c0'));
      settle(p);
      const server = p.server!;
      server.sendTls(Buffer.from('s0'));
      settle(p);
      p.client.markEstablished(p.now);
      server.markEstablished(p.now);
      const seen: number[] = [];
      for (let i = 0; i < 8; i++) {
        const starter = who === 'client' ? p.client : server;
        const k = starter.renegotiate(p.now);
        assert.notEqual(k, undefined);
        settle(p);
        assert.equal(p.client.keyId, server.keyId, 'both sides on the same key state');
        assert.equal(server.renegotiatedBy, who);
        const keyId = server.keyId;
        seen.push(keyId);
        p.client.sendTls(Buffer.from(`c${keyId}`), keyId);
        server.sendTls(Buffer.from(`s${keyId}`), keyId);
        settle(p);
        assert.equal(joined(p.atServer, keyId).toString().endsWith(`c${keyId}`), true);
        assert.equal(joined(p.atClient, keyId).toString().endsWith(`s${keyId}`), true);
        p.client.markEstablished(p.now, keyId);
        server.markEstablished(p.now, keyId);
        assert.equal(server.lameDuckKeyId, keyId === 1 ? (i === 0 ? 0 : 7) : keyId - 1);
      }
      assert.deepEqual(seen, [1, 2, 3, 4, 5, 6, 7, 1]);
      assert.equal(server.renegotiations, 8);
      assert.equal(p.client.renegotiations, 8);
    });
  }

  it('server reneg-sec starts a renegotiation on time', () => {
    const p = makePair('plain', 0, 30_000);
    p.client.sendTls(Buffer.from('x'));
    settle(p);
    p.client.markEstablished(p.now);
    p.server!.markEstablished(p.now);
    const t = p.now;
    p.now += 29_999;
    settle(p);
    assert.equal(p.server!.keyId, 0);
    p.now += 1;
    settle(p);
    assert.equal(p.server!.keyId, 1);
    assert.equal(p.client.keyId, 1);
    assert.ok(p.now >= t + 30_000);
  });

  it('hand-window fails a server session that never completes', () => {
    const p = makePair('plain');
    settle(p);
    const s = p.server!;
    const out = s.poll(p.now + 61_000);
    assert.deepEqual(out, []);
    assert.equal(s.state, 'failed');
    assert.equal(s.failure?.reason, 'hand-window');
  });
});

describe('listener verdicts', () => {
  const mk = (initial = 100, freq?: { n: number; seconds: number }) =>
    new ServerListener({
      cookie: SessionCookie.create(60),
      newWrap: () => new PlainWrap(),
      connectFreqInitial: { n: initial, seconds: 10 },
      connectFreq: freq,
    });
  const reset = () => {
    const c = new ClientSession({ wrap: new PlainWrap(), maxPayload: 100 });
    c.start(T0);
    return { c, pkt: c.poll(T0)[0] };
  };

  it('answers a reset statelessly: cookie sid, ack 0 of the client sid, message id 0', () => {
    const l = mk();
    const { c, pkt } = reset();
    const v = l.receive(FROM, pkt, T0);
    assert.equal(v.kind, 'reply');
    if (v.kind !== 'reply') return;
    const d = decodeControl(v.packet);
    assert.ok(!(d instanceof PacketError));
    assert.equal(d.opcode, OP_CONTROL_HARD_RESET_SERVER_V2);
    assert.deepEqual(d.acks, [0]);
    assert.deepEqual(d.remoteSessionId, c.sessionId);
    assert.equal(d.messageId, 0);
  });

  it('a cookie from another address, or too old, does not create a session', () => {
    const l = mk();
    const { c, pkt } = reset();
    const v = l.receive(FROM, pkt, T0);
    assert.equal(v.kind, 'reply');
    if (v.kind !== 'reply') return;
    c.receive(v.packet, T0);
    c.sendTls(Buffer.from('hello'));
    const third = c.poll(T0)[0];
    assert.deepEqual(l.receive('10.0.0.3:40000', third, T0), { kind: 'drop', reason: 'cookie-cookie' });
    assert.deepEqual(l.receive('10.0.0.2:40001', third, T0), { kind: 'drop', reason: 'cookie-cookie' });
    // three slots of 30 s are accepted, the fourth not
    assert.equal(l.receive(FROM, third, T0 + 95_000).kind, 'drop');
    assert.equal(l.receive(FROM, third, T0 + 55_000).kind, 'create');
  });

  it('connect-freq-initial limits replies; connect-freq limits sessions', () => {
    const l = mk(2, { n: 1, seconds: 10 });
    const kinds = [0, 1, 2].map((i) => l.receive(`10.0.0.${i + 10}:1`, reset().pkt, T0).kind);
    assert.deepEqual(kinds, ['reply', 'reply', 'drop']);
    assert.equal(l.drops.get('connect-freq-initial'), 1);
    const l2 = mk(100, { n: 1, seconds: 10 });
    const made: string[] = [];
    for (let i = 0; i < 2; i++) {
      const from = `10.0.1.${i}:1`;
      const { c, pkt } = reset();
      const v = l2.receive(from, pkt, T0);
      if (v.kind === 'reply') c.receive(v.packet, T0);
      c.sendTls(Buffer.from('x'));
      made.push(l2.receive(from, c.poll(T0)[0], T0).kind);
    }
    assert.deepEqual(made, ['create', 'drop']);
    assert.equal(l2.drops.get('connect-freq'), 1);
  });

  it('garbage and data packets are counted drops; attached addresses go to their session', () => {
    const l = mk();
    assert.equal(l.receive(FROM, Buffer.from([0x48, 0, 0, 1, 2, 3, 4, 5, 6, 7]), T0).kind, 'drop');
    assert.equal(l.receive(FROM, Buffer.alloc(3), T0).kind, 'drop');
    assert.equal(l.receive('nonsense', Buffer.alloc(30), T0).kind, 'drop');
    l.attach(FROM);
    assert.deepEqual(l.receive(FROM, Buffer.alloc(3), T0), { kind: 'session', from: FROM });
  });

  it('parses peer addresses, v4-mapped as IPv4', () => {
    assert.deepEqual(parsePeerAddress('1.2.3.4:5'), { family: 4, addr: Buffer.from([1, 2, 3, 4]), port: 5 });
    assert.deepEqual(parsePeerAddress('[::ffff:1.2.3.4]:5'), {
      family: 4,
      addr: Buffer.from([1, 2, 3, 4]),
      port: 5,
    });
    const v6 = parsePeerAddress('[fd00::1]:1194');
    assert.equal(v6?.family, 6);
    assert.equal(v6?.addr.toString('hex'), 'fd000000000000000000000000000001');
    assert.equal(parsePeerAddress('1.2.3.4'), undefined);
    assert.equal(parsePeerAddress('[fd00::1::2]:1'), undefined);
    assert.equal(parsePeerAddress('300.2.3.4:1'), undefined);
  });
});
