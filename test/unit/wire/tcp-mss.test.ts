/**
 * MSS clamping (wire/tcp-mss.ts) against OpenVPN's mssfix rules: SYNs only, whole IPv4 packets only,
 * IPv6 without extension headers and 20 bytes lower, every larger MSS option lowered, the checksum
 * still valid (checked by an independent full computation), nothing else touched.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { clampMss } from '../../../src/wire/tcp-mss.js';
import { l4ChecksumOk, pseudo, sum16 } from '../../support/inet-checksum.js';

const SYN = 0x02;
const ACK = 0x10;

/** TCP options: MSS `mss`, then NOP, NOP, SACK-permitted... as a Linux SYN carries them. */
function options(mss: number | undefined): Buffer {
  const parts: number[] = [];
  if (mss !== undefined) parts.push(2, 4, mss >> 8, mss & 255);
  parts.push(4, 2, 8, 10, 0, 0, 0, 1, 0, 0, 0, 0, 1, 3, 3, 7);
  while (parts.length % 4 !== 0) parts.push(0);
  return Buffer.from(parts);
}

function tcpSegment(flags: number, opts: Buffer, payload = 0): Buffer {
  const hlen = 20 + opts.length;
  const t = Buffer.alloc(hlen + payload, 0x5a);
  t.writeUInt16BE(40000, 0);
  t.writeUInt16BE(443, 2);
  t.writeUInt32BE(1, 4);
  t.writeUInt32BE(0, 8);
  t[12] = (hlen / 4) << 4;
  t[13] = flags;
  t.writeUInt16BE(64240, 14);
  t.writeUInt16BE(0, 16);
  t.writeUInt16BE(0, 18);
  opts.copy(t, 20);
  return t;
}

function withChecksum(p: Buffer, ipLen: number): Buffer {
  const l4 = p.length - ipLen;
  p.writeUInt16BE(0, ipLen + 16);
  p.writeUInt16BE(~sum16(p, ipLen, p.length, pseudo(p, 6, l4)) & 0xffff, ipLen + 16);
  return p;
}

function ipv4(seg: Buffer, fragOff = 0): Buffer {
  const p = Buffer.alloc(20 + seg.length);
  p[0] = 0x45;
  p.writeUInt16BE(p.length, 2);
  p.writeUInt16BE(fragOff, 6);
  p[8] = 64;
  p[9] = 6;
  Buffer.from([10, 0, 0, 1, 10, 0, 0, 2]).copy(p, 12);
  seg.copy(p, 20);
  return withChecksum(p, 20);
}

function ipv6(seg: Buffer, next = 6): Buffer {
  const p = Buffer.alloc(40 + seg.length);
  p[0] = 0x60;
  p.writeUInt16BE(seg.length, 4);
  p[6] = next;
  p[7] = 64;
  p[8] = 0xfd;
  p[23] = 1;
  p[24] = 0xfd;
  p[39] = 2;
  seg.copy(p, 40);
  return withChecksum(p, 40);
}

const mssOf = (p: Buffer, ipLen: number) => p.readUInt16BE(ipLen + 22);

describe('clampMss', () => {
  it('lowers the MSS of an IPv4 SYN and of a SYN-ACK, keeping the checksum valid', () => {
    for (const flags of [SYN, SYN | ACK]) {
      const p = ipv4(tcpSegment(flags, options(1460)));
      const before = Buffer.from(p);
      assert.equal(clampMss(p, 0, p.length, 4, 1360), true);
      assert.equal(mssOf(p, 20), 1360);
      assert.ok(l4ChecksumOk(p));
      // only the MSS and the checksum changed
      const diff = [...p.keys()].filter((i) => p[i] !== before[i]);
      assert.deepEqual(
        diff.filter((i) => i !== 42 && i !== 43 && i !== 36 && i !== 37),
        [],
      );
    }
  });

  it('IPv6: the maximum is 20 bytes lower', () => {
    const p = ipv6(tcpSegment(SYN, options(1440)));
    assert.equal(clampMss(p, 0, p.length, 6, 1360), true);
    assert.equal(mssOf(p, 40), 1340);
    assert.ok(l4ChecksumOk(p));
  });

  it('leaves a smaller MSS, non-SYN segments, fragments, other protocols and extension headers alone', () => {
    const cases: [Buffer, 4 | 6][] = [
      [ipv4(tcpSegment(SYN, options(1200))), 4],
      [ipv4(tcpSegment(ACK, options(1460), 100)), 4],
      [ipv4(tcpSegment(SYN, options(1460)), 0x2000), 4], // the more-fragments flag, offset 0
      [ipv4(tcpSegment(SYN, options(1460)), 0x0010), 4], // a later fragment
      [ipv4(tcpSegment(SYN, options(undefined))), 4],
      [ipv6(tcpSegment(SYN, options(1460)), 0), 6], // hop-by-hop header first
    ];
    const changed = cases.map(([p, v]) => {
      const before = Buffer.from(p);
      const r = clampMss(p, 0, p.length, v, 1360);
      return r || !p.equals(before);
    });
    // the "more fragments" flag alone does not make a fragment (offset 0): OpenVPN checks the offset only
    assert.deepEqual(changed, [false, false, true, false, false, false]);
  });

  it('a UDP packet and a truncated IPv4 length are not touched', () => {
    const p = ipv4(tcpSegment(SYN, options(1460)));
    p[9] = 17;
    assert.equal(clampMss(p, 0, p.length, 4, 1000), false);
    const q = ipv4(tcpSegment(SYN, options(1460)));
    assert.equal(clampMss(q, 0, q.length - 4, 4, 1000), false);
  });

  it('hostile options never read past the header: zero lengths, a length past the end, a lone kind byte', () => {
    for (const bad of [
      Buffer.from([3, 0, 2, 4, 5, 180, 0, 0]),
      Buffer.from([2, 40, 5, 180, 1, 1, 1, 1]),
      Buffer.from([1, 1, 1, 1, 1, 1, 1, 2]),
    ]) {
      const p = ipv4(tcpSegment(SYN, bad));
      const before = Buffer.from(p);
      assert.equal(clampMss(p, 0, p.length, 4, 500), false);
      assert.ok(p.equals(before));
    }
  });

  it('works at an offset inside a larger buffer', () => {
    const p = ipv4(tcpSegment(SYN, options(9000)));
    const b = Buffer.concat([Buffer.alloc(64, 7), p, Buffer.alloc(10, 7)]);
    assert.equal(clampMss(b, 64, p.length, 4, 1400), true);
    assert.equal(b.readUInt16BE(64 + 42), 1400);
    assert.ok(l4ChecksumOk(b.subarray(64, 64 + p.length)));
    assert.ok(b.subarray(0, 64).equals(Buffer.alloc(64, 7)));
  });
});
