/**
 * The internet checksum helpers against a plain byte-pair reference: every alignment of start and
 * length (the word loop has head and tail byte paths), pooled and pinned Buffers, copying while summing
 * with source and destination at every relative alignment, and the pseudo-header sums.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { allocPinned } from '../../../src/sys/address.js';
import {
  addressSum,
  checksum,
  copyAndSum,
  copyBytes,
  fold,
  onesSum,
  pseudoSum4,
  pseudoSum6,
} from '../../../src/tun/checksum.js';

/** Reference: 16-bit big-endian words, odd last byte padded, end-around carry, not inverted. */
function refSum(b: Buffer, start: number, len: number, initial = 0): number {
  let s = initial;
  for (let i = 0; i < len; i += 2) s += (b[start + i] << 8) | (i + 1 < len ? b[start + i + 1] : 0);
  while (s > 0xffff) s = (s & 0xffff) + Math.floor(s / 65536);
  return s;
}

/** Deterministic pseudo-random bytes. */
function fill(b: Buffer, seed: number): void {
  let x = seed >>> 0 || 1;
  for (let i = 0; i < b.length; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    b[i] = x & 0xff;
  }
}

const LENGTHS = [0, 1, 2, 3, 4, 5, 7, 8, 31, 32, 33, 63, 64, 65, 99, 100, 1399, 1400, 1401, 9000];

describe('onesSum / checksum', () => {
  it('matches the reference at every start alignment and length', () => {
    const pinned = allocPinned(12000).buf;
    const pooled = Buffer.from(Buffer.alloc(12003).fill(1)).subarray(3); // odd byteOffset in a pool
    for (const b of [pinned, pooled]) {
      fill(b, b.length);
      for (let start = 0; start < 8; start++)
        for (const len of LENGTHS)
          for (const initial of [0, 1, 0xffff, 0x12345])
            assert.equal(onesSum(b, start, len, initial), refSum(b, start, len, initial), `${start}+${len}`);
    }
  });

  it('handles all-ones data and 64 KiB without losing carries', () => {
    const b = allocPinned(65536 + 8).buf;
    b.fill(0xff);
    assert.equal(onesSum(b, 1, 65535), refSum(b, 1, 65535));
    fill(b, 7);
    assert.equal(onesSum(b, 3, 65535), refSum(b, 3, 65535));
  });

  it('gives the textbook IPv4 header checksum and verifies to zero', () => {
    const h = Buffer.from('450000730000400040110000c0a80001c0a800c7', 'hex');
    assert.equal(checksum(h, 0, 20), 0xb861);
    h.writeUInt16BE(0xb861, 10);
    assert.equal(checksum(h, 0, 20), 0);
  });

  it('folds sums far above 32 bits', () => {
    assert.equal(fold(0), 0);
    assert.equal(fold(0xffff), 0xffff);
    assert.equal(fold(0x10000), 1);
    const big = 0xffff * 2 ** 30 + 12345;
    let s = big;
    while (s > 0xffff) s = (s % 65536) + Math.floor(s / 65536);
    assert.equal(fold(big), s);
  });
});

describe('copyBytes / copyAndSum', () => {
  const src = allocPinned(4000).buf;
  const dst = allocPinned(4000).buf;
  fill(src, 99);

  it('copy exactly the range at every relative alignment, and sum what they copied', () => {
    for (let so = 0; so < 4; so++)
      for (let d = 0; d < 4; d++)
        for (const len of [0, 1, 3, 8, 31, 32, 33, 40, 41, 1400, 1403]) {
          const s0 = 100 + so;
          const d0 = 200 + d;
          dst.fill(0xee);
          copyBytes(src, s0, dst, d0, len);
          assert.ok(dst.subarray(d0, d0 + len).equals(src.subarray(s0, s0 + len)), `copy ${so}/${d}/${len}`);
          assert.equal(dst[d0 - 1], 0xee);
          assert.equal(dst[d0 + len], 0xee);
          dst.fill(0xee);
          const sum = copyAndSum(src, s0, dst, d0, len, 5);
          assert.ok(
            dst.subarray(d0, d0 + len).equals(src.subarray(s0, s0 + len)),
            `copySum ${so}/${d}/${len}`,
          );
          assert.equal(dst[d0 - 1], 0xee);
          assert.equal(dst[d0 + len], 0xee);
          assert.equal(sum, refSum(src, s0, len, 5), `sum ${so}/${d}/${len}`);
        }
  });

  it('work between a pooled Buffer and a pinned one', () => {
    const pooled = Buffer.from(Buffer.alloc(3001)).subarray(1);
    fill(pooled, 3);
    const sum = copyAndSum(pooled, 5, dst, 7, 2000);
    assert.ok(dst.subarray(7, 2007).equals(pooled.subarray(5, 2005)));
    assert.equal(sum, refSum(pooled, 5, 2000));
  });
});

describe('pseudo-header sums', () => {
  it('IPv4: addresses, protocol and length', () => {
    const ip = Buffer.alloc(20);
    Buffer.from([10, 1, 2, 3, 192, 168, 7, 9]).copy(ip, 12);
    const want = 0x0a01 + 0x0203 + 0xc0a8 + 0x0709 + 6 + 1234;
    assert.equal(pseudoSum4(ip, 0, 6, 1234), want);
    assert.equal(addressSum(ip, 0, false) + 6 + 1234, want);
  });

  it('IPv6: addresses, 32-bit length and next header', () => {
    const ip = Buffer.alloc(44);
    for (let i = 0; i < 32; i++) ip[4 + 8 + i] = i * 7 + 1;
    let want = 17 + 1 + 0x2345;
    for (let i = 0; i < 32; i += 2) want += (ip[12 + i] << 8) | ip[13 + i];
    assert.equal(pseudoSum6(ip, 4, 17, 0x12345), want);
    assert.equal(addressSum(ip, 4, true), want - 17 - 1 - 0x2345);
  });
});
