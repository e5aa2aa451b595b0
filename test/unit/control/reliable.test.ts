import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  ackBlockSize,
  joinCiphertext,
  maxControlPayload,
  pidBefore,
  Reliable,
  type ReliableOutput,
  splitCiphertext,
  TLS_CRYPT_OVERHEAD,
  tlsAuthOverhead,
} from '../../../src/control/reliable.js';

const P_CONTROL_V1 = 4;
const RESET = 7;

/** Deterministic PRNG (mulberry32), so a failing seed can be replayed. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const msg = (i: number) => Buffer.from(`m${i}`);

describe('reliable: send side', () => {
  it('numbers messages from 0 and sends a new one at once', () => {
    const r = new Reliable();
    r.send(Buffer.alloc(0), RESET);
    r.send(msg(1), P_CONTROL_V1);
    const out = r.poll(0);
    assert.deepEqual(
      out.packets.map((p) => [p.opcode, p.packetId, p.transmission]),
      [
        [RESET, 0, 1],
        [P_CONTROL_V1, 1, 1],
      ],
    );
    assert.deepEqual(out.ackOnly, []);
    assert.equal(r.nextWakeMs(), 2000);
  });

  it('retransmits after 2, 4, 8, 16 s: the timeout doubles from --tls-timeout (reliable_send)', () => {
    const r = new Reliable();
    r.send(msg(0), P_CONTROL_V1);
    const sentAt: number[] = [];
    for (let t = 0; t <= 62_000; t += 250) {
      for (const _ of r.poll(t).packets) sentAt.push(t);
    }
    assert.deepEqual(sentAt, [0, 2000, 6000, 14000, 30000, 62000]);
    assert.equal(r.nextWakeMs(), 62000 + 64000);
  });

  it('can cap the doubling, and takes another initial timeout', () => {
    const r = new Reliable({ initialTimeoutSec: 1, maxTimeoutSec: 4 });
    r.send(msg(0), P_CONTROL_V1);
    const sentAt: number[] = [];
    for (let t = 0; t <= 20_000; t += 500) for (const _ of r.poll(t).packets) sentAt.push(t);
    assert.deepEqual(sentAt, [0, 1000, 3000, 7000, 11000, 15000, 19000]);
  });

  it('scheduleNow makes everything due with the initial timeout again', () => {
    const r = new Reliable();
    r.send(msg(0), P_CONTROL_V1);
    r.poll(0);
    r.poll(2000); // timeout now 8 s
    r.scheduleNow(3000);
    assert.equal(r.poll(3000).packets.length, 1);
    assert.equal(r.nextWakeMs(), 5000);
  });

  it('holds everything until scheduleNow (xmit_hold)', () => {
    const r = new Reliable({ hold: true });
    r.send(msg(0), P_CONTROL_V1);
    assert.equal(r.poll(0).packets.length, 0);
    assert.equal(r.nextWakeMs(), Number.POSITIVE_INFINITY);
    r.scheduleNow(10);
    assert.equal(r.poll(10).packets.length, 1);
  });

  it('keeps at most 6 in flight, within 6 ids of the lowest unacked one', () => {
    const r = new Reliable();
    for (let i = 0; i < 10; i++) r.send(msg(i), P_CONTROL_V1);
    assert.deepEqual(
      r.poll(0).packets.map((p) => p.packetId),
      [0, 1, 2, 3, 4, 5],
    );
    assert.equal(r.backlogLength, 4);
    assert.equal(r.windowAvailable, 0);
    assert.equal(r.ackReceived([1, 2, 3, 4, 5]), 5);
    // id 0 still blocks the window: 6 - 0 is not < 6
    assert.equal(r.backlogLength, 4);
    // three later acks made id 0 due early (N_ACK_RETRANSMIT)
    assert.deepEqual(
      r.poll(100).packets.map((p) => [p.packetId, p.transmission]),
      [[0, 2]],
    );
    r.ackReceived([0]);
    assert.deepEqual(
      r.poll(200).packets.map((p) => p.packetId),
      [6, 7, 8, 9],
    );
    assert.equal(r.windowAvailable, 2);
    assert.equal(r.nextPacketId, 10);
  });

  it('counts acks for later ids only for lower ids, and resends early after three', () => {
    const r = new Reliable();
    for (let i = 0; i < 5; i++) r.send(msg(i), P_CONTROL_V1);
    r.poll(0);
    r.ackReceived([2]);
    r.ackReceived([3]);
    assert.equal(r.poll(10).packets.length, 0);
    r.ackReceived([4]);
    // ids 0 and 1 both saw three later acks
    assert.deepEqual(
      r.poll(20).packets.map((p) => p.packetId),
      [0, 1],
    );
    assert.ok(r.nextWakeMs() > 20);
  });

  it('starts at id 1 after a stateless cookie exchange', () => {
    const r = new Reliable({ firstSendId: 1, firstRecvId: 1 });
    r.send(msg(1), P_CONTROL_V1);
    assert.equal(r.poll(0).packets[0].packetId, 1);
    assert.equal(r.receive(0, msg(0), RESET).verdict, 'replay');
    assert.equal(r.receive(1, msg(1), P_CONTROL_V1).delivered.length, 1);
  });

  it('handles the packet-id wrap', () => {
    const r = new Reliable({ firstSendId: 0xffff_fffe, firstRecvId: 0xffff_fffe });
    for (let i = 0; i < 4; i++) r.send(msg(i), P_CONTROL_V1);
    assert.deepEqual(
      r.poll(0).packets.map((p) => p.packetId),
      [0xffff_fffe, 0xffff_ffff, 0, 1],
    );
    assert.ok(pidBefore(0xffff_ffff, 0));
    assert.equal(r.receive(1, msg(1), 4).verdict, 'new');
    assert.equal(r.receive(0xffff_ffff, msg(0), 4).verdict, 'new');
    const d = r.receive(0xffff_fffe, msg(0), 4).delivered.map((m) => m.packetId);
    assert.deepEqual(d, [0xffff_fffe, 0xffff_ffff]);
    assert.equal(r.receive(0, msg(0), 4).delivered.length, 2);
    assert.equal(r.receive(1, msg(1), 4).verdict, 'replay');
    // reliable_pid_in_range2 has no lower bound only without wrap: an id from before the wrap is
    // "beyond the window" and goes unacked, as in the source
    assert.equal(r.receive(0xffff_ffff, msg(0), 4).verdict, 'beyond-window');
  });
});

describe('reliable: receive side and acks', () => {
  it('acks [ 3 2 1 0 ] like the LAB capture: the MRU list re-sends earlier acks', () => {
    const r = new Reliable();
    const lists: number[][] = [];
    for (let i = 0; i < 4; i++) {
      r.receive(i, msg(i), P_CONTROL_V1);
      lists.push(...r.poll(0).ackOnly);
    }
    assert.deepEqual(lists, [[0], [1, 0], [2, 1, 0], [3, 2, 1, 0]]);
    // the MRU keeps going on message packets even with no new id to ack
    r.send(msg(0), P_CONTROL_V1);
    const out = r.poll(0);
    assert.deepEqual(out.packets[0].acks, [3, 2, 1, 0]);
    assert.deepEqual(out.ackOnly, []);
  });

  it('buffers out of order, delivers in order, re-acks replays', () => {
    const r = new Reliable();
    assert.deepEqual(r.receive(2, msg(2), 4), { verdict: 'new', delivered: [] });
    assert.equal(r.receive(1, msg(1), 4).verdict, 'new');
    assert.equal(r.receive(2, msg(2), 4).verdict, 'replay');
    assert.equal(r.bufferedCount, 2);
    const d = r.receive(0, msg(0), 4);
    assert.deepEqual(
      d.delivered.map((m) => m.payload.toString()),
      ['m0', 'm1', 'm2'],
    );
    assert.equal(r.receive(1, msg(1), 4).verdict, 'replay');
    assert.equal(r.expectedPacketId, 3);
    // each id once in the waiting list, in arrival order
    assert.deepEqual(r.poll(0).ackOnly, [[2, 1, 0]]);
    assert.deepEqual(r.poll(0).ackOnly, []);
  });

  it('drops ids 12 or more ahead without an ack, takes 11 ahead', () => {
    const r = new Reliable();
    assert.equal(r.receive(12, msg(12), 4).verdict, 'beyond-window');
    assert.equal(r.pendingAckCount, 0);
    assert.equal(r.receive(11, msg(11), 4).verdict, 'new');
    assert.equal(r.pendingAckCount, 1);
  });

  it('waits with at most 8 acks and sends at most 4 per packet', () => {
    const r = new Reliable();
    for (let i = 9; i >= 0; i--) r.receive(i, msg(i), 4);
    // ten ids arrived but only 8 fit in the waiting list; the other two will be retransmitted
    assert.equal(r.pendingAckCount, 8);
    const out = r.poll(0);
    assert.deepEqual(out.ackOnly, [
      [9, 8, 7, 6],
      [5, 4, 3, 2],
    ]);
  });

  it('allows 8 acks in a standalone ACK when asked (2.6 server)', () => {
    const r = new Reliable({ maxAcksPerAck: 8 });
    for (let i = 0; i < 6; i++) r.receive(i, msg(i), 4);
    assert.deepEqual(r.poll(0).ackOnly, [[0, 1, 2, 3, 4, 5]]);
  });

  it('sends a standalone ACK only when no message packet carried the acks', () => {
    const r = new Reliable();
    r.receive(0, msg(0), RESET);
    r.send(Buffer.alloc(0), RESET);
    const out = r.poll(0);
    assert.deepEqual(out.packets[0].acks, [0]);
    assert.deepEqual(out.ackOnly, []);
  });

  it('reports when to wake', () => {
    const r = new Reliable();
    assert.equal(r.nextWakeMs(), Number.POSITIVE_INFINITY);
    r.receive(0, msg(0), 4);
    assert.ok(r.nextWakeMs() <= 0);
    r.poll(0);
    assert.equal(r.nextWakeMs(), Number.POSITIVE_INFINITY);
  });
});

// ---- two ends over a lossy link ----

type Wire =
  | { kind: 'msg'; opcode: number; id: number; payload: Buffer; acks: number[] }
  | { kind: 'ack'; acks: number[] };

interface End {
  rel: Reliable;
  got: string[];
  maxAcksSeen: number;
}

function simulate(seed: number, n: number, loss: number, dup: number, maxDelayMs: number) {
  const rnd = prng(seed);
  const ends: End[] = [0, 1].map(() => ({ rel: new Reliable(), got: [], maxAcksSeen: 0 }));
  const inFlight: { at: number; to: number; w: Wire }[] = [];
  let now = 0;
  let packetsSent = 0;
  const emit = (from: number, out: ReliableOutput) => {
    const wires: Wire[] = [
      ...out.packets.map(
        (p): Wire => ({ kind: 'msg', opcode: p.opcode, id: p.packetId, payload: p.payload, acks: p.acks }),
      ),
      ...out.ackOnly.map((acks): Wire => ({ kind: 'ack', acks })),
    ];
    for (const w of wires) {
      packetsSent++;
      assert.ok(w.acks.length <= 4, 'more than 4 acks in one packet');
      assert.equal(new Set(w.acks).size, w.acks.length, 'an id twice in one ack list');
      if (rnd() < loss) continue;
      const copies = rnd() < dup ? 2 : 1;
      for (let c = 0; c < copies; c++)
        inFlight.push({ at: now + Math.floor(rnd() * maxDelayMs), to: 1 - from, w });
    }
  };
  // each side queues a first batch, then more as time goes on
  const queued = [0, 0];
  const feed = (batch: number) => {
    for (const i of [0, 1]) {
      for (let k = 0; k < batch && queued[i] < n; k++, queued[i]++) {
        ends[i].rel.send(Buffer.from(`${i}:${queued[i]}`), queued[i] === 0 ? RESET : P_CONTROL_V1);
      }
    }
  };
  feed(10);
  for (const i of [0, 1]) emit(i, ends[i].rel.poll(now));
  let steps = 0;
  while (ends.some((e) => e.got.length < n) || ends.some((e) => !e.rel.sendEmpty)) {
    assert.ok(++steps < 200_000, `seed ${seed}: no progress`);
    const next = Math.min(
      ...inFlight.map((p) => p.at),
      ends[0].rel.nextWakeMs(),
      ends[1].rel.nextWakeMs(),
      now + 1000,
    );
    now = Math.max(now, next);
    assert.ok(now < 3_600_000, `seed ${seed}: not done after an hour`);
    for (let k = 0; k < inFlight.length; k++) {
      const p = inFlight[k];
      if (p.at > now) continue;
      inFlight.splice(k--, 1);
      const e = ends[p.to];
      e.maxAcksSeen = Math.max(e.maxAcksSeen, p.w.acks.length);
      e.rel.ackReceived(p.w.acks);
      if (p.w.kind === 'msg') {
        for (const m of e.rel.receive(p.w.id, p.w.payload, p.w.opcode).delivered)
          e.got.push(m.payload.toString());
      }
      assert.ok(e.rel.pendingAckCount <= 8);
      assert.ok(e.rel.bufferedCount <= 12);
      assert.ok(e.rel.inFlightCount <= 6);
    }
    if (rnd() < 0.3) feed(3);
    for (const i of [0, 1]) emit(i, ends[i].rel.poll(now));
  }
  for (const i of [0, 1]) {
    const want = Array.from({ length: n }, (_, k) => `${1 - i}:${k}`);
    assert.deepEqual(ends[i].got, want, `seed ${seed}: end ${i} got the wrong sequence`);
  }
  return { now, packetsSent };
}

describe('reliable: two ends over a simulated link', () => {
  it('delivers everything once and in order with loss, duplication and reordering', () => {
    for (let seed = 1; seed <= 40; seed++) {
      simulate(seed, 60, 0.25, 0.15, 3000);
    }
  });

  it('is quick on a clean link: no retransmission needed', () => {
    const { now } = simulate(99, 100, 0, 0, 50);
    assert.ok(now < 2000, `took ${now} ms`);
  });

  it('survives heavy loss', () => {
    for (let seed = 100; seed < 105; seed++) simulate(seed, 30, 0.5, 0.3, 500);
  });
});

describe('control payload sizing (§4.11)', () => {
  it('gives 1184 bytes of ciphertext for UDP/IPv4 without wrap: 1222-byte datagrams', () => {
    assert.equal(maxControlPayload(), 1184);
    assert.equal(1184 + 1 + 8 + ackBlockSize(4) + 4, 1222);
    assert.equal(maxControlPayload({ ipv6: true }), 1164);
    assert.equal(maxControlPayload({ acks: 0 }), 1250 - 1 - 8 - 1 - 4 - 28);
    assert.equal(maxControlPayload({ wrapOverhead: TLS_CRYPT_OVERHEAD }), 1128);
    assert.equal(maxControlPayload({ wrapOverhead: tlsAuthOverhead(20) }), 1156);
    assert.equal(maxControlPayload({ tlsMtu: 10 }), 154 - 66);
    assert.equal(maxControlPayload({ tlsMtu: 9000 }), 2048 - 66);
    assert.equal(maxControlPayload({ tlsMtu: 154, wrapOverhead: 72, ipv6: true }), 16);
  });

  it('cuts a ciphertext stream and joins it back', () => {
    const stream = Buffer.from(Array.from({ length: 3000 }, (_, i) => i & 0xff));
    const parts = splitCiphertext(stream, 1184);
    assert.deepEqual(
      parts.map((p) => p.length),
      [1184, 1184, 632],
    );
    assert.deepEqual(joinCiphertext(parts), stream);
    assert.deepEqual(splitCiphertext(Buffer.alloc(0), 100), []);
    assert.throws(() => splitCiphertext(stream, 0));
  });
});
