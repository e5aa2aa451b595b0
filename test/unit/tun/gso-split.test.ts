/**
 * Splitting what an IFF_VNET_HDR TUN read returns: synthetic TSO (IPv4, IPv6) and USO super-packets
 * built here with the virtio header the kernel writes, split into a batch, and every segment checked
 * on its own (IP length/ID/checksum, TCP sequence/flags/checksum, UDP length/checksum, payload bytes,
 * placement in its slot); partial checksums completed; the remainder kept pending when the batch is
 * short; malformed reads dropped.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { PacketBatch } from '../../../src/batch/packet-batch.js';
import { GsoSplitter } from '../../../src/tun/gso-split.js';
import {
  VIRTIO_NET_HDR_F_NEEDS_CSUM,
  VIRTIO_NET_HDR_GSO_TCPV4,
  VIRTIO_NET_HDR_GSO_TCPV6,
  VIRTIO_NET_HDR_GSO_UDP,
  VIRTIO_NET_HDR_GSO_UDP_L4,
  VIRTIO_NET_HDR_LEN,
  writeVirtioNetHdr,
} from '../../../src/tun/virtio-hdr.js';
import { l4ChecksumOk, pseudo, sum16 } from '../../support/inet-checksum.js';

// Reference packet arithmetic, independent of src/tun/checksum.ts: test/support/inet-checksum.ts.

const TCP_FIN = 0x01;
const TCP_PSH = 0x08;
const TCP_ACK = 0x10;
const TCP_CWR = 0x80;

interface Spec {
  v6?: boolean;
  proto?: 6 | 17;
  seq?: number;
  flags?: number;
  options?: Buffer;
  payload: Buffer;
  id?: number;
}

/** An IPv4/IPv6 TCP or UDP packet with valid checksums. */
function packet(spec: Spec): Buffer {
  const v6 = spec.v6 ?? false;
  const proto = spec.proto ?? 6;
  const ipLen = v6 ? 40 : 20;
  const opts = spec.options ?? Buffer.alloc(0);
  const l4HdrLen = proto === 6 ? 20 + opts.length : 8;
  const p = Buffer.alloc(ipLen + l4HdrLen + spec.payload.length);
  if (v6) {
    p.writeUInt32BE(0x60012345, 0);
    p.writeUInt16BE(p.length - 40, 4);
    p[6] = proto;
    p[7] = 64;
    Buffer.from('fd550000000000000000000000000002', 'hex').copy(p, 8);
    Buffer.from('fd550000000000000000000000000001', 'hex').copy(p, 24);
  } else {
    p[0] = 0x45;
    p.writeUInt16BE(p.length, 2);
    p.writeUInt16BE(spec.id ?? 0x1234, 4);
    p[6] = 0x40; // DF
    p[8] = 64;
    p[9] = proto;
    Buffer.from([5, 5, 5, 2, 5, 5, 5, 1]).copy(p, 12);
    p.writeUInt16BE(~sum16(p, 0, 20) & 0xffff, 10);
  }
  const l4 = ipLen;
  p.writeUInt16BE(40000, l4);
  p.writeUInt16BE(5201, l4 + 2);
  if (proto === 6) {
    p.writeUInt32BE(spec.seq ?? 1000, l4 + 4);
    p.writeUInt32BE(0xabcdef01, l4 + 8);
    p[l4 + 12] = (l4HdrLen / 4) << 4;
    p[l4 + 13] = spec.flags ?? TCP_ACK;
    p.writeUInt16BE(502, l4 + 14);
    opts.copy(p, l4 + 20);
  } else p.writeUInt16BE(p.length - ipLen, l4 + 4);
  spec.payload.copy(p, l4 + l4HdrLen);
  const at = l4 + (proto === 6 ? 16 : 6);
  const c = ~sum16(p, l4, p.length, pseudo(p, proto, p.length - l4)) & 0xffff;
  p.writeUInt16BE(proto === 17 && c === 0 ? 0xffff : c, at);
  return p;
}

function payloadOf(n: number, seed = 1): Buffer {
  const b = Buffer.alloc(n);
  for (let i = 0; i < n; i++) b[i] = (i * 31 + seed * 7 + (i >> 8)) & 0xff;
  return b;
}

const TIMESTAMPS = Buffer.from('0101080a0001e24000abcdef', 'hex');

/**
 * What the kernel reads out: a virtio header and the super-packet with a partial L4 checksum (the
 * pseudo-header sum for the whole length in the checksum field), as CHECKSUM_PARTIAL leaves it.
 */
function superPacket(p: Buffer, gsoType: number, gsoSize: number, hdrLen = p.length): Buffer {
  const v6 = p[0] >> 4 === 6;
  const ipLen = v6 ? 40 : 20;
  const proto = v6 ? p[6] : p[9];
  const at = ipLen + (proto === 6 ? 16 : 6);
  const q = Buffer.from(p);
  q.writeUInt16BE(sum16(Buffer.alloc(0), 0, 0, pseudo(q, proto, q.length - ipLen)), at);
  const out = Buffer.alloc(VIRTIO_NET_HDR_LEN + q.length);
  writeVirtioNetHdr(out, 0, VIRTIO_NET_HDR_F_NEEDS_CSUM, gsoType, hdrLen, gsoSize, ipLen, at - ipLen);
  q.copy(out, VIRTIO_NET_HDR_LEN);
  return out;
}

function load(split: GsoSplitter, read: Buffer): number {
  read.copy(split.staging.buf, split.readOffset);
  return split.accept(read.length);
}

function slotPacket(batch: PacketBatch, i: number): Buffer {
  return Buffer.from(batch.mem.buf.subarray(batch.offs[i], batch.offs[i] + batch.lens[i]));
}

function checkPlacement(batch: PacketBatch, i: number): void {
  assert.ok(batch.offs[i] >= batch.slotStart(i) + 24, `slot ${i} leaves room for the DATA_V2 header`);
  assert.ok(
    batch.offs[i] + batch.lens[i] <= batch.slotStart(i) + batch.slotSize,
    `slot ${i} stays in its slot`,
  );
}

describe('GsoSplitter: TCP segmentation', () => {
  for (const v6 of [false, true]) {
    it(`splits a TSO${v6 ? '6' : '4'} super-packet into MSS-sized, valid segments`, () => {
      const mss = 1388;
      const data = payloadOf(3 * mss + 836);
      const seq0 = 0xfffff000; // wraps inside the burst
      const orig = packet({
        v6,
        seq: seq0,
        flags: TCP_ACK | TCP_PSH | TCP_FIN | TCP_CWR,
        options: TIMESTAMPS,
        payload: data,
        id: 0xfffe,
      });
      const split = new GsoSplitter();
      const batch = new PacketBatch(8, 2048);
      assert.equal(
        load(split, superPacket(orig, v6 ? VIRTIO_NET_HDR_GSO_TCPV6 : VIRTIO_NET_HDR_GSO_TCPV4, mss)),
        4,
      );
      assert.equal(split.emit(batch, 0), 4);
      assert.equal(split.pending, false);
      const hdrLen = (v6 ? 40 : 20) + 32;
      for (let i = 0; i < 4; i++) {
        const seg = slotPacket(batch, i);
        checkPlacement(batch, i);
        const size = i < 3 ? mss : 836;
        assert.equal(seg.length, hdrLen + size);
        if (v6) {
          assert.equal(seg.readUInt16BE(4), seg.length - 40);
          assert.ok(seg.subarray(0, 4).equals(orig.subarray(0, 4)));
        } else {
          assert.equal(seg.readUInt16BE(2), seg.length);
          assert.equal(seg.readUInt16BE(4), (0xfffe + i) & 0xffff, 'IPv4 ID + 1 per segment');
          assert.equal(sum16(seg, 0, 20), 0xffff, 'IPv4 header checksum');
        }
        const t = v6 ? 40 : 20;
        assert.equal(seg.readUInt32BE(t + 4), (seq0 + i * mss) >>> 0);
        const flags = seg[t + 13];
        assert.equal((flags & (TCP_FIN | TCP_PSH)) !== 0, i === 3, `FIN/PSH only on the last (${i})`);
        assert.equal((flags & TCP_CWR) !== 0, i === 0, `CWR only on the first (${i})`);
        assert.equal(flags & TCP_ACK, TCP_ACK);
        assert.ok(seg.subarray(t + 20, t + 32).equals(TIMESTAMPS), 'options copied');
        assert.ok(seg.subarray(hdrLen).equals(data.subarray(i * mss, i * mss + size)), 'payload');
        assert.ok(l4ChecksumOk(seg), `TCP checksum of segment ${i}`);
      }
      assert.deepEqual(
        { ...split.stats },
        { packets: 1, superPackets: 1, segments: 4, csumCompleted: 0, dropped: 0 },
      );
    });
  }

  it('ignores a wrong hdr_len from the kernel and uses csum_start + the TCP header', () => {
    const orig = packet({ payload: payloadOf(3000), options: TIMESTAMPS });
    const split = new GsoSplitter();
    const batch = new PacketBatch(4, 2048);
    assert.equal(load(split, superPacket(orig, VIRTIO_NET_HDR_GSO_TCPV4, 1400, 1452)), 3);
    assert.equal(split.emit(batch, 0), 3);
    for (let i = 0; i < 3; i++) assert.ok(l4ChecksumOk(slotPacket(batch, i)));
    assert.equal(batch.lens[0], 52 + 1400);
  });

  for (const v6 of [false, true])
    it(`finds the TCP header from the IPv${v6 ? 6 : 4} header when NEEDS_CSUM is missing`, () => {
      const orig = packet({ v6, payload: payloadOf(2500), options: TIMESTAMPS });
      const read = superPacket(orig, v6 ? VIRTIO_NET_HDR_GSO_TCPV6 : VIRTIO_NET_HDR_GSO_TCPV4, 1300);
      writeVirtioNetHdr(read, 0, 2 /* DATA_VALID */, read[1], 0, 1300, 0, 0);
      const split = new GsoSplitter();
      const batch = new PacketBatch(2, 2048);
      assert.equal(load(split, read), 2);
      assert.equal(split.emit(batch, 0), 2);
      for (let i = 0; i < 2; i++) assert.ok(l4ChecksumOk(slotPacket(batch, i)));
    });

  it('keeps the remainder pending when the batch is short, and delivers it first next time', () => {
    const mss = 1000;
    const data = payloadOf(5 * mss);
    const orig = packet({ payload: data, seq: 7, flags: TCP_ACK | TCP_PSH });
    const split = new GsoSplitter();
    const batch = new PacketBatch(4, 2048);
    assert.equal(load(split, superPacket(orig, VIRTIO_NET_HDR_GSO_TCPV4, mss)), 5);
    assert.equal(split.emit(batch, 1), 3, 'slots 1..3');
    assert.ok(split.pending);
    assert.equal(split.pendingCount, 2);
    const got = [1, 2, 3].map((i) => slotPacket(batch, i));
    batch.reset();
    assert.equal(split.emit(batch, 0), 2);
    assert.equal(split.pending, false);
    got.push(slotPacket(batch, 0), slotPacket(batch, 1));
    got.forEach((seg, i) => {
      assert.equal(seg.readUInt32BE(24), 7 + i * mss);
      assert.equal(seg.readUInt16BE(4), (0x1234 + i) & 0xffff);
      assert.equal((seg[33] & TCP_PSH) !== 0, i === 4);
      assert.ok(seg.subarray(40).equals(data.subarray(i * mss, (i + 1) * mss)));
      assert.ok(l4ChecksumOk(seg));
    });
    assert.equal(split.emit(batch, 2), 0, 'nothing left');
  });
});

describe('GsoSplitter: UDP segmentation (USO)', () => {
  for (const v6 of [false, true]) {
    it(`splits a UDP${v6 ? '6' : '4'} super-packet into datagrams with their own length and checksum`, () => {
      const size = 1200;
      const data = payloadOf(2 * size + 17, 3);
      const orig = packet({ v6, proto: 17, payload: data });
      const split = new GsoSplitter();
      const batch = new PacketBatch(4, 2048);
      assert.equal(load(split, superPacket(orig, VIRTIO_NET_HDR_GSO_UDP_L4, size)), 3);
      assert.equal(split.emit(batch, 0), 3);
      const ipLen = v6 ? 40 : 20;
      for (let i = 0; i < 3; i++) {
        const seg = slotPacket(batch, i);
        const n = i < 2 ? size : 17;
        assert.equal(seg.length, ipLen + 8 + n);
        assert.equal(seg.readUInt16BE(ipLen + 4), 8 + n, 'UDP length');
        if (!v6) assert.equal(sum16(seg, 0, 20), 0xffff);
        else assert.equal(seg.readUInt16BE(4), 8 + n);
        assert.ok(seg.subarray(ipLen + 8).equals(data.subarray(i * size, i * size + n)));
        assert.notEqual(seg.readUInt16BE(ipLen + 6), 0, 'a UDP checksum is always sent');
        assert.ok(l4ChecksumOk(seg), `UDP checksum of datagram ${i}`);
      }
    });
  }
});

describe('GsoSplitter: plain packets', () => {
  it('copies a packet without flags unchanged', () => {
    const orig = packet({ payload: payloadOf(333) });
    const read = Buffer.concat([Buffer.alloc(VIRTIO_NET_HDR_LEN), orig]);
    const split = new GsoSplitter();
    const batch = new PacketBatch(2, 2048);
    assert.equal(load(split, read), 1);
    assert.equal(split.emit(batch, 1), 1);
    assert.ok(slotPacket(batch, 1).equals(orig));
    checkPlacement(batch, 1);
    assert.equal(split.pending, false);
  });

  for (const v6 of [false, true])
    for (const proto of [6, 17] as const)
      it(`completes a partial ${proto === 6 ? 'TCP' : 'UDP'}/IPv${v6 ? 6 : 4} checksum (NEEDS_CSUM without GSO)`, () => {
        const orig = packet({ v6, proto, payload: payloadOf(1201, 9) });
        const read = superPacket(orig, 0, 0);
        const split = new GsoSplitter();
        const batch = new PacketBatch(1, 2048);
        assert.equal(load(split, read), 1);
        assert.equal(split.emit(batch, 0), 1);
        const got = slotPacket(batch, 0);
        assert.ok(l4ChecksumOk(got));
        assert.ok(got.equals(orig), 'identical to the fully checksummed packet');
        assert.equal(split.stats.csumCompleted, 1);
      });

  it('delivers nothing into a full batch and keeps the packet for the next call', () => {
    const orig = packet({ payload: payloadOf(10) });
    const split = new GsoSplitter();
    const batch = new PacketBatch(1, 2048);
    assert.equal(load(split, Buffer.concat([Buffer.alloc(VIRTIO_NET_HDR_LEN), orig])), 1);
    assert.equal(split.emit(batch, 1), 0);
    assert.ok(split.pending);
    assert.equal(split.emit(batch, 0), 1);
    assert.ok(slotPacket(batch, 0).equals(orig));
  });
});

describe('GsoSplitter: malformed reads', () => {
  it('drops unsupported GSO types, bad csum_start, bad checksum offsets, oversized segments', () => {
    const orig = packet({ payload: payloadOf(3000) });
    const split = new GsoSplitter();
    const batch = new PacketBatch(4, 2048);
    // UFO, never offered.
    assert.equal(load(split, superPacket(orig, VIRTIO_NET_HDR_GSO_UDP, 1400)), 0);
    // TCPV6 on an IPv4 packet.
    assert.equal(load(split, superPacket(orig, VIRTIO_NET_HDR_GSO_TCPV6, 1400)), 0);
    // csum_start not at the end of the IPv4 header.
    const bad = superPacket(orig, VIRTIO_NET_HDR_GSO_TCPV4, 1400);
    bad.writeUInt16LE(24, 6);
    assert.equal(load(split, bad), 0);
    // gso_size 0.
    assert.equal(load(split, superPacket(orig, VIRTIO_NET_HDR_GSO_TCPV4, 0)), 0);
    // Partial checksum beyond the end.
    const plain = superPacket(packet({ payload: payloadOf(20) }), 0, 0);
    plain.writeUInt16LE(60, 8);
    assert.equal(load(split, plain), 0);
    // Too short for a virtio header.
    assert.equal(split.accept(5), 0);
    assert.equal(split.stats.dropped, 6);
    // Segments larger than the batch's slots: the read is dropped at emit time.
    const small = new PacketBatch(4, 512);
    assert.equal(load(split, superPacket(orig, VIRTIO_NET_HDR_GSO_TCPV4, 1400)), 3);
    assert.equal(split.emit(small, 0), 0);
    assert.equal(split.pending, false);
    assert.equal(split.stats.dropped, 7);
    assert.equal(batch.count, 0);
  });
});
