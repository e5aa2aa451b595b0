import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { readPacketId, readPeerId, writeDataV2Header } from '../../../src/wire/data-v2.js';
import { isKeepalive, KEEPALIVE_MESSAGE } from '../../../src/wire/keepalive.js';
import { classify, dataV2Word, keyIdOf, opcodeOf, PacketClass } from '../../../src/wire/opcode.js';

describe('op/key-id/peer-id word', () => {
  it('builds the DATA_V2 word as the kernel does', () => {
    assert.equal(dataV2Word(0, 1), 0x48000001);
    assert.equal(dataV2Word(7, 0xffffff), 0x4fffffff);
    assert.equal(dataV2Word(1, 10), 0x4900000a);
  });

  it('writes and reads the header of the kernel source example 48000001 00000005', () => {
    const b = Buffer.alloc(8);
    writeDataV2Header(b, 0, 0, 1, 5);
    assert.equal(b.toString('hex'), '4800000100000005');
    assert.equal(readPeerId(b, 0), 1);
    assert.equal(readPacketId(b, 0), 5);
    writeDataV2Header(b, 0, 2, 0xabcdef, 0xffffffff);
    assert.equal(b.toString('hex'), '4aabcdefffffffff');
    assert.equal(keyIdOf(b[0]), 2);
    assert.equal(opcodeOf(b[0]), 9);
  });

  it('classifies every first byte', () => {
    for (let byte = 0; byte < 256; byte++) {
      const op = byte >> 3;
      const want = op === 9 ? PacketClass.DATA_V2 : op === 6 ? PacketClass.DATA_V1 : PacketClass.CONTROL;
      assert.equal(classify(byte), want, `byte ${byte}`);
    }
  });

  it('recognises the keepalive message exactly', () => {
    const b = Buffer.concat([Buffer.alloc(3), KEEPALIVE_MESSAGE, Buffer.alloc(3)]);
    assert.ok(isKeepalive(b, 3, 16));
    assert.ok(!isKeepalive(b, 3, 15));
    assert.ok(!isKeepalive(b, 3, 17));
    b[10] ^= 1;
    assert.ok(!isKeepalive(b, 3, 16));
  });
});
