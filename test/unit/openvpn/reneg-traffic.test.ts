/**
 * reneg-bytes / reneg-pkts (src/openvpn/reneg-traffic.ts): the current key's traffic, both
 * directions, counted from the peer's link counters since the key-id became current.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { RenegTraffic } from '../../../src/openvpn/reneg-traffic.js';

function counters(rxB: number, txB: number, rxP: number, txP: number) {
  return {
    'link-rx-bytes': rxB,
    'link-tx-bytes': BigInt(txB),
    'link-rx-packets': rxP,
    'link-tx-packets': txP,
  };
}

describe('RenegTraffic', () => {
  it('is off without limits', () => {
    assert.equal(new RenegTraffic({ bytes: 0, packets: 0 }).enabled, false);
    assert.equal(new RenegTraffic({ bytes: 1, packets: 0 }).enabled, true);
    assert.equal(new RenegTraffic({ bytes: 0, packets: 1 }).enabled, true);
  });
  it('fires once rx + tx bytes since the key-id became current reach reneg-bytes', () => {
    const t = new RenegTraffic({ bytes: 1000, packets: 0 });
    assert.equal(t.check(0, counters(5000, 5000, 10, 10)), undefined); // baseline of key-id 0
    assert.equal(t.check(0, counters(5400, 5500, 11, 11)), undefined); // 900
    assert.equal(t.check(0, counters(5500, 5500, 12, 12)), 'bytes=1000/1000');
    // a new key state counts from where it began
    assert.equal(t.check(1, counters(5600, 5600, 13, 13)), undefined);
    assert.equal(t.check(1, counters(6000, 6100, 14, 14)), undefined); // 900
    assert.equal(t.check(1, counters(6100, 6200, 15, 15)), 'bytes=1100/1000');
  });
  it('fires on reneg-pkts, counting both directions', () => {
    const t = new RenegTraffic({ bytes: 0, packets: 100 });
    assert.equal(t.check(3, counters(0, 0, 7, 3)), undefined);
    assert.equal(t.check(3, counters(0, 0, 56, 53)), undefined); // 99
    assert.equal(t.check(3, counters(0, 0, 57, 53)), 'pkts=100/100');
  });
  it('starts again when the counters go backwards (a new peer)', () => {
    const t = new RenegTraffic({ bytes: 0, packets: 10 });
    assert.equal(t.check(0, counters(0, 0, 100, 100)), undefined);
    assert.equal(t.check(0, counters(0, 0, 2, 2)), undefined);
    assert.equal(t.check(0, counters(0, 0, 7, 7)), 'pkts=10/10');
  });
});
