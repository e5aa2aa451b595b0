/**
 * Compression framing without compression (wire/comp-framing.ts), per OpenVPN's stubs: the bytes on
 * the wire for each framing, the round trip, and refusal of compressed or malformed headers.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  CompFraming,
  frameComp,
  framedGrowth,
  unframeComp,
  unframedShrink,
} from '../../../src/wire/comp-framing.js';

const HEAD = 8;

function frame(f: CompFraming, plain: Buffer): Buffer {
  const b = Buffer.alloc(HEAD + plain.length + 4, 0xee);
  plain.copy(b, HEAD);
  const start = frameComp(b, HEAD, plain.length, f);
  return b.subarray(start, start + plain.length + framedGrowth(f, HEAD, start, plain.length));
}

function unframe(f: CompFraming, wire: Buffer): Buffer | undefined {
  const b = Buffer.from(wire);
  const skip = unframeComp(b, 0, b.length, f);
  if (skip < 0) return undefined;
  return b.subarray(skip, skip + b.length - unframedShrink(f, b.length, skip));
}

const IP = Buffer.from([0x45, 0, 0, 20, 1, 2, 3, 4, 5]);

describe('compression framing', () => {
  it('puts exactly OpenVPN’s bytes on the wire', () => {
    assert.deepEqual([...frame(CompFraming.NONE, IP)], [...IP]);
    assert.deepEqual([...frame(CompFraming.COMP_LZO_NO, IP)], [0xfa, ...IP]);
    assert.deepEqual([...frame(CompFraming.COMPRESS_STUB, IP)], [0xfb, ...IP.subarray(1), 0x45]);
    assert.deepEqual([...frame(CompFraming.COMPRESS_STUB_V2, IP)], [...IP]);
    const p = Buffer.from([0x50, 9, 9]);
    assert.deepEqual([...frame(CompFraming.COMPRESS_STUB_V2, p)], [0x50, 0, 0x50, 9, 9]);
    assert.equal(frame(CompFraming.COMP_LZO_NO, Buffer.alloc(0)).length, 0);
  });

  it('round-trips every framing, keepalive-sized and large', () => {
    for (const f of [1, 2, 3] as CompFraming[]) {
      for (const p of [IP, Buffer.alloc(16, 0x2a), Buffer.alloc(1400, 0x60), Buffer.from([0x50, 1])]) {
        assert.deepEqual(unframe(f, frame(f, p)), p, `framing ${f}`);
      }
    }
  });

  it('refuses compressed packets and wrong header bytes', () => {
    assert.equal(unframe(CompFraming.COMP_LZO_NO, Buffer.from([0x66, 1, 2])), undefined); // LZO
    assert.equal(unframe(CompFraming.COMP_LZO_NO, IP), undefined); // no header at all
    assert.equal(unframe(CompFraming.COMPRESS_STUB, Buffer.from([0x69, 1, 2])), undefined); // LZ4
    assert.equal(unframe(CompFraming.COMPRESS_STUB, Buffer.from([0xfa, 1, 2])), undefined);
    assert.equal(unframe(CompFraming.COMPRESS_STUB_V2, Buffer.from([0x50, 1, 2])), undefined); // lz4-v2
    assert.equal(unframe(CompFraming.COMPRESS_STUB_V2, Buffer.from([0x50])), undefined);
    assert.deepEqual(unframe(CompFraming.COMP_LZO_NO, Buffer.alloc(0)), Buffer.alloc(0));
  });
});
