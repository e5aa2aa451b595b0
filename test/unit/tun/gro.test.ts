/**
 * TCP coalescing for TUN writes: consecutive segments of a flow become one super-packet (checked as
 * the kernel would see it: virtio header, IP length/checksum, the partial TCP checksum completed to a
 * valid one, the payloads in order); what must not merge stays apart (other flows, ACK/window/option
 * changes, gaps, SYN/FIN/RST, IPv4 options, fragments, bad checksums, size limit); the write order keeps
 * every flow in order; and a TSO super-packet split by GsoSplitter coalesces back to the original.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { PacketBatch } from '../../../src/batch/packet-batch.js';
import { GRO_MAX_PACKET, GRO_MAX_SEGMENTS, TcpGro } from '../../../src/tun/gro.js';
import { GsoSplitter } from '../../../src/tun/gso-split.js';
import {
  VIRTIO_NET_HDR_F_NEEDS_CSUM,
  VIRTIO_NET_HDR_GSO_TCPV4,
  VIRTIO_NET_HDR_GSO_TCPV6,
  VIRTIO_NET_HDR_LEN,
  VirtioNetHdr,
  writeVirtioNetHdr,
} from '../../../src/tun/virtio-hdr.js';
import { l4ChecksumOk, pseudo, sum16 } from '../../support/inet-checksum.js';

// Reference packet arithmetic, independent of src/tun/checksum.ts.
const tcpChecksumOk = l4ChecksumOk;

const TCP_FIN = 0x01;
const TCP_SYN = 0x02;
const TCP_PSH = 0x08;
const TCP_ACK = 0x10;

interface Seg {
  v6?: boolean;
  sport?: number;
  seq: number;
  len: number;
  flags?: number;
  ack?: number;
  window?: number;
  tsval?: number;
  ipOptions?: boolean;
  frag?: number;
  ttl?: number;
  proto?: number;
}

/** A TCP/IPv4 or IPv6 segment with timestamps and valid checksums; payload bytes derive from seq. */
function seg(s: Seg): Buffer {
  const v6 = s.v6 ?? false;
  const ipLen = v6 ? 40 : s.ipOptions ? 24 : 20;
  const p = Buffer.alloc(ipLen + 32 + s.len);
  if (v6) {
    p.writeUInt32BE(0x60000000, 0);
    p.writeUInt16BE(p.length - 40, 4);
    p[6] = s.proto ?? 6;
    p[7] = s.ttl ?? 64;
    Buffer.from('fd550000000000000000000000000001', 'hex').copy(p, 8);
    Buffer.from('fd550000000000000000000000000002', 'hex').copy(p, 24);
  } else {
    p[0] = 0x40 | (ipLen / 4);
    p.writeUInt16BE(p.length, 2);
    p.writeUInt16BE(s.seq & 0xffff, 4);
    p.writeUInt16BE(s.frag ?? 0x4000, 6);
    p[8] = s.ttl ?? 64;
    p[9] = s.proto ?? 6;
    Buffer.from([5, 5, 5, 1, 5, 5, 5, 2]).copy(p, 12);
    if (s.ipOptions) p.writeUInt32BE(0x01010101, 20); // NOPs
    p.writeUInt16BE(~sum16(p, 0, ipLen) & 0xffff, 10);
  }
  const t = ipLen;
  p.writeUInt16BE(s.sport ?? 5201, t);
  p.writeUInt16BE(40000, t + 2);
  p.writeUInt32BE(s.seq >>> 0, t + 4);
  p.writeUInt32BE(s.ack ?? 777, t + 8);
  p[t + 12] = 8 << 4;
  p[t + 13] = s.flags ?? TCP_ACK;
  p.writeUInt16BE(s.window ?? 500, t + 14);
  Buffer.from([1, 1, 8, 10]).copy(p, t + 20);
  p.writeUInt32BE(s.tsval ?? 1000, t + 24);
  p.writeUInt32BE(2000, t + 28);
  for (let i = 0; i < s.len; i++) p[t + 32 + i] = ((s.seq + i) * 13) & 0xff;
  p.writeUInt16BE(~sum16(p, t, p.length, pseudo(p, 6, p.length - t)) & 0xffff, t + 16);
  return p;
}

interface Write {
  hdr: VirtioNetHdr;
  pkt: Buffer;
  count: number;
}

/** Runs the GRO over `pkts` (slot order reversed, to exercise the slot list) and gathers each write. */
function coalesce(pkts: Buffer[], gro = new TcpGro(4)): Write[] {
  const batch = new PacketBatch(pkts.length, 2048);
  const slots = new Uint16Array(pkts.length);
  pkts.forEach((p, i) => {
    const s = pkts.length - 1 - i;
    const off = batch.dataStart(s) + (i % 3); // odd alignments too
    p.copy(batch.mem.buf, off);
    batch.offs[s] = off;
    batch.lens[s] = p.length;
    slots[i] = s;
  });
  const buf = batch.mem.buf;
  const writes = gro.plan(buf, batch.offs, batch.lens, slots, pkts.length);
  const out: Write[] = [];
  const hbuf = Buffer.alloc(VIRTIO_NET_HDR_LEN);
  for (let p = 0; p < pkts.length; p++) {
    if (gro.isMember(p)) continue;
    gro.writeHeader(p, buf, batch.offs, slots, hbuf, 0);
    const s = slots[p];
    const parts = [buf.subarray(batch.offs[s], batch.offs[s] + batch.lens[s])];
    const hl = gro.headerLength(p);
    if (gro.memberCount(p) > 1)
      for (let m = gro.nextMember(p); m >= 0; m = gro.nextMember(m))
        parts.push(buf.subarray(batch.offs[slots[m]] + hl, batch.offs[slots[m]] + batch.lens[slots[m]]));
    const pkt = Buffer.concat(parts);
    assert.equal(pkt.length, gro.writeLength(p, batch.lens, slots));
    out.push({ hdr: new VirtioNetHdr().decode(hbuf, 0), pkt, count: gro.memberCount(p) });
  }
  assert.equal(out.length, writes);
  assert.equal(
    out.reduce((a, w) => a + w.count, 0),
    pkts.length,
    'every input packet is written exactly once',
  );
  return out;
}

/** Completes a NEEDS_CSUM packet the way the kernel would, then checks it like a receiver. */
function assertValidSuper(w: Write, gsoSize: number): void {
  const p = Buffer.from(w.pkt);
  const v6 = p[0] >> 4 === 6;
  const ipLen = v6 ? 40 : 20;
  assert.equal(w.hdr.flags, VIRTIO_NET_HDR_F_NEEDS_CSUM);
  assert.equal(w.hdr.gsoType, v6 ? VIRTIO_NET_HDR_GSO_TCPV6 : VIRTIO_NET_HDR_GSO_TCPV4);
  assert.equal(w.hdr.hdrLen, ipLen + 32);
  assert.equal(w.hdr.gsoSize, gsoSize);
  assert.equal(w.hdr.csumStart, ipLen);
  assert.equal(w.hdr.csumOffset, 16);
  if (v6) assert.equal(p.readUInt16BE(4), p.length - 40);
  else {
    assert.equal(p.readUInt16BE(2), p.length);
    assert.equal(sum16(p, 0, 20), 0xffff, 'IPv4 header checksum');
  }
  const at = ipLen + 16;
  assert.equal(
    p.readUInt16BE(at),
    sum16(p, 0, 0, pseudo(p, 6, p.length - ipLen)),
    'field = pseudo-header sum',
  );
  p.writeUInt16BE(~sum16(p, ipLen, p.length) & 0xffff, at);
  assert.ok(tcpChecksumOk(p), 'completed TCP checksum verifies');
}

/** The payload of a TCP packet with a 32-byte TCP header. */
function payload(p: Buffer): Buffer {
  const ipLen = p[0] >> 4 === 6 ? 40 : (p[0] & 15) * 4;
  return p.subarray(ipLen + 32);
}

describe('TcpGro: merging', () => {
  for (const v6 of [false, true]) {
    it(`merges consecutive IPv${v6 ? 6 : 4} segments into one GSO super-packet`, () => {
      const pkts = [
        seg({ v6, seq: 1000, len: 1000 }),
        seg({ v6, seq: 2000, len: 1000 }),
        seg({ v6, seq: 3000, len: 1000 }),
        seg({ v6, seq: 4000, len: 500, flags: TCP_ACK | TCP_PSH }),
      ];
      const out = coalesce(pkts);
      assert.equal(out.length, 1);
      assert.equal(out[0].count, 4);
      assertValidSuper(out[0], 1000);
      const t = v6 ? 40 : 20;
      assert.equal(out[0].pkt[t + 13], TCP_ACK | TCP_PSH, 'PSH of the last segment');
      assert.equal(out[0].pkt.readUInt32BE(t + 4), 1000);
      assert.ok(payload(out[0].pkt).equals(Buffer.concat(pkts.map(payload))));
    });
  }

  it('writes a lone segment unchanged with a zero virtio header', () => {
    const p = seg({ seq: 5, len: 100 });
    const out = coalesce([p]);
    assert.equal(out.length, 1);
    assert.ok(out[0].pkt.equals(p));
    assert.deepEqual(
      { ...out[0].hdr },
      { flags: 0, gsoType: 0, hdrLen: 0, gsoSize: 0, csumStart: 0, csumOffset: 0 },
    );
  });

  it('ends a super-packet after a shorter segment or a PSH', () => {
    const out = coalesce([
      seg({ seq: 0, len: 1000 }),
      seg({ seq: 1000, len: 600 }),
      seg({ seq: 1600, len: 600 }), // cannot follow a shorter one
      seg({ seq: 2200, len: 600, flags: TCP_ACK | TCP_PSH }),
      seg({ seq: 2800, len: 600 }), // cannot follow a PSH
    ]);
    assert.deepEqual(
      out.map((w) => w.count),
      [2, 2, 1],
    );
    assertValidSuper(out[0], 1000);
    assertValidSuper(out[1], 600);
  });

  it('keeps merged packets within 65535 bytes', () => {
    const pkts = Array.from({ length: 60 }, (_, i) => seg({ seq: i * 1400, len: 1400 }));
    const out = coalesce(pkts, new TcpGro(8));
    // 46 segments of 1400 fit under 65535 with the headers, the other 14 go in a second packet
    assert.deepEqual(
      out.map((w) => w.count),
      [46, 14],
    );
    for (const w of out) {
      assert.ok(w.pkt.length <= GRO_MAX_PACKET);
      if (w.count > 1) assertValidSuper(w, 1400);
    }
    assert.equal(out[0].count, Math.floor((GRO_MAX_PACKET - 52) / 1400));
    assert.ok(Buffer.concat(out.map((w) => payload(w.pkt))).equals(Buffer.concat(pkts.map(payload))));
  });

  it('keeps merged packets within 64 segments', () => {
    const pkts = Array.from({ length: 100 }, (_, i) => seg({ seq: i * 10, len: 10 }));
    const out = coalesce(pkts);
    assert.deepEqual(
      out.map((w) => w.count),
      [GRO_MAX_SEGMENTS, 100 - GRO_MAX_SEGMENTS],
    );
    for (const w of out) assertValidSuper(w, 10);
  });

  it('counts super-packets and merged segments', () => {
    const gro = new TcpGro();
    coalesce([seg({ seq: 0, len: 10 }), seg({ seq: 10, len: 10 }), seg({ seq: 20, len: 10, sport: 1 })], gro);
    assert.deepEqual({ ...gro.stats }, { packets: 3, superPackets: 1, merged: 2, badChecksums: 0 });
  });
});

describe('TcpGro: what stays apart', () => {
  const cases: [string, Seg][] = [
    ['another ACK number', { seq: 1000, len: 1000, ack: 778 }],
    ['another window', { seq: 1000, len: 1000, window: 501 }],
    ['other TCP options (TSval)', { seq: 1000, len: 1000, tsval: 1001 }],
    ['a sequence gap', { seq: 1001, len: 1000 }],
    ['a larger segment', { seq: 1000, len: 1001 }],
    ['another TTL', { seq: 1000, len: 1000, ttl: 63 }],
    ['SYN', { seq: 1000, len: 1000, flags: TCP_SYN | TCP_ACK }],
    ['FIN', { seq: 1000, len: 1000, flags: TCP_FIN | TCP_ACK }],
    ['no payload', { seq: 1000, len: 0 }],
    ['IPv4 options', { seq: 1000, len: 1000, ipOptions: true }],
    ['a first fragment', { seq: 1000, len: 1000, frag: 0x2000 }],
  ];
  for (const [what, second] of cases)
    it(`does not merge ${what}`, () => {
      const out = coalesce([seg({ seq: 0, len: 1000 }), seg(second)]);
      assert.deepEqual(
        out.map((w) => w.count),
        [1, 1],
      );
      assert.equal(out[0].hdr.gsoType, 0);
    });

  it('leaves a segment with a bad checksum alone, in its place', () => {
    const bad = seg({ seq: 1000, len: 1000 });
    bad[60] ^= 1;
    const gro = new TcpGro();
    const out = coalesce(
      [seg({ seq: 0, len: 1000 }), bad, seg({ seq: 2000, len: 1000 }), seg({ seq: 3000, len: 1000 })],
      gro,
    );
    assert.deepEqual(
      out.map((w) => [w.count, w.pkt.readUInt32BE(24)]),
      [
        [1, 0],
        [1, 1000],
        [2, 2000],
      ],
    );
    assert.equal(gro.stats.badChecksums, 1);
    assertValidSuper(out[2], 1000);
  });

  it('does not merge behind a first segment with a bad checksum', () => {
    const bad = seg({ seq: 0, len: 1000 });
    bad[100] ^= 0x80;
    const out = coalesce([bad, seg({ seq: 1000, len: 1000 }), seg({ seq: 2000, len: 1000 })]);
    assert.deepEqual(
      out.map((w) => w.count),
      [1, 2],
    );
    assert.ok(out[0].pkt.equals(bad));
  });

  it('merges corrupt segments too when verification is off', () => {
    const bad = seg({ seq: 1000, len: 1000 });
    bad[60] ^= 1;
    const out = coalesce([seg({ seq: 0, len: 1000 }), bad], new TcpGro(4, { verifyChecksums: false }));
    assert.equal(out.length, 1);
  });
});

describe('TcpGro: ordering', () => {
  it('merges interleaved flows separately and writes everything in first-packet order', () => {
    const udp = Buffer.from(seg({ seq: 0, len: 50, proto: 17 }));
    const a = (i: number) => seg({ seq: i * 100, len: 100 });
    const b = (i: number) => seg({ seq: 5000 + i * 100, len: 100, sport: 6000 });
    const c = (i: number) => seg({ v6: true, seq: i * 100, len: 100 });
    const out = coalesce([a(0), b(0), udp, a(1), c(0), b(1), a(2), c(1)]);
    assert.deepEqual(
      out.map((w) => [w.pkt[0] >> 4, w.count]),
      [
        [4, 3],
        [4, 2],
        [4, 1],
        [6, 2],
      ],
    );
    assert.equal(out[0].pkt.readUInt16BE(20), 5201);
    assert.equal(out[1].pkt.readUInt16BE(20), 6000);
    assert.ok(out[2].pkt.equals(udp));
    for (const w of [out[0], out[1], out[3]]) assertValidSuper(w, 100);
  });

  it('never moves a segment of a flow ahead of an unmergeable packet of the same flow', () => {
    const out = coalesce([
      seg({ seq: 0, len: 100 }),
      seg({ seq: 100, len: 100 }),
      seg({ seq: 200, len: 0, flags: TCP_ACK | TCP_FIN }),
      seg({ seq: 201, len: 100 }),
      seg({ seq: 301, len: 100 }),
    ]);
    assert.deepEqual(
      out.map((w) => [w.count, w.pkt.readUInt32BE(24)]),
      [
        [2, 0],
        [1, 200],
        [2, 201],
      ],
    );
  });

  it('a new ACK number starts a new super-packet after the old one', () => {
    const out = coalesce([
      seg({ seq: 0, len: 100 }),
      seg({ seq: 100, len: 100 }),
      seg({ seq: 200, len: 100, ack: 900 }),
      seg({ seq: 300, len: 100, ack: 900 }),
    ]);
    assert.deepEqual(
      out.map((w) => [w.count, w.pkt.readUInt32BE(28)]),
      [
        [2, 777],
        [2, 900],
      ],
    );
  });
});

describe('GsoSplitter + TcpGro round trip', () => {
  for (const v6 of [false, true])
    it(`splits a TSO${v6 ? '6' : '4'} burst and coalesces it back to the same bytes`, () => {
      const n = 20;
      const orig = seg({ v6, seq: 0x7ffffff0, len: n * 1300, flags: TCP_ACK | TCP_PSH });
      const ipLen = v6 ? 40 : 20;
      const read = Buffer.alloc(VIRTIO_NET_HDR_LEN + orig.length);
      const gso = v6 ? VIRTIO_NET_HDR_GSO_TCPV6 : VIRTIO_NET_HDR_GSO_TCPV4;
      writeVirtioNetHdr(read, 0, VIRTIO_NET_HDR_F_NEEDS_CSUM, gso, ipLen + 32, 1300, ipLen, 16);
      orig.copy(read, VIRTIO_NET_HDR_LEN);
      read.writeUInt16BE(
        sum16(read, 0, 0, pseudo(orig, 6, orig.length - ipLen)),
        VIRTIO_NET_HDR_LEN + ipLen + 16,
      );
      const split = new GsoSplitter();
      read.copy(split.staging.buf, split.readOffset);
      assert.equal(split.accept(read.length), n);
      const batch = new PacketBatch(32, 2048);
      assert.equal(split.emit(batch, 0), n);
      const segs = Array.from({ length: n }, (_, i) =>
        Buffer.from(batch.mem.buf.subarray(batch.offs[i], batch.offs[i] + batch.lens[i])),
      );
      const out = coalesce(segs);
      assert.equal(out.length, 1);
      assertValidSuper(out[0], 1300);
      const merged = Buffer.from(out[0].pkt);
      // Same bytes as the original but for the TCP checksum field (partial) and the IPv4 ID (of segment 0).
      merged.writeUInt16BE(orig.readUInt16BE(ipLen + 16), ipLen + 16);
      assert.ok(merged.equals(orig));
    });
});
