/**
 * reneg-bytes / reneg-pkts (src/openvpn/reneg-traffic.ts): the current key's traffic, both
 * directions, counted from the peer's link counters since the key-id became current.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  pollClientsRenegTraffic,
  pollRenegTraffic,
  RENEG_TRAFFIC_POLL_MS,
  RenegTraffic,
} from '../../../src/openvpn/reneg-traffic.js';

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

describe('pollRenegTraffic', () => {
  it('polls once a second while a limit is set, and counts the new key from the soft reset it triggered', (t) => {
    t.mock.timers.enable({ apis: ['setInterval'] });
    let keyId = 0;
    let packets = 0;
    const reasons: string[] = [];
    const stop = pollRenegTraffic(
      { bytes: 0, packets: 10 },
      () => ({ keyId, counters: counters(0, 0, packets, 0) }),
      (reason) => {
        reasons.push(reason);
        keyId++; // the session's soft reset: a new key-id at once
      },
    );
    packets = 9;
    t.mock.timers.tick(RENEG_TRAFFIC_POLL_MS);
    assert.deepEqual(reasons, []);
    packets = 12;
    t.mock.timers.tick(RENEG_TRAFFIC_POLL_MS);
    assert.deepEqual(reasons, ['pkts=12/10']);
    // key-id 1 counts from 12, not from the next poll
    packets = 21;
    t.mock.timers.tick(RENEG_TRAFFIC_POLL_MS);
    assert.deepEqual(reasons, ['pkts=12/10']);
    packets = 22;
    t.mock.timers.tick(RENEG_TRAFFIC_POLL_MS);
    assert.deepEqual(reasons, ['pkts=12/10', 'pkts=10/10']);
    stop();
    packets = 100;
    t.mock.timers.tick(RENEG_TRAFFIC_POLL_MS * 5);
    assert.equal(reasons.length, 2);
  });
  it('does nothing without limits', (t) => {
    t.mock.timers.enable({ apis: ['setInterval'] });
    let probes = 0;
    pollRenegTraffic(
      { bytes: 0, packets: 0 },
      () => {
        probes++;
        return undefined;
      },
      () => {},
    )();
    t.mock.timers.tick(RENEG_TRAFFIC_POLL_MS * 3);
    assert.equal(probes, 0);
  });
});

describe('pollClientsRenegTraffic (the server: one timer, every client on its own count)', () => {
  /** A fake client: its key-id while up, its byte counters, the reasons it was told to renegotiate. */
  function client(up = true) {
    const c = {
      keyId: up ? 0 : undefined,
      bytes: 0,
      reasons: [] as string[],
      renegSample: () =>
        c.keyId === undefined ? undefined : { keyId: c.keyId, counters: counters(c.bytes, 0, 0, 0) },
      renegotiateByTraffic(reason: string) {
        c.reasons.push(reason);
        if (c.keyId !== undefined) c.keyId++;
      },
    };
    return c;
  }

  it('renegotiates each client when its own current key passes reneg-bytes; a client not up is skipped', (t) => {
    t.mock.timers.enable({ apis: ['setInterval'] });
    const a = client();
    const b = client();
    const waiting = client(false);
    let list = [a, b, waiting];
    const stop = pollClientsRenegTraffic({ bytes: 1000, packets: 0 }, () => list);
    t.mock.timers.tick(RENEG_TRAFFIC_POLL_MS); // the first sample is each client's base
    a.bytes = 1200;
    b.bytes = 999;
    waiting.bytes = 5000;
    t.mock.timers.tick(RENEG_TRAFFIC_POLL_MS);
    assert.deepEqual(a.reasons, ['bytes=1200/1000']);
    assert.deepEqual(b.reasons, []);
    assert.deepEqual(waiting.reasons, []);
    // a's key-id 1 counts from 1200; b passes now
    a.bytes = 2100;
    b.bytes = 1000;
    t.mock.timers.tick(RENEG_TRAFFIC_POLL_MS);
    assert.deepEqual(a.reasons, ['bytes=1200/1000']);
    assert.deepEqual(b.reasons, ['bytes=1000/1000']);
    // a client that left is no longer polled
    list = [b];
    a.bytes = 10_000;
    t.mock.timers.tick(RENEG_TRAFFIC_POLL_MS);
    assert.equal(a.reasons.length, 1);
    stop();
    b.bytes = 100_000;
    t.mock.timers.tick(RENEG_TRAFFIC_POLL_MS * 3);
    assert.equal(b.reasons.length, 1);
  });

  it('without limits asks nothing of the clients', (t) => {
    t.mock.timers.enable({ apis: ['setInterval'] });
    let asked = 0;
    pollClientsRenegTraffic({ bytes: 0, packets: 0 }, () => {
      asked++;
      return [];
    })();
    t.mock.timers.tick(RENEG_TRAFFIC_POLL_MS * 3);
    assert.equal(asked, 0);
  });
});
