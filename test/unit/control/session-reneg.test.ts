/**
 * Renegotiation in the client control session (control/session.ts) against a fake 2.6 UDP server end
 * that renegotiates as ssl.c does: key states per key-id with their own reliability layer, a soft reset
 * from either side once the current key state is established, the responder answering with its own
 * soft reset, control packets only for the current key-id ("key IDs out of sync" otherwise). The "TLS"
 * of each key state is a byte stream per direction; a key state is established once both streams came
 * through whole, which is when both ends mark it so.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  type ControlPacket,
  decodeControl,
  encodeControl,
  PacketError,
} from '../../../src/control/packet.js';
import { Reliable } from '../../../src/control/reliable.js';
import { ClientSession, nextKeyId } from '../../../src/control/session.js';
import { PlainWrap } from '../../../src/control/wrap/plain.js';
import type { ControlWrap } from '../../../src/control/wrap/wrap.js';
import {
  OP_ACK_V1,
  OP_CONTROL_HARD_RESET_CLIENT_V2,
  OP_CONTROL_HARD_RESET_SERVER_V2,
  OP_CONTROL_SOFT_RESET_V1,
  OP_CONTROL_V1,
} from '../../../src/wire/opcode.js';
import { Rng } from '../../support/fuzz-rng.js';

const T0 = 1_700_000_000_000;

interface ServerKeyState {
  keyId: number;
  rel: Reliable;
  received: Buffer[];
  establishedMs: number | undefined;
}

/** The server half, with key states and soft resets. */
class FakeServer {
  readonly sid = Buffer.from('5e5e5e5e5e5e5e5e', 'hex');
  readonly wrap: ControlWrap = new PlainWrap();
  clientSid: Buffer | undefined;
  primary: ServerKeyState | undefined;
  lame: ServerKeyState | undefined;
  outOfSync = 0;
  softResetsReceived = 0;

  receive(wire: Buffer, nowMs: number): void {
    const plain = this.wrap.unwrap(wire, Math.floor(nowMs / 1000));
    if (!Buffer.isBuffer(plain)) return;
    const p = decodeControl(plain);
    if (p instanceof PacketError) return;
    if (p.opcode === OP_CONTROL_HARD_RESET_CLIENT_V2) {
      this.clientSid = Buffer.from(p.sessionId);
      // stateless cookie answer, never retransmitted
      this.pending.push(
        this.out(0, {
          opcode: OP_CONTROL_HARD_RESET_SERVER_V2,
          acks: [0],
          messageId: 0,
          payload: Buffer.alloc(0),
        }),
      );
      return;
    }
    if (this.primary === undefined) {
      if (!p.acks.includes(0) || !p.remoteSessionId?.equals(this.sid)) return;
      this.primary = {
        keyId: 0,
        rel: new Reliable({ firstSendId: 1, firstRecvId: 1 }),
        received: [],
        establishedMs: undefined,
      };
    }
    if (p.opcode === OP_CONTROL_SOFT_RESET_V1 && this.primary.establishedMs !== undefined) {
      this.softResetsReceived++;
      this.softReset();
    }
    const ks = this.primary;
    if (p.keyId !== ks.keyId) {
      this.outOfSync++;
      return;
    }
    if (p.acks.length > 0) ks.rel.ackReceived(p.acks);
    if (p.messageId !== undefined) {
      const r = ks.rel.receive(p.messageId, Buffer.from(p.payload), p.opcode);
      for (const m of r.delivered) {
        if (m.opcode === OP_CONTROL_V1) ks.received.push(m.payload);
        else if (m.opcode === OP_CONTROL_SOFT_RESET_V1) ks.rel.scheduleNow(nowMs);
      }
    }
  }

  /** key_state_soft_reset on the server. */
  softReset(): void {
    const old = this.primary!;
    this.lame = old;
    this.primary = {
      keyId: nextKeyId(old.keyId),
      rel: new Reliable({ firstSendId: 0, firstRecvId: 0 }),
      received: [],
      establishedMs: undefined,
    };
    this.primary.rel.send(Buffer.alloc(0), OP_CONTROL_SOFT_RESET_V1);
  }

  send(data: Buffer, chunk = 300): void {
    for (let off = 0; off < data.length; off += chunk)
      this.primary!.rel.send(data.subarray(off, off + chunk), OP_CONTROL_V1);
  }

  private pending: Buffer[] = [];

  poll(nowMs: number): Buffer[] {
    const out = this.pending.splice(0);
    const ks = this.primary;
    if (ks === undefined) return out;
    const o = ks.rel.poll(nowMs);
    for (const m of o.packets)
      out.push(
        this.out(ks.keyId, {
          opcode: m.opcode as ControlPacket['opcode'],
          acks: m.acks,
          messageId: m.packetId,
          payload: m.payload,
        }),
      );
    for (const acks of o.ackOnly)
      out.push(
        this.out(ks.keyId, { opcode: OP_ACK_V1, acks, messageId: undefined, payload: Buffer.alloc(0) }),
      );
    return out;
  }

  private out(keyId: number, p: Pick<ControlPacket, 'opcode' | 'acks' | 'messageId' | 'payload'>): Buffer {
    return this.wrap.wrap(
      encodeControl({
        ...p,
        keyId,
        sessionId: this.sid,
        remoteSessionId: p.acks.length > 0 ? this.clientSid : undefined,
      }),
      0,
    );
  }
}

interface Net {
  loss: number;
  dup: number;
  reorder: number;
}

interface Scenario {
  rng: Rng;
  net: Net;
  /** Client options beyond the wrap and payload size. */
  renegMs?: number;
  tranWindowMs?: number;
  handWindowMs?: number;
  /** The server starts a soft reset this long after its key state was established. */
  serverRenegMs?: number;
  /** Stop once the client has started this many renegotiations (or at limitMs). */
  renegotiations: number;
  limitMs: number;
}

interface Outcome {
  client: ClientSession;
  server: FakeServer;
  now: number;
  /** Key-ids of the client's key states, in the order they started. */
  keyIds: number[];
  /** Which side started each renegotiation. */
  initiators: ('client' | 'server')[];
  /** Per key-id started: both streams came through intact. */
  intact: boolean[];
  /** encryptionKeyId sampled at each step, deduplicated. */
  sendKeys: number[];
}

/** The streams of key state number `n` (not key-id: ids repeat after the wrap). */
const clientStream = (n: number) => Buffer.alloc(2500 + n * 7, `client-${n}|`);
const serverStream = (n: number) => Buffer.alloc(1800 + n * 11, `server-${n}|`);

/** Both ends with a manual clock, the shells reduced to writing one stream each per key state. */
function simulate(s: Scenario): Outcome {
  const client = new ClientSession({
    wrap: new PlainWrap(),
    maxPayload: 400,
    renegMs: s.renegMs,
    tranWindowMs: s.tranWindowMs,
    handWindowMs: s.handWindowMs,
  });
  const server = new FakeServer();
  let now = T0;
  let queue: { toServer: boolean; wire: Buffer; at: number }[] = [];
  const emit = (toServer: boolean, pkts: Buffer[]) => {
    for (const wire of pkts) {
      if (s.rng.chance(s.net.loss)) continue;
      const copies = s.rng.chance(s.net.dup) ? 2 : 1;
      for (let i = 0; i < copies; i++)
        queue.push({ toServer, wire, at: now + 5 + (s.rng.chance(s.net.reorder) ? s.rng.int(300) : 0) });
    }
  };
  const keyIds: number[] = [];
  const initiators: ('client' | 'server')[] = [];
  const intact: boolean[] = [];
  const sendKeys: number[] = [];
  let clientGot: Buffer[] = [];
  let clientKs = -1; // index of the client's current key state
  let serverKs = -1;
  let serverKeyId = -1;
  /** Client shell: a new key state gets its stream. */
  const clientShell = () => {
    if (client.state !== 'failed' && (keyIds.length === 0 || client.keyId !== keyIds[keyIds.length - 1])) {
      keyIds.push(client.keyId);
      clientKs = keyIds.length - 1;
      clientGot = [];
      intact.push(false);
      assert.equal(client.sendTls(clientStream(clientKs)), true);
    }
  };
  client.start(now);
  while (now - T0 < s.limitMs) {
    clientShell();
    if (client.renegotiations > s.renegotiations) break;
    const rBefore = client.renegotiations;
    emit(true, client.poll(now));
    // a renegotiation the client starts happens inside poll
    if (client.renegotiations !== rBefore) {
      initiators.push('client');
      clientShell();
    }
    // server shell
    if (server.primary !== undefined && server.primary.keyId !== serverKeyId) {
      serverKeyId = server.primary.keyId;
      serverKs++;
      server.send(serverStream(serverKs));
    }
    const sp = server.primary;
    if (
      s.serverRenegMs !== undefined &&
      sp?.establishedMs !== undefined &&
      now >= sp.establishedMs + s.serverRenegMs
    ) {
      server.softReset();
      initiators.push('server');
      continue;
    }
    emit(false, server.poll(now));
    const due = queue.filter((q) => q.at <= now);
    queue = queue.filter((q) => q.at > now);
    for (const q of due) {
      if (q.toServer) server.receive(q.wire, now);
      else {
        const before = client.renegotiations;
        const r = client.receive(q.wire, now);
        if (r.renegotiation) {
          assert.equal(client.renegotiations, before + 1);
          initiators.push('server');
          clientShell();
        }
        if (r.tls !== undefined && r.keyId === client.keyId) clientGot.push(r.tls);
      }
    }
    // both streams of the current key state through: both ends establish it
    const got = Buffer.concat(clientGot);
    const srvGot = server.primary === undefined ? Buffer.alloc(0) : Buffer.concat(server.primary.received);
    if (
      client.state === 'start' &&
      server.primary?.keyId === client.keyId &&
      serverKs === clientKs &&
      got.equals(serverStream(clientKs)) &&
      srvGot.equals(clientStream(clientKs))
    ) {
      intact[clientKs] = true;
      client.markEstablished(now);
      server.primary.establishedMs = now;
    }
    const k = client.encryptionKeyId(now);
    if (k !== undefined && sendKeys[sendKeys.length - 1] !== k) sendKeys.push(k);
    const wake = Math.min(client.nextWakeMs(), ...queue.map((q) => q.at), now + 50);
    now = Math.max(now + 1, wake);
  }
  return { client, server, now, keyIds, initiators, intact, sendKeys };
}

/** The key-ids a session goes through: 0, 1..7, 1, 2, ... */
function expectedKeyIds(n: number): number[] {
  const ids = [0];
  for (let i = 1; i < n; i++) ids.push(nextKeyId(ids[i - 1]));
  return ids;
}

describe('ClientSession renegotiation', () => {
  it('counts key-ids 0, 1..7, then 1 again', () => {
    assert.deepEqual(expectedKeyIds(10), [0, 1, 2, 3, 4, 5, 6, 7, 1, 2]);
  });

  it('renegotiates on reneg-sec from the client side past a key-id wrap', () => {
    const o = simulate({
      rng: new Rng(1),
      net: { loss: 0, dup: 0, reorder: 0 },
      renegMs: 10_000,
      tranWindowMs: 10_000,
      renegotiations: 10,
      limitMs: 200_000,
    });
    // it stops as the 12th key state has just begun
    assert.equal(o.client.state, 'pre-start');
    assert.deepEqual(o.keyIds, expectedKeyIds(12));
    assert.ok(o.initiators.every((i) => i === 'client'));
    assert.equal(o.initiators.length, 11, `${o.initiators} ${o.keyIds} ${o.client.renegotiations}`);
    assert.deepEqual(o.intact.slice(0, 11), Array(11).fill(true));
    // the 11th soft reset has just left when the run stops
    assert.equal(o.server.softResetsReceived, 10);
    // the data channel went through every key in order
    assert.deepEqual(o.sendKeys, expectedKeyIds(11));
    // about every 10 s (a few ms of handshake each)
    assert.ok(o.now - T0 >= 110_000 && o.now - T0 < 112_000, `${o.now - T0}`);
  });

  it('follows the server renegotiating (P_CONTROL_SOFT_RESET_V1 from the server) past a key-id wrap', () => {
    const o = simulate({
      rng: new Rng(2),
      net: { loss: 0, dup: 0, reorder: 0 },
      serverRenegMs: 5000,
      renegotiations: 9,
      limitMs: 200_000,
    });
    assert.deepEqual(o.keyIds, expectedKeyIds(11));
    assert.ok(o.initiators.every((i) => i === 'server'));
    assert.deepEqual(o.intact.slice(0, 10), Array(10).fill(true));
    assert.equal(o.server.softResetsReceived, 0);
    assert.deepEqual(o.sendKeys, expectedKeyIds(10));
    assert.equal(o.client.drops.get('key-id') ?? 0, 0);
  });

  for (const seed of [3, 4, 5, 6]) {
    it(`renegotiates both ways through loss, duplication and reordering (seed ${seed})`, () => {
      const o = simulate({
        rng: new Rng(seed),
        net: { loss: 0.15, dup: 0.1, reorder: 0.3 },
        renegMs: seed % 2 === 0 ? 7000 : undefined,
        serverRenegMs: 9000,
        tranWindowMs: 60_000,
        renegotiations: 9,
        limitMs: 400_000,
      });
      assert.notEqual(o.client.state, 'failed', o.client.failure?.message);
      assert.deepEqual(o.keyIds, expectedKeyIds(11));
      assert.deepEqual(o.intact.slice(0, 10), Array(10).fill(true));
      if (seed % 2 === 0) {
        assert.ok(o.initiators.includes('client') && o.initiators.includes('server'), `${o.initiators}`);
      }
      // a key state's packets that come late, after the next one began, are dropped, not misread
      assert.ok(o.sendKeys.length >= 10);
    });
  }

  it('keeps the old key for sending until the new one is past its grace, and lets the lame duck die', () => {
    // reneg-sec 10 s: the grace is min(hand-window 60 s, 10 s / 2) = 5 s; tran-window 8 s
    const client = new ClientSession({
      wrap: new PlainWrap(),
      maxPayload: 1000,
      renegMs: 10_000,
      tranWindowMs: 8000,
    });
    const server = new FakeServer();
    client.start(T0);
    server.receive(client.poll(T0)[0], T0);
    for (const w of server.poll(T0)) client.receive(w, T0);
    for (const w of client.poll(T0)) server.receive(w, T0); // the ack: the server's key state 0
    client.markEstablished(T0 + 100);
    server.primary!.establishedMs = T0 + 100;
    assert.equal(client.encryptionKeyId(T0 + 100), 0);
    assert.ok(client.nextWakeMs() <= T0 + 10_100);
    assert.deepEqual(client.poll(T0 + 10_099), []);
    const [soft] = client.poll(T0 + 10_100);
    const p = decodeControl(soft) as ControlPacket;
    assert.equal(p.opcode, OP_CONTROL_SOFT_RESET_V1);
    assert.equal(p.keyId, 1);
    assert.equal(p.messageId, 0);
    assert.equal(p.payload.length, 0);
    assert.equal(client.keyId, 1);
    assert.equal(client.lameDuckKeyId, 0);
    assert.equal(client.state, 'pre-start');
    // the old key keeps sending while the new one is negotiated
    assert.equal(client.encryptionKeyId(T0 + 10_100), 0);
    server.receive(soft, T0 + 10_101);
    assert.equal(server.primary!.keyId, 1);
    const answer = server.poll(T0 + 10_102);
    const a = decodeControl(answer[0]) as ControlPacket;
    assert.equal(a.opcode, OP_CONTROL_SOFT_RESET_V1);
    assert.deepEqual(a.acks, [0]);
    const r = client.receive(answer[0], T0 + 10_103);
    assert.equal(r.keyId, 1);
    assert.equal(r.renegotiation, false);
    assert.equal(client.state, 'start');
    client.markEstablished(T0 + 11_000);
    assert.equal(client.secondaryKeyId(client.encryptionKeyId(T0 + 11_000)), 1);
    // key 0 is past its own grace, key 1 is not until 10.1 s + 5 s
    assert.equal(client.encryptionKeyId(T0 + 15_099), 0);
    assert.ok(client.nextWakeMs() <= T0 + 15_100);
    assert.equal(client.encryptionKeyId(T0 + 15_100), 1);
    assert.equal(client.secondaryKeyId(1), 0);
    // a key with exhausted packet-ids is passed over
    assert.equal(client.encryptionKeyId(T0 + 11_000, new Set([0])), 1);
    // the lame duck dies 8 s after the soft reset
    client.poll(T0 + 18_099);
    assert.equal(client.lameDuckKeyId, 0);
    client.poll(T0 + 18_100);
    assert.equal(client.lameDuckKeyId, undefined);
    assert.equal(client.secondaryKeyId(1), undefined);
    // packets for key-id 0 are out of sync now
    const stale = encodeControl({
      opcode: OP_ACK_V1,
      keyId: 0,
      sessionId: server.sid,
      acks: [5],
      remoteSessionId: client.sessionId,
      messageId: undefined,
      payload: Buffer.alloc(0),
    });
    assert.equal(client.receive(stale, T0 + 18_200).accepted, false);
    assert.equal(client.drops.get('key-id'), 1);
  });

  it('refuses a soft reset before the key state is established, and a renegotiate call too', () => {
    const client = new ClientSession({ wrap: new PlainWrap(), maxPayload: 1000 });
    const server = new FakeServer();
    client.start(T0);
    server.receive(client.poll(T0)[0], T0);
    for (const w of server.poll(T0)) client.receive(w, T0);
    assert.equal(client.renegotiate(T0), undefined);
    const soft = encodeControl({
      opcode: OP_CONTROL_SOFT_RESET_V1,
      keyId: 1,
      sessionId: server.sid,
      acks: [],
      remoteSessionId: undefined,
      messageId: 0,
      payload: Buffer.alloc(0),
    });
    assert.equal(client.receive(soft, T0 + 1).accepted, false);
    assert.equal(client.drops.get('key-id'), 1);
    assert.equal(client.keyId, 0);
    client.markEstablished(T0 + 2);
    // a soft reset that skips a key-id is out of sync too
    const skip = encodeControl({
      opcode: OP_CONTROL_SOFT_RESET_V1,
      keyId: 2,
      sessionId: server.sid,
      acks: [],
      remoteSessionId: undefined,
      messageId: 0,
      payload: Buffer.alloc(0),
    });
    assert.equal(client.receive(skip, T0 + 3).accepted, false);
    assert.equal(client.keyId, 0);
    // the right one starts key-id 1 and is acked by our own soft reset
    const r = client.receive(soft, T0 + 4);
    assert.deepEqual(r, { accepted: true, tls: undefined, keyId: 1, renegotiation: true });
    const [mine] = client.poll(T0 + 4);
    const m = decodeControl(mine) as ControlPacket;
    assert.equal(m.opcode, OP_CONTROL_SOFT_RESET_V1);
    assert.equal(m.keyId, 1);
    assert.deepEqual(m.acks, [0]);
    // a retransmission of the server's soft reset is a replay in key state 1, acked again
    const again = client.receive(soft, T0 + 5);
    assert.equal(again.accepted, true);
    assert.equal(again.renegotiation, false);
    assert.equal(client.keyId, 1);
  });

  it('holds standalone acks while asked to, and sends them on release', () => {
    const client = new ClientSession({ wrap: new PlainWrap(), maxPayload: 1000 });
    const server = new FakeServer();
    client.start(T0);
    server.receive(client.poll(T0)[0], T0);
    for (const w of server.poll(T0)) client.receive(w, T0);
    for (const w of client.poll(T0)) server.receive(w, T0);
    client.holdAcks(0, true);
    server.send(Buffer.from('key-method 2'));
    for (const w of server.poll(T0 + 1))
      assert.equal(client.receive(w, T0 + 1).tls?.toString(), 'key-method 2');
    assert.deepEqual(client.poll(T0 + 2), []);
    // nothing to do before the hand-window's end
    assert.equal(client.nextWakeMs(), T0 + 60_000);
    client.holdAcks(0, false);
    assert.ok(client.nextWakeMs() <= T0 + 3);
    const [ack] = client.poll(T0 + 3);
    const a = decodeControl(ack) as ControlPacket;
    assert.equal(a.opcode, OP_ACK_V1);
    // the new ack first, then the reset's again from the most-recently-used list
    assert.deepEqual(a.acks, [1, 0]);
  });
});
