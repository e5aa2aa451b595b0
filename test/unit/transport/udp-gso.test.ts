/**
 * UdpTransport's UDP offloads on loopback: GSO on send (runs of equal-size datagrams to one endpoint
 * sent as one super-datagram: run boundaries, size and count limits, sources, unreachable and refused
 * datagrams, turning it off) and GRO on receive (coalesced buffers split back into one datagram per
 * slot, datagrams that do not fit the batch kept for the next call, GRO following the batch's slot
 * size, readiness while split datagrams wait).
 */
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { PacketBatch } from '../../../src/batch/packet-batch.js';
import { Endpoint } from '../../../src/net/endpoint.js';
import { getsockoptInt, SOL_SOCKET, setsockoptInt } from '../../../src/sys/libc.js';
import {
  createUdpSocket,
  GSO_MAX_SEGMENTS,
  type SourceAddress,
  UdpTransport,
} from '../../../src/transport/index.js';
import {
  closeTransports,
  expected,
  outgoing,
  type Received,
  receive,
  track,
  transport,
} from '../../support/udp-loopback.js';

const SOL_UDP = 17;
const UDP_GRO = 104;
const SO_NO_CHECK = 11;
const BIG = 65536;

after(closeTransports);

function expectAll(got: Received[], tags: number[], sizes: number[], from?: string): void {
  assert.equal(got.length, tags.length, 'datagram count');
  got.forEach((r, j) => {
    assert.equal(r.data.length, sizes[j], `datagram ${j} (tag ${tags[j]}) length`);
    assert.ok(r.data.equals(expected(tags[j], sizes[j])), `datagram ${j} (tag ${tags[j]}) bytes`);
    if (from !== undefined) assert.equal(r.from?.key, from, `datagram ${j} source`);
  });
}

const range = (n: number, from = 0) => Array.from({ length: n }, (_, i) => from + i);
const ones = (n: number) => Array.from({ length: n }, () => 1);

/**
 * Runs, odd sizes and two destinations: 0-5 one run (five of 1000, a shorter last one), 6-8 a run,
 * 9-10 a run to B, 11 alone (longer), 12-13 a run to A through another Endpoint object with the same
 * key (1300 then a shorter 500 closes it), 14-15 a run; then 20 datagrams of growing sizes, alone.
 */
function mixedPattern(a: Endpoint, b: Endpoint): { sizes: number[]; dests: Endpoint[]; runs: number } {
  const a2 = Endpoint.parse(a.address, a.port);
  const sizes = [1000, 1000, 1000, 1000, 1000, 700, 1000, 1000, 1000, 1200, 1200, 1300, 1300, 500, 500, 500];
  const dests = [a, a, a, a, a, a, a, a, a, b, b, b, a, a2, a2, a2];
  for (let i = 0; i < 20; i++) {
    sizes.push(100 + i * 13);
    dests.push(i % 3 === 0 ? b : a);
  }
  return { sizes, dests, runs: 5 };
}

describe('UdpTransport GSO send', () => {
  it('runs of equal sizes, odd sizes and two destinations arrive complete, in order', async () => {
    const rxA = transport(4, '127.0.0.1', 64, { gro: false });
    const rxB = transport(4, '127.0.0.1', 64, { gro: false });
    const tx = transport(4, '127.0.0.1');
    assert.equal(tx.gso, true);
    const a = Endpoint.parse('127.0.0.1', rxA.localPort);
    const b = Endpoint.parse('127.0.0.1', rxB.localPort);
    const { sizes, dests, runs } = mixedPattern(a, b);
    const { batch, slots } = outgoing(sizes);
    assert.equal(tx.sendBatch(batch, slots, dests, [], 0, sizes.length), sizes.length);
    assert.deepEqual([...tx.txStatus.subarray(0, sizes.length)], ones(sizes.length));
    assert.equal(tx.txGsoSends, runs);
    assert.equal(tx.txGsoFallbacks, 0);
    const tagsA = range(sizes.length).filter((k) => dests[k].key === a.key);
    const tagsB = range(sizes.length).filter((k) => dests[k].key === b.key);
    const from = `127.0.0.1:${tx.localPort}`;
    const gotA = await receive(rxA, tagsA.length, new PacketBatch(64, 2048));
    expectAll(
      gotA,
      tagsA,
      tagsA.map((k) => sizes[k]),
      from,
    );
    const gotB = await receive(rxB, tagsB.length, new PacketBatch(64, 2048));
    expectAll(
      gotB,
      tagsB,
      tagsB.map((k) => sizes[k]),
      from,
    );
    for (const r of gotA) assert.deepEqual([r.localFamily, ...r.local], [4, 127, 0, 0, 1]);
  });

  it('the same datagrams go out one by one with gso: false', async () => {
    const rx = transport(4, '127.0.0.1', 64, { gro: false });
    const off = transport(4, '127.0.0.1', 64, { gso: false });
    const a = Endpoint.parse('127.0.0.1', rx.localPort);
    assert.equal(off.gso, false);
    const { sizes, dests } = mixedPattern(a, a);
    const { batch, slots } = outgoing(sizes);
    assert.equal(off.sendBatch(batch, slots, dests, [], 0, sizes.length), sizes.length);
    assert.equal(off.txGsoSends, 0);
    const got = await receive(rx, sizes.length, new PacketBatch(64, 2048));
    expectAll(got, range(sizes.length), sizes, `127.0.0.1:${off.localPort}`);
  });

  it('a socket with UDP checksums off (SO_NO_CHECK) sends without GSO', async () => {
    const rx = transport(4, '127.0.0.1', 64, { gro: false });
    const fd = createUdpSocket({ family: 4, port: 0, address: '127.0.0.1' });
    assert.equal(setsockoptInt(fd, SOL_SOCKET, SO_NO_CHECK, 1), 0);
    const tx = UdpTransport.attach(fd, 64);
    track(tx);
    assert.equal(tx.gso, false);
    const { batch, slots } = outgoing([300, 300, 300]);
    const d = Endpoint.parse('127.0.0.1', rx.localPort);
    assert.equal(tx.sendBatch(batch, slots, [d, d, d], [], 0, 3), 3);
    expectAll(await receive(rx, 3, new PacketBatch(8, 2048)), [0, 1, 2], [300, 300, 300]);
  });

  it(`caps a run at ${GSO_MAX_SEGMENTS} datagrams and at 65507 (IPv4) / 65527 (IPv6) bytes`, async () => {
    const cases: [4 | 6, string, number, number, number][] = [
      // family, address, datagrams, size, expected GSO sends
      [4, '127.0.0.1', 150, 1400, 4], // 46 + 46 + 46 + 12 (47 x 1400 > 65507)
      [4, '127.0.0.1', 200, 100, 4], // 64 + 64 + 64 + 8
      [4, '127.0.0.1', 80, 1638, 3], // 39 + 39 + 2 (40 x 1638 = 65520 > 65507)
      [6, '::1', 80, 1638, 2], // 40 + 40 (65520 <= 65527)
    ];
    for (const [family, address, count, size, sends] of cases) {
      const rx = transport(family, address, 256, { gro: false });
      const tx = transport(family, address, 256);
      const sizes = Array.from({ length: count }, () => size);
      const { batch, slots } = outgoing(sizes);
      const d = Endpoint.parse(address, rx.localPort);
      assert.equal(
        tx.sendBatch(
          batch,
          slots,
          sizes.map(() => d),
          [],
          0,
          count,
        ),
        count,
      );
      assert.equal(tx.txGsoSends, sends, `${count} x ${size} B over IPv${family}`);
      assert.equal(tx.txGsoFallbacks, 0);
      expectAll(await receive(rx, count, new PacketBatch(64, 2048)), range(count), sizes);
    }
  });

  it('a dual-stack socket sends runs to IPv4 and IPv6 endpoints (IPv4 byte limit for IPv4)', async () => {
    const rx4 = transport(4, '127.0.0.1', 64, { gro: false });
    const rx6 = transport(6, '::1', 64, { gro: false });
    const tx = transport(6, undefined, 256);
    const d4 = Endpoint.parse('127.0.0.1', rx4.localPort);
    const d6 = Endpoint.parse('::1', rx6.localPort);
    // 80 x 1638 B to each: 39 + 39 + 2 over IPv4, 40 + 40 over IPv6.
    const sizes = Array.from({ length: 160 }, () => 1638);
    const dests = sizes.map((_, k) => (k < 80 ? d4 : d6));
    const { batch, slots } = outgoing(sizes);
    assert.equal(tx.sendBatch(batch, slots, dests, [], 0, 160), 160);
    assert.equal(tx.txGsoSends, 5);
    expectAll(
      await receive(rx4, 80, new PacketBatch(64, 2048)),
      range(80),
      sizes.slice(0, 80),
      `127.0.0.1:${tx.localPort}`,
    );
    expectAll(
      await receive(rx6, 80, new PacketBatch(64, 2048)),
      range(80, 80),
      sizes.slice(80),
      `[::1]:${tx.localPort}`,
    );
  });

  it('a run never spans two sendmmsg calls, and slots may come in any order', async () => {
    const rx = transport(4, '127.0.0.1', 64, { gro: false });
    const tx = transport(4, '127.0.0.1', 16);
    const sizes = Array.from({ length: 50 }, () => 800);
    const { batch, slots } = outgoing(sizes);
    slots.reverse();
    const d = Endpoint.parse('127.0.0.1', rx.localPort);
    assert.equal(
      tx.sendBatch(
        batch,
        slots,
        sizes.map(() => d),
        [],
        0,
        50,
      ),
      50,
    );
    assert.equal(tx.txGsoSends, 4); // 16 + 16 + 16 + 2
    const got = await receive(rx, 50, new PacketBatch(64, 2048));
    expectAll(
      got,
      range(50).map((i) => 49 - i),
      sizes,
    );
  });

  it('different sources split runs; a stale source is dropped and its run still goes as one', async () => {
    const rx = transport(4, undefined, 64, { gro: false });
    const tx = transport(4);
    const stale: SourceAddress[] = [];
    tx.onStaleSource = (s) => stale.push(s);
    const v4a: SourceAddress = { family: 4, addr: Buffer.from([127, 0, 0, 3]) };
    const gone: SourceAddress = { family: 4, addr: Buffer.from([10, 255, 255, 1]) };
    const srcs = [undefined, undefined, undefined, v4a, v4a, v4a, gone, gone, gone];
    const sizes = srcs.map(() => 600);
    const { batch, slots } = outgoing(sizes);
    const d = Endpoint.parse('127.0.0.1', rx.localPort);
    assert.equal(
      tx.sendBatch(
        batch,
        slots,
        sizes.map(() => d),
        srcs,
        0,
        9,
      ),
      9,
    );
    assert.equal(tx.txGsoSends, 3);
    assert.deepEqual(stale, [gone]);
    const got = await receive(rx, 9, new PacketBatch(16, 2048));
    expectAll(got, range(9), sizes);
    assert.deepEqual(
      got.map((r) => r.from?.address),
      [
        '127.0.0.1',
        '127.0.0.1',
        '127.0.0.1',
        '127.0.0.3',
        '127.0.0.3',
        '127.0.0.3',
        '127.0.0.1',
        '127.0.0.1',
        '127.0.0.1',
      ],
    );
  });

  it('skips unreachable endpoints inside a run, and a refused run fails as a whole', async () => {
    const rx = transport(4, '127.0.0.1', 64, { gro: false });
    const tx = transport(4);
    const d = Endpoint.parse('127.0.0.1', rx.localPort);
    const v6 = Endpoint.parse('::1', rx.localPort);
    const bcast = Endpoint.parse('255.255.255.255', rx.localPort); // EACCES: no SO_BROADCAST
    const dests = [d, d, v6, d, d, bcast, bcast, bcast, d, d];
    const sizes = dests.map(() => 400);
    const { batch, slots } = outgoing(sizes);
    assert.equal(tx.sendBatch(batch, slots, dests, [], 0, dests.length), 6);
    assert.deepEqual([...tx.txStatus.subarray(0, 10)], [1, 1, 0, 1, 1, 0, 0, 0, 1, 1]);
    assert.equal(tx.txUnreachable, 1);
    assert.equal(tx.txErrors, 3);
    assert.equal(tx.lastErrno, 13);
    assert.equal(tx.txGsoSends, 2); // 0,1,3,4 and 8,9
    expectAll(await receive(rx, 6, new PacketBatch(16, 2048)), [0, 1, 3, 4, 8, 9], sizes.slice(0, 6));
  });
});

describe('UdpTransport GRO receive', () => {
  it('splits coalesced receives into one datagram per slot, with their addresses', async () => {
    const rx = transport(4);
    const tx1 = transport(4, '127.0.0.1');
    const tx2 = transport(4, '127.0.0.3');
    const batch = new PacketBatch(64, BIG);
    assert.equal(rx.recvBatch(batch), 0);
    assert.equal(rx.gro, true);
    assert.equal(getsockoptInt(rx.fd, SOL_UDP, UDP_GRO), 1);
    const d = Endpoint.parse('127.0.0.2', rx.localPort);
    // tx1: a run of 10 x 1200 + 700, one of 1300, a run of 5 x 90; tx2: a run of 20 x 1000 + 999.
    const sizes1 = [...Array.from({ length: 10 }, () => 1200), 700, 1300, 90, 90, 90, 90, 90];
    const sizes2 = [...Array.from({ length: 20 }, () => 1000), 999];
    const o1 = outgoing(sizes1);
    const o2 = outgoing(sizes2, 100);
    assert.equal(
      tx1.sendBatch(
        o1.batch,
        o1.slots,
        sizes1.map(() => d),
        [],
        0,
        sizes1.length,
      ),
      sizes1.length,
    );
    assert.equal(
      tx2.sendBatch(
        o2.batch,
        o2.slots,
        sizes2.map(() => d),
        [],
        0,
        sizes2.length,
      ),
      sizes2.length,
    );
    const got = await receive(rx, sizes1.length + sizes2.length, batch);
    const tags = [...range(sizes1.length), ...range(sizes2.length, 100)];
    expectAll(got, tags, [...sizes1, ...sizes2]);
    got.forEach((r, j) => {
      assert.equal(
        r.from?.key,
        j < sizes1.length ? `127.0.0.1:${tx1.localPort}` : `127.0.0.3:${tx2.localPort}`,
      );
      assert.deepEqual([r.localFamily, ...r.local], [4, 127, 0, 0, 2]);
      assert.equal(r.ifindex, 1);
    });
    assert.ok(rx.rxGroSplits >= 3, `coalesced receives: ${rx.rxGroSplits}`);
  });

  it('keeps datagrams that do not fit the batch for the next call (IPv6 and IPv4 on dual stack)', async () => {
    const rx = transport(6, undefined, 64);
    const tx6 = transport(6, '::1');
    const tx4 = transport(4, '127.0.0.1');
    const batch = new PacketBatch(8, BIG);
    rx.recvBatch(batch);
    assert.equal(rx.gro, true);
    const sizes = [...Array.from({ length: 46 }, () => 1400), ...Array.from({ length: 30 }, () => 333), 20];
    const o = outgoing(sizes);
    const d6 = Endpoint.parse('::1', rx.localPort);
    const d4 = Endpoint.parse('127.0.0.1', rx.localPort);
    assert.equal(
      tx6.sendBatch(
        o.batch,
        o.slots,
        sizes.map(() => d6),
        [],
        0,
        sizes.length,
      ),
      sizes.length,
    );
    assert.equal(
      tx4.sendBatch(
        o.batch,
        o.slots,
        sizes.map(() => d4),
        [],
        0,
        sizes.length,
      ),
      sizes.length,
    );
    const got = await receive(rx, 2 * sizes.length, batch);
    expectAll(got, [...range(sizes.length), ...range(sizes.length)], [...sizes, ...sizes]);
    got.forEach((r, j) => {
      if (j < sizes.length) {
        assert.equal(r.from?.key, `[::1]:${tx6.localPort}`);
        assert.equal(r.localFamily, 6);
      } else {
        assert.equal(r.from?.key, `127.0.0.1:${tx4.localPort}`);
        assert.deepEqual([r.localFamily, ...r.local], [4, 127, 0, 0, 1]);
      }
    });
    assert.ok(rx.rxGroSplits >= 2);
  });

  it('a batch smaller than a coalesced run: every slot size and batch size combination', async () => {
    const tx = transport(4, '127.0.0.1', 128);
    for (const size of [1, 3, 7, 64]) {
      const rx = transport(4, '127.0.0.1', 64);
      const batch = new PacketBatch(size, BIG);
      rx.recvBatch(batch);
      const sizes = [...Array.from({ length: 100 }, () => 500), 499, 77, 77];
      const o = outgoing(sizes);
      const d = Endpoint.parse('127.0.0.1', rx.localPort);
      assert.equal(
        tx.sendBatch(
          o.batch,
          o.slots,
          sizes.map(() => d),
          [],
          0,
          sizes.length,
        ),
        sizes.length,
      );
      expectAll(await receive(rx, sizes.length, batch), range(sizes.length), sizes);
      assert.equal(rx.recvBatch(batch), 0, `batch of ${size}: nothing left over`);
    }
  });

  it('is on only while the batch slots hold 64 KiB, and off with gro: false', async () => {
    const rx = transport(4, '127.0.0.1');
    const tx = transport(4, '127.0.0.1');
    const d = Endpoint.parse('127.0.0.1', rx.localPort);
    const small = new PacketBatch(64, 2048);
    const big = new PacketBatch(64, BIG);
    const sizes = Array.from({ length: 30 }, () => 1000);
    const o = outgoing(sizes);
    const dests = sizes.map(() => d);
    for (const [batch, on] of [
      [small, false],
      [big, true],
      [small, false],
    ] as const) {
      assert.equal(rx.recvBatch(batch), 0);
      assert.equal(rx.gro, on);
      const splits = rx.rxGroSplits;
      assert.equal(tx.sendBatch(o.batch, o.slots, dests, [], 0, 30), 30);
      expectAll(await receive(rx, 30, batch), range(30), sizes);
      assert.equal(rx.rxGroSplits > splits, on);
    }
    const off = transport(4, '127.0.0.1', 64, { gro: false });
    off.recvBatch(big);
    assert.equal(off.gro, false);
    assert.equal(getsockoptInt(off.fd, SOL_UDP, UDP_GRO), 0);
  });

  it('onReadable calls back again while split datagrams wait in the transport', async () => {
    const rx = transport(4, '127.0.0.1');
    const tx = transport(4, '127.0.0.1', 128);
    const batch = new PacketBatch(8, BIG);
    rx.recvBatch(batch);
    const sizes = Array.from({ length: 3 * 46 }, () => 1400);
    const tags: number[] = [];
    const done = new Promise<void>((resolve) => {
      rx.onReadable(() => {
        // One batch per callback, as a fair owner would do under load.
        const n = rx.recvBatch(batch);
        for (let i = 0; i < n; i++) tags.push(batch.mem.buf.readUInt16BE(batch.offs[i]));
        if (tags.length >= sizes.length) resolve();
      });
    });
    const o = outgoing(sizes);
    const d = Endpoint.parse('127.0.0.1', rx.localPort);
    assert.equal(
      tx.sendBatch(
        o.batch,
        o.slots,
        sizes.map(() => d),
        [],
        0,
        sizes.length,
      ),
      sizes.length,
    );
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<void>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`only ${tags.length} datagrams came`)), 2000);
    });
    try {
      await Promise.race([done, timeout]);
    } finally {
      clearTimeout(timer);
      rx.close();
    }
    assert.deepEqual(tags, range(sizes.length));
  });
});
