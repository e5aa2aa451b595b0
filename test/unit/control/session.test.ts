/**
 * The client control session (control/session.ts) against a fake 2.6 UDP server end built here from
 * the same pieces (codec, Reliable): a stateless reset answer that acks the client's reset, then a
 * stateful session on message ids 1, 2, ... The "TLS" on both ends is a byte stream: what one side
 * writes must come out at the other, in order, whatever the network loses, duplicates or reorders.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, it } from 'node:test';
import {
  type ControlPacket,
  decodeControl,
  encodeControl,
  PacketError,
} from '../../../src/control/packet.js';
import { Reliable } from '../../../src/control/reliable.js';
import { ClientSession, SessionFailure } from '../../../src/control/session.js';
import { PlainWrap } from '../../../src/control/wrap/plain.js';
import { TlsAuthWrap } from '../../../src/control/wrap/tls-auth.js';
import type { ControlWrap } from '../../../src/control/wrap/wrap.js';
import {
  OP_ACK_V1,
  OP_CONTROL_HARD_RESET_CLIENT_V2,
  OP_CONTROL_HARD_RESET_SERVER_V2,
  OP_CONTROL_V1,
} from '../../../src/wire/opcode.js';
import { Rng } from '../../support/fuzz-rng.js';

const T0 = 1_700_000_000_000;

/** The server half: what a 2.6 UDP server does, minimally. */
class FakeServer {
  readonly sid = Buffer.from('5e5e5e5e5e5e5e5e', 'hex');
  clientSid: Buffer | undefined;
  /** Created once the client acks our cookie reset (session_skip_to_pre_start: ids from 1). */
  rel: Reliable | undefined;
  received: Buffer[] = [];
  resetsAnswered = 0;
  firstControlAcks: number[] | undefined;
  unroutable = 0;

  constructor(readonly wrap: ControlWrap = new PlainWrap()) {}

  receive(wire: Buffer, nowMs: number): Buffer[] {
    const plain = this.wrap.unwrap(wire, Math.floor(nowMs / 1000));
    if (!Buffer.isBuffer(plain)) return [];
    const p = decodeControl(plain);
    if (p instanceof PacketError) return [];
    if (p.opcode === OP_CONTROL_HARD_RESET_CLIENT_V2) {
      assert.equal(p.messageId, 0);
      assert.equal(p.acks.length, 0);
      assert.equal(p.payload.length, 0);
      this.resetsAnswered++;
      this.clientSid = Buffer.from(p.sessionId);
      // stateless: ack [0], own message id 0, never retransmitted
      return [
        this.out(
          { opcode: OP_CONTROL_HARD_RESET_SERVER_V2, acks: [0], messageId: 0, payload: Buffer.alloc(0) },
          nowMs,
        ),
      ];
    }
    if (this.rel === undefined) {
      // the third packet must ack our reset with our sid (else "Unroutable control packet")
      if (!p.acks.includes(0) || !p.remoteSessionId?.equals(this.sid)) {
        this.unroutable++;
        return [];
      }
      this.firstControlAcks = [...p.acks];
      this.rel = new Reliable({ firstSendId: 1, firstRecvId: 1 });
    }
    if (p.acks.length > 0) this.rel.ackReceived(p.acks);
    if (p.messageId !== undefined) {
      const r = this.rel.receive(p.messageId, Buffer.from(p.payload), p.opcode);
      for (const m of r.delivered) this.received.push(m.payload);
    }
    return this.poll(nowMs);
  }

  send(data: Buffer, chunk = 100): void {
    for (let off = 0; off < data.length; off += chunk)
      this.rel!.send(data.subarray(off, off + chunk), OP_CONTROL_V1);
  }

  poll(nowMs: number): Buffer[] {
    if (this.rel === undefined) return [];
    const o = this.rel.poll(nowMs);
    return [
      ...o.packets.map((m) =>
        this.out({ opcode: OP_CONTROL_V1, acks: m.acks, messageId: m.packetId, payload: m.payload }, nowMs),
      ),
      ...o.ackOnly.map((acks) =>
        this.out({ opcode: OP_ACK_V1, acks, messageId: undefined, payload: Buffer.alloc(0) }, nowMs),
      ),
    ];
  }

  private out(p: Pick<ControlPacket, 'opcode' | 'acks' | 'messageId' | 'payload'>, nowMs: number): Buffer {
    return this.wrap.wrap(
      encodeControl({
        ...p,
        keyId: 0,
        sessionId: this.sid,
        remoteSessionId: p.acks.length > 0 ? this.clientSid : undefined,
      }),
      Math.floor(nowMs / 1000),
    );
  }
}

interface Net {
  loss: number;
  dup: number;
  reorder: number;
}

/** Runs both ends with a manual clock until `done` or `limitMs`; returns the client's received stream. */
function run(
  client: ClientSession,
  server: FakeServer,
  rng: Rng,
  net: Net,
  fromServer: Buffer,
  fromClient: Buffer,
  limitMs = 120_000,
): { clientGot: Buffer; now: number } {
  let now = T0;
  const got: Buffer[] = [];
  let queue: { toServer: boolean; wire: Buffer; at: number }[] = [];
  const emit = (toServer: boolean, pkts: Buffer[]) => {
    for (const wire of pkts) {
      if (rng.chance(net.loss)) continue;
      const copies = rng.chance(net.dup) ? 2 : 1;
      for (let i = 0; i < copies; i++)
        queue.push({ toServer, wire, at: now + 5 + (rng.chance(net.reorder) ? rng.int(200) : 0) });
    }
  };
  client.start(now);
  client.sendTls(fromClient); // written before the reset is acked: must be held
  let serverSent = false;
  while (now - T0 < limitMs) {
    emit(true, client.poll(now));
    emit(false, server.poll(now));
    if (!serverSent && server.rel !== undefined) {
      server.send(fromServer);
      serverSent = true;
    }
    const due = queue.filter((q) => q.at <= now);
    queue = queue.filter((q) => q.at > now);
    for (const q of due) {
      if (q.toServer) emit(false, server.receive(q.wire, now));
      else {
        const r = client.receive(q.wire, now);
        if (r.tls) got.push(r.tls);
      }
    }
    const clientGot = Buffer.concat(got);
    if (
      serverSent &&
      clientGot.length === fromServer.length &&
      Buffer.concat(server.received).length === fromClient.length &&
      client.sendIdle &&
      queue.length === 0
    ) {
      return { clientGot, now };
    }
    const wake = Math.min(client.nextWakeMs(), ...queue.map((q) => q.at), now + 50);
    now = Math.max(now + 1, wake);
  }
  return { clientGot: Buffer.concat(got), now };
}

describe('ClientSession', () => {
  it('sends a 2.6 hard reset, then acks the server reset on the first P_CONTROL_V1', () => {
    const client = new ClientSession({ wrap: new PlainWrap(), maxPayload: 1000 });
    client.start(T0);
    const [reset] = client.poll(T0);
    const p = decodeControl(reset) as ControlPacket;
    assert.equal(p.opcode, OP_CONTROL_HARD_RESET_CLIENT_V2);
    assert.equal(reset.length, 14);
    assert.equal(client.state, 'pre-start');

    client.sendTls(Buffer.from('client hello'));
    assert.deepEqual(client.poll(T0 + 10), [], 'TLS is held until the reset is acked');
    const server = new FakeServer();
    const answer = server.receive(reset, T0 + 10);
    assert.equal(answer[0].length, 26);
    const r = client.receive(answer[0], T0 + 20);
    assert.deepEqual(r, { accepted: true, tls: undefined, keyId: 0, renegotiation: false });
    assert.equal(client.state, 'start');
    assert.ok(client.remoteSessionId?.equals(server.sid));
    const [hello] = client.poll(T0 + 20);
    const h = decodeControl(hello) as ControlPacket;
    assert.equal(h.opcode, OP_CONTROL_V1);
    assert.equal(h.messageId, 1);
    assert.deepEqual(h.acks, [0]);
    assert.ok(h.remoteSessionId?.equals(server.sid));
    assert.equal(h.payload.toString(), 'client hello');
    server.receive(hello, T0 + 30);
    assert.deepEqual(server.firstControlAcks, [0]);
    assert.equal(server.unroutable, 0);
  });

  it('retransmits its reset when the stateless answer is lost, with doubling timeouts', () => {
    const client = new ClientSession({ wrap: new PlainWrap(), maxPayload: 1000 });
    client.start(T0);
    assert.equal(client.poll(T0).length, 1);
    assert.equal(client.nextWakeMs(), T0 + 2000);
    assert.equal(client.poll(T0 + 1999).length, 0);
    const again = client.poll(T0 + 2000);
    assert.equal(again.length, 1);
    assert.equal((decodeControl(again[0]) as ControlPacket).messageId, 0);
    assert.equal(client.nextWakeMs(), T0 + 6000);
  });

  for (const [name, net, seeds] of [
    ['a clean network', { loss: 0, dup: 0, reorder: 0 }, [1]],
    ['loss, duplication and reordering', { loss: 0.2, dup: 0.1, reorder: 0.3 }, [1, 2, 3, 4, 5, 6, 7, 8]],
  ] as const) {
    it(`carries TLS streams both ways in order over ${name}`, () => {
      for (const seed of seeds) {
        const rng = new Rng(seed);
        const client = new ClientSession({
          wrap: new PlainWrap(),
          maxPayload: 300,
          reliable: { initialTimeoutSec: 1 },
        });
        const server = new FakeServer();
        const fromServer = randomBytes(5000);
        const fromClient = randomBytes(3000);
        const { clientGot } = run(client, server, rng, net, fromServer, fromClient);
        assert.ok(clientGot.equals(fromServer), `seed ${seed}: server→client stream`);
        assert.ok(Buffer.concat(server.received).equals(fromClient), `seed ${seed}: client→server stream`);
        assert.equal(server.unroutable, 0, `seed ${seed}: every first packet acked the reset`);
      }
    });
  }

  it('works through tls-auth', () => {
    const key2 = randomBytes(256);
    const client = new ClientSession({
      wrap: new TlsAuthWrap({ key2, direction: 'inverse' }),
      maxPayload: 500,
    });
    const server = new FakeServer(new TlsAuthWrap({ key2, direction: 'normal' }));
    const fromServer = randomBytes(2000);
    const { clientGot } = run(
      client,
      server,
      new Rng(9),
      { loss: 0.1, dup: 0.1, reorder: 0.1 },
      fromServer,
      randomBytes(1500),
    );
    assert.ok(clientGot.equals(fromServer));
  });

  it('drops and counts packets that are not its session, never throwing', () => {
    const client = new ClientSession({ wrap: new PlainWrap(), maxPayload: 1000 });
    client.start(T0);
    const server = new FakeServer();
    const reset = client.poll(T0)[0];
    const other = Buffer.from(server.receive(reset, T0)[0]);
    // a P_CONTROL_V1 before any server reset
    const early = encodeControl({
      opcode: OP_CONTROL_V1,
      keyId: 0,
      sessionId: server.sid,
      acks: [],
      remoteSessionId: undefined,
      messageId: 1,
      payload: Buffer.from('x'),
    });
    assert.equal(client.receive(early, T0).accepted, false);
    assert.equal(client.receive(Buffer.alloc(3), T0).accepted, false);
    assert.equal(client.receive(Buffer.alloc(40), T0).accepted, false);
    assert.equal(client.receive(other, T0).accepted, true);
    // a second server reset from another session id
    const forged = Buffer.from(other);
    forged[1] ^= 0xff;
    assert.equal(client.receive(forged, T0).accepted, false);
    // acks naming someone else's session
    const wrongRemote = encodeControl({
      opcode: OP_ACK_V1,
      keyId: 0,
      sessionId: server.sid,
      acks: [0],
      remoteSessionId: Buffer.from('0102030405060708', 'hex'),
      messageId: undefined,
      payload: Buffer.alloc(0),
    });
    assert.equal(client.receive(wrongRemote, T0).accepted, false);
    // key-id 1
    const k1 = encodeControl({
      opcode: OP_CONTROL_V1,
      keyId: 1,
      sessionId: server.sid,
      acks: [],
      remoteSessionId: undefined,
      messageId: 1,
      payload: Buffer.from('x'),
    });
    assert.equal(client.receive(k1, T0).accepted, false);
    const drops = Object.fromEntries(client.drops);
    assert.equal(drops['no-session'], 1);
    assert.equal(drops['wrap-short'], 1);
    assert.equal(drops['packet-opcode'], 1);
    assert.equal(drops['unexpected-reset'], 1);
    assert.equal(drops['wrong-remote-session'], 1);
    assert.equal(drops['key-id'], 1);
    assert.equal(client.state, 'start');
  });

  it('fails with a typed error after the hand-window, and when the shell aborts', () => {
    const client = new ClientSession({ wrap: new PlainWrap(), maxPayload: 1000, handWindowMs: 10_000 });
    client.start(T0);
    client.poll(T0);
    assert.ok(client.nextWakeMs() <= T0 + 10_000);
    assert.deepEqual(client.poll(T0 + 10_000), []);
    assert.equal(client.state, 'failed');
    assert.ok(client.failure instanceof SessionFailure);
    assert.equal(client.failure?.reason, 'hand-window');
    assert.throws(() => client.sendTls(Buffer.from('x')), SessionFailure);
    assert.equal(client.receive(Buffer.alloc(20), T0).accepted, false);

    const other = new ClientSession({ wrap: new PlainWrap(), maxPayload: 1000 });
    other.start(T0);
    other.abort('VERIFY ERROR');
    assert.equal(other.failure?.reason, 'aborted');
    assert.deepEqual(other.poll(T0), []);
  });

  it('stops the hand-window once established', () => {
    const client = new ClientSession({ wrap: new PlainWrap(), maxPayload: 1000, handWindowMs: 10_000 });
    const server = new FakeServer();
    client.start(T0);
    const answer = server.receive(client.poll(T0)[0], T0);
    client.receive(answer[0], T0);
    client.poll(T0); // the ack
    client.markEstablished();
    assert.deepEqual(client.poll(T0 + 20_000), []);
    assert.equal(client.state, 'established');
    assert.equal(client.nextWakeMs(), Number.POSITIVE_INFINITY);
  });
});
