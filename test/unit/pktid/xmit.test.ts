import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { PKTID_MAX, TxPacketId } from '../../../src/pktid/xmit.js';

describe('TX packet-id counter', () => {
  it('starts at 1 and counts up', () => {
    const c = new TxPacketId();
    assert.deepEqual([c.next(), c.next(), c.next()], [1, 2, 3]);
  });

  it('hands out 0xFFFFFFFF last, then sticks at 0', () => {
    const c = new TxPacketId();
    c.setForTest(PKTID_MAX - 1);
    assert.equal(c.next(), PKTID_MAX - 1);
    assert.equal(c.next(), PKTID_MAX);
    assert.equal(c.next(), 0);
    assert.equal(c.next(), 0);
    assert.equal(c.peek(), 0);
  });
});
