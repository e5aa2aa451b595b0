/**
 * Fuzzing the packet-format helpers of src/wire/ (opcode.ts, data-v2.ts, keepalive.ts): classify and
 * the field readers never throw on any first byte or on any buffer of the size they document, and agree
 * with the bit layout of spec ovpn-kernel §3.1 computed independently here.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { readPacketId, readPeerId, writeDataV2Header } from '../../src/wire/data-v2.js';
import { isKeepalive, KEEPALIVE_MESSAGE } from '../../src/wire/keepalive.js';
import { classify, dataV2Word, keyIdOf, opcodeOf, PacketClass } from '../../src/wire/opcode.js';
import { eq, fuzz, iterations, type Rng, show, summary } from '../support/fuzz-rng.js';

function expectedClass(firstByte: number): PacketClass {
  const op = (firstByte & 0xff) >> 3;
  return op === 9 ? PacketClass.DATA_V2 : op === 6 ? PacketClass.DATA_V1 : PacketClass.CONTROL;
}

/** A buffer of 0..64 bytes with an offset such that at least `need` bytes follow it. */
function bufferWith(rng: Rng, need: number): { buf: Buffer; off: number } {
  const len = need + rng.small(64);
  const buf = rng.bytes(len);
  return { buf, off: rng.int(len - need + 1) };
}

describe('fuzz: wire helpers', () => {
  it('classify, opcodeOf and keyIdOf: every first byte', () => {
    for (let b = 0; b < 256; b++) {
      eq(classify(b), expectedClass(b), () => `byte ${b}`);
      assert.equal(opcodeOf(b), b >> 3);
      assert.equal(keyIdOf(b), b & 7);
    }
  });

  it('readPeerId, readPacketId, dataV2Word and the header round trip on random buffers', (t) => {
    const r = fuzz('wire-fields', iterations(300_000), (rng) => {
      const { buf, off } = bufferWith(rng, rng.chance(0.5) ? 4 : 8);
      const avail = buf.length - off;
      let peerId: number;
      try {
        peerId = readPeerId(buf, off);
      } catch (e) {
        assert.fail(`readPeerId threw ${show(e)} on ${show(buf)} at ${off}`);
      }
      assert.equal(peerId, (buf[off + 1] << 16) | (buf[off + 2] << 8) | buf[off + 3]);
      assert.equal(classify(buf[off]), expectedClass(buf[off]));
      if (avail >= 8) {
        let pktId: number;
        try {
          pktId = readPacketId(buf, off);
        } catch (e) {
          assert.fail(`readPacketId threw ${show(e)} on ${show(buf)} at ${off}`);
        }
        assert.equal(
          pktId,
          ((buf[off + 4] << 24) >>> 0) + (buf[off + 5] << 16) + (buf[off + 6] << 8) + buf[off + 7],
        );
        // Writing the header we just read gives back the same fields (key-id, peer-id, packet-id).
        const keyId = rng.int(8);
        const peer = rng.chance(0.2) ? rng.pick([0, 0xffffff, 1]) : rng.int(0x1000000);
        const pid = rng.chance(0.2) ? rng.pick([0, 1, 0xffffffff]) : rng.u32();
        writeDataV2Header(buf, off, keyId, peer, pid);
        assert.equal(buf[off], 0x48 | keyId);
        assert.equal(classify(buf[off]), PacketClass.DATA_V2);
        assert.equal(keyIdOf(buf[off]), keyId);
        assert.equal(readPeerId(buf, off), peer);
        assert.equal(readPacketId(buf, off), pid);
        assert.equal(dataV2Word(keyId, peer), buf.readUInt32BE(off));
      }
      // isKeepalive on any in-bounds window: true exactly for the 16-byte message.
      let len = rng.int(avail + 1);
      if (rng.chance(0.05) && avail >= 16) {
        KEEPALIVE_MESSAGE.copy(buf, off);
        len = rng.chance(0.7) ? 16 : len;
        if (rng.chance(0.3)) buf[off + rng.int(16)] ^= 1 << rng.int(8);
      }
      const want = len === 16 && buf.subarray(off, off + 16).equals(KEEPALIVE_MESSAGE);
      assert.equal(isKeepalive(buf, off, len), want);
    });
    t.diagnostic(summary(r));
  });
});
